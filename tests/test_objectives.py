"""Each preference objective builds its trl trainer from params and takes a real optimiser step on the smoke model."""

import copy
import math

import pytest
from datasets import Dataset

from conftest import REPO
from ru_selfalign.config import parse_params
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.objectives import preference_trainer
from ru_selfalign.presets import preset_params
from ru_selfalign.training import lora_config

PAIRS = [{"prompt": [{"role": "user", "content": f"Сколько будет {i} плюс {i}?"}],
          "chosen": [{"role": "assistant", "content": f"{2 * i}."}],
          "rejected": [{"role": "assistant", "content": f"Это сложный вопрос, но если подумать, то {2 * i + 1}."}]}
         for i in range(2)]


@pytest.mark.parametrize("dpo, trainer_cls, loss", [
    ({"objective": "dpo"}, "DPOTrainer", None),
    ({"objective": "dpo", "dpo": {"beta": 0.1, "loss_type": ["ipo"], "ld_alpha": 0.5}}, "DPOTrainer", None),
    ({"objective": "dpo", "dpo": {"beta": 0.1, "loss_type": ["sigmoid_norm", "sft"], "loss_weights": [1.0, 0.5]}},
     "DPOTrainer", None),
    ({"objective": "simpo"}, "CPOTrainer", ("simpo", 0.0)),
])
def test_objective_trains_one_step(smoke_model_dir, tmp_path, dpo, trainer_cls, loss):
    raw = preset_params("smoke", REPO / "params.yaml", REPO / "presets")
    raw["dpo"] = {**copy.deepcopy(raw["dpo"]), **dpo}
    raw["dpo"]["trainer"] = {**raw["dpo"]["trainer"], "max_steps": 1, "logging_steps": 1}
    cfg = parse_params(raw).dpo
    trainer = preference_trainer(cfg, "dpo", model=load_model(smoke_model_dir, trainable=True),
                                 tokenizer=load_tokenizer(smoke_model_dir, padding_side="right"),
                                 dataset=Dataset.from_list(PAIRS), output_dir=str(tmp_path), seed=0,
                                 peft_config=lora_config(cfg.lora, "dpo.lora"), callbacks=[])
    assert type(trainer).__name__ == trainer_cls
    if loss:
        assert (trainer.args.loss_type, trainer.args.cpo_alpha) == loss
    else:
        assert trainer.args.loss_type == cfg.dpo.get("loss_type", ["sigmoid"]) and trainer.args.beta == cfg.dpo["beta"]
    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss)
    assert any("rewards/margins" in entry for entry in trainer.state.log_history)


def test_saved_adapter_config_lists_target_modules_in_one_order(tmp_path):
    """peft writes target_modules in set (hash) order; the saved folder must hash the same in every process."""
    import json

    from peft import get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from ru_selfalign.training import save_adapter

    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2))
    modules = ["v_proj", "q_proj", "o_proj", "k_proj"]
    save_adapter(get_peft_model(tiny, lora_config({"r": 2, "target_modules": modules}, "sft.lora")), tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["target_modules"] == sorted(modules)

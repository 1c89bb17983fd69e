"""Stage dpo: trl DPOTrainer continuing from the SFT adapter (a frozen copy of it is the reference).

    python -m stages.dpo --base models/base --adapter models/sft --pairs data/pairs/train.jsonl --out models/dpo \
        --live dvclive/dpo --metrics metrics/dpo.json
"""

import logging
import tempfile

from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from ru_selfalign.io import atomic_path, read_jsonl, write_json
from ru_selfalign.models import has_adapter, load_model, load_tokenizer
from ru_selfalign.runtime import start_stage
from ru_selfalign.training import dvclive_callback, lora_config, trainer_config

log = logging.getLogger("dpo")


def main() -> None:
    args, params = start_stage("dpo", __doc__, ("base", "adapter", "pairs", "out", "live", "metrics"))
    cfg = params.dpo
    rows = read_jsonl(args.pairs)
    dataset = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows])
    tokenizer = load_tokenizer(args.base, padding_side="right")
    continue_sft = has_adapter(args.adapter)
    with atomic_path(args.out, is_dir=True) as out, tempfile.TemporaryDirectory() as scratch:
        trainer = DPOTrainer(
            # Given a trainable PeftModel and no peft_config, trl keeps a frozen copy of the SFT adapter as
            # the reference model; without an adapter (sft.enabled: false) the reference is the bare base.
            model=load_model(args.base, args.adapter, trainable=True),
            ref_model=None,
            args=trainer_config(DPOConfig, cfg.trainer, "dpo.trainer", scratch, params.seed),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=None if continue_sft else lora_config(cfg.lora, "dpo.lora"),
            callbacks=[dvclive_callback(args.live)],
        )
        log.info("DPO on %d pairs (%s)", len(dataset), "continuing the SFT adapter" if continue_sft else "fresh LoRA on the base")
        result = trainer.train()
        trainer.model.save_pretrained(out)
    logs = [e for e in trainer.state.log_history if "rewards/accuracies" in e]
    write_json(args.metrics, {
        "pairs": len(dataset), "steps": result.global_step, "train_loss": round(result.training_loss, 4),
        "final_reward_accuracy": round(logs[-1]["rewards/accuracies"], 4) if logs else None,
        "final_reward_margin": round(logs[-1]["rewards/margins"], 4) if logs else None,
    })


if __name__ == "__main__":
    main()

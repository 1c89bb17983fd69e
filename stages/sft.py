"""Stage sft: LoRA supervised fine-tuning with trl's SFTTrainer (loss on the assistant reply only).

    python -m stages.sft --base models/base --data data/sft/train.jsonl --out models/sft \
        --live dvclive/sft --metrics metrics/sft.json
"""

import logging
import shutil
import tempfile
from pathlib import Path

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from ru_selfalign.io import atomic_path, read_jsonl, write_json, write_text
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage
from ru_selfalign.training import dvclive_callback, lora_config, save_adapter, trainer_config

log = logging.getLogger("sft")


def main() -> None:
    args, params = start_stage("sft", __doc__, ("base", "data", "out", "live", "metrics"))
    cfg = params.sft
    with atomic_path(args.out, is_dir=True) as out, tempfile.TemporaryDirectory() as scratch:
        if not cfg.enabled:
            log.info("sft.enabled is false: the base model passes through unchanged")
            write_json(out / "passthrough.json", {"adapter": None, "reason": "sft.enabled: false"})
            write_json(args.metrics, {"enabled": False})
            # dvc.yaml declares the curves folder an output; without training it holds only this note
            plots = Path(args.live) / "plots"
            shutil.rmtree(plots, ignore_errors=True)
            write_text(plots / "sft_disabled.txt", "sft.enabled: false: no SFT training, so no SFT curves\n")
            return
        rows = read_jsonl(args.data)
        # prompt/completion conversations: trl masks the prompt, so only the reply is learned
        dataset = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
        tokenizer = load_tokenizer(args.base, padding_side="right")
        trainer = SFTTrainer(
            model=load_model(args.base, trainable=True),
            args=trainer_config(SFTConfig, cfg.trainer, "sft.trainer", scratch, params.seed),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(cfg.lora, "sft.lora"),
            callbacks=[dvclive_callback(args.live)],
        )
        log.info("training LoRA on %d examples", len(dataset))
        result = trainer.train()
        save_adapter(trainer.model, out)  # the adapter only; the tokenizer stays with the base model
    write_json(args.metrics, {
        "enabled": True,
        "examples": len(dataset),
        "steps": result.global_step,
        "train_loss": round(result.training_loss, 4),
    })


if __name__ == "__main__":
    main()

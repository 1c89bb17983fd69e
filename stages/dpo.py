"""Stage dpo@<round>: preference optimisation of the round's starting model on its own pairs (trl DPOTrainer, or
CPOTrainer for SimPO); it continues that model's adapter, whose frozen copy is DPO's reference.

    python -m stages.dpo --round r1 --base models/base --adapter models/sft --pairs data/rounds/r1/pairs.jsonl \
        --out models/dpo/r1 --live dvclive/dpo/r1 --metrics metrics/rounds/r1/dpo.json
"""

import logging
import tempfile

from datasets import Dataset

from ru_selfalign.io import atomic_path, read_jsonl, write_json
from ru_selfalign.models import has_adapter, load_model, load_tokenizer
from ru_selfalign.objectives import preference_trainer
from ru_selfalign.runtime import start_stage
from ru_selfalign.training import dvclive_callback, lora_config, save_adapter

log = logging.getLogger("dpo")


def main() -> None:
    args, params = start_stage("dpo", __doc__, ("round", "base", "adapter", "pairs", "out", "live", "metrics"))
    rnd = params.round(args.round)
    cfg = rnd.dpo
    rows = read_jsonl(args.pairs)
    dataset = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows])
    tokenizer = load_tokenizer(args.base, padding_side="right")
    continue_adapter = has_adapter(args.adapter)
    with atomic_path(args.out, is_dir=True) as out, tempfile.TemporaryDirectory() as scratch:
        trainer = preference_trainer(
            cfg, f"dpo (round {rnd.key})",
            model=load_model(args.base, args.adapter, trainable=True), tokenizer=tokenizer, dataset=dataset,
            output_dir=scratch, seed=params.seed, peft_config=None if continue_adapter else lora_config(cfg.lora, "dpo.lora"),
            callbacks=[dvclive_callback(args.live)],
        )
        log.info("round %s: %s on %d pairs, %s", rnd.key, cfg.objective, len(dataset),
                 f"continuing {args.adapter}" if continue_adapter else "fresh LoRA on the base")
        result = trainer.train()
        # only the trained adapter: trl's frozen reference copy ("ref") would double the folder and is never loaded
        save_adapter(trainer.model, out, selected_adapters=["default"])
    logs = [e for e in trainer.state.log_history if "rewards/accuracies" in e]
    write_json(args.metrics, {
        "pairs": len(dataset), "steps": result.global_step, "train_loss": round(result.training_loss, 4),
        "final_reward_accuracy": round(logs[-1]["rewards/accuracies"], 4) if logs else None,
        "final_reward_margin": round(logs[-1]["rewards/margins"], 4) if logs else None,
    })


if __name__ == "__main__":
    main()

"""Stage export: merge the chosen adapter (export.model: sft, or dpo = the last round's) into the base weights; a
standard HF folder with a model card.

    python -m stages.export --base models/base --sft models/sft --dpo models/dpo --metrics-dir metrics --out models/export
"""

from pathlib import Path

import torch

from ru_selfalign.export import model_card
from ru_selfalign.io import atomic_path, read_json
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("export", __doc__, ("base", "sft", "dpo", "metrics_dir", "out"))
    adapter = {"sft": args.sft, "dpo": params.final_adapter(args.dpo)}[params.export.model]
    model = load_model(args.base, adapter).to(device="cpu", dtype=getattr(torch, params.export.dtype))
    tokenizer = load_tokenizer(args.base, padding_side="right")
    metrics_dir = Path(args.metrics_dir)
    metrics = {name: read_json(metrics_dir / f"{name}.json") for name in ("prepare", "sft", "eval")}
    metrics["rounds"] = {key: read_json(metrics_dir / "rounds" / key / "pairs.json") for key in params.rounds}
    with atomic_path(args.out, is_dir=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(model_card(params.export.model, params, metrics), encoding="utf-8")


if __name__ == "__main__":
    main()

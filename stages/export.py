"""Stage export: merge the chosen adapter into the base weights; a standard HF folder with a model card.

    python -m stages.export --base models/base --sft models/sft --dpo models/dpo --metrics-dir metrics --out models/export
"""

import json
from pathlib import Path

import torch

from ru_selfalign.export import model_card
from ru_selfalign.io import atomic_path
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("export", __doc__, ("base", "sft", "dpo", "metrics_dir", "out"))
    adapter = {"sft": args.sft, "dpo": args.dpo}[params.export.model]
    model = load_model(args.base, adapter).to(device="cpu", dtype=getattr(torch, params.export.dtype))
    tokenizer = load_tokenizer(args.base, padding_side="right")
    metrics = {name: json.loads((Path(args.metrics_dir) / f"{name}.json").read_text(encoding="utf-8"))
               for name in ("prepare", "sft", "pairs", "eval")}
    with atomic_path(args.out, is_dir=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(model_card(params.export.model, params, metrics), encoding="utf-8")


if __name__ == "__main__":
    main()

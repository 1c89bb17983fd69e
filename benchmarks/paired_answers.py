"""Paired figures straight from held-out answer files (``<answers-dir>/<model>.jsonl`` as the answer stages write
them), without the evaluate stage's preference judge: per-prompt token ratio, Δ of the fixed judge's criteria,
Δ chrF++ / token F1 against the references, and each model's share of answers cut at the cap. For answers that
evaluate has not (yet) seen, e.g. a real prompt file answered by the stage scripts directly.

    python benchmarks/paired_answers.py data/eval/by_model --compare r1_vs_sft r1_vs_base \
        > benchmarks/results/<name>.json
"""

import argparse
import json
from pathlib import Path

from ru_selfalign.criteria import CRITERION_KEYS
from ru_selfalign.io import read_jsonl
from ru_selfalign.paired import paired_delta, paired_ratio, reference_scores

BOOT = {"n_resamples": 1000, "seed": 42}


def compare(x: list[dict], y: list[dict]) -> dict:
    """X vs Y per prompt; each answer already carries its reference overlap (None without a reference)."""
    a, b = [r["answer"] for r in x], [r["answer"] for r in y]
    out = {"n": len(a), "token_ratio": paired_ratio([t["n_tokens"] for t in a], [t["n_tokens"] for t in b], **BOOT)}
    out.update({c: paired_delta([t["scores"][c] for t in a], [t["scores"][c] for t in b], **BOOT) for c in CRITERION_KEYS})
    keep = [i for i, r in enumerate(x) if r.get("reference")]
    out["with_reference"] = len(keep)
    for key in ("chrf", "token_f1"):
        out[key] = paired_delta([a[i][key] for i in keep], [b[i][key] for i in keep], **BOOT) if keep else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("answers_dir", type=Path)
    ap.add_argument("--compare", nargs="+", default=["r1_vs_sft", "r1_vs_base"], help="X_vs_Y, model file stems")
    args = ap.parse_args()
    names = sorted({m for item in args.compare for m in item.split("_vs_")})
    rows = {m: read_jsonl(args.answers_dir / f"{m}.jsonl") for m in names}
    for m in names:  # paired means the same prompts in the same order
        if [r["id"] for r in rows[m]] != [r["id"] for r in rows[names[0]]]:
            raise SystemExit(f"{args.answers_dir}/{m}.jsonl: prompts differ from {names[0]}.jsonl")
    for m in names:  # reference overlap once per model, not once per comparison it appears in
        for r, score in zip(rows[m], reference_scores([r["answer"]["text"] for r in rows[m]],
                                                      [r.get("reference") or None for r in rows[m]])):
            r["answer"].update(score)
    out = {"prompts": len(rows[names[0]])}
    out.update({m: {"truncated_share": round(sum(r["answer"]["truncated"] for r in rows[m]) / len(rows[m]), 4)}
                for m in names})
    for item in args.compare:
        x, y = item.split("_vs_")
        out[item] = compare(rows[x], rows[y])
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

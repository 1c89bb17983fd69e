"""Paired figures straight from held-out answer files (``<answers-dir>/<model>.jsonl`` as the answer stages write
them), without the evaluate stage's preference judge: per-prompt token ratio, Δ of the fixed judge's criteria,
Δ chrF++ / token F1 against the references, and each model's share of answers cut at the cap. For answers that
evaluate has not (yet) seen, e.g. a real prompt file answered by the stage scripts directly.

``--prefix-baseline X_vs_Y`` asks what the reference metrics charge for length alone: each of Y's answers is cut to
X's word count on that prompt (Y's own first words, no new content), and the cut answers are compared with Y and
with X. A shortening that only dropped Y's tail would score like the cut answers.

    python benchmarks/paired_answers.py data/eval/by_model --compare r1_vs_sft r1_vs_base \
        --prefix-baseline r1_vs_sft > benchmarks/results/<name>.json
"""

import argparse
import json
from pathlib import Path

from ru_selfalign.criteria import CRITERION_KEYS
from ru_selfalign.evaluation import word_count
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


def prefix_baseline(x: list[dict], y: list[dict]) -> dict:
    """Y cut to X's word count per prompt (never lengthened), against Y and against X, on prompts with a reference."""
    keep = [i for i, r in enumerate(x) if r.get("reference")]
    cut = [" ".join(y[i]["answer"]["text"].split()[:max(1, word_count(x[i]["answer"]["text"]))]) for i in keep]
    scores = reference_scores(cut, [y[i]["reference"] for i in keep])
    out = {"with_reference": len(keep)}
    for key in ("chrf", "token_f1"):
        ours = [s[key] for s in scores]
        out[f"{key}_cut_minus_y"] = paired_delta(ours, [y[i]["answer"][key] for i in keep], **BOOT)
        out[f"{key}_x_minus_cut"] = paired_delta([x[i]["answer"][key] for i in keep], ours, **BOOT)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("answers_dir", type=Path)
    ap.add_argument("--compare", nargs="+", default=["r1_vs_sft", "r1_vs_base"], help="X_vs_Y, model file stems")
    ap.add_argument("--prefix-baseline", nargs="*", default=[], metavar="X_vs_Y",
                    help="Y's answers cut to X's word count, against Y and X (reference metrics only)")
    args = ap.parse_args()
    names = sorted({m for item in [*args.compare, *args.prefix_baseline] for m in item.split("_vs_")})
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
    for item in args.prefix_baseline:
        x, y = item.split("_vs_")
        out[f"{y}_cut_to_{x}"] = prefix_baseline(rows[x], rows[y])
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

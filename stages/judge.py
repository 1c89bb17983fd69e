"""Stage judge@<round>: the round's starting model (the generator itself) scores every candidate on the five rubric
criteria (raw scores, no weighting).

    python -m stages.judge --round r1 --base models/base --adapter models/sft --candidates data/rounds/r1/candidates.jsonl \
        --out data/rounds/r1/judged.jsonl --metrics metrics/rounds/r1/judge.json
"""

import logging

from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.judge import attach_verdicts, score_expected, score_generated
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.criteria import CRITERION_KEYS
from ru_selfalign.runtime import start_stage

log = logging.getLogger("judge")


def main() -> None:
    args, params = start_stage("judge", __doc__, ("round", "base", "adapter", "candidates", "out", "metrics"))
    cfg = params.round(args.round).judge
    rows = read_jsonl(args.candidates)
    items = [(r["messages"], c["text"]) for r in rows for c in r["candidates"]]
    tokenizer = load_tokenizer(args.base)
    model = load_model(args.base, args.adapter, quantize=cfg.quantize)
    if cfg.mode == "expected":
        verdicts = score_expected(model, tokenizer, items, cfg.batch_size)
    else:
        verdicts = score_generated(model, tokenizer, items, cfg.batch_size, cfg.max_new_tokens)
    failures = attach_verdicts(rows, verdicts, cfg.max_failure_rate)
    write_jsonl(args.out, rows)
    scored = [c["scores"] for r in rows for c in r["candidates"] if c.get("scores")]
    write_json(args.metrics, {
        "mode": cfg.mode, "candidates": len(items), "parse_failures": failures,
        "mean_scores": {k: round(sum(s[k] for s in scored) / max(1, len(scored)), 4) for k in CRITERION_KEYS},
    })
    log.info("judged %d candidates (%d unreadable)", len(items), failures)


if __name__ == "__main__":
    main()

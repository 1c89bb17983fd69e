"""Stage judge: the SFT model scores every candidate on the five rubric criteria (raw scores, no weighting).

    python -m stages.judge --base models/base --adapter models/sft --candidates data/generated/candidates.jsonl \
        --out data/judged/candidates.jsonl --metrics metrics/judge.json
"""

import logging

from ru_selfalign.io import InputError, read_jsonl, write_json, write_jsonl
from ru_selfalign.judge import score_expected, score_generated
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.rubric import CRITERION_KEYS
from ru_selfalign.runtime import start_stage

log = logging.getLogger("judge")


def main() -> None:
    args, params = start_stage("judge", __doc__, ("base", "adapter", "candidates", "out", "metrics"))
    cfg = params.judge
    rows = read_jsonl(args.candidates)
    items = [(r["messages"], c["text"]) for r in rows for c in r["candidates"]]
    tokenizer = load_tokenizer(args.base)
    model = load_model(args.base, args.adapter)
    if cfg.mode == "expected":
        verdicts = score_expected(model, tokenizer, items)
    else:
        verdicts = score_generated(model, tokenizer, items, cfg.batch_size, cfg.max_new_tokens)
    it = iter(verdicts)
    failures = 0
    for row in rows:
        for cand in row["candidates"]:
            verdict = next(it)
            if verdict.get("missing"):  # unreadable verdict: kept with its raw text, never given a default score
                failures += 1
                cand.update(scores=None, judge_raw=verdict["raw"], judge_missing=verdict["missing"])
            else:
                cand.update({k: v for k, v in verdict.items() if k != "missing"})
    rate = failures / len(items)
    if rate > cfg.max_failure_rate:
        raise InputError(f"{failures} of {len(items)} verdicts ({rate:.0%}) could not be parsed, above "
                         f"judge.max_failure_rate={cfg.max_failure_rate}; see the raw verdicts in the log, "
                         "or use judge.mode: expected")
    write_jsonl(args.out, rows)
    scored = [c["scores"] for r in rows for c in r["candidates"] if c.get("scores")]
    write_json(args.metrics, {
        "mode": cfg.mode, "candidates": len(items), "parse_failures": failures,
        "mean_scores": {k: round(sum(s[k] for s in scored) / max(1, len(scored)), 4) for k in CRITERION_KEYS},
    })
    log.info("judged %d candidates (%d unreadable)", len(items), failures)


if __name__ == "__main__":
    main()

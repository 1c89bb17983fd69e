"""Stage agreement: how well the self-judge (the SFT model) agrees with oasst's human ratings, and a calibrated reward.

    python -m stages.agreement --base models/base --adapter models/sft --prepared data/prepared \
        --out data/agreement/judged.jsonl --calibrator models/calibrator.joblib --plot metrics/plots/judge_vs_human.json \
        --metrics metrics/judge_agreement.json
"""

import logging
import random
import time
from pathlib import Path

import joblib

from ru_selfalign.agreement import agreement_metrics, calibrated_reward, fit_calibrator, sample_sibling_groups
from ru_selfalign.io import atomic_path, read_jsonl, write_json, write_jsonl
from ru_selfalign.judge import score_expected, score_generated
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.rubric import weighted_reward
from ru_selfalign.runtime import start_stage

log = logging.getLogger("agreement")


def main() -> None:
    args, params = start_stage("agreement", __doc__, ("base", "adapter", "prepared", "out", "calibrator", "plot", "metrics"))
    cfg, weights = params.agreement, params.pairs.weights
    prepared = Path(args.prepared)
    held_out = sample_sibling_groups([r for split in cfg.splits for r in read_jsonl(prepared / f"{split}.jsonl")],
                                     cfg.max_replies, params.seed)
    train = read_jsonl(prepared / "train.jsonl")
    train = random.Random(params.seed).sample(train, min(cfg.train_replies, len(train)))
    tokenizer = load_tokenizer(args.base)
    model = load_model(args.base, args.adapter)

    def judge(rows, mode):
        items = [(r["messages"], r["reply"]) for r in rows]
        start = time.perf_counter()
        if mode == "expected":
            verdicts = score_expected(model, tokenizer, items, params.judge.batch_size, desc=f"agreement:{mode}")
        else:
            verdicts = score_generated(model, tokenizer, items, params.judge.batch_size, params.judge.max_new_tokens,
                                       desc=f"agreement:{mode}")
        log.info("%s mode: %.2f s per reply", mode, (time.perf_counter() - start) / max(1, len(rows)))
        judged = []
        for r, v in zip(rows, verdicts):
            if not v.get("missing"):
                judged.append({**r, "mode": mode, "scores": v["scores"], "reward": weighted_reward(v["scores"], weights)})
        return judged, len(rows) - len(judged)

    train_judged, _ = judge(train, "expected")
    calibrator = fit_calibrator(train_judged, params.seed)
    metrics, all_rows = {"splits": cfg.splits, "train_replies_for_calibration": len(train_judged)}, []
    for mode in cfg.modes:
        rows, unreadable = judge(held_out, mode)
        for r in rows:
            r["calibrated"] = calibrated_reward(calibrator, r["scores"], r["reply"])
        keys = ("reward", "calibrated") if mode == "expected" else ("reward",)
        metrics[mode] = {"replies": len(held_out), "unreadable": unreadable,
                         **agreement_metrics(rows, cfg.min_label_count, cfg.bootstrap, params.seed, keys)}
        all_rows += rows
    write_jsonl(args.out, all_rows)
    with atomic_path(args.calibrator) as tmp:
        joblib.dump(calibrator, tmp)
    write_json(args.plot, [{"mode": r["mode"], "human_quality": r["quality"], "judge_reward": round(r["reward"], 4)}
                           for r in all_rows if r["quality"] is not None])
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    main()

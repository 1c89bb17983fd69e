"""Stage calibrate: the calibrated reward for ``pairs.reward: calibrated`` — a ridge fit of oasst's human quality on
the SFT judge's five expected scores and the answer length, on train replies the SFT set did not use and that at
least ``calibrate.min_label_count`` people rated. With the weighted reward it only writes a marker.

    python -m stages.calibrate --base models/base --adapter models/sft --prepared data/prepared \
        --sft-data data/sft/train.jsonl --out models/calibrator.joblib --metrics metrics/calibrate.json
"""

import logging
import random
from pathlib import Path

import joblib

from ru_selfalign.agreement import fit_calibrator
from ru_selfalign.io import InputError, atomic_path, read_jsonl, write_json
from ru_selfalign.judge import score_expected
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage

log = logging.getLogger("calibrate")


def main() -> None:
    args, params = start_stage("calibrate", __doc__, ("base", "adapter", "prepared", "sft_data", "out", "metrics"))
    cfg = params.calibrate
    if params.pairs.reward != "calibrated":
        log.info("pairs.reward is %s: nothing to fit", params.pairs.reward)
        _publish(args, None, {"fitted": False, "reason": f"pairs.reward is {params.pairs.reward}"})
        return
    sft_ids = {r["id"] for r in read_jsonl(args.sft_data)}
    pool = [r for r in read_jsonl(Path(args.prepared) / "train.jsonl")
            if r["id"] not in sft_ids and r["quality"] is not None and r["quality_count"] >= cfg.min_label_count]
    rows = sorted(random.Random(params.seed).sample(pool, min(cfg.replies, len(pool))), key=lambda r: r["id"])
    if len(rows) < 5:
        raise InputError(f"{args.prepared}/train.jsonl: only {len(rows)} train replies outside the SFT set with >= "
                         f"{cfg.min_label_count} ratings; the calibrated reward needs 5 (lower calibrate.min_label_count "
                         "or use pairs.reward: weighted)")
    log.info("judging %d train replies outside the SFT set (of %d eligible)", len(rows), len(pool))
    judge = load_model(args.base, args.adapter, quantize=params.judge.quantize)
    verdicts = score_expected(judge, load_tokenizer(args.base), [(r["messages"], r["reply"]) for r in rows],
                              params.judge.batch_size, desc="calibrate")
    calibrator = fit_calibrator([{**r, "scores": v["scores"]} for r, v in zip(rows, verdicts)], params.seed)
    _publish(args, calibrator, {"fitted": True, "replies": len(rows), "eligible_replies": len(pool),
                                "ridge_alpha": round(float(calibrator[-1].alpha_), 4)})


def _publish(args, calibrator, metrics: dict) -> None:
    with atomic_path(args.out) as tmp:
        joblib.dump(calibrator, tmp)
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    main()

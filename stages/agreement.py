"""Stage agreement: how well the self-judge (the SFT model) agrees with human rankings, raw and with length taken out.
Analysis only: nothing trains on it. Replies come from the pipeline's held-out split or, with ``agreement.source:
export``, from any oasst export; with a fitted calibrated reward (stage calibrate) its agreement is reported too, and
``agreement.variants`` compares judge variants on the same pairs.

    python -m stages.agreement --base models/base --adapter models/sft --prepared data/prepared \
        --calibrator models/calibrator.joblib --out data/agreement/judged.jsonl --plot metrics/plots/judge_vs_human.json \
        --metrics metrics/judge_agreement.json
"""

import logging
import time

import joblib

from ru_selfalign.agreement import agreement_metrics, calibrated_reward, pair_metrics, ranked_pairs, sample_sibling_groups
from ru_selfalign.criteria import weighted_reward
from ru_selfalign.io import write_json, write_jsonl
from ru_selfalign.judge import score_expected, score_generated
from ru_selfalign.judge_variants import held_out_replies, run_variant
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage

log = logging.getLogger("agreement")


def main() -> None:
    args, params = start_stage("agreement", __doc__, ("base", "adapter", "prepared", "calibrator", "out", "plot", "metrics"))
    cfg, weights = params.agreement, params.pairs.weights
    held_out = sample_sibling_groups(held_out_replies(cfg, params.prepare, args.prepared), cfg.max_replies, params.seed)
    calibrator = joblib.load(args.calibrator)  # None unless pairs.reward is calibrated
    tokenizer = load_tokenizer(args.base)
    model = load_model(args.base, args.adapter, quantize=params.judge.quantize)
    cache = {}  # the expected-mode verdicts are the rubric variant's

    def judge(rows, mode):
        items = [(r["messages"], r["reply"]) for r in rows]
        start = time.perf_counter()
        if mode == "expected":
            verdicts = score_expected(model, tokenizer, items, params.judge.batch_size, desc=f"agreement:{mode}")
            cache["rubric"] = (verdicts, time.perf_counter() - start)
        else:
            verdicts = score_generated(model, tokenizer, items, params.judge.batch_size, params.judge.max_new_tokens,
                                       desc=f"agreement:{mode}")
        log.info("%s mode: %.2f s per reply", mode, (time.perf_counter() - start) / max(1, len(rows)))
        judged = []
        for r, v in zip(rows, verdicts):
            if not v.get("missing"):
                judged.append({**r, "mode": mode, "scores": v["scores"], "reward": weighted_reward(v["scores"], weights)})
        return judged, len(rows) - len(judged)

    metrics, all_rows = {"source": cfg.source if cfg.source == "split" else f"{cfg.path} ({cfg.lang})",
                         "splits": cfg.splits if cfg.source == "split" else None}, []
    for mode in cfg.modes:
        rows, unreadable = judge(held_out, mode)
        keys = ("reward",)
        if calibrator is not None and mode == "expected":
            for r in rows:
                r["calibrated"] = calibrated_reward(calibrator, r["scores"], r["reply"])
            keys = ("reward", "calibrated")
        metrics[mode] = {"replies": len(held_out), "unreadable": unreadable,
                         **agreement_metrics(rows, cfg.min_label_count, cfg.bootstrap, params.seed, keys)}
        all_rows += rows
    pairs = ranked_pairs(held_out)
    for name in cfg.variants:
        run = run_variant(name, model, tokenizer, held_out, pairs, weights, params.judge.batch_size, cache)
        metrics.setdefault("variants", {})[name] = {**pair_metrics(pairs, run.margins, cfg.bootstrap, params.seed),
                                                    "s_per_reply": round(run.seconds / max(1, len(held_out)), 3)}
    write_jsonl(args.out, all_rows)
    write_json(args.plot, [{"mode": r["mode"], "human_quality": r["quality"], "judge_reward": round(r["reward"], 4)}
                           for r in all_rows if r["quality"] is not None])
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    main()

"""Stage pairs@<round>: weight the rubric scores into one reward (minus an optional length penalty), keep
best-vs-worst pairs with a clear margin.

    python -m stages.pairs --round r1 --judged data/rounds/r1/judged.jsonl --calibrator models/calibrator.joblib \
        --prepared data/prepared --out data/rounds/r1/pairs.jsonl --metrics metrics/rounds/r1/pairs.json
"""

from pathlib import Path

import joblib
import numpy as np

from ru_selfalign.agreement import calibrated_reward
from ru_selfalign.io import InputError, read_jsonl, write_json, write_jsonl
from ru_selfalign.pairs import build_preference_pairs, human_preference_pairs, mix_human_pairs
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("pairs", __doc__, ("round", "judged", "calibrator", "prepared", "out", "metrics"))
    cfg = params.round(args.round).pairs
    judged = read_jsonl(args.judged)
    reward_fn = None
    if cfg.reward == "calibrated":
        calibrator = joblib.load(args.calibrator)  # fitted: the calibrate stage tracks pairs.reward
        reward_fn = lambda scores, text: calibrated_reward(calibrator, scores, text)  # noqa: E731
    pairs, stats = build_preference_pairs(judged, cfg.weights, cfg.min_margin, cfg.min_usefulness, reward_fn, cfg.length_penalty,
                                          cfg.keep_truncated)
    if not pairs:
        raise InputError(
            f"no preference pairs from {stats['prompts']} prompts: pairs.min_margin={cfg.min_margin} dropped "
            f"{stats['skipped_margin']}, pairs.min_usefulness={cfg.min_usefulness} dropped {stats['skipped_useless_chosen']}, "
            f"{stats['skipped_fewer_than_2_distinct']} had < 2 distinct readable candidates ({stats['truncated_candidates']} "
            "candidates were cut at generate.sampling.max_new_tokens and left out); lower a threshold or raise the cap"
        )
    margins = sorted(p["margin"] for p in pairs)
    tokens = {side: float(np.median([p[f"{side}_tokens"] for p in pairs])) for side in ("chosen", "rejected")}
    if cfg.human_pairs:
        human = human_preference_pairs(read_jsonl(Path(args.prepared) / "train.jsonl"))
        pairs = mix_human_pairs(pairs, human, cfg.human_share, params.seed)
    # plain assignments: Counter.update would add to the self-judged count already in stats["pairs"]
    stats["pairs"], stats["pairs_self"], stats["pairs_human"] = len(pairs), len(margins), len(pairs) - len(margins)
    write_jsonl(args.out, pairs)
    write_json(args.metrics, {**dict(sorted(stats.items())), "reward": cfg.reward, "median_margin": margins[len(margins) // 2],
                              "chosen_tokens_median": tokens["chosen"], "rejected_tokens_median": tokens["rejected"],
                              "chosen_shorter_share": round(sum(len(p["chosen"][0]["content"]) < len(p["rejected"][0]["content"])
                                                                for p in pairs) / len(pairs), 4)})


if __name__ == "__main__":
    main()

import numpy as np
import pytest
from scipy import stats

from ru_selfalign.agreement import (agreement_metrics, calibrated_reward, correlation, fit_calibrator, pair_outcomes,
                                    sample_sibling_groups)

KEYS = ("brevity", "usefulness", "accuracy", "clarity", "conciseness")


def _row(prompt, rank, reward, quality=0.5, count=3, reply="ответ"):
    return {"prompt_id": prompt, "rank": rank, "reward": reward, "quality": quality, "quality_count": count,
            "reply": reply, "scores": dict.fromkeys(KEYS, reward)}


def test_pair_outcomes_follow_human_ranks_with_ties_half():
    rows = [_row("p", 0, 4.0), _row("p", 1, 3.0), _row("p", 2, 3.0),  # agree, agree, tie
            _row("q", 0, 2.0), _row("q", 1, 5.0),  # disagree
            _row("r", None, 1.0), _row("s", 0, 1.0)]  # unranked / single: no pair
    assert sorted(pair_outcomes(rows)) == [0.0, 0.5, 1.0, 1.0]


def test_metrics_on_a_perfect_and_a_reversed_judge():
    rows = [_row(f"p{i}", r, reward=5 - r - i / 100, quality=1 - r / 3 - i / 1000) for i in range(6) for r in range(3)]
    good = agreement_metrics(rows, min_label_count=2, n_resamples=200, seed=0)
    assert good["reward"]["pairwise_accuracy"]["value"] == 1.0 and good["reward"]["pairwise_accuracy"]["n"] == 18
    assert good["reward"]["spearman"]["value"] == pytest.approx(1.0) and good["reward"]["spearman"]["n"] == 18
    for r in rows:
        r["reward"] = -r["reward"]
    bad = agreement_metrics(rows, min_label_count=2, n_resamples=200, seed=0)
    assert bad["reward"]["pairwise_accuracy"]["value"] == 0.0 and bad["reward"]["kendall"]["value"] == pytest.approx(-1.0)
    few_raters = agreement_metrics(rows, min_label_count=4, n_resamples=200, seed=0)
    assert few_raters["reward"]["spearman"]["n"] == 0 and few_raters["reward"]["spearman"]["value"] is None


def test_correlation_interval_brackets_the_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    c = correlation(x, x + rng.normal(size=80), stats.spearmanr, 300, 1)
    assert c["ci_low"] < c["value"] < c["ci_high"] and c["n"] == 80


def test_calibrator_learns_quality_and_maps_to_the_rubric_scale():
    rows = [_row(f"p{i}", None, reward=1 + 4 * q, quality=q, reply="слово " * (1 + i % 5))
            for i, q in enumerate(np.linspace(0, 1, 30))]
    model = fit_calibrator(rows, seed=0)
    low, high = (calibrated_reward(model, dict.fromkeys(KEYS, s), "слово") for s in (1.0, 5.0))
    assert 1 <= low < high <= 5
    with pytest.raises(ValueError, match="at least 5 labelled"):
        fit_calibrator(rows[:3], seed=0)


def test_sibling_groups_stay_whole():
    rows = [_row(f"p{i}", r, 1.0) for i in range(10) for r in range(3)]
    picked = sample_sibling_groups(rows, max_replies=7, seed=0)
    assert len(picked) == 6 and all(sum(r["prompt_id"] == p["prompt_id"] for r in picked) == 3 for p in picked)
    assert picked == sample_sibling_groups(rows, 7, seed=0)


def test_nearly_constant_scores_still_get_an_interval_and_constant_ones_none():
    quality = np.linspace(0, 1, 40)
    nearly = [3.0] * 38 + [4.0, 5.0]  # written verdicts: the same score for almost every reply
    res = correlation(nearly, quality, stats.spearmanr, 500, 0)
    assert res["ci_low"] is not None and res["ci_low"] <= res["value"] <= res["ci_high"] and res["undefined_resamples"] > 0
    assert correlation([3.0] * 40, quality, stats.spearmanr, 500, 0) == {"value": None, "ci_low": None, "ci_high": None, "n": 40}

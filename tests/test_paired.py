"""Paired comparison primitives on crafted data (no model, no network): `.venv/bin/pytest tests/test_paired.py -q`."""

import numpy as np
import pytest
from scipy.special import expit

from ru_selfalign.evaluation import summarise, two_order_outcomes
from ru_selfalign.paired import (chrf, length_controlled_scores, length_controlled_soft_win_rate, paired_delta,
                                 paired_ratio, position_bias, reference_scores, soft_preferences, soft_win_rate)

N_RESAMPLES = 300


def test_ratio_of_a_constant_halving_is_exactly_one_half():
    y = np.arange(10, 210, 10)
    out = paired_ratio(0.5 * y, y, N_RESAMPLES, seed=0)
    assert out["median"] == out["geomean"] == {"value": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    assert out["n"] == 20


def test_ratio_median_and_geomean_by_hand_with_a_zero_pair():
    # ratios: (0+1)/(3+1) = 0.25 (add-one on the zero pair only), 1, 2, 4
    out = paired_ratio([0, 2, 4, 8], [3, 2, 2, 2], N_RESAMPLES, seed=0)
    assert out["median"]["value"] == 1.5  # (1 + 2) / 2
    assert out["geomean"]["value"] == round(2 ** 0.25, 4)  # (0.25 * 1 * 2 * 4) ** (1/4)
    assert out["median"]["ci_low"] <= 1.5 <= out["median"]["ci_high"]
    with pytest.raises(ValueError, match="non-negative"):
        paired_ratio([-1, 2], [1, 2])
    with pytest.raises(ValueError, match="equally long"):
        paired_ratio([1, 2, 3], [1, 2])


def test_paired_ratio_detects_a_ten_percent_cut_that_unpaired_intervals_miss():
    rng = np.random.default_rng(0)
    y = rng.integers(20, 201, 100).astype(float)
    x = np.round(0.9 * y + rng.normal(0, 2, 100))
    # each model's own median length: the intervals overlap, prompt-to-prompt spread hides the cut
    med_x, med_y = summarise(x, N_RESAMPLES, 0, np.median), summarise(y, N_RESAMPLES, 0, np.median)
    assert med_x["ci_high"] > med_y["ci_low"]
    out = paired_ratio(x, y, N_RESAMPLES, seed=0)
    assert out["median"]["ci_high"] < 1 and out["geomean"]["ci_high"] < 1
    assert 0.85 < out["median"]["value"] < 0.95


def test_paired_delta_mean_interval_and_wilcoxon():
    rng = np.random.default_rng(1)
    y = rng.normal(5, 2, 60)
    out = paired_delta(y + 0.5 + rng.normal(0, 0.3, 60), y, N_RESAMPLES, seed=0)
    assert 0.4 < out["value"] < 0.6 and out["ci_low"] < out["value"] < out["ci_high"] and out["n"] == 60
    assert out["wilcoxon_p"] < 1e-6
    same = paired_delta(y, y, N_RESAMPLES, seed=0)
    assert same["wilcoxon_p"] is None and same["value"] == same["ci_low"] == same["ci_high"] == 0
    assert paired_delta([3.0], [1.0])["wilcoxon_p"] is None


def test_soft_preference_recovers_a_quality_gap_that_position_bias_turns_into_ties():
    # judge: P(first better) = sigmoid(2.0 + 0.4 * (q_first - q_second)); X better by about 1 quality point
    gap = np.random.default_rng(2).normal(1.0, 0.3, 80)
    p_x_first, p_y_first = expit(2.0 + 0.4 * gap), expit(2.0 - 0.4 * gap)
    assert set(two_order_outcomes(p_x_first, p_y_first)) == {0.5}  # the strict rule: every prompt a tie
    prefs = soft_preferences(p_x_first, p_y_first)
    rate = soft_win_rate(prefs, N_RESAMPLES, seed=0)
    assert rate["ci_low"] > 0.5 and rate["n"] == 80
    assert position_bias(p_x_first, p_y_first) > 0.85
    assert soft_preferences([0.9, 0.5], [0.3, 0.5]) == pytest.approx([0.8, 0.5])


def _length_only_judge(n: int, seed: int):
    """X usually longer; the judge's soft preference depends on the length difference only."""
    rng = np.random.default_rng(seed)
    len_y = rng.integers(30, 150, n).astype(float)
    len_x = np.round(len_y * rng.uniform(0.8, 2.5, n))
    diff = (len_x - len_y) / (len_x + len_y)
    return expit(6 * diff + rng.normal(0, 0.2, n)), len_x, len_y


def test_length_controlled_soft_win_rate_removes_a_pure_length_preference():
    prefs, len_x, len_y = _length_only_judge(120, seed=3)
    assert soft_win_rate(prefs, N_RESAMPLES, 0)["value"] > 0.7
    lc = length_controlled_soft_win_rate(prefs, len_x, len_y, n_resamples=200, seed=0)
    assert abs(lc["value"] - 0.5) < 0.05 and lc["ci_low"] < 0.5 < lc["ci_high"] and lc["skipped"] == 0


def test_unpenalised_fit_is_not_pulled_back_to_the_raw_rate_like_the_l2_one():
    prefs, len_x, len_y = _length_only_judge(30, seed=4)
    raw = float(np.mean(prefs))
    unpenalised = length_controlled_soft_win_rate(prefs, len_x, len_y, n_resamples=20, seed=0)["value"]
    from sklearn.linear_model import LogisticRegression

    diffs = (np.asarray(len_x) - np.asarray(len_y)) / (np.asarray(len_x) + np.asarray(len_y))
    features = np.concatenate([diffs, diffs])[:, None]
    labels, weights = np.repeat([1, 0], len(prefs)), np.concatenate([prefs, 1 - np.asarray(prefs)])
    l2 = LogisticRegression().fit(features, labels, sample_weight=weights).predict_proba([[0.0]])[0, 1]  # default C=1
    assert abs(unpenalised - 0.5) < abs(l2 - 0.5) and l2 < raw


def test_length_controlled_soft_win_rate_returns_none_or_skips_when_nothing_fits():
    assert length_controlled_soft_win_rate([1.0, 1.0, 1.0], [10, 20, 30], [5, 5, 5]) is None  # no loss at all
    assert length_controlled_soft_win_rate([0.7, 0.4, 0.6], [10, 10, 10], [10, 10, 10]) is None  # no length spread
    # hard labels separated by length: the longer answer always wins, the slope has no finite estimate
    assert length_controlled_soft_win_rate([1, 1, 0, 0], [30, 40, 10, 5], [10, 10, 30, 20]) is None
    # soft labels overlap everywhere, but a resample of only hard rows can separate: those are skipped
    out = length_controlled_soft_win_rate([1, 0, 0.6, 0.3], [30, 10, 20, 20], [10, 30, 20, 25], n_resamples=100, seed=0)
    assert 0 < out["skipped"] < 100 and out["ci_low"] <= out["value"] <= out["ci_high"]


def test_chrf_and_token_f1_against_the_reference():
    ref = "Столица Франции — Париж."
    assert chrf(ref, ref) == pytest.approx(100.0)
    assert chrf("Квадратный корень из девяти равен трём.", ref) < 15
    rows = reference_scores(["Париж", "Столица Франции — Париж.", "Не знаю"], [ref, ref, None])
    assert rows[1] == {"chrf": 100.0, "token_f1": 1.0}
    # "париж" against "столица франции париж" (the dash is punctuation): precision 1, recall 1/3 → F1 0.5
    assert rows[0]["token_f1"] == 0.5 and 0 < rows[0]["chrf"] < 100
    assert rows[2] == {"chrf": None, "token_f1": None}
    with pytest.raises(ValueError, match="references"):
        reference_scores(["a"], [])


def _scores_on_log_length(ranges: dict, offsets: dict, seed: int):
    """score = 3 + 1.0 * log(1 + length) + model offset + noise, 150 answers per model."""
    rng = np.random.default_rng(seed)
    lengths = {m: [int(v) for v in rng.integers(lo, hi, 150)] for m, (lo, hi) in ranges.items()}
    scores = {m: list(3.0 + 1.0 * np.log1p(lengths[m]) + offsets[m] + rng.normal(0, 0.1, 150)) for m in offsets}
    return scores, lengths


def test_length_controlled_scores_recover_offsets_and_slope():
    offsets = {"base": -0.5, "sft": 0.0, "dpo": 0.5}
    scores, lengths = _scores_on_log_length({m: (10, 400) for m in offsets}, offsets, seed=5)
    out = length_controlled_scores(scores, lengths, N_RESAMPLES, seed=0)
    assert out["_slope"] == pytest.approx(1.0, abs=0.1)
    assert out["base"]["value"] < out["sft"]["value"] < out["dpo"]["value"]
    assert out["dpo"]["value"] - out["base"]["value"] == pytest.approx(1.0, abs=0.1)
    assert all(out[m]["ci_low"] <= out[m]["value"] <= out[m]["ci_high"] for m in offsets)


def test_pooled_slope_credits_length_for_quality_that_goes_with_length():
    # the best model is also the longest: the pooled line absorbs part of its offset, as documented
    offsets = {"base": -0.5, "sft": 0.0, "dpo": 0.5}
    scores, lengths = _scores_on_log_length({"base": (10, 100), "sft": (20, 200), "dpo": (50, 400)}, offsets, seed=5)
    out = length_controlled_scores(scores, lengths, N_RESAMPLES, seed=0)
    assert out["_slope"] > 1.2 and out["dpo"]["value"] - out["base"]["value"] < 0.8


def test_length_controlled_scores_reject_mismatched_input():
    with pytest.raises(ValueError, match="different models"):
        length_controlled_scores({"a": [1.0]}, {"b": [3]})
    with pytest.raises(ValueError, match="same length"):
        length_controlled_scores({"a": [1.0, 2.0]}, {"a": [3, 3]})
    with pytest.raises(ValueError, match="scores and lengths of a"):
        length_controlled_scores({"a": [1.0, 2.0]}, {"a": [3]})

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


# --- length-controlled agreement on constructed pairs ---------------------------------------------------------------

from ru_selfalign.agreement import (NEAR_EQUAL_LENGTH, cluster_bootstrap, length_controlled, length_logit,  # noqa: E402
                                    pair_metrics, pair_table, pairwise_accuracy, ranked_pairs, ranked_siblings)


def _reply(prompt, rank, words, quality=0.0, rid=None):
    return {"id": rid or f"{prompt}-{rank}", "prompt_id": prompt, "rank": rank, "reply": "слово " * words,
            "quality": quality, "quality_count": 3}


def _length_biased_people(n_groups=40):
    """Three siblings per prompt: people prefer the longer of two replies of very different length, but between the
    two nearly equal ones (100 vs 110 words) the shorter half the time, in alternate prompts."""
    rows = []
    for g in range(n_groups):
        near_ranks = (0, 1) if g % 2 else (1, 0)  # (100 words, 110 words)
        rows += [_reply(f"p{g}", near_ranks[0], 100), _reply(f"p{g}", near_ranks[1], 110), _reply(f"p{g}", 2, 20)]
    return rows


def _margins(pairs, score):
    return [score(b) - score(w) for _, b, w in pairs]


def test_a_judge_that_only_reads_length_scores_half_with_length_controlled():
    pairs = ranked_pairs(_length_biased_people())
    table = pair_table(pairs, _margins(pairs, lambda r: len(r["reply"])))
    raw, lc = pairwise_accuracy(table, 200, 0), length_controlled(table, 200, 0)
    assert raw["n"] == 120 and raw["value"] == pytest.approx(5 / 6, abs=1e-4)  # two of three pairs per prompt are far apart
    assert lc["n"] == 40 and lc["value"] == 0.5 and lc["ci_low"] < 0.5 < lc["ci_high"]
    assert lc["max_length_difference"] == NEAR_EQUAL_LENGTH
    assert lc["longer_is_better"]["value"] == raw["value"] and lc["longer_is_better"]["near_equal"] == 0.5
    assert lc["shorter_is_better"]["value"] == pytest.approx(1 - raw["value"])


def test_logistic_credits_a_judge_that_sees_quality_beyond_length_and_not_one_that_reads_noise():
    rows = _length_biased_people(60)
    pairs = ranked_pairs(rows)
    rng = np.random.default_rng(0)
    # sees the human order with noise, whatever the lengths
    seeing = pair_metrics(pairs, [1.0 + rng.normal(0, 1.5) for _ in pairs], 300, 0)["length_controlled"]
    assert seeing["logistic"]["judge_coef"] > 0 and seeing["logistic"]["ci_low"] > 0 and seeing["ci_low"] > 0.5
    noise = pair_metrics(pairs, rng.normal(0, 1, len(pairs)), 300, 0)["length_controlled"]
    assert noise["logistic"]["ci_low"] < 0 < noise["logistic"]["ci_high"]
    assert noise["logistic"]["length_coef"] > 0  # people prefer the longer one here


def test_logistic_has_no_value_where_the_judge_separates_the_orders():
    pairs = ranked_pairs(_length_biased_people(4))
    assert length_logit(pair_table(pairs, [1.0] * len(pairs))) is None  # always right: infinite coefficient
    perfect = length_controlled(pair_table(pairs, [1.0] * len(pairs)), 100, 0)
    assert perfect["value"] == 1.0 and perfect["logistic"]["judge_coef"] is None


def test_cluster_bootstrap_resamples_whole_prompts():
    # one prompt with 9 agreeing pairs, one with 1 disagreeing pair: resampling pairs would give many means,
    # resampling prompts only three (the first prompt twice, one of each, the second twice)
    groups = np.array([0] * 9 + [1])
    outcomes = np.array([1.0] * 9 + [0.0])
    seen = set()
    cluster_bootstrap(groups, lambda idx: seen.add(round(outcomes[idx].mean(), 6)), 200, 0)
    assert seen == {1.0, 0.9, 0.0}
    lo, hi, undefined = cluster_bootstrap(np.zeros(5), lambda idx: len(idx), 50, 0)
    assert lo == hi == 5 and undefined == 0
    assert cluster_bootstrap(groups, lambda idx: None, 50, 0) == (None, None, 50)


def test_pairs_and_siblings_keep_only_ranked_differently_ranked_replies():
    rows = [_reply("p", 0, 5), _reply("p", 1, 6), _reply("p", None, 7, rid="p-x"), _reply("q", 0, 5),
            _reply("r", 0, 5), _reply("r", 0, 6, rid="r-tie")]
    assert [r["id"] for r in ranked_siblings(rows)] == ["p-0", "p-1"]
    assert [(p, b["id"], w["id"]) for p, b, w in ranked_pairs(rows)] == [("p", "p-0", "p-1")]
    with pytest.raises(ValueError, match="2 judge margins for 1 pairs"):
        pair_table(ranked_pairs(rows), [1.0, 2.0])


def test_agreement_metrics_report_length_controlled_next_to_raw_accuracy():
    rows = [{**_row(f"p{i}", r, reward=5 - r), "reply": "слово " * (10 + r)} for i in range(6) for r in range(3)]
    out = agreement_metrics(rows, min_label_count=2, n_resamples=100, seed=0)["reward"]
    assert out["pairwise_accuracy"]["value"] == 1.0 and out["length_controlled"]["n"] == 18
    assert out["length_controlled"]["shorter_is_better"]["value"] == 1.0

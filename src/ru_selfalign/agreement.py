"""Does the self-judge agree with people? Pairwise accuracy against oasst sibling ranks, the same with length taken
out, rank correlation with ``labels.quality``, length bias, and a calibrated reward fitted on the train split.

Sibling pairs share replies and a prompt, so every interval here is a cluster bootstrap over prompts: whole sibling
groups are resampled and the statistic recomputed over all pairs (or replies) of the resample.
"""

from __future__ import annotations

import random
import warnings
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

from .criteria import CRITERION_KEYS
from .evaluation import word_count

LENGTH_FEATURE = "log_words"
NEAR_EQUAL_LENGTH = 0.2  # sibling pairs whose word counts differ by less than 20 % of the longer one


def sample_sibling_groups(rows: list[dict], max_replies: int, seed: int) -> list[dict]:
    """Whole sibling groups (all replies of a prompt), prompts in seeded order, until ``max_replies`` is reached."""
    by_prompt = defaultdict(list)
    for r in rows:
        by_prompt[r["prompt_id"]].append(r)
    prompts = sorted(by_prompt)
    random.Random(seed).shuffle(prompts)
    out = []
    for p in prompts:
        if len(out) + len(by_prompt[p]) > max_replies and out:
            break
        out.extend(by_prompt[p])
    return out


def ranked_siblings(rows: list[dict]) -> list[dict]:
    """The replies that can enter a pair: ranked, with a sibling of another rank."""
    ranks = defaultdict(set)
    for r in rows:
        if r["rank"] is not None:
            ranks[r["prompt_id"]].add(r["rank"])
    return [r for r in rows if r["rank"] is not None and len(ranks[r["prompt_id"]]) > 1]


def ranked_pairs(rows: list[dict]) -> list[tuple[str, dict, dict]]:
    """``(prompt_id, better, worse)`` for every pair of ranked sibling replies that people ranked differently."""
    by_prompt = defaultdict(list)
    for r in rows:
        if r["rank"] is not None:
            by_prompt[r["prompt_id"]].append(r)
    return [(p, *((a, b) if a["rank"] < b["rank"] else (b, a)))
            for p, siblings in by_prompt.items() for a, b in combinations(siblings, 2) if a["rank"] != b["rank"]]


@dataclass(frozen=True)
class PairTable:
    """One row per human-ranked sibling pair."""

    group: np.ndarray  # sibling group (prompt) of the pair: the bootstrap's cluster
    margin: np.ndarray  # the judge's preference for the reply people ranked higher: > 0 agrees, < 0 not, 0 tie
    words_better: np.ndarray
    words_worse: np.ndarray

    @property
    def outcomes(self) -> np.ndarray:
        """1 where the judge orders the pair as people did, 0 where not, 0.5 on a tie."""
        return (np.sign(self.margin) + 1) / 2

    @property
    def near_equal(self) -> np.ndarray:
        longer = np.maximum(np.maximum(self.words_better, self.words_worse), 1)
        return np.abs(self.words_better - self.words_worse) / longer < NEAR_EQUAL_LENGTH

    @property
    def log_length_diff(self) -> np.ndarray:
        return np.log1p(self.words_better) - np.log1p(self.words_worse)


def pair_table(pairs: list[tuple[str, dict, dict]], margins) -> PairTable:
    """The judge's ``margins`` for the pairs of ``ranked_pairs`` (in order), with each pair's group and word counts."""
    if len(margins) != len(pairs):
        raise ValueError(f"{len(margins)} judge margins for {len(pairs)} pairs")
    ids = {p: i for i, p in enumerate(dict.fromkeys(p for p, _, _ in pairs))}
    return PairTable(np.array([ids[p] for p, _, _ in pairs], int), np.asarray(margins, float).reshape(len(pairs)),
                     np.array([word_count(b["reply"]) for _, b, _ in pairs], float),
                     np.array([word_count(w["reply"]) for _, _, w in pairs], float))


def pair_outcomes(rows: list[dict], reward_key: str = "reward") -> list[float]:
    """For every pair of ranked sibling replies: 1 if the judge orders them as people did, 0 if not, 0.5 on a tie."""
    pairs = ranked_pairs(rows)
    return pair_table(pairs, [b[reward_key] - w[reward_key] for _, b, w in pairs]).outcomes.tolist()


def cluster_bootstrap(groups, statistic, n_resamples: int, seed: int) -> tuple[float | None, float | None, int]:
    """Percentile 95% interval of ``statistic(row_indices)`` over resamples of whole groups (with replacement).

    Returns ``(low, high, undefined)``; a resample where the statistic is None or NaN (e.g. no pair of nearly equal
    length drawn, a constant side) is left out and counted; fewer than two defined resamples give no interval.
    """
    groups = np.asarray(groups)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    rng = np.random.default_rng(seed)
    values = []
    for draw in rng.integers(0, len(members), (n_resamples, len(members))):
        value = statistic(np.concatenate([members[i] for i in draw]))
        values.append(np.nan if value is None else value)
    values = np.asarray(values, float)
    defined = values[np.isfinite(values)]
    if len(defined) < 2:
        return None, None, n_resamples - len(defined)
    lo, hi = np.percentile(defined, [2.5, 97.5])
    return float(lo), float(hi), n_resamples - len(defined)


def _mean_with_ci(values: np.ndarray, groups: np.ndarray, n_resamples: int, seed: int) -> dict:
    if not len(values):
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    lo, hi, _ = cluster_bootstrap(groups, lambda idx: values[idx].mean(), n_resamples, seed)
    return {"value": _r(values.mean()), "ci_low": _r(lo), "ci_high": _r(hi), "n": int(len(values))}


def pairwise_accuracy(table: PairTable, n_resamples: int, seed: int) -> dict:
    """Share of pairs the judge orders as people did (ties count half), cluster-bootstrap 95% interval."""
    return _mean_with_ci(table.outcomes, table.group, n_resamples, seed)


def length_logit(table: PairTable, idx=None, scale: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """Coefficients ``(judge, length)`` of a logistic regression of the human preference on the judge's margin and the
    log-length difference, both divided by their spread over the whole table (``scale``), so a coefficient is the
    change in log-odds per standard deviation. Each pair enters in both orders (the preferred reply first with label
    1, then second with label 0), which fixes the intercept at 0: which reply is called A carries no information.
    None where the fit has no finite solution (the features separate the two orders) or a feature is constant.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    idx = np.arange(len(table.margin)) if idx is None else idx
    scale = scale or _spread(table)
    if scale is None:
        return None
    x = np.column_stack([table.margin[idx] / scale[0], table.log_length_diff[idx] / scale[1]])
    if (x[:, 0] > 0).all() or (x[:, 0] < 0).all() or np.ptp(x, axis=0).min() == 0:
        return None
    # C=inf: no penalty (the default L2 would pull both coefficients toward 0 by an amount that depends on n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model = LogisticRegression(C=np.inf, fit_intercept=False, solver="newton-cholesky").fit(
                np.vstack([x, -x]), np.r_[np.ones(len(x)), np.zeros(len(x))])
        except ConvergenceWarning:
            return None
    if (x @ model.coef_[0] > 0).all():  # separated: the likelihood grows without bound, the solver just stopped
        return None
    judge, length = model.coef_[0]
    return float(judge), float(length)


def _spread(table: PairTable) -> tuple[float, float] | None:
    """Root mean square of the margin and of the log-length difference (the features are symmetric about 0)."""
    rms = (float(np.sqrt(np.mean(table.margin ** 2))), float(np.sqrt(np.mean(table.log_length_diff ** 2))))
    return rms if len(table.margin) and min(rms) > 0 else None


def length_controlled(table: PairTable, n_resamples: int, seed: int) -> dict:
    """How far the judge agrees with people beyond length.

    ``value``/``ci_*``/``n``: pairwise accuracy on pairs whose lengths differ by less than ``NEAR_EQUAL_LENGTH``;
    ``logistic``: the judge's coefficient next to the log-length difference (> 0: the judge predicts people beyond
    length); ``longer_is_better`` / ``shorter_is_better``: the agreement of the length rules themselves, on all pairs
    (``near_equal``: on the nearly equal ones). Every interval is a cluster bootstrap over prompts.
    """
    near = table.near_equal
    out = {**_mean_with_ci(table.outcomes[near], table.group[near], n_resamples, seed),
           "max_length_difference": NEAR_EQUAL_LENGTH}
    scale = _spread(table)
    fit = length_logit(table, scale=scale)
    logistic = {"judge_coef": None, "ci_low": None, "ci_high": None, "length_coef": None}
    if fit is not None:
        lo, hi, skipped = cluster_bootstrap(table.group, lambda idx: (length_logit(table, idx, scale) or (None,))[0],
                                            n_resamples, seed)
        logistic = {"judge_coef": _r(fit[0]), "ci_low": _r(lo), "ci_high": _r(hi), "length_coef": _r(fit[1]),
                    "skipped_resamples": skipped}
    out["logistic"] = logistic
    longer = (np.sign(table.words_better - table.words_worse) + 1) / 2
    for name, outcomes in (("longer_is_better", longer), ("shorter_is_better", 1 - longer)):
        out[name] = {**_mean_with_ci(outcomes, table.group, n_resamples, seed),
                     "near_equal": _r(outcomes[near].mean()) if near.any() else None}
    return out


def pair_metrics(pairs: list[tuple[str, dict, dict]], margins, n_resamples: int, seed: int) -> dict:
    """``pairwise_accuracy`` and ``length_controlled`` of a judge's ``margins`` on ``pairs`` (``ranked_pairs``)."""
    table = pair_table(pairs, margins)
    return {"pairwise_accuracy": pairwise_accuracy(table, n_resamples, seed),
            "length_controlled": length_controlled(table, n_resamples, seed)}


def correlation(x, y, fn, n_resamples: int, seed: int, groups=None) -> dict:
    """Spearman/Kendall (scipy) with a bootstrap 95% interval; all None where a side is constant (the correlation is
    undefined there, e.g. written verdicts that give every reply the same score). With ``groups`` (the replies'
    prompts) the bootstrap resamples whole groups; without, single items (scipy's paired bootstrap).

    A side that is nearly constant gives resamples where it is constant; the interval is taken over the
    resamples where the correlation is defined, and ``undefined_resamples`` says how many were not.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = {"value": None, "ci_low": None, "ci_high": None, "n": int(len(x))}
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        with warnings.catch_warnings():  # constant resamples are expected here and counted below
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            if groups is not None:
                lo, hi, undefined = cluster_bootstrap(groups, lambda idx: fn(x[idx], y[idx]).statistic, n_resamples, seed)
            else:
                res = stats.bootstrap((x, y), lambda a, b: fn(a, b).statistic, paired=True, vectorized=False,
                                      n_resamples=n_resamples, method="percentile",
                                      random_state=np.random.default_rng(seed))
                dist = res.bootstrap_distribution
                undefined = int(np.isnan(dist).sum())
                lo, hi = np.nanpercentile(dist, [2.5, 97.5]) if undefined < len(dist) else (None, None)
        out.update(value=_r(fn(x, y).statistic), ci_low=_r(lo), ci_high=_r(hi))
        if undefined:
            out["undefined_resamples"] = undefined
    return out


def agreement_metrics(rows: list[dict], min_label_count: int, n_resamples: int, seed: int,
                      reward_keys: tuple[str, ...] = ("reward",)) -> dict:
    """Pairwise accuracy (raw and length-controlled), correlations with human quality (reward and each criterion),
    length bias."""
    out = {}
    labelled = [r for r in rows if r["quality"] is not None and r["quality_count"] >= min_label_count]
    quality = [r["quality"] for r in labelled]
    words = [word_count(r["reply"]) for r in rows]
    groups, labelled_groups = [r["prompt_id"] for r in rows], [r["prompt_id"] for r in labelled]

    def corr(x, y, fn=stats.spearmanr, by=labelled_groups):
        return correlation(x, y, fn, n_resamples, seed, by)

    pairs = ranked_pairs(rows)
    for key in reward_keys:
        out[key] = {
            **pair_metrics(pairs, [b[key] - w[key] for _, b, w in pairs], n_resamples, seed),
            "spearman": corr([r[key] for r in labelled], quality),
            "kendall": corr([r[key] for r in labelled], quality, stats.kendalltau),
            "length_spearman": corr([r[key] for r in rows], words, by=groups),
        }
    for c in CRITERION_KEYS:
        out[c] = {"spearman": corr([r["scores"][c] for r in labelled], quality),
                  "length_spearman": corr([r["scores"][c] for r in rows], words, by=groups)}
    out["human_quality_length_spearman"] = corr(quality, [word_count(r["reply"]) for r in labelled])
    return out


def features(scores: dict, text: str) -> list[float]:
    """Calibrator inputs: the five criterion scores and log(1 + words)."""
    return [scores[c] for c in CRITERION_KEYS] + [float(np.log1p(word_count(text)))]


def fit_calibrator(rows: list[dict], seed: int):
    """Ridge regression (CV-chosen alpha) from criterion scores + length to human quality, on the train split."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labelled = [r for r in rows if r["quality"] is not None]
    if len(labelled) < 5:
        raise ValueError(f"need at least 5 labelled train replies to fit the calibrated reward, got {len(labelled)}")
    x = np.array([features(r["scores"], r["reply"]) for r in labelled])
    y = np.array([r["quality"] for r in labelled])
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(x, y)
    return model


def calibrated_reward(model, scores: dict, text: str) -> float:
    """Predicted human quality mapped onto the rubric's 1–5 scale, so ``pairs.min_margin`` keeps its units."""
    quality = float(np.clip(model.predict(np.array([features(scores, text)]))[0], 0.0, 1.0))
    return round(1.0 + 4.0 * quality, 4)


def _r(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)

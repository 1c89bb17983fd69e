"""Paired comparisons of model X with model Y on the same prompts: ratios, deltas, soft judge preferences,
length control and reference overlap. Every argument is aligned by prompt (``x[i]`` and ``y[i]`` answer prompt i),
and every interval resamples prompts, so both of a prompt's values move together."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from .evaluation import summarise
from .qa import token_f1


def _aligned(x, y, what: str = "x and y") -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or not len(x):
        raise ValueError(f"{what} must be equally long, non-empty 1-D sequences aligned by prompt; got {x.shape} and {y.shape}")
    return x, y


def paired_ratio(x, y, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Median and geometric mean of the per-prompt ratio ``x[i] / y[i]`` (e.g. token counts), each with a
    95% bootstrap interval.

    The ratio is formed per prompt before resampling, so resampling the ratios resamples prompt indices with
    ``x[i]`` and ``y[i]`` together: a paired bootstrap, which is what makes "X is 10% shorter" detectable when
    prompt-to-prompt spread in length dwarfs the difference. A pair where either value is zero gets 1 added to
    both sides (add-one smoothing: an empty answer gives a finite, positive ratio; 0 vs 0 gives 1); other pairs
    are left exact. Negative values are an error.
    """
    x, y = _aligned(x, y)
    if (x < 0).any() or (y < 0).any():
        raise ValueError("paired_ratio needs non-negative values (counts)")
    zero = (x == 0) | (y == 0)
    ratios = (x + zero) / (y + zero)
    return {"median": summarise(ratios, n_resamples, seed, statistic=np.median),
            "geomean": summarise(ratios, n_resamples, seed, statistic=stats.gmean), "n": len(ratios)}


def paired_delta(x, y, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Mean of ``x[i] - y[i]`` with a paired bootstrap 95% interval, and the two-sided Wilcoxon signed-rank p-value.

    ``wilcoxon_p`` is None when n < 2 or every difference is zero: the test drops zero differences, so nothing
    would be left to rank (scipy returns NaN or raises there).
    """
    x, y = _aligned(x, y)
    diffs = x - y
    p = None
    if len(diffs) >= 2 and diffs.any():
        p = float(stats.wilcoxon(diffs, alternative="two-sided").pvalue)
        p = None if np.isnan(p) else p
    return {**summarise(diffs, n_resamples, seed), "n": len(diffs), "wilcoxon_p": p}


def soft_preferences(p_x_first, p_y_first) -> list[float]:
    """Per-prompt P(X better) from a pairwise judge read in both orders: ``(p_AB + 1 - p_BA) / 2``.

    ``p_x_first[i]`` = P(first answer better) with X shown first, ``p_y_first[i]`` the same with Y shown first.
    Averaging the two orders cancels a constant pull toward either slot, where the strict rule
    (``evaluation.two_order_outcomes``) turns every disagreement between orders into a tie.
    """
    p_xy, p_yx = _aligned(p_x_first, p_y_first, "p_x_first and p_y_first")
    return [float(v) for v in (p_xy + 1 - p_yx) / 2]


def position_bias(p_x_first, p_y_first) -> float:
    """Mean P(first answer better) over both orders: 0.5 for an unbiased judge, near 1 when the first slot wins."""
    p_xy, p_yx = _aligned(p_x_first, p_y_first, "p_x_first and p_y_first")
    return round(float(np.concatenate([p_xy, p_yx]).mean()), 4)


def soft_win_rate(prefs, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Mean soft preference for X with a bootstrap 95% interval over prompts; 0.5 means no preference."""
    return {**summarise(prefs, n_resamples, seed), "n": len(prefs)}


def _lc_fit(prefs: np.ndarray, diffs: np.ndarray) -> float | None:
    """P(X wins) at zero length difference from an unpenalised logistic fit, or None when its maximum likelihood
    does not exist: one label only, a constant length difference, or (quasi-)separation (label-1 rows all at or
    above the label-0 rows, or all at or below them), where the slope runs off to infinity."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    # a soft label p is a win row of weight p plus a loss row of weight 1 - p; weight-0 rows carry nothing
    wins, losses = diffs[prefs > 0], diffs[prefs < 1]
    if not len(wins) or not len(losses) or wins.min() >= losses.max() or wins.max() <= losses.min():
        return None
    features = np.concatenate([wins, losses])[:, None]
    labels = np.r_[np.ones(len(wins)), np.zeros(len(losses))]
    weights = np.r_[prefs[prefs > 0], 1 - prefs[prefs < 1]]
    # C=inf is "no penalty" (sklearn >= 1.8 deprecates penalty=None): the default L2 on ~100 prompts shrinks the
    # length slope toward 0 and pulls the controlled rate back toward the raw one. Newton on two parameters
    # converges in a few steps, ~10x faster than lbfgs per bootstrap refit.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model = LogisticRegression(C=np.inf, solver="newton-cholesky").fit(features, labels, sample_weight=weights)
        except ConvergenceWarning:
            return None
    return float(model.predict_proba([[0.0]])[0, 1])


def length_controlled_soft_win_rate(prefs, len_x, len_y, n_resamples: int = 1000, seed: int = 0) -> dict | None:
    """Soft win rate of X with length taken out (AlpacaEval-LC in spirit), with a bootstrap 95% interval.

    Logistic regression of the soft preference on the normalised length difference
    ``(len_x - len_y) / (len_x + len_y)``, read at zero difference: how often X would win if both answers were
    equally long. The interval resamples prompts and refits; a resample whose fit has no finite solution
    (all wins on one side of all losses, e.g. a few hard 0/1 preferences) is skipped and counted in ``skipped``.
    None when the full sample has nothing to fit: no variation in preference, a constant length difference, or
    separation as above. ``ci_low``/``ci_high`` are None when fewer than two resamples could be fitted.
    """
    prefs, len_x = _aligned(prefs, len_x, "prefs and len_x")
    len_y = _aligned(prefs, len_y, "prefs and len_y")[1]
    diffs = (len_x - len_y) / np.maximum(1, len_x + len_y)
    value = _lc_fit(prefs, diffs)
    if value is None:
        return None
    rng = np.random.default_rng(seed)
    estimates = [_lc_fit(prefs[idx], diffs[idx]) for idx in rng.integers(0, len(prefs), (n_resamples, len(prefs)))]
    fitted = [e for e in estimates if e is not None]
    lo, hi = np.percentile(fitted, [2.5, 97.5]) if len(fitted) >= 2 else (None, None)
    return {"value": round(value, 4), "ci_low": None if lo is None else round(float(lo), 4),
            "ci_high": None if hi is None else round(float(hi), 4), "skipped": n_resamples - len(fitted)}


def chrf(prediction: str, reference: str) -> float:
    """Sentence chrF++ (character n-grams plus word uni- and bigrams, sacrebleu) in points, 0-100."""
    from sacrebleu.metrics import CHRF

    return float(CHRF(word_order=2).sentence_score(prediction, [reference]).score)


def reference_scores(predictions: list[str], references: list[str | None]) -> list[dict]:
    """Per-prompt overlap with the reference answer: ``{"chrf": 0-100, "token_f1": 0-1}`` (SQuAD token F1 with the
    reference as the single gold); both None for a prompt without a reference, so rows stay aligned by prompt."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    return [{"chrf": None, "token_f1": None} if ref is None else
            {"chrf": round(chrf(pred, ref), 4), "token_f1": round(token_f1(pred, [ref]), 4)}
            for pred, ref in zip(predictions, references)]


def length_controlled_scores(scores_by_model: dict[str, list[float]], lengths_by_model: dict[str, list[int]],
                             n_resamples: int = 1000, seed: int = 0) -> dict:
    """Judge score with length taken out: one line ``score ~ a + b * log(1 + length)`` fitted (scipy linregress)
    over every model's answers pooled, then each model's mean residual with a bootstrap 95% interval over its
    prompts: positive = scores above what its answer lengths predict. ``"_slope"`` holds b.

    The interval treats the pooled line as fixed (it is fitted on all models' answers, so its own uncertainty is
    left out). A difference between models that goes with length is credited to length — that is the control.
    """
    if set(scores_by_model) != set(lengths_by_model):
        raise ValueError(f"scores and lengths name different models: {sorted(scores_by_model)} vs {sorted(lengths_by_model)}")
    pairs = {m: _aligned(scores_by_model[m], lengths_by_model[m], f"scores and lengths of {m}") for m in scores_by_model}
    log_len = np.log1p(np.concatenate([lengths for _, lengths in pairs.values()]))
    if np.ptp(log_len) == 0:
        raise ValueError("every answer has the same length: no slope to fit")
    fit = stats.linregress(log_len, np.concatenate([scores for scores, _ in pairs.values()]))
    out = {m: summarise(scores - (fit.intercept + fit.slope * np.log1p(lengths)), n_resamples, seed)
           for m, (scores, lengths) in pairs.items()}
    return {**out, "_slope": round(float(fit.slope), 4)}

"""Does the self-judge agree with people? Pairwise accuracy against oasst sibling ranks, rank correlation with
``labels.quality``, length bias, and a calibrated reward fitted on the train split."""

from __future__ import annotations

import random
import warnings
from collections import defaultdict
from itertools import combinations

import numpy as np
from scipy import stats

from .evaluation import bootstrap_ci, word_count
from .rubric import CRITERION_KEYS

LENGTH_FEATURE = "log_words"


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


def pair_outcomes(rows: list[dict], reward_key: str = "reward") -> list[float]:
    """For every pair of ranked sibling replies: 1 if the judge orders them as people did, 0 if not, 0.5 on a tie."""
    by_prompt = defaultdict(list)
    for r in rows:
        if r["rank"] is not None:
            by_prompt[r["prompt_id"]].append(r)
    outcomes = []
    for siblings in by_prompt.values():
        for a, b in combinations(siblings, 2):
            if a["rank"] == b["rank"]:
                continue
            better, worse = (a, b) if a["rank"] < b["rank"] else (b, a)
            diff = better[reward_key] - worse[reward_key]
            outcomes.append(1.0 if diff > 0 else 0.0 if diff < 0 else 0.5)
    return outcomes


def correlation(x, y, fn, n_resamples: int, seed: int) -> dict:
    """Spearman/Kendall (scipy) with a paired bootstrap 95% interval; all None where a side is constant
    (the correlation is undefined there, e.g. written verdicts that give every reply the same score).

    A side that is nearly constant gives resamples where it is constant; the interval is taken over the
    resamples where the correlation is defined, and ``undefined_resamples`` says how many were not.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = {"value": None, "ci_low": None, "ci_high": None, "n": int(len(x))}
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        with warnings.catch_warnings():  # constant resamples are expected here and counted below
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            res = stats.bootstrap((x, y), lambda a, b: fn(a, b).statistic, paired=True, vectorized=False,
                                  n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed))
        dist = res.bootstrap_distribution
        undefined = int(np.isnan(dist).sum())
        lo, hi = np.nanpercentile(dist, [2.5, 97.5]) if undefined < len(dist) else (float("nan"),) * 2
        out.update(value=_r(fn(x, y).statistic), ci_low=_r(lo), ci_high=_r(hi))
        if undefined:
            out["undefined_resamples"] = undefined
    return out


def agreement_metrics(rows: list[dict], min_label_count: int, n_resamples: int, seed: int,
                      reward_keys: tuple[str, ...] = ("reward",)) -> dict:
    """Pairwise accuracy, correlations with human quality (reward and each criterion), length bias."""
    out = {}
    labelled = [r for r in rows if r["quality"] is not None and r["quality_count"] >= min_label_count]
    quality = [r["quality"] for r in labelled]
    words = [word_count(r["reply"]) for r in rows]
    for key in reward_keys:
        outcomes = pair_outcomes(rows, key)
        lo, hi = bootstrap_ci(outcomes, n_resamples=n_resamples, seed=seed) if outcomes else (float("nan"),) * 2
        out[key] = {
            "pairwise_accuracy": {"value": _r(np.mean(outcomes)) if outcomes else None, "ci_low": _r(lo), "ci_high": _r(hi),
                                  "n": len(outcomes)},
            "spearman": correlation([r[key] for r in labelled], quality, stats.spearmanr, n_resamples, seed),
            "kendall": correlation([r[key] for r in labelled], quality, stats.kendalltau, n_resamples, seed),
            "length_spearman": correlation([r[key] for r in rows], words, stats.spearmanr, n_resamples, seed),
        }
    for c in CRITERION_KEYS:
        out[c] = {
            "spearman": correlation([r["scores"][c] for r in labelled], quality, stats.spearmanr, n_resamples, seed),
            "length_spearman": correlation([r["scores"][c] for r in rows], words, stats.spearmanr, n_resamples, seed),
        }
    out["human_quality_length_spearman"] = correlation(quality, [word_count(r["reply"]) for r in labelled],
                                                       stats.spearmanr, n_resamples, seed)
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

"""The human-readable side of the evaluation: a markdown report and the data behind the DVC plots."""

from __future__ import annotations

import random

import numpy as np

from .evaluation import word_count
from .criteria import CRITERIA

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


CENSORED_SHARE = 0.05  # above this share of answers cut at the token cap, a model's lengths are censored


def _fmt(stat: dict | None, digits: int = 2) -> str:
    if stat is None:
        return "–"
    lo, hi = ("–" if stat[k] is None else f"{stat[k]:.{digits}f}" for k in ("ci_low", "ci_high"))
    return f"{stat['value']:.{digits}f} [{lo}, {hi}]"


def _p(stat: dict | None) -> str:
    return "" if stat is None or stat.get("wilcoxon_p") is None else f" p={stat['wilcoxon_p']:.2g}"


def build_report(metrics: dict, answers: list[dict], models: list[str], rounds: dict[str, dict], n_examples: int,
                 seed: int) -> str:
    """Markdown: the paired comparisons first (each X vs Y on the same prompts), then one table of every model (base,
    SFT, each self-rewarding round's model), the rounds' training data, and ``n_examples`` side-by-side answers chosen
    by seed. ``rounds``: round -> its pairs and dpo metrics."""
    lines = [
        "# Evaluation report", "",
        f"{metrics['prompts']} held-out Russian prompts ({metrics['prompts_with_reference']} with a reference answer); "
        "every answer scored by the same judge (the base model). Bootstrap 95% intervals in brackets; paired figures "
        "resample prompts, so both answers to a prompt move together.", "",
        "## Paired comparisons (X vs Y on the same prompts)", "",
        "Ratios are X/Y per prompt (median; geometric mean); deltas are X − Y per prompt (mean, Wilcoxon p). The soft win "
        "rate averages the judge's P(X better) over both answer orders; LC holds answer length equal; – where the judge did "
        "not read that comparison (evaluate.preference).", "",
        "| comparison | n | tokens X/Y | words X/Y (geo. mean) | Δ Полезность | Δ Точность | Δ reward | Δ chrF++ "
        "| Δ token F1 | soft win rate | LC | position bias | strict: win rate, ties |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, c in metrics["compare"].items():
        delta = c.get("delta", {})
        cells = [name.replace("_vs_", " vs "), str(c["n"]),
                 _fmt(c["token_ratio"]["median"]) if "token_ratio" in c else "–", _fmt(c["word_ratio"]["geomean"])]
        cells += [_fmt(delta.get(k)) + _p(delta.get(k)) for k in ("usefulness", "accuracy", "reward")]
        cells += [_fmt(delta.get("reference_chrf"), 1) + _p(delta.get("reference_chrf")),
                  _fmt(delta.get("reference_token_f1")) + _p(delta.get("reference_token_f1")),
                  _fmt(c.get("win_rate_soft")), _fmt(c.get("win_rate_soft_lc"))]
        cells += ([f"{c['position_bias']:.2f}", f"{c['win_rate_strict']['value']:.2f}, {c['win_rate_strict']['ties']:.2f}"]
                  if "win_rate_strict" in c else ["–", "–"])  # no preference pass (evaluate.preference)
        lines.append("| " + " | ".join(cells) + " |")
    censored = [m for m in models if metrics[m]["truncated_share"] > CENSORED_SHARE]
    lines += ["", "## Every model", ""]
    if censored:
        lines += [f"**Censored:** {', '.join(censored)} cut more than {CENSORED_SHARE:.0%} of answers at the token cap "
                  "(evaluate.sampling.max_new_tokens); their lengths are lower bounds.", ""]
    lines += ["| metric | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for c in CRITERIA:
        lines.append(f"| {c.name} ({c.key}) | " + " | ".join(_fmt(metrics[m][c.key]) for m in models) + " |")
    rows = (("Полезность, length-controlled (mean residual)", "usefulness_length_controlled", 2),
            ("reward (weighted)", "reward", 2), ("chrF++ vs reference", "reference_chrf", 1),
            ("token F1 vs reference", "reference_token_f1", 2), ("words, median", "words_median", 1),
            ("words, p90", "words_p90", 1), ("tokens, median", "tokens_median", 1))
    for label, key, digits in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(metrics[m].get(key), digits) for m in models) + " |")
    for key, label in (("truncated_share", "hit max_new_tokens"), ("empty_share", "empty"), ("non_russian_share", "not Russian")):
        lines.append(f"| share {label} | " + " | ".join(
            f"{metrics[m][key]:.2f}" + (" (censored)" if key == "truncated_share" and m in censored else "")
            for m in models) + " |")
    lines += ["", "## Rounds (what each round trained on)", "",
              "| round | objective | pairs | chosen shorter | median tokens chosen / rejected | cut candidates left out | steps "
              "| final reward margin |",
              "|---|---|---|---|---|---|---|---|"]
    for key, r in rounds.items():
        pairs, dpo = r["pairs"], r["dpo"]
        margin = "–" if dpo["final_reward_margin"] is None else f"{dpo['final_reward_margin']:.2f}"
        lines.append(f"| {key} | {r['objective']} | {pairs['pairs']} | {pairs['chosen_shorter_share']:.2f} | "
                     f"{pairs['chosen_tokens_median']:.0f} / {pairs['rejected_tokens_median']:.0f} | "
                     f"{pairs.get('truncated_candidates', 0)} | {dpo['steps']} | {margin} |")
    lines += ["", f"## {min(n_examples, len(answers))} examples (chosen with seed {seed})", ""]
    for row in sorted(random.Random(seed).sample(answers, min(n_examples, len(answers))), key=lambda r: r["id"]):
        lines += [f"### {row['id']}", "", f"**Prompt:** {_quote(row['messages'][-1]['content'])}", ""]
        if row.get("reference"):
            lines += [f"**Reference:** {_quote(row['reference'])}", ""]
        for m in models:
            a = row[m]
            lines += [f"**{m}** ({word_count(a['text'])} words, usefulness {a['scores']['usefulness']:.2f}): {_quote(a['text'])}", ""]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return " ".join(text.split()) or "*(empty)*"


def plot_rows(answers: list[dict], models: list[str]) -> dict[str, list[dict]]:
    """Rows for ``dvc plots``: answer-length quantiles per model, mean score per criterion per model, and the median
    length and mean Полезность / Точность per model in order (step 0 base, 1 sft, 2... the rounds)."""
    lengths = {m: [word_count(r[m]["text"]) for r in answers] for m in models}
    length_rows = [{"quantile": q, **{m: float(np.quantile(lengths[m], q)) for m in models}} for q in QUANTILES]
    score_rows = [{"criterion": c.key, "model": m, "label": f"{c.key} / {m}",
                   "score": round(float(np.mean([r[m]["scores"][c.key] for r in answers])), 4)}
                  for c in CRITERIA for m in models]
    progress_rows = [{"step": i, "model": m, "words_median": float(np.median(lengths[m])),
                      **{c: round(float(np.mean([r[m]["scores"][c] for r in answers])), 4) for c in ("usefulness", "accuracy")}}
                     for i, m in enumerate(models)]
    return {"lengths": length_rows, "scores": score_rows, "progress": progress_rows}

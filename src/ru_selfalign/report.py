"""The human-readable side of the evaluation: a markdown report and the data behind the DVC plots."""

from __future__ import annotations

import random

import numpy as np

from .evaluation import word_count
from .rubric import CRITERIA

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _fmt(stat: dict) -> str:
    return f"{stat['value']:.2f} [{stat['ci_low']:.2f}, {stat['ci_high']:.2f}]"


def build_report(metrics: dict, answers: list[dict], models: list[str], rounds: dict[str, dict], n_examples: int,
                 seed: int) -> str:
    """Markdown: one table of every model (base, SFT, then each self-rewarding round's model), the rounds' training
    data, the win rates, and ``n_examples`` side-by-side answers chosen by seed. ``rounds``: round -> its pairs and
    dpo metrics."""
    lines = [
        "# Evaluation report", "",
        f"{metrics['prompts']} held-out Russian prompts; every answer scored by the same judge (the base model), "
        "expected 1–5 score per criterion, bootstrap 95% intervals in brackets. Columns after sft are the "
        "self-rewarding rounds' DPO models, in order.", "",
        "| metric | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for c in CRITERIA:
        lines.append(f"| {c.name} ({c.key}) | " + " | ".join(_fmt(metrics[m][c.key]) for m in models) + " |")
    lines.append("| reward (weighted) | " + " | ".join(_fmt(metrics[m]["reward"]) for m in models) + " |")
    lines.append("| words, median | " + " | ".join(_fmt(metrics[m]["words_median"]) for m in models) + " |")
    lines.append("| words, p90 | " + " | ".join(_fmt(metrics[m]["words_p90"]) for m in models) + " |")
    lines.append("| tokens, median | " + " | ".join(_fmt(metrics[m]["tokens_median"]) for m in models) + " |")
    for key, label in (("truncated_share", "hit max_new_tokens"), ("empty_share", "empty"), ("non_russian_share", "not Russian")):
        lines.append(f"| share {label} | " + " | ".join(f"{metrics[m][key]:.2f}" for m in models) + " |")
    lines += ["", "## Rounds (what each round trained on)", "",
              "| round | objective | pairs | chosen shorter | median tokens chosen / rejected | steps | final reward margin |",
              "|---|---|---|---|---|---|---|"]
    for key, r in rounds.items():
        pairs, dpo = r["pairs"], r["dpo"]
        margin = "–" if dpo["final_reward_margin"] is None else f"{dpo['final_reward_margin']:.2f}"
        lines.append(f"| {key} | {r['objective']} | {pairs['pairs']} | {pairs['chosen_shorter_share']:.2f} | "
                     f"{pairs['chosen_tokens_median']:.0f} / {pairs['rejected_tokens_median']:.0f} | {dpo['steps']} | {margin} |")
    lines += ["", "## Win rates (both answer orders; orders that disagree count as a tie)", "",
              "| comparison | win rate | length-controlled | ties | n |", "|---|---|---|---|---|"]
    for name, stat in metrics["win_rate"].items():
        lc = "–" if stat["length_controlled"] is None else f"{stat['length_controlled']:.2f}"
        lines.append(f"| {name.replace('_vs_', ' vs ')} | {_fmt(stat)} | {lc} | {stat['ties']:.2f} | {stat['n']} |")
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

"""The five criteria of the project brief, each scored 1–5, and the weighted reward over them.

The user's spec, kept apart from the judge's prompt wording (rubric.py): every stage validates params against
these keys, so editing a prompt need not make data preparation stale.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Criterion:
    key: str  # English id used in params and metrics
    name: str  # the brief's Russian name
    stem: str  # what the parser looks for ("кратк" matches Краткость, краткость:, КРАТКОСТЬ)
    description: str
    high: str  # what 5 means
    low: str  # what 1 means


CRITERIA: tuple[Criterion, ...] = (
    Criterion("brevity", "Краткость", "кратк",
              "в ответе только нужные сведения, без лишних подробностей",
              "идеально кратко", "перегружен ненужной информацией"),
    Criterion("usefulness", "Полезность", "полезн",
              "ответ полностью решает задачу или отвечает на вопрос",
              "полностью полезен", "не имеет отношения к вопросу"),
    Criterion("accuracy", "Точность", "точн",
              "сведения в ответе верны и достоверны",
              "полностью точен", "содержит ошибки"),
    Criterion("clarity", "Ясность", "ясн",
              "ответ легко понять, в нём нет запутанных формулировок и непонятных терминов",
              "легко понять", "запутан или неясен"),
    Criterion("conciseness", "Лаконичность", "лаконичн",
              "ответ экономен в словах, без повторов и избыточности",
              "максимально лаконичен", "многословен и избыточен"),
)
CRITERION_KEYS = tuple(c.key for c in CRITERIA)


def weighted_reward(scores: dict[str, float], weights: dict[str, float]) -> float:
    """Weighted mean of the criterion scores (stays on the 1–5 scale whatever the weights)."""
    total = sum(weights.values())
    return sum(weights[k] * scores[k] for k in CRITERION_KEYS) / total

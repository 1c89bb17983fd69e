"""The judge's Russian prompts around the five criteria (criteria.py), and the verdict parser.

This is the one place where the judge's wording lives; judge, pairs and evaluation import it.
"""

from __future__ import annotations

import re

from .criteria import CRITERIA, SCALE, Criterion  # noqa: F401  (SCALE: the judge reads the scale with the rubric)

JUDGE_SYSTEM = "Ты — строгий и беспристрастный эксперт. Ты оцениваешь ответы ассистента на русском языке."

_RUBRIC_TEXT = "\n".join(
    f"- {c.name}: {c.description}. 5 — {c.high}; 1 — {c.low}." for c in CRITERIA
)


def render_dialogue(messages: list[dict]) -> str:
    """The conversation up to the answer, as the judge reads it (last user turn is the question)."""
    if len(messages) == 1:
        return messages[0]["content"]
    speaker = {"user": "Пользователь", "assistant": "Ассистент", "system": "Система"}
    return "\n".join(f"{speaker.get(m['role'], m['role'])}: {m['content']}" for m in messages)


_VERDICT_FORMAT = "\n".join(f"{c.name}: <1-5>" for c in CRITERIA)


def verdict_prompt(messages: list[dict], answer: str) -> str:
    """User turn asking for all five scores as a written verdict, one line per criterion (both judge modes).

    Rubric and instructions come first: they are the same for every answer, so the judge reads them once
    per stage (KV cache) and pays per answer only for the dialogue and the answer.
    """
    return (
        f"Критерии оценки (целые числа от 1 до 5):\n{_RUBRIC_TEXT}\n"
        "Краткость никогда не оправдывает бесполезный ответ.\n\n"
        "Ниже диалог с пользователем и ответ ассистента. Оцени ответ по каждому критерию отдельно. "
        f"Ответь ровно пятью строками:\n{_VERDICT_FORMAT}\n\n"
        f"Диалог с пользователем:\n<<<\n{render_dialogue(messages)}\n>>>\n\n"
        f"Ответ ассистента:\n<<<\n{answer}\n>>>"
    )


def verdict_line_start(criterion: Criterion) -> str:
    """The start of the judge's own verdict line; ``expected`` mode reads the score token right after it."""
    return f"{criterion.name}: "


def pairwise_prompt(messages: list[dict], answer_a: str, answer_b: str) -> str:
    """User turn comparing two answers; the judge answers with the letter A or B."""
    return (
        f"Диалог с пользователем:\n<<<\n{render_dialogue(messages)}\n>>>\n\n"
        f"Ответ A:\n<<<\n{answer_a}\n>>>\n\nОтвет B:\n<<<\n{answer_b}\n>>>\n\n"
        "Какой ответ лучше? Хороший ответ полностью решает задачу, точен и ясен, и при этом краток: "
        "без лишних подробностей и повторов. Краткость не оправдывает бесполезный ответ. "
        "Напиши одну букву: A или B."
    )


_WORDS = {
    "один": 1, "одна": 1, "единица": 1, "единицу": 1, "кол": 1,
    "два": 2, "две": 2, "двойка": 2, "двойку": 2,
    "три": 3, "тройка": 3, "тройку": 3,
    "четыре": 4, "четвёрка": 4, "четверка": 4, "четвёрку": 4, "четверку": 4,
    "пять": 5, "пятёрка": 5, "пятерка": 5, "пятёрку": 5, "пятерку": 5,
}
_NUMBER = r"(?P<num>\d+(?:[.,]\d+)?)(?:\s*(?:/|из)\s*(?P<den>\d+))?"
_WORD = "(?P<word>" + "|".join(sorted(_WORDS, key=len, reverse=True)) + ")"


def parse_verdict(text: str) -> tuple[dict[str, float], list[str]]:
    """Read the five scores from a written verdict; tolerant of case, markup, "4/5", "4 из 5", «четыре».

    Returns ``(scores, missing)``: a criterion is missing when its name is absent or no score in
    1..5 follows it on the same line. Callers treat any missing criterion as a parse failure.
    """
    scores: dict[str, float] = {}
    for c in CRITERIA:
        pattern = re.compile(
            rf"(?<![а-яё]){c.stem}[а-яё]*[^\n\dа-яё]{{0,12}}?(?:{_NUMBER}|{_WORD}(?![а-яё]))", re.IGNORECASE
        )
        for match in pattern.finditer(text):
            value = _score_value(match)
            if value is not None:
                scores[c.key] = value
                break
    missing = [c.key for c in CRITERIA if c.key not in scores]
    return scores, missing


def _score_value(match: re.Match) -> float | None:
    if match.group("word"):
        return float(_WORDS[match.group("word").lower()])
    value = float(match.group("num").replace(",", "."))
    if match.group("den"):
        den = int(match.group("den"))
        if den == 0:
            return None
        if den != 5:  # "8/10" → rescale onto 1..5
            value = 1 + 4 * value / den
    return value if 1 <= value <= 5 else None

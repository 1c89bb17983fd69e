"""Extractive reading-comprehension check (SberQUAD layout): does brevity cost facts?"""

from __future__ import annotations

import re
import string
from collections import Counter

QA_PROMPT = ("Прочитай текст и ответь на вопрос. Ответ — короткий фрагмент текста, без пояснений.\n\n"
             "Текст: {context}\n\nВопрос: {question}")

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}«»—–…„“”]")


def qa_messages(item: dict) -> list[dict]:
    return [{"role": "user", "content": QA_PROMPT.format(context=item["context"], question=item["question"])}]


def normalise_answer(text: str) -> str:
    """SQuAD-style normalisation for Russian: lower case, ё→е, no punctuation, single spaces."""
    return " ".join(_PUNCT.sub(" ", text.lower().replace("ё", "е")).split())


def exact_match(prediction: str, golds: list[str]) -> float:
    return float(any(normalise_answer(prediction) == normalise_answer(g) for g in golds))


def token_f1(prediction: str, golds: list[str]) -> float:
    """Best token-overlap F1 against any gold answer (the SQuAD metric)."""
    best = 0.0
    pred = normalise_answer(prediction).split()
    for gold in golds:
        ref = normalise_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def load_qa_items(rows: list[dict], where: str) -> list[dict]:
    """Validate SberQUAD-layout records: context, question, answers.text (non-empty)."""
    from .io import InputError

    for i, r in enumerate(rows, start=1):
        answers = r.get("answers") or {}
        if not r.get("context") or not r.get("question") or not answers.get("text"):
            raise InputError(f"{where}: record {i} needs 'context', 'question' and 'answers.text' (SberQUAD layout)")
    return rows

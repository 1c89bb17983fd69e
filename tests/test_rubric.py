import pytest

from ru_selfalign.criteria import weighted_reward
from ru_selfalign.rubric import CRITERIA, pairwise_prompt, parse_verdict, verdict_line_start, verdict_prompt

ALL = ("brevity", "usefulness", "accuracy", "clarity", "conciseness")


@pytest.mark.parametrize("text, expected", [
    ("Краткость: 4\nПолезность: 5\nТочность: 3\nЯсность: 4\nЛаконичность: 2", (4, 5, 3, 4, 2)),
    ("краткость - 5\nполезность - 5\nточность - 5\nясность - 5\nлаконичность - 5", (5, 5, 5, 5, 5)),
    ("**Краткость**: 4/5\n**Полезность**: 3/5\n**Точность**: 5/5\n**Ясность**: 4/5\n**Лаконичность**: 4/5", (4, 3, 5, 4, 4)),
    ("Краткость: 4 из 5. Полезность: 2 из 5. Точность: 1 из 5. Ясность: 3 из 5. Лаконичность: 5 из 5.", (4, 2, 1, 3, 5)),
    ("Краткость — четыре\nПолезность — пять\nТочность — три\nЯсность — две\nЛаконичность — один", (4, 5, 3, 2, 1)),
    ("Оценки:\n1. Краткость: 3\n2. Полезность: 4\n3. Точность: 4\n4. Ясность: 5\n5. Лаконичность: 3", (3, 4, 4, 5, 3)),
    ("Краткость: 8/10\nПолезность: 10/10\nТочность: 6/10\nЯсность: 10/10\nЛаконичность: 2/10", (4.2, 5, 3.4, 5, 1.8)),
    ("Краткость: 4,5\nПолезность: 3.5\nТочность: 4\nЯсность: 4\nЛаконичность: 5", (4.5, 3.5, 4, 4, 5)),
    ("КРАТКОСТЬ: 2; ПОЛЕЗНОСТЬ: 2; ТОЧНОСТЬ: 2; ЯСНОСТЬ: 2; ЛАКОНИЧНОСТЬ: 2", (2, 2, 2, 2, 2)),
    ("Ответ хороший. Краткость: 5 (без лишнего)\nПолезность: 4 (решает задачу)\nТочность: 5\nЯсность: 5\nЛаконичность: 4\nИтог: 4.6",
     (5, 4, 5, 5, 4)),
    ("Краткость: пятёрка\nПолезность: четвёрка\nТочность: тройка\nЯсность: пятерка\nЛаконичность: четверка", (5, 4, 3, 5, 4)),
    ("Краткость:5\nПолезность:1\nТочность:1\nЯсность:5\nЛаконичность:5", (5, 1, 1, 5, 5)),
])
def test_readable_verdicts(text, expected):
    scores, missing = parse_verdict(text)
    assert missing == []
    assert [scores[k] for k in ALL] == pytest.approx(expected)


@pytest.mark.parametrize("text, missing", [
    ("", list(ALL)),
    ("Ответ отличный, ставлю высокие оценки по всем пунктам.", list(ALL)),
    ("Краткость: 4\nПолезность: 5\nТочность: 3", ["clarity", "conciseness"]),
    ("Краткость: 7\nПолезность: 5\nТочность: 3\nЯсность: 4\nЛаконичность: 2", ["brevity"]),
    ("Краткость: хорошая\nПолезность: высокая\nТочность: 5\nЯсность: 0\nЛаконичность: 4", ["brevity", "usefulness", "clarity"]),
    ("Краткость: 4/0\nПолезность: 5\nТочность: 3\nЯсность: 4\nЛаконичность: 2", ["brevity"]),
    ("Brevity: 4\nUsefulness: 5\nAccuracy: 3\nClarity: 4\nConciseness: 2", list(ALL)),
])
def test_unreadable_parts_are_reported_missing_not_defaulted(text, missing):
    scores, got = parse_verdict(text)
    assert got == missing
    assert set(scores) == set(ALL) - set(missing)


def test_neighbouring_words_do_not_count():
    # "неточность" and "неясно" must not be read as Точность / Ясность
    scores, missing = parse_verdict("Есть неточность 1 и неясно 2. Краткость: 3")
    assert scores == {"brevity": 3.0} and "accuracy" in missing and "clarity" in missing


def test_prompts_carry_the_whole_rubric_first_and_each_verdict_line_is_parseable():
    messages = [{"role": "user", "content": "Сколько будет 2+2?"}]
    first, second = verdict_prompt(messages, "4"), verdict_prompt(messages, "Пять.")
    assert all(first.count(c.name) >= 2 for c in CRITERIA) and "Сколько будет 2+2?" in first
    # the rubric precedes the dialogue, so every judge prompt of a stage starts with the same text
    assert first.index("Критерии оценки") < first.index("Сколько будет") and first[:300] == second[:300]
    for c in CRITERIA:
        assert parse_verdict(verdict_line_start(c) + "4")[0] == {c.key: 4.0}
    assert "Ответ A" in pairwise_prompt(messages, "4", "5") and "A или B" in pairwise_prompt(messages, "4", "5")


def test_weighted_reward_stays_on_the_scale():
    scores = dict(zip(ALL, (5, 1, 3, 3, 3)))
    assert weighted_reward(scores, dict.fromkeys(ALL, 1.0)) == pytest.approx(3.0)
    assert weighted_reward(scores, {**dict.fromkeys(ALL, 0.0), "usefulness": 2.0}) == pytest.approx(1.0)

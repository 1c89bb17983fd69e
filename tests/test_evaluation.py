import numpy as np
import pytest

from conftest import write_lines
from ru_selfalign.config import PromptFile
from ru_selfalign.evaluation import (bootstrap_ci, field_value, is_russian, load_prompt_file, held_out_test_prompts,
                                     merge_answers, two_order_outcomes, word_count)
from ru_selfalign.generation import round_prompts
from ru_selfalign.io import InputError


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
    values = np.random.default_rng(0).normal(3, 1, 200)
    lo, hi = bootstrap_ci(values, n_resamples=500, seed=1)
    assert lo < values.mean() < hi and hi - lo < 0.5
    assert (lo, hi) == bootstrap_ci(values, n_resamples=500, seed=1)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_two_order_outcomes_cancel_position_bias():
    # (X shown first, Y shown first): both prefer X → win; both prefer Y → loss; the "first" slot always wins → tie
    assert two_order_outcomes([0.9, 0.1, 0.8, 0.3], [0.2, 0.7, 0.9, 0.4]) == [1.0, 0.0, 0.5, 0.5]


def test_language_and_length_helpers():
    assert is_russian("Столица Франции — Париж.") and is_russian("Используйте print() в Python для вывода.")
    assert not is_russian("The capital of France is Paris.") and not is_russian("12345")
    assert word_count("  раз два\nтри ") == 3


def test_field_value_reaches_into_chat_records():
    record = {"turns": [{"role": "user", "content": "Привет"}], "meta": {"id": 7}}
    assert field_value(record, "turns.0.content") == "Привет" and field_value(record, "meta.id") == 7
    assert field_value(record, "turns.1.content") is None and field_value(record, "prompt") is None


def test_prompt_file_with_chat_turns_and_reference(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [{"uid": "a", "turns": [{"content": "Вопрос?"}], "answer": "Ответ."}])
    rows = load_prompt_file(PromptFile(path=str(path), text_field="turns.0.content", reference_field="answer", id_field="uid"))
    assert rows == [{"id": "a", "source": str(path), "messages": [{"role": "user", "content": "Вопрос?"}], "reference": "Ответ."}]


def test_prompt_file_without_the_text_field_names_file_record_and_field(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [{"prompt": "ok"}, {"instruction": "no prompt here"}])
    with pytest.raises(InputError, match=r"p\.jsonl:2: no text at prompt .*\['instruction'\]"):
        load_prompt_file(PromptFile(path=str(path)))


def test_prompt_built_from_two_fields_leaves_an_empty_part_out(tmp_path):
    rows = [{"id": 1, "instruction": "Переведи на английский.", "instances": [{"input": "Кошка", "output": "A cat"}]},
            {"id": 2, "instruction": "Назови столицу Франции.", "instances": [{"input": "", "output": "Париж"}]}]
    spec = PromptFile(path=str(write_lines(tmp_path / "t.jsonl", rows)), text_field=["instruction", "instances.0.input"],
                      reference_field="instances.0.output")
    got = load_prompt_file(spec)
    assert [p["messages"][0]["content"] for p in got] == ["Переведи на английский.\n\nКошка", "Назови столицу Франции."]
    assert [p["reference"] for p in got] == ["A cat", "Париж"]


def test_prompt_file_dialogues_and_a_bad_dialogue(tmp_path):
    turns = [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте!"},
             {"role": "user", "content": "Как дела?"}]
    spec = dict(text_field="prompt", messages_field="messages", reference_field="reference")
    path = write_lines(tmp_path / "d.jsonl", [{"id": "a", "prompt": "Один вопрос"}, {"id": "b", "messages": turns, "reference": "Хорошо."}])
    got = load_prompt_file(PromptFile(path=str(path), **spec))
    assert got[0]["messages"] == [{"role": "user", "content": "Один вопрос"}] and got[1]["messages"] == turns
    bad = write_lines(tmp_path / "bad.jsonl", [{"id": "c", "messages": turns[:2]}])  # ends with the assistant
    with pytest.raises(InputError, match=r"bad\.jsonl:1: 'messages' must be a list of \{role, content\} turns ending with the user's"):
        load_prompt_file(PromptFile(path=str(bad), **spec))


def test_test_split_reference_is_the_best_ranked_reply():
    prompts = [{"prompt_id": "p", "messages": [{"role": "user", "content": "?"}]}, {"prompt_id": "q", "messages": []}]
    replies = [{"prompt_id": "p", "rank": 1, "quality": 0.9, "reply": "second"},
               {"prompt_id": "p", "rank": 0, "quality": 0.5, "reply": "first"}]
    rows = held_out_test_prompts(prompts, replies)
    assert [r["reference"] for r in rows] == ["first", None]


def test_fresh_round_prompts_are_disjoint_blocks_and_resample_may_overlap():
    prompts = [{"prompt_id": f"p{i:02d}"} for i in range(10)]
    blocks = [round_prompts(prompts, 4, b, "fresh", 7, "r") for b in (0, 1)]
    ids = [[p["prompt_id"] for p in block] for block in blocks]
    assert all(len(b) == 4 and b == sorted(b) for b in ids) and not set(ids[0]) & set(ids[1])
    assert round_prompts(list(reversed(prompts)), 4, 0, "fresh", 7, "r") == blocks[0]  # input order does not matter
    with pytest.raises(InputError, match=r"iterations\.r3\.prompt_block=2 needs train prompts 8\.\.11 .* there are 10"):
        round_prompts(prompts, 4, 2, "fresh", 7, "r3")
    resampled = [round_prompts(prompts, 6, b, "resample", 7, "r") for b in (0, 1)]
    assert resampled[0] != resampled[1] and {p["prompt_id"] for p in resampled[0]} & {p["prompt_id"] for p in resampled[1]}


def test_merge_answers_lines_up_models_by_prompt():
    row = lambda pid, text: {"id": pid, "messages": [], "reference": None, "answer": {"text": text}}  # noqa: E731
    merged = merge_answers({"base": [row("a", "1"), row("b", "2")], "r1": [row("a", "3"), row("b", "4")]})
    assert [(r["id"], r["base"]["text"], r["r1"]["text"]) for r in merged] == [("a", "1", "3"), ("b", "2", "4")]
    assert "answer" not in merged[0]
    with pytest.raises(InputError, match="answers of r1 cover other prompts than those of base"):
        merge_answers({"base": [row("a", "1")], "r1": [row("b", "3")]})

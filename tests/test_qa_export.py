import pytest

from conftest import REPO
from ru_selfalign.config import parse_params
from ru_selfalign.export import model_card
from ru_selfalign.io import InputError, read_jsonl
from ru_selfalign.qa import exact_match, load_qa_items, normalise_answer, qa_messages, token_f1


def test_normalisation_and_metrics():
    assert normalise_answer("  «Ёлка», — сказал он!  ") == "елка сказал он"
    assert exact_match("Менделеев.", ["Дмитрий Менделеев", "менделеев"]) == 1.0
    assert exact_match("Это был Менделеев", ["Менделеев"]) == 0.0
    assert token_f1("это был Менделеев", ["Дмитрий Менделеев"]) == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert token_f1("", ["x"]) == 0.0


def test_shipped_qa_items_are_valid_and_answer_spans_match():
    items = load_qa_items(read_jsonl(REPO / "data/sample/qa_ru.jsonl"), "qa_ru.jsonl")
    assert len(items) == 120 and len({i["id"] for i in items}) == 120
    for item in items:
        for text, start in zip(item["answers"]["text"], item["answers"]["answer_start"]):
            assert item["context"][start:start + len(text)] == text
    assert item["question"] in qa_messages(item)[0]["content"]


def test_bad_qa_record_is_named():
    with pytest.raises(InputError, match="qa.jsonl: record 2 needs 'context', 'question' and 'answers.text'"):
        load_qa_items([{"context": "c", "question": "q", "answers": {"text": ["a"]}}, {"context": "c"}], "qa.jsonl")


def test_model_card_is_filled_from_the_run(params_raw):
    params = parse_params(params_raw)
    stat = {"value": 3.5, "ci_low": 3.0, "ci_high": 4.0}
    metrics = {"prepare": {"splits": {"train": {"replies": 10}}, "dropped": {"deleted": 2}}, "sft": {"examples": 7},
               "rounds": {"r1": {"pairs": 5}, "r2": {"pairs": 4}},
               "eval": {m: {"usefulness": stat, "brevity": stat, "accuracy": stat, "words_median": {"value": 12}}
                        for m in ("base", "sft", "r1", "r2")}}
    card = model_card("dpo", params, metrics)
    assert "synthetic Russian sample" in card and "| r2 | 3.50 | 3.50 | 3.50 | 12 |" in card
    assert '"train": 10' in card and 'SFT examples: 7; preference pairs per round: {"r1": 5, "r2": 4}' in card
    assert "Полезность" in card and "objective `dpo`" in card

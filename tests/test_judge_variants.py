"""Judge variants: prompt building, margins per human-ranked pair, the agreement source switch; one slow test runs
every variant through the smoke model.

    .venv/bin/pytest tests/test_judge_variants.py -m "not slow"
"""

import pytest
import torch

from conftest import message, tree, write_lines
from ru_selfalign import judge_variants
from ru_selfalign.agreement import ranked_pairs
from ru_selfalign.config import AgreementParams, ConfigError, PrepareParams
from ru_selfalign.criteria import CRITERIA
from ru_selfalign.io import write_jsonl
from ru_selfalign.judge_variants import (ANCHORS, criterion_prompt, fewshot_messages, held_out_replies, judge_inputs,
                                         run_variant, unlength)
from ru_selfalign.rubric import JUDGE_SYSTEM

DIALOGUE = [{"role": "user", "content": "Сколько ног у паука?"}]
WEIGHTS = {c.key: 1.0 for c in CRITERIA}


class ChatStub:
    """Just enough of a tokenizer for prompt_text: a readable chat template."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def _rows():
    """Two prompts: p (three replies, ranked 0 < 1 < 2) and q (two replies)."""
    def row(prompt, rank, text):
        return {"id": f"{prompt}{rank}", "prompt_id": prompt, "rank": rank, "messages": DIALOGUE, "reply": text}
    return [row("p", 0, "Восемь."), row("p", 1, "У паука восемь ног, как у всех паукообразных."), row("p", 2, "Шесть."),
            row("q", 0, "Восемь ног."), row("q", 1, "Не знаю.")]


def test_per_criterion_prompt_names_one_criterion_after_the_answer():
    for c in CRITERIA:
        text = criterion_prompt(DIALOGUE, "Восемь.", c)
        assert [o.name for o in CRITERIA if o.name in text] == [c.name]
        assert text.index("Сколько ног у паука?") < text.index("Восемь.") < text.index(c.description)
        assert text.endswith(f"{c.name}: <1-5>")


def test_per_criterion_inputs_share_dialogue_and_answer_and_differ_only_after_them():
    inputs = judge_inputs("per_criterion", ChatStub(), DIALOGUE, "Восемь.")
    assert len(inputs) == len(CRITERIA) and inputs[0].startswith(f"<system>{JUDGE_SYSTEM}</system>")
    shared = inputs[0][:inputs[0].index("Оцени ответ только")]
    assert all(t.startswith(shared) and t.endswith(f"<assistant>{c.name}: ") for t, c in zip(inputs, CRITERIA))


def test_fewshot_puts_a_short_and_a_long_anchor_with_verdicts_before_the_answer():
    turns = fewshot_messages(DIALOGUE, "Восемь.")
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    (short, short_scores), (long, long_scores) = ANCHORS
    assert len(short.split()) * 4 < len(long.split())
    assert short in turns[0]["content"] and long in turns[2]["content"] and "Восемь." in turns[4]["content"]
    assert turns[1]["content"].splitlines() == [f"{c.name}: {short_scores[c.key]}" for c in CRITERIA]
    assert long_scores["brevity"] < short_scores["brevity"] and long_scores["usefulness"] == short_scores["usefulness"]
    inputs = judge_inputs("fewshot", ChatStub(), DIALOGUE, "Восемь.")
    assert [t.rsplit("<assistant>", 1)[1] for t in inputs] == [f"{c.name}: " for c in CRITERIA]
    rubric = judge_inputs("rubric", ChatStub(), DIALOGUE, "Восемь.")
    assert inputs[0].endswith(rubric[0].removeprefix(f"<system>{JUDGE_SYSTEM}</system>"))  # the same last turn
    with pytest.raises(ValueError, match="pairwise"):
        judge_inputs("pairwise", ChatStub(), DIALOGUE, "Восемь.")


def test_pointwise_margins_are_score_differences_and_the_rubric_run_is_shared(monkeypatch):
    rows, calls = _rows(), []

    def fake_expected(model, tok, items, batch_size, desc="judge"):
        calls.append(desc)
        return [{"scores": dict.fromkeys(WEIGHTS, float(len(answer)))} for _, answer in items]

    monkeypatch.setattr(judge_variants, "score_expected", fake_expected)
    pairs, cache = ranked_pairs(rows), {}
    run = run_variant("rubric", None, None, rows, pairs, WEIGHTS, 4, cache)
    assert run.margins == [len(b["reply"]) - len(w["reply"]) for _, b, w in pairs] and run.scores["p0"] == 7.0
    unlen = run_variant("usefulness_unlength", None, None, rows, pairs, WEIGHTS, 4, cache)
    assert calls == ["rubric"] and unlen.seconds == run.seconds  # reused, and its cost is the rubric's
    with pytest.raises(ConfigError, match="agreement.variants: 'vibes'"):
        run_variant("vibes", None, None, rows, pairs, WEIGHTS, 4)


def test_unlength_removes_the_linear_trend_on_log_length():
    words = [1, 3, 10, 30, 100]
    flat = unlength([2 + 0.5 * torch.log1p(torch.tensor(float(w))).item() for w in words], words)
    assert max(flat) - min(flat) < 1e-3
    assert unlength([1.0, 5.0], [4, 4]) == [1.0, 5.0]  # no length spread: nothing to remove


def test_pairwise_reads_both_orders_and_cancels_a_first_slot_pull(monkeypatch):
    rows = _rows()
    pairs = ranked_pairs(rows)

    def fake_prefer_first(model, tok, items, batch_size, desc="compare"):
        # prefers the longer answer, with a constant pull of +0.2 toward whichever is shown first
        return [min(1.0, 0.2 + (0.7 if len(a) > len(b) else 0.1)) for _, a, b in items]

    monkeypatch.setattr(judge_variants, "prefer_first", fake_prefer_first)
    run = run_variant("pairwise", None, None, rows, pairs, WEIGHTS, 4)
    longer_first = [len(b["reply"]) > len(w["reply"]) for _, b, w in pairs]
    assert [m > 0 for m in run.margins] == longer_first and run.scores is None
    assert run.margins[0] == pytest.approx(-run.margins[longer_first.index(True)])  # the pull is gone


def _export(tmp_path):
    def en_tree(i):
        return tree(f"t{i}", f"Question {i}?", lang="en", replies=[
            message(f"t{i}-a", "Short.", lang="en", rank=1), message(f"t{i}-b", "A longer answer.", lang="en", rank=0),
            message(f"t{i}-c", "Unranked.", lang="en")])
    ru = tree("r0", "Вопрос?", replies=[message("r0-a", "Ответ.", rank=0), message("r0-b", "Другой.", rank=1)])
    return write_lines(tmp_path / "export.trees.jsonl", [en_tree(0), en_tree(1), ru])


def test_source_switch_reads_the_split_or_any_export(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    for split in ("val", "test"):
        write_jsonl(prepared / f"{split}.jsonl", [{"id": split, "prompt_id": split, "rank": 0}])
    path = _export(tmp_path)
    split_cfg = AgreementParams(splits=["test"], path=str(path))
    assert [r["id"] for r in held_out_replies(split_cfg, PrepareParams(), prepared)] == ["test"]
    export_cfg = AgreementParams(source="export", path=str(path), lang="en")
    rows = held_out_replies(export_cfg, PrepareParams(lang="ru"), prepared)  # prepare.lang does not matter here
    assert sorted(r["id"] for r in rows) == ["t0-a", "t0-b", "t1-a", "t1-b"]  # ranked siblings only, English only
    assert {r["messages"][0]["content"] for r in rows} == {"Question 0?", "Question 1?"}
    ru = held_out_replies(AgreementParams(source="export", path=str(path), lang="ru"), PrepareParams(), prepared)
    assert sorted(r["id"] for r in ru) == ["r0-a", "r0-b"]


def test_agreement_params_name_bad_values():
    for change, match in (({"source": "hub"}, "agreement.source"), ({"variants": ["rubric", "vibes"]}, "agreement.variants"),
                          ({"source": "export", "lang": " "}, "agreement.lang")):
        with pytest.raises(ConfigError, match=match):
            AgreementParams(**change).check("agreement")
    AgreementParams(source="export", lang="en", variants=list(AgreementParams.VARIANTS)).check("agreement")
    assert set(AgreementParams.VARIANTS) == {"rubric", "per_criterion", "fewshot", "pairwise", "usefulness_unlength"}


@pytest.fixture(scope="module")
def smol(smoke_model_dir):
    from ru_selfalign.models import load_model, load_tokenizer

    return load_model(smoke_model_dir), load_tokenizer(smoke_model_dir)


@pytest.mark.slow
def test_new_judge_paths_run_on_the_smoke_model_and_match_full_forwards(smol):
    from ru_selfalign.chat import single_token_ids

    model, tok = smol
    rows = _rows()[3:]  # one prompt, two replies, one pair: plumbing, not quality
    pairs = ranked_pairs(rows)
    # rubric (and usefulness_unlength on it) is judge.score_expected, tested in test_models.py; fewshot runs the
    # code of per_criterion behind a ~3x longer cached prefix; their prompts are tested above
    only_usefulness = {c.key: float(c.key == "usefulness") for c in CRITERIA}  # reward = the Полезность score
    runs = {name: run_variant(name, model, tok, rows, pairs, only_usefulness, 2) for name in ("per_criterion", "pairwise")}
    assert all(len(r.margins) == len(pairs) == 1 and r.margins[0] == r.margins[0] and r.seconds > 0 for r in runs.values())
    # both replies in one batch, sharing the cached prefix, give what one plain forward pass gives
    text = judge_inputs("per_criterion", tok, DIALOGUE, rows[0]["reply"])[1]
    assert text.endswith("Полезность: ")
    with torch.inference_mode():
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), -1)[single_token_ids(tok, tuple("12345"))]
    want = float((probs / probs.sum() * torch.arange(1, 6)).sum())
    assert runs["per_criterion"].scores[rows[0]["id"]] == pytest.approx(want, abs=2e-3)

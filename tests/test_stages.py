"""Stage scripts on crafted inputs: the errors a user sees when a threshold leaves nothing."""

import json
import re

import pytest

from conftest import run_stage, write_lines
from ru_selfalign.models import has_adapter


def _reply(i, quality):
    return {"id": f"r{i}", "tree_id": f"t{i}", "prompt_id": f"p{i}", "messages": [{"role": "user", "content": "?"}],
            "reply": "ответ", "quality": quality, "quality_count": 2, "rank": 0, "n_siblings": 1}


def test_select_threshold_that_keeps_nothing_names_param_and_rows(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    write_lines(prepared / "train.jsonl", [_reply(i, 0.4) for i in range(3)])
    out = tmp_path / "sft.jsonl"
    proc = run_stage("select", ["--prepared", str(prepared), "--out", str(out), "--metrics", str(tmp_path / "m.json")],
                     tmp_path, select__min_quality=0.9)
    assert proc.returncode != 0
    assert "select.min_quality=0.9 with select.min_count=1 keeps 0 of 3 train replies" in proc.stderr
    assert not out.exists()
    # prompts-only data is fine when SFT is off
    proc = run_stage("select", ["--prepared", str(prepared), "--out", str(out), "--metrics", str(tmp_path / "m.json")],
                     tmp_path, select__min_quality=0.9, sft__enabled=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "" and json.loads((tmp_path / "m.json").read_text())["selected"] == 0


def test_pairs_margin_that_keeps_nothing_names_the_params(tmp_path):
    scores = lambda v: dict.fromkeys(("brevity", "usefulness", "accuracy", "clarity", "conciseness"), v)  # noqa: E731
    judged = write_lines(tmp_path / "judged.jsonl", [{"prompt_id": "p", "messages": [], "candidates": [
        {"text": "a", "scores": scores(3.0), "n_tokens": 1}, {"text": "b", "scores": scores(3.2), "n_tokens": 1}]}])
    out = tmp_path / "pairs.jsonl"
    proc = run_stage("pairs", ["--round", "r1", "--judged", str(judged), "--calibrator", "unused", "--prepared", "unused", "--out", str(out),
                               "--metrics", str(tmp_path / "m.json")],
                     tmp_path, pairs__min_margin=1.0)
    assert proc.returncode != 0
    assert "no preference pairs from 1 prompts: pairs.min_margin=1.0 dropped 1" in proc.stderr
    assert not out.exists()


def test_passthrough_folder_is_not_an_adapter(tmp_path):
    (tmp_path / "passthrough.json").write_text("{}")
    assert not has_adapter(tmp_path) and not has_adapter(None)
    (tmp_path / "adapter_config.json").write_text("{}")
    assert has_adapter(tmp_path)


@pytest.mark.parametrize("content, message", [
    ('{"message_tree_id": "t"}\n', r"tree record 1 has no 'prompt'"),
    ('{"message_tree_id": "t", "prompt": {"message_id": "t", "role": "prompter", "text": "Hi", "lang": "en"}}\n',
     r"no usable prompts with lang == 'ru' \(prepare.lang\) among 1 messages; languages present: \[\('en', 1\)\]"),
])
def test_prepare_errors_name_the_problem(tmp_path, content, message):
    export = tmp_path / "x.trees.jsonl"
    export.write_text(content)
    proc = run_stage("prepare", ["--out", str(tmp_path / "prepared"), "--metrics", str(tmp_path / "m.json")],
                     tmp_path, data__path=str(export))
    assert proc.returncode != 0
    assert re.search(message, proc.stderr), proc.stderr[-2000:]
    assert not (tmp_path / "prepared").exists()


def test_pairs_metrics_count_self_and_human_pairs(tmp_path):
    scores = lambda v: dict.fromkeys(("brevity", "usefulness", "accuracy", "clarity", "conciseness"), v)  # noqa: E731
    judged = write_lines(tmp_path / "judged.jsonl", [{"prompt_id": f"p{i}", "messages": [], "candidates": [
        {"text": "a", "scores": scores(2.0), "n_tokens": 1}, {"text": "b", "scores": scores(4.0), "n_tokens": 1}]} for i in range(2)])
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    write_lines(prepared / "train.jsonl", [{**_reply(i, 0.9), "prompt_id": "h", "rank": i, "reply": f"r{i}"} for i in range(2)])
    args = ["--round", "r1", "--judged", str(judged), "--calibrator", "unused", "--prepared", str(prepared), "--out", str(tmp_path / "p.jsonl"),
            "--metrics", str(tmp_path / "m.json")]
    proc = run_stage("pairs", args, tmp_path, pairs__human_pairs=True, pairs__human_share=0.5)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert (metrics["pairs"], metrics["pairs_self"], metrics["pairs_human"]) == (3, 2, 1)

"""Real oasst exports as they are distributed, and damaged copies of the sample: one test per case of issue #14.

Every input is built in a temp dir from the repository's sample (data/sample/oasst_ru_sample.trees.jsonl).
    .venv/bin/python -m pytest tests/test_exports.py -q
"""

import gzip
import json
import math
import os

import pandas as pd
import pytest

from conftest import REPO, run_stage
from ru_selfalign.config import DataSpec, PrepareParams
from ru_selfalign.io import InputError, atomic_path, write_json, write_jsonl
from ru_selfalign.oasst import build_examples, load_messages

SAMPLE = REPO / "data/sample/oasst_ru_sample.trees.jsonl"
PREP = PrepareParams(max_label={"spam": 0.5, "pii": 0.5, "toxicity": 0.5, "hate_speech": 0.5, "not_appropriate": 0.5})


def load(path, **kwargs):
    return load_messages(DataSpec(source="local", path=str(path)), **kwargs)


def sample_lines() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)


def sample_trees() -> list[dict]:
    return [json.loads(line) for line in sample_lines()]


def sample_messages() -> list[dict]:
    return load(SAMPLE).messages


def hub_frame(messages: list[dict]) -> pd.DataFrame:
    """The Hub's flat columns: one message a row, labels as parallel name/value/count lists."""
    rows = []
    for m in messages:
        names = sorted(m["labels"])
        rows.append({**m, "labels": {"name": names, "value": [m["labels"][n]["value"] for n in names],
                                     "count": [m["labels"][n]["count"] for n in names]} if names else None})
    return pd.DataFrame(rows)


def kept_reply() -> dict:
    """A sample reply that prepare keeps and that has a quality label."""
    replies, _, _ = examples(sample_messages())
    return next(m for m in sample_messages() if m["message_id"] in replies and "quality" in m["labels"])


def examples(messages):
    replies, prompts, dropped = build_examples(messages, PREP)
    return {r["id"]: r for r in replies}, len(prompts), dropped


def write_text(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def gzip_file(src, dst):
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


# --- the official release layout: *.trees.jsonl.gz and *.messages.jsonl.gz, gzip told by content or suffix

@pytest.mark.parametrize("name, layout", [
    ("2023-04-12_oasst_ready.trees.jsonl.gz", "trees"),
    ("2023-04-12_oasst_ready.messages.jsonl.gz", "messages"),
    ("gzipped_but_named.jsonl", "trees"),  # gzip by its magic bytes, whatever the name
])
def test_gzipped_release_files_are_read(tmp_path, name, layout):
    plain = SAMPLE
    if layout == "messages":
        plain = tmp_path / "plain.jsonl"
        write_jsonl(plain, sample_messages())
    export = load(gzip_file(plain, tmp_path / name))
    assert export.layout == layout and export.messages == sample_messages()


# --- the layout comes from the first record, not from the file name

def test_layout_is_told_from_the_first_record_and_logged(tmp_path, caplog):
    caplog.set_level("INFO")
    trees = write_text(tmp_path / "something.jsonl", "".join(sample_lines()))
    assert load(trees).messages == sample_messages()
    assert "something.jsonl: trees layout (one tree a line), detected from the first record" in caplog.text
    messages = tmp_path / "misnamed.trees.jsonl"
    write_jsonl(messages, sample_messages())
    assert load(messages).layout == "messages"
    mixed = write_text(tmp_path / "mixed.jsonl", messages.read_text(encoding="utf-8") + sample_lines()[0])
    with pytest.raises(InputError, match=rf"mixed\.jsonl:{len(sample_messages()) + 1}: record \d+ is a tree .*, but the "
                                         "first record made this a messages export"):
        load(mixed)


# --- trees that appear twice, line for line

def test_exact_duplicate_trees_are_dropped_and_counted(tmp_path):
    lines = sample_lines()
    export = load(write_text(tmp_path / "dup.trees.jsonl", "".join(lines + lines[:3])))
    repeated = sum(len(load(write_text(tmp_path / "one.jsonl", line)).messages) for line in lines[:3])
    assert export.messages == sample_messages() and export.duplicates_dropped == repeated > 3


def test_same_tree_id_with_other_content_names_both_lines(tmp_path):
    lines = sample_lines()
    changed = sample_trees()[1]
    changed["prompt"]["text"] += " (edited)"
    path = write_text(tmp_path / "conflict.trees.jsonl", "".join(lines) + json.dumps(changed, ensure_ascii=False) + "\n")
    with pytest.raises(InputError, match=rf"conflict\.trees\.jsonl:{len(lines) + 1}: message_tree_id {changed['message_tree_id']} "
                                         r"was already read at .*conflict\.trees\.jsonl:2 with different content"):
        load(path)


def test_exact_duplicate_messages_are_dropped_and_a_changed_one_is_an_error(tmp_path):
    messages = sample_messages()
    path = tmp_path / "dup.messages.jsonl"
    write_jsonl(path, messages + messages[:2])
    assert load(path).duplicates_dropped == 2 and load(path).messages == messages
    write_jsonl(path, messages + [{**messages[0], "text": "другой текст"}])
    with pytest.raises(InputError, match=rf":{len(messages) + 1}: message_id {messages[0]['message_id']} was already "
                                         r"read at .*dup\.messages\.jsonl:1 with different content"):
        load(path)


# --- a UTF-8 byte-order mark at the start (Windows tools, Excel)

def test_byte_order_mark_is_ignored(tmp_path):
    path = write_text(tmp_path / "bom.trees.jsonl", "\ufeff" + "".join(sample_lines()))
    assert load(path).messages == sample_messages()
    assert load(gzip_file(path, tmp_path / "bom.trees.jsonl.gz")).messages == sample_messages()


# --- language codes compared case-insensitively

def test_upper_case_language_code_is_russian(tmp_path):
    text = "".join(sample_lines()).replace('"lang": "ru"', '"lang": "RU"')
    assert '"lang": "ru"' not in text
    upper = load(write_text(tmp_path / "upper.trees.jsonl", text)).messages
    assert examples(upper) == examples(sample_messages())


# --- a label whose value is null (NaN in csv/parquet) is no label

def test_null_label_value_is_no_label(tmp_path):
    reply = kept_reply()
    trees = sample_trees()
    node = next(n for t in trees for n in _walk(t["prompt"]) if n["message_id"] == reply["message_id"])
    node["labels"]["quality"]["value"] = None
    path = tmp_path / "null.trees.jsonl"
    write_jsonl(path, trees)
    replies, _, _ = examples(load(path).messages)
    assert replies[reply["message_id"]]["quality"] is None and replies[reply["message_id"]]["quality_count"] == 0


def _walk(node):
    yield node
    for child in node.get("replies") or []:
        yield from _walk(child)


# --- a label value outside [0, 1]

def test_label_value_outside_unit_range_names_file_line_message_and_label(tmp_path):
    reply = kept_reply()
    trees = sample_trees()
    n, node = next((i, node) for i, t in enumerate(trees, start=1) for node in _walk(t["prompt"])
                   if node["message_id"] == reply["message_id"])
    node["labels"]["quality"]["value"] = 7.0
    path = tmp_path / "seven.trees.jsonl"
    write_jsonl(path, trees)
    with pytest.raises(InputError, match=rf"seven\.trees\.jsonl:{n}: message {reply['message_id']}: label 'quality' has "
                                         r"value 7\.0, outside \[0, 1\] \(prepare\.skip_bad_lines: true skips such records\)"):
        load(path)
    skipped = load(path, skip_bad_lines=True)
    assert len(skipped.bad_lines) == 1 and skipped.bad_lines[0].startswith(f"{path}:{n}: message {reply['message_id']}")


# --- the flat layouts: parquet and csv with the Hub's labels columns, gzip, BOM, NaN labels, upper-case codes

@pytest.mark.parametrize("fmt", ["parquet", "csv", "parquet.gz", "csv.gz"])
def test_flat_tables_with_hub_labels(tmp_path, fmt):
    messages = sample_messages()
    reply = kept_reply()
    frame = hub_frame(messages)
    frame["lang"] = frame["lang"].str.upper()
    row = frame.index[frame["message_id"] == reply["message_id"]][0]
    labels = frame.at[row, "labels"]
    labels["value"][labels["name"].index("quality")] = math.nan
    parquet = tmp_path / "hub.parquet"
    frame.to_parquet(parquet)
    path = parquet
    if fmt.startswith("csv"):  # the Hub parquet saved as csv: labels become numpy reprs with nan, a BOM in front
        path = tmp_path / "hub.csv"
        pd.read_parquet(parquet).to_csv(path, index=False, encoding="utf-8-sig")
        assert "array([" in path.read_text(encoding="utf-8-sig") and path.read_bytes().startswith(b"\xef\xbb\xbf")
    if fmt.endswith(".gz"):
        path = gzip_file(path, tmp_path / f"hub.{fmt}")
    got = examples(load(path).messages)
    want = examples(messages)
    want[0][reply["message_id"]].update(quality=None, quality_count=0)
    assert got == want


def test_csv_keeps_texts_that_look_like_numbers_or_missing_values(tmp_path):
    messages = sample_messages()[:3]
    messages[0] = {**messages[0], "text": "None"}
    messages[1] = {**messages[1], "text": "42"}
    path = tmp_path / "texts.csv"
    hub_frame(messages).to_csv(path, index=False)
    assert [m["text"] for m in load(path).messages] == ["None", "42", messages[2]["text"]]


# --- output files get the usual umask mode, not mkstemp's 0600

@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_published_outputs_get_the_umask_mode(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "m.json", {})
        write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
        with atomic_path(tmp_path / "model", is_dir=True) as out:
            (out / "config.json").write_text("{}")
            (out / "weights.safetensors").write_bytes(b"x")
            (out / "weights.safetensors").chmod(0o600)  # as safetensors writes model weights
            (out / "link").symlink_to(tmp_path / "outside")
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): p.lstat().st_mode & 0o777 for p in tmp_path.rglob("*") if not p.is_symlink()}
    assert modes == {"m.json": file_mode, "rows.jsonl": file_mode, "model": dir_mode, "model/config.json": file_mode,
                     "model/weights.safetensors": file_mode}


# --- the stages: one-line errors, metrics, the disabled SFT stage

def prepare(tmp_path, export, *extra, env=None, **overrides):
    args = ["--out", str(tmp_path / "prepared"), "--metrics", str(tmp_path / "prepare.json"), *extra]
    return run_stage("prepare", args, tmp_path, env=env, data__path=str(export), **overrides)


def test_prepare_counts_duplicates_in_its_metrics_and_writes_readable_files(tmp_path):
    lines = sample_lines()
    export = gzip_file(write_text(tmp_path / "x.jsonl", "".join(lines + lines[:2])), tmp_path / "dup.trees.jsonl.gz")
    old = os.umask(0o022)
    try:
        proc = prepare(tmp_path, export)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "prepare.json").read_text())
    assert metrics["duplicates_dropped"] > 2 and metrics["messages_read"] == len(sample_messages())
    assert "dropped 2 exact duplicate record(s)" in proc.stderr
    assert (tmp_path / "prepared").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in [tmp_path / "prepare.json", *(tmp_path / "prepared").iterdir()]} == {0o644}


def test_no_russian_rows_is_one_line_naming_prepare_lang(tmp_path):
    english = [m for m in sample_messages() if m["lang"] == "en"]
    assert english
    export = tmp_path / "english.csv"
    hub_frame(english).to_csv(export, index=False)
    proc = prepare(tmp_path, export)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.splitlines()[-1] == errors[0] and "Traceback" not in proc.stderr, proc.stderr
    assert errors[0].startswith(f"error: {export}: no usable prompts with lang == 'ru' (prepare.lang) among {len(english)}")
    assert not (tmp_path / "prepared").exists()


@pytest.mark.parametrize("switch", ["none", "--debug", "RU_SELFALIGN_DEBUG=1"])
def test_input_error_is_one_line_unless_debugging(tmp_path, switch):
    trees = sample_trees()
    trees[0]["prompt"]["labels"]["spam"] = {"value": 7.0, "count": 3}
    export = tmp_path / "bad.trees.jsonl"
    write_jsonl(export, trees)
    proc = prepare(tmp_path, export, *(["--debug"] if switch == "--debug" else []),
                   env={"RU_SELFALIGN_DEBUG": "1"} if switch.startswith("RU_") else {"RU_SELFALIGN_DEBUG": "0"})
    assert proc.returncode == 1
    message = f"{export}:1: message {trees[0]['prompt']['message_id']}: label 'spam' has value 7.0, outside [0, 1]"
    if switch == "none":
        assert f"error: {message} (prepare.skip_bad_lines: true skips such records)" in proc.stderr.splitlines()
        assert "Traceback" not in proc.stderr
    else:
        assert "Traceback (most recent call last)" in proc.stderr and f"InputError: {message}" in proc.stderr


def test_disabled_sft_still_writes_its_declared_outputs(tmp_path):
    args = ["--base", "unused", "--data", "unused", "--out", str(tmp_path / "sft"), "--live", str(tmp_path / "live"),
            "--metrics", str(tmp_path / "sft.json")]
    (tmp_path / "live" / "plots" / "metrics").mkdir(parents=True)  # stale curves of an earlier run with SFT on
    (tmp_path / "live" / "plots" / "metrics" / "loss.tsv").write_text("step\tloss\n0\t1.0\n")
    proc = run_stage("sft", args, tmp_path, sft__enabled=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "sft.json").read_text()) == {"enabled": False}
    assert [p.name for p in (tmp_path / "live" / "plots").iterdir()] == ["sft_disabled.txt"]
    assert (tmp_path / "sft" / "passthrough.json").is_file()

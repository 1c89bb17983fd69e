import json

import pytest

from conftest import REPO, labels, message, sample_trees, tree, write_lines
from ru_selfalign.config import DataSpec, PrepareParams
from ru_selfalign.io import InputError
from ru_selfalign.oasst import build_examples, flatten_tree, load_messages, normalise_labels, split_by_tree

PREP = PrepareParams(max_label={"spam": 0.5, "pii": 0.5, "toxicity": 0.5, "hate_speech": 0.5, "not_appropriate": 0.5})


def _flat_rows(trees):
    """Trees layout → the Hub's flat layout (labels as parallel lists)."""
    rows = []
    for i, t in enumerate(trees):
        for m in flatten_tree(t, f"tree {i}"):
            names = sorted(m["labels"])
            rows.append({**m, "labels": {"name": names, "value": [m["labels"][n]["value"] for n in names],
                                         "count": [m["labels"][n]["count"] for n in names]}})
    return rows


def _load(tmp_path, trees, fmt):
    if fmt == "trees":
        path = write_lines(tmp_path / "x.trees.jsonl", trees)
    elif fmt == "jsonl":
        path = write_lines(tmp_path / "x.jsonl", _flat_rows(trees))
    else:
        import pandas as pd

        frame = pd.DataFrame(_flat_rows(trees))
        path = tmp_path / f"x.{fmt}"
        if fmt == "csv":
            frame["labels"] = frame["labels"].map(json.dumps)
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path)
    return load_messages(DataSpec(source="local", path=str(path)))[0]


@pytest.mark.parametrize("fmt", ["trees", "jsonl", "parquet", "csv"])
def test_every_layout_gives_the_same_examples(tmp_path, fmt):
    replies, prompts, dropped = build_examples(_load(tmp_path, sample_trees(3), fmt), PREP)
    assert len(replies) == 6 and len(prompts) == 3 and not dropped
    good = next(r for r in replies if r["id"] == "t1-good")
    assert good["messages"] == [{"role": "user", "content": "Вопрос номер 1: сколько будет 1 плюс 1?"}]
    assert (good["reply"], good["quality"], good["quality_count"], good["rank"], good["n_siblings"]) == ("Ответ: 2.", 0.9, 3, 0, 2)


def test_labels_layouts_and_strings():
    flat = {"name": ["quality", "spam"], "value": [0.416, 0.0], "count": [3, 3]}
    nested = {"quality": {"value": 0.416, "count": 3}, "spam": {"value": 0.0, "count": 3}}
    assert normalise_labels(flat, "r") == normalise_labels(nested, "r") == normalise_labels(json.dumps(flat), "r")
    numpy_repr = "{'name': array(['quality', 'spam'], dtype=object), 'value': array([0.416, 0. ]), 'count': array([3, 3])}"
    assert normalise_labels(numpy_repr, "r") == normalise_labels(nested, "r")
    assert normalise_labels(None, "r") == {}


@pytest.mark.parametrize("bad, message", [
    ({"quality": 0.5}, r"record 7: label 'quality' has unexpected layout"),
    ({"name": ["quality"], "value": [0.5, 0.1], "count": [1]}, "lists differ in length"),
    ("quality=high", "cannot parse labels string"),
    ([0.5], "labels must be a mapping"),
])
def test_bad_labels_are_named(bad, message):
    with pytest.raises(InputError, match=message):
        normalise_labels(bad, "export.jsonl record 7")


def test_missing_quality_is_kept_as_none():
    t = tree("t", "Вопрос?", [message("r", "Ответ.")])
    t["prompt"]["replies"][0]["labels"] = labels(spam=0.0)
    replies, _, _ = build_examples(flatten_tree(t, "t"), PREP)
    assert replies[0]["quality"] is None and replies[0]["quality_count"] == 0


def test_filters_drop_unsafe_and_broken_messages_and_their_descendants():
    bad_reply = message("spam", "Купите курсы!", quality=0.1, replies=[
        message("child", "Продолжение", role="prompter", replies=[message("grandchild", "Ответ")])])
    bad_reply["labels"]["spam"] = {"value": 0.9, "count": 3}
    deleted = message("del", "удалено", deleted=True)
    failed = message("rev", "не прошло", review_result=False)
    toxic = message("tox", "грубость")
    toxic["labels"]["toxicity"] = {"value": 0.7, "count": 2}
    pii = message("pii", "Звоните Ивану: +7 900 000-00-00")
    pii["labels"]["pii"] = {"value": 0.8, "count": 1}
    unrated_toxic = message("ok", "Хороший ответ.", quality=0.8)
    unrated_toxic["labels"]["toxicity"] = {"value": 1.0, "count": 0}  # nobody rated it: not a reason to drop
    english = tree("en", "What is 2+2?", [message("en-r", "4", lang="en")], lang="en")
    msgs = flatten_tree(tree("t", "Вопрос?", [bad_reply, deleted, failed, toxic, pii, unrated_toxic]), "t") + flatten_tree(english, "en")
    replies, prompts, dropped = build_examples(msgs, PREP)
    assert [r["id"] for r in replies] == ["ok"]
    assert [p["prompt_id"] for p in prompts] == ["t"]
    assert dropped == {"label_spam": 1, "ancestor_dropped": 2, "deleted": 1, "review_failed": 1,
                       "label_toxicity": 1, "label_pii": 1, "lang": 2}


def test_multi_turn_dialogue_and_prompt_without_reply():
    follow_up = message("q2", "А подробнее?", role="prompter", replies=[message("a2", "Подробнее: ...", quality=0.8)])
    t = tree("t", "Что такое ДНК?", [message("a1", "Молекула наследственности.", quality=0.9, replies=[follow_up])])
    lonely = tree("lonely", "Вопрос без ответа?")
    replies, prompts, _ = build_examples(flatten_tree(t, "t") + flatten_tree(lonely, "l"), PREP)
    second = next(r for r in replies if r["id"] == "a2")
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"] == "Молекула наследственности."
    assert {p["prompt_id"]: p["n_replies"] for p in prompts} == {"t": 1, "q2": 1, "lonely": 0}


def test_orphans_are_dropped_and_counted():
    msgs = flatten_tree(tree("t", "Вопрос?", [message("a", "Ответ.")]), "t")
    msgs.append({**msgs[1], "message_id": "orphan", "parent_id": "missing-parent"})
    replies, _, dropped = build_examples(msgs, PREP)
    assert [r["id"] for r in replies] == ["a"] and dropped == {"orphan": 1}


def test_duplicate_ids_and_cycles_are_errors():
    msgs = flatten_tree(tree("t", "Вопрос?", [message("a", "Ответ.")]), "t")
    with pytest.raises(InputError, match="duplicate message_id a"):
        build_examples(msgs + [dict(msgs[1])], PREP)
    x = {**msgs[1], "message_id": "x", "parent_id": "y", "role": "prompter"}
    y = {**msgs[1], "message_id": "y", "parent_id": "x"}
    with pytest.raises(InputError, match="cycle in parent links"):
        build_examples(msgs + [x, y], PREP)


def test_trees_file_errors_name_the_record(tmp_path):
    path = write_lines(tmp_path / "bad.trees.jsonl", [sample_trees(1)[0], {"message_tree_id": "x"}])
    with pytest.raises(InputError, match=r"bad\.trees\.jsonl:2: tree record 2 has no 'prompt' message, but the first "
                                         r"record made this a trees export \(prepare\.skip_bad_lines"):
        load_messages(DataSpec(source="local", path=str(path)))
    broken = sample_trees(1)[0]
    del broken["prompt"]["replies"][0]["role"]
    path = write_lines(tmp_path / "bad2.trees.jsonl", [broken])
    with pytest.raises(InputError, match=r"bad2\.trees\.jsonl:1: message t0-bad: missing field\(s\) \['role'\]"):
        load_messages(DataSpec(source="local", path=str(path)))
    export = load_messages(DataSpec(source="local", path=str(path)), skip_bad_lines=True)
    assert export.messages == [] and export.bad_lines == [f"{path}:1: message t0-bad: missing field(s) ['role']"]


@pytest.mark.parametrize("content, message", [
    (b"", r"empty\.txt: no records \(data\.path\)"),
    (b"PK\x03\x04 a spreadsheet\n", r"malformed JSON .*expected JSON lines \(an oasst trees or messages export\), "
                                     r"\.parquet or \.csv \(data\.path\)"),
    (b'{"instruction": "x", "output": "y"}\n', r"neither an oasst tree .* its keys: \['instruction', 'output'\]"),
])
def test_what_is_not_an_oasst_export_is_named(tmp_path, content, message):
    path = tmp_path / ("empty.txt" if not content else "other.txt")
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_messages(DataSpec(source="local", path=str(path)))


def test_split_keeps_trees_whole_and_is_deterministic():
    trees = [f"t{i}" for i in range(50)]
    split = split_by_tree(trees * 3, 0.1, 0.2, seed=1)
    assert set(split) == set(trees)
    assert sorted(list(split.values()).count(s) for s in ("train", "val", "test")) == [5, 10, 35]
    assert split == split_by_tree(list(reversed(trees)), 0.1, 0.2, seed=1)
    assert split != split_by_tree(trees, 0.1, 0.2, seed=2)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_trees_to_split_is_a_clear_error(n):
    with pytest.raises(InputError, match=rf"cannot split {n} tree\(s\).*prepare\.val_fraction=0\.1"):
        split_by_tree([f"t{i}" for i in range(n)], 0.1, 0.1, seed=0)


def test_shipped_sample_meets_the_brief():
    messages, bad, duplicates, layout = load_messages(DataSpec(source="local",
                                                               path=str(REPO / "data/sample/oasst_ru_sample.trees.jsonl")))
    replies, prompts, dropped = build_examples(messages, PREP)
    assert (duplicates, layout) == (0, "trees")
    trees = {m["message_tree_id"] for m in messages if m["lang"] == "ru"}
    assert not bad and len(trees) >= 60 and len(replies) >= 150
    assert any(len(r["messages"]) > 1 for r in replies), "some multi-turn dialogues"
    assert any(p["n_replies"] == 0 for p in prompts), "some prompts without replies"
    for reason in ("deleted", "review_failed", "label_spam", "label_toxicity", "label_pii", "lang"):
        assert dropped[reason] > 0, reason
    for r in replies:  # sibling ranks agree with the human quality labels
        better = [s for s in replies if s["prompt_id"] == r["prompt_id"] and s["rank"] is not None and r["rank"] is not None
                  and s["rank"] < r["rank"]]
        assert all(s["quality"] > r["quality"] for s in better)


def test_huge_text_is_dropped_and_counted():
    t = tree("t", "Вопрос?", [message("huge", "слово " * 1000, quality=0.9), message("ok", "Ответ.", quality=0.8)])
    replies, _, dropped = build_examples(flatten_tree(t, "t"), PrepareParams(max_chars=2000))
    assert [r["id"] for r in replies] == ["ok"] and dropped == {"too_long": 1}

"""OpenAssistant oasst1 in any of its layouts → Russian prompt/reply examples, split by tree.

Layouts: the Hub dataset (``datasets.load_dataset``); the trees export (one tree a line, nested ``replies``, labels as
``{name: {value, count}}``) and the messages export (one message a line), both as JSON lines, which of the two is
told from the first record whatever the file is called; flat tables (parquet, csv) with the Hub's columns, ``labels``
as ``{name: [...], value: [...], count: [...]}`` or its string form. Any of them may be gzip-compressed, as the
official release is (``*.trees.jsonl.gz``, ``*.messages.jsonl.gz``). Exact duplicates are dropped and counted.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import logging
import math
import numbers
import random
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from .config import DataSpec, PrepareParams
from .io import PARQUET_MAGIC, BadLineError, InputError, file_head, is_gzip, iter_numbered_jsonl, read_table

log = logging.getLogger(__name__)

FIELDS = ("message_id", "parent_id", "message_tree_id", "role", "lang", "text", "rank", "deleted", "review_result", "labels")
TEXT_COLUMNS = ("message_id", "parent_id", "message_tree_id", "role", "lang", "text", "labels")  # csv: kept as text
ROLES = {"prompter": "user", "assistant": "assistant"}
SPLITS = ("train", "val", "test")
SKIP_HINT = "prepare.skip_bad_lines: true skips such records"


class Export(NamedTuple):
    messages: list[dict]  # flat, normalised, exact duplicates removed
    bad_lines: list[str]  # "file:line: reason" of every record skipped with prepare.skip_bad_lines
    duplicates_dropped: int  # messages dropped as exact copies of one read before
    layout: str  # trees | messages


def load_messages(data: DataSpec, skip_bad_lines: bool = False) -> Export:
    """All messages of the export as flat, normalised dicts, without exact duplicates (see ``Export``)."""
    bad_lines: list[str] = []
    if data.source == "hub":
        import datasets

        def hub_rows():
            for split in data.hub_splits:
                log.info("loading %s split %s from the Hugging Face Hub", data.hub_id, split)
                for i, row in enumerate(datasets.load_dataset(data.hub_id, split=split), start=1):
                    yield f"{data.hub_id} {split} row {i}", row

        return _collect(hub_rows(), "messages", skip_bad_lines, bad_lines)
    path = Path(data.path)
    if not path.is_file():
        raise InputError(f"{path}: oasst export not found (data.path)")
    gz = is_gzip(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".csv")) or file_head(path) == PARQUET_MAGIC:
        fmt = "csv" if name.endswith(".csv") else "parquet"
        log.info("%s: %s%s, one message a row", path, fmt, " (gzip)" if gz else "")
        rows = read_table(path, fmt, TEXT_COLUMNS)
        return _collect(((f"{path}: record {i}", r) for i, r in enumerate(rows, start=1)), "messages", skip_bad_lines,
                        bad_lines)
    numbered = iter_numbered_jsonl(path, skip_bad_lines, bad_lines)
    try:
        first = next(numbered, None)
    except BadLineError as err:
        raise InputError(f"{err}; expected JSON lines (an oasst trees or messages export), .parquet or .csv "
                         "(data.path)") from None
    if first is None:
        raise InputError(f"{path}: no records (data.path)")
    layout = detect_layout(first[1], f"{path}:{first[0]}")
    log.info("%s: %s layout (%s), detected from the first record%s", path, layout,
             "one tree a line" if layout == "trees" else "one message a line", "; gzip" if gz else "")
    records = ((f"{path}:{lineno}", row) for lineno, row in itertools.chain([first], numbered))
    return _collect(records, layout, skip_bad_lines, bad_lines)


def detect_layout(record: dict, where: str) -> str:
    """``trees`` for a record with a ``prompt`` message (or a tree id and no message id), ``messages`` for a message."""
    if isinstance(record.get("prompt"), dict) or ("message_tree_id" in record and "message_id" not in record):
        return "trees"
    if {"message_id", "role", "text"} & set(record):
        return "messages"
    raise InputError(f"{where}: neither an oasst tree ('prompt' with nested 'replies') nor a message ('message_id', "
                     f"'role', 'text'); its keys: {sorted(record)[:12]} (data.path)")


def _collect(records, layout: str, skip_bad_lines: bool, bad_lines: list[str]) -> Export:
    """Normalise ``(where, record)`` pairs of one layout; drop exact duplicates, name both places of a conflict."""
    messages: list[dict] = []
    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, id) -> (where first read, digest of its content)
    owner: dict[str, str] = {}  # trees: message id -> where its tree was read
    duplicates, examples = 0, []
    try:
        for n, (where, record) in enumerate(records, start=1):
            try:
                if layout == "trees":
                    if not isinstance(record.get("prompt"), dict):
                        raise InputError(f"{where}: tree record {n} has no 'prompt' message, but the first record "
                                         "made this a trees export")
                    flat = flatten_tree(record, where)
                    key = ("message_tree_id", flat[0]["message_tree_id"])
                else:
                    if isinstance(record.get("prompt"), dict):
                        raise InputError(f"{where}: record {n} is a tree ('prompt' with 'replies'), but the first "
                                         "record made this a messages export")
                    flat = [normalise_message(record, where)]
                    key = ("message_id", flat[0]["message_id"])
            except InputError as err:
                if not skip_bad_lines:
                    raise InputError(f"{err} ({SKIP_HINT})") from None
                bad_lines.append(str(err))
                continue
            digest = hashlib.sha1(json.dumps(flat, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            if key in seen:
                first_where, first_digest = seen[key]
                if first_digest != digest:
                    raise InputError(f"{where}: {key[0]} {key[1]} was already read at {first_where} with different "
                                     "content; keep one of the two (data.path)")
                duplicates += len(flat)
                examples.append(f"{where} (= {first_where})")
                continue
            seen[key] = (where, digest)
            if layout == "trees":  # one message id in two different trees
                for m in flat:
                    if (other := owner.setdefault(m["message_id"], where)) != where:
                        raise InputError(f"{where}: message_id {m['message_id']} was already read at {other}, in "
                                         "another tree (data.path)")
            messages.extend(flat)
    except BadLineError as err:
        raise InputError(f"{err} ({SKIP_HINT})") from None
    if duplicates:
        log.warning("dropped %d exact duplicate record(s) (%d message(s)), e.g. %s", len(examples), duplicates,
                    "; ".join(examples[:3]))
    return Export(messages, bad_lines, duplicates, layout)


def flatten_tree(tree: dict, where: str) -> list[dict]:
    """Trees layout → flat messages (each carries its tree id and parent id)."""
    tree_id = tree.get("message_tree_id") or tree["prompt"].get("message_id")
    out, stack = [], [(tree["prompt"], None)]
    while stack:
        node, parent = stack.pop()
        row = {**node, "message_tree_id": tree_id, "parent_id": parent}
        out.append(normalise_message(row, f"{where}: message {node.get('message_id')}"))
        stack.extend((child, node.get("message_id")) for child in reversed(node.get("replies") or []))
    return out


def normalise_message(row: dict, where: str) -> dict:
    missing = [f for f in ("message_id", "message_tree_id", "role", "text") if _blank(row.get(f))]
    if missing:
        raise InputError(f"{where}: missing field(s) {missing}")
    if row["role"] not in ROLES:
        raise InputError(f"{where}: role {row['role']!r} is neither 'prompter' nor 'assistant'")
    if not isinstance(row["text"], str):
        raise InputError(f"{where}: text must be a string, got {type(row['text']).__name__}")
    return {
        "message_id": str(row["message_id"]),
        "parent_id": None if _blank(row.get("parent_id")) else str(row["parent_id"]),
        "message_tree_id": str(row["message_tree_id"]),
        "role": row["role"],
        "lang": None if _blank(row.get("lang")) else str(row["lang"]),
        "text": row["text"],
        "rank": None if _blank(row.get("rank")) else int(row["rank"]),  # NaN from csv/parquet means unranked
        "deleted": _flag(row.get("deleted"), default=False),
        "review_result": _flag(row.get("review_result"), default=True),  # null: not reviewed yet, not failed
        "labels": normalise_labels(row.get("labels"), where),
    }


def _blank(value) -> bool:
    """None, NaN (csv/parquet) or an empty string: no value."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, numbers.Real) and math.isnan(value))


def _flag(value, default: bool) -> bool:
    if _blank(value):
        return default
    if isinstance(value, str):  # csv cells
        return value.strip().lower() in ("true", "1")
    return bool(value)


_ARRAY = re.compile(r"array\((\[.*?\])(?:,\s*dtype=\w+)?\)", re.DOTALL)
_NAN = re.compile(r"\bnan\b")


def normalise_labels(labels, where: str) -> dict[str, dict]:
    """Any oasst label layout → ``{name: {"value": float, "count": int}}``.

    A label whose value is null (NaN in csv/parquet) is no label; a value outside [0, 1] is an error, as every
    oasst label is a share of raters.
    """
    if _blank(labels):
        return {}
    if isinstance(labels, str):
        labels = _parse_label_string(labels, where)
        if labels is None:
            return {}
    if not isinstance(labels, dict):
        raise InputError(f"{where}: labels must be a mapping, got {type(labels).__name__}")
    if set(labels) >= {"name", "value", "count"} and not isinstance(labels["name"], (str, dict)):
        names, values, counts = (list(labels[k]) for k in ("name", "value", "count"))  # lists or numpy arrays
        if not len(names) == len(values) == len(counts):
            raise InputError(f"{where}: labels name/value/count lists differ in length ({len(names)}/{len(values)}/{len(counts)})")
        entries = list(zip(names, values, counts))
    else:
        entries = []
        for name, entry in labels.items():
            if not (isinstance(entry, dict) and "value" in entry):
                raise InputError(
                    f"{where}: label {name!r} has unexpected layout {entry!r}; expected {{'value': float, 'count': int}} "
                    "or the flat {'name': [...], 'value': [...], 'count': [...]}"
                )
            entries.append((name, entry["value"], entry.get("count")))
    out = {}
    for name, value, count in entries:
        if _blank(value):
            continue
        try:
            value, count = float(value), 0 if _blank(count) else int(count)
        except (TypeError, ValueError):
            raise InputError(f"{where}: label {name!r} has value {value!r} and count {count!r}; expected numbers"
                             ) from None
        if not 0 <= value <= 1:
            raise InputError(f"{where}: label {name!r} has value {value}, outside [0, 1]")
        out[str(name)] = {"value": value, "count": count}
    return out


def _parse_label_string(text: str, where: str):
    try:
        return json.loads(text)  # also reads NaN
    except ValueError:
        pass
    try:  # pandas writes numpy arrays as "array([...], dtype=object)" and missing values as nan into csv
        return ast.literal_eval(_NAN.sub("None", _ARRAY.sub(r"\1", text)))
    except (ValueError, SyntaxError):
        raise InputError(f"{where}: cannot parse labels string {text[:80]!r}") from None


def build_examples(messages: list[dict], params: PrepareParams) -> tuple[list[dict], list[dict], Counter]:
    """Filter messages and turn every usable assistant reply into an example and every prompt into a prompt record.

    Returns ``(replies, prompts, dropped)``; ``dropped`` counts messages removed per reason.
    """
    by_id: dict[str, dict] = {}
    for m in messages:
        if m["message_id"] in by_id:
            raise InputError(f"duplicate message_id {m['message_id']} (trees {by_id[m['message_id']]['message_tree_id']} and {m['message_tree_id']})")
        by_id[m["message_id"]] = m

    dropped: Counter = Counter()
    own_reason = {m["message_id"]: _drop_reason(m, by_id, params) for m in messages}
    usable: dict[str, bool] = {}

    def is_usable(mid: str) -> bool:
        # A message is usable only if it and all its ancestors are; walk up until a known answer.
        path, cur = [], mid
        while cur is not None and cur not in usable:
            if cur in path:
                raise InputError(f"cycle in parent links through message_id {cur} (tree {by_id[cur]['message_tree_id']})")
            path.append(cur)
            cur = by_id[cur]["parent_id"] if own_reason[cur] is None else None
        ok = usable[cur] if cur is not None else True
        for m in reversed(path):
            ok = ok and own_reason[m] is None
            usable[m] = ok
        return usable[mid]

    for m in messages:
        reason = own_reason[m["message_id"]]
        if reason:
            dropped[reason] += 1
        elif not is_usable(m["message_id"]):
            dropped["ancestor_dropped"] += 1

    children: dict[str, list[dict]] = {}
    for m in messages:
        if usable.get(m["message_id"]) and m["parent_id"]:
            children.setdefault(m["parent_id"], []).append(m)

    replies, prompts = [], []
    for m in messages:
        if not usable.get(m["message_id"]):
            continue
        if m["role"] == "prompter":
            n_replies = sum(c["role"] == "assistant" for c in children.get(m["message_id"], []))
            prompts.append({"prompt_id": m["message_id"], "tree_id": m["message_tree_id"],
                            "messages": _dialogue(m, by_id), "n_replies": n_replies})
        elif m["parent_id"] is not None and by_id[m["parent_id"]]["role"] == "prompter":
            quality = m["labels"].get("quality")
            siblings = [c for c in children[m["parent_id"]] if c["role"] == "assistant"]
            replies.append({
                "id": m["message_id"], "tree_id": m["message_tree_id"], "prompt_id": m["parent_id"],
                "messages": _dialogue(by_id[m["parent_id"]], by_id), "reply": m["text"],
                "quality": quality["value"] if quality else None, "quality_count": quality["count"] if quality else 0,
                "rank": m["rank"], "n_siblings": len(siblings),
            })
        else:
            dropped["reply_not_to_prompt"] += 1
    return replies, prompts, dropped


def _drop_reason(m: dict, by_id: dict, params: PrepareParams) -> str | None:
    if m["parent_id"] is not None and m["parent_id"] not in by_id:
        return "orphan"
    if (m["lang"] or "").strip().lower() != params.lang.strip().lower():  # "RU" is Russian too
        return "lang"
    if m["deleted"]:
        return "deleted"
    if not m["review_result"]:
        return "review_failed"
    for name, limit in sorted(params.max_label.items()):
        label = m["labels"].get(name)
        if label and label["count"] > 0 and label["value"] > limit:
            return f"label_{name}"
    if len(m["text"]) > params.max_chars:
        return "too_long"
    if not m["text"].strip():
        return "empty"
    return None


def _dialogue(last: dict, by_id: dict) -> list[dict]:
    """Chat messages from the root down to ``last`` (inclusive)."""
    chain = [last]
    while chain[-1]["parent_id"] is not None:
        chain.append(by_id[chain[-1]["parent_id"]])
    return [{"role": ROLES[m["role"]], "content": m["text"]} for m in reversed(chain)]


def split_by_tree(tree_ids: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """Assign whole trees to train/val/test so no tree is in two splits; deterministic in ``seed``."""
    trees = sorted(set(tree_ids))
    random.Random(seed).shuffle(trees)
    n = len(trees)
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    if n - n_val - n_test < 1:
        raise InputError(
            f"cannot split {n} tree(s) into train/val/test with prepare.val_fraction={val_fraction} and "
            f"prepare.test_fraction={test_fraction}: train would get no tree (need at least {n_val + n_test + 1})"
        )
    assignment = {t: "val" for t in trees[:n_val]}
    assignment.update({t: "test" for t in trees[n_val:n_val + n_test]})
    assignment.update({t: "train" for t in trees[n_val + n_test:]})
    return assignment

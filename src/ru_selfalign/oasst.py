"""OpenAssistant oasst1 in any of its layouts → Russian prompt/reply examples, split by tree.

Layouts: the Hub dataset (``datasets.load_dataset``), flat exports (one message per row, as parquet,
jsonl or csv, ``labels`` as ``{name: [...], value: [...], count: [...]}`` or its string form) and the
trees export (``*.trees.jsonl``: one tree a line, nested ``replies``, labels as ``{name: {value, count}}``).
"""

from __future__ import annotations

import ast
import json
import logging
import random
import re
from collections import Counter
from pathlib import Path

from .config import DataSpec, PrepareParams
from .io import InputError, iter_jsonl

log = logging.getLogger(__name__)

FIELDS = ("message_id", "parent_id", "message_tree_id", "role", "lang", "text", "rank", "deleted", "review_result", "labels")
ROLES = {"prompter": "user", "assistant": "assistant"}
SPLITS = ("train", "val", "test")


def load_messages(data: DataSpec, skip_bad_lines: bool = False) -> tuple[list[dict], list[str]]:
    """All messages of the export as flat, normalised dicts, plus the bad lines that were skipped."""
    bad_lines: list[str] = []
    if data.source == "hub":
        import datasets

        rows = []
        for split in data.hub_splits:
            log.info("loading %s split %s from the Hugging Face Hub", data.hub_id, split)
            rows.extend(datasets.load_dataset(data.hub_id, split=split))
        return [normalise_message(r, f"{data.hub_id} row {i}") for i, r in enumerate(rows)], bad_lines
    path = Path(data.path)
    if not path.exists():
        raise InputError(f"{path}: oasst export not found (data.path)")
    if path.name.endswith(".trees.jsonl"):
        messages = []
        for i, tree in enumerate(iter_jsonl(path, skip_bad_lines, bad_lines)):
            if not isinstance(tree.get("prompt"), dict):
                raise InputError(f"{path}: tree record {i + 1} has no 'prompt' message (is this a trees export?)")
            messages.extend(flatten_tree(tree, f"{path} tree {i + 1}"))
        return messages, bad_lines
    if path.suffix == ".jsonl":
        rows = list(iter_jsonl(path, skip_bad_lines, bad_lines))
    elif path.suffix in (".parquet", ".csv"):
        import datasets

        rows = list(datasets.load_dataset(path.suffix[1:], data_files=str(path), split="train"))
    else:
        raise InputError(f"{path}: unknown export format; use .trees.jsonl, .jsonl, .parquet or .csv")
    return [normalise_message(r, f"{path} record {i + 1}") for i, r in enumerate(rows)], bad_lines


def flatten_tree(tree: dict, where: str) -> list[dict]:
    """Trees layout → flat messages (each carries its tree id and parent id)."""
    tree_id = tree.get("message_tree_id") or tree["prompt"].get("message_id")
    out, stack = [], [(tree["prompt"], None)]
    while stack:
        node, parent = stack.pop()
        row = {**node, "message_tree_id": tree_id, "parent_id": parent}
        out.append(normalise_message(row, f"{where} message {node.get('message_id')}"))
        stack.extend((child, node.get("message_id")) for child in reversed(node.get("replies") or []))
    return out


def normalise_message(row: dict, where: str) -> dict:
    missing = [f for f in ("message_id", "message_tree_id", "role", "text") if row.get(f) in (None, "")]
    if missing:
        raise InputError(f"{where}: missing field(s) {missing}")
    if row["role"] not in ROLES:
        raise InputError(f"{where}: role {row['role']!r} is neither 'prompter' nor 'assistant'")
    rank = row.get("rank")
    return {
        "message_id": str(row["message_id"]),
        "parent_id": None if row.get("parent_id") in (None, "") else str(row["parent_id"]),
        "message_tree_id": str(row["message_tree_id"]),
        "role": row["role"],
        "lang": row.get("lang"),
        "text": row["text"],
        "rank": None if rank is None or rank != rank else int(rank),  # NaN from csv/parquet means unranked
        "deleted": bool(row.get("deleted") or False),
        "review_result": row.get("review_result") is not False,
        "labels": normalise_labels(row.get("labels"), where),
    }


_ARRAY = re.compile(r"array\((\[.*?\])(?:,\s*dtype=\w+)?\)", re.DOTALL)


def normalise_labels(labels, where: str) -> dict[str, dict]:
    """Any oasst label layout → ``{name: {"value": float, "count": int}}``."""
    if labels is None:
        return {}
    if isinstance(labels, str):
        labels = _parse_label_string(labels, where)
    if not isinstance(labels, dict):
        raise InputError(f"{where}: labels must be a mapping, got {type(labels).__name__}")
    if set(labels) >= {"name", "value", "count"} and isinstance(labels["name"], (list, tuple)):
        names, values, counts = (list(labels[k]) for k in ("name", "value", "count"))
        if not len(names) == len(values) == len(counts):
            raise InputError(f"{where}: labels name/value/count lists differ in length ({len(names)}/{len(values)}/{len(counts)})")
        return {n: {"value": float(v), "count": int(c)} for n, v, c in zip(names, values, counts)}
    out = {}
    for name, entry in labels.items():
        if not (isinstance(entry, dict) and "value" in entry):
            raise InputError(
                f"{where}: label {name!r} has unexpected layout {entry!r}; expected {{'value': float, 'count': int}} "
                "or the flat {'name': [...], 'value': [...], 'count': [...]}"
            )
        out[name] = {"value": float(entry["value"]), "count": int(entry.get("count") or 0)}
    return out


def _parse_label_string(text: str, where: str):
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:  # pandas writes numpy arrays as "array([...], dtype=object)" into csv
        return ast.literal_eval(_ARRAY.sub(r"\1", text))
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
    if m["lang"] != params.lang:
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

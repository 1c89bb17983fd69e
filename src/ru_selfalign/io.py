"""Atomic writes and line-numbered JSONL reading: one place for every file the stages touch."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class InputError(ValueError):
    """Bad input data; the message names the file and, where it helps, the line or record."""


def is_main_process() -> bool:
    """False in the other ranks of a multi-process launch (``accelerate launch`` / torchrun set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def atomic_path(target: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; move it into place only if the block succeeds.

    A crash or exception inside the block leaves ``target`` as it was (or absent), so DVC never
    mistakes a half-written file or model folder for a result. In a multi-process launch only rank 0
    publishes; the other ranks write the same thing into a private scratch place that is thrown away.
    """
    target = Path(target)
    if not is_main_process():
        with tempfile.TemporaryDirectory(prefix="ru-selfalign-rank-") as scratch:
            tmp = Path(scratch) / target.name
            if is_dir:
                tmp.mkdir()
            yield tmp
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    for stale in target.parent.glob(f"{prefix}*"):  # left by a run that was killed (SIGKILL skips `finally`)
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if is_dir and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=True)
        fh.write("\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def iter_jsonl(path: str | Path, skip_bad_lines: bool = False, bad_lines: list | None = None) -> Iterator[dict]:
    """Yield one dict per non-empty line; a broken line raises naming ``file:line``.

    With ``skip_bad_lines`` the broken line is recorded in ``bad_lines`` as ``file:line: reason``
    instead, so the caller can count it in its metrics.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                except ValueError as err:
                    where = f"{path}:{lineno}: {err}"
                    if not skip_bad_lines:
                        raise InputError(f"malformed JSON line {where}") from None
                    if bad_lines is not None:
                        bad_lines.append(where)
                    continue
                yield row
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None


def read_jsonl(path: str | Path) -> list[dict]:
    return list(iter_jsonl(path))


def read_json(path: str | Path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except ValueError as err:
        raise InputError(f"{path}: malformed JSON ({err})") from None

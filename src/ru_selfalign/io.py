"""Atomic writes and line-numbered JSONL reading: one place for every file the stages touch.

Readers take plain or gzip-compressed files (told apart by their first bytes, whatever the name) and ignore a
UTF-8 byte-order mark, as left by Windows tools.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
BOM = b"\xef\xbb\xbf"


class InputError(ValueError):
    """Bad input data; the message names the file and, where it helps, the line or record."""


class BadLineError(InputError):
    """One unreadable line (not UTF-8, not a JSON object): the kind of error ``skip_bad_lines`` skips."""


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
        _readable(tmp, is_dir)
        if is_dir and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


def _readable(tmp: Path, is_dir: bool) -> None:
    """The mode a plain open()/mkdir() would have given ``tmp`` (mkstemp/mkdtemp make 0600/0700), and inside a folder
    the read (and folder search) bits the umask allows: safetensors writes weights 0600 too. So other users and a
    shared DVC cache can read every output."""
    mask = _umask()
    tmp.chmod((0o777 if is_dir else 0o666) & ~mask)
    for path in tmp.rglob("*") if is_dir else ():
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):  # chmod would follow a link out of the folder
            path.chmod(stat.S_IMODE(mode) | ((0o555 if stat.S_ISDIR(mode) else 0o444) & ~mask))


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask can only read by setting)."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            return int(next(line for line in fh if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def file_head(path: str | Path, size: int = 4) -> bytes:
    """The first bytes of a file, for telling formats apart; a missing file is an ``InputError``."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a file") from None


def is_gzip(path: str | Path) -> bool:
    return file_head(path, 2) == GZIP_MAGIC


def iter_numbered_jsonl(path: str | Path, skip_bad_lines: bool = False, bad_lines: list | None = None
                        ) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, dict)`` per non-empty line; a broken line raises ``BadLineError`` naming ``file:line``.

    With ``skip_bad_lines`` the broken line is recorded in ``bad_lines`` as ``file:line: reason``
    instead, so the caller can count it in its metrics.
    """
    path = Path(path)
    opener = gzip.open if is_gzip(path) else open
    lineno = 0
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw.decode("utf-8"))
                    if not isinstance(row, dict):
                        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                except UnicodeDecodeError as err:
                    problem = f"not UTF-8 text ({err.reason} at byte {err.start} of the line)"
                except ValueError as err:
                    problem = f"malformed JSON ({err})"
                else:
                    yield lineno, row
                    continue
                if not skip_bad_lines:
                    raise BadLineError(f"{path}:{lineno}: {problem}")
                if bad_lines is not None:
                    bad_lines.append(f"{path}:{lineno}: {problem}")
    except (EOFError, OSError, zlib.error) as err:  # gzip: truncated download, corrupt stream
        raise InputError(f"{path}: cannot read past line {lineno}: {err}") from None


def iter_jsonl(path: str | Path, skip_bad_lines: bool = False, bad_lines: list | None = None) -> Iterator[dict]:
    """Yield one dict per non-empty line (see ``iter_numbered_jsonl``)."""
    for _, row in iter_numbered_jsonl(path, skip_bad_lines, bad_lines):
        yield row


def read_table(path: str | Path, fmt: str, text_columns: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a parquet or CSV file (``fmt``), gzip-compressed or not. CSV: ``text_columns`` stay strings (``"42"``
    is not a number, ``"None"`` or ``"NA"`` is not missing); only an empty cell is missing (NaN)."""
    import pandas as pd

    path = Path(path)
    source = path
    if is_gzip(path):
        with gzip.open(path, "rb") as fh:
            try:
                source = io.BytesIO(fh.read())
            except (EOFError, OSError, zlib.error) as err:
                raise InputError(f"{path}: corrupt gzip file: {err}") from None
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(source)
        else:
            frame = pd.read_csv(source, encoding="utf-8-sig", dtype=dict.fromkeys(text_columns, str),
                                keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: cannot read as {fmt}: {err}") from None
    return frame.to_dict("records")


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

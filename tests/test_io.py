import gzip
import json

import pytest

from ru_selfalign.io import InputError, atomic_path, iter_jsonl, iter_numbered_jsonl, write_json, write_jsonl


def test_write_json_round_trip(tmp_path):
    write_json(tmp_path / "m.json", {"b": 1, "a": "ы"})
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == {"a": "ы", "b": 1}


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"x": 1}])

    def rows():
        yield {"x": 2}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_jsonl(target, rows())
    assert target.read_text() == '{"x": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_failed_directory_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="half way"):
        with atomic_path(tmp_path / "model", is_dir=True) as tmp:
            (tmp / "weights.bin").write_bytes(b"123")
            raise ValueError("half way")
    assert list(tmp_path.iterdir()) == []


def test_directory_write_replaces_existing(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "old").write_text("old")
    with atomic_path(tmp_path / "model", is_dir=True) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["new"]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"export\.jsonl:3"):
        list(iter_jsonl(path))


def test_skip_bad_lines_counts_them(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\nnot json\n{"a": 2}\n', encoding="utf-8")
    bad = []
    rows = list(iter_jsonl(path, skip_bad_lines=True, bad_lines=bad))
    assert rows == [{"a": 1}, {"a": 2}]
    assert [b.split(": ")[0] for b in bad] == [f"{path}:2", f"{path}:3"]


def test_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "cp1251.jsonl"
    path.write_bytes('{"text": "привет"}\n'.encode("cp1251"))
    with pytest.raises(InputError, match=r"cp1251\.jsonl:1: not UTF-8 text \(invalid continuation byte at byte 10 of the line\)"):
        list(iter_jsonl(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: file not found"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))


def test_leftovers_of_a_killed_write_are_cleaned_on_the_next_write(tmp_path):
    (tmp_path / ".out.json.tmp-abc").write_text("half")
    (tmp_path / ".model.tmp-xyz").mkdir()
    write_json(tmp_path / "out.json", {})
    with atomic_path(tmp_path / "model", is_dir=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out.json"]


def test_only_rank_zero_publishes_in_a_multi_process_launch(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    write_json(tmp_path / "metrics.json", {"a": 1})
    with atomic_path(tmp_path / "model", is_dir=True) as out:
        (out / "weights.bin").write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []  # nothing published, no temp sibling left for rank 0 to trip over
    monkeypatch.setenv("RANK", "0")
    write_json(tmp_path / "metrics.json", {"a": 1})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1}


def test_gzip_is_told_by_its_bytes_and_a_bom_is_ignored(tmp_path):
    text = '\ufeff{"a": 1}\n\n{"a": 2}\n'.encode()
    (tmp_path / "plain.jsonl").write_bytes(text)
    (tmp_path / "packed.jsonl").write_bytes(gzip.compress(text))  # no .gz suffix
    for name in ("plain.jsonl", "packed.jsonl"):
        assert list(iter_numbered_jsonl(tmp_path / name)) == [(1, {"a": 1}), (3, {"a": 2})]


def test_truncated_gzip_is_named(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:60])
    with pytest.raises(InputError, match=r"cut\.jsonl\.gz: cannot read past line \d+"):
        list(iter_jsonl(path))


def test_sigterm_during_a_write_leaves_no_temporary_output(tmp_path):
    """A stage killed with SIGTERM (kill, an interrupted dvc repro) cleans up as an exception would."""
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from ru_selfalign.io import atomic_path\n"
        "from ru_selfalign.runtime import exit_on_sigterm\n"
        "exit_on_sigterm()\n"
        f"with atomic_path({str(tmp_path / 'model')!r}, is_dir=True) as tmp:\n"
        "    (tmp / 'weights.bin').write_bytes(b'x' * 1000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary folder exists while writing
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []

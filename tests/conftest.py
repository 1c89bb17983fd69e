"""Shared fixtures: crafted oasst messages and trees, the smoke preset's real small model (built once), and the tiny
random model the end-to-end smoke run uses."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def labels(quality=None, count=3, **others) -> dict:
    """Labels in the trees layout ``{name: {value, count}}``."""
    out = {name: {"value": value, "count": count} for name, value in others.items()}
    if quality is not None:
        out["quality"] = {"value": quality, "count": count}
    return out


def message(mid, text, role="assistant", replies=(), lang="ru", rank=None, quality=None, count=3, **extra) -> dict:
    return {"message_id": mid, "text": text, "role": role, "lang": lang, "rank": rank, "deleted": False,
            "review_result": True, "labels": labels(quality, count), "replies": list(replies), **extra}


def tree(mid, text, replies=(), lang="ru") -> dict:
    return {"message_tree_id": mid, "tree_state": "ready_for_export",
            "prompt": message(mid, text, role="prompter", replies=replies, lang=lang, quality=0.7)}


def sample_trees(n: int = 10) -> list[dict]:
    """``n`` small Russian trees: a good short reply (rank 0) and a poor one (rank 1) per prompt."""
    return [tree(f"t{i}", f"Вопрос номер {i}: сколько будет {i} плюс {i}?", [
        message(f"t{i}-bad", "Сложно сказать, это зависит от многого.", rank=1, quality=0.2),
        message(f"t{i}-good", f"Ответ: {2 * i}.", rank=0, quality=0.9),
    ]) for i in range(n)]


def write_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def stage_graph(root):
    """(graph with an edge from each stage to every stage it depends on, {stage name: tracked param keys})."""
    from dvc.dependency import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph
        names = {stage: stage.name for stage in graph.nodes}
        params = {names[s]: {k for d in s.deps if isinstance(d, ParamsDependency) for k in d.params} for s in graph.nodes}
        return nx.relabel_nodes(graph, names), params


def run_stage(name: str, args: list[str], tmp_path: Path, env: dict | None = None, **overrides):
    """``python -m stages.<name>`` in the repository with params.yaml changed by ``{"section__key": value}``."""
    import os
    import subprocess
    import sys

    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for dotted, value in overrides.items():
        *path, last = dotted.split("__")
        node = raw
        for part in path:
            node = node[part]
        node[last] = value
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", f"stages.{name}", *args, "--params", str(params)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture
def params_raw() -> dict:
    """The default params with a second round (the default runs one), so round-to-round rules are exercised."""
    with open(REPO / "params.yaml", encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    raw["iterations"].setdefault("r2", {"model_in": "models/dpo/r1", "prompt_block": 1, "generate": {}, "judge": {},
                                        "pairs": {}, "dpo": {}})
    return raw


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, request) -> Path:
    """One ``dvc repro`` of the smoke preset on ``tiny_base_dir`` per pytest run, in a git + DVC copy of the working
    tree, committed. Tests that change it take their own copy (``copy_of``).

    Under pytest-xdist every worker has its own session: the first one to ask builds the run under a file lock in
    the run's shared temp folder, the others wait for it and read the same folder."""
    import os

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this pytest run
    dst, done, failed = root / "smoke-run", root / "smoke-run.done", root / "smoke-run.failed"
    with FileLock(str(root / "smoke-run.lock")):
        if failed.exists():
            raise AssertionError(failed.read_text(encoding="utf-8"))
        if not done.exists():
            try:
                smoke_repo(dst, request.getfixturevalue("tiny_base_dir"), commit=True)
            except AssertionError as err:
                failed.write_text(str(err), encoding="utf-8")
                raise
            done.touch()
    return dst


def smoke_repo(dst: Path, tiny_base_dir: Path, commit: bool = False) -> Path:
    """A git + DVC copy of the working tree with the smoke preset on the tiny random model; ``commit`` runs
    ``dvc repro`` in it and commits the result."""
    import subprocess
    import sys

    from ru_selfalign.presets import repository_copy

    dst.mkdir(parents=True, exist_ok=True)
    repository_copy(REPO, dst, "smoke")
    # the smoke preset on a tiny random model: these tests prove DVC plumbing, and every stage's compute drops to ~0
    set_params(dst, base_model__source="local", base_model__local_path=str(tiny_base_dir),
               base_model__name="tiny random Llama (tests)")
    if not commit:
        return dst
    bin_dir = Path(sys.executable).parent  # the venv's dvc, whatever PATH says
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(dst)}
    proc = subprocess.run([str(bin_dir / "dvc"), "repro"], cwd=dst, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise AssertionError(f"dvc repro of the smoke preset failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "repro"]):
        subprocess.run(cmd, cwd=dst, check=True, env=env)
    return dst


@pytest.fixture
def own_repo(smoke_run, tmp_path):
    """A private copy of the finished smoke run, for tests that change it or run stages again."""
    return copy_of(smoke_run, tmp_path / "repo")


def set_params(repo: Path, **changes) -> dict:
    """Apply ``{"section__key": value}`` to a repository copy's params.yaml; returns the new params."""
    raw = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = raw
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return raw


def copy_of(run: Path, dst: Path) -> Path:
    """A private copy of a finished run (git, DVC cache and outputs), for a test that changes it."""
    import shutil

    # .dvc/tmp holds the run's locks and DVC's state: a copy starts without them
    shutil.copytree(run, dst, symlinks=True, ignore=lambda d, names: ["tmp"] if Path(d) == run / ".dvc" else [])
    return dst


@pytest.fixture(scope="session")
def smoke_model_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M from the smoke preset, materialised once per session (~20 s)."""
    from ru_selfalign.config import parse_params
    from ru_selfalign.models import materialise_base
    from ru_selfalign.presets import preset_params

    params = parse_params(preset_params("smoke", REPO / "params.yaml", REPO / "presets"))
    out = tmp_path_factory.mktemp("models") / "base"
    materialise_base(params.base_model, out)
    return out


@pytest.fixture(scope="session")
def tiny_base_dir(smoke_model_dir, tmp_path_factory) -> Path:
    """A randomly initialised two-layer Llama (~3.3 M parameters, seed 0) with SmolLM2's tokenizer and chat template:
    the base model of the end-to-end tests, which check what DVC runs and records, not what the model says."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    real = AutoConfig.from_pretrained(smoke_model_dir)
    config = LlamaConfig(vocab_size=real.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=real.bos_token_id, eos_token_id=real.eos_token_id,
                         pad_token_id=real.pad_token_id)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("models") / "tiny"
    LlamaForCausalLM(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(smoke_model_dir).save_pretrained(out)
    return out

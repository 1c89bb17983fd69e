"""End to end: a gzipped trees export on a copy of the shared smoke run (git + DVC), and a prompts-only flat CSV
export with SFT off in a smoke repository of its own (the base model generates and judges, DPO trains a fresh LoRA
from dpo.lora), which need not wait for the shared run.

    .venv/bin/python -m pytest tests/test_exports_e2e.py -q      # a few minutes on 2 CPU cores
"""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import copy_of, set_params, smoke_repo
from test_exports import SAMPLE, hub_frame, sample_messages

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent  # the venv's dvc and python, whatever PATH says


def dvc(*args, cwd):
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)})
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc.stdout


def outputs(repo: Path) -> dict:
    return {str(p.relative_to(repo)): p.read_bytes() for p in [*(repo / "data/prepared").iterdir(),
                                                                repo / "data/sft/train.jsonl", repo / "metrics/prepare.json"]}


def test_gzipped_trees_export_prepares_like_the_plain_one(smoke_run, tmp_path):
    repo = copy_of(smoke_run, tmp_path / "repo")
    plain = outputs(repo)
    export = repo / "data/oasst_ru.trees.jsonl.gz"
    export.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    set_params(repo, data__path=str(export.relative_to(repo)))
    out = dvc("repro", cwd=repo)  # the whole pipeline: what follows select is reused, its inputs being identical
    assert "Running stage 'prepare'" in out and "Running stage 'sft'" not in out
    assert "Data and pipelines are up to date" in dvc("status", cwd=repo)
    assert outputs(repo) == plain and json.loads(plain["metrics/prepare.json"])["duplicates_dropped"] == 0
    assert (repo / "data/prepared/train.jsonl").stat().st_mode & 0o077 == 0o044  # readable by others (umask 022)


def test_prompts_only_csv_runs_end_to_end_without_sft(tiny_base_dir, tmp_path):
    repo = smoke_repo(tmp_path / "repo", tiny_base_dir)
    prompts = [m for m in sample_messages() if m["role"] == "prompter" and m["parent_id"] is None and m["lang"] == "ru"]
    hub_frame(prompts).to_csv(repo / "data/prompts_only.csv", index=False)
    raw = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params = set_params(repo, data__path="data/prompts_only.csv", sft__enabled=False,
                        iterations={"r1": raw["iterations"]["r1"]},  # one round
                        generate__num_prompts=3, dpo__trainer={**raw["dpo"]["trainer"], "max_steps": 1},
                        evaluate__max_prompts=2, qa__max_items=2)
    dvc("repro", cwd=repo)
    prepare = json.loads((repo / "metrics/prepare.json").read_text())
    assert prepare["splits"]["train"]["replies"] == 0 and prepare["splits"]["train"]["prompts"] > 0
    assert json.loads((repo / "metrics/sft.json").read_text()) == {"enabled": False}
    assert (repo / "dvclive/sft/plots").is_dir() and not (repo / "models/sft/adapter_config.json").exists()
    adapter = json.loads((repo / "models/dpo/r1/adapter_config.json").read_text())  # a fresh LoRA from dpo.lora
    assert adapter["r"] == params["dpo"]["lora"]["r"]
    for weights in ("models/base/model.safetensors", "models/dpo/r1/adapter_model.safetensors"):  # written 0600 by safetensors
        assert (repo / weights).stat().st_mode & 0o044 == 0o044, weights
    assert json.loads((repo / "metrics/rounds/r1/dpo.json").read_text())["pairs"] >= 1
    assert (repo / "models/export/model.safetensors").is_file()
    assert "Data and pipelines are up to date" in dvc("status", cwd=repo)

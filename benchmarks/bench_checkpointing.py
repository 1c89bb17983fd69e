"""Activation (gradient) checkpointing in the training stages, side by side: ``sft`` and ``dpo@r1`` run a few
optimiser steps on the default pipeline's data with ``gradient_checkpointing`` off and on, each in its own scratch
folder. Wall time, peak RSS (stage process and children) and whether the saved adapters are byte-identical.

    python benchmarks/bench_checkpointing.py --steps 3
"""

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from bench_pipeline import BIN, REPO, StageMonitor
from common import save

STAGES = {
    "sft": (["stages.sft", "--base", "models/base", "--data", "data/sft/train.jsonl", "--out", "out",
             "--live", "live", "--metrics", "metrics.json"], ["data/sft/train.jsonl"]),
    "dpo": (["stages.dpo", "--round", "r1", "--base", "models/base", "--adapter", "models/sft", "--pairs",
             "data/rounds/r1/pairs.jsonl", "--out", "out", "--live", "live", "--metrics", "metrics.json"],
            ["models/sft", "data/rounds/r1/pairs.jsonl"]),
}


def run(stage: str, checkpointing: bool, steps: int, scratch: Path) -> dict:
    args, inputs = STAGES[stage]
    work = scratch / f"{stage}-{'on' if checkpointing else 'off'}"
    for name in ("stages", "configs"):
        shutil.copytree(REPO / name, work / name)
    for path in ["models/base", *inputs]:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).symlink_to(REPO / path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params[stage]["trainer"].update(max_steps=steps, gradient_checkpointing=checkpointing)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    shell = subprocess.Popen(["bash", "-c", f"{BIN}/python -m {' '.join(args)}"], cwd=work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    monitor = StageMonitor(shell.pid)
    _, err = shell.communicate()
    if shell.returncode:
        sys.exit(f"{stage} (checkpointing {checkpointing}) failed:\n{err[-2000:]}")
    seen = monitor.stop()[stage if stage == "sft" else "dpo@r1"]
    digest = hashlib.sha256((work / "out" / "adapter_model.safetensors").read_bytes()).hexdigest()
    print(stage, "checkpointing", checkpointing, seen, digest[:12], flush=True)
    return {**seen, "adapter_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps per run (max_steps)")
    args = parser.parse_args()
    missing = [p for _, inputs in STAGES.values() for p in ["models/base", *inputs] if not (REPO / p).exists()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `dvc repro` (or `dvc checkout`) first")
    result = {"steps": args.steps}
    with tempfile.TemporaryDirectory() as scratch:
        for stage in STAGES:
            off, on = (run(stage, flag, args.steps, Path(scratch)) for flag in (False, True))
            result[stage] = {"off": off, "on": on, "identical_adapter": off["adapter_sha256"] == on["adapter_sha256"],
                             "rss_on_over_off": round(on["peak_rss_gib"] / off["peak_rss_gib"], 2),
                             "seconds_on_over_off": round(on["seconds"] / off["seconds"], 2)}
            print(f"{stage}: peak RSS {off['peak_rss_gib']} -> {on['peak_rss_gib']} GiB, "
                  f"{off['seconds']} -> {on['seconds']} s, identical adapter: {result[stage]['identical_adapter']}")
    save("checkpointing", result)


if __name__ == "__main__":
    main()

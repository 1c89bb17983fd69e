"""Activation (gradient) checkpointing in the training stages, side by side: ``sft`` and ``dpo@r1`` run a few
optimiser steps on the default pipeline's data with checkpointing off, on for every layer, and on for every second
layer, each in its own scratch folder. Wall time (model loading included), peak RSS (stage process and children)
and whether the saved adapter is byte-identical to the one trained without checkpointing.

    python benchmarks/bench_checkpointing.py --steps 4
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


# trainer options per variant (SFTConfig / DPOConfig; every_n_layers goes to transformers' checkpointing)
VARIANTS = {
    "off": {"gradient_checkpointing": False},
    "every_layer": {"gradient_checkpointing": True},
    "every_2nd_layer": {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"every_n_layers": 2}},
}


def run(stage: str, variant: str, steps: int, scratch: Path) -> dict:
    args, inputs = STAGES[stage]
    work = scratch / f"{stage}-{variant}"
    for name in ("stages", "configs"):
        shutil.copytree(REPO / name, work / name)
    for path in ["models/base", *inputs]:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).symlink_to(REPO / path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params[stage]["trainer"].update(max_steps=steps, **VARIANTS[variant])
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    proc = subprocess.Popen([str(BIN / "python"), "-m", *args], cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    monitor = StageMonitor(proc.pid)
    _, err = proc.communicate()
    stages = monitor.stop()
    if proc.returncode:  # recorded, so one variant the libraries refuse does not lose the others
        print(f"{stage} ({variant}) failed:\n{err[-2000:]}", flush=True)
        return {"error": err.strip().splitlines()[-1]}
    (seen,) = stages.values()  # the one stage process
    digest = hashlib.sha256((work / "out" / "adapter_model.safetensors").read_bytes()).hexdigest()
    print(stage, variant, seen, digest[:12], flush=True)
    return {**seen, "adapter_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4, help="optimiser steps per run (max_steps)")
    args = parser.parse_args()
    missing = [p for _, inputs in STAGES.values() for p in ["models/base", *inputs] if not (REPO / p).exists()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `dvc repro` (or `dvc checkout`) first")
    result = {"steps": args.steps}
    with tempfile.TemporaryDirectory() as scratch:
        for stage in STAGES:
            runs = {variant: run(stage, variant, args.steps, Path(scratch)) for variant in VARIANTS}
            off = runs["off"]
            if "error" in off:
                sys.exit(f"{stage} failed without checkpointing: {off['error']}")
            for variant, r in runs.items():
                if variant != "off" and "error" not in r:
                    r.update(identical_adapter=r["adapter_sha256"] == off["adapter_sha256"],
                             rss_over_off=round(r["peak_rss_gib"] / off["peak_rss_gib"], 2),
                             seconds_over_off=round(r["seconds"] / off["seconds"], 2))
                    print(f"{stage} {variant}: peak RSS {off['peak_rss_gib']} -> {r['peak_rss_gib']} GiB, "
                          f"{off['seconds']} -> {r['seconds']} s, identical adapter: {r['identical_adapter']}")
            result[stage] = runs
    save("checkpointing", result)


if __name__ == "__main__":
    main()

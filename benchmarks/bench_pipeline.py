"""Pipeline timings: a full ``dvc repro`` by stage (wall time and peak RSS), a no-op ``dvc repro``, and an
incremental rerun after a ``dpo.dpo.beta`` change (every round's DPO and what follows), all in a fresh copy of the repository (nothing cached).

    python benchmarks/bench_pipeline.py --preset default            # the embedded default (about 61 min alone on 2 cores, one round)
    python benchmarks/bench_pipeline.py --preset smoke --incremental
    python benchmarks/bench_pipeline.py --preset default --keep --cache .dvc/cache   # then take its dvc.lock here
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from common import save

from ru_selfalign.presets import repository_copy

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STAGE = re.compile(r"-m stages\.(\w+)(?: --(?:round|name) (\S+))?")  # generate@r1, answer@sft, ...


class StageMonitor:
    """Polls the process tree of a DVC command: per stage, first/last time seen and peak RSS (stage + children)."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.root, self.interval, self.stages = psutil.Process(pid), interval, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]  # the root too: it may be the stage
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    match = STAGE.search(" ".join(proc.cmdline()))
                    if not match:
                        continue
                    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                except psutil.Error:
                    continue
                now = time.perf_counter()
                name = "@".join(filter(None, match.groups()))
                seen = self.stages.setdefault(name, {"start": now, "end": now, "peak_rss_gib": 0.0})
                seen["end"], seen["peak_rss_gib"] = now, max(seen["peak_rss_gib"], rss / 2**30)
            time.sleep(self.interval)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {name: {"seconds": round(s["end"] - s["start"], 1), "peak_rss_gib": round(s["peak_rss_gib"], 2)}
                for name, s in self.stages.items()}


def timed(args: list[str], cwd: Path) -> tuple[float, dict, list[str]]:
    """Run a DVC command; its wall time, per-stage timings and the stages it says it ran."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "dvc"), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    monitor = StageMonitor(proc.pid)
    ran = []
    for line in proc.stdout:
        if line.startswith("Running stage"):
            ran.append(line.split("'")[1])
            print(f"[{time.perf_counter() - start:7.1f} s] {line.strip()}", flush=True)
    rc = proc.wait()
    seconds = time.perf_counter() - start
    stages = monitor.stop()
    if rc != 0:
        raise SystemExit(f"dvc {' '.join(args)} failed with exit {rc}")
    return seconds, stages, ran


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="smoke", help="default, or a preset in presets/")
    parser.add_argument("--incremental", action="store_true", help="also rerun after a dpo.dpo.beta change")
    parser.add_argument("--keep", action="store_true", help="keep the copy (its path is printed)")
    parser.add_argument("--cache", type=Path, help="DVC cache for the copy, e.g. this repository's .dvc/cache: every "
                        "stage still runs, and its outputs can then be checked out here from the copy's dvc.lock")
    args = parser.parse_args()
    repo = repository_copy(REPO, Path(tempfile.mkdtemp(prefix=f"bench-{args.preset}-")),
                           None if args.preset == "default" else args.preset)
    (repo / "dvc.lock").unlink(missing_ok=True)  # every stage runs: nothing recorded (and the run cache is not used)
    if args.cache:
        subprocess.run([str(BIN / "dvc"), "cache", "dir", "--local", str(args.cache.resolve())], cwd=repo, check=True)
    print(f"benchmark copy: {repo}")
    full_s, stages, _ = timed(["repro", "--no-run-cache"], repo)
    noop_s, _, noop_ran = timed(["repro"], repo)
    result = {"preset": args.preset, "full_repro_s": round(full_s, 1), "stages": stages,
              "stage_seconds_total": round(sum(s["seconds"] for s in stages.values()), 1),
              "peak_rss_gib": max(s["peak_rss_gib"] for s in stages.values()),
              "noop_repro_s": round(noop_s, 2), "noop_stages_ran": noop_ran}
    if args.incremental:
        inc_s, _, ran = timed(["exp", "run", "-S", "dpo.dpo.beta=0.2"], repo)
        result["incremental"] = {"change": "dpo.dpo.beta=0.2", "seconds": round(inc_s, 1), "stages_ran": ran,
                                 "ratio_to_full": round(inc_s / full_s, 3)}
    print(f"\nfull dvc repro ({args.preset}): {full_s:.0f} s")
    for name, s in stages.items():
        print(f"  {name:<16} {s['seconds']:8.1f} s   peak RSS {s['peak_rss_gib']:.2f} GiB")
    print(f"no-op dvc repro: {noop_s:.2f} s (target <= 5 s), stages run: {noop_ran or 'none'}")
    if args.incremental:
        inc = result["incremental"]
        print(f"incremental after {inc['change']}: {inc['seconds']:.0f} s = {inc['ratio_to_full']:.2f}x the full run; "
              f"ran {', '.join(inc['stages_ran'])}")
    save(f"pipeline_{args.preset}", result)
    if not args.keep:
        shutil.rmtree(repo)


if __name__ == "__main__":
    main()

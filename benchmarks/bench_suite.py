"""The test suite as CI runs it: ``make test`` in a fresh clone of the committed HEAD (its own venv, nothing cached),
timed; writes benchmarks/results/suite.json with seconds, passed, failed, date and commit.

    python benchmarks/bench_suite.py            # about 15-20 min on 2 cores, install included
    python benchmarks/bench_suite.py --keep     # keep the clone (its path is printed)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import save

REPO = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"=+ (.*) in ([\d.]+)s")  # pytest's closing line
DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown) +(\S+)$")  # a line of --durations (make test asks for 15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    clone = Path(tempfile.mkdtemp(prefix="bench-suite-")) / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    print(f"make test in a fresh clone of {commit}: {clone}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(["make", "test"], cwd=clone, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (clone.parent / "make-test.log").write_text(log)
    match = next((m for m in map(SUMMARY.search, reversed(log.splitlines())) if m), None)
    if match is None:
        raise SystemExit(f"no pytest summary in the output (exit {proc.returncode}); log: {clone.parent / 'make-test.log'}")
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", match.group(1))}
    result = {"seconds": round(wall, 1), "pytest_seconds": float(match.group(2)), "passed": counts.get("passed", 0),
              "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
              "exit_code": proc.returncode, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M"),
              "slowest": [{"seconds": float(m.group(1)), "phase": m.group(2), "test": m.group(3)}
                          for m in map(DURATION.match, log.splitlines()) if m]}
    print(f"make test: {wall:.0f} s wall ({result['pytest_seconds']:.0f} s in pytest), {result['passed']} passed, "
          f"{result['failed']} failed (target: <= 600 s, none failed)")
    save("suite", result)
    if not args.keep:
        shutil.rmtree(clone.parent)


if __name__ == "__main__":
    main()

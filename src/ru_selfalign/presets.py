"""Presets: partial params files in ``presets/`` deep-merged over ``params.yaml``.

    python -m ru_selfalign.presets apply smoke     # rewrites params.yaml (validated first)
    python -m ru_selfalign.presets check           # every preset yields valid params
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from .config import PARAMS_FILE, deep_merge, parse_params
from .io import write_text

PRESETS_DIR = Path("presets")


def preset_params(name: str, params_file: Path = Path(PARAMS_FILE), presets_dir: Path = PRESETS_DIR) -> dict:
    with open(params_file, encoding="utf-8") as fh:
        base = yaml.safe_load(fh)
    path = presets_dir / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in presets_dir.glob("*.yaml"))
        raise SystemExit(f"no preset {name!r} in {presets_dir}/; available: {', '.join(available)}")
    with open(path, encoding="utf-8") as fh:
        merged = deep_merge(base, yaml.safe_load(fh) or {})
    parse_params(merged)  # fail before writing anything
    return merged


def repository_copy(src: Path, dst: Path, preset: str | None = None) -> Path:
    """The working tree's tracked and unignored files (no DVC outputs, no cache) as a fresh one-commit git repo
    at ``dst``, with ``preset`` applied: what the end-to-end tests and the pipeline benchmark run in."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for name in filter(None, files):
        if (src / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)
    if preset:
        subprocess.run([sys.executable, "-m", "ru_selfalign.presets", "apply", preset], cwd=dst, check=True,
                       capture_output=True)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=ru-selfalign", "-c", "user.email=ru-selfalign@localhost", "commit", "-qm",
                 preset or "default"]):
        subprocess.run(cmd, cwd=dst, check=True)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("apply").add_argument("name")
    sub.add_parser("check")
    args = parser.parse_args()
    if args.command == "apply":
        merged = preset_params(args.name)
        write_text(PARAMS_FILE, yaml.safe_dump(merged, allow_unicode=True, sort_keys=False))
        print(f"params.yaml now holds preset {args.name!r}")
    else:
        for path in sorted(PRESETS_DIR.glob("*.yaml")):
            preset_params(path.stem)
            print(f"{path.stem}: ok")


if __name__ == "__main__":
    main()

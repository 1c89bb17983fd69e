"""What every stage does first: logging, params (read once), seeds, CPU settings."""

from __future__ import annotations

import argparse
import logging

from .config import Params, load_params
from .models import configure_cpu


def start_stage(name: str, description: str, paths: tuple[str, ...]) -> tuple[argparse.Namespace, Params]:
    """Parse the stage's path arguments (their one home is dvc.yaml), read params, seed everything."""
    from transformers import set_seed

    parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=description)
    for path in paths:
        parser.add_argument(f"--{path.replace('_', '-')}", dest=path, required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(message)s", datefmt="%H:%M:%S")
    params = load_params(args.params)
    set_seed(params.seed)
    configure_cpu()
    logging.getLogger(name).info("params: %s", getattr(params, name, None) if name in params.sections else "-")
    return args, params

"""What every stage does first: one-line errors, logging, params (read once), seeds, CPU settings."""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys

import numpy as np
import torch

from .config import ConfigError, Params, load_params
from .io import InputError
from .models import configure_cpu

DEBUG_ENV = "RU_SELFALIGN_DEBUG"
LIBRARY_STAGES = ("sft", "dpo")  # the stages that pass params to trl and peft


def start_stage(name: str, description: str, paths: tuple[str, ...]) -> tuple[argparse.Namespace, Params]:
    """Parse the stage's path arguments (their one home is dvc.yaml), read params, seed everything.

    Seeds as ``transformers.set_seed`` does, without importing transformers (seconds of start-up for the stages
    that never use it); only the stages whose trl/peft options are theirs check those names."""
    parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=description)
    for path in paths:
        parser.add_argument(f"--{path.replace('_', '-')}", dest=path, required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--debug", action="store_true",
                        help=f"full tracebacks for input and config errors (or set {DEBUG_ENV}=1)")
    args = parser.parse_args()
    if not (args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")):
        sys.excepthook = one_line_errors(sys.excepthook)
    exit_on_sigterm()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(message)s", datefmt="%H:%M:%S")
    params = load_params(args.params, libraries=name in LIBRARY_STAGES)
    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)  # every device's generator
    configure_cpu()
    logging.getLogger(name).info("params: %s", getattr(params, name, None) if name in params.sections else "-")
    return args, params


def exit_on_sigterm() -> None:
    """SIGTERM (what ``kill`` and an interrupted ``dvc repro`` send) exits through ``SystemExit``, so the
    ``finally`` blocks run and ``atomic_path`` removes its temporary output; by default Python dies on the spot
    and leaves it (a 2.4 GB temporary model folder, until the stage next runs)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def one_line_errors(fallback):
    """An excepthook that prints a bad input or param as ``error: <file>[:<line>]: <what> (<param>)`` and nothing
    else (the interpreter then exits with status 1); every other exception goes to ``fallback`` with its traceback."""

    def hook(kind, err, tb):
        if issubclass(kind, (InputError, ConfigError)):
            print(f"error: {err}", file=sys.stderr)
        else:
            fallback(kind, err, tb)

    return hook

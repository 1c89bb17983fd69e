"""Trainer plumbing shared by SFT and DPO: library configs from params, device flags, DVCLive curves."""

from __future__ import annotations

from pathlib import Path

import torch

from .config import ConfigError


def lora_config(values: dict, key: str):
    from peft import LoraConfig

    try:
        return LoraConfig(task_type="CAUSAL_LM", **values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from err


def trainer_config(cls, values: dict, key: str, output_dir: str, seed: int):
    """``SFTConfig`` / ``DPOConfig`` from params plus what the stage owns (device, precision, seed, no checkpoints)."""
    cuda = torch.cuda.is_available()
    fixed = dict(
        output_dir=str(output_dir),
        report_to="none",  # curves go through our own DVCLive callback (dvcyaml=False)
        save_strategy="no",  # the stage saves the final adapter itself, atomically
        use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(),  # bf16 on this CPU is ~10x slower than fp32
        seed=seed,
        data_seed=seed,
    )
    try:
        return cls(**fixed, **values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from err


def dvclive_callback(live_dir: Path):
    """DVCLive logger that writes under ``live_dir`` and leaves dvc.yaml alone (plots are declared there)."""
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    return DVCLiveCallback(live=Live(str(live_dir), dvcyaml=False, save_dvc_exp=False))


def save_adapter(model, out: Path, **kwargs) -> None:
    """``model.save_pretrained(out)`` with ``target_modules`` sorted in adapter_config.json: peft keeps them as a set
    and writes them in hash order, which changes between processes and so changes the folder's DVC hash."""
    import json

    model.save_pretrained(out, **kwargs)
    path = Path(out) / "adapter_config.json"
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

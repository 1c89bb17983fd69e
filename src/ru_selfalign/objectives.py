"""Preference objectives from trl, chosen by ``dpo.objective``.

- ``dpo``: ``DPOTrainer`` with any ``loss_type`` the installed trl offers (sigmoid, ipo, sigmoid_norm, combinations
  with an ``sft`` term via ``loss_weights``) and LD-DPO's ``ld_alpha``; the round's starting model is the reference.
- ``simpo``: ``CPOTrainer`` with ``loss_type="simpo"``: length-normalised log-likelihood reward with a target margin
  ``simpo_gamma`` and no reference model; ``cpo_alpha: 0`` is pure SimPO.
"""

from __future__ import annotations

from .config import DpoParams
from .training import trainer_config


def preference_trainer(cfg: DpoParams, key: str, model, tokenizer, dataset, output_dir: str, seed: int, peft_config,
                       callbacks: list):
    """A ready trl trainer for ``cfg.objective``; ``key`` names the params section in errors (``dpo`` or a round's)."""
    common = dict(train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    if cfg.objective == "simpo":
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        values = {**cfg.trainer, "loss_type": "simpo", "cpo_alpha": 0.0, **cfg.simpo}
        return CPOTrainer(model=model, args=trainer_config(CPOConfig, values, f"{key}.simpo", output_dir, seed), **common)
    from trl import DPOConfig, DPOTrainer

    # Given a trainable PeftModel and no peft_config, trl keeps a frozen copy of its adapter as the reference model;
    # without an adapter (sft.enabled: false) the reference is the bare base.
    return DPOTrainer(model=model, ref_model=None,
                      args=trainer_config(DPOConfig, {**cfg.trainer, **cfg.dpo}, f"{key}.dpo", output_dir, seed), **common)

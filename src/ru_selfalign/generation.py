"""Batched sampling: many prompts and all their candidates per forward pass, left-padded, KV-cached."""

from __future__ import annotations

import gc
import logging
import random

import torch
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


def round_prompts(prompts: list[dict], num: int, block: int, mode: str, seed: int, key: str) -> list[dict]:
    """The train prompts of one self-rewarding round, sorted by id.

    ``fresh``: block ``b`` is the b-th slice of ``num`` prompts of one seeded shuffle, so rounds with different
    blocks never share a prompt. ``resample``: an independent sample seeded by ``seed + block`` (rounds may overlap).
    """
    from .io import InputError

    ordered = sorted(prompts, key=lambda p: p["prompt_id"])
    if mode == "resample":
        chosen = random.Random(seed + block).sample(ordered, min(num, len(ordered)))
    else:
        random.Random(seed).shuffle(ordered)
        chosen = ordered[block * num:(block + 1) * num]
        if block > 0 and len(chosen) < num:
            raise InputError(f"iterations.{key}.prompt_block={block} needs train prompts {block * num}..{(block + 1) * num - 1} "
                             f"(generate.num_prompts={num}, generate.round_prompts=fresh), but there are {len(ordered)}; "
                             "lower generate.num_prompts or use generate.round_prompts: resample")
    return sorted(chosen, key=lambda p: p["prompt_id"])


def answers_per_model(base: str, adapters: dict[str, str | None], tokenizer, prompts: list[str], sampling: dict,
                      batch_size: int) -> dict[str, list[dict]]:
    """One answer per prompt from each model (``base`` + adapter, None = the base itself), loaded one at a time."""
    from .models import load_model

    answers = {}
    for name, adapter in adapters.items():
        model = load_model(base, adapter)
        answers[name] = [a for (a,) in generate(model, tokenizer, prompts, sampling, batch_size, desc=f"answer:{name}")]
        del model
        gc.collect()  # two 0.5B models in fp32 need not sit in memory together
    return answers


def generate(model, tokenizer, prompts: list[str], sampling: dict, batch_size: int, n: int = 1,
             desc: str = "generate") -> list[list[dict]]:
    """``n`` answers per prompt; each ``{"text", "n_tokens", "truncated"}``.

    Prompts are sorted by length so a batch pads little; ``batch_size`` counts sequences, so a batch
    holds ``batch_size // n`` prompts with their ``n`` samples each (num_return_sequences).
    """
    if tokenizer.padding_side != "left":
        raise ValueError("generation needs a left-padding tokenizer (load_tokenizer does this)")
    per_batch = max(1, batch_size // n)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    results: list[list[dict] | None] = [None] * len(prompts)
    max_new = sampling["max_new_tokens"]
    stop_ids = _stop_ids(model, tokenizer)
    with torch.inference_mode(), tqdm(total=len(prompts), desc=desc, unit="prompt") as bar:
        for start in range(0, len(order), per_batch):
            idx = order[start:start + per_batch]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(model.device)
            out = model.generate(**enc, **sampling, num_return_sequences=n, pad_token_id=tokenizer.pad_token_id)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            for j, i in enumerate(idx):
                results[i] = [_decode(tokenizer, new[j * n + k], stop_ids, max_new) for k in range(n)]
            bar.update(len(idx))
    return results


def _stop_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id, tokenizer.pad_token_id}
    return {i for i in ids if i is not None}


def _decode(tokenizer, ids: list[int], stop_ids: set[int], max_new: int) -> dict:
    length = next((k for k, t in enumerate(ids) if t in stop_ids), len(ids))
    return {
        "text": tokenizer.decode(ids[:length], skip_special_tokens=True).strip(),
        "n_tokens": length,
        "truncated": length >= max_new,  # never reached a stop token
    }

"""Batched generation with our own decode loop: each prompt prefilled once and its KV cache shared by its
candidates; an answer that stops leaves the batch at once and waiting prompts take its place; the logits processing
is transformers' own, so greedy tokens equal ``model.generate``'s."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .config import SAMPLING_KEYS

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


def generate(model, tokenizer, prompts: list[str], sampling: dict, batch_size: int, n: int = 1,
             desc: str = "generate") -> list[list[dict]]:
    """``n`` answers per prompt; each ``{"text", "n_tokens", "truncated"}``; prompt i's answers at index i.

    ``batch_size`` counts sequences decoded together. Each prompt is prefilled once and its KV cache repeated for
    its ``n`` samples; an answer that stops leaves the batch at once and the next prompts (longest first) take its
    place, so the batch stays full. Sampling draws from the global torch RNG (stages seed it) in a fixed order: the
    same inputs and seed give the same tokens.
    """
    settings = decoding_settings(model, sampling)
    if not prompts:
        return []
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: len(ids[i]), reverse=True)
    stop_ids = _stop_ids(model, tokenizer)
    with torch.inference_mode(), tqdm(total=len(prompts), desc=desc, unit="prompt") as bar:
        new = decode_all(model, [ids[i] for i in order], settings, n, batch_size, stop_ids, tokenizer.pad_token_id,
                         on_prompt_done=lambda: bar.update(1))
    results: list[list[dict] | None] = [None] * len(prompts)
    for j, i in enumerate(order):
        results[i] = [_answer(tokenizer, t, stop_ids, settings["max_new_tokens"]) for t in new[j]]
    return results


def decoding_settings(model, sampling: dict) -> dict:
    """The effective options, resolved as ``model.generate(**sampling)`` resolves them: ``sampling`` first, then the
    model's ``generation_config``, then transformers' global defaults (so sampling keeps its implicit top_k=50)."""
    if unknown := sorted(set(sampling) - set(SAMPLING_KEYS)):
        raise ValueError(f"sampling.{unknown[0]} is not supported by our decode loop; supported: {', '.join(SAMPLING_KEYS)}")
    if not isinstance(sampling.get("max_new_tokens"), int) or sampling["max_new_tokens"] < 1:
        raise ValueError(f"sampling.max_new_tokens must be a positive integer, got {sampling.get('max_new_tokens')!r}")
    from_model = model.generation_config
    settings = {key: sampling.get(key, default if getattr(from_model, key, None) is None else getattr(from_model, key))
                for key, default in _DEFAULTS.items()}
    return {**settings, "max_new_tokens": sampling["max_new_tokens"]}


# transformers' global defaults (GenerationConfig._get_default_generation_params) for the options we support
_DEFAULTS = {"do_sample": False, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0}


def choose_tokens(settings: dict, ids: torch.Tensor, logits: torch.Tensor, pad_lengths: torch.Tensor) -> torch.Tensor:
    """Each row's next token, with transformers' own processors in ``model.generate``'s order: repetition penalty
    over the prompt and the answer so far (``pad_lengths`` keeps the left padding out, as generate does), then
    greedy, or temperature, top-k and top-p and a draw from the global torch RNG.

    Sampling works on the ``top_k`` best tokens only: temperature keeps their order, and top-p over the whole
    vocabulary, where top-k has set all others to -inf, is top-p over these. Same distribution (up to ties at the
    k-th score), but [rows, 50] instead of [rows, 151936]: the full sort of top-p cost more than an int8 forward step.
    """
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    if settings["repetition_penalty"] != 1.0:
        logits = RepetitionPenaltyLogitsProcessor(float(settings["repetition_penalty"]), prompt_ignore_length=pad_lengths)(
            ids, logits)
    if not settings["do_sample"]:
        return logits.argmax(-1)
    candidates = None
    if settings["top_k"]:
        logits, candidates = logits.topk(min(settings["top_k"], logits.shape[-1]), dim=-1)
    warpers = LogitsProcessorList()
    if settings["temperature"] != 1.0:
        warpers.append(TemperatureLogitsWarper(settings["temperature"]))
    if settings["top_p"] < 1.0:
        warpers.append(TopPLogitsWarper(settings["top_p"]))
    drawn = torch.multinomial(torch.softmax(warpers(ids, logits), dim=-1), num_samples=1)
    return drawn.squeeze(1) if candidates is None else candidates.gather(1, drawn).squeeze(1)


def decode_all(model, prompts: list[list[int]], settings: dict, n: int, batch_size: int, stop_ids: set[int],
               pad_id: int, on_prompt_done=lambda: None) -> list[list[list[int]]]:
    """Per prompt, its ``n`` answers' new tokens, each up to and including its first stop token (or
    ``max_new_tokens`` of them). Prompts join the batch in the order given, once a quarter of the batch (at least
    ``n`` rows) is free: each join copies the whole cache, so rows join a few at a time."""
    new: list[list[list[int]]] = [[[] for _ in range(n)] for _ in prompts]
    unfinished = [n] * len(prompts)
    stop = torch.tensor(sorted(stop_ids), device=model.device)
    running, queued = None, 0
    while True:
        free, waiting = batch_size - (len(running.owners) if running else 0), len(prompts) - queued
        take = min(waiting, max(free // n, 0 if running else 1))
        if take and (running is None or (running.can_join and take * n >= min(batch_size // 4, waiting * n))):
            fresh = _prefill(model, prompts[queued:queued + take], range(queued, queued + take), n, pad_id)
            running = fresh if running is None else running.join(fresh)
            queued += take
        if running is None:
            return new
        tokens = choose_tokens(settings, running.ids, running.logits, running.mask.shape[1] - running.mask.sum(-1))
        done = torch.isin(tokens, stop).tolist()
        keep = []
        for row, ((p, k), token, stopped) in enumerate(zip(running.owners, tokens.tolist(), done)):
            new[p][k].append(token)
            if stopped or len(new[p][k]) == settings["max_new_tokens"]:
                unfinished[p] -= 1
                if not unfinished[p]:
                    on_prompt_done()
            else:
                keep.append(row)
        if not keep:
            running = None
            continue
        if len(keep) < len(running.owners):
            index = torch.tensor(keep, device=tokens.device)
            running, tokens = running.select(index), tokens[index]
        running.step(model, tokens)


@dataclass
class _Running:
    """The rows being decoded. Between steps the cache, ``ids`` and ``mask`` are equally wide (left-padded)."""

    cache: object  # transformers' DynamicCache
    ids: torch.Tensor  # [rows, width] prompt and new tokens: what the repetition penalty sees
    mask: torch.Tensor  # [rows, width] 0 on the left padding
    position: torch.Tensor  # [rows, 1] position of each row's next token
    logits: torch.Tensor  # [rows, vocab] fp32 logits of each row's next token
    owners: list[tuple[int, int]]  # (prompt, candidate) of each row

    @property
    def can_join(self) -> bool:
        """New rows can be merged in only where every layer's cache is a plain growing one (no sliding window)."""
        from transformers.cache_utils import DynamicLayer

        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def select(self, index: torch.Tensor) -> "_Running":
        """Only the rows at ``index``, without the left columns that are now padding in every one of them."""
        self.cache.batch_select_indices(index)
        mask = self.mask[index]
        lead = int((mask.cumsum(-1) == 0).sum(-1).min())
        if lead:
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., lead:, :], layer.values[..., lead:, :]
        return _Running(self.cache, self.ids[index, lead:], mask[:, lead:], self.position[index], self.logits[index],
                        [self.owners[i] for i in index.tolist()])

    def join(self, other: "_Running") -> "_Running":
        """Both sets of rows in one batch, the narrower left-padded to the wider one's width."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = torch.cat([_pad_left(mine.keys, width, -2), _pad_left(theirs.keys, width, -2)])
            mine.values = torch.cat([_pad_left(mine.values, width, -2), _pad_left(theirs.values, width, -2)])
        return _Running(self.cache, torch.cat([_pad_left(self.ids, width), _pad_left(other.ids, width)]),
                        torch.cat([_pad_left(self.mask, width), _pad_left(other.mask, width)]),
                        torch.cat([self.position, other.position]), torch.cat([self.logits, other.logits]),
                        self.owners + other.owners)

    def step(self, model, tokens: torch.Tensor) -> None:
        """Feed each row its chosen token; keep the logits of the one after."""
        self.ids = torch.cat([self.ids, tokens[:, None]], dim=-1)
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(tokens), 1)], dim=-1)
        out = model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.position, cache=self.cache,
                    use_cache=True, logits_to_keep=1)
        self.logits = out.logits[:, -1].float()
        self.position = self.position + 1


def _prefill(model, prompts: list[list[int]], indices, n: int, pad_id: int) -> _Running:
    """Run the prompts once (left-padded, positions counted from each one's first real token), then repeat each
    row's cache ``n`` times for its candidates."""
    width = max(map(len, prompts))
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=model.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=model.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    out.cache.batch_repeat_interleave(n)
    return _Running(out.cache, ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0),
                    positions[:, -1:].repeat_interleave(n, 0) + 1, out.logits[:, -1].float().repeat_interleave(n, 0),
                    [(i, k) for i in indices for k in range(n)])


def _pad_left(t: torch.Tensor, width: int, dim: int = -1) -> torch.Tensor:
    """``t`` with zeros (masked padding) added on the left of ``dim`` up to ``width``."""
    missing = width - t.shape[dim]
    if not missing:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def _stop_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id, tokenizer.pad_token_id}
    return {i for i in ids if i is not None}


def _answer(tokenizer, ids: list[int], stop_ids: set[int], max_new: int) -> dict:
    length = next((k for k, t in enumerate(ids) if t in stop_ids), len(ids))
    return {
        "text": tokenizer.decode(ids[:length], skip_special_tokens=True).strip(),
        "n_tokens": length,
        "truncated": length >= max_new,  # never reached a stop token
    }

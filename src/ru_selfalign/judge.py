"""The self-judge: rubric scores per answer (expected or written) and pairwise preferences.

``expected`` mode (G-Eval style): the judge reads the same verdict prompt as in ``generate`` mode, its own verdict
line is started for it ("Краткость: "), and the next-token distribution over the score tokens "1".."5" gives the
renormalised expectation. Nothing is generated, and nothing is read twice: the system prompt and rubric shared
by every prompt of a stage are run once and their KV cache copied into each batch; each answer's dialogue and
text are run once per answer; only the five short line starts run per criterion.
"""

from __future__ import annotations

import copy

import torch
from tqdm.auto import tqdm

from .chat import prompt_text, single_token_ids
from .generation import generate
from .rubric import CRITERIA, JUDGE_SYSTEM, SCALE, pairwise_prompt, parse_verdict, verdict_line_start, verdict_prompt


def expected_score(probs: list[float]) -> float:
    """Σ p(s)·s over the scale, with ``probs`` renormalised over the five score tokens."""
    total = sum(probs)
    if total <= 0:
        raise ValueError("score distribution has no mass")
    return sum(p * s for p, s in zip(probs, SCALE)) / total


def _verdict_prompts(tokenizer, items: list[tuple[list[dict], str]]) -> list[str]:
    return [prompt_text(tokenizer, [{"role": "user", "content": verdict_prompt(m, a)}], JUDGE_SYSTEM) for m, a in items]


def score_expected(model, tokenizer, items: list[tuple[list[dict], str]], batch_size: int,
                   desc: str = "judge") -> list[dict]:
    """Per item: ``{"scores": {criterion: E[s]}, "dist": {criterion: [p1..p5]}, "score_mass": {criterion: Σp}}``."""
    if not items:
        return []
    digit_ids = single_token_ids(tokenizer, tuple(str(s) for s in SCALE))
    # Whole texts are tokenised and then cut at token positions, so the pieces are exactly the full sequences.
    seqs = [[tokenizer(p + verdict_line_start(c), add_special_tokens=False)["input_ids"] for c in CRITERIA]
            for p in _verdict_prompts(tokenizer, items)]
    root = _common_prefix([s for group in seqs for s in group])
    if root == 0:
        raise ValueError("judge prompts share no token prefix; the chat template should start them all alike")
    results: list[dict | None] = [None] * len(items)
    order = sorted(range(len(items)), key=lambda i: len(seqs[i][0]))  # similar lengths together: less padding
    with torch.inference_mode():
        root_cache = model(input_ids=torch.tensor([seqs[0][0][:root]], device=model.device), use_cache=True,
                           logits_to_keep=1).past_key_values
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
            idx = order[start:start + batch_size]
            logits = _last_logits_after(model, copy.deepcopy(root_cache), root, [[s[root:] for s in seqs[i]] for i in idx],
                                        tokenizer.pad_token_id)
            probs = torch.softmax(logits.float(), dim=-1)[..., digit_ids]  # [items, criteria, 5]
            mass = probs.sum(-1)
            dist = (probs / mass[..., None]).tolist()
            for row, i in enumerate(idx):
                results[i] = {
                    # rounded: the last float bits depend on batch shapes; 4 decimals keep the files stable
                    "scores": {c.key: round(expected_score(d), 4) for c, d in zip(CRITERIA, dist[row])},
                    "dist": {c.key: [round(p, 4) for p in d] for c, d in zip(CRITERIA, dist[row])},
                    "score_mass": {c.key: round(float(m), 4) for c, m in zip(CRITERIA, mass[row])},
                }
    return results


def _common_prefix(seqs: list[list[int]]) -> int:
    """Length of the token prefix all ``seqs`` share, leaving each at least one token of its own."""
    shortest = min(len(x) for x in seqs)
    n = 0
    while n < shortest - 1 and all(x[n] == seqs[0][n] for x in seqs):
        n += 1
    return n


def _last_logits_after(model, cache, past: int, groups: list[list[list[int]]], pad_id: int) -> torch.Tensor:
    """Last-token logits ``[groups, seqs per group, vocab]`` of sequences that continue a cached prefix.

    ``cache`` holds ``past`` tokens for one row. Each group's shared middle (dialogue and answer) runs once,
    right-padded and masked; then every sequence's own tail runs on a copy of its group's cache.
    """
    device, k = model.device, len(groups[0])
    middles = [_common_prefix(g) for g in groups]
    width = max(middles)
    cache.batch_repeat_interleave(len(groups))
    mid_mask = torch.tensor([[1] * (past + m) + [0] * (width - m) for m in middles], device=device)
    if width:
        mid_ids = torch.tensor([g[0][:m] + [pad_id] * (width - m) for g, m in zip(groups, middles)], device=device)
        positions = torch.arange(past, past + width, device=device).expand(len(groups), -1)
        model(input_ids=mid_ids, attention_mask=mid_mask, position_ids=positions, cache=cache, use_cache=True,
              logits_to_keep=1)
    cache.batch_repeat_interleave(k)
    # Tails are padded on the left (masked), so every row ends in the same column and only that column's
    # logits are computed; explicit positions keep each real token where it would be in the full sequence.
    tails = [s[m:] for g, m in zip(groups, middles) for s in g]
    width = max(len(t) for t in tails)
    starts = [past + m for m in middles for _ in range(k)]
    ids = torch.tensor([[pad_id] * (width - len(t)) + t for t in tails], device=device)
    mask = torch.cat([mid_mask.repeat_interleave(k, dim=0),
                      torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in tails], device=device)], dim=1)
    positions = torch.tensor([[max(s, s + j - (width - len(t))) for j in range(width)] for s, t in zip(starts, tails)],
                             device=device)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, logits_to_keep=1).logits
    return logits[:, -1].view(len(groups), k, -1)


def score_generated(model, tokenizer, items: list[tuple[list[dict], str]], batch_size: int, max_new_tokens: int,
                    desc: str = "judge") -> list[dict]:
    """Per item: ``{"scores": {...} or partial, "missing": [...], "raw": verdict text}`` (greedy verdict)."""
    outs = generate(model, tokenizer, _verdict_prompts(tokenizer, items), {"do_sample": False, "max_new_tokens": max_new_tokens}, batch_size, desc=desc)
    results = []
    for (out,) in outs:
        scores, missing = parse_verdict(out["text"])
        results.append({"scores": scores, "missing": missing, "raw": out["text"]})
    return results


def prefer_first(model, tokenizer, items: list[tuple[list[dict], str, str]], batch_size: int, desc: str = "compare") -> list[float]:
    """P(answer A better than answer B) per item, from the judge's next-token mass on "A" vs "B"."""
    letter_ids = single_token_ids(tokenizer, ("A", "B"))
    prompts = [prompt_text(tokenizer, [{"role": "user", "content": pairwise_prompt(m, a, b)}], JUDGE_SYSTEM) for m, a, b in items]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    p_first = [0.0] * len(prompts)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
            idx = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            # left padding: the last column is every prompt's real end, and only its logits are computed (the whole
            # [batch, ~300, 151936] fp32 tensor would be ~3 GB at batch 16)
            logits = model(**enc, logits_to_keep=1).logits[:, -1, letter_ids].float()
            for i, p in zip(idx, torch.softmax(logits, dim=-1)[:, 0].tolist()):
                p_first[i] = p
    return p_first


def attach_verdicts(rows: list[dict], verdicts: list[dict], max_failure_rate: float) -> int:
    """Store each verdict on its candidate (in order); return the number of unreadable ones.

    An unreadable verdict is kept with its raw text and ``scores: None`` (never a default score);
    more than ``max_failure_rate`` of them stops the run rather than train on a handful of pairs.
    """
    from .io import InputError

    it = iter(verdicts)
    failures = 0
    for row in rows:
        for cand in row["candidates"]:
            verdict = next(it)
            if verdict.get("missing"):
                failures += 1
                cand.update(scores=None, judge_raw=verdict["raw"], judge_missing=verdict["missing"])
            else:
                cand.update({k: v for k, v in verdict.items() if k != "missing"})
    rate = failures / max(1, len(verdicts))
    if rate > max_failure_rate:
        examples = "; ".join(repr(v["raw"][:60]) for v in verdicts if v.get("missing"))[:300]
        raise InputError(f"{failures} of {len(verdicts)} verdicts ({rate:.0%}) could not be parsed, above "
                         f"judge.max_failure_rate={max_failure_rate} (e.g. {examples}); use judge.mode: expected "
                         "or a judge model that follows the verdict format")
    return failures

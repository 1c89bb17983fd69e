"""The self-judge: rubric scores per answer (expected or written) and pairwise preferences.

``expected`` mode (G-Eval style): for each criterion read the next-token distribution over the
score tokens "1".."5" and take the renormalised expectation. The five criterion prompts differ only
in their last sentence, so their long common prefix (rubric, dialogue, answer) is run once and its
KV cache reused for the five short suffixes.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .chat import prompt_text, single_token_ids
from .generation import generate
from .rubric import CRITERIA, JUDGE_SYSTEM, SCALE, criterion_prompt, pairwise_prompt, parse_verdict, verdict_prompt


def expected_score(probs: list[float]) -> float:
    """Σ p(s)·s over the scale, with ``probs`` renormalised over the five score tokens."""
    total = sum(probs)
    if total <= 0:
        raise ValueError("score distribution has no mass")
    return sum(p * s for p, s in zip(probs, SCALE)) / total


def score_expected(model, tokenizer, items: list[tuple[list[dict], str]], desc: str = "judge") -> list[dict]:
    """Per item: ``{"scores": {criterion: E[s]}, "dist": {criterion: [p1..p5]}, "score_mass": {criterion: Σp}}``."""
    digit_ids = torch.tensor(single_token_ids(tokenizer, tuple(str(s) for s in SCALE)))
    results = []
    with torch.inference_mode():
        for messages, answer in tqdm(items, desc=desc, unit="answer"):
            texts = [prompt_text(tokenizer, [{"role": "user", "content": criterion_prompt(messages, answer, c)}], JUDGE_SYSTEM)
                     for c in CRITERIA]
            ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
            logits = _shared_prefix_last_logits(model, ids, tokenizer.pad_token_id)
            probs_all = torch.softmax(logits.float(), dim=-1)
            digits = probs_all[:, digit_ids.to(probs_all.device)]
            mass = digits.sum(-1)
            dist = (digits / mass[:, None]).tolist()
            results.append({
                # rounded: CPU kernels differ in the last float bits between runs; 4 decimals keep results identical
                "scores": {c.key: round(expected_score(d), 4) for c, d in zip(CRITERIA, dist)},
                "dist": {c.key: [round(p, 6) for p in d] for c, d in zip(CRITERIA, dist)},
                "score_mass": {c.key: round(float(m), 6) for c, m in zip(CRITERIA, mass)},
            })
    return results


def _shared_prefix_last_logits(model, ids: list[list[int]], pad_id: int) -> torch.Tensor:
    """Last-position logits of several sequences that share a prefix, paying for the prefix once."""
    shortest = min(len(x) for x in ids)
    prefix = 0
    while prefix < shortest - 1 and all(x[prefix] == ids[0][prefix] for x in ids):
        prefix += 1
    device = model.device
    out = model(input_ids=torch.tensor([ids[0][:prefix]], device=device), use_cache=True)
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(ids))
    suffixes = [x[prefix:] for x in ids]
    width = max(len(s) for s in suffixes)
    # Right padding is safe here: we read each row at its own last real token, before any padding.
    batch = torch.tensor([s + [pad_id] * (width - len(s)) for s in suffixes], device=device)
    mask = torch.ones(len(ids), prefix + width, dtype=torch.long, device=device)
    logits = model(input_ids=batch, cache=cache, attention_mask=mask).logits
    last = torch.tensor([len(s) - 1 for s in suffixes], device=device)
    return logits[torch.arange(len(ids), device=device), last]


def score_generated(model, tokenizer, items: list[tuple[list[dict], str]], batch_size: int, max_new_tokens: int,
                    desc: str = "judge") -> list[dict]:
    """Per item: ``{"scores": {...} or partial, "missing": [...], "raw": verdict text}`` (greedy verdict)."""
    prompts = [prompt_text(tokenizer, [{"role": "user", "content": verdict_prompt(m, a)}], JUDGE_SYSTEM) for m, a in items]
    outs = generate(model, tokenizer, prompts, {"do_sample": False, "max_new_tokens": max_new_tokens}, batch_size, desc=desc)
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
            logits = model(**enc).logits[:, -1, letter_ids].float()  # left padding: last column is the real end
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

"""Preference pairs from self-judged candidates: best vs worst under a rubric margin."""

from __future__ import annotations

from collections import Counter

from .criteria import weighted_reward


def build_preference_pairs(judged: list[dict], weights: dict[str, float], min_margin: float, min_usefulness: float,
                           reward_fn=None, length_penalty: float = 0.0, keep_truncated: bool = False) -> tuple[list[dict], Counter]:
    """One DPO pair per prompt at most, plus counts of why prompts gave none.

    ``judged`` rows: ``{"prompt_id", "messages", "candidates": [{"text", "scores"|None, ...}]}``.
    A candidate whose verdict could not be read (``scores`` None) never enters a pair, nor one cut at the token cap
    (``truncated``) unless ``keep_truncated``: the chat template would close it with the end-of-turn token, teaching to
    stop mid-sentence. The chosen
    answer must reach ``min_usefulness`` on Полезность, so brevity never wins by being useless.
    ``reward_fn(scores, text)`` replaces the weighted mean (e.g. the calibrated reward). ``length_penalty``
    (R-DPO style) subtracts alpha x tokens / the longest candidate's tokens for the same prompt, so among
    equally rated answers the shorter one is chosen; the usefulness floor still applies to the raw score.
    """
    if reward_fn is None:
        reward_fn = lambda scores, _text: weighted_reward(scores, weights)  # noqa: E731
    pairs, stats = [], Counter()
    for row in judged:
        stats["prompts"] += 1
        seen, scored = set(), []
        for cand in row["candidates"]:
            if cand.get("scores") is None:
                stats["unreadable_candidates"] += 1
            elif cand.get("truncated") and not keep_truncated:
                stats["truncated_candidates"] += 1
            elif cand["text"].strip() and cand["text"] not in seen:  # identical samples carry no preference
                seen.add(cand["text"])
                scored.append((reward_fn(cand["scores"], cand["text"]), cand))
        if len(scored) < 2:
            stats["skipped_fewer_than_2_distinct"] += 1
            continue
        if length_penalty:
            longest = max(1, *(c["n_tokens"] for _, c in scored))
            scored = [(r - length_penalty * c["n_tokens"] / longest, c) for r, c in scored]
        scored.sort(key=lambda rc: rc[0])
        (r_worst, worst), (r_best, best) = scored[0], scored[-1]
        if r_best - r_worst < min_margin:
            stats["skipped_margin"] += 1
            continue
        if best["scores"]["usefulness"] < min_usefulness:
            stats["skipped_useless_chosen"] += 1
            continue
        stats["pairs"] += 1
        pairs.append({
            "prompt_id": row["prompt_id"],
            "source": "self",
            "prompt": row["messages"],
            "chosen": [{"role": "assistant", "content": best["text"]}],
            "rejected": [{"role": "assistant", "content": worst["text"]}],
            "reward_chosen": round(r_best, 4),
            "reward_rejected": round(r_worst, 4),
            "margin": round(r_best - r_worst, 4),
            "chosen_tokens": best["n_tokens"],
            "rejected_tokens": worst["n_tokens"],
        })
    return pairs, stats


def human_preference_pairs(replies: list[dict]) -> list[dict]:
    """Pairs from oasst sibling ranks: the best- vs the worst-ranked reply of every prompt with >= 2 ranked replies."""
    by_prompt: dict[str, list[dict]] = {}
    for r in replies:
        if r["rank"] is not None:
            by_prompt.setdefault(r["prompt_id"], []).append(r)
    pairs = []
    for prompt_id in sorted(by_prompt):
        ranked = sorted(by_prompt[prompt_id], key=lambda r: r["rank"])
        if len(ranked) < 2 or ranked[0]["rank"] == ranked[-1]["rank"]:
            continue
        best, worst = ranked[0], ranked[-1]
        pairs.append({"prompt_id": prompt_id, "prompt": best["messages"], "source": "human",
                      "chosen": [{"role": "assistant", "content": best["reply"]}],
                      "rejected": [{"role": "assistant", "content": worst["reply"]}]})
    return pairs


def mix_human_pairs(self_pairs: list[dict], human_pairs: list[dict], share: float, seed: int) -> list[dict]:
    """Add human pairs so they make up ``share`` of the result (as far as there are enough of them)."""
    import random

    wanted = len(human_pairs) if share >= 1 else round(share / (1 - share) * len(self_pairs))
    chosen = random.Random(seed).sample(human_pairs, min(wanted, len(human_pairs)))
    return self_pairs + sorted(chosen, key=lambda p: p["prompt_id"])

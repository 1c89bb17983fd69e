"""Preference pairs from self-judged candidates: best vs worst under a rubric margin."""

from __future__ import annotations

from collections import Counter

from .rubric import weighted_reward


def build_preference_pairs(judged: list[dict], weights: dict[str, float], min_margin: float,
                           min_usefulness: float) -> tuple[list[dict], Counter]:
    """One DPO pair per prompt at most, plus counts of why prompts gave none.

    ``judged`` rows: ``{"prompt_id", "messages", "candidates": [{"text", "scores"|None, ...}]}``.
    A candidate whose verdict could not be read (``scores`` None) never enters a pair. The chosen
    answer must reach ``min_usefulness`` on Полезность, so brevity never wins by being useless.
    """
    pairs, stats = [], Counter()
    for row in judged:
        stats["prompts"] += 1
        seen, scored = set(), []
        for cand in row["candidates"]:
            if cand.get("scores") is None:
                stats["unreadable_candidates"] += 1
            elif cand["text"].strip() and cand["text"] not in seen:  # identical samples carry no preference
                seen.add(cand["text"])
                scored.append((weighted_reward(cand["scores"], weights), cand))
        if len(scored) < 2:
            stats["skipped_fewer_than_2_distinct"] += 1
            continue
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
            "prompt": row["messages"],
            "chosen": [{"role": "assistant", "content": best["text"]}],
            "rejected": [{"role": "assistant", "content": worst["text"]}],
            "reward_chosen": round(r_best, 4),
            "reward_rejected": round(r_worst, 4),
            "margin": round(r_best - r_worst, 4),
        })
    return pairs, stats

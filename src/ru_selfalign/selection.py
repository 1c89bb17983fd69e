"""Human-quality selection of SFT examples."""

from __future__ import annotations


def select_sft_examples(replies: list[dict], min_quality: float, min_count: int) -> tuple[list[dict], dict]:
    """Keep replies with quality >= ``min_quality`` rated by >= ``min_count`` people; per prompt the best-ranked.

    Best-ranked = lowest oasst ``rank`` (0 is best); unranked replies fall back to higher quality.
    Rows come out as trl prompt/completion conversations, so the loss covers the reply only.
    """
    stats = {"train_replies": len(replies), "no_quality_label": 0, "below_min_count": 0, "below_min_quality": 0}
    best: dict[str, dict] = {}
    for r in replies:
        if r["quality"] is None:
            stats["no_quality_label"] += 1
        elif r["quality_count"] < min_count:
            stats["below_min_count"] += 1
        elif r["quality"] < min_quality:
            stats["below_min_quality"] += 1
        elif r["prompt_id"] not in best or _order(r) < _order(best[r["prompt_id"]]):
            best[r["prompt_id"]] = r
    selected = [
        {"id": r["id"], "prompt_id": r["prompt_id"], "quality": r["quality"],
         "prompt": r["messages"], "completion": [{"role": "assistant", "content": r["reply"]}]}
        for r in sorted(best.values(), key=lambda r: r["id"])
    ]
    stats["passing_replies"] = len(replies) - stats["no_quality_label"] - stats["below_min_count"] - stats["below_min_quality"]
    stats["selected"] = len(selected)
    return selected, stats


def _order(reply: dict) -> tuple:
    rank = reply["rank"] if reply["rank"] is not None else float("inf")
    return rank, -reply["quality"], reply["id"]

import pytest

from ru_selfalign.pairs import build_preference_pairs

KEYS = ("brevity", "usefulness", "accuracy", "clarity", "conciseness")
WEIGHTS = dict.fromkeys(KEYS, 1.0)


def _cand(text, score, usefulness=None):
    scores = dict.fromkeys(KEYS, float(score))
    if usefulness is not None:
        scores["usefulness"] = float(usefulness)
    return {"text": text, "scores": scores}


def _row(pid, *cands):
    return {"prompt_id": pid, "messages": [{"role": "user", "content": pid}], "candidates": list(cands)}


def test_best_vs_worst_with_margin_and_usefulness():
    judged = [
        _row("clear", _cand("a", 2), _cand("b", 5), _cand("c", 3)),
        _row("close", _cand("a", 3.0), _cand("b", 3.2)),
        _row("useless", _cand("short", 5, usefulness=2), _cand("long", 1)),
        _row("same", _cand("x", 5), _cand("x", 1)),
        _row("broken", {"text": "?", "scores": None}, _cand("y", 4)),
    ]
    pairs, stats = build_preference_pairs(judged, WEIGHTS, min_margin=0.5, min_usefulness=3)
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair["prompt_id"], pair["chosen"][0]["content"], pair["rejected"][0]["content"]) == ("clear", "b", "a")
    assert pair["margin"] == pytest.approx(3.0) and pair["prompt"] == [{"role": "user", "content": "clear"}]
    assert stats == {"prompts": 5, "pairs": 1, "skipped_margin": 1, "skipped_useless_chosen": 1,
                     "skipped_fewer_than_2_distinct": 2, "unreadable_candidates": 1}


def test_margin_threshold_is_inclusive_and_weights_matter():
    judged = [_row("p", _cand("a", 3, usefulness=5), _cand("b", 4, usefulness=1))]
    pairs, _ = build_preference_pairs(judged, WEIGHTS, min_margin=0.0, min_usefulness=1)
    assert pairs[0]["chosen"][0]["content"] == "b"  # uniform weights: b has the higher mean
    heavy = {**WEIGHTS, "usefulness": 10.0}
    pairs, _ = build_preference_pairs(judged, heavy, min_margin=0.0, min_usefulness=1)
    assert pairs[0]["chosen"][0]["content"] == "a"
    margin = pairs[0]["margin"]
    assert build_preference_pairs(judged, heavy, min_margin=margin, min_usefulness=1)[0]
    assert not build_preference_pairs(judged, heavy, min_margin=margin + 0.01, min_usefulness=1)[0]

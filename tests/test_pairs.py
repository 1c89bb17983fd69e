import pytest

from ru_selfalign.pairs import build_preference_pairs

KEYS = ("brevity", "usefulness", "accuracy", "clarity", "conciseness")
WEIGHTS = dict.fromkeys(KEYS, 1.0)


def _cand(text, score, usefulness=None):
    scores = dict.fromkeys(KEYS, float(score))
    if usefulness is not None:
        scores["usefulness"] = float(usefulness)
    return {"text": text, "scores": scores, "n_tokens": len(text)}


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
    assert (pair["prompt_id"], pair["chosen"][0]["content"], pair["rejected"][0]["content"], pair["source"]) == ("clear", "b", "a", "self")
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


def test_unreadable_verdicts_are_kept_raw_and_a_flood_of_them_stops_the_run():
    from ru_selfalign.io import InputError
    from ru_selfalign.judge import attach_verdicts

    rows = [{"candidates": [{"text": "a"}, {"text": "b"}]}]
    good = {"scores": dict.fromkeys(KEYS, 4.0), "missing": [], "raw": "Краткость: 4 ..."}
    bad = {"scores": {"brevity": 4.0}, "missing": list(KEYS[1:]), "raw": "Краткость: 4, остальное хорошо"}
    assert attach_verdicts(rows, [good, bad], max_failure_rate=0.5) == 1
    assert rows[0]["candidates"][1] == {"text": "b", "scores": None, "judge_raw": bad["raw"], "judge_missing": list(KEYS[1:])}
    assert rows[0]["candidates"][0]["scores"] == good["scores"]
    with pytest.raises(InputError, match=r"2 of 2 verdicts \(100%\) could not be parsed, above judge\.max_failure_rate=0\.5"):
        attach_verdicts([{"candidates": [{"text": "a"}, {"text": "b"}]}], [bad, bad], max_failure_rate=0.5)


def test_human_pairs_from_sibling_ranks_and_their_share():
    from ru_selfalign.pairs import human_preference_pairs, mix_human_pairs

    def reply(prompt, rank, text):
        return {"prompt_id": prompt, "rank": rank, "reply": text, "messages": [{"role": "user", "content": prompt}]}

    replies = [reply("p", 1, "mid"), reply("p", 0, "best"), reply("p", 2, "worst"), reply("q", 0, "only"),
               reply("r", None, "x"), reply("r", None, "y")] + [reply(f"s{i}", r, f"{i}-{r}") for i in range(6) for r in (0, 1)]
    human = human_preference_pairs(replies)
    assert len(human) == 7 and human[0]["source"] == "human"
    assert (human[0]["chosen"][0]["content"], human[0]["rejected"][0]["content"]) == ("best", "worst")
    self_pairs = [{"prompt_id": f"x{i}", "source": "self"} for i in range(3)]
    mixed = mix_human_pairs(self_pairs, human, share=0.5, seed=0)
    assert [p["source"] for p in mixed].count("human") == 3 and mixed[:3] == self_pairs
    assert len(mix_human_pairs(self_pairs, human, share=0.9, seed=0)) == 3 + 7  # capped by what exists


def test_length_penalty_prefers_the_shorter_of_similarly_rated_answers_but_never_a_useless_one():
    judged = [_row("tie", _cand("a much longer answer", 4.1), _cand("short", 4), _cand("mid answer", 2)),
              _row("useless", _cand("x", 4, usefulness=2), _cand("a long rambling reply", 4.2))]
    plain, _ = build_preference_pairs(judged, WEIGHTS, min_margin=0.1, min_usefulness=3)
    penalised, stats = build_preference_pairs(judged, WEIGHTS, min_margin=0.1, min_usefulness=3, length_penalty=1.0)
    assert plain[0]["chosen"][0]["content"] == "a much longer answer"
    tie = penalised[0]
    assert (tie["chosen"][0]["content"], tie["rejected"][0]["content"]) == ("short", "mid answer")
    # reward - 1.0 x tokens / longest: longer 4.1 - 20/20, short 4 - 5/20, mid 2 - 10/20
    assert tie["reward_chosen"] == pytest.approx(3.75) and tie["reward_rejected"] == pytest.approx(1.5)
    assert (tie["chosen_tokens"], tie["rejected_tokens"]) == (5, 10)
    # the penalty lifts the 1-token "x" above the long reply, but its usefulness (2) is below the floor
    assert len(penalised) == 1 and stats["skipped_useless_chosen"] == 1


def test_a_candidate_cut_at_the_cap_never_enters_a_pair_unless_asked():
    cut = {**_cand("an answer that stops mid", 5), "truncated": True}
    judged = [_row("p", cut, _cand("fine", 4), _cand("worse", 2))]
    pairs, stats = build_preference_pairs(judged, WEIGHTS, min_margin=0.5, min_usefulness=3)
    assert (pairs[0]["chosen"][0]["content"], pairs[0]["rejected"][0]["content"]) == ("fine", "worse")
    assert stats["truncated_candidates"] == 1
    kept, _ = build_preference_pairs(judged, WEIGHTS, min_margin=0.5, min_usefulness=3, keep_truncated=True)
    assert kept[0]["chosen"][0]["content"] == "an answer that stops mid"

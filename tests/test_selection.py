from ru_selfalign.selection import select_sft_examples


def _reply(rid, prompt, quality, count=3, rank=None):
    return {"id": rid, "prompt_id": prompt, "quality": quality, "quality_count": count, "rank": rank,
            "messages": [{"role": "user", "content": f"вопрос {prompt}"}], "reply": f"ответ {rid}"}


def test_threshold_and_best_ranked_per_prompt():
    replies = [
        _reply("a0", "a", 0.9, rank=1), _reply("a1", "a", 0.8, rank=0),  # rank wins over quality
        _reply("b0", "b", 0.3, rank=0),  # below min_quality
        _reply("c0", "c", 0.95, count=1),  # too few raters
        _reply("d0", "d", None),  # no quality label
        _reply("e0", "e", 0.7), _reply("e1", "e", 0.75),  # unranked: higher quality wins
    ]
    selected, stats = select_sft_examples(replies, min_quality=0.5, min_count=2)
    assert [s["id"] for s in selected] == ["a1", "e1"]
    assert selected[0]["prompt"] == [{"role": "user", "content": "вопрос a"}]
    assert selected[0]["completion"] == [{"role": "assistant", "content": "ответ a1"}]
    assert stats == {"train_replies": 7, "no_quality_label": 1, "below_min_count": 1, "below_min_quality": 1,
                     "passing_replies": 4, "selected": 2}


def test_threshold_that_keeps_nothing():
    selected, stats = select_sft_examples([_reply("a", "a", 0.4)], min_quality=0.99, min_count=1)
    assert selected == [] and stats["below_min_quality"] == 1

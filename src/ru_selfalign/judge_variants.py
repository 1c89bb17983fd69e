"""Judge variants compared on the same human-ranked sibling replies, and the replies they are measured on.

Every variant gives a margin per human-ranked pair (better, worse): > 0 where the judge prefers the reply people
ranked higher. Pointwise variants score each reply once and take the score difference; ``pairwise`` reads the
judge's A/B preference. Names (``AgreementParams.VARIANTS``):

- ``rubric``: today's judge, five criteria in one verdict prompt, expected scores (judge.score_expected), weighted
  by ``pairs.weights``;
- ``per_criterion``: one criterion per prompt; the dialogue and answer come before the criterion, so they are read
  once per reply and only the criterion's question differs;
- ``fewshot``: today's verdict prompt after two worked examples, a short and a long answer to one question;
- ``pairwise``: P(this reply better) for every sibling pair (judge.prefer_first), both orders averaged;
- ``usefulness_unlength``: the rubric's Полезность minus its least-squares slope on log(1 + words) over the judged
  replies (no extra judge call: it reuses ``rubric``'s scores and cost).

The rubric stays Russian whatever the language of the replies (real oasst exports are mostly English): that is
what the pipeline's judge reads too.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .agreement import ranked_siblings
from .chat import prompt_text, single_token_ids
from .config import AgreementParams, ConfigError, DataSpec, PrepareParams
from .criteria import CRITERIA, SCALE, Criterion, weighted_reward
from .evaluation import word_count
from .io import read_jsonl
from .judge import _common_prefix, _last_logits_after, expected_score, prefer_first, score_expected
from .oasst import build_examples, load_messages
from .paired import soft_preferences
from .rubric import JUDGE_SYSTEM, render_dialogue, verdict_line_start, verdict_prompt

log = logging.getLogger(__name__)

# Two worked examples for ``fewshot``: one question, a short complete answer and a long padded one.
ANCHOR_DIALOGUE = [{"role": "user", "content": "Сколько метров в пяти километрах?"}]
ANCHORS = (
    ("В пяти километрах 5000 метров (в одном километре 1000 метров).",
     {"brevity": 5, "usefulness": 5, "accuracy": 5, "clarity": 5, "conciseness": 5}),
    ("Отличный вопрос! Перевод единиц длины — полезный навык, который пригодится и в учёбе, и в жизни. Километр и "
     "метр — единицы длины метрической системы, которой пользуется большинство стран мира. Приставка «кило» означает "
     "«тысяча», поэтому в одном километре 1000 метров. Чтобы перевести километры в метры, умножим число километров на "
     "1000: 5 × 1000 = 5000. Итак, в пяти километрах 5000 метров. Надеюсь, ответ был полезен! Если остались вопросы, "
     "спрашивайте.",
     {"brevity": 2, "usefulness": 5, "accuracy": 5, "clarity": 4, "conciseness": 1}),
)


def criterion_prompt(messages: list[dict], answer: str, criterion: Criterion) -> str:
    """User turn for ``per_criterion``: the dialogue and answer, then one criterion to score."""
    return (
        "Ниже диалог с пользователем и ответ ассистента.\n\n"
        f"Диалог с пользователем:\n<<<\n{render_dialogue(messages)}\n>>>\n\n"
        f"Ответ ассистента:\n<<<\n{answer}\n>>>\n\n"
        "Оцени ответ только по одному критерию, целым числом от 1 до 5.\n"
        f"{criterion.name}: {criterion.description}. 5 — {criterion.high}; 1 — {criterion.low}.\n"
        f"Ответь одной строкой: {criterion.name}: <1-5>"
    )


def fewshot_messages(messages: list[dict], answer: str) -> list[dict]:
    """Chat turns for ``fewshot``: each anchor's verdict prompt and verdict, then the answer's verdict prompt."""
    turns = []
    for anchor, scores in ANCHORS:
        turns += [{"role": "user", "content": verdict_prompt(ANCHOR_DIALOGUE, anchor)},
                  {"role": "assistant", "content": "\n".join(f"{c.name}: {scores[c.key]}" for c in CRITERIA)}]
    return [*turns, {"role": "user", "content": verdict_prompt(messages, answer)}]


def judge_inputs(variant: str, tokenizer, messages: list[dict], answer: str) -> list[str]:
    """The judge's whole input per criterion (chat template applied), ending where the score token comes."""
    if variant == "per_criterion":
        chats = [[{"role": "user", "content": criterion_prompt(messages, answer, c)}] for c in CRITERIA]
    elif variant == "fewshot":
        chats = [fewshot_messages(messages, answer)] * len(CRITERIA)
    elif variant == "rubric":
        chats = [[{"role": "user", "content": verdict_prompt(messages, answer)}]] * len(CRITERIA)
    else:
        raise ValueError(f"variant {variant!r} has no per-criterion prompts")
    return [prompt_text(tokenizer, chat, JUDGE_SYSTEM) + verdict_line_start(c) for chat, c in zip(chats, CRITERIA)]


def expected_scores(model, tokenizer, texts: list[list[str]], batch_size: int, desc: str = "judge") -> list[dict]:
    """``judge.score_expected`` for any prompts: ``texts[i][k]`` is item i's whole input for criterion k. The prefix
    all texts share runs once; each item's shared middle once; only the differing tails once per criterion."""
    digit_ids = single_token_ids(tokenizer, tuple(str(s) for s in SCALE))
    seqs = [[tokenizer(t, add_special_tokens=False)["input_ids"] for t in item] for item in texts]
    root = _common_prefix([s for group in seqs for s in group])
    results: list[dict | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(seqs[i][0]))
    with torch.inference_mode():
        root_cache = model(input_ids=torch.tensor([seqs[0][0][:root]], device=model.device), use_cache=True,
                           logits_to_keep=1).past_key_values
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
            idx = order[start:start + batch_size]
            logits = _last_logits_after(model, copy.deepcopy(root_cache), root, [[s[root:] for s in seqs[i]] for i in idx],
                                        tokenizer.pad_token_id)
            probs = torch.softmax(logits.float(), dim=-1)[..., digit_ids]
            dist = (probs / probs.sum(-1, keepdim=True)).tolist()
            for row, i in enumerate(idx):
                results[i] = {"scores": {c.key: round(expected_score(d), 4) for c, d in zip(CRITERIA, dist[row])}}
    return results


@dataclass
class VariantRun:
    margins: list[float]  # per pair of ``pairs``, in order
    seconds: float  # judge compute the variant needs (a reused run counted in full)
    scores: dict[str, float] | None = None  # per reply id, pointwise variants only


def run_variant(name: str, model, tokenizer, rows: list[dict], pairs: list[tuple[str, dict, dict]],
                weights: dict[str, float], batch_size: int, cache: dict | None = None) -> VariantRun:
    """Judge ``rows`` (or their ``pairs``) with variant ``name``; ``cache`` shares the rubric's verdicts between
    ``rubric`` and ``usefulness_unlength`` (``cache["rubric"] = (verdicts, seconds)``)."""
    cache = {} if cache is None else cache
    if name not in AgreementParams.VARIANTS:
        raise ConfigError(f"agreement.variants: {name!r} is not a judge variant; choose from {', '.join(AgreementParams.VARIANTS)}")
    if name == "pairwise":
        start = time.perf_counter()
        items = [(b["messages"], b["reply"], w["reply"]) for _, b, w in pairs]
        p_first = prefer_first(model, tokenizer, items + [(m, y, x) for m, x, y in items], batch_size, desc=name)
        prefs = np.clip(soft_preferences(p_first[:len(items)], p_first[len(items):]), 1e-6, 1 - 1e-6)
        return VariantRun([float(v) for v in np.log(prefs / (1 - prefs))], time.perf_counter() - start)
    source = "rubric" if name == "usefulness_unlength" else name
    if source not in cache:
        start = time.perf_counter()
        items = [(r["messages"], r["reply"]) for r in rows]
        if source == "rubric":
            verdicts = score_expected(model, tokenizer, items, batch_size, desc=source)
        else:
            verdicts = expected_scores(model, tokenizer, [judge_inputs(source, tokenizer, m, a) for m, a in items],
                                       batch_size, desc=source)
        cache[source] = (verdicts, time.perf_counter() - start)
    verdicts, seconds = cache[source]
    if name == "usefulness_unlength":
        scores = unlength([v["scores"]["usefulness"] for v in verdicts], [word_count(r["reply"]) for r in rows])
    else:
        scores = [weighted_reward(v["scores"], weights) for v in verdicts]
    by_id = {r["id"]: s for r, s in zip(rows, scores)}
    return VariantRun([by_id[b["id"]] - by_id[w["id"]] for _, b, w in pairs], seconds, by_id)


def unlength(scores: list[float], words: list[int]) -> list[float]:
    """Scores minus their least-squares line on log(1 + words): what the score says beyond length."""
    x, y = np.log1p(np.asarray(words, float)), np.asarray(scores, float)
    slope = np.polyfit(x, y, 1)[0] if np.ptp(x) > 0 else 0.0
    return [round(float(v), 4) for v in y - slope * x]


def held_out_replies(cfg: AgreementParams, prepare: PrepareParams, prepared_dir: str | Path) -> list[dict]:
    """The replies the agreement is measured on. ``source: split``: the pipeline's prepared ``cfg.splits``;
    ``source: export``: the replies of the oasst export at ``cfg.path`` in language ``cfg.lang`` that have a ranked
    sibling (prepare's other filters apply: labels, length, deleted, review)."""
    if cfg.source == "split":
        return [r for split in cfg.splits for r in read_jsonl(Path(prepared_dir) / f"{split}.jsonl")]
    export = load_messages(DataSpec(source="local", path=cfg.path), prepare.skip_bad_lines)
    replies, _, dropped = build_examples(export.messages, dataclasses.replace(prepare, lang=cfg.lang))
    kept = ranked_siblings(replies)
    log.info("%s: %d replies in language %s, %d of them in ranked sibling groups; dropped messages: %s",
             cfg.path, len(replies), cfg.lang, len(kept), dict(dropped))
    return kept

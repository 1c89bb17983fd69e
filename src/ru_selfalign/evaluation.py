"""Evaluation statistics: bootstrap intervals, answer lengths, language checks, two-order win rates."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
from scipy import stats

_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def word_count(text: str) -> int:
    return len(text.split())


def is_russian(text: str) -> bool:
    """At least half of the letters are Cyrillic (code and names may be Latin)."""
    letters = _LETTERS.findall(text)
    return bool(letters) and len(_CYRILLIC.findall(text)) / len(letters) >= 0.5


def bootstrap_ci(values, statistic=np.mean, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval (scipy); a constant or one-item sample gives a zero-width interval."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.all(values == values[0]):
        v = float(statistic(values)) if len(values) else float("nan")
        return v, v
    res = stats.bootstrap((values,), statistic, n_resamples=n_resamples, confidence_level=0.95,
                          method="percentile", random_state=np.random.default_rng(seed), vectorized=False)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarise(values, n_resamples: int, seed: int, statistic=np.mean) -> dict:
    lo, hi = bootstrap_ci(values, statistic, n_resamples, seed)
    return {"value": round(float(statistic(np.asarray(values, dtype=float))), 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4)}


def p90(values) -> float:
    return float(np.percentile(values, 90))


def two_order_outcomes(p_x_first: list[float], p_y_first: list[float]) -> list[float]:
    """Outcome per item for X vs Y judged in both orders: 1 win, 0 loss, 0.5 tie.

    ``p_x_first[i]`` = P(A better) with X shown as A; ``p_y_first[i]`` = P(A better) with Y as A.
    X wins only if both orders prefer it; orders that disagree (position bias) count as a tie.
    """
    outcomes = []
    for p_xy, p_yx in zip(p_x_first, p_y_first):
        x_first_wins, x_second_wins = p_xy > 0.5, p_yx < 0.5
        outcomes.append(1.0 if x_first_wins and x_second_wins else 0.0 if not (x_first_wins or x_second_wins) else 0.5)
    return outcomes


def field_value(record: dict, dotted: str):
    """``"turns.0.content"`` → ``record["turns"][0]["content"]``; None when any step is absent."""
    value = record
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def load_prompt_file(spec) -> list[dict]:
    """Evaluation prompts from a user jsonl file; a record without its text is an error naming file:line.

    The prompt is the dialogue at ``messages_field`` when the record has one, else the text at ``text_field`` (one
    dotted path, or several joined by a blank line with empty parts left out, e.g. instruction + input).
    """
    from .io import InputError, iter_jsonl

    fields = [spec.text_field] if isinstance(spec.text_field, str) else spec.text_field
    rows = []
    for lineno, record in enumerate(iter_jsonl(spec.path), start=1):
        dialogue = field_value(record, spec.messages_field) if spec.messages_field else None
        if dialogue is not None:
            if not _is_dialogue(dialogue):
                raise InputError(f"{spec.path}:{lineno}: '{spec.messages_field}' must be a list of {{role, content}} turns "
                                 "ending with the user's (evaluate.prompt_files messages_field)")
            messages = [{"role": m["role"], "content": m["content"]} for m in dialogue]
        else:
            parts = [field_value(record, f) for f in fields]
            text = "\n\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
            if not text:
                raise InputError(f"{spec.path}:{lineno}: no text at {' / '.join(fields)} (evaluate.prompt_files text_field); "
                                 f"keys present: {sorted(record)}")
            messages = [{"role": "user", "content": text}]
        reference = field_value(record, spec.reference_field) if spec.reference_field else None
        rows.append({"id": str(field_value(record, spec.id_field) or f"{spec.path}:{lineno}"),
                     "source": spec.path, "messages": messages, "reference": reference or None})
    return rows


def _is_dialogue(value) -> bool:
    return (isinstance(value, list) and bool(value) and value[-1].get("role") == "user"
            and all(isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
                    for m in value))


def eval_prompts(cfg, prepared_dir: str | Path, seed: int) -> list[dict]:
    """The held-out prompts every model answers: the test split's prompts and the user files, at most ``max_prompts``
    of them chosen by seed. Each ``{"id", "source", "messages", "reference"}``."""
    from .io import read_jsonl

    prompts = []
    if cfg.test_split:
        prepared = Path(prepared_dir)
        prompts += held_out_test_prompts(read_jsonl(prepared / "prompts_test.jsonl"), read_jsonl(prepared / "test.jsonl"))
    for spec in cfg.prompt_file_specs:
        prompts += load_prompt_file(spec)
    if len(prompts) > cfg.max_prompts:
        prompts = random.Random(seed).sample(prompts, cfg.max_prompts)
    return prompts


def merge_answers(per_model: dict[str, list[dict]]) -> list[dict]:
    """One row per prompt with every model's answer under the model's name; all files must cover the same prompts."""
    from .io import InputError

    names = list(per_model)
    rows = [{k: v for k, v in r.items() if k != "answer"} for r in per_model[names[0]]]
    for name in names:
        if [r["id"] for r in per_model[name]] != [r["id"] for r in rows]:
            raise InputError(f"answers of {name} cover other prompts than those of {names[0]}; rerun its answer stage")
        for row, r in zip(rows, per_model[name]):
            row[name] = r["answer"]
    return rows


def held_out_test_prompts(prompts: list[dict], replies: list[dict]) -> list[dict]:
    """Held-out prompts of the test split, each with its best human reply (lowest rank, then quality) as reference."""
    best: dict[str, dict] = {}
    for r in replies:
        key = (r["rank"] if r["rank"] is not None else 99, -(r["quality"] or 0))
        if r["prompt_id"] not in best or key < best[r["prompt_id"]][0]:
            best[r["prompt_id"]] = (key, r)
    return [{"id": p["prompt_id"], "source": "test_split", "messages": p["messages"],
             "reference": best[p["prompt_id"]][1]["reply"] if p["prompt_id"] in best else None} for p in prompts]

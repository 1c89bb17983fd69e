"""Stage evaluate: base vs SFT vs every round's model on the same held-out Russian prompts (answers and scores from the
answer@<model> stages). Every comparison X_vs_Y is paired by prompt: length ratios, per-criterion deltas, reference
overlap (chrF++, token F1) and a soft preference of the base-model judge read in both answer orders.

    python -m stages.evaluate --base models/base --answers-dir data/eval/by_model --out data/eval/answers.jsonl \
        --metrics metrics/eval.json
"""

import logging
from pathlib import Path

import numpy as np

from ru_selfalign.criteria import CRITERION_KEYS, weighted_reward
from ru_selfalign.evaluation import is_russian, merge_answers, p90, summarise, two_order_outcomes, word_count
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.judge import prefer_first
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.paired import (length_controlled_scores, length_controlled_soft_win_rate, paired_delta, paired_ratio,
                                 position_bias, reference_scores, soft_preferences, soft_win_rate)
from ru_selfalign.runtime import start_stage

log = logging.getLogger("evaluate")


def main() -> None:
    args, params = start_stage("evaluate", __doc__, ("base", "answers_dir", "out", "metrics"))
    cfg, weights = params.evaluate, params.pairs.weights
    boot = {"n_resamples": cfg.bootstrap, "seed": cfg.seed}
    models = params.model_names
    prompts = merge_answers({name: read_jsonl(Path(args.answers_dir) / f"{name}.jsonl") for name in models})
    log.info("%d prompts answered by %s", len(prompts), ", ".join(models))
    for p in prompts:
        for name in models:
            p[name]["reward"] = weighted_reward(p[name]["scores"], weights)
            p[name].update(reference_scores([p[name]["text"]], [p["reference"]])[0])
    metrics = {"prompts": len(prompts), "prompts_with_reference": sum(bool(p["reference"]) for p in prompts)}
    metrics.update({name: model_metrics([p[name] for p in prompts], boot) for name in models})
    lengths = {m: [p[m]["n_tokens"] for p in prompts] for m in models}
    if len({n for ns in lengths.values() for n in ns}) > 1:
        lc = length_controlled_scores({m: [p[m]["scores"]["usefulness"] for p in prompts] for m in models}, lengths, **boot)
        for name in models:
            metrics[name]["usefulness_length_controlled"] = lc[name]
        metrics["usefulness_length_slope"] = lc["_slope"]
    else:
        log.warning("length-controlled usefulness left out: every answer has the same length, no slope to fit")

    final = params.final_round.key
    wanted = [c for c in params.comparisons() if cfg.wants_preference(c)]
    judge = tokenizer = None
    if wanted:  # the same fixed judge as the answer stages
        tokenizer, judge = load_tokenizer(args.base), load_model(args.base, quantize=cfg.quantize)
    log.info("judge preference pass for %s (evaluate.preference=%s)", ", ".join(wanted) or "no comparison", cfg.preference)
    metrics["compare"] = {}
    for item in params.comparisons():
        x, _, y = (final if m == "final" else m for m in item.partition("_vs_"))
        rows = [p for p in prompts if y != "reference" or p["reference"]]
        if not rows:
            log.warning("%s left out: no held-out prompt has a reference answer", item)
            continue
        metrics["compare"][item] = compare(judge if item in wanted else None, tokenizer, rows, x, y, params.judge.batch_size,
                                           boot, item)
        for p, pref in zip(rows, metrics["compare"][item].pop("_prefs", [])):
            p.setdefault("preference", {})[item] = round(pref, 4)
    metrics["final"] = final_metrics(metrics, final)
    write_jsonl(args.out, prompts)
    write_json(args.metrics, metrics)


def model_metrics(answers: list[dict], boot: dict) -> dict:
    words = [word_count(a["text"]) for a in answers]
    tokens = [a["n_tokens"] for a in answers]
    out = {c: summarise([a["scores"][c] for a in answers], boot["n_resamples"], boot["seed"]) for c in CRITERION_KEYS}
    out["reward"] = summarise([a["reward"] for a in answers], boot["n_resamples"], boot["seed"])
    out["words_median"] = summarise(words, boot["n_resamples"], boot["seed"], np.median)
    out["words_p90"] = summarise(words, boot["n_resamples"], boot["seed"], p90)
    out["tokens_median"] = summarise(tokens, boot["n_resamples"], boot["seed"], np.median)
    out["tokens_p90"] = summarise(tokens, boot["n_resamples"], boot["seed"], p90)
    for key in ("chrf", "token_f1"):
        values = [a[key] for a in answers if a[key] is not None]
        out[f"reference_{key}"] = summarise(values, boot["n_resamples"], boot["seed"]) if values else None
    out["truncated_share"] = round(float(np.mean([a["truncated"] for a in answers])), 4)
    out["empty_share"] = round(float(np.mean([not a["text"].strip() for a in answers])), 4)
    out["non_russian_share"] = round(float(np.mean([bool(a["text"].strip()) and not is_russian(a["text"]) for a in answers])), 4)
    return out


def compare(judge, tokenizer, rows: list[dict], x: str, y: str, batch_size: int, boot: dict, desc: str) -> dict:
    """X vs Y on the same prompts; Y may be ``reference`` (the held-out reference answers). Without a ``judge``
    the preference figures are left out."""
    text_x = [p[x]["text"] for p in rows]
    text_y = [p["reference"] if y == "reference" else p[y]["text"] for p in rows]
    words_x, words_y = [word_count(t) for t in text_x], [word_count(t) for t in text_y]
    out = {"n": len(rows), "word_ratio": paired_ratio(words_x, words_y, **boot)}
    if judge is not None:
        # both answer orders in one pass: P(first better) with X first, then with Y first
        p_first = prefer_first(judge, tokenizer, [(p["messages"], a, b) for p, a, b in zip(rows, text_x, text_y)]
                               + [(p["messages"], b, a) for p, a, b in zip(rows, text_x, text_y)], batch_size, desc=desc)
        x_first, y_first = p_first[:len(rows)], p_first[len(rows):]
        prefs = soft_preferences(x_first, y_first)
        strict = two_order_outcomes(x_first, y_first)
        out.update({
            "win_rate_soft": soft_win_rate(prefs, **boot),
            "win_rate_soft_lc": length_controlled_soft_win_rate(prefs, words_x, words_y, **boot),
            "position_bias": position_bias(x_first, y_first),
            "win_rate_strict": {**summarise(strict, boot["n_resamples"], boot["seed"]),
                                "ties": round(sum(o == 0.5 for o in strict) / len(strict), 4)},
            "_prefs": prefs,
        })
    if y == "reference":
        return out
    out["token_ratio"] = paired_ratio([p[x]["n_tokens"] for p in rows], [p[y]["n_tokens"] for p in rows], **boot)
    out["delta"] = {c: paired_delta([p[x]["scores"][c] for p in rows], [p[y]["scores"][c] for p in rows], **boot)
                    for c in CRITERION_KEYS}
    out["delta"]["reward"] = paired_delta([p[x]["reward"] for p in rows], [p[y]["reward"] for p in rows], **boot)
    with_ref = [p for p in rows if p["reference"]]
    for key in ("chrf", "token_f1"):
        out["delta"][f"reference_{key}"] = (paired_delta([p[x][key] for p in with_ref], [p[y][key] for p in with_ref], **boot)
                                            if with_ref else None)
    return out


def final_metrics(metrics: dict, final: str) -> dict:
    """The last round against SFT under fixed names, so sweeps with any number of rounds line up in `dvc exp show`."""
    vs_sft = metrics["compare"][f"{final}_vs_sft"]

    def interval(stat):
        return None if stat is None else {k: stat[k] for k in ("value", "ci_low", "ci_high")}

    return {
        "length_ratio_vs_sft": interval(vs_sft["token_ratio"]["median"]),
        "usefulness_delta_vs_sft": interval(vs_sft["delta"]["usefulness"]),
        "chrf_delta_vs_sft": interval(vs_sft["delta"]["reference_chrf"]),
        "win_rate_vs_sft_soft": interval(vs_sft.get("win_rate_soft")),
        "win_rate_vs_sft_soft_lc": interval(vs_sft.get("win_rate_soft_lc")),
        "usefulness": metrics[final]["usefulness"]["value"],
        "words_median": metrics[final]["words_median"]["value"],
        "truncated_share": metrics[final]["truncated_share"],
    }


if __name__ == "__main__":
    main()

"""Stage evaluate: base vs SFT vs every round's model on the held-out Russian prompts (answers and scores from the
answer@<model> stages), with bootstrap intervals and two-order win rates judged by the base model.

    python -m stages.evaluate --base models/base --answers-dir data/eval/answers --out data/eval/answers.jsonl \
        --metrics metrics/eval.json
"""

import logging
from pathlib import Path

import numpy as np

from ru_selfalign.evaluation import (is_russian, length_controlled_win_rate, merge_answers, p90, summarise, two_order_outcomes,
                                     word_count)
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.judge import prefer_first
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.rubric import CRITERION_KEYS, weighted_reward
from ru_selfalign.runtime import start_stage

log = logging.getLogger("evaluate")


def main() -> None:
    args, params = start_stage("evaluate", __doc__, ("base", "answers_dir", "out", "metrics"))
    cfg = params.evaluate
    models = params.model_names
    prompts = merge_answers({name: read_jsonl(Path(args.answers_dir) / f"{name}.jsonl") for name in models})
    log.info("%d prompts answered by %s", len(prompts), ", ".join(models))
    metrics = {"prompts": len(prompts)}
    metrics.update({name: model_metrics([p[name] for p in prompts], params.pairs.weights, cfg.bootstrap, params.seed)
                    for name in models})

    tokenizer = load_tokenizer(args.base)
    judge = load_model(args.base)  # the same fixed judge as the answer stages
    final = params.final_round.key
    metrics["win_rate"] = {}
    for item in params.comparisons():
        x, _, y = (final if m == "final" else m for m in item.partition("_vs_"))
        rows = [p for p in prompts if y != "reference" or p["reference"]]
        other = [p["reference"] if y == "reference" else p[y]["text"] for p in rows]
        first = prefer_first(judge, tokenizer, [(p["messages"], p[x]["text"], o) for p, o in zip(rows, other)], cfg.batch_size, desc=item)
        second = prefer_first(judge, tokenizer, [(p["messages"], o, p[x]["text"]) for p, o in zip(rows, other)], cfg.batch_size, desc=item)
        outcomes = two_order_outcomes(first, second)
        for p, o in zip(rows, outcomes):
            p.setdefault("outcomes", {})[item] = o
        metrics["win_rate"][item] = {
            **summarise(outcomes, cfg.bootstrap, params.seed), "n": len(outcomes),
            "ties": round(sum(o == 0.5 for o in outcomes) / max(1, len(outcomes)), 4),
            "length_controlled": length_controlled_win_rate(outcomes, [word_count(p[x]["text"]) for p in rows],
                                                            [word_count(o) for o in other]),
        }
    # the last round at fixed names, so sweeps with different round counts line up in `dvc exp show`
    vs_sft = metrics["win_rate"][f"{final}_vs_sft"]
    metrics["final"] = {"usefulness": metrics[final]["usefulness"]["value"], "accuracy": metrics[final]["accuracy"]["value"],
                        "words_median": metrics[final]["words_median"]["value"], "win_rate_vs_sft": vs_sft["value"],
                        "win_rate_vs_sft_lc": vs_sft["length_controlled"]}
    write_jsonl(args.out, prompts)
    write_json(args.metrics, metrics)


def model_metrics(answers: list[dict], weights: dict, n_boot: int, seed: int) -> dict:
    words = [word_count(a["text"]) for a in answers]
    tokens = [a["n_tokens"] for a in answers]
    out = {c: summarise([a["scores"][c] for a in answers], n_boot, seed) for c in CRITERION_KEYS}
    out["reward"] = summarise([weighted_reward(a["scores"], weights) for a in answers], n_boot, seed)
    out["words_median"] = summarise(words, n_boot, seed, np.median)
    out["words_p90"] = summarise(words, n_boot, seed, p90)
    out["tokens_median"] = summarise(tokens, n_boot, seed, np.median)
    out["tokens_p90"] = summarise(tokens, n_boot, seed, p90)
    out["truncated_share"] = round(float(np.mean([a["truncated"] for a in answers])), 4)
    out["empty_share"] = round(float(np.mean([not a["text"].strip() for a in answers])), 4)
    out["non_russian_share"] = round(float(np.mean([bool(a["text"].strip()) and not is_russian(a["text"]) for a in answers])), 4)
    return out


if __name__ == "__main__":
    main()

"""Stage evaluate: base vs SFT vs DPO on held-out Russian prompts, all judged by one fixed judge (the base model).

    python -m stages.evaluate --base models/base --sft models/sft --dpo models/dpo --prepared data/prepared \
        --out data/eval/answers.jsonl --metrics metrics/eval.json
"""

import logging
import random
from pathlib import Path

import numpy as np

from ru_selfalign.chat import prompt_text
from ru_selfalign.evaluation import (MODELS, held_out_test_prompts, is_russian, length_controlled_win_rate, load_prompt_file,
                                     p90, summarise, two_order_outcomes, word_count)
from ru_selfalign.generation import answers_per_model
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.judge import prefer_first, score_expected
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.rubric import CRITERION_KEYS, weighted_reward
from ru_selfalign.runtime import start_stage

log = logging.getLogger("evaluate")


def main() -> None:
    args, params = start_stage("evaluate", __doc__, ("base", "sft", "dpo", "prepared", "out", "metrics"))
    cfg = params.evaluate
    prompts = []
    if cfg.test_split:
        prepared = Path(args.prepared)
        prompts += held_out_test_prompts(read_jsonl(prepared / "prompts_test.jsonl"), read_jsonl(prepared / "test.jsonl"))
    for spec in cfg.prompt_file_specs:
        prompts += load_prompt_file(spec)
    if len(prompts) > cfg.max_prompts:
        prompts = random.Random(params.seed).sample(prompts, cfg.max_prompts)
    log.info("evaluating on %d prompts", len(prompts))

    tokenizer = load_tokenizer(args.base)
    texts = [prompt_text(tokenizer, p["messages"]) for p in prompts]
    answers = answers_per_model(args.base, dict(zip(MODELS, (None, args.sft, args.dpo))), tokenizer, texts, cfg.sampling,
                                cfg.batch_size)
    for name in MODELS:
        for p, answer in zip(prompts, answers[name]):
            p[name] = answer

    judge = load_model(args.base)  # one fixed judge for all three, so their scores are comparable
    for name in MODELS:
        verdicts = score_expected(judge, tokenizer, [(p["messages"], p[name]["text"]) for p in prompts], cfg.batch_size,
                                  desc=f"judge:{name}")
        for p, v in zip(prompts, verdicts):
            p[name]["scores"] = v["scores"]
    metrics = {name: model_metrics([p[name] for p in prompts], params.pairs.weights, cfg.bootstrap, params.seed)
               for name in MODELS}
    metrics["prompts"] = len(prompts)
    metrics["win_rate"] = {}
    for item in cfg.comparisons:
        x, _, y = item.partition("_vs_")
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

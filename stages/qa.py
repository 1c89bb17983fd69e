"""Stage qa: extractive Russian QA (SberQUAD layout) for base, SFT and the last round's DPO model ("dpo"): exact
match and token F1 with CIs, and the paired deltas of the last round against SFT and base — does brevity cost facts?

    python -m stages.qa --base models/base --sft models/sft --dpo models/dpo --out data/eval/qa_answers.jsonl \
        --metrics metrics/qa.json
"""

import gc
import random

import numpy as np

from ru_selfalign.chat import prompt_text
from ru_selfalign.evaluation import summarise, word_count
from ru_selfalign.generation import generate
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.paired import paired_delta
from ru_selfalign.qa import exact_match, load_qa_items, qa_messages, token_f1
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("qa", __doc__, ("base", "sft", "dpo", "out", "metrics"))
    cfg, seed = params.qa, params.evaluate.seed
    boot = {"n_resamples": cfg.bootstrap, "seed": seed}
    if cfg.source == "hub":
        import datasets

        rows = [dict(r) for r in datasets.load_dataset(cfg.hub_id, split=cfg.hub_split)]
    else:
        rows = read_jsonl(cfg.path)
    items = load_qa_items(rows, cfg.path if cfg.source == "local" else cfg.hub_id)
    if len(items) > cfg.max_items:
        items = sorted(random.Random(seed).sample(items, cfg.max_items), key=lambda r: str(r["id"]))
    tokenizer = load_tokenizer(args.base)
    prompts = [prompt_text(tokenizer, qa_messages(item)) for item in items]
    metrics, scores = {"items": len(items)}, {}
    for name, adapter in {"base": None, "sft": args.sft, "dpo": params.final_adapter(args.dpo)}.items():
        model = load_model(args.base, adapter, quantize=cfg.quantize)
        answers = [a for (a,) in generate(model, tokenizer, prompts, cfg.sampling, cfg.batch_size, desc=f"qa:{name}")]
        del model
        gc.collect()  # one 0.5B model in memory at a time
        for item, answer in zip(items, answers):
            item[name] = answer["text"]
        scores[name] = {"exact_match": [exact_match(a["text"], i["answers"]["text"]) for i, a in zip(items, answers)],
                        "token_f1": [token_f1(a["text"], i["answers"]["text"]) for i, a in zip(items, answers)]}
        metrics[name] = {**{k: summarise(v, **boot) for k, v in scores[name].items()},
                         "words_mean": round(float(np.mean([word_count(a["text"]) for a in answers])), 2),
                         "truncated_share": round(float(np.mean([a["truncated"] for a in answers])), 4)}
    for other in ("sft", "base"):
        metrics[f"dpo_vs_{other}"] = {k: paired_delta(scores["dpo"][k], scores[other][k], **boot) for k in scores["dpo"]}
    # fixed names beside eval.json's final.*, for sweep tables
    metrics["final"] = {f"{short}_delta_vs_sft": {k: metrics["dpo_vs_sft"][key][k] for k in ("value", "ci_low", "ci_high")}
                        for short, key in (("em", "exact_match"), ("f1", "token_f1"))}
    write_jsonl(args.out, items)
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    main()

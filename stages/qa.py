"""Stage qa: extractive Russian QA (SberQUAD layout) for base, SFT and the last round's DPO model ("dpo"): exact
match and token F1 with CIs.

    python -m stages.qa --base models/base --sft models/sft --dpo models/dpo --out data/eval/qa_answers.jsonl \
        --metrics metrics/qa.json
"""

import random

from ru_selfalign.chat import prompt_text
from ru_selfalign.evaluation import summarise, word_count
from ru_selfalign.generation import answers_per_model
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.models import load_tokenizer
from ru_selfalign.qa import exact_match, load_qa_items, qa_messages, token_f1
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("qa", __doc__, ("base", "sft", "dpo", "out", "metrics"))
    cfg = params.qa
    if cfg.source == "hub":
        import datasets

        rows = [dict(r) for r in datasets.load_dataset(cfg.hub_id, split=cfg.hub_split)]
    else:
        rows = read_jsonl(cfg.path)
    items = load_qa_items(rows, cfg.path if cfg.source == "local" else cfg.hub_id)
    if len(items) > cfg.max_items:
        items = sorted(random.Random(params.seed).sample(items, cfg.max_items), key=lambda r: str(r["id"]))
    tokenizer = load_tokenizer(args.base)
    prompts = [prompt_text(tokenizer, qa_messages(item)) for item in items]
    metrics = {"items": len(items)}
    adapters = {"base": None, "sft": args.sft, "dpo": f"{args.dpo}/{params.final_round.key}"}
    answers = answers_per_model(args.base, adapters, tokenizer, prompts, cfg.sampling, cfg.batch_size)
    for name in adapters:
        em, f1, words = [], [], []
        for item, answer in zip(items, answers[name]):
            item[name] = answer["text"]
            em.append(exact_match(answer["text"], item["answers"]["text"]))
            f1.append(token_f1(answer["text"], item["answers"]["text"]))
            words.append(word_count(answer["text"]))
        metrics[name] = {"exact_match": summarise(em, cfg.bootstrap, params.seed),
                         "token_f1": summarise(f1, cfg.bootstrap, params.seed),
                         "words_mean": round(sum(words) / len(words), 2)}
    write_jsonl(args.out, items)
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    main()

"""Stage answer@<model>: one model answers the held-out Russian prompts (evaluate.sampling) and one fixed judge, the
base model, scores every answer on the five criteria, so all models' scores are comparable. One stage per model, so
a sweep that changes the rounds reuses the base and SFT answers from DVC's cache. Seeded by evaluate.seed, not
base.seed: a training-seed sweep keeps the same prompts.

    python -m stages.answer --name sft --base models/base --model models/sft --prepared data/prepared \
        --out data/eval/by_model/sft.jsonl
"""

import gc
import logging

from transformers import set_seed

from ru_selfalign.chat import prompt_text
from ru_selfalign.evaluation import eval_prompts
from ru_selfalign.generation import generate
from ru_selfalign.io import write_jsonl
from ru_selfalign.judge import score_expected
from ru_selfalign.models import has_adapter, load_model, load_tokenizer
from ru_selfalign.runtime import start_stage

log = logging.getLogger("answer")


def main() -> None:
    args, params = start_stage("answer", __doc__, ("name", "base", "model", "prepared", "out"))
    cfg = params.evaluate
    set_seed(cfg.seed)
    prompts = eval_prompts(cfg, args.prepared, cfg.seed)
    log.info("%s answers %d held-out prompts", args.name, len(prompts))
    tokenizer = load_tokenizer(args.base)
    model = load_model(args.base, args.model, quantize=cfg.quantize)
    answers = generate(model, tokenizer, [prompt_text(tokenizer, p["messages"]) for p in prompts], cfg.sampling,
                       cfg.batch_size, desc=f"answer:{args.name}")
    if has_adapter(args.model):
        del model
        gc.collect()  # two 0.5B models in fp32 need not sit in memory together
        model = load_model(args.base, quantize=cfg.quantize)
    # judged in the self-judge's batches: scoring repeats each answer's KV cache once per criterion, which at the
    # decoding batch of 32 and 384-token answers held 3+ GB
    verdicts = score_expected(model, tokenizer, [(p["messages"], a["text"]) for p, (a,) in zip(prompts, answers)],
                              params.judge.batch_size, desc=f"judge:{args.name}")
    write_jsonl(args.out, [{**p, "answer": {**a, "scores": v["scores"]}} for p, (a,), v in zip(prompts, answers, verdicts)])


if __name__ == "__main__":
    main()

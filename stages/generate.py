"""Stage generate: the SFT model samples generate.n candidate answers per training prompt, batched.

    python -m stages.generate --base models/base --adapter models/sft --prepared data/prepared \
        --out data/generated/candidates.jsonl --metrics metrics/generate.json
"""

import logging
import random
import time
from pathlib import Path

from ru_selfalign.chat import prompt_text
from ru_selfalign.generation import generate
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage
from ru_selfalign.vllm_engine import generate_vllm

log = logging.getLogger("generate")


def main() -> None:
    args, params = start_stage("generate", __doc__, ("base", "adapter", "prepared", "out", "metrics"))
    cfg = params.generate
    prompts = read_jsonl(Path(args.prepared) / "prompts_train.jsonl")
    prompts = sorted(random.Random(params.seed).sample(prompts, min(cfg.num_prompts, len(prompts))), key=lambda p: p["prompt_id"])
    tokenizer = load_tokenizer(args.base)
    texts = [prompt_text(tokenizer, p["messages"]) for p in prompts]
    start = time.perf_counter()
    if cfg.engine == "vllm":
        outputs = generate_vllm(args.base, args.adapter, texts, cfg.sampling, cfg.n, params.seed)
    else:
        outputs = generate(load_model(args.base, args.adapter), tokenizer, texts, cfg.sampling, cfg.batch_size, n=cfg.n)
    seconds = time.perf_counter() - start
    rows = [{"prompt_id": p["prompt_id"], "messages": p["messages"], "candidates": cands} for p, cands in zip(prompts, outputs)]
    write_jsonl(args.out, rows)
    cands = [c for r in rows for c in r["candidates"]]
    tokens = sum(c["n_tokens"] for c in cands)
    write_json(args.metrics, {
        "prompts": len(rows), "candidates": len(cands),
        "mean_tokens": round(tokens / len(cands), 2),
        "truncated_share": round(sum(c["truncated"] for c in cands) / len(cands), 4),
        "distinct_share": round(sum(len({c["text"] for c in r["candidates"]}) for r in rows) / len(cands), 4),
    })
    # Timings go to the log, not the metrics: metrics must be identical for identical params.
    log.info("%d tokens in %.1f s (%.2f tokens/s)", tokens, seconds, tokens / seconds)


if __name__ == "__main__":
    main()

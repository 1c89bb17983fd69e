"""Stage generate@<round>: the round's starting model samples generate.n candidate answers per train prompt, batched.

    python -m stages.generate --round r1 --base models/base --adapter models/sft --prepared data/prepared \
        --out data/rounds/r1/candidates.jsonl --metrics metrics/rounds/r1/generate.json
"""

import logging
import time
from pathlib import Path

from ru_selfalign.chat import prompt_text
from ru_selfalign.generation import generate, round_prompts
from ru_selfalign.io import read_jsonl, write_json, write_jsonl
from ru_selfalign.models import load_model, load_tokenizer
from ru_selfalign.runtime import start_stage
from ru_selfalign.vllm_engine import generate_vllm

log = logging.getLogger("generate")


def main() -> None:
    args, params = start_stage("generate", __doc__, ("round", "base", "adapter", "prepared", "out", "metrics"))
    rnd = params.round(args.round)
    cfg = rnd.generate
    prompts = round_prompts(read_jsonl(Path(args.prepared) / "prompts_train.jsonl"), cfg.num_prompts, rnd.prompt_block,
                            cfg.round_prompts, params.seed, rnd.key)
    log.info("round %s: %d prompts, %d candidates each, from %s", rnd.key, len(prompts), cfg.n, args.adapter)
    tokenizer = load_tokenizer(args.base)
    texts = [prompt_text(tokenizer, p["messages"]) for p in prompts]
    start = time.perf_counter()
    if cfg.engine == "vllm":
        outputs = generate_vllm(args.base, args.adapter, texts, cfg.sampling, cfg.n, params.seed)
    else:
        outputs = generate(load_model(args.base, args.adapter, quantize=cfg.quantize), tokenizer, texts, cfg.sampling, cfg.batch_size, n=cfg.n)
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

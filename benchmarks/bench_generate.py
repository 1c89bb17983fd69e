"""Generation throughput: batched sampling (all candidates of several prompts per pass) vs one answer at a time.

    python benchmarks/bench_generate.py --base models/base --adapter models/sft --prompts data/prepared/prompts_train.jsonl
"""

import argparse
import time

import torch
from common import save

from ru_selfalign.chat import prompt_text
from ru_selfalign.generation import generate
from ru_selfalign.io import read_jsonl
from ru_selfalign.models import load_model, load_tokenizer, configure_cpu


def tokens_per_s(model, tok, prompts, sampling, batch_size, n):
    """Batch 1 is one answer at a time (each prompt n times); larger batches hold all n samples of several prompts."""
    torch.manual_seed(0)
    start = time.perf_counter()
    if batch_size == 1:
        out = generate(model, tok, [p for p in prompts for _ in range(n)], sampling, 1, desc="one at a time")
    else:
        out = generate(model, tok, prompts, sampling, batch_size, n=n, desc=f"batch {batch_size}")
    seconds = time.perf_counter() - start
    return sum(a["n_tokens"] for cands in out for a in cands) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/sft")
    parser.add_argument("--prompts", default="data/prepared/prompts_train.jsonl")
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()
    configure_cpu()
    tok, model = load_tokenizer(args.base), load_model(args.base, args.adapter)
    prompts = [prompt_text(tok, p["messages"]) for p in read_jsonl(args.prompts)[: args.num_prompts]]
    # min_new_tokens = max_new_tokens: every run decodes the same number of tokens, so rates compare fairly
    sampling = {"do_sample": True, "temperature": 0.9, "top_p": 0.95, "max_new_tokens": args.max_new_tokens,
                "min_new_tokens": args.max_new_tokens}
    rates = {b: tokens_per_s(model, tok, prompts, sampling, b, args.n) for b in args.batch_sizes}
    base = rates[min(rates)]
    for b, r in rates.items():
        print(f"batch {b:>3}: {r:6.1f} tokens/s  ({r / base:.2f}x vs batch {min(rates)}; target >= 5x)")
    save("generate", {"prompts": len(prompts), "n": args.n, "max_new_tokens": args.max_new_tokens,
                      "tokens_per_s": {str(b): round(r, 2) for b, r in rates.items()},
                      "speedup_vs_batch_1": {str(b): round(r / base, 2) for b, r in rates.items()}})


if __name__ == "__main__":
    main()

"""Scaling: time of generation and of the expected-score judge at 1x, 2x, 4x the work, and the fitted exponent
(slope of log time on log size; 1.0 = linear, the target is <= 1.1).

    python benchmarks/bench_scaling.py --base models/base --adapter models/sft --prompts data/prepared/prompts_train.jsonl
"""

import argparse
import itertools
import time

import numpy as np
import torch
from common import save
from scipy import stats

from ru_selfalign.chat import prompt_text
from ru_selfalign.generation import generate
from ru_selfalign.io import read_jsonl
from ru_selfalign.judge import score_expected
from ru_selfalign.models import configure_cpu, load_model, load_tokenizer


def exponent(sizes: list[int], seconds: list[float]) -> float:
    return float(stats.linregress(np.log(sizes), np.log(seconds)).slope)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/sft")
    parser.add_argument("--prompts", default="data/prepared/prompts_train.jsonl")
    parser.add_argument("--candidates", default="data/rounds/r1/candidates.jsonl")
    parser.add_argument("--unit-prompts", type=int, default=4, help="prompts at 1x (each with -n candidates)")
    parser.add_argument("--unit-answers", type=int, default=8, help="judged answers at 1x")
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="generation: sequences per pass (generate.batch_size)")
    parser.add_argument("--judge-batch-size", type=int, default=8, help="answers per judge batch (judge.batch_size)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    configure_cpu()
    tok, model = load_tokenizer(args.base), load_model(args.base, args.adapter)
    prompts = [prompt_text(tok, p["messages"]) for p in read_jsonl(args.prompts)]
    rows = read_jsonl(args.candidates)
    answers = [(r["messages"], c["text"]) for r in rows for c in r["candidates"]]
    # fixed length: every run decodes the same number of tokens per answer, so only the amount of work varies
    sampling = {"do_sample": True, "temperature": 0.7, "max_new_tokens": args.max_new_tokens,
                "min_new_tokens": args.max_new_tokens}
    factors, result = (1, 2, 4), {}
    for name in ("generate", "judge"):
        sizes, seconds = [], []
        for k in factors:
            torch.manual_seed(0)
            start = time.perf_counter()
            if name == "generate":
                size = args.unit_prompts * k
                generate(model, tok, list(itertools.islice(itertools.cycle(prompts), size)), sampling, args.batch_size,
                         n=args.n, desc=f"generate {k}x")
            else:
                size = args.unit_answers * k
                score_expected(model, tok, list(itertools.islice(itertools.cycle(answers), size)), args.judge_batch_size,
                               desc=f"judge {k}x")
            sizes.append(size)
            seconds.append(time.perf_counter() - start)
        slope = exponent(sizes, seconds)
        result[name] = {"sizes": sizes, "seconds": [round(s, 2) for s in seconds], "exponent": round(slope, 3)}
        print(f"{name}: " + ", ".join(f"{s} items {t:.1f} s" for s, t in zip(sizes, seconds))
              + f" -> exponent {slope:.2f} (target <= 1.1)")
    save("scaling", {"n": args.n, "batch_size": args.batch_size, "judge_batch_size": args.judge_batch_size, "max_new_tokens": args.max_new_tokens, **result})


if __name__ == "__main__":
    main()

"""Judge speed: ``expected`` (batched, shared-prefix score reading) vs ``generate`` (written verdict), same candidates.

    python benchmarks/bench_judge.py --base models/base --adapter models/sft --candidates data/rounds/r1/candidates.jsonl -n 16
"""

import argparse
import itertools
import time

from common import save

from ru_selfalign.io import read_jsonl
from ru_selfalign.judge import score_expected, score_generated
from ru_selfalign.models import load_model, load_tokenizer, configure_cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/sft")
    parser.add_argument("--candidates", default="data/rounds/r1/candidates.jsonl")
    parser.add_argument("-n", type=int, default=16, help="candidates to judge")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    configure_cpu()
    rows = read_jsonl(args.candidates)
    items = list(itertools.islice(((r["messages"], c["text"]) for r in rows for c in r["candidates"]), args.n))
    tok, model = load_tokenizer(args.base), load_model(args.base, args.adapter)
    start = time.perf_counter()
    score_expected(model, tok, items, args.batch_size)
    expected_s = (time.perf_counter() - start) / len(items)
    start = time.perf_counter()
    written = score_generated(model, tok, items, args.batch_size, args.max_new_tokens)
    generate_s = (time.perf_counter() - start) / len(items)
    unreadable = sum(bool(v["missing"]) for v in written)
    print(f"expected: {expected_s:.2f} s/candidate; generate: {generate_s:.2f} s/candidate "
          f"(batch {args.batch_size}, {unreadable}/{len(items)} unreadable); ratio {generate_s / expected_s:.2f}x")
    save("judge", {"candidates": len(items), "expected_s_per_candidate": round(expected_s, 3),
                   "generate_s_per_candidate": round(generate_s, 3), "speedup": round(generate_s / expected_s, 2),
                   "generate_unreadable": unreadable, "batch_size": args.batch_size})


if __name__ == "__main__":
    main()

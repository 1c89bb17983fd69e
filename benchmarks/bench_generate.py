"""Generation side by side on the same prompts, to EOS under a cap: (a) the old path, transformers' ``model.generate``
in fp32 batches held to their longest answer; (b) our decode loop in fp32 (prefill once per prompt, finished rows
leave, next prompts take their place); (c) the same loop with int8 weights. Greedy, and sampled n=4 candidates.

    python benchmarks/bench_generate.py    # the default pipeline's settings: SFT model, batch 32, caps 384 / 192
"""

import argparse
import gc
import os
import statistics
import time

import torch
from common import save

from ru_selfalign.chat import prompt_text
from ru_selfalign.generation import _answer, _stop_ids, generate
from ru_selfalign.io import read_jsonl
from ru_selfalign.models import INT8_KEEP_FLOAT, configure_cpu, load_model, load_tokenizer


def old_generate(model, tok, prompts, sampling, batch_size, n=1):
    """The previous ``generate`` body: left-padded batches by length, ``num_return_sequences``, every row decoded
    until the batch's longest answer ends."""
    per_batch = max(1, batch_size // n)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    results, stop_ids = [None] * len(prompts), _stop_ids(model, tok)
    with torch.inference_mode():
        for start in range(0, len(order), per_batch):
            idx = order[start:start + per_batch]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(**enc, **sampling, num_return_sequences=n, pad_token_id=tok.pad_token_id)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            for j, i in enumerate(idx):
                results[i] = [_answer(tok, new[j * n + k], stop_ids, sampling["max_new_tokens"]) for k in range(n)]
    return results


def timed(run, model, tok, prompts, sampling, batch_size, n):
    torch.manual_seed(0)
    start = time.perf_counter()
    out = run(model, tok, prompts, sampling, batch_size, n=n)
    seconds = time.perf_counter() - start
    answers = [a for cands in out for a in cands]
    tokens = sum(a["n_tokens"] for a in answers)
    return out, {"wall_s": round(seconds, 1), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
                 "hit_cap": round(sum(a["truncated"] for a in answers) / len(answers), 3),
                 "median_answer_tokens": statistics.median(a["n_tokens"] for a in answers)}


def same_share(first, second) -> float:
    """Share of prompts whose answers (all candidates) are identical in both runs."""
    return round(sum(a == b for a, b in zip(first, second)) / len(first), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/sft", help="as generate@r1 (round 1 starts from SFT)")
    parser.add_argument("--prompts", default="data/prompts/heldout_ru.jsonl")
    parser.add_argument("--num-prompts", type=int, default=32, help="greedy setting")
    parser.add_argument("--sampled-prompts", type=int, default=16, help="sampled setting (x n candidates); 0 skips it")
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32, help="generate.batch_size and evaluate.batch_size")
    parser.add_argument("--max-new-tokens", type=int, default=384, help="evaluate.sampling")
    parser.add_argument("--sampled-max-new-tokens", type=int, default=192, help="generate.sampling")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: configure_cpu's, all cores)")
    args = parser.parse_args()
    configure_cpu()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]  # other work on the cores skews every rate here; recorded with the result
    tok = load_tokenizer(args.base)
    rows = read_jsonl(args.prompts)
    texts = [prompt_text(tok, r.get("messages") or [{"role": "user", "content": r["prompt"]}]) for r in rows]
    # evaluate.sampling and generate.sampling of params.yaml, with a cap high enough for answers to end by themselves
    settings = {
        "greedy": (texts[:args.num_prompts], 1, {"do_sample": False, "max_new_tokens": args.max_new_tokens,
                                                 "repetition_penalty": 1.1}),
        f"sampled_n{args.n}": (texts[:args.sampled_prompts], args.n,
                               {"do_sample": True, "temperature": 0.7, "top_p": 0.9,
                                "max_new_tokens": args.sampled_max_new_tokens,
                                "repetition_penalty": 1.1}),
    }
    settings = {k: v for k, v in settings.items() if v[0]}
    result, outputs = {name: {} for name in settings}, {name: {} for name in settings}
    fp32 = load_model(args.base, args.adapter)
    int8 = load_model(args.base, args.adapter, quantize="int8")
    paths = {"a_hf_generate_fp32": (old_generate, fp32), "b_loop_fp32": (generate, fp32), "c_loop_int8": (generate, int8)}
    for name, (prompts, n, sampling) in settings.items():
        for path, (run, model) in paths.items():
            outputs[name][path], result[name][path] = timed(run, model, tok, prompts, sampling, args.batch_size, n)
            print(name, path, result[name][path], flush=True)
            gc.collect()
        base = result[name]["a_hf_generate_fp32"]
        for path in ("b_loop_fp32", "c_loop_int8"):
            r = result[name][path]
            r["tokens_per_s_vs_a"] = round(r["tokens_per_s"] / base["tokens_per_s"], 2)
            r["wall_s_a_over_this"] = round(base["wall_s"] / r["wall_s"], 2)
        result[name]["prompts"], result[name]["n"], result[name]["sampling"] = len(prompts), n, sampling
    greedy = outputs.get("greedy")
    if greedy:
        prompts, n, sampling = settings["greedy"]
        again, _ = timed(generate, int8, tok, prompts, sampling, args.batch_size, n)
        result["greedy"]["identical_answers"] = {"b_vs_a": same_share(greedy["b_loop_fp32"], greedy["a_hf_generate_fp32"]),
                                                 "c_vs_b": same_share(greedy["c_loop_int8"], greedy["b_loop_fp32"]),
                                                 "c_run_twice": same_share(again, greedy["c_loop_int8"])}
    for name in settings:
        for path in ("b_loop_fp32", "c_loop_int8"):
            r = result[name][path]
            print(f"{name:>11} {path}: {r['tokens_per_s']:6.1f} tok/s ({r['tokens_per_s_vs_a']:.2f}x tok/s of a, "
                  f"{r['wall_s_a_over_this']:.2f}x faster wall) vs a: {result[name]['a_hf_generate_fp32']['tokens_per_s']:.1f} tok/s")
    if greedy:
        print("identical greedy answers:", result["greedy"]["identical_answers"])
    save("generate", {"base": args.base, "adapter": args.adapter, "batch_size": args.batch_size,
                      "int8_keep_float": list(INT8_KEEP_FLOAT),
                      "load_avg_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
                      **result})


if __name__ == "__main__":
    main()

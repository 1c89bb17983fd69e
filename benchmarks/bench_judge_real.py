"""Judge variants against real human rankings (issue #15): every variant on the same sibling pairs of an oasst export,
pairwise accuracy raw and with length taken out (cluster bootstrap over prompts), and cost per reply.

    python benchmarks/bench_judge_real.py --data ../shared/data/oasst_en_100_tree.jsonl --lang en --max-replies 300

The judge is models/sft where it exists, else the base model; int8 on CPU. The gpu preset's larger judge, on a GPU:

    python -m ru_selfalign.presets apply gpu && dvc repro base_model && python benchmarks/bench_judge_real.py \
        --data oasst_en_100_tree.jsonl --lang en --quantize none --batch-size 32 --max-replies 10000 --name judge_real_gpu
"""

import argparse
import time
from pathlib import Path

from common import save

from ru_selfalign.agreement import pair_metrics, ranked_pairs, sample_sibling_groups
from ru_selfalign.config import AgreementParams, load_params
from ru_selfalign.judge_variants import held_out_replies, run_variant
from ru_selfalign.models import configure_cpu, has_adapter, load_model, load_tokenizer

TARGET = {"pairwise_accuracy": 0.65, "length_controlled_ci_low": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="an oasst export with ranked sibling replies")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--adapter", default="models/sft", help="used where it holds an adapter")
    parser.add_argument("--variants", nargs="+", default=list(AgreementParams.VARIANTS), choices=AgreementParams.VARIANTS)
    parser.add_argument("--max-replies", type=int, default=10_000, help="whole sibling groups, chosen by --seed")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--quantize", choices=("int8", "none"), default="int8")
    parser.add_argument("--name", default="judge_real", help="results file: benchmarks/results/<name>.json")
    parser.add_argument("--no-save", action="store_true", help="print only (cost estimates)")
    args = parser.parse_args()
    configure_cpu()
    params = load_params()
    cfg = AgreementParams(source="export", path=args.data, lang=args.lang)
    available = held_out_replies(cfg, params.prepare, prepared_dir=".")
    rows = sample_sibling_groups(available, args.max_replies, args.seed)
    pairs = ranked_pairs(rows)
    measured = {"replies": len(rows), "groups": len({r["prompt_id"] for r in rows}), "pairs": len(pairs),
                "of_replies": len(available), "of_groups": len({r["prompt_id"] for r in available}),
                "of_pairs": len(ranked_pairs(available)), "seed": args.seed}
    print(f"measuring {measured}")
    adapter = args.adapter if has_adapter(args.adapter) else None
    tokenizer = load_tokenizer(args.base)
    model = load_model(args.base, adapter, quantize=None if args.quantize == "none" else args.quantize)
    cache, variants = {}, {}
    for name in args.variants:
        start = time.perf_counter()
        run = run_variant(name, model, tokenizer, rows, pairs, params.pairs.weights, args.batch_size, cache)
        wall = time.perf_counter() - start
        variants[name] = {**pair_metrics(pairs, run.margins, args.bootstrap, args.seed),
                          "s_per_reply": round(run.seconds / len(rows), 3)}
        acc, lc = variants[name]["pairwise_accuracy"], variants[name]["length_controlled"]
        print(f"{name}: accuracy {acc['value']} [{acc['ci_low']}, {acc['ci_high']}] n={acc['n']}; near-equal length "
              f"{lc['value']} [{lc['ci_low']}, {lc['ci_high']}] n={lc['n']}; judge coef {lc['logistic']['judge_coef']} "
              f"[{lc['logistic']['ci_low']}, {lc['logistic']['ci_high']}]; {variants[name]['s_per_reply']} s/reply "
              f"({wall:.0f} s here)", flush=True)
        if not args.no_save:  # after every variant: a long run that stops keeps what it measured
            save(args.name, {"data": Path(args.data).name, "lang": args.lang,
                             "judge": {"base": args.base, "adapter": adapter, "quantize": args.quantize},
                             "measured": measured, "bootstrap": {"resamples": args.bootstrap, "cluster": "prompt"},
                             "complete": len(variants) == len(args.variants), **summary(variants)})


def summary(variants: dict) -> dict:
    """Length baselines (the same for every variant: same pairs), the figures, the best variant (highest
    length-controlled agreement, then the cheaper) and which variants meet the target."""
    best = max(variants, key=lambda v: (variants[v]["length_controlled"]["value"] or 0, -variants[v]["s_per_reply"]))
    meets = [v for v, f in variants.items() if (f["pairwise_accuracy"]["value"] or 0) >= TARGET["pairwise_accuracy"]
             and (f["length_controlled"]["ci_low"] or 0) > TARGET["length_controlled_ci_low"]]
    print(f"best so far: {best}; meeting the target {TARGET}: {meets or 'none'}")
    first = next(iter(variants.values()))["length_controlled"]
    return {"length_baselines": {k: first[k] for k in ("longer_is_better", "shorter_is_better")}, "variants": variants,
            "default_variant": "rubric", "best_variant": best, "target": {**TARGET, "met_by": meets}}

if __name__ == "__main__":
    main()

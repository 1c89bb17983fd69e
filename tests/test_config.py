import copy
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from ru_selfalign.config import ConfigError, deep_merge, load_params, parse_params
from ru_selfalign.presets import preset_params


def test_params_yaml_is_valid():
    params = load_params(REPO / "params.yaml")
    assert params.seed == 42 and params.judge.mode == "expected"


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "presets").glob("*.yaml")))
def test_every_preset_is_valid(name):
    parse_params(preset_params(name, REPO / "params.yaml", REPO / "presets"))


def test_deep_merge_replaces_lists_and_merges_mappings():
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 2}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}, "d": 2}


def _with(raw, dotted, value):
    raw = copy.deepcopy(raw)
    *path, last = dotted.split(".")
    node = raw
    for key in path:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize("dotted, value, message", [
    ("sft.lora.rank", 8, r"unknown key sft\.lora\.rank: not a field of LoraConfig"),
    ("sft.trainer.learning_rat", 1e-4, r"unknown key sft\.trainer\.learning_rat"),
    ("sft.trainer.output_dir", "x", r"sft\.trainer\.output_dir is set by the stage itself"),
    ("dpo.trainer.max_prompt_length", 128, r"unknown key dpo\.trainer\.max_prompt_length"),
    ("select.min_quality", "high", r"select\.min_quality must be of type float, got 'high'"),
    ("select.min_quality", 1.5, r"select\.min_quality must be a probability in \[0, 1\], got 1.5"),
    ("prepare.max_label.toxicity", -0.1, r"prepare\.max_label\.toxicity must be a probability"),
    ("prepare.max_label.spicy", 0.5, r"prepare\.max_label: 'spicy' is not allowed"),
    ("prepare.val_fraction", 0.95, r"val_fraction \+ prepare\.test_fraction must be < 1"),
    ("generate.n", 0, r"generate\.n must be > 0"),
    ("generate.sampling.temprature", 0.7, r"unknown key generate\.sampling\.temprature"),
    ("generate.sampling.do_sample", False, r"generate\.sampling\.do_sample must be true"),
    ("judge.mode", "vibes", r"judge\.mode: 'vibes' is not allowed; choose one of expected, generate"),
    ("judge.max_failure_rate", 2, r"judge\.max_failure_rate must be a probability"),
    ("pairs.weights.length", 1.0, r"pairs\.weights: 'length' is not allowed"),
    ("pairs.weights.brevity", _DELETE, r"pairs\.weights is missing \['brevity'\]"),
    ("pairs.min_usefulness", 7, r"pairs\.min_usefulness must be within the rubric scale"),
    ("pairs.min_margin", True, r"pairs\.min_margin must be of type float"),
    ("base_model.source", "torrent", r"base_model\.source: 'torrent' is not allowed"),
    ("data.source", "local", None),
    ("evaluate.comparisons", ["r2_vs_r2"], r"evaluate\.comparisons: 'r2_vs_r2'"),
    ("evaluate.preference", "some", r"evaluate\.preference: 'some' is not allowed; choose one of vs_sft, all, none"),
    ("evaluate.comparisons", ["r3_vs_sft"], r"evaluate\.comparisons: 'r3_vs_sft' must read 'X_vs_Y' with X in base/sft/final/r1/r2"),
    ("dpo.objective", "orpo", r"dpo\.objective: 'orpo' is not allowed; choose one of dpo, simpo"),
    ("dpo.dpo.loss_type", ["sigmoid", "kto"], r"dpo\.dpo\.loss_type: 'kto' is not allowed; choose one of sigmoid, hinge, ipo"),
    ("dpo.dpo.loss_type", ["sigmoid_norm", "sft"], None),
    ("dpo.dpo.loss_type", ["sigmoid"], r"dpo\.dpo\.loss_weights needs one weight per loss_type \(1\)"),
    ("dpo.dpo.ld_alpha", 1.5, r"dpo\.dpo\.ld_alpha must be a probability"),
    ("dpo.dpo.loss_weights", [1.0], r"dpo\.dpo\.loss_weights needs one weight per loss_type \(2\)"),
    ("dpo.dpo.loss_weights", None, None),
    ("dpo.dpo.simpo_gamma", 0.5, r"unknown key dpo\.dpo\.simpo_gamma: not a field of DPOConfig"),
    ("dpo.simpo.loss_type", "ipo", r"dpo\.simpo\.loss_type is always 'simpo'"),
    ("dpo.simpo.cpo_alpha", -1.0, r"dpo\.simpo\.cpo_alpha must be >= 0"),
    ("dpo.simpo.beta", 0, r"dpo\.simpo\.beta must be > 0"),
    ("dpo.trainer.beta", 0.2, r"dpo\.dpo and dpo\.trainer both set \['beta'\]"),
    ("pairs.length_penalty", -0.5, r"pairs\.length_penalty must be >= 0"),
    ("generate.round_prompts", "all", r"generate\.round_prompts: 'all' is not allowed; choose one of fresh, resample"),
    ("iterations.r2.model_in", "models/dpo/r3", r"iterations\.r2\.model_in: 'models/dpo/r3' must be one of \['models/sft', 'models/dpo/r1'\]"),
    ("iterations.r1.model_in", "models/dpo/r2", r"iterations\.r1\.model_in: 'models/dpo/r2' must be one of \['models/sft'\]"),
    ("iterations.r2.model_in", "models/sft", None),
    ("iterations.r2.prompt_block", -1, r"iterations\.r2\.prompt_block must be >= 0"),
    ("iterations.r2.epochs", 3, r"unknown key iterations\.r2\.epochs; allowed: model_in, prompt_block, generate"),
    ("iterations", {}, r"iterations must map round names to rounds"),
    ("iterations.r2", {"model_in": "models/dpo/r1", "prompt_block": 1},
     r"iterations\.r2 lacks generate, judge, pairs, dpo: write each as \{\}"),
    ("iterations.r2.pairs", {"reward": "calibrated"}, r"iterations\.r2\.pairs\.reward: set the reward for all rounds in pairs\.reward"),
    ("evaluate.quantize", "int4", r"evaluate\.quantize: 'int4' is not allowed; choose one of None, int8"),
    ("generate.quantize", "int8", None),
    ("data.split_seed", "7", r"data\.split_seed must be of type int"),
    ("evaluate.prompt_files", [{"path": "x.jsonl", "text_field": ["instruction", "instances.0.input"]}], None),
    ("evaluate.prompt_files", [{"path": "x.jsonl", "text": "prompt"}], r"unknown key evaluate\.prompt_files\[0\]\.text"),
    ("base.seed", "42", r"base\.seed must be an integer"),
    ("sft.enabled", "yes", r"sft\.enabled must be of type bool"),
])
def test_bad_params_are_named(params_raw, dotted, value, message):
    raw = _with(params_raw, dotted, value)
    if message is None:
        parse_params(raw)
    else:
        with pytest.raises(ConfigError, match=message):
            parse_params(raw)


def test_missing_section_and_unknown_section(params_raw):
    raw = copy.deepcopy(params_raw)
    del raw["pairs"]
    with pytest.raises(ConfigError, match="section 'pairs' is missing"):
        parse_params(raw)
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['pair'\]"):
        parse_params({**params_raw, "pair": {}})


def test_local_source_needs_a_path(params_raw):
    with pytest.raises(ConfigError, match=r"data\.path must name an oasst export"):
        parse_params(_with(params_raw, "data.path", None))


def test_params_yaml_round_trips_through_yaml(params_raw):
    assert parse_params(yaml.safe_load(yaml.safe_dump(params_raw))).seed == params_raw["base"]["seed"]


def test_launch_must_end_with_the_module_flag(params_raw):
    raw = copy.deepcopy(params_raw)
    raw["launch"] = {"train": "accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m"}
    assert parse_params(raw).launch.train.startswith("accelerate")
    raw["launch"] = {"train": "accelerate launch --config_file configs/accelerate/multi_gpu.yaml"}
    with pytest.raises(ConfigError, match=r"launch\.train must end with '-m'"):
        parse_params(raw)


def test_a_round_overrides_shared_sections_for_itself_only(params_raw):
    raw = copy.deepcopy(params_raw)
    raw["iterations"]["r2"]["dpo"] = {"objective": "simpo", "simpo": {"beta": 2.5}}
    raw["iterations"]["r2"]["generate"] = {"sampling": {"temperature": 0.5}}
    params = parse_params(raw)
    r1, r2 = params.round("r1"), params.round("r2")
    assert (r1.dpo.objective, r2.dpo.objective, r2.dpo.simpo["beta"], r2.dpo.simpo["simpo_gamma"]) == ("dpo", "simpo", 2.5, 1.0)
    assert r2.generate.sampling["temperature"] == 0.5 and r2.generate.sampling["top_p"] == r1.generate.sampling["top_p"]
    assert r2.dpo.trainer == r1.dpo.trainer == params.dpo.trainer and (r1.index, r2.index, r2.prompt_block) == (0, 1, 1)
    assert params.model_names == ["base", "sft", "r1", "r2"] and params.final_round is r2
    assert params.comparisons() == ["r1_vs_sft", "r2_vs_sft", "final_vs_base", "final_vs_reference"]
    judged = {mode: [c for c in params.comparisons() if parse_params({**raw, "evaluate": {**raw["evaluate"], "preference": mode}})
                     .evaluate.wants_preference(c)] for mode in ("vs_sft", "all", "none")}
    assert judged == {"vs_sft": ["r1_vs_sft", "r2_vs_sft"], "all": params.comparisons(), "none": []}
    raw["iterations"]["r2"]["dpo"] = {"dpo": {"betta": 0.2}}
    with pytest.raises(ConfigError, match=r"unknown key iterations\.r2\.dpo\.dpo\.betta: not a field of DPOConfig"):
        parse_params(raw)
    with pytest.raises(ConfigError, match="iterations has no round 'r9'"):
        params.round("r9")


@pytest.mark.parametrize("name", ["final", "sft", "2", "r 1"])
def test_round_names_that_would_clash_or_break_paths(params_raw, name):
    raw = copy.deepcopy(params_raw)
    raw["iterations"] = {name: {"model_in": "models/sft", "generate": {}, "judge": {}, "pairs": {}, "dpo": {}}}
    with pytest.raises(ConfigError, match=r"a round name must be a letter"):
        parse_params(raw)


def test_loss_types_come_from_the_installed_trl():
    from trl import DPOConfig
    from trl.experimental.cpo import CPOConfig

    from ru_selfalign.config import trl_choices

    assert {"sigmoid", "ipo", "sigmoid_norm", "sft"} <= set(trl_choices(DPOConfig, "loss_type"))
    assert "simpo" in trl_choices(CPOConfig, "loss_type")


def test_trl_and_peft_names_are_checked_only_where_asked(params_raw):
    raw = copy.deepcopy(params_raw)
    raw["dpo"]["trainer"]["learning_rat"] = 1e-4
    with pytest.raises(ConfigError, match=r"unknown key dpo\.trainer\.learning_rat: not a field of DPOConfig"):
        parse_params(raw)
    parse_params(raw, libraries=False)  # the dpo stage itself checks them (runtime.LIBRARY_STAGES)


def test_a_stage_without_trl_starts_without_importing_it():
    code = ("import sys; from ru_selfalign.config import load_params; import ru_selfalign.runtime; "
            "load_params('params.yaml', libraries=False); "
            "print(sorted(m for m in ('trl', 'peft', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_evaluate_tracks_every_option_that_changes_its_metrics():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["evaluate"]
    for key in ("evaluate.preference", "evaluate.comparisons", "evaluate.bootstrap", "evaluate.seed", "pairs.weights"):
        assert key in stage["params"], key

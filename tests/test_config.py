import copy

import pytest
import yaml

from conftest import REPO
from ru_selfalign.config import ConfigError, load_params, parse_params
from ru_selfalign.presets import deep_merge, preset_params


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
    ("evaluate.comparisons", ["dpo_vs_dpo"], r"evaluate\.comparisons: 'dpo_vs_dpo'"),
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

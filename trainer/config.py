"""The training configuration: typed, validated, one line of description per setting.

A run is described by one YAML file (or by `hearth train` options, which build the same
thing). A file may name a preset from `resources/presets/`; the preset's values come first and
the file's own values override them. Every setting has bounds where bounds exist, so a typo or
an impossible value is refused before anything loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.resources import presets_dir
from trainer.errors import ConfigError

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers of a transformer block a LoRA can adapt (Hugging Face names)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class DataSettings(_Section):
    """Where the examples come from and how they are prepared."""

    path: Path
    """JSONL, JSON or CSV with instruction/response columns, or chat `messages`."""
    system_prompt: str | None = None
    """A system message put before every example that has none."""
    eval_fraction: float = Field(default=0.1, ge=0.0, le=0.5)
    """Share of the examples held out to measure eval loss (0 = none)."""
    max_eval_examples: int = Field(default=200, ge=1, le=100_000)
    """Upper bound on held-out examples, so evaluation stays quick on large sets."""
    min_chars: int = Field(default=2, ge=0, le=10_000)
    """Pairs whose question or answer is shorter than this (in characters) are dropped."""
    max_chars: int = Field(default=20_000, ge=1, le=1_000_000)
    """Pairs whose question or answer is longer than this (in characters) are dropped."""
    dedupe_threshold: float = Field(default=0.9, ge=0.5, le=1.0)
    """Word-trigram Jaccard similarity at which two pairs count as near-duplicates."""
    grounding_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    """Least cosine similarity between an answer and its source passage (0 = no check)."""
    overlong: Literal["truncate", "drop", "error"] = "truncate"
    """What to do with an example longer than train.max_seq_len tokens."""


class LoraSettings(_Section):
    """The low-rank adapter trained on top of the frozen base model."""

    rank: int = Field(default=16, ge=1, le=512)
    """Rank r of the update matrices; more is more capacity and memory."""
    alpha: float = Field(default=32.0, gt=0.0, le=4096.0)
    """Scale of the update (applied as alpha / rank)."""
    dropout: float = Field(default=0.05, ge=0.0, le=0.5)
    """Dropout on the adapter's input during training."""
    target_modules: tuple[str, ...] = LORA_TARGETS
    """Which linear layers of each block get an adapter."""

    @field_validator("target_modules")
    @classmethod
    def _known_targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in value if m not in LORA_TARGETS]
        if unknown or not value:
            raise ValueError(
                f"unknown target module(s) {unknown}; choose from {', '.join(LORA_TARGETS)}"
            )
        return value


class TrainSettings(_Section):
    """The optimisation: steps, batches, learning rate, evaluation and checkpoints."""

    max_steps: int | None = Field(default=None, ge=1, le=10_000_000)
    """Optimizer steps to run; None: as many as `epochs` passes over the data take."""
    epochs: float = Field(default=3.0, gt=0.0, le=1000.0)
    """Passes over the training examples, when max_steps is not set."""
    batch_size: int = Field(default=1, ge=1, le=1024)
    """Examples per forward pass (per micro-batch)."""
    grad_accum: int = Field(default=8, ge=1, le=4096)
    """Micro-batches whose gradients add up to one optimizer step."""
    learning_rate: float = Field(default=2e-4, gt=0.0, le=1.0)
    """Peak learning rate of AdamW."""
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    """Shape of the learning rate after warm-up."""
    warmup_ratio: float = Field(default=0.03, ge=0.0, le=0.5)
    """Share of the steps over which the learning rate rises from zero."""
    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0)
    """AdamW weight decay on the adapter's weights."""
    max_grad_norm: float = Field(default=1.0, ge=0.0, le=1000.0)
    """Gradients are clipped to this norm (0 = no clipping)."""
    max_seq_len: int = Field(default=1024, ge=16, le=1_048_576)
    """Tokens per example; longer examples follow data.overlong. Capped by the model's context."""
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass: much less memory, about 30% slower."""
    threads: int | None = Field(default=None, ge=1, le=1024)
    """CPU threads torch trains with; None: OMP_NUM_THREADS if set, else one per core."""
    eval_every: int = Field(default=50, ge=0, le=10_000_000)
    """Evaluate every this many steps (0 = only at the end)."""
    save_every: int = Field(default=50, ge=0, le=10_000_000)
    """Save a checkpoint every this many steps (0 = only at the end and on cancel)."""
    keep_checkpoints: int = Field(default=2, ge=1, le=1000)
    """How many of the latest checkpoints to keep."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of the data order, the split and the adapter's initial weights."""


class EvaluateSettings(_Section):
    """What is measured and shown once training ends."""

    answers: int = Field(default=5, ge=0, le=1000)
    """Held-out questions answered by base and adapter side by side (0 = none)."""
    max_answer_tokens: int = Field(default=256, ge=8, le=32_768)
    """Length limit of each of those answers, in tokens."""


class RunConfig(_Section):
    """One fine-tuning run: which model, which data, and how to train."""

    base: str
    """The base model: a name from `hearth models list` or a path to a GGUF file."""
    data: DataSettings
    name: str | None = None
    """Name of the adapted model in Hearth's model list; default: "<base> + <run id>"."""
    preset: str | None = None
    """The preset the settings started from (recorded for reference)."""
    device: Literal["auto", "cuda", "cpu"] = "auto"
    """Where to train; auto: CUDA when a GPU is available."""
    quantization: Literal["auto", "nf4", "none"] = "auto"
    """nf4: 4-bit base weights (QLoRA); none: plain LoRA; auto: nf4 on CUDA, none on a CPU."""
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Compute precision; auto: bf16 (fp16 on older GPUs) on CUDA, fp32 on a CPU."""
    lora: LoraSettings = Field(default_factory=LoraSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)


class Preset(_Section):
    """A shipped starting point sized for an amount of memory."""

    description: str
    """One line for people choosing a preset."""
    device: Literal["cuda", "cpu"]
    """The kind of machine the preset is for."""
    memory_gib: float = Field(gt=0, le=4096)
    """Memory it is sized for: GPU memory for cuda, RAM for cpu."""
    fits: str
    """A reference model size (see trainer.memory.REFERENCE_SHAPES) that fits that memory."""
    settings: dict[str, Any]
    """Run settings (device, quantization, dtype, lora, train, evaluate) it sets."""


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with the settings of `over` on top, nested sections merged key by key.

    The one rule by which a preset, a file, `--set` options and the wizard's choices combine.
    """
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(error: ValidationError, source: str) -> ConfigError:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a known setting; check the spelling"
        lines.append(f"  {where}: {message}{shown}")
    return ConfigError(f"{source} is not a valid training configuration:\n" + "\n".join(lines))


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def load_preset(name: str) -> Preset:
    """Load and validate the preset `name` from resources/presets/."""
    path = presets_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"There is no preset named '{name}'. Presets: {', '.join(preset_names())}."
        )
    raw = _read_yaml(path)
    try:
        preset = Preset.model_validate(raw)
    except ValidationError as error:
        raise _describe(error, f"Preset '{name}'") from None
    unknown = set(preset.settings) - {
        "device",
        "quantization",
        "dtype",
        "lora",
        "train",
        "evaluate",
    }
    if unknown:
        raise ConfigError(f"Preset '{name}' sets {sorted(unknown)}, which presets may not set.")
    return preset


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"Cannot read {path}: {error.strerror or error}.") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of settings (key: value lines).")
    return raw


def parse_override(text: str) -> dict[str, Any]:
    """Turn "train.learning_rate=1e-3" into {"train": {"learning_rate": 0.001}} (YAML values)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"'{text}' is not KEY=VALUE (for example train.max_steps=100).")
    parsed: Any = yaml.safe_load(value) if value.strip() else None
    if isinstance(parsed, str):
        try:
            parsed = float(parsed)  # YAML 1.1 reads "1e-3" as text
        except ValueError:
            pass
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = parsed
    return out


def build_config(
    values: dict[str, Any],
    *,
    source: str = "The configuration",
    relative_to: Path | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> RunConfig:
    """Validate `values` on top of the preset they name (if any), then apply `overrides`.

    A relative data path is taken relative to `relative_to` (the config file's folder).
    """
    merged: dict[str, Any] = {}
    for over in overrides or []:
        merged = merge(merged, over)
    values = merge(values, merged)
    preset_name = values.get("preset")
    if preset_name:
        values = merge(load_preset(str(preset_name)).settings, values)
    data = values.get("data")
    if relative_to is not None and isinstance(data, dict) and data.get("path"):
        path = Path(str(data["path"])).expanduser()
        if not path.is_absolute():
            values = merge(values, {"data": {"path": str((relative_to / path).resolve())}})
    try:
        return RunConfig.model_validate(values)
    except ValidationError as error:
        raise _describe(error, source) from None


def load_config(path: Path, *, overrides: list[dict[str, Any]] | None = None) -> RunConfig:
    """Load a run configuration from YAML, applying its preset and `overrides`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"There is no configuration file {path}.")
    return build_config(
        _read_yaml(path), source=str(path), relative_to=path.parent, overrides=overrides
    )


def dump_config(config: RunConfig) -> str:
    """The configuration as YAML, every setting spelled out, as recorded with each run."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

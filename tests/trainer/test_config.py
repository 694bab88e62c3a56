"""Configuration and presets: every shipped preset validates and fits what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import (
    RunConfig,
    build_config,
    dump_config,
    load_config,
    load_preset,
    parse_override,
    preset_names,
)
from trainer.errors import ConfigError, DoesNotFit
from trainer.memory import GIB, REFERENCE_SHAPES, FitSettings, check_fits, estimate_memory


def _fit_settings(config: RunConfig, device: str) -> FitSettings:
    return FitSettings(
        device=device,
        quantization="nf4"
        if config.quantization in ("nf4", "auto") and device == "cuda"
        else "none",
        dtype_bytes=4 if config.dtype == "fp32" else 2,
        lora_rank=config.lora.rank,
        target_modules=config.lora.target_modules,
        batch_size=config.train.batch_size,
        grad_accum=config.train.grad_accum,
        seq_len=config.train.max_seq_len,
        gradient_checkpointing=config.train.gradient_checkpointing,
    )


def test_presets_are_shipped_for_cpu_and_several_gpu_sizes() -> None:
    names = preset_names()
    assert "cpu" in names
    assert sum(n.startswith("gpu-") for n in names) >= 4


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_validates_and_fits_its_reference_model(name: str, tmp_path: Path) -> None:
    preset = load_preset(name)
    assert preset.description
    config = build_config({"base": "m.gguf", "data": {"path": "d.jsonl"}, "preset": name})
    assert config.preset == name
    assert config.device == preset.device
    shape = REFERENCE_SHAPES[preset.fits]
    settings = _fit_settings(config, preset.device)
    need = estimate_memory(shape, settings).total
    assert need <= preset.memory_gib * GIB * 0.97, (name, need / GIB)
    # The next reference size up does not fit: the preset's promise is a real boundary.
    sizes = list(REFERENCE_SHAPES)
    bigger = sizes.index(preset.fits) + 1
    if bigger < len(sizes):
        assert estimate_memory(REFERENCE_SHAPES[sizes[bigger]], settings).total > need


def test_values_override_the_preset_and_data_path_is_relative_to_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "base: tiny\npreset: cpu\ndata: {path: data/qa.jsonl}\ntrain: {max_seq_len: 128}\n",
        encoding="utf-8",
    )
    config = load_config(cfg, overrides=[parse_override("lora.rank=4")])
    assert config.train.max_seq_len == 128  # file over preset
    assert config.train.grad_accum == load_preset("cpu").settings["train"]["grad_accum"]
    assert config.lora.rank == 4  # override over file
    assert config.data.path == (tmp_path / "data" / "qa.jsonl").resolve()
    # What a run records reads back to the same configuration.
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(config), encoding="utf-8")
    assert load_config(again) == config


def test_override_values_are_yaml() -> None:
    assert parse_override("train.learning_rate=1e-3") == {"train": {"learning_rate": 1e-3}}
    assert parse_override("train.gradient_checkpointing=false") == {
        "train": {"gradient_checkpointing": False}
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.max_steps")


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"train": {"learning_rate": 5}}, "train.learning_rate"),
        ({"train": {"batch_sise": 2}}, "train.batch_sise: is not a known setting"),
        ({"lora": {"target_modules": ["qproj"]}}, "lora.target_modules"),
        ({"lora": {"rank": 0}}, "lora.rank"),
        ({"data": {"path": "d.jsonl", "overlong": "cut"}}, "data.overlong"),
        ({"quantization": "int3"}, "quantization"),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(values: dict, names: str) -> None:
    base = {"base": "m.gguf", "data": {"path": "d.jsonl"}}
    with pytest.raises(ConfigError) as info:
        build_config({**base, **values})
    assert names in str(info.value)


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ConfigError, match="cpu"):
        build_config({"base": "m", "data": {"path": "d"}, "preset": "gpu-3gb"})


def test_a_run_that_cannot_fit_is_refused_with_what_to_change() -> None:
    shape = REFERENCE_SHAPES["8b"]
    settings = FitSettings("cuda", "none", 2, 16, ("q_proj", "v_proj"), 4, 4, 4096, False)
    with pytest.raises(DoesNotFit) as info:
        check_fits(shape, settings, available=10 * GIB)
    message = str(info.value)
    assert "GiB of GPU memory" in message
    assert "quantization: nf4" in message
    assert "train.gradient_checkpointing: true" in message
    # The suggestion really fits.
    ok = FitSettings("cuda", "nf4", 2, 16, ("q_proj", "v_proj"), 1, 16, 4096, True)
    assert "train.batch_size: 1" in message
    assert estimate_memory(shape, ok).total <= 10 * GIB or "max_seq_len" in message


def test_a_model_too_large_for_the_machine_says_so() -> None:
    settings = FitSettings("cpu", "none", 4, 8, ("q_proj",), 1, 8, 512, True)
    with pytest.raises(DoesNotFit, match="too large for this machine"):
        check_fits(REFERENCE_SHAPES["70b"], settings, available=8 * GIB)

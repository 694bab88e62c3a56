"""Reading GGUF headers: models, adapters, and files that are not GGUF at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_gguf import write_tiny_gguf

from engine.errors import ModelError
from engine.llm.gguf_info import check_adapter_fits, read_gguf_info


def test_reads_a_model(tiny_gguf: Path) -> None:
    info = read_gguf_info(tiny_gguf)
    assert info.architecture == "llama"
    assert info.name == "Tiny Test Model"
    assert info.quantization == "F32"
    assert info.context_length == 2048
    assert (info.n_layer, info.n_embd, info.n_head, info.n_head_kv) == (2, 64, 4, 2)
    assert info.vocab_size > 256
    assert info.size_bytes == tiny_gguf.stat().st_size
    assert info.parameters and info.parameters > 64 * info.vocab_size
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert not info.is_adapter


def test_reads_an_adapter(tiny_lora_gguf: Path) -> None:
    info = read_gguf_info(tiny_lora_gguf)
    assert info.is_adapter
    assert info.adapter_type == "lora"
    assert info.architecture == "llama"


def test_quantization_of_an_f16_model(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "half.gguf", dtype="f16")
    assert read_gguf_info(path).quantization == "F16"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 this is a zip file", "not a GGUF model file"),
        (b"", "not a GGUF model file"),
        (b"GGUF\x03\x00\x00\x00\xff\xff", "damaged or truncated"),
    ],
)
def test_junk_is_refused_with_a_reason(tmp_path: Path, content: bytes, message: str) -> None:
    junk = tmp_path / "model.gguf"
    junk.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        read_gguf_info(junk)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no file"):
        read_gguf_info(tmp_path / "nowhere.gguf")
    with pytest.raises(ModelError, match="folder"):
        read_gguf_info(tmp_path)


def test_adapter_fit_is_checked_against_the_base(
    tmp_path: Path, tiny_gguf: Path, tiny_lora_gguf: Path
) -> None:
    check_adapter_fits(tiny_lora_gguf, tiny_gguf)
    wider = write_tiny_gguf(tmp_path / "wider.gguf", n_embd=96, n_head=4, n_head_kv=2)
    with pytest.raises(ModelError, match="does not fit"):
        check_adapter_fits(tiny_lora_gguf, wider)
    qwen = write_tiny_gguf(tmp_path / "qwen.gguf", arch="qwen2")
    with pytest.raises(ModelError, match="qwen2"):
        check_adapter_fits(tiny_lora_gguf, qwen)

"""Reading GGUF headers: models, adapters, and files that are not GGUF at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_gguf import write_tiny_gguf

from engine.errors import ModelError
from engine.llm.gguf_info import (
    FILE_TYPES,
    SkippedArray,
    check_adapter_fits,
    decide_kind,
    read_gguf_header,
    read_gguf_info,
)


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


def test_the_header_is_read_without_decoding_the_vocabulary(tiny_gguf: Path) -> None:
    header = read_gguf_header(tiny_gguf)
    tokens = header.get("tokenizer.ggml.tokens")
    assert isinstance(tokens, SkippedArray), "the vocabulary is counted, not decoded"
    assert tokens.count == read_gguf_info(tiny_gguf).vocab_size
    assert header.get("general.name") == "Tiny Test Model"
    assert header.get("llama.block_count") == 2
    assert any(t.name == "token_embd.weight" and len(t.shape) == 2 for t in header.tensors)


def test_file_type_names_match_gguf() -> None:
    import gguf

    for member in gguf.LlamaFileType:
        if int(member.value) in FILE_TYPES:
            assert FILE_TYPES[int(member.value)] == member.name.split("_", 1)[1]


def test_recommended_sampling_and_kind_come_from_the_header(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "made-up-7b.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_name("Made Up 7B")
    writer.add_finetune("it")
    writer.add_float32("general.sampling.top_p", 0.9)
    writer.add_int32("general.sampling.top_k", 64)
    writer.add_float32("general.sampling.temp", 1.0)
    writer.add_token_list([f"t{i}" for i in range(300)])
    writer.add_tensor("token_embd.weight", np.zeros((300, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    info = read_gguf_info(path)
    assert info.sampling == pytest.approx({"top_p": 0.9, "top_k": 64, "temperature": 1.0})
    assert (info.kind, info.kind_reason) == ("instruct", "its fine-tune label says so (it)")
    assert info.vocab_size == 300 and info.parameters == 2400 and info.chat_template is None


@pytest.mark.parametrize(
    ("template", "names", "kind"),
    [
        (None, [("the file name", "SmolLM2-135M-Instruct.Q4_1")], "instruct"),
        (None, [("the file name", "gemma-3-270m-it-Q4_K_M")], "instruct"),
        ("{{ messages }}", [("its fine-tune label", "pt")], "base"),
        ("{{ messages }}", [("the file name", "Qwen2.5-0.5B-Q8_0")], "instruct"),
        (None, [("its name", "Gemma 3 270m"), ("the file name", "gemma-3-270m-Q4_K_M")], "base"),
        (None, [("the file name", "mistral-7b-v0.1.Q4_K_M")], "base"),
        (None, [("the file name", "chatglm3-6b-base")], "base"),
    ],
)
def test_instruct_or_base(template: str | None, names: list[tuple[str, str]], kind: str) -> None:
    decided, reason = decide_kind(chat_template=template, names=names)
    assert decided == kind and reason


def test_real_models_are_described_in_milliseconds(smollm2_gguf: Path, gemma3_gguf: Path) -> None:
    smol = read_gguf_info(smollm2_gguf)
    assert (smol.architecture, smol.quantization, smol.kind) == ("llama", "Q4_1", "instruct")
    assert smol.chat_template and "<|im_start|>" in smol.chat_template
    gemma = read_gguf_info(gemma3_gguf)
    assert (gemma.architecture, gemma.quantization, gemma.kind) == ("gemma3", "Q4_K_M", "base")
    assert gemma.vocab_size == 262_144 and gemma.chat_template is None
    assert gemma.context_length == 32_768 and gemma.n_layer == 18

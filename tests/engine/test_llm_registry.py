"""The list of installed models: add, list, get, remove, adapters, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_gguf import write_tiny_gguf

from engine.config import Paths
from engine.errors import ModelError, ModelNotFound
from engine.llm.registry import ModelRegistry


@pytest.fixture
def registry(hearth_home: Path) -> ModelRegistry:
    return ModelRegistry(Paths(hearth_home).ensure())


def test_add_list_get_remove(registry: ModelRegistry, tiny_gguf: Path, hearth_home: Path) -> None:
    assert registry.list() == []
    assert registry.default(None) is None
    info = registry.add(tiny_gguf)
    assert info.name == "tiny-chat"
    assert info.path == tiny_gguf.resolve()
    assert (info.architecture, info.quantization, info.context_length) == ("llama", "F32", 2048)
    assert info.chat_template and info.n_layer == 2 and info.added_at
    assert [m.name for m in registry.list()] == ["tiny-chat"]
    assert registry.get("tiny-chat") == info
    assert registry.get("TINY-CHAT") == info
    assert registry.default(None) == info
    assert registry.default("gone") == info

    # Stored as JSON in the home, read back by a new registry.
    assert (hearth_home / "models" / "models.json").is_file()
    assert ModelRegistry(Paths(hearth_home)).get("tiny-chat") == info

    registry.remove("tiny-chat")
    assert registry.list() == []
    assert tiny_gguf.is_file(), "removing a model never deletes the user's file"
    with pytest.raises(ModelNotFound, match="hearth models add"):
        registry.get("tiny-chat")


def test_names_are_unique(registry: ModelRegistry, tiny_gguf: Path, tmp_path: Path) -> None:
    other_dir = tmp_path / "other"
    other = write_tiny_gguf(other_dir / "tiny-chat.gguf", seed=3)
    first = registry.add(tiny_gguf)
    assert registry.add(tiny_gguf) == first, "adding the same file again changes nothing"
    second = registry.add(other)
    assert second.name == "tiny-chat-2"
    named = registry.add(other, name="My model")
    assert named.name == "My model"
    with pytest.raises(ModelError, match="already installed"):
        registry.add(tiny_gguf, name="My model")
    with pytest.raises(ModelError, match="cannot be a model name"):
        registry.add(tiny_gguf, name="a/b")


def test_bad_files_are_refused(
    registry: ModelRegistry, tmp_path: Path, tiny_lora_gguf: Path
) -> None:
    with pytest.raises(ModelError, match="no file"):
        registry.add(tmp_path / "missing.gguf")
    junk = tmp_path / "notes.gguf"
    junk.write_text("just some text", encoding="utf-8")
    with pytest.raises(ModelError, match="not a GGUF model file"):
        registry.add(junk)
    with pytest.raises(ModelError, match="LoRA adapter, not a model"):
        registry.add(tiny_lora_gguf)
    assert registry.list() == []


def test_adapters_on_a_base(
    registry: ModelRegistry, tiny_gguf: Path, tiny_lora_gguf: Path, tmp_path: Path
) -> None:
    base = registry.add(tiny_gguf)
    entry = registry.add_adapter(
        base=base.name, adapter=tiny_lora_gguf, details={"run": "2024-05-01-a"}
    )
    assert entry.name == "tiny-chat+tiny-lora"
    assert entry.base == base.name
    assert entry.adapter == tiny_lora_gguf.resolve()
    assert entry.path == base.path
    assert entry.details == {"run": "2024-05-01-a"}
    assert entry.size_bytes == base.size_bytes + tiny_lora_gguf.stat().st_size
    assert registry.default(None) == base, "the default is a plain model"
    assert registry.default(entry.name) == entry

    with pytest.raises(ModelError, match="is a model, not an adapter"):
        registry.add_adapter(base=base.name, adapter=tiny_gguf)
    with pytest.raises(ModelNotFound):
        registry.add_adapter(base="nothing", adapter=tiny_lora_gguf)
    with pytest.raises(ModelError, match="already carries an adapter"):
        registry.add_adapter(base=entry.name, adapter=tiny_lora_gguf)
    qwen = registry.add(write_tiny_gguf(tmp_path / "qwen.gguf", arch="qwen2"))
    with pytest.raises(ModelError, match="qwen2"):
        registry.add_adapter(base=qwen.name, adapter=tiny_lora_gguf)

    registry.remove(base.name)
    assert [m.name for m in registry.list()] == [qwen.name], "adapters go with their base"
    assert tiny_lora_gguf.is_file()


def test_kind_is_recorded_and_decided_for_older_entries(
    registry: ModelRegistry, tiny_gguf: Path, tmp_path: Path, hearth_home: Path
) -> None:
    info = registry.add(tiny_gguf)
    assert (info.kind, info.kind_reason) == ("instruct", "the file name says so (tiny-chat)")
    assert registry.get("tiny-chat").kind == "instruct"

    # An entry written before kinds were recorded is decided when read.
    stored = hearth_home / "models" / "models.json"
    raw = json.loads(stored.read_text(encoding="utf-8"))
    old = {k: v for k, v in raw["models"][0].items() if k not in ("kind", "kind_reason")}
    base = dict(old, name="old-base", chat_template=None, path=str(tmp_path / "llama-7b.gguf"))
    remote = dict(base, name="old-remote", url="http://127.0.0.1:8080/v1")
    raw["models"] = [old, base, remote]
    stored.write_text(json.dumps(raw), encoding="utf-8")
    assert registry.get("tiny-chat").kind == "instruct"
    assert registry.get("old-base").kind == "base"
    assert registry.get("old-remote").kind == "instruct", "a chat server takes chat messages"

"""Fixtures shared by the engine's tests: tiny real GGUF models written once per session, and
the real SmolLM2 and Gemma 3 models from their packages (support/real_models.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.real_models import gemma3_gguf, smollm2_gguf  # noqa: F401 (shared fixtures)
from support.tiny_gguf import write_tiny_gguf, write_tiny_lora_gguf


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight llama model with a ChatML template (about 0.8 MB, F32)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-chat.gguf")


@pytest.fixture(scope="session")
def tiny_lora_gguf(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> Path:
    """A GGUF LoRA adapter (attn_q and attn_v, rank 4) that fits `tiny_gguf`."""
    return write_tiny_lora_gguf(tmp_path_factory.mktemp("lora") / "tiny-lora.gguf", base=tiny_gguf)

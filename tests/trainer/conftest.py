"""Fixtures for the trainer's tests: tiny random GGUF models and a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.tiny_gguf import write_tiny_gguf
from trainer_testkit import qa_rows, write_jsonl


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer llama-architecture chat model with random F32 weights (about 1 MB)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_qwen_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same in the qwen2 architecture (byte-level BPE, no q/k permutation)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny-qwen.gguf", arch="qwen2")


@pytest.fixture
def qa_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", qa_rows())


@pytest.fixture(scope="session")
def tokenizer(tiny_gguf: Path) -> Any:
    from trainer.tokens import ChatTokenizer

    return ChatTokenizer(tiny_gguf)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Any:
    """The tiny models gain nothing from threads, and on a shared machine threads that wait
    for each other make training steps many times slower; other tests keep their setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

"""Helpers for the trainer's tests: small datasets and a trainer process to drive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.llm.runtime import plain_cpu_buffers

REPO = Path(__file__).resolve().parents[2]

NOUNS = (
    "pump",
    "valve",
    "filter",
    "heater",
    "boiler",
    "battery",
    "button",
    "model",
    "manual",
    "page",
)
ATTRS = ("setting", "value", "number", "code")


def qa_rows() -> list[dict[str, str]]:
    """40 question/answer pairs in the tiny model's vocabulary, with a pattern to learn."""
    return [
        {
            "instruction": f"what is the {noun} {attr}",
            "response": f"the {noun} {attr} is {(i * 7 + j * 3) % 10}{(i + j) % 10}",
        }
        for i, noun in enumerate(NOUNS)
        for j, attr in enumerate(ATTRS)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


FAST = [
    # Small and quick for a test: short sequences, no recomputation, one thread.
    "--set",
    "train.gradient_checkpointing=false",
    "--set",
    "train.learning_rate=3e-3",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.grad_accum=1",
    "--set",
    "train.eval_every=0",
    "--set",
    "train.max_seq_len=64",
    "--set",
    "train.threads=1",
]


def trainer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", *args]


def trainer_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"  # tiny matrices: threads only add waiting on a busy machine
    return env


def run_trainer(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m trainer ARGS` to the end; stdout holds its JSON lines."""
    return subprocess.run(
        trainer_command(*args),
        cwd=REPO,
        env=trainer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


class TrainerProcess:
    """A trainer running in the background, read event by event (for cancel and kill)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            trainer_command(*args),
            cwd=REPO,
            env=trainer_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                event = json.loads(line)
                self.events.append(event)
                yield event

    def finish(self, timeout: float = 120) -> int:
        for _ in self:
            pass
        rc = self.proc.wait(timeout=timeout)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return rc


def llama_cpp_logits(model: Path, tokens: list[int], adapter: Path | None) -> np.ndarray:
    """Logits of every position from llama.cpp, F32 KV cache, with `adapter` applied."""
    import llama_cpp

    with plain_cpu_buffers():  # as Hearth loads its models
        llm = llama_cpp.Llama(
            str(model),
            n_ctx=128,
            n_threads=2,
            logits_all=True,
            verbose=False,
            type_k=0,  # GGML_TYPE_F32 keys and values: an F16 cache alone moves logits ~1e-3
            type_v=0,
            flash_attn=False,
            lora_path=str(adapter) if adapter else None,
        )
    try:
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32)
    finally:
        llm.close()

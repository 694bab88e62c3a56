"""The trainer's events: what a run reports, one JSON object per line on stdout.

A front end starts `python -m trainer run CONFIG.yaml` (or `train ...`) as a subprocess and
reads its standard output line by line; each line is one of these events as JSON, and every
event is also appended to the run's `events.jsonl`. Every object has an `event` field:

- `start`       run_id, run_dir, base, base_path, device, quantization, dtype, resumed_from
- `prepare`     stage, message, counts: one step of getting ready, in this order: `memory`
                (the estimate, counts.bytes), the data steps with their counts (`clean`,
                `empty`, `duplicates`, `length`, `grounding`, `tokenize`, `split`: in, kept,
                dropped, ...), `plan` (total_steps, train_examples, eval_examples) and `model`
                (the base is loading). `python -m trainer generate` prints `generate` after each
                passage and `generated` at the end (pairs, chunks, skipped per reason).
- `step`        step, total_steps, epoch, loss, learning_rate, grad_norm, tokens_per_s,
                elapsed_s, eta_s, memory_mib
- `eval`        step, eval_loss, perplexity
- `checkpoint`  step, path
- `export`      kind ("peft" | "gguf" | "registered" | "answers"), path, name, message
- `done`        run_id, run_dir, adapter_gguf, adapter_dir, model_name, steps, initial_loss,
                final_loss, eval_loss, base_eval_loss, perplexity, base_perplexity, seconds
- `error`       message, kind, step
- `cancelled`   run_id, run_dir, step, checkpoint

Losses are mean negative log-likelihoods per trained (assistant) token, in nats. Memory is the
peak GPU memory allocated by torch on CUDA, the process's resident memory on a CPU. The process
exits 0 after `done`, 1 after `error`, 130 after `cancelled` (SIGINT or SIGTERM).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class _Event:
    """Common behaviour of the events: a name and a JSON form with plain values."""

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON-ready dict, `event` first; paths become strings."""
        out: dict[str, Any] = {"event": getattr(self, "event")}  # noqa: B009 (set by subclasses)
        for f in fields(self):
            if f.name != "event":
                out[f.name] = _plain(getattr(self, f.name))
        return out

    def to_line(self) -> str:
        """The event as one line of JSON (no trailing newline)."""
        return json.dumps(self.to_json(), ensure_ascii=False)


@dataclass(frozen=True)
class Start(_Event):
    run_id: str
    run_dir: Path
    base: str
    """The base model as given: a name from the model list or a GGUF path."""
    base_path: Path
    device: str
    quantization: str
    """The weights: "nf4" (QLoRA) or "none" (LoRA on unquantized weights)."""
    dtype: str
    resumed_from: int | None = None
    """The checkpoint step a resumed run continues after; None for a fresh run."""
    time: float = field(default_factory=time.time)
    event: str = field(default="start", init=False)


@dataclass(frozen=True)
class Prepare(_Event):
    stage: str
    message: str
    counts: dict[str, int] = field(default_factory=dict)
    event: str = field(default="prepare", init=False)


@dataclass(frozen=True)
class Step(_Event):
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float | None
    tokens_per_s: float
    elapsed_s: float
    eta_s: float | None
    memory_mib: float
    event: str = field(default="step", init=False)


@dataclass(frozen=True)
class Eval(_Event):
    step: int
    eval_loss: float
    perplexity: float
    event: str = field(default="eval", init=False)


@dataclass(frozen=True)
class Checkpoint(_Event):
    step: int
    path: Path
    event: str = field(default="checkpoint", init=False)


@dataclass(frozen=True)
class Export(_Event):
    kind: str
    """What was written: "peft" (adapter folder), "gguf" (llama.cpp LoRA), "registered"
    (added to the model list), "answers" (base and adapter answers side by side)."""
    path: Path | None
    name: str | None = None
    """The model's name in Hearth's list (for "registered")."""
    message: str = ""
    event: str = field(default="export", init=False)


@dataclass(frozen=True)
class Done(_Event):
    run_id: str
    run_dir: Path
    adapter_gguf: Path
    adapter_dir: Path
    model_name: str | None
    """The "base + adapter" entry in Hearth's model list; None if it could not be registered."""
    steps: int
    initial_loss: float | None
    final_loss: float | None
    eval_loss: float | None
    base_eval_loss: float | None
    perplexity: float | None
    base_perplexity: float | None
    seconds: float
    event: str = field(default="done", init=False)


@dataclass(frozen=True)
class Error(_Event):
    message: str
    kind: str
    """The error's class name, e.g. "DoesNotFit", "MissingColumn"."""
    step: int | None = None
    event: str = field(default="error", init=False)


@dataclass(frozen=True)
class Cancelled(_Event):
    run_id: str
    run_dir: Path
    step: int
    """Optimizer steps completed and saved; a resumed run continues with the next one."""
    checkpoint: Path | None
    event: str = field(default="cancelled", init=False)


TrainerEvent = Start | Prepare | Step | Eval | Checkpoint | Export | Done | Error | Cancelled

EVENT_NAMES = (
    "start",
    "prepare",
    "step",
    "eval",
    "checkpoint",
    "export",
    "done",
    "error",
    "cancelled",
)

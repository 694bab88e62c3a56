"""What this machine can train: its GPU (found in a child process) and the fitting preset,
with an estimate of memory and time for a run before anything heavy loads.

torch is never imported in the window's process: a short child process asks torch about CUDA
and prints one JSON line. The memory estimate and the refusal with its advice are the
trainer's own (trainer/memory.py), so the wizard and the trainer never disagree.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from trainer import memory
from trainer.config import RunConfig, load_preset, preset_names
from trainer.errors import DoesNotFit
from trainer.memory import (
    GIB,
    FitSettings,
    MemoryEstimate,
    ModelShape,
    check_fits,
    estimate_memory,
)

PROBE_TIMEOUT_MS = 180_000

_PROBE = r"""
import json, os
out = {"cpu_count": os.cpu_count() or 1, "ram_total": 0, "ram_available": 0, "cuda": False,
       "gpus": [], "torch": None, "error": None}
try:
    import psutil
    vm = psutil.virtual_memory()
    out["ram_total"], out["ram_available"] = int(vm.total), int(vm.available)
    out["cpu_count"] = psutil.cpu_count(logical=False) or out["cpu_count"]
except Exception:
    pass
try:
    import torch
    out["torch"] = torch.__version__
    if torch.cuda.is_available():
        out["cuda"] = True
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            free, total = torch.cuda.mem_get_info(i)
            out["gpus"].append({"name": p.name, "total": int(total), "free": int(free),
                                "bf16": bool(torch.cuda.is_bf16_supported())})
except Exception as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out), flush=True)
"""


@dataclass(frozen=True)
class Hardware:
    """The training devices of this machine, as the child process found them."""

    cuda: bool
    gpu_name: str = ""
    gpu_total: int = 0
    """Bytes of memory of the first CUDA GPU."""
    gpu_free: int = 0
    ram_total: int = 0
    ram_available: int = 0
    cpu_count: int = 1
    torch_version: str | None = None
    error: str | None = None
    """Why torch could not be asked (e.g. the training packages are not installed)."""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Hardware:
        gpus = raw.get("gpus") or []
        gpu = gpus[0] if gpus else {}
        return cls(
            cuda=bool(raw.get("cuda")) and bool(gpus),
            gpu_name=str(gpu.get("name", "")),
            gpu_total=int(gpu.get("total", 0)),
            gpu_free=int(gpu.get("free", 0)),
            ram_total=int(raw.get("ram_total") or 0),
            ram_available=int(raw.get("ram_available") or 0),
            cpu_count=int(raw.get("cpu_count") or 1),
            torch_version=raw.get("torch"),
            error=raw.get("error"),
        )

    def describe(self) -> str:
        """One line for people: the GPU and its memory, or the processor and RAM."""
        ram = f"{self.ram_total / GIB:.0f} GiB RAM ({self.ram_available / GIB:.1f} GiB free)"
        if self.cuda:
            return (
                f"GPU: {self.gpu_name}, {self.gpu_total / GIB:.1f} GiB "
                f"({self.gpu_free / GIB:.1f} GiB free) · {ram}"
            )
        return f"No CUDA GPU found · processor with {self.cpu_count} cores · {ram}"

    def available(self, device: str) -> int:
        """Bytes free for training on `device` ("cuda" or "cpu")."""
        return self.gpu_free if device == "cuda" else self.ram_available


class HardwareProbe(QObject):
    """Finds the machine's training hardware in a child process (torch stays out of the app)."""

    detected = Signal(object)
    """A `Hardware`, also when torch is missing (its `error` then says so)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.result: Hardware | None = None
        self._proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONIOENCODING", "utf-8")
        self._proc.setProcessEnvironment(env)
        self._proc.finished.connect(self._finished)
        self._proc.errorOccurred.connect(self._failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._proc.kill)

    def start(self) -> None:
        self._proc.start(sys.executable, ["-c", _PROBE])
        self._timer.start(PROBE_TIMEOUT_MS)

    @property
    def running(self) -> bool:
        return self._proc.state() != QProcess.ProcessState.NotRunning

    def stop(self) -> None:
        if self.running:
            self._proc.kill()
            self._proc.waitForFinished(2_000)

    def _finished(self, *_: object) -> None:
        self._timer.stop()
        text = bytes(self._proc.readAllStandardOutput().data()).decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.startswith("{")]
        try:
            raw = json.loads(lines[-1]) if lines else None
        except ValueError:
            raw = None
        if raw is None:
            err = bytes(self._proc.readAllStandardError().data()).decode("utf-8", "replace")
            raw = {"error": err.strip().splitlines()[-1] if err.strip() else "no answer"}
        self._emit(Hardware.from_json(raw))

    def _failed(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._emit(Hardware(cuda=False, error=self._proc.errorString()))

    def _emit(self, hardware: Hardware) -> None:
        if self.result is None:
            self.result = hardware
            self.detected.emit(hardware)


def choose_preset(hw: Hardware) -> str:
    """The largest GPU preset that fits the GPU's memory, else the CPU preset."""
    best, best_mem = "cpu", 0.0
    if not hw.cuda:
        return best
    total = hw.gpu_total / GIB
    for name in preset_names():
        preset = load_preset(name)
        if preset.device == "cuda" and best_mem < preset.memory_gib <= total * 1.02:
            best, best_mem = name, preset.memory_gib
    return best


# --- the plan of a run ----------------------------------------------------------------------

EFFECTIVE_FLOPS = {"cuda": 25e12, "cpu": 2.5e10}
"""Training throughput a machine of each kind reaches in practice (rough; the real rate shows
after the first steps). A CPU core does about 10–20 GFLOP/s in float32 matrix products."""


@dataclass(frozen=True)
class Plan:
    """What a run will take, or why it cannot run."""

    device: str
    estimate: MemoryEstimate | None
    available: int
    steps: int
    seconds: float | None
    refusal: str | None = None

    @property
    def fits(self) -> bool:
        return self.refusal is None


def resolved_device(config: RunConfig, hw: Hardware) -> str:
    if config.device == "auto":
        return "cuda" if hw.cuda else "cpu"
    return config.device


def fit_settings(config: RunConfig, hw: Hardware, shape: ModelShape) -> FitSettings:
    """The run's memory-deciding settings, resolved as the trainer resolves them."""
    device = resolved_device(config, hw)
    quantization = config.quantization
    if quantization == "auto":
        quantization = "nf4" if device == "cuda" else "none"
    dtype = config.dtype
    if dtype == "auto":  # without importing torch: bf16 and fp16 take the same memory
        dtype = "bf16" if device == "cuda" else "fp32"
    return memory.fit_settings(
        config, device=device, quantization=quantization, dtype=dtype, shape=shape
    )


def plan_run(
    config: RunConfig,
    hw: Hardware,
    shape: ModelShape,
    *,
    examples: int,
    tokens_per_example: float,
) -> Plan:
    """Memory and time of `config` on this machine, or the refusal the trainer would give."""
    device = resolved_device(config, hw)
    t = config.train
    n_train = max(1, examples - _held_out(examples, config))
    per_step = t.batch_size * t.grad_accum
    steps = t.max_steps or max(1, math.ceil(t.epochs * n_train / per_step))
    if device == "cuda" and not hw.cuda:
        return Plan(
            device,
            None,
            0,
            steps,
            None,
            "This preset trains on an NVIDIA GPU with CUDA, and none was found on this "
            "computer. Choose the CPU preset.",
        )
    fit = fit_settings(config, hw, shape)
    available = hw.available(device)
    try:
        estimate = check_fits(shape, fit, available=available)
        refusal = None
    except DoesNotFit as exc:
        estimate, refusal = estimate_memory(shape, fit), str(exc)
    tokens = steps * per_step * min(tokens_per_example, fit.seq_len)
    # A LoRA step costs about a forward and a backward pass through the frozen base (4 FLOPs
    # per parameter and token), plus another forward when activations are recomputed.
    flops_per_token = (6 if fit.gradient_checkpointing else 4) * shape.params
    rate = EFFECTIVE_FLOPS[device] * (0.5 if fit.quantization == "nf4" else 1.0)
    if device == "cpu":
        rate *= max(1, hw.cpu_count) / 2
    return Plan(device, estimate, available, steps, tokens * flops_per_token / rate, refusal)


def _held_out(examples: int, config: RunConfig) -> int:
    d = config.data
    if d.eval_fraction <= 0 or examples < 2:
        return 0
    return max(1, min(d.max_eval_examples, round(examples * d.eval_fraction), examples - 1))


def read_model_shape(path: Path) -> ModelShape:
    """A GGUF model's dimensions (metadata only; the weights are not read)."""
    from trainer.memory import read_shape

    return read_shape(path)

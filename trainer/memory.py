"""Will a run fit? An estimate of training memory, checked before anything heavy loads.

The estimate adds the base weights (4-bit NF4 or full precision), the adapter with its
gradients and AdamW state, the activations kept for the backward pass (one tensor per layer
with gradient checkpointing, all of them without), the logits and their gradient (large for
big vocabularies), and the runtime's own overhead. It errs on the high side by about a tenth;
a refusal names the settings that would make the run fit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.errors import DoesNotFit

if TYPE_CHECKING:
    from trainer.config import RunConfig

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a decoder-only transformer that decide its training memory."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    tied_embeddings: bool
    arch: str = "llama"
    n_ctx: int = 4096

    def linear_in_out(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each adaptable linear layer of one block."""
        q, kv = self.n_head * self.head_dim, self.n_head_kv * self.head_dim
        return {
            "q_proj": (self.n_embd, q),
            "k_proj": (self.n_embd, kv),
            "v_proj": (self.n_embd, kv),
            "o_proj": (q, self.n_embd),
            "gate_proj": (self.n_embd, self.n_ff),
            "up_proj": (self.n_embd, self.n_ff),
            "down_proj": (self.n_ff, self.n_embd),
        }

    @property
    def linear_params(self) -> int:
        return self.n_layer * sum(i * o for i, o in self.linear_in_out().values())

    @property
    def embedding_params(self) -> int:
        return self.n_vocab * self.n_embd * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> int:
        return self.linear_params + self.embedding_params


REFERENCE_SHAPES: dict[str, ModelShape] = {
    # Shapes of well-known open models, used to size and test the presets.
    "0.5b": ModelShape(24, 896, 4864, 14, 2, 64, 151_936, True, "qwen2"),  # Qwen2.5-0.5B
    "1b": ModelShape(22, 2048, 5632, 32, 4, 64, 32_000, False),  # TinyLlama-1.1B
    "3b": ModelShape(28, 3072, 8192, 24, 8, 128, 128_256, True),  # Llama-3.2-3B
    "8b": ModelShape(32, 4096, 14_336, 32, 8, 128, 128_256, False),  # Llama-3.1-8B
    "14b": ModelShape(48, 5120, 13_824, 40, 8, 128, 152_064, False, "qwen2"),  # Qwen2.5-14B
    "32b": ModelShape(64, 5120, 27_648, 40, 8, 128, 152_064, False, "qwen2"),  # Qwen2.5-32B
    "70b": ModelShape(80, 8192, 28_672, 64, 8, 128, 128_256, False),  # Llama-3.1-70B
}


def read_shape(gguf_path: Path) -> ModelShape:
    """Read a model's dimensions from its GGUF metadata (no weights are loaded)."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))

    def value(key: str, default: Any = None) -> Any:
        field = reader.fields.get(key)
        if field is None:
            return default
        return field.contents()

    arch = str(value("general.architecture"))
    n_embd = int(value(f"{arch}.embedding_length"))
    n_head = int(value(f"{arch}.attention.head_count"))
    n_head_kv = int(value(f"{arch}.attention.head_count_kv", n_head))
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    n_vocab = int(value(f"{arch}.vocab_size", len(tokens.data) if tokens else 32_000))
    names = {t.name for t in reader.tensors}
    return ModelShape(
        n_layer=int(value(f"{arch}.block_count")),
        n_embd=n_embd,
        n_ff=int(value(f"{arch}.feed_forward_length")),
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim=int(value(f"{arch}.attention.key_length", n_embd // n_head)),
        n_vocab=n_vocab,
        tied_embeddings="output.weight" not in names,
        arch=arch,
        n_ctx=int(value(f"{arch}.context_length", 4096)),
    )


@dataclass(frozen=True)
class FitSettings:
    """The settings that decide training memory, as plain values."""

    device: str
    """Either "cuda" or "cpu"."""
    quantization: str
    """Either "nf4" or "none"."""
    dtype_bytes: int
    """2 for bf16/fp16, 4 for fp32."""
    lora_rank: int
    target_modules: tuple[str, ...]
    batch_size: int
    grad_accum: int
    seq_len: int
    gradient_checkpointing: bool


def fit_settings(
    config: RunConfig, *, device: str, quantization: str, dtype: str, shape: ModelShape
) -> FitSettings:
    """The memory-deciding settings of a run, once its device, weights and precision are known."""
    t = config.train
    seq_len = min(t.max_seq_len, shape.n_ctx) if shape.n_ctx > 0 else t.max_seq_len
    return FitSettings(
        device=device,
        quantization=quantization,
        dtype_bytes=4 if dtype == "fp32" else 2,
        lora_rank=config.lora.rank,
        target_modules=config.lora.target_modules,
        batch_size=t.batch_size,
        grad_accum=t.grad_accum,
        seq_len=seq_len,
        gradient_checkpointing=t.gradient_checkpointing,
    )


@dataclass(frozen=True)
class MemoryEstimate:
    parts: dict[str, int]
    """Bytes per part: weights, adapter, activations, logits, overhead."""

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        return ", ".join(f"{k} {v / GIB:.1f}" for k, v in self.parts.items()) + " GiB"


NF4_BYTES_PER_PARAM = 0.53
"""4 bits per weight plus double-quantized block scales (bitsandbytes, block size 64)."""


def estimate_memory(shape: ModelShape, s: FitSettings) -> MemoryEstimate:
    """Peak memory of a training step on the training device, in bytes."""
    b = s.dtype_bytes
    if s.quantization == "nf4":
        linear = shape.linear_params * NF4_BYTES_PER_PARAM
    else:
        linear = shape.linear_params * b
    weights = linear + shape.embedding_params * b + 2 * shape.n_layer * shape.n_embd * b

    in_out = shape.linear_in_out()
    lora_params = shape.n_layer * sum(
        s.lora_rank * (i + o) for name, (i, o) in in_out.items() if name in s.target_modules
    )
    adapter = lora_params * 16  # fp32 weight, gradient and two AdamW moments

    tokens = s.batch_size * s.seq_len
    # What one block keeps for its backward pass: inputs of every linear layer, attention
    # output, the MLP's wide intermediates, norms and residuals (in units of dtype bytes).
    per_block = tokens * (10 * shape.n_embd + 4 * shape.n_ff) * b
    if s.gradient_checkpointing:
        activations = shape.n_layer * tokens * shape.n_embd * b + per_block
    else:
        activations = shape.n_layer * per_block
    # Logits in compute dtype, their float32 copy, log-softmax and gradient.
    logits = tokens * shape.n_vocab * (b + 12)
    overhead = (0.75 if s.device == "cuda" else 1.0) * GIB  # CUDA context or libraries in RAM
    parts = {
        "weights": weights,
        "adapter": adapter,
        "activations": activations,
        "logits": logits,
        "overhead": overhead,
    }
    return MemoryEstimate({k: int(v * 1.1) for k, v in parts.items()})


def available_memory(device: str) -> int:
    """Bytes free for training now: free GPU memory on cuda, available RAM on a CPU."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def _changes(shape: ModelShape, s: FitSettings) -> list[tuple[str, FitSettings]]:
    """Cumulative changes that lower memory, in the order that costs the least quality/speed."""
    steps: list[tuple[str, FitSettings]] = []
    if not s.gradient_checkpointing:
        s = dataclasses.replace(s, gradient_checkpointing=True)
        steps.append(("train.gradient_checkpointing: true", s))
    if s.quantization != "nf4" and s.device == "cuda":
        s = dataclasses.replace(s, quantization="nf4")
        steps.append(("quantization: nf4", s))
    if s.batch_size > 1:
        accum = s.grad_accum * s.batch_size
        s = dataclasses.replace(s, batch_size=1, grad_accum=accum)
        steps.append((f"train.batch_size: 1 with train.grad_accum: {accum}", s))
    while s.seq_len > 256:
        s = dataclasses.replace(s, seq_len=max(256, s.seq_len // 2))
        steps.append((f"train.max_seq_len: {s.seq_len}", s))
    if s.lora_rank > 8:
        s = dataclasses.replace(s, lora_rank=8)
        steps.append(("lora.rank: 8", s))
    return steps


def check_fits(shape: ModelShape, settings: FitSettings, *, available: int) -> MemoryEstimate:
    """Return the estimate if the run fits in `available` bytes, else raise DoesNotFit.

    The message names the smallest set of setting changes that would make it fit, or says that
    the model itself is too large for the machine.
    """
    estimate = estimate_memory(shape, settings)
    if estimate.total <= available:
        return estimate
    where = "GPU memory" if settings.device == "cuda" else "RAM"
    need = f"This run needs about {estimate.total / GIB:.1f} GiB of {where} ({estimate.describe()})"
    have = f"but {available / GIB:.1f} GiB is free."
    made: list[str] = []
    for change, candidate in _changes(shape, settings):
        made.append(change)
        if estimate_memory(shape, candidate).total <= available:
            raise DoesNotFit(f"{need}, {have} To make it fit, set {'; '.join(made)}.")
    floor = estimate_memory(shape, _changes(shape, settings)[-1][1] if made else settings)
    fitting = [
        name
        for name, ref in REFERENCE_SHAPES.items()
        if estimate_memory(
            ref, dataclasses.replace(settings, seq_len=min(settings.seq_len, 512), batch_size=1)
        ).total
        <= available
    ]
    smaller = f" Models of about {fitting[-1].upper()} parameters fit." if fitting else ""
    raise DoesNotFit(
        f"{need}, {have} Even with the smallest settings it would need "
        f"{floor.total / GIB:.1f} GiB: this model is too large for this machine. "
        f"Choose a smaller model{' or a GPU' if settings.device == 'cpu' else ''}.{smaller}"
    )

"""The embedder's matrix products in int8 on x86 CPUs, on fixed scales.

Nearly all of an embedder's time on a CPU is its linear layers. `quantize_linear_layers`
replaces them with `StaticInt8Linear`: weights in int8 per output channel, and inputs read on
one int8 range per layer, measured once when the model loads over the fixed texts of
`resources/embedding/calibration.txt` (prose, code, tables, commands, numbers, other
languages); fbgemm sums in int32 and returns float32. A few input channels of a transformer
are far larger than the rest, so each channel is first divided by a smoothing factor that the
weights take on (SmoothQuant; its strength chosen per layer, the one with the least error on
the calibration texts), and a layer whose int8 output still strays from its float32 output
stays in float32 (in all-MiniLM-L6-v2, the first layer's attention output, whose smoothing
at any strength leaves it 5% off).

Fixed ranges are the point. PyTorch's dynamic quantization takes each call's range from the
whole batch, so a passage's vector depended on the passages embedded beside it (cosine 0.978
between two batchings of the same texts) and a question, embedded alone, was read on another
scale than the passages. On fixed ranges a passage is read alike in any batch and in a
question's call; what remains is float32 rounding elsewhere, which now and then tips a value
across an int8 step (two batchings: mean cosine 0.999996, worst 0.9993). Figures on real
manuals are in bench/README.md.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from engine.resources import resources_dir

_ENGINE = "fbgemm"

SMOOTHING = (0.5, 0.65, 0.8, 0.9)
"""How much of each input channel's range may be moved into the weights (SmoothQuant's
alpha), tried in turn for each layer, the one with the least error kept: a few channels of a
transformer's activations are far larger than the rest, and on one scale per layer they would
leave the others a handful of int8 steps. Layers whose inputs have the widest outliers (the
feed-forward output, after GELU) need the most moved."""

MAX_ERROR = 0.04
"""A layer whose int8 output is further than this from its float32 output on the
calibration texts (relative to its size) stays in float32."""

MAX_ROWS = 4096
"""Calibration inputs kept per layer to measure its error."""

ROW_STRIDE = 4
"""Every this many tokens of a calibration text one is kept to measure the error: a sample of
every text, and a quarter of the work at load."""


def available() -> bool:
    """Whether this PyTorch computes int8 products with fbgemm (x86 CPUs)."""
    return _ENGINE in torch.backends.quantized.supported_engines


def calibration_texts() -> list[str]:
    """The shipped calibration texts, one per paragraph."""
    text = (resources_dir() / "embedding" / "calibration.txt").read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n\n") if p.strip()]


class StaticInt8Linear(torch.nn.Module):
    """`linear` with int8 weights (per output channel) and its input read on one fixed int8
    range after dividing each channel by `smooth` (the weights are multiplied by it, so the
    product is the same); values outside the range are clamped to its ends."""

    def __init__(
        self, linear: torch.nn.Linear, smooth: torch.Tensor, low: float, high: float
    ) -> None:
        super().__init__()
        low, high = min(low, 0.0), max(high, 0.0)
        self.scale = max(high - low, 1e-6) / 255.0
        self.zero_point = min(255, max(0, round(-low / self.scale)))
        self.inverse = (1.0 / smooth).float()
        weight = linear.weight.detach().float() * smooth
        w_scale = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()
        w_zero = torch.zeros(weight.shape[0], dtype=torch.int64)
        with warnings.catch_warnings():  # quantized tensors are deprecated, fbgemm is not
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch.quantize_per_channel(weight, w_scale, w_zero, 0, torch.qint8)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.packed = torch.ops.quantized.linear_prepack(qweight, bias)
        self.in_features = linear.in_features
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float() * self.inverse
        y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
            rows.contiguous(), self.scale, self.zero_point, self.packed
        )
        return y.reshape(*x.shape[:-1], self.out_features)


class _Observed:
    """A layer's calibration inputs: per-channel minimum and maximum, and some rows."""

    def __init__(self) -> None:
        self.low: torch.Tensor | None = None
        self.high: torch.Tensor | None = None
        self.rows: list[torch.Tensor] = []
        self.count = 0

    def add(self, x: torch.Tensor) -> None:
        rows = x.detach().reshape(-1, x.shape[-1]).float()
        low, high = rows.amin(dim=0), rows.amax(dim=0)
        self.low = low if self.low is None else torch.minimum(self.low, low)
        self.high = high if self.high is None else torch.maximum(self.high, high)
        if self.count < MAX_ROWS:
            self.rows.append(rows[::ROW_STRIDE][: MAX_ROWS - self.count].clone())
            self.count += len(self.rows[-1])


def _quantized(linear: torch.nn.Linear, seen: _Observed) -> tuple[StaticInt8Linear, float]:
    """The int8 layer for `linear` with the least relative error on the calibration rows
    (over the `SMOOTHING` strengths), and that error."""
    assert seen.low is not None and seen.high is not None
    reach = torch.maximum(seen.low.abs(), seen.high.abs()).clamp(min=1e-5)
    w_reach = linear.weight.detach().float().abs().amax(dim=0).clamp(min=1e-5)
    rows = torch.cat(seen.rows)
    with torch.inference_mode():
        exact = linear(rows)

        def smoothed(alpha: float) -> tuple[StaticInt8Linear, float]:
            assert seen.low is not None and seen.high is not None
            smooth = (reach**alpha / w_reach ** (1 - alpha)).clamp(min=1e-5)
            low, high = (seen.low / smooth).min(), (seen.high / smooth).max()
            layer = StaticInt8Linear(linear, smooth, float(low), float(high))
            return layer, float((layer(rows) - exact).norm() / exact.norm().clamp(min=1e-12))

        return min((smoothed(alpha) for alpha in SMOOTHING), key=lambda candidate: candidate[1])


def quantize_linear_layers(model: Any, texts: list[str]) -> dict[str, float]:
    """Replace the linear layers of `model` (a SentenceTransformer) with static int8 ones,
    their input ranges measured over `texts`, each run alone (no padding in the ranges).
    A layer whose int8 error passes `MAX_ERROR` is left in float32. Returns the relative
    error of each replaced layer, by name."""
    torch.backends.quantized.engine = _ENGINE
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    seen = {name: _Observed() for name, _ in layers}
    hooks = [
        m.register_forward_pre_hook(lambda _m, args, n=n: seen[n].add(args[0])) for n, m in layers
    ]
    try:
        for text in texts:
            model.encode([text], batch_size=1, show_progress_bar=False)
    finally:
        for h in hooks:
            h.remove()
    replaced: dict[str, float] = {}
    for name, linear in layers:
        if not seen[name].count:  # a layer these texts never reach (a task head)
            continue
        layer, error = _quantized(linear, seen[name])
        if error > MAX_ERROR:
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, layer)
        replaced[name] = error
    return replaced

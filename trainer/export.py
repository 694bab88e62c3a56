"""Export a trained adapter: a peft folder, and a GGUF LoRA that llama.cpp applies.

The GGUF follows llama.cpp's convert_lora_to_gguf: metadata general.type=adapter,
adapter.type=lora and adapter.lora.alpha; for each adapted weight `<gguf name>.weight` two
tensors, `.weight.lora_a` (rank x inputs) and `.weight.lora_b` (outputs x rank), named through
gguf's tensor name map. llama.cpp stores the q and k weights of llama-architecture models with
their rows permuted (for its rotary embedding layout) and transformers undoes that when it
reads the GGUF; an adapter trained on the un-permuted weights must have the rows of its B
matrices for q_proj and k_proj permuted the same way, exactly as llama.cpp's converter permutes
the base weights. llama.cpp scales an adapter by alpha / rank, as peft does.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import ExportError

_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$"
)


def save_peft(model: Any, out_dir: Path) -> Path:
    """Write the adapter as a peft folder (adapter_config.json + adapter_model.safetensors)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir


def permute_rows(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp's q/k row permutation (convert_hf_to_gguf.LlamaModel.permute)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def needs_qk_permutation(arch: str) -> bool:
    """True where transformers un-permuted q/k when it read the GGUF (llama, mistral)."""
    try:
        from transformers.modeling_gguf_pytorch_utils import (
            TENSOR_PROCESSORS,
            LlamaTensorProcessor,
        )
    except ImportError:
        return arch == "llama"
    processor = TENSOR_PROCESSORS.get(arch)
    return processor is not None and issubclass(processor, LlamaTensorProcessor)


def _gguf_arch(name: str) -> Any:
    import gguf

    for arch, arch_name in gguf.MODEL_ARCH_NAMES.items():
        if arch_name == name:
            return arch
    raise ExportError(f"The gguf package does not know the architecture '{name}'.")


def export_gguf_lora(
    adapter_dir: Path,
    *,
    base_gguf: Path,
    out: Path,
    name: str = "Hearth adapter",
    dtype: str = "f32",
) -> Path:
    """Write the peft adapter in `adapter_dir` as a GGUF LoRA for the model `base_gguf`.

    `dtype` is "f32" (exact) or "f16" (half the size). Raises ExportError if the adapter uses
    something llama.cpp cannot apply (DoRA, per-module ranks) or does not fit the base model.
    """
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text("utf-8"))
    if config.get("use_dora"):
        raise ExportError("DoRA adapters cannot be written as a GGUF LoRA; train a plain LoRA.")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ExportError("Adapters with per-module ranks cannot be written as a GGUF LoRA.")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    if config.get("use_rslora"):
        alpha = alpha * math.sqrt(rank)  # rsLoRA scales by alpha/sqrt(r); llama.cpp by alpha/r
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))

    reader = gguf.GGUFReader(str(base_gguf))

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return f.contents() if f is not None else None

    arch = str(field("general.architecture"))
    n_layer = int(field(f"{arch}.block_count"))
    n_head = int(field(f"{arch}.attention.head_count"))
    n_head_kv = int(field(f"{arch}.attention.head_count_kv") or n_head)
    base_shapes = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    names = gguf.get_tensor_name_map(_gguf_arch(arch), n_layer)
    permute = needs_qk_permutation(arch)

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        m = _KEY.match(key)
        if m is None:
            raise ExportError(f"The adapter holds a tensor '{key}' that is not a LoRA matrix.")
        pairs.setdefault(m.group("module"), {})[m.group("part")] = value

    np_dtype = {"f32": np.float32, "f16": np.float16}[dtype]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name(name)
    for module in sorted(pairs):
        parts = pairs[module]
        if set(parts) != {"A", "B"}:
            raise ExportError(f"The adapter's {module} lacks its A or B matrix.")
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None or target not in base_shapes:
            raise ExportError(
                f"The adapted layer {module} has no counterpart in {base_gguf.name}; "
                "the adapter was trained on a different model."
            )
        a, b = parts["A"].astype(np.float32), parts["B"].astype(np.float32)
        n_in, n_out = base_shapes[target][:2]  # GGUF lists (columns, rows)
        if a.shape[1] != n_in or b.shape[0] != n_out:
            raise ExportError(
                f"The adapted layer {module} has shape {b.shape[0]}x{a.shape[1]}, but "
                f"{target} in {base_gguf.name} is {n_out}x{n_in}."
            )
        if permute and module.endswith("q_proj"):
            b = permute_rows(b, n_head, n_head)
        elif permute and module.endswith("k_proj"):
            b = permute_rows(b, n_head, n_head_kv)
        writer.add_tensor(target + ".lora_a", np.ascontiguousarray(a.astype(np_dtype)))
        writer.add_tensor(target + ".lora_b", np.ascontiguousarray(b.astype(np_dtype)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out

"""The base model for training: found by name or path, turned once into a plain checkpoint,
loaded in 4-bit NF4 or full precision, and given a LoRA adapter.

transformers reads a GGUF file, dequantized, but marks the model as quantized ("gguf"), and
then neither a BitsAndBytesConfig nor training accept it. So the model is rebuilt from its
config without that mark and saved once as safetensors in the Hearth cache, keyed by the GGUF's
path, size, modification time and header; every later run loads that checkpoint directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import Paths
from engine.errors import MissingDependency, ModelError

CHECKPOINT_MARK = "hearth-source.json"


@dataclass(frozen=True)
class BaseModel:
    """The model a run fine-tunes: its GGUF file and its name in the model list, if any."""

    path: Path
    name: str | None
    """The registry name; None for a GGUF path that is not in the model list (yet)."""


def resolve_base(base: str, paths: Paths) -> BaseModel:
    """Find `base`: a name from `hearth models list`, or the path of a GGUF file."""
    from engine.llm.gguf_info import check_gguf_magic
    from engine.llm.registry import ModelRegistry

    registry = ModelRegistry(paths)
    candidate = Path(base).expanduser()
    if candidate.suffix.lower() == ".gguf" or candidate.exists():
        check_gguf_magic(candidate)
        resolved = candidate.resolve()
        for m in registry.list():
            if m.adapter is None and m.path == resolved:
                return BaseModel(resolved, m.name)
        return BaseModel(resolved, None)
    info = registry.get(base)  # ModelNotFound names the way to add one
    if info.adapter is not None:
        raise ModelError(
            f"'{info.name}' is a base model with an adapter. Train on its base model "
            f"'{info.base}' instead; the new adapter replaces the old one."
        )
    return BaseModel(Path(info.path), info.name)


def _source_key(gguf_path: Path) -> str:
    st = gguf_path.stat()
    digest = hashlib.sha256(f"{gguf_path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    with gguf_path.open("rb") as f:
        digest.update(f.read(1 << 20))  # the header: metadata and tensor layout
    return digest.hexdigest()[:16]


def _source_dtype(gguf_path: Path) -> str:
    """The torch dtype that holds the file's weights without loss (up to 16 bits)."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    kinds = {t.tensor_type for t in reader.tensors if len(t.shape) >= 2}
    if kinds <= {gguf.GGMLQuantizationType.F32}:
        return "float32"
    if kinds <= {gguf.GGMLQuantizationType.BF16, gguf.GGMLQuantizationType.F32}:
        return "bfloat16"
    return "float16"


def training_checkpoint(gguf_path: Path, cache: Path) -> tuple[Path, bool]:
    """The plain transformers checkpoint of `gguf_path`, made on first use.

    Returns the folder and whether it was made now. The conversion dequantizes every weight
    in RAM; it is written to a temporary folder and moved into place, so an interrupted
    conversion leaves nothing half-made behind.
    """
    gguf_path = Path(gguf_path)
    out = cache / "trainer" / f"{gguf_path.stem[:60]}-{_source_key(gguf_path)}"
    if (out / CHECKPOINT_MARK).is_file():
        return out, False
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as exc:
        raise MissingDependency("Fine-tuning", "transformers") from exc

    dtype_name = _source_dtype(gguf_path)
    dtype = getattr(torch, dtype_name)
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=dtype
        )
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(
            f"transformers cannot read {gguf_path.name} for training: {exc}. Fine-tuning "
            "supports the common GGUF architectures (llama, mistral, qwen2, qwen3, gemma, phi3)."
        ) from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=dtype)
    plain.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    plain.tie_weights()
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(str(tmp), safe_serialization=True)
    source = {"gguf": str(gguf_path.resolve()), "dtype": dtype_name}
    (tmp / CHECKPOINT_MARK).write_text(json.dumps(source, indent=2), encoding="utf-8")
    del loaded, plain
    if (out / CHECKPOINT_MARK).is_file():  # another run converted the same file meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        return out, True
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out, True


def resolve_device(device: str) -> str:
    """The device to train on, "cuda" or "cpu" ("auto" picks CUDA when present)."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "The configuration asks for a CUDA GPU, but torch sees none. Install the CUDA "
            "build of torch, or set device: cpu (and a CPU preset)."
        )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def cpu_threads(requested: int | None) -> int:
    """How many threads torch trains with on a CPU.

    `requested` when the configuration names a number; else OMP_NUM_THREADS when the user
    set it; else one per physical core this process may run on, less the cores other
    programs keep busy (whole cores of the one-minute load average). Hyper-threads share a core's vector
    units, so a second thread per core only adds waiting; and a thread whose core is taken
    holds up the others at every step: on two cores shared with other work, one thread
    trained 1.6x faster than two (bench/README.md).
    """
    if requested:
        return requested
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    import psutil

    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    try:
        cores = min(cores, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        pass
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        busy = 0.0
    return max(1, cores - int(busy))


def resolve_dtype(dtype: str, device: str) -> str:
    """The compute precision: bf16 where the GPU supports it (else fp16), fp32 on a CPU."""
    if dtype != "auto":
        return dtype
    if device == "cpu":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def resolve_quantization(quantization: str, device: str) -> str:
    """The weights' form, "nf4" or "none"; auto means 4-bit on CUDA (QLoRA) where bitsandbytes
    is installed, and plain LoRA otherwise (also on a CPU, where 4-bit works but is slower)."""
    try:
        import bitsandbytes  # noqa: F401

        have_4bit = True
    except ImportError:
        have_4bit = False
    if quantization == "auto":
        return "nf4" if device == "cuda" and have_4bit else "none"
    if quantization == "nf4" and not have_4bit:
        raise MissingDependency("4-bit training (QLoRA)", "bitsandbytes")
    return quantization


def torch_dtype(name: str) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def load_model(checkpoint: Path, *, device: str, dtype: str, quantization: str) -> Any:
    """Load the base for training: frozen, in 4-bit NF4 (QLoRA) or in `dtype`."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    compute = torch_dtype(dtype)
    kwargs: dict[str, Any] = {"dtype": compute, "device_map": {"": device}}
    if quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), **kwargs)
    model.config.use_cache = False
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def add_lora(
    model: Any,
    *,
    rank: int,
    alpha: float,
    dropout: float,
    target_modules: Sequence[str],
    gradient_checkpointing: bool,
    seed: int,
) -> Any:
    """Wrap `model` in a peft LoRA; only the adapter's weights train (kept in float32)."""
    import torch
    from peft import LoraConfig, get_peft_model

    if gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None)
        kwargs = {"use_reentrant": False}
        if enable is not None:
            enable(activation_checkpointing_kwargs=kwargs)
        else:  # transformers before 5
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.enable_input_require_grads()
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,  # type: ignore[arg-type]  # annotated int; a float scales alike
        lora_dropout=dropout,
        target_modules=list(target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    for p in peft_model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return peft_model

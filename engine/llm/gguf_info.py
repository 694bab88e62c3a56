"""What a GGUF file holds: architecture, size, quantization, context, chat template.

Read from the file's header with the `gguf` package, without loading any weights, so that adding
a model or checking an adapter takes about a second even for a multi-gigabyte file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ModelError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GGUFInfo:
    """The facts about one GGUF file that Hearth shows and uses to plan memory."""

    architecture: str
    name: str | None
    parameters: int | None
    """Number of weights in the file (for an adapter: in the adapter)."""
    quantization: str
    """Weight type, such as "Q4_K_M" or "F16"."""
    context_length: int
    """Context the model was trained for; 0 when the file does not say (adapters)."""
    chat_template: str | None
    n_layer: int
    n_embd: int
    vocab_size: int
    size_bytes: int
    is_adapter: bool
    n_head: int = 0
    n_head_kv: int = 0
    adapter_type: str | None = None
    """"lora" for a LoRA adapter; None for a model."""


def _file_type_names() -> dict[int, str]:
    import gguf

    names = {}
    for member in gguf.LlamaFileType:
        label = member.name.removeprefix("MOSTLY_").removeprefix("ALL_")
        names[int(member.value)] = label
    return names


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return None
    try:
        return field.contents()
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def _tensor_quantization(reader: Any) -> str:
    """The weight type holding most of the bytes of the matrices, e.g. "Q4_K" or "F16"."""
    weight: Counter[str] = Counter()
    for tensor in reader.tensors:
        if len(tensor.shape) >= 2 and int(tensor.shape[1]) > 1:
            weight[tensor.tensor_type.name] += int(tensor.n_bytes)
    if not weight:
        return "unknown"
    return weight.most_common(1)[0][0]


def check_gguf_magic(path: Path) -> None:
    """Raise ModelError unless `path` is an existing file that starts with the GGUF magic."""
    if not path.exists():
        raise ModelError(f"There is no file at {path}. Check the path and try again.")
    if not path.is_file():
        raise ModelError(f"{path} is a folder, not a GGUF model file. Give the .gguf file itself.")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"{path} could not be read: {e.strerror or e}.") from e
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path.name} is not a GGUF model file (it does not start with 'GGUF'). "
            "Hearth runs models in the GGUF format, for example a Q4_K_M file of an instruct "
            "model; other formats (safetensors, .bin, .pth) need converting first."
        )


def _open(path: Path) -> Any:
    import gguf

    check_gguf_magic(path)
    try:
        return gguf.GGUFReader(str(path))
    except Exception as e:  # the reader raises assorted errors for damaged headers
        raise ModelError(
            f"{path.name} is not a GGUF model file Hearth can read: its header is damaged or "
            f"truncated ({e}). Download or export it again."
        ) from e


def read_gguf_info(path: Path) -> GGUFInfo:
    """Describe the GGUF file at `path`; ModelError if it is missing or not a GGUF file."""
    path = Path(path)
    reader = _open(path)
    arch = _field(reader, "general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelError(
            f"{path.name} is not a GGUF model file Hearth can use: it names no architecture."
        )
    kind = _field(reader, "general.type")
    adapter_type = _field(reader, "adapter.type")
    is_adapter = kind == "adapter" or adapter_type is not None

    file_type = _field(reader, "general.file_type")
    quantization = _file_type_names().get(file_type) if isinstance(file_type, int) else None
    if quantization is None:
        quantization = _tensor_quantization(reader)

    tokens = reader.fields.get("tokenizer.ggml.tokens")
    vocab_size = len(tokens.data) if tokens is not None else 0
    if not vocab_size:
        vocab_size = int(_field(reader, f"{arch}.vocab_size") or 0)

    def number(key: str) -> int:
        value = _field(reader, f"{arch}.{key}")
        if isinstance(value, list):  # per-layer values in some architectures
            value = max(value) if value else 0
        return int(value or 0)

    parameters = sum(int(t.n_elements) for t in reader.tensors) or None
    name = _field(reader, "general.name")
    template = _field(reader, "tokenizer.chat_template")
    return GGUFInfo(
        architecture=arch,
        name=name if isinstance(name, str) and name else None,
        parameters=parameters,
        quantization=quantization,
        context_length=number("context_length"),
        chat_template=template if isinstance(template, str) and template else None,
        n_layer=number("block_count"),
        n_embd=number("embedding_length"),
        vocab_size=vocab_size,
        size_bytes=path.stat().st_size,
        is_adapter=is_adapter,
        n_head=number("attention.head_count"),
        n_head_kv=number("attention.head_count_kv") or number("attention.head_count"),
        adapter_type=adapter_type if isinstance(adapter_type, str) else None,
    )


def check_adapter_fits(adapter: Path, base: Path) -> None:
    """Raise ModelError unless the LoRA adapter at `adapter` applies to the model at `base`.

    Every `<tensor>.lora_a` / `.lora_b` pair must name a tensor of the base model, with A of
    shape (rank, inputs) and B of shape (outputs, rank) for that tensor; this is what llama.cpp
    checks when it loads the adapter, found here before any model is loaded.
    """
    adapter_reader = _open(Path(adapter))
    base_reader = _open(Path(base))
    base_shapes = {t.name: tuple(int(x) for x in t.shape) for t in base_reader.tensors}
    arch = _field(adapter_reader, "general.architecture")
    base_arch = _field(base_reader, "general.architecture")
    if arch != base_arch:
        raise ModelError(
            f"The adapter {Path(adapter).name} was made for a {arch} model, but "
            f"{Path(base).name} is a {base_arch} model. Use the model it was trained on."
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for t in adapter_reader.tensors:
        for suffix in (".lora_a", ".lora_b"):
            if t.name.endswith(suffix):
                pairs.setdefault(t.name.removesuffix(suffix), {})[suffix] = tuple(
                    int(x) for x in t.shape
                )
    if not pairs:
        raise ModelError(f"{Path(adapter).name} holds no LoRA tensors (.lora_a / .lora_b).")
    for target, parts in sorted(pairs.items()):
        shape = base_shapes.get(target)
        a, b = parts.get(".lora_a"), parts.get(".lora_b")
        # GGUF lists dimensions innermost first: a base weight is (inputs, outputs),
        # lora_a (inputs, rank) and lora_b (rank, outputs).
        fits = (
            shape is not None
            and a is not None
            and b is not None
            and len(shape) >= 2
            and a[0] == shape[0]
            and b[1] == shape[1]
            and a[1] == b[0]
        )
        if not fits:
            raise ModelError(
                f"The adapter {Path(adapter).name} does not fit {Path(base).name}: its tensor "
                f"{target} has no matching weight of that shape in the model. It was trained "
                "on a different model; use that model as its base."
            )

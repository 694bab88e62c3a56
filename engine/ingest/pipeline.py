"""Ingesting files into a collection: discover, parse, chunk, embed, write — incrementally.

`ingest_paths` is a generator of typed events (engine/events.py). Work is committed in
batches: each batch of documents is embedded and then written in one transaction, so a
cancelled or killed run leaves a consistent collection and the next run resumes with what is
missing. Unchanged files (same size and time, or same content hash) are skipped. A file that
cannot be read is reported with its reason and recorded as failed; the rest goes on.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import DocumentError, EmptyDocument
from engine.events import (
    CancelToken,
    DocumentRemoved,
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
from engine.index.catalog import NewChunk
from engine.index.collection import Collection
from engine.ingest.chunk import Chunk, chunk_document
from engine.ingest.parse import ParsedDocument, is_supported, parse_file, supported_suffixes

CHUNK_TOKENS = 200
"""Text tokens per chunk. Small chunks retrieve markedly better than page-sized ones, and the
embedder (256 tokens with its special tokens and the heading prefix) still sees all of it."""

CHUNK_OVERLAP = 32
"""Tokens repeated between neighbouring chunks of a section, so a sentence cut at a boundary
is still found whole in one of them."""

BATCH_CHUNKS = 256
"""Chunks embedded and committed together: large enough for efficient batches, small enough
that a cancel or crash loses little."""

ENCODE_CHUNKS = 64
"""Chunks per call into the embedder; cancellation is checked between calls."""

_DANGLING = "This is a link to a file that does not exist (moved or deleted?)."

_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".tox", ".cache"}


@dataclass
class _Pending:
    meta: dict[str, object]
    chunks: list[Chunk]
    vectors: np.ndarray | None = None


@dataclass
class _Stats:
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0
    chunks: int = 0
    pages: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)
    timings: dict[str, float] = field(
        default_factory=lambda: {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "write": 0.0}
    )


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to ingest from files and folders (recursively), and paths that cannot be used.

    A file named explicitly is always tried; inside folders, hidden entries, version-control
    and build folders, and files that are not documents are passed over quietly.
    """
    from engine.watch import is_ignored_name

    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        p = p.absolute()
        if p not in seen:
            seen.add(p)
            files.append(p)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, names in os.walk(path, onerror=None):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
                for name in sorted(names):
                    p = Path(root) / name
                    if is_ignored_name(name):  # hidden, temporary, lock files (engine/watch.py)
                        continue
                    if p.is_file():
                        if is_supported(p):
                            add(p)
                    elif p.is_symlink() and p.suffix.lower() in supported_suffixes():
                        problems.append((p.absolute(), _DANGLING))
        elif path.is_file():
            add(path)
        elif path.is_symlink():
            problems.append((path.absolute(), _DANGLING))
        else:
            problems.append((path.absolute(), "There is no file or folder at this path."))
    return files, problems


def file_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the heading path gives a passage the context of its section."""
    heading = " > ".join(chunk.heading_path)
    if heading and not chunk.text.startswith(chunk.heading_path[-1]):
        return f"{heading}\n{chunk.text}"
    return chunk.text


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
    started = time.monotonic()
    stats = _Stats()
    files, problems = discover(paths)
    total = len(files)
    yield IngestStarted(collection.name, total)
    catalog = collection.catalog

    failed_meta: list[dict[str, object]] = []

    def fail(path: Path, reason: str, meta: dict[str, object] | None = None) -> FileFailed:
        """Count a failure and queue it for the catalogue, where `hearth status` finds it."""
        stats.failed += 1
        stats.failures.append((path, reason))
        failed_meta.append({**(meta or {"path": str(path)}), "error": reason})
        return FileFailed(path, reason)

    for path, reason in problems:
        yield fail(path, reason)

    sizes = {}
    for p in files:
        try:
            sizes[p] = p.stat().st_size
        except OSError:
            sizes[p] = 0
    total_bytes = max(1, sum(sizes.values()))
    done_bytes = 0
    files_done = 0
    chunks_done = 0
    cancelled = False

    def progress(current: Path | None) -> IngestProgress:
        elapsed = time.monotonic() - started
        eta = None
        if done_bytes and files_done < total:
            eta = elapsed * (total_bytes - done_bytes) / done_bytes
        return IngestProgress(
            files_done=files_done,
            files_total=total,
            chunks_done=chunks_done,
            elapsed_s=elapsed,
            chunks_per_s=chunks_done / elapsed if elapsed > 0 else 0.0,
            eta_s=eta,
            current=current,
        )

    with collection.write_lock:
        embedder = collection.embedder()
        if catalog.get_meta("embedding_dim") is None:
            catalog.set_meta("embedding_dim", str(embedder.dim))
        vectors = collection.vectors()
        pending: list[_Pending] = []

        def flush() -> Iterator[IngestEvent]:
            """Embed the pending documents and write them (with failures) in one transaction."""
            nonlocal chunks_done, cancelled
            all_chunks = [(i, c) for i, p in enumerate(pending) for c in p.chunks]
            texts = [embedding_text(c) for _, c in all_chunks]
            # Similar lengths together: less padding, faster batches.
            order = sorted(range(len(texts)), key=lambda j: len(texts[j]))
            vecs = np.zeros((len(texts), embedder.dim), dtype=np.float32)
            embedded = np.zeros(len(texts), dtype=bool)
            for s in range(0, len(order), ENCODE_CHUNKS):
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                part = order[s : s + ENCODE_CHUNKS]
                t0 = time.perf_counter()
                vecs[part] = embedder.embed([texts[j] for j in part])
                stats.timings["embed"] += time.perf_counter() - t0
                embedded[part] = True
                chunks_done += len(part)
                yield progress(None)
            # Only documents whose chunks are all embedded are written.
            complete: list[_Pending] = []
            pos = 0
            for p in pending:
                n = len(p.chunks)
                if embedded[pos : pos + n].all():
                    p.vectors = vecs[pos : pos + n]
                    complete.append(p)
                pos += n
            t0 = time.perf_counter()
            removed, added = catalog.write_batch(
                (
                    (
                        p.meta,
                        [
                            NewChunk(
                                text=c.text,
                                heading=" > ".join(c.heading_path),
                                page=c.page,
                                start=c.start,
                                end=c.end,
                                embedding=v,
                            )
                            for c, v in zip(p.chunks, p.vectors, strict=True)  # type: ignore[arg-type]
                        ],
                    )
                    for p in complete
                ),
                failed_meta,
            )
            vectors.update(removed, added)
            stats.timings["write"] += time.perf_counter() - t0
            failed_meta.clear()
            for p in complete:
                stats.indexed += 1
                stats.chunks += len(p.chunks)
                stats.pages += int(p.meta.get("pages") or 0)  # type: ignore[call-overload]
                yield FileIndexed(Path(str(p.meta["path"])), len(p.chunks), p.meta.get("pages"))  # type: ignore[arg-type]
            pending.clear()

        try:
            for index, path in enumerate(files):
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                yield FileStarted(path, index, total)
                event = _prepare(path, catalog, embedder, chunk_tokens, chunk_overlap, stats)
                files_done += 1
                done_bytes += sizes.get(path, 0)
                if isinstance(event, _Pending):
                    pending.append(event)
                elif isinstance(event, FileSkipped):
                    stats.skipped += 1
                    yield event
                else:
                    meta, reason = event
                    yield fail(path, reason, meta)
                if sum(len(p.chunks) for p in pending) >= batch_chunks:
                    yield from flush()
                    if cancelled:
                        break
                yield progress(path)
            if pending or failed_meta:
                yield from flush()  # after a cancel this writes only what is complete
            if sync and not cancelled:
                gone = [d.path for d in catalog.documents() if not d.path.exists()]
                vectors.update(catalog.remove_documents(gone), ())
                for p in gone:
                    stats.removed += 1
                    yield DocumentRemoved(p)
        finally:
            collection.save_vectors()

    yield IngestFinished(
        IngestSummary(
            collection=collection.name,
            indexed=stats.indexed,
            skipped=stats.skipped,
            failed=stats.failed,
            removed=stats.removed,
            chunks=stats.chunks,
            pages=stats.pages,
            seconds=time.monotonic() - started,
            cancelled=cancelled,
            failures=tuple(stats.failures),
            timings=dict(stats.timings),
        )
    )


def _prepare(
    path: Path,
    catalog,  # type: ignore[no-untyped-def]
    embedder,  # type: ignore[no-untyped-def]
    chunk_tokens: int,
    chunk_overlap: int,
    stats: _Stats,
) -> _Pending | FileSkipped | tuple[dict[str, object], str]:
    """Decide what to do with one file: skip it, or parse and chunk it, or say why it failed."""
    meta: dict[str, object] = {"path": str(path), "kind": path.suffix.lower().lstrip(".")}
    try:
        st = path.stat()
        meta.update(size=st.st_size, mtime=st.st_mtime)
        existing = catalog.document(path)
        if (
            existing is not None
            and existing.status == "indexed"
            and existing.size == st.st_size
            and existing.mtime == st.st_mtime
        ):
            return FileSkipped(path, "unchanged")
        digest = file_hash(path)
        meta["content_hash"] = digest
        if (
            existing is not None
            and existing.status == "indexed"
            and existing.content_hash == digest
        ):
            catalog.touch(existing.id, mtime=st.st_mtime, size=st.st_size)
            return FileSkipped(path, "unchanged")
    except OSError as exc:
        return (
            meta,
            f"Hearth cannot read this file: {exc.strerror or exc}. Check that it exists and that you may read it.",
        )
    try:
        t0 = time.perf_counter()
        doc: ParsedDocument = parse_file(path)
        t1 = time.perf_counter()
        chunks = chunk_document(
            doc, tokenizer=embedder.tokenizer, max_tokens=chunk_tokens, overlap_tokens=chunk_overlap
        )
        stats.timings["parse"] += t1 - t0
        stats.timings["chunk"] += time.perf_counter() - t1
        meta.update(kind=doc.kind, title=doc.title, pages=doc.pages, text=doc.text)
        if not chunks:
            raise EmptyDocument(path, "This document contains no text to index.")
    except DocumentError as exc:
        return meta, exc.reason
    except Exception as exc:  # a parser bug on one file must not stop a folder of a thousand
        return meta, (
            f"Hearth could not read this file ({type(exc).__name__}: {exc}). "
            "It may be damaged or in a variant of the format Hearth does not handle."
        )
    return _Pending(meta=meta, chunks=chunks)

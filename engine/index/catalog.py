"""A collection's catalogue: documents, chunks and the keyword index, in one SQLite file.

The catalogue is the source of truth. Each chunk row keeps its embedding, so the vector index
can always be rebuilt from here; a counter in `meta` says which state the vector index file
must reflect. Every write is one transaction, so a crash at any moment leaves a catalogue that
opens and is consistent.

A document's life: an ingest writes it as `pending` with its chunks as soon as it is read
(keyword search finds it at once), fills in the chunks' embeddings batch by batch, and marks it
`indexed` in the transaction that stores its last embedding. A document is `pending` only
while an ingest runs: what a killed run left pending is dropped when the collection is next
opened (`drop_pending`), so a kill loses at most the documents still being embedded. A file
whose content equals an indexed document's is recorded as its `duplicate` (no chunks); when
the original goes, the duplicate takes its place and keeps its passages.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 2

_DOCUMENTS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL DEFAULT '',
    pages INTEGER,
    chunks INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'failed', 'pending', 'duplicate')),
    error TEXT,
    text BLOB,
    updated_at REAL NOT NULL,
    duplicate_of INTEGER
);
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + _DOCUMENTS_TABLE.format(name="documents")
    + """
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT NOT NULL DEFAULT '',
    page INTEGER,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
    VALUES ('delete', old.id, old.text, old.heading);
END;
"""
)
_LATE_INDEXES = """
CREATE INDEX IF NOT EXISTS documents_by_hash ON documents(content_hash);
CREATE INDEX IF NOT EXISTS documents_by_status ON documents(status);
"""

_NOT_EMBEDDED = b""
"""A chunk's embedding before the ingest has computed it (the column is NOT NULL)."""


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    path: Path
    title: str
    kind: str
    size: int
    mtime: float
    content_hash: str
    pages: int | None
    chunks: int
    status: str
    """'indexed', 'failed', 'pending' (being embedded) or 'duplicate'."""
    error: str | None
    updated_at: float
    duplicate_of: Path | None = None
    """For a duplicate: the path of the indexed document with the same content."""


@dataclass(frozen=True)
class DocumentRow:
    """A document to write: what the ingest learned about one file."""

    path: Path
    kind: str = ""
    title: str = ""
    size: int = 0
    mtime: float = 0.0
    content_hash: str = ""
    pages: int | None = None
    text: str = ""
    """The document's extracted text, which chunk spans point into (stored compressed)."""
    error: str | None = None
    """Why the file could not be read (failed documents only)."""


@dataclass(frozen=True)
class ChunkRecord:
    id: int
    document_id: int
    path: Path
    title: str
    text: str
    heading: str
    page: int | None
    start: int
    end: int


@dataclass(frozen=True)
class NewChunk:
    """A chunk ready to be written: its text, place and (once computed) embedding."""

    text: str
    heading: str
    page: int | None
    start: int
    end: int
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class PendingChunk:
    """A chunk written without its embedding yet: what the embedder needs."""

    id: int
    document_id: int
    text: str
    heading: str


@dataclass(frozen=True)
class CompletedDocument:
    """A document whose last embedding was just stored: it is now indexed."""

    id: int
    path: Path
    chunks: int
    pages: int | None


@dataclass(frozen=True)
class Counts:
    """How many documents of each state and how many chunks (embedded or not yet)."""

    indexed: int = 0
    failed: int = 0
    pending: int = 0
    duplicates: int = 0
    chunks: int = 0
    embedded: int = 0


_DOC_COLUMNS = (
    "d.id, d.path, d.title, d.kind, d.size, d.mtime, d.content_hash, d.pages, d.chunks,"
    " d.status, d.error, d.updated_at, o.path"
)
_DOC_SELECT = (
    f"SELECT {_DOC_COLUMNS} FROM documents d LEFT JOIN documents o ON o.id = d.duplicate_of"
)


def _doc(row: Sequence[Any]) -> DocumentRecord:
    return DocumentRecord(
        id=int(row[0]),
        path=Path(str(row[1])),
        title=str(row[2]),
        kind=str(row[3]),
        size=int(row[4]),
        mtime=float(row[5]),
        content_hash=str(row[6]),
        pages=None if row[7] is None else int(row[7]),
        chunks=int(row[8]),
        status=str(row[9]),
        error=None if row[10] is None else str(row[10]),
        updated_at=float(row[11]),
        duplicate_of=None if row[12] is None else Path(str(row[12])),
    )


_CHUNK_SELECT = (
    "SELECT c.id, c.document_id, d.path, d.title, c.text, c.heading, c.page, c.start, c.end"
    " FROM chunks c JOIN documents d ON d.id = c.document_id"
)


def _chunk(r: Sequence[Any]) -> ChunkRecord:
    return ChunkRecord(
        id=int(r[0]),
        document_id=int(r[1]),
        path=Path(r[2]),
        title=str(r[3]),
        text=str(r[4]),
        heading=str(r[5]),
        page=None if r[6] is None else int(r[6]),
        start=int(r[7]),
        end=int(r[8]),
    )


def compress_text(text: str) -> bytes:
    """A document's text as the catalogue stores it."""
    return zlib.compress(text.encode("utf-8"), 3)


class Catalog:
    """One collection's SQLite database. Readers may use it from any thread; writes are
    serialised by a lock, and each write is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.RLock()
        with self._write_lock:
            conn = self._conn()
            conn.executescript(_SCHEMA)
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is not None and int(version[0]) < 2:
                self._migrate_to_2(conn)
            conn.executescript(_LATE_INDEXES)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('vectors_version', '0')")
            conn.commit()

    @staticmethod
    def _migrate_to_2(conn: sqlite3.Connection) -> None:
        """Version 1 allowed only 'indexed' and 'failed' and had no `duplicate_of`: the
        documents table is rebuilt (SQLite cannot alter a CHECK), chunks stay untouched."""
        conn.commit()
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_DOCUMENTS_TABLE.format(name="documents_v2"))
            columns = (
                "id, path, title, kind, size, mtime, content_hash, pages, chunks, status, error,"
                " text, updated_at"
            )
            conn.execute(f"INSERT INTO documents_v2({columns}) SELECT {columns} FROM documents")
            conn.execute("DROP TABLE documents")
            conn.execute("ALTER TABLE documents_v2 RENAME TO documents")
            conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA foreign_keys=ON")

    # --- connections --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            conns = self.__dict__.setdefault("_all_conns", [])
            conns.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.__dict__.pop("_all_conns", []):
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass  # closed from another thread already
        self._local = threading.local()

    @staticmethod
    def _transaction(conn: sqlite3.Connection) -> _Transaction:
        return _Transaction(conn)

    # --- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            conn = self._conn()
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            conn.commit()

    @property
    def vectors_version(self) -> int:
        return int(self.get_meta("vectors_version", "0") or 0)

    # --- documents ----------------------------------------------------------------------------

    def documents(self) -> list[DocumentRecord]:
        rows = self._conn().execute(f"{_DOC_SELECT} ORDER BY d.path")
        return [_doc(r) for r in rows]

    def document(self, path: Path) -> DocumentRecord | None:
        row = self._conn().execute(f"{_DOC_SELECT} WHERE d.path = ?", (str(path),)).fetchone()
        return None if row is None else _doc(row)

    def document_by_id(self, document_id: int) -> DocumentRecord | None:
        row = self._conn().execute(f"{_DOC_SELECT} WHERE d.id = ?", (document_id,)).fetchone()
        return None if row is None else _doc(row)

    def document_with_content(self, content_hash: str) -> DocumentRecord | None:
        """The indexed (or being indexed) document with this content hash, if any."""
        row = (
            self._conn()
            .execute(
                f"{_DOC_SELECT} WHERE d.content_hash = ? AND d.status IN ('indexed', 'pending')"
                " ORDER BY d.id LIMIT 1",
                (content_hash,),
            )
            .fetchone()
        )
        return None if row is None else _doc(row)

    def document_text(self, document_id: int) -> str:
        row = (
            self._conn()
            .execute("SELECT text FROM documents WHERE id = ?", (document_id,))
            .fetchone()
        )
        if row is None or row[0] is None:
            return ""
        return zlib.decompress(row[0]).decode("utf-8")

    def counts(self) -> Counts:
        conn = self._conn()
        docs = dict(conn.execute("SELECT status, COUNT(*) FROM documents GROUP BY status"))
        chunks, embedded = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(embedding) > 0), 0) FROM chunks"
        ).fetchone()
        return Counts(
            indexed=int(docs.get("indexed", 0)),
            failed=int(docs.get("failed", 0)),
            pending=int(docs.get("pending", 0)),
            duplicates=int(docs.get("duplicate", 0)),
            chunks=int(chunks),
            embedded=int(embedded),
        )

    def touch(self, document_id: int, *, mtime: float, size: int) -> None:
        """Record a new modification time for a document whose content did not change."""
        with self._write_lock:
            conn = self._conn()
            conn.execute(
                "UPDATE documents SET mtime = ?, size = ? WHERE id = ?", (mtime, size, document_id)
            )
            conn.commit()

    # --- writes (one transaction each) --------------------------------------------------------

    def write_batch(
        self,
        indexed: Iterable[tuple[DocumentRow, Sequence[NewChunk]]],
        failed: Iterable[DocumentRow] = (),
    ) -> tuple[list[int], list[tuple[int, np.ndarray]]]:
        """Write documents with their chunks, and failed documents, in one transaction.

        A document whose chunks all carry embeddings is written `indexed`; one whose chunks
        have none yet is written `pending` (the ingest embeds it next). A document already in
        the catalogue is replaced whole. Returns the ids of chunks that were removed and the
        (id, embedding) pairs that were added, for the vector index.
        """
        removed: list[int] = []
        added: list[tuple[int, np.ndarray]] = []
        with self._write_lock:
            conn = self._conn()
            with self._transaction(conn):
                for doc, chunks in indexed:
                    gone, document_id = self._insert_document(conn, doc, chunks, status=None)
                    removed += gone
                    added += self._insert_chunks(conn, document_id, 0, chunks)
                for doc in failed:
                    gone, _ = self._insert_document(conn, doc, (), status="failed")
                    removed += gone
                if removed or added:
                    self._bump_vectors_version(conn)
        return removed, added

    def add_chunks(
        self, document_id: int, chunks: Sequence[NewChunk], *, text: bytes | None = None
    ) -> None:
        """Append chunks (without embeddings) to a pending document, and optionally store its
        compressed text: how a document read as a stream is written part by part."""
        with self._write_lock:
            conn = self._conn()
            with self._transaction(conn):
                (first,) = conn.execute(
                    "SELECT chunks FROM documents WHERE id = ? AND status = 'pending'",
                    (document_id,),
                ).fetchone()
                self._insert_chunks(conn, document_id, int(first), chunks)
                conn.execute(
                    "UPDATE documents SET chunks = chunks + ? WHERE id = ?",
                    (len(chunks), document_id),
                )
                if text is not None:
                    conn.execute("UPDATE documents SET text = ? WHERE id = ?", (text, document_id))

    def write_duplicate(self, doc: DocumentRow, original_id: int) -> list[int]:
        """Record a file whose content equals document `original_id`'s: no chunks of its own."""
        with self._write_lock:
            conn = self._conn()
            with self._transaction(conn):
                removed, document_id = self._insert_document(conn, doc, (), status="duplicate")
                conn.execute(
                    "UPDATE documents SET duplicate_of = ? WHERE id = ?", (original_id, document_id)
                )
                if removed:
                    self._bump_vectors_version(conn)
        return removed

    def _insert_document(
        self,
        conn: sqlite3.Connection,
        doc: DocumentRow,
        chunks: Sequence[NewChunk],
        *,
        status: str | None,
    ) -> tuple[list[int], int]:
        removed = self._delete_document(conn, doc.path)
        if status is None:
            embedded = [c.embedding is not None for c in chunks]
            if any(embedded) and not all(embedded):
                raise ValueError("a document's chunks are written all embedded or none")
            status = "indexed" if chunks and all(embedded) else "pending"
        cur = conn.execute(
            "INSERT INTO documents(path, title, kind, size, mtime, content_hash, pages, chunks,"
            " status, error, text, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(doc.path),
                doc.title,
                doc.kind,
                doc.size,
                doc.mtime,
                doc.content_hash,
                doc.pages,
                len(chunks),
                status,
                doc.error if status == "failed" else None,
                compress_text(doc.text) if status in ("indexed", "pending") else None,
                time.time(),
            ),
        )
        return removed, int(cur.lastrowid or 0)

    @staticmethod
    def _insert_chunks(
        conn: sqlite3.Connection, document_id: int, first: int, chunks: Sequence[NewChunk]
    ) -> list[tuple[int, np.ndarray]]:
        added: list[tuple[int, np.ndarray]] = []
        for ord_, ch in enumerate(chunks, start=first):
            vec = None
            if ch.embedding is not None:
                vec = np.ascontiguousarray(ch.embedding, dtype=np.float32)
            cur = conn.execute(
                "INSERT INTO chunks(document_id, ord, text, heading, page, start, end,"
                " embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document_id,
                    ord_,
                    ch.text,
                    ch.heading,
                    ch.page,
                    ch.start,
                    ch.end,
                    _NOT_EMBEDDED if vec is None else vec.tobytes(),
                ),
            )
            if vec is not None:
                added.append((int(cur.lastrowid or 0), vec))
        return added

    def pending_chunks(self, *, after: int = 0, limit: int = 256) -> list[PendingChunk]:
        """Chunks still waiting for their embedding, in the order they were written."""
        rows = self._conn().execute(
            "SELECT id, document_id, text, heading FROM chunks"
            " WHERE length(embedding) = 0 AND id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [PendingChunk(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def store_embeddings(
        self, ids: Sequence[int], vectors: np.ndarray
    ) -> tuple[list[tuple[int, np.ndarray]], list[CompletedDocument]]:
        """Store computed embeddings of pending chunks in one transaction; documents whose
        every chunk is now embedded become `indexed`. Returns the added (id, vector) pairs and
        the documents completed."""
        added: list[tuple[int, np.ndarray]] = []
        completed: list[CompletedDocument] = []
        with self._write_lock:
            conn = self._conn()
            with self._transaction(conn):
                documents: set[int] = set()
                for chunk_id, vec in zip(ids, vectors, strict=True):
                    v = np.ascontiguousarray(vec, dtype=np.float32)
                    row = conn.execute(
                        "UPDATE chunks SET embedding = ? WHERE id = ? RETURNING document_id",
                        (v.tobytes(), chunk_id),
                    ).fetchone()
                    if row is None:
                        continue  # its document was removed meanwhile
                    documents.add(int(row[0]))
                    added.append((int(chunk_id), v))
                for document_id in sorted(documents):
                    waiting = conn.execute(
                        "SELECT 1 FROM chunks WHERE document_id = ? AND length(embedding) = 0"
                        " LIMIT 1",
                        (document_id,),
                    ).fetchone()
                    if waiting is not None:
                        continue
                    row = conn.execute(
                        "UPDATE documents SET status = 'indexed', updated_at = ?"
                        " WHERE id = ? AND status = 'pending' RETURNING path, chunks, pages",
                        (time.time(), document_id),
                    ).fetchone()
                    if row is not None:
                        pages = None if row[2] is None else int(row[2])
                        completed.append(
                            CompletedDocument(document_id, Path(row[0]), int(row[1]), pages)
                        )
                if added:
                    self._bump_vectors_version(conn)
        return added, completed

    def drop_pending(self) -> list[int]:
        """Remove documents left `pending` (by a run that stopped) and the duplicates that
        point at them; returns the removed chunk ids. The next ingest reads them again."""
        with self._write_lock:
            conn = self._conn()
            pending = [
                int(r[0]) for r in conn.execute("SELECT id FROM documents WHERE status = 'pending'")
            ]
            if not pending:
                return []
            removed: list[int] = []
            with self._transaction(conn):
                for document_id in pending:
                    conn.execute("DELETE FROM documents WHERE duplicate_of = ?", (document_id,))
                    removed += [
                        r[0]
                        for r in conn.execute(
                            "SELECT id FROM chunks WHERE document_id = ? AND length(embedding) > 0",
                            (document_id,),
                        )
                    ]
                    conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
                    conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
                self._bump_vectors_version(conn)
            return removed

    def remove_documents(self, paths: Iterable[Path]) -> list[int]:
        """Remove documents (and their chunks) by path; returns the removed chunk ids.

        A removed document that has a duplicate is not lost: the duplicate takes its place.
        """
        removed: list[int] = []
        with self._write_lock:
            conn = self._conn()
            with self._transaction(conn):
                for path in paths:
                    removed += self._delete_document(conn, path)
                if removed:
                    self._bump_vectors_version(conn)
        return removed

    @staticmethod
    def _delete_document(conn: sqlite3.Connection, path: Path) -> list[int]:
        """Delete the document at `path`, or hand its row to its first duplicate (which has
        the same content, hence the same chunks). Returns the chunk ids that are gone."""
        row = conn.execute(
            "SELECT id, title FROM documents WHERE path = ?", (str(path),)
        ).fetchone()
        if row is None:
            return []
        document_id, title = int(row[0]), str(row[1])
        heir = conn.execute(
            "SELECT id, path, size, mtime FROM documents WHERE duplicate_of = ? AND status ="
            " 'duplicate' ORDER BY path LIMIT 1",
            (document_id,),
        ).fetchone()
        if heir is not None:
            conn.execute("DELETE FROM documents WHERE id = ?", (heir[0],))
            new_title = Path(heir[1]).name if title == Path(path).name else title
            conn.execute(
                "UPDATE documents SET path = ?, size = ?, mtime = ?, title = ? WHERE id = ?",
                (heir[1], heir[2], heir[3], new_title, document_id),
            )
            return []
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM chunks WHERE document_id = ? AND length(embedding) > 0",
                (document_id,),
            )
        ]
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return ids

    @staticmethod
    def _bump_vectors_version(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'vectors_version'"
        )

    def replace_embeddings(
        self, ids: Sequence[int], vectors: np.ndarray, *, model: str, dim: int
    ) -> None:
        """Swap every chunk's embedding for a new model's, in one transaction."""
        with self._write_lock:
            conn = self._conn()
            with self._transaction(conn):
                conn.executemany(
                    "UPDATE chunks SET embedding = ? WHERE id = ?",
                    (
                        (np.ascontiguousarray(v, dtype=np.float32).tobytes(), i)
                        for i, v in zip(ids, vectors, strict=True)
                    ),
                )
                for key, value in (("embedding_model", model), ("embedding_dim", str(dim))):
                    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
                    conn.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value)
                    )
                self._bump_vectors_version(conn)

    # --- chunks -------------------------------------------------------------------------------

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """Chunk records with their document's path and title, by chunk id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn().execute(f"{_CHUNK_SELECT} WHERE c.id IN ({marks})", list(ids))
        return {int(r[0]): _chunk(r) for r in rows}

    def embeddings(self, ids: Sequence[int], dim: int) -> np.ndarray:
        """Stored embeddings of the given chunks, in the given order."""
        if not ids:
            return np.zeros((0, dim), dtype=np.float32)
        marks = ",".join("?" * len(ids))
        found = dict(
            self._conn().execute(f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", ids)
        )
        out = np.zeros((len(ids), dim), dtype=np.float32)
        for row, i in enumerate(ids):
            blob = found.get(i)
            if blob:  # a chunk not embedded yet (found by keywords during an ingest) stays 0
                out[row] = np.frombuffer(blob, dtype=np.float32)
        return out

    def iter_embeddings(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (ids, embeddings) in batches, for rebuilding the vector index."""
        cur = self._conn().execute(
            "SELECT id, embedding FROM chunks WHERE length(embedding) > 0 ORDER BY id"
        )
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        """Every chunk in document order, with its document's path and title."""
        cur = self._conn().execute(f"{_CHUNK_SELECT} ORDER BY d.path, c.ord")
        for r in cur:
            yield _chunk(r)

    def term_document_counts(self, words: Sequence[str]) -> dict[str, int]:
        """How many chunks contain each word (after the index's own stemming)."""
        if not words:
            return {}
        stems = _stems(words)
        wanted = sorted(set(stems.values()))
        marks = ",".join("?" * len(wanted))
        counts = dict(
            self._conn().execute(
                f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", wanted
            )
        )
        return {w: int(counts.get(stems.get(w, ""), 0)) for w in words}

    def keyword_search(self, match: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, bm25) for an FTS5 MATCH expression, best first."""
        if not match:
            return []
        rows = self._conn().execute(
            "SELECT rowid, bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts"
            " WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?",
            (match, limit),
        )
        return [(int(r[0]), float(r[1])) for r in rows]


_stemmer = threading.local()


def _stems(words: Sequence[str]) -> dict[str, str]:
    """Each word's term as the keyword index stores it, from the same FTS5 tokenizer."""
    conn = getattr(_stemmer, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.execute(
            "CREATE VIRTUAL TABLE q USING fts5(t, tokenize='porter unicode61 remove_diacritics 2')"
        )
        conn.execute("CREATE VIRTUAL TABLE qi USING fts5vocab(q, 'instance')")
        _stemmer.conn = conn
    conn.execute("DELETE FROM q")
    conn.executemany("INSERT INTO q(rowid, t) VALUES (?, ?)", enumerate(words))
    found: dict[str, str] = {}
    for doc, term in conn.execute("SELECT doc, term FROM qi"):
        found.setdefault(words[doc], term)
    return found


class _Transaction:
    """`with` block around one write transaction: BEGIN IMMEDIATE, COMMIT, or ROLLBACK."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._conn.execute("COMMIT" if kind is None else "ROLLBACK")

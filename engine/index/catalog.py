"""A collection's catalogue: documents, chunks and the keyword index, in one SQLite file.

The catalogue is the source of truth. Each chunk row keeps its embedding, so the vector index
can always be rebuilt from here; a counter in `meta` says which state the vector index file
must reflect. Writes happen in one transaction per batch, so a crash at any moment leaves a
catalogue that opens and is consistent: a document is either fully indexed or not at all.
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

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL DEFAULT '',
    pages INTEGER,
    chunks INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
    error TEXT,
    text BLOB,
    updated_at REAL NOT NULL
);
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
    """'indexed' or 'failed'."""
    error: str | None
    updated_at: float


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
    """A chunk ready to be written: its text, place and embedding."""

    text: str
    heading: str
    page: int | None
    start: int
    end: int
    embedding: np.ndarray


_DOC_COLUMNS = (
    "id, path, title, kind, size, mtime, content_hash, pages, chunks, status, error, updated_at"
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


class Catalog:
    """One collection's SQLite database. Readers may use it from any thread; writes are
    serialised by a lock, and each batch of writes is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.RLock()
        with self._write_lock:
            conn = self._conn()
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('vectors_version', '0')")
            conn.commit()

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
        rows = self._conn().execute(f"SELECT {_DOC_COLUMNS} FROM documents ORDER BY path")
        return [_doc(r) for r in rows]

    def document(self, path: Path) -> DocumentRecord | None:
        row = (
            self._conn()
            .execute(f"SELECT {_DOC_COLUMNS} FROM documents WHERE path = ?", (str(path),))
            .fetchone()
        )
        return None if row is None else _doc(row)

    def document_by_id(self, document_id: int) -> DocumentRecord | None:
        row = (
            self._conn()
            .execute(f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = ?", (document_id,))
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

    def counts(self) -> dict[str, int]:
        conn = self._conn()
        docs = dict(conn.execute("SELECT status, COUNT(*) FROM documents GROUP BY status"))
        chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return {
            "indexed": int(docs.get("indexed", 0)),
            "failed": int(docs.get("failed", 0)),
            "chunks": int(chunks),
        }

    def touch(self, document_id: int, *, mtime: float, size: int) -> None:
        """Record a new modification time for a document whose content did not change."""
        with self._write_lock:
            conn = self._conn()
            conn.execute(
                "UPDATE documents SET mtime = ?, size = ? WHERE id = ?", (mtime, size, document_id)
            )
            conn.commit()

    # --- writes (one transaction per batch) -----------------------------------------------------

    def write_batch(
        self,
        indexed: Iterable[tuple[dict[str, object], Sequence[NewChunk]]],
        failed: Iterable[dict[str, object]] = (),
    ) -> tuple[list[int], list[tuple[int, np.ndarray]]]:
        """Write indexed documents with their chunks, and failed documents, in one transaction.

        A document already in the catalogue is replaced whole. Returns the ids of chunks that
        were removed and the (id, embedding) pairs that were added, for the vector index.
        """
        removed: list[int] = []
        added: list[tuple[int, np.ndarray]] = []
        now = time.time()
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                for doc, chunks in indexed:
                    removed += self._delete_document(conn, Path(str(doc["path"])))
                    text = str(doc.get("text") or "")
                    cur = conn.execute(
                        "INSERT INTO documents(path, title, kind, size, mtime, content_hash, pages,"
                        " chunks, status, error, text, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'indexed', NULL, ?, ?)",
                        (
                            str(doc["path"]),
                            doc.get("title", ""),
                            doc.get("kind", ""),
                            doc.get("size", 0),
                            doc.get("mtime", 0.0),
                            doc.get("content_hash", ""),
                            doc.get("pages"),
                            len(chunks),
                            zlib.compress(text.encode("utf-8"), 3),
                            now,
                        ),
                    )
                    document_id = cur.lastrowid
                    for ord_, ch in enumerate(chunks):
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
                                vec.tobytes(),
                            ),
                        )
                        added.append((int(cur.lastrowid or 0), vec))
                for doc in failed:
                    removed += self._delete_document(conn, Path(str(doc["path"])))
                    conn.execute(
                        "INSERT INTO documents(path, title, kind, size, mtime, content_hash,"
                        " status, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?)",
                        (
                            str(doc["path"]),
                            doc.get("title", ""),
                            doc.get("kind", ""),
                            doc.get("size", 0),
                            doc.get("mtime", 0.0),
                            doc.get("content_hash", ""),
                            str(doc.get("error", "")),
                            now,
                        ),
                    )
                if removed or added:
                    self._bump_vectors_version(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return removed, added

    def remove_documents(self, paths: Iterable[Path]) -> list[int]:
        """Remove documents (and their chunks) by path; returns the removed chunk ids."""
        removed: list[int] = []
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                for path in paths:
                    removed += self._delete_document(conn, path)
                if removed:
                    self._bump_vectors_version(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return removed

    @staticmethod
    def _delete_document(conn: sqlite3.Connection, path: Path) -> list[int]:
        row = conn.execute("SELECT id FROM documents WHERE path = ?", (str(path),)).fetchone()
        if row is None:
            return []
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", row)]
        conn.execute("DELETE FROM chunks WHERE document_id = ?", row)
        conn.execute("DELETE FROM documents WHERE id = ?", row)
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
            try:
                conn.execute("BEGIN IMMEDIATE")
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
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

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
        return np.stack([np.frombuffer(found[i], dtype=np.float32) for i in ids])

    def iter_embeddings(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (ids, embeddings) in batches, for rebuilding the vector index."""
        cur = self._conn().execute("SELECT id, embedding FROM chunks ORDER BY id")
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

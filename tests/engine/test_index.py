"""The catalogue, the vector index and their consistency, with real SQLite and FAISS."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine.index.catalog import Catalog, Counts, DocumentRow, NewChunk
from engine.index.vectors import STORE, VectorIndex
from engine.retrieval.search import keyword_query, query_words

DIM = 8


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _doc(path: str, texts: list[str], seed: int = 0) -> tuple[DocumentRow, list[NewChunk]]:
    meta = DocumentRow(path=Path(path), title=Path(path).stem, kind="text", text=" ".join(texts))
    chunks = [
        NewChunk(text=t, heading="Intro", page=None, start=0, end=len(t), embedding=_vec(seed + i))
        for i, t in enumerate(texts)
    ]
    return meta, chunks


def test_write_replace_and_remove_keep_fts_and_counts_in_step(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    removed, added = cat.write_batch([_doc("/a.txt", ["alpha beta", "gamma delta"])])
    assert removed == [] and len(added) == 2
    assert cat.counts() == Counts(indexed=1, chunks=2, embedded=2)
    assert [i for i, _ in cat.keyword_search('"gamma"', 10)] == [added[1][0]]

    # Re-writing the same path replaces the document whole.
    removed2, added2 = cat.write_batch([_doc("/a.txt", ["epsilon"], seed=10)])
    assert sorted(removed2) == sorted(i for i, _ in added)
    assert cat.keyword_search('"gamma"', 10) == []
    assert len(cat.keyword_search('"epsilon"', 10)) == 1

    cat.write_batch([], failed=[DocumentRow(path=Path("/bad.pdf"), error="This PDF is damaged.")])
    docs = {d.path.name: d for d in cat.documents()}
    assert docs["bad.pdf"].status == "failed" and docs["bad.pdf"].error == "This PDF is damaged."

    gone = cat.remove_documents([Path("/a.txt")])
    assert gone == [added2[0][0]]
    assert cat.counts() == Counts(failed=1)
    assert cat.keyword_search('"epsilon"', 10) == []


def test_failed_batch_rolls_back_completely(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    cat.write_batch([_doc("/keep.txt", ["kept text"])])
    version = cat.vectors_version
    bad = NewChunk(text=None, heading="", page=None, start=0, end=0, embedding=_vec(1))  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        cat.write_batch(
            [_doc("/new.txt", ["fine"]), (DocumentRow(path=Path("/broken.txt")), [bad])]
        )
    assert [d.path.name for d in cat.documents()] == ["keep.txt"]
    assert cat.vectors_version == version


def test_document_text_round_trips(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    meta, chunks = _doc("/t.txt", ["ünïcödé text ✓"])
    cat.write_batch([(meta, chunks)])
    doc = cat.documents()[0]
    assert cat.document_text(doc.id) == "ünïcödé text ✓"


def test_vector_index_matches_catalog_and_rebuilds_when_stale(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    path = tmp_path / "v.faiss"
    index = VectorIndex.open(path, DIM, cat)
    removed, added = cat.write_batch([_doc("/a.txt", ["one", "two", "three"])])
    index.update(removed, added)
    index.save(cat.vectors_version)
    first_id, first_vec = added[0]
    assert index.search(first_vec, 1)[0][0] == first_id

    # Saved and matching: loaded from the file.
    again = VectorIndex.open(path, DIM, cat)
    assert again.size == 3 and not again.dirty

    # The catalogue moved on (a crash before the index was saved): rebuilt from the catalogue.
    removed, added = cat.write_batch([_doc("/b.txt", ["four"], seed=50)])
    stale = VectorIndex.open(path, DIM, cat)
    assert stale.size == 4 and stale.dirty
    assert stale.search(added[0][1], 1)[0][0] == added[0][0]

    # A damaged file is rebuilt too.
    stale.save(cat.vectors_version)
    meta = (tmp_path / "v.json").read_text()
    path.write_bytes(b"not a faiss index")
    assert VectorIndex.open(path, DIM, cat).size == 4

    # So is a file written with float32 vectors (before the index held them in float16).
    faiss = pytest.importorskip("faiss")
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    for ids, vecs in cat.iter_embeddings():
        flat.add_with_ids(vecs, ids)
    faiss.write_index(flat, str(path))
    (tmp_path / "v.json").write_text(meta.replace(f', "store": "{STORE}"', ""))
    converted = VectorIndex.open(path, DIM, cat)
    assert converted.dirty and converted.size == 4
    assert converted.search(added[0][1], 1)[0][0] == added[0][0]
    converted.save(cat.vectors_version)
    assert json.loads((tmp_path / "v.json").read_text())["store"] == STORE
    assert not VectorIndex.open(path, DIM, cat).dirty


def test_keyword_query_quotes_terms_and_drops_stopwords() -> None:
    words = query_words('What is the "reset" code of model X-200?')
    assert words == ["reset", "code", "model", "200"]
    assert keyword_query(words) == '"reset" OR "code" OR "model" OR "200"'
    assert query_words("the of and") == []


def test_term_document_counts_use_the_index_stemming(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    cat.write_batch([_doc("/a.txt", ["charging the batteries", "battery settings", "other"])])
    counts = cat.term_document_counts(["battery", "batteries", "setting", "absent"])
    assert counts == {"battery": 2, "batteries": 2, "setting": 1, "absent": 0}


def test_large_collections_search_only_discriminating_words(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from engine.retrieval.search import LARGE_COLLECTION, select_terms

    cat = Catalog(tmp_path / "c.sqlite")
    n = LARGE_COLLECTION + 100
    texts = [f"common words here {'zircon' if i < 3 else 'plain'}" for i in range(n)]
    cat.write_batch([_doc("/big.txt", texts)])
    coll = SimpleNamespace(catalog=cat)
    assert select_terms(coll, ["common", "zircon"], n) == ["zircon"]  # type: ignore[arg-type]
    assert select_terms(coll, ["common", "words"], n) == []  # type: ignore[arg-type]
    # A small collection searches every word: there a frequent word can still matter.
    assert select_terms(coll, ["common", "zircon"], 100) == ["common", "zircon"]  # type: ignore[arg-type]


def test_keyword_terms_stay_within_the_postings_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from engine.retrieval import search
    from engine.retrieval.search import LARGE_COLLECTION, select_terms

    cat = Catalog(tmp_path / "c.sqlite")
    n = LARGE_COLLECTION + 100
    words = ["zircon"] * 3 + ["basalt"] * 200 + ["quartz"] * 300
    cat.write_batch([_doc("/big.txt", [f"rock {w}" for w in words] + ["rock"] * (n - 503))])
    coll = SimpleNamespace(catalog=cat)
    question = ["quartz", "basalt", "zircon"]
    assert select_terms(coll, question, n) == ["zircon", "basalt", "quartz"]  # type: ignore[arg-type]
    # The rarest words first, while their passages fit the budget.
    monkeypatch.setattr(search, "MAX_POSTINGS", 250)
    assert select_terms(coll, question, n) == ["zircon", "basalt"]  # type: ignore[arg-type]
    # The rarest word is searched even when it alone is over the budget.
    monkeypatch.setattr(search, "MAX_POSTINGS", 1)
    assert select_terms(coll, question, n) == ["zircon"]  # type: ignore[arg-type]


def test_a_version_1_catalogue_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cat = Catalog(path)
    cat.write_batch([_doc("/a.txt", ["alpha beta"])])
    cat.close()
    # Turn it back into version 1: documents could only be 'indexed' or 'failed'.
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA foreign_keys=OFF;
        CREATE TABLE old (
            id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, title TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0,
            mtime REAL NOT NULL DEFAULT 0, content_hash TEXT NOT NULL DEFAULT '', pages INTEGER,
            chunks INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')), error TEXT,
            text BLOB, updated_at REAL NOT NULL);
        INSERT INTO old SELECT id, path, title, kind, size, mtime, content_hash, pages, chunks,
            status, error, text, updated_at FROM documents;
        DROP TABLE documents;
        ALTER TABLE old RENAME TO documents;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        """
    )
    db.commit()
    db.close()

    cat = Catalog(path)
    assert cat.get_meta("schema_version") == "2"
    [doc] = cat.documents()
    assert (doc.path, doc.status, doc.chunks) == (Path("/a.txt"), "indexed", 1)
    assert cat.document_text(doc.id) == "alpha beta"
    cat.write_duplicate(DocumentRow(path=Path("/b.txt")), doc.id)  # a state version 1 lacked
    assert cat.document(Path("/b.txt")).duplicate_of == Path("/a.txt")  # type: ignore[union-attr]
    assert cat._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert cat._conn().execute("PRAGMA foreign_key_check").fetchall() == []
    assert cat.remove_documents([Path("/a.txt")]) == []  # the duplicate took its place
    assert [(d.path, d.status, d.chunks) for d in cat.documents()] == [
        (Path("/b.txt"), "indexed", 1)
    ]


def test_the_indexing_state_says_what_can_be_searched() -> None:
    from engine.index.collection import IndexingState

    def state(stage: str, embedded: int = 0, total: int = 0) -> str:
        return IndexingState(
            pid=1, started=0.0, stage=stage, files_done=2, files_total=3,
            chunks_embedded=embedded, chunks_total=total,
        ).describe()  # fmt: skip

    assert state("reading").endswith("2 of 3 files done; reading files")
    assert state("reading", total=40).endswith("files done; searchable by keywords; reading files")
    assert state("loading", total=40).endswith(
        "; searchable by keywords; loading the embedding model"
    )
    assert state("embedding", 10, 40).endswith(
        "searchable by keywords, meaning-based search 25% ready"
    )

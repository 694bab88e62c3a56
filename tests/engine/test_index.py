"""The catalogue, the vector index and their consistency, with real SQLite and FAISS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine.index.catalog import Catalog, Counts, DocumentRow, NewChunk
from engine.index.vectors import VectorIndex
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
    path.write_bytes(b"not a faiss index")
    (tmp_path / "v.json").write_text(f'{{"version": {cat.vectors_version}, "dim": {DIM}}}')
    assert VectorIndex.open(path, DIM, cat).size == 4


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

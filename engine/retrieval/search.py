"""Hybrid retrieval: FAISS over embeddings and SQLite FTS5 bm25, fused by reciprocal rank.

Dense retrieval finds passages that mean the same thing in other words; keyword retrieval
finds exact names, codes and rare terms that embeddings blur. Reciprocal-rank fusion needs no
score calibration between the two and usually beats either alone.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from engine.events import Hit
from engine.index.collection import Collection

RRF_K = 60
"""The usual reciprocal-rank constant: damps the influence of the very top ranks."""

CANDIDATES = 50
"""Candidates taken from each retriever before fusion."""

_WORD = re.compile(r"\w+", re.UNICODE)

# Words that match nearly every passage: they cost time in FTS5 and carry no signal.
_STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does for from had has have how i if in into
    is it its me my no not of on or our so such than that the their them then there these they
    this to was we were what when where which who whom why will with would you your about also
    any been being both each few more most other over same should some very just only own""".split()
)


MAX_TERMS = 6
"""Keyword terms kept per query in a large collection, the rarest first."""

COMMON_SHARE = 0.1
"""In a large collection, a word found in more than this share of chunks says little about
relevance (its bm25 weight is near zero) yet costs the most to score: it is left to dense
retrieval."""

LARGE_COLLECTION = 5_000
"""Below this many chunks every word of the question is searched: it is cheap there, and in a
handful of passages a word can be in many of them and still matter."""


def query_words(text: str, *, max_words: int = 32) -> list[str]:
    """The question's meaningful words, lower-cased, in order, without stopwords."""
    seen: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or (len(word) < 2 and not word.isdigit()) or word in seen:
            continue
        seen.append(word)
        if len(seen) == max_words:
            break
    return seen


def keyword_query(words: list[str]) -> str:
    """An FTS5 MATCH expression that ORs the words, each quoted."""
    return " OR ".join(f'"{w}"' for w in words)


def select_terms(collection: Collection, words: list[str], total_chunks: int) -> list[str]:
    """The rarest words of the question, without those too common to discriminate (in a
    large collection); empty when every word is common."""
    if not words or total_chunks == 0:
        return []
    if total_chunks < LARGE_COLLECTION:
        return words
    counts = collection.catalog.term_document_counts(words)
    present = sorted((c, w) for w, c in counts.items() if c > 0)
    # Only common words: bm25 over them barely ranks and costs the most; dense retrieval
    # answers such a question alone.
    return [w for c, w in present if c <= COMMON_SHARE * total_chunks][:MAX_TERMS]


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hearth-dense")
        return _executor


def fuse(rankings: list[list[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of several rankings of ids, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


def search(collection: Collection, query: str, *, k: int = 10) -> list[Hit]:
    """The k passages of the collection that best answer `query`, best first."""
    query = query.strip()
    if not query or k <= 0:
        return []
    vectors = collection.vectors()
    if vectors.size == 0:
        return []
    embedder = collection.embedder()
    n = max(CANDIDATES, k)

    def dense_search() -> tuple[np.ndarray, list[tuple[int, float]]]:
        qvec = embedder.embed_query(query)
        return qvec, vectors.search(qvec, n)

    # The two retrievers run side by side: torch and SQLite both release the GIL.
    dense_future = _pool().submit(dense_search)
    terms = select_terms(collection, query_words(query), vectors.size)
    keyword = collection.catalog.keyword_search(keyword_query(terms), n)
    qvec, dense = dense_future.result()
    fused = fuse([[i for i, _ in dense], [i for i, _ in keyword]])[:k]
    ids = [i for i, _ in fused]
    records = collection.catalog.chunks(ids)
    ids = [i for i in ids if i in records]  # a chunk removed since the ranking was made
    sims = collection.catalog.embeddings(ids, vectors.dim) @ qvec if ids else np.zeros(0)
    fused_scores = dict(fused)
    hits = []
    for i, sim in zip(ids, sims, strict=True):
        rec = records[i]
        hits.append(
            Hit(
                file=rec.path,
                page=rec.page,
                score=round(fused_scores[i], 6),
                text=rec.text,
                chunk_id=rec.id,
                document_id=rec.document_id,
                start=rec.start,
                end=rec.end,
                heading=rec.heading,
                title=rec.title,
                similarity=round(float(sim), 4),
            )
        )
    return hits

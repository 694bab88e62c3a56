"""Hybrid retrieval: FAISS over embeddings and SQLite FTS5 bm25, combined page by page.

Dense retrieval finds passages that mean the same thing in other words; keyword retrieval
finds exact names, codes and rare terms that embeddings blur. Pages, not chunks, are ranked:
a page is what a user opens and a citation names, and evidence from two chunks of one page
adds up. A passage's score is its cosine similarity plus a small weight times its bm25
relative to the question's best, and a page's is its best passage's. On real manuals this
ranked better than reciprocal-rank fusion of the chunk lists, which lets a mediocre keyword
match outrank a strong dense one, and better than adding a page's best similarity and best
bm25 when they come from different passages (bench/retrieval.py; bench/README.md has the
figures).
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

from engine.events import Hit
from engine.index.collection import Collection
from engine.index.passages import embedder_view

CANDIDATES = 100
"""Chunks taken from each retriever before pages are ranked, whatever the number of pages
asked for: the weakest dense candidate is the floor that every page's score is measured
from, so a page's rank must not depend on how many pages the caller wants (the five passages
of an answer are the first five of the fifty a list shows). On real manuals 100 ranked at
least as well as 30, 50, 75, 150 or 200, at no cost measurable at 100,000 chunks
(bench/README.md)."""

SECOND_CHUNK_WEIGHT = 0.2
"""Weight of a page's second-best chunk (its similarity above the weakest candidate's): a
page that answers in two places is a little more likely the page than one that touches the
question once (on real manuals MRR@10 +0.01 to +0.02 on the tuning half for weights 0.1 to
0.3 against none; with int8 embedding 0.2 ranked above 0.1 on the tuning half of two indexes,
+0.006 and +0.009)."""

KEYWORD_WEIGHT = 0.15
"""Weight of a passage's relative bm25 (0..1) against its cosine similarity (typically 0.2..0.8
for all-MiniLM-L6-v2): enough to lift a passage that has the question's rare terms among
passages of similar meaning, not enough to let a keyword match outrank a clearly better
dense match. On the tuning half of real manuals, over a bfloat16 and an int8 index, 0.15 and
0.175 ranked best, 0.125 and 0.2 close behind, 0.1 and 0.25 lower (bench/README.md)."""

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

MAX_POSTINGS = 10_000
"""In a large collection, the keyword side scores at most about this many passages: bm25
costs about 1.5 ms per thousand passages a term is found in (measured at 100,000 chunks on
2 cores), so the rarest words are taken until their passages would pass this, and the
commoner ones, which weigh least in bm25, are left to dense retrieval. The rarest word is
always searched."""

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
    """The rarest words of the question, without those too common to discriminate and
    within `MAX_POSTINGS` (in a large collection); empty when every word is common."""
    if not words or total_chunks == 0:
        return []
    if total_chunks < LARGE_COLLECTION:
        return words
    counts = collection.catalog.term_document_counts(words)
    present = sorted((c, w) for w, c in counts.items() if c > 0)
    # Only common words: bm25 over them barely ranks and costs the most; dense retrieval
    # answers such a question alone.
    terms: list[str] = []
    postings = 0
    for count, word in present:
        if (
            count > COMMON_SHARE * total_chunks
            or len(terms) == MAX_TERMS
            or (terms and postings + count > MAX_POSTINGS)
        ):
            break
        terms.append(word)
        postings += count
    return terms


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hearth-dense")
        return _executor


def rank_pages(
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
    unit_of: dict[int, tuple[int, int]],
) -> list[tuple[tuple[int, int], float, int]]:
    """Pages ranked by their evidence: (page key, score, best chunk id), best first.

    A passage scores its cosine similarity plus `KEYWORD_WEIGHT` times its bm25 relative to
    the question's best bm25 (1.0 for the best keyword match), so meaning and words count
    most where they meet in one passage. A page scores its best passage, plus
    `SECOND_CHUNK_WEIGHT` times how far its second-best similarity is above the weakest
    candidate. Passages found by keywords alone take the lowest similarity seen as their
    dense part. The page's passage is its best-scoring one.
    """
    floor = dense[-1][1] if dense else 0.0
    sims = dict(dense)
    top = -keyword[0][1] if keyword else 0.0
    # FTS5's bm25 is negative, best first; relative to the best it falls in (0, 1].
    rel = {i: (s / -top if top > 0 else 0.0) for i, s in keyword}
    passage: dict[tuple[int, int], tuple[float, int]] = {}
    best_sim: dict[tuple[int, int], float] = {}
    second_sim: dict[tuple[int, int], float] = {}
    for i in sims.keys() | rel.keys():
        unit = unit_of.get(i)
        if unit is None:  # a chunk removed since the ranking was made
            continue
        sim = sims.get(i, floor)
        combined = sim + KEYWORD_WEIGHT * rel.get(i, 0.0)
        if unit not in passage or combined > passage[unit][0]:
            passage[unit] = (combined, i)
        if i in sims:
            high = best_sim.get(unit, floor)
            best_sim[unit] = max(high, sim)
            second_sim[unit] = max(second_sim.get(unit, floor), min(high, sim))
    ranked = [
        (unit, score + SECOND_CHUNK_WEIGHT * (second_sim.get(unit, floor) - floor), i)
        for unit, (score, i) in passage.items()
    ]
    ranked.sort(key=lambda r: r[1], reverse=True)
    return ranked


def search(collection: Collection, query: str, *, k: int = 10) -> list[Hit]:
    """The k pages of the collection that best answer `query`, best first, each with the
    passage of it that answers best."""
    query = query.strip()
    if not query or k <= 0:
        return []
    # While a first ingest is embedding, passages are already in the keyword index: they are
    # found by their words, and by meaning too as soon as their vectors arrive. A collection
    # that has never had a vector (its model may still be loading) is searched by words alone.
    vectors = collection.known_vectors()
    if vectors is not None and vectors.size == 0:
        vectors = None
    total = vectors.size if vectors is not None else collection.catalog.counts().chunks
    if total == 0:
        return []
    n = max(CANDIDATES, 2 * k)
    embedder = collection.embedder() if vectors is not None else None
    # An ingest embedding in this process pauses between its batches while the question runs.
    with embedder.searching() if embedder is not None else nullcontext():
        dense_future = None
        if embedder is not None and vectors is not None:
            index, model = vectors, embedder

            def dense_search() -> tuple[np.ndarray, list[tuple[int, float]]]:
                qvec = model.embed_query(embedder_view(query))
                return qvec, index.search(qvec, n)

            # The two retrievers run side by side: torch and SQLite both release the GIL.
            dense_future = _pool().submit(dense_search)
        terms = select_terms(collection, query_words(query), total)
        keyword = collection.catalog.keyword_search(keyword_query(terms), n)
        qvec, dense = dense_future.result() if dense_future is not None else (None, [])
    records = collection.catalog.chunks(list({i for i, _ in dense} | {i for i, _ in keyword}))
    # A page is the unit a user opens and a citation names; a format without pages makes
    # each passage its own unit.
    unit_of = {i: (r.document_id, r.page if r.page is not None else -i) for i, r in records.items()}
    ranked = rank_pages(dense, keyword, unit_of)[:k]
    ids = [i for _, _, i in ranked]
    sims: list[float | None] = [None] * len(ids)
    if qvec is not None and vectors is not None and ids:
        stored = collection.catalog.embeddings(ids, vectors.dim)
        # A passage not embedded yet (found by its words) has no similarity to report.
        sims = [round(float(v @ qvec), 4) if v.any() else None for v in stored]
    hits = []
    for (_, score, i), sim in zip(ranked, sims, strict=True):
        rec = records[i]
        hits.append(
            Hit(
                file=rec.path,
                page=rec.page,
                score=round(score, 6),
                text=rec.text,
                chunk_id=rec.id,
                document_id=rec.document_id,
                start=rec.start,
                end=rec.end,
                heading=rec.heading,
                title=rec.title,
                similarity=sim,
            )
        )
    return hits

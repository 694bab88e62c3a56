"""Search benchmark: latency of hybrid `search` at 100,000 chunks.

Run: python -m bench.search [--chunks 100000] [--queries 200]
The collection is written straight into the catalogue (document-like text, random unit
vectors: dense search costs the same whatever the vectors hold), so the benchmark takes
a minute rather than the hour that embedding 100k real chunks would. Each query goes through
the whole path: query embedding, FAISS, FTS5 bm25, fusion and fetching the passages.
Target: p95 under 50 ms on a 2-core machine, excluding the one-time load.

Then the same queries again while another collection is being indexed in the same process
(a generated 200-page manual, its chunks embedded by the same model): how long a question
waits when the embedder is busy. `--no-during-ingest` leaves that part out.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.corpus import Corpus, write_pdf
from engine.events import IngestProgress
from engine.facade import Hearth
from engine.index.catalog import DocumentRow, NewChunk


def build(h: Hearth, name: str, n_chunks: int, dim: int, seed: int = 0) -> None:
    coll = h._collections.create(name)
    coll.catalog.set_meta("embedding_dim", str(dim))
    corpus = Corpus(seed)
    rng = np.random.default_rng(seed)
    per_doc = 200
    for d in range(0, n_chunks, per_doc):
        n = min(per_doc, n_chunks - d)
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        chunks = []
        for i in range(n):
            text = corpus.paragraph()
            chunks.append(NewChunk(text, corpus.heading(), 1 + i // 3, 0, len(text), vecs[i]))
        meta = DocumentRow(
            path=Path(f"/bench/doc-{d // per_doc:04d}.pdf"),
            title=f"Doc {d}",
            kind="pdf",
            pages=per_doc // 3,
            text="",
        )
        coll.catalog.write_batch([(meta, chunks)])
    coll.vectors()
    coll.save_vectors()


def latencies(
    h: Hearth, queries: list[str], *, until: threading.Event | None = None
) -> list[float]:
    """Milliseconds of each search, sorted; with `until`, stops early once it is set."""
    times = []
    for q in queries:
        if until is not None and until.is_set():
            break
        t0 = time.perf_counter()
        hits = h.search(q, collection="bench", k=10)
        times.append((time.perf_counter() - t0) * 1000)
        assert len(hits) == 10
    return sorted(times)


def summary(times: list[float]) -> str:
    p95 = times[int(0.95 * (len(times) - 1))]
    return (
        f"over {len(times)} queries: median {statistics.median(times):.1f} ms, "
        f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms"
    )


def during_ingest(h: Hearth, home: Path, work: Path, queries: list[str]) -> None:
    """The queries while a 200-page manual is embedded into another collection."""
    pdf = write_pdf(work / "manual.pdf", 200)
    embedding = threading.Event()
    finished = threading.Event()

    def ingest() -> None:
        other = Hearth(home)
        try:
            for event in other.ingest([pdf], collection="incoming"):
                if isinstance(event, IngestProgress) and event.stage == "embedding":
                    embedding.set()
        finally:
            embedding.set()
            finished.set()
            other.close()

    worker = threading.Thread(target=ingest, daemon=True)
    worker.start()
    embedding.wait()
    times = latencies(h, queries * 5, until=finished)
    worker.join()
    if times:
        print(f"search while another collection is embedded, {summary(times)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--during-ingest", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-search-"))
    try:
        h = Hearth(work / "home")
        from engine.index.embed import get_embedder

        dim = get_embedder().dim
        t0 = time.perf_counter()
        build(h, "bench", args.chunks, dim)
        print(f"built {args.chunks} chunks in {time.perf_counter() - t0:.1f} s")
        h.close()

        h = Hearth(work / "home")
        corpus = Corpus(seed=99)
        queries = [
            " ".join(corpus.sentence().split()[: corpus.rng.randint(3, 12)])
            for _ in range(args.queries)
        ]
        t0 = time.perf_counter()
        h.search(queries[0], collection="bench")  # one-time load: index file, embedder
        print(f"first search (loads index and embedder): {time.perf_counter() - t0:.2f} s")
        times = latencies(h, queries)
        print(f"search at {args.chunks} chunks {summary(times)} (target p95 < 50 ms)")
        if args.during_ingest:
            during_ingest(h, work / "home", work, queries)
        h.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

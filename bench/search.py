"""Search benchmark: latency of hybrid `search` at 100,000 chunks.

Run: python -m bench.search [--chunks 100000] [--queries 200]
The collection is written straight into the catalogue (document-like text, random unit
vectors: dense search costs the same whatever the vectors hold), so the benchmark takes
a minute rather than the hour that embedding 100k real chunks would. Each query goes through
the whole path: query embedding, FAISS, FTS5 bm25, fusion and fetching the passages.
Target: p95 under 50 ms on a 2-core machine, excluding the one-time load.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.corpus import Corpus
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
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
        times = []
        for q in queries:
            t0 = time.perf_counter()
            hits = h.search(q, collection="bench", k=10)
            times.append((time.perf_counter() - t0) * 1000)
            assert len(hits) == 10
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(
            f"search at {args.chunks} chunks over {len(times)} queries: "
            f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
            f"(target p95 < 50 ms)"
        )
        h.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

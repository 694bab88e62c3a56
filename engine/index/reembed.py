"""Re-embedding a collection's chunks with another embedding model.

Chunk boundaries stay as they are; only the vectors change, so this works even when the
original files are gone. The embedded text is built by `embedding_text`, the rule the ingest
uses, so the vectors are exactly those a fresh ingest with the new model would store. All new vectors are written in one transaction: a cancel or crash
leaves the collection on its old model, whole.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from engine.events import CancelToken, IngestEvent, IngestFinished, IngestProgress, IngestSummary
from engine.index.collection import Collection
from engine.index.embed import Embedder
from engine.index.passages import embedding_text

BATCH = 64


def reembed(
    collection: Collection, embedder: Embedder, *, cancel: CancelToken | None = None
) -> Iterator[IngestEvent]:
    """Embed every chunk of `collection` with `embedder` and make it the collection's model."""
    started = time.monotonic()
    catalog = collection.catalog
    with collection.write_lock:
        rows = [(c.id, embedding_text(c.text, c.heading)) for c in catalog.iter_chunks()]
        vectors: list[np.ndarray] = []
        for s in range(0, len(rows), BATCH):
            if cancel is not None and cancel.cancelled:
                yield IngestFinished(
                    IngestSummary(
                        collection.name, seconds=time.monotonic() - started, cancelled=True
                    )
                )
                return
            vectors.append(embedder.embed([t for _, t in rows[s : s + BATCH]]))
            elapsed = time.monotonic() - started
            done = min(s + BATCH, len(rows))
            yield IngestProgress(
                files_done=0,
                files_total=0,
                chunks_done=done,
                elapsed_s=elapsed,
                chunks_per_s=done / elapsed if elapsed else 0.0,
                eta_s=elapsed * (len(rows) - done) / done if done else None,
            )
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        catalog.replace_embeddings(
            [i for i, _ in rows], matrix, model=embedder.name, dim=embedder.dim
        )
        collection.drop_vectors()
        collection.vectors()
        collection.save_vectors()
    yield IngestFinished(
        IngestSummary(collection.name, chunks=len(rows), seconds=time.monotonic() - started)
    )

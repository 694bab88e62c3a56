"""The embedder tokenizes once and feeds the model what `SentenceTransformer.encode` would."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TEXTS = [
    "Clean the intake filter every three months, or more often in dusty rooms.",
    "  A question typed with spaces around it?  ",
    "short",
    "",
    "Le mode d'emploi indique de ne pas exposer l'appareil à l'humidité.",
    "A table of part numbers: " + " ".join(f"P-{n} {n * 7} mm" for n in range(200)),
]


def test_embed_matches_encode_including_truncation(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.index import embed
    from engine.index.embed import Embedder

    # float32 (not int8, nor bfloat16 on a CPU that has it): the same products either way
    monkeypatch.setenv("HEARTH_EMBED_INT8", "0")
    monkeypatch.setattr(embed, "cpu_has_bf16", lambda: False)
    embedder = Embedder()
    tokens = embedder.tokenize(TEXTS)
    assert len(tokens[-1]) == embedder.max_tokens  # the long text is cut where encode cuts it
    reference = embedder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    vectors = embedder.embed(TEXTS, batch_size=4)
    assert vectors.shape == (len(TEXTS), embedder.dim)
    assert np.abs(vectors - reference).max() < 1e-5
    assert np.allclose(embedder.embed_tokens(tokens[::-1])[::-1], vectors, atol=1e-5)
    question = embedder.embed_query(TEXTS[1])
    assert np.abs(question - reference[1]).max() < 1e-5
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_documents_are_chunked_with_the_models_own_tokenizer_before_it_loads() -> None:
    from engine.index.embed import chunking_tokenizer, get_embedder, plain_tokenizer

    quick = plain_tokenizer(chunking_tokenizer())
    model = plain_tokenizer(get_embedder().tokenizer)
    assert quick.to_str() == model.to_str()
    for text in TEXTS:
        assert quick.encode(text).ids == model.encode(text).ids


def test_an_ingest_embeds_in_the_embedders_batches(
    hearth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A GPU embeds 64 passages a batch, a CPU 16: the ingest's calls (two batches at most,
    # each stored in one transaction) and the model's batches follow the embedder's size.
    from support.documents import make_long_pdf

    from engine import Hearth
    from engine.index.embed import get_embedder

    embedder = get_embedder()
    monkeypatch.setattr(embedder, "batch_size", 4)
    calls: list[int] = []
    batches: list[int] = []
    embed_tokens, forward = embedder.embed_tokens, embedder._forward

    def recorded_call(tokens: Sequence[Sequence[int]], **kw: Any) -> np.ndarray:
        calls.append(len(tokens))
        return embed_tokens(tokens, **kw)

    def recorded_batch(batch: Sequence[Sequence[int]]) -> np.ndarray:
        batches.append(len(batch))
        return forward(batch)

    monkeypatch.setattr(embedder, "embed_tokens", recorded_call)
    monkeypatch.setattr(embedder, "_forward", recorded_batch)
    make_long_pdf(tmp_path / "manual.pdf", pages=12)
    h = Hearth()
    list(h.ingest([tmp_path / "manual.pdf"], collection="c"))
    chunks = h.collection_info("c").chunks
    h.close()
    assert sum(calls) == sum(batches) == chunks > 16
    assert max(calls) == 8 and max(batches) == 4

"""Int8 embedding on fixed scales (engine/index/int8.py): close to float32, and a passage is
read the same way whatever it is embedded with."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

TEXTS = [
    "Clean the intake filter every three months, or more often in dusty rooms.",
    "The installer needs 2 GB of free disk space and a correct system clock.",
    "$ sudo apt-get install build-essential libssl-dev",
    "def parse(path): return open(path).read().split()",
    "Table 4: voltage 3.7 V, capacity 2,450 mAh, charging time 2 h 15 min.",
    "short",
    "Photosynthesis converts light energy into chemical energy in the chloroplasts, where "
    "water is split and oxygen released while carbon dioxide is fixed into sugars.",
    "Le mode d'emploi indique de ne pas exposer l'appareil à l'humidité.",
]


def _float32_model() -> Any:
    from sentence_transformers import SentenceTransformer

    from engine.index.embed import DEFAULT_EMBEDDING_MODEL, resolve_model_path

    path = resolve_model_path(DEFAULT_EMBEDDING_MODEL)
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def test_every_linear_layer_is_replaced_and_vectors_stay_close_to_float32() -> None:
    from engine.index import int8

    if not int8.available():
        pytest.skip("this PyTorch has no fbgemm (not an x86 CPU)")
    texts = int8.calibration_texts()
    assert len(texts) >= 20 and all(texts)
    reference = _float32_model()
    float32 = reference.encode(TEXTS, normalize_embeddings=True)
    model = _float32_model()
    errors = int8.quantize_linear_layers(model, texts)
    replaced = [m for m in model.modules() if isinstance(m, int8.StaticInt8Linear)]
    assert len(replaced) == len(errors) > 20
    assert max(errors.values()) <= int8.MAX_ERROR
    quantized = model.encode(TEXTS, normalize_embeddings=True)
    cosine = (float32 * quantized).sum(axis=1)
    # Every layer but one in int8: within about 1% of float32 (ranking on real manuals: bench/README.md).
    assert cosine.mean() > 0.99 and cosine.min() > 0.98, cosine


def test_a_layer_that_int8_would_change_too_much_stays_float32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.index import int8

    if not int8.available():
        pytest.skip("this PyTorch has no fbgemm (not an x86 CPU)")
    monkeypatch.setattr(int8, "MAX_ERROR", 0.0)
    model = _float32_model()
    assert int8.quantize_linear_layers(model, int8.calibration_texts()[:3]) == {}
    assert not any(isinstance(m, int8.StaticInt8Linear) for m in model.modules())


def test_a_passage_is_read_alike_in_any_batch_and_as_a_question() -> None:
    from engine.index.embed import get_embedder

    embedder = get_embedder()
    together = embedder.embed(TEXTS, batch_size=len(TEXTS))
    in_threes = embedder.embed(TEXTS[::-1], batch_size=3)[::-1]
    alone = np.stack([embedder.embed_query(t) for t in TEXTS])
    assert (together * in_threes).sum(axis=1).min() > 0.999
    assert (together * alone).sum(axis=1).min() > 0.999


def test_int8_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.index.embed import int8_wanted

    monkeypatch.setenv("HEARTH_EMBED_INT8", "0")
    assert not int8_wanted()
    monkeypatch.delenv("HEARTH_EMBED_INT8")
    assert int8_wanted()

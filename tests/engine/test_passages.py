"""What the embedder sees of a passage and of a question (engine/index/passages.py)."""

from __future__ import annotations

import threading

import numpy as np

from engine.index.passages import embedder_view, embedding_text


def test_marks_outside_words_are_dropped_and_marks_inside_kept() -> None:
    text = 'Run "make -j4" (see §2.1), then: rm ./build/main.o; x[i] = a==b --verbose.'
    assert embedder_view(text) == "Run make j4 see 2.1 then rm build/main.o x i a b verbose"


def test_words_of_other_scripts_and_joined_words_stay_whole() -> None:
    assert embedder_view("Größe: don't use well-known snake_case in file.txt!") == (
        "Größe don't use well-known snake_case in file.txt"
    )
    assert embedder_view("東京は、日本の首都です。") == "東京は 日本の首都です"


def test_a_text_of_marks_alone_is_kept() -> None:
    assert embedder_view("  ----  ") == "----"


def test_the_heading_path_is_read_above_the_text_unless_the_text_opens_with_it() -> None:
    assert embedding_text("Clean it every month.", "Care > Filters") == (
        "Care Filters Clean it every month"
    )
    assert embedding_text("Filters\nClean it.", "Care > Filters") == "Filters Clean it"


def test_the_embedder_keeps_the_order_of_its_texts_and_no_batch_starts_during_a_search() -> None:
    from engine.index.embed import get_embedder

    embedder = get_embedder()
    texts = ["a long passage about boilers and their pressure " * 4, "short", "medium text here"]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([text])[0] for text in texts])
    # Each text's own vector, whatever its batch: the same to rounding (bfloat16 rounds by
    # about 1e-3 differently with other padding), while different texts are far apart.
    assert (together * alone).sum(axis=1).min() > 0.9999
    assert (together @ alone.T)[~np.eye(len(texts), dtype=bool)].max() < 0.9

    done = threading.Event()

    def embed() -> None:
        embedder.embed(texts)
        done.set()

    with embedder.searching():
        worker = threading.Thread(target=embed)
        worker.start()
        assert not done.wait(0.5)
    assert done.wait(60)
    worker.join()

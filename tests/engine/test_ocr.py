"""Scanned PDFs read by OCR (Tesseract through PyMuPDF): only the pages that need it, page by
page, cancellable and resumable, with page numbers and word positions kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.documents import make_scanned_pdf

from engine import CancelToken, Hearth
from engine.errors import ScannedDocument
from engine.events import FileIndexed, IngestFinished, OcrProgress
from engine.ingest import ocr, parse_file

needs_tesseract = pytest.mark.skipif(
    not ocr.ocr_available(),
    reason=f"Tesseract OCR is not installed (install it with: {ocr.INSTALL_COMMAND})",
)

PAGES = [
    "Chapter one. The heating contract was signed in March by both parties.",
    "The annual service of the boiler includes cleaning the burner and checking the flue.",
    "Invoices are paid within thirty days. Late payment adds a surcharge of two percent.",
]


def half_scanned_pdf(path: Path) -> Path:
    """Page 1 with a text layer, pages 2 and 3 only pictures of text (200 dpi)."""
    import pymupdf

    scanned = make_scanned_pdf(path.with_name("scan-part.pdf"), PAGES[1:], dpi=200)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(60, 60, 540, 400), PAGES[0], fontsize=11)
    doc.insert_pdf(pymupdf.open(scanned))
    doc.save(path)
    doc.close()
    return path


def words(text: str) -> set[str]:
    return {w.strip(".,").casefold() for w in text.split()}


@needs_tesseract
def test_only_pages_without_text_are_read_and_keep_their_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = half_scanned_pdf(tmp_path / "contract.pdf")
    monkeypatch.setattr(ocr, "_cache_file", None)  # the reader alone, as outside an ingest
    assert list(ocr.read_scanned([path])) == []  # without a cache nothing is read ahead
    doc = parse_file(path)
    by_page = {n: " ".join(b.text for b in doc.blocks if b.page == n) for n in (1, 2, 3)}
    assert doc.pages == 3
    assert "heating contract" in by_page[1]
    for number in (2, 3):
        wanted = words(PAGES[number - 1])
        found = words(by_page[number])
        # OCR of a clean 200 dpi scan misses at most a word or two.
        assert len(wanted & found) >= len(wanted) - 2, (number, by_page[number])


@needs_tesseract
def test_a_scanned_pdf_answers_a_search_on_its_page(tmp_path: Path, hearth_home: Path) -> None:
    path = half_scanned_pdf(tmp_path / "contract.pdf")
    with Hearth(hearth_home) as h:
        events = list(h.ingest([path], collection="Scans"))
        pages_read = [e.page for e in events if isinstance(e, OcrProgress)]
        assert pages_read == [2, 3]  # page 1 has a text layer
        assert [e.path for e in events if isinstance(e, FileIndexed)] == [path]
        hits = h.search("boiler burner flue", collection="Scans", k=3)
        assert hits and hits[0].file == path and hits[0].page == 2
        # The viewer highlights from these: the words of the passage with their rectangles.
        boxes = h.page_words(path, 2)
        assert any(str(w[4]).casefold().startswith("boiler") for w in boxes)
        assert all(
            0 <= float(w[0]) < float(w[2]) <= 612 and 0 <= float(w[1]) < float(w[3]) <= 842  # type: ignore[arg-type]
            for w in boxes
        )
        assert h.page_words(path, 1) == []  # a text page needs no OCR words


@needs_tesseract
def test_cancelled_ocr_resumes_at_the_next_page(tmp_path: Path, hearth_home: Path) -> None:
    path = make_scanned_pdf(tmp_path / "minutes.pdf", PAGES, dpi=200)
    with Hearth(hearth_home) as h:
        token = CancelToken()
        first: list[object] = []
        for event in h.ingest([path], collection="Scans", cancel=token):
            first.append(event)
            if isinstance(event, OcrProgress):
                token.cancel()
        read = [e.page for e in first if isinstance(e, OcrProgress)]
        assert read == [1]
        assert isinstance(first[-1], IngestFinished) and first[-1].summary.cancelled
        assert h.documents("Scans") == []

        again = list(h.ingest([path], collection="Scans"))
        assert [e.page for e in again if isinstance(e, OcrProgress)] == [2, 3]
        progress = [e for e in again if isinstance(e, OcrProgress)]
        assert [(e.pages_done, e.pages_total) for e in progress] == [(1, 2), (2, 2)]
        assert [e.path for e in again if isinstance(e, FileIndexed)] == [path]
        hits = h.search("late payment surcharge", collection="Scans", k=3)
        assert hits[0].page == 3


def test_without_tesseract_a_scan_says_how_to_add_ocr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_scanned_pdf(tmp_path / "scan.pdf", PAGES[:1])
    monkeypatch.setattr(ocr, "tessdata", lambda: None)  # as on a machine without Tesseract
    with pytest.raises(ScannedDocument) as caught:
        parse_file(path)
    message = str(caught.value)
    assert (
        "scan.pdf" in message and "sudo apt-get install tesseract-ocr tesseract-ocr-eng" in message
    )

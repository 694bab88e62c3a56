"""Reading scanned PDF pages with OCR: Tesseract through PyMuPDF's OCR text page, offline.

Only pages that need it are read: a page with no text layer that shows an image. OCR takes
seconds a page, so its results are kept in a cache keyed by the file's content hash and the
page number: `read_scanned` reads the pages of a batch of files one by one before the ingest
parses them (progress per page, cancellable), and a cancelled or killed run resumes at the
first page not yet read. The PDF reader takes cached pages from there and reads any page still
missing itself, so a PDF parsed outside an ingest is read whole as well.

Word positions are kept with the text (`page_words`), so the viewer can highlight a cited
passage on a scanned page exactly as on a page with a text layer.

Tesseract comes from the system (Debian: `tesseract-ocr` and `tesseract-ocr-eng`); without it a
scanned PDF is reported with the command that installs it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.events import CancelToken, OcrProgress

OCR_DPI = 200
"""Resolution pages are rendered at for Tesseract. Measured on noisy, slightly turned scans of
real manuals (bench/ocr.py): as good as 300 dpi on 300-dpi scans and far better on 200-dpi
ones (300 magnifies their noise), with 2.25 times fewer pixels to read."""
OCR_LANGUAGE = "eng"
"""Tesseract language(s), '+'-joined (for example 'eng+deu')."""
INSTALL_COMMAND = "sudo apt-get install tesseract-ocr tesseract-ocr-eng"
"""What adds OCR on Debian and Ubuntu (the .deb recommends these packages)."""

Line = tuple[str, float]  # text, font size (as engine/ingest/pdf.py reads lines)
Word = tuple[float, float, float, float, str, int, int, int]  # as page.get_text("words")


@dataclass(frozen=True)
class OcrPage:
    """The text of one page as OCR read it."""

    blocks: list[list[Line]]
    """Text blocks of lines, in reading order. OCR lines carry font size 0: OCR knows no
    typography, so it never makes a heading out of a tall scanned line."""
    words: list[Word]
    """Every word with its rectangle in PDF points, for highlighting."""


# --- is OCR available -------------------------------------------------------------------------


@functools.cache
def tessdata() -> str | None:
    """Tesseract's language data folder, or None when Tesseract (or English) is not installed."""
    try:
        import pymupdf
    except ImportError:
        return None
    try:
        found = pymupdf.get_tessdata()
    except (RuntimeError, OSError, ValueError):
        return None
    if not found:
        return None
    languages = OCR_LANGUAGE.split("+")
    if not all(Path(found, f"{lang}.traineddata").exists() for lang in languages):
        return None
    return str(found)


def ocr_available() -> bool:
    return tessdata() is not None


def scanned_message(name: str) -> str:
    """What to tell a user whose scanned PDF cannot be read because OCR is not installed."""
    return (
        f"{name} has no text layer — it is scanned, and Hearth reads scans with Tesseract OCR, "
        f"which is not installed. Install it with: {INSTALL_COMMAND} — then add the file again."
    )


# --- reading a page ---------------------------------------------------------------------------


def needs_ocr(page: Any) -> bool:
    """A page without any text that shows an image: a scan (or a photo of a page).

    The images are looked up first: listing them reads only the page's resources, while its
    text takes a full extraction, and most pages of a born-digital PDF show no image (on
    1,585 pages of real manuals 0.4 s against 2.2 s the other way round).
    """
    return bool(page.get_images()) and not page.get_text("text").strip()


def ocr_page(page: Any, *, dpi: int = OCR_DPI, language: str = OCR_LANGUAGE) -> OcrPage:
    """Read one page with Tesseract (seconds). Raises RuntimeError when Tesseract fails."""
    import pymupdf

    data = tessdata()
    if data is None:
        raise RuntimeError("Tesseract is not installed")
    textpage = page.get_textpage_ocr(language=language, dpi=dpi, full=True, tessdata=data)
    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
    blocks: list[list[Line]] = []
    for block in page.get_text("dict", textpage=textpage, flags=flags)["blocks"]:
        if block.get("type", 0) != 0:
            continue
        lines = []
        for line in block["lines"]:
            text = " ".join(" ".join(span["text"] for span in line["spans"]).split())
            if text:
                lines.append((text, 0.0))
        if lines:
            blocks.append(lines)
    words = [
        (float(w[0]), float(w[1]), float(w[2]), float(w[3]), str(w[4]), *map(int, w[5:8]))
        for w in page.get_text("words", textpage=textpage)
    ]
    return OcrPage(blocks=blocks, words=words)  # type: ignore[arg-type]


# --- the cache --------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache_file: Path | None = None
_local = threading.local()


def use_cache(path: Path | None) -> None:
    """Keep OCR results in this SQLite file (the Hearth home's cache); None: keep none."""
    global _cache_file
    with _cache_lock:
        _cache_file = path


def _cache() -> sqlite3.Connection | None:
    if _cache_file is None:
        return None
    conns: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("conns", {})
    conn = conns.get(_cache_file)
    if conn is None:
        _cache_file.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(_cache_file, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS pages (file TEXT NOT NULL, page INTEGER NOT NULL,"
            " blocks TEXT NOT NULL, words TEXT NOT NULL, seconds REAL NOT NULL,"
            " PRIMARY KEY (file, page))"
        )
        conns[_cache_file] = conn
    return conn


def file_key(path: Path, *, dpi: int = OCR_DPI, language: str = OCR_LANGUAGE) -> str:
    """The cache key of a file's OCR: its content (not its name) and how it was read."""
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return f"{h.hexdigest()}:{dpi}:{language}"


def cached(key: str, number: int) -> OcrPage | None:
    """A page read before (`number` 1-based), or None."""
    conn = _cache()
    if conn is None:
        return None
    row = conn.execute(
        "SELECT blocks, words FROM pages WHERE file = ? AND page = ?", (key, number)
    ).fetchone()
    if row is None:
        return None
    blocks = [[(str(t), float(s)) for t, s in b] for b in json.loads(row[0])]
    words = [tuple(w) for w in json.loads(row[1])]
    return OcrPage(blocks=blocks, words=words)


def store(key: str, number: int, page: OcrPage, seconds: float) -> None:
    conn = _cache()
    if conn is None:
        return
    conn.execute(
        "INSERT OR REPLACE INTO pages(file, page, blocks, words, seconds) VALUES (?, ?, ?, ?, ?)",
        (key, number, json.dumps(page.blocks), json.dumps(page.words), seconds),
    )
    conn.commit()


def page_words(path: Path, number: int) -> list[Word]:
    """Word rectangles OCR found on a page of a file (1-based), or [] when none are known."""
    if _cache() is None or not path.is_file():
        return []
    try:
        page = cached(file_key(path), number)
    except OSError:
        return []
    return [] if page is None else page.words


# --- reading pages: inside the PDF reader, and ahead of an ingest ------------------------------


def read_page(doc: Any, number: int, key: str | None) -> OcrPage:
    """Page `number` (1-based) of an open document, from the cache or read now and cached."""
    if key is not None and (hit := cached(key, number)) is not None:
        return hit
    t0 = time.perf_counter()
    page = ocr_page(doc[number - 1])
    if key is not None:
        store(key, number, page, time.perf_counter() - t0)
    return page


def read_scanned(
    paths: Sequence[Path], *, cancel: CancelToken | None = None
) -> Generator[OcrProgress, None, bool]:
    """Read every scanned page of these PDFs that is not cached yet, yielding per page.

    Returns True when cancelled. Without a cache or without Tesseract there is nothing to do
    ahead of time: the PDF reader reads pages itself, or says how to install OCR.
    """
    if _cache() is None or not ocr_available():
        return False
    import pymupdf

    todo: list[tuple[Path, str, list[int]]] = []
    for path in paths:
        if path.suffix.lower() != ".pdf":
            continue
        try:
            with pymupdf.open(path, filetype="pdf") as doc:
                if doc.needs_pass:
                    continue
                numbers = [i + 1 for i, page in enumerate(doc) if needs_ocr(page)]
            if not numbers:
                continue
            key = file_key(path)
        except (RuntimeError, ValueError, OSError):
            continue  # the reader reports what is wrong with the file
        missing = [n for n in numbers if cached(key, n) is None]
        if missing:
            todo.append((path, key, missing))
    total = sum(len(m) for _, _, m in todo)
    done = 0
    for path, key, missing in todo:
        with pymupdf.open(path, filetype="pdf") as doc:
            for number in missing:
                if cancel is not None and cancel.cancelled:
                    return True
                t0 = time.perf_counter()
                try:
                    read_page(doc, number, key)
                except RuntimeError:
                    break  # the reader meets the same page and reports the file
                done += 1
                yield OcrProgress(
                    path=path,
                    page=number,
                    pages_done=done,
                    pages_total=total,
                    seconds=time.perf_counter() - t0,
                )
    return False


def fill_scanned_pages(doc: Any, path: Path, pages: list[list[list[Line]]]) -> None:
    """Give the pages of `doc` that need OCR their text, in place (the PDF reader's hook).

    Raises ScannedDocument with the install command when pages need OCR, no page has text,
    and Tesseract is not installed.
    """
    from engine.errors import ScannedDocument

    numbers = [i + 1 for i, blocks in enumerate(pages) if not blocks and doc[i].get_images()]
    if not numbers:
        return
    if not ocr_available():
        if not any(pages):
            raise ScannedDocument(path, scanned_message(path.name))
        return  # the pages with text are still worth indexing
    key = file_key(path) if _cache() is not None else None
    for number in numbers:
        try:
            pages[number - 1] = read_page(doc, number, key).blocks
        except RuntimeError:
            continue  # an unreadable image stays an empty page

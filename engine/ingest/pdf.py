"""PDF through PyMuPDF: text per page, headings from the outline or from font size.

One pass over the pages gives every line; heading detection needs nothing more:

- with an outline (bookmarks), its entries are the headings, at their outline level, found
  on their page; an entry not found in the page's text still opens its section there;
- without one, lines set clearly larger than the body text (the most common size) are
  headings, larger size = higher level; lines repeated on several pages (running heads) are
  not. Only then are the lines read with their font sizes (`page.get_text("dict")`, which
  builds a record for every span): with an outline, PyMuPDF's plain blocks give the same lines
  in half the time;
- entries of a printed table of contents (a title, a leader of dots, a page number) are
  blocks of kind "contents": they stay in the document's text but are never passages, since
  a list of every section's title matches every question about any of them and answers none.

Encrypted files, files PyMuPDF cannot open, and PDFs with pages but no text layer (scans)
raise their typed errors.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from engine.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    MissingDependency,
    ScannedDocument,
)
from engine.ingest.document import DocumentBuilder, ParsedDocument

HEADING_SIZE_RATIO = 1.12
"""A line is a heading candidate when its font is at least this much larger than the body's."""
HEADING_MAX_CHARS = 150
"""Longer lines are prose set in a large font (a cover page, a pull quote), not headings."""
RUNNING_HEAD_PAGES = 3
"""A large line repeated on this many pages or more is a running head, not a heading."""

CONTENTS_LINES_PER_PAGE = 3
"""A page holds a table of contents when at least this many of its lines end in a leader."""

Line = tuple[str, float]  # text, font size

_LEADER_END = re.compile(r"(?:\.\s?){4,}\.?\s*(?:\d+|[ivxlcdm]+)?\s*$", re.IGNORECASE)
"""A line ending in a leader of dots, and perhaps its page number: "Installing . . . . 12"."""


def _pymupdf():  # type: ignore[no-untyped-def]
    try:
        import pymupdf
    except ImportError:
        raise MissingDependency("Reading PDF files", "pymupdf") from None
    return pymupdf


def read_pdf(path: Path) -> ParsedDocument:
    """Parse a PDF into blocks with 1-based page numbers and heading paths."""
    pymupdf = _pymupdf()
    name = path.name
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except (RuntimeError, ValueError) as exc:  # FileDataError is a RuntimeError
        raise CorruptDocument(
            path,
            f"{name} is not a readable PDF. It may be damaged, incomplete "
            "(an interrupted download) or another kind of file with a .pdf name: open it in a "
            "PDF viewer; if it opens, save a fresh copy and add that.",
        ) from exc
    with doc:
        if doc.needs_pass:
            raise EncryptedDocument(
                path,
                f"{name} is protected by a password, so Hearth cannot read it. Open it with the "
                "password in a PDF viewer, save or print an unprotected copy, and add that copy.",
            )
        if doc.page_count == 0:
            raise CorruptDocument(
                path,
                f"{name} has no pages: the file is damaged or incomplete. Get a fresh copy of it.",
            )
        flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
        try:
            toc = doc.get_toc(simple=True)
            read_page = _page_lines if toc else _page_blocks
            pages = [read_page(page, flags) for page in doc]
        except (RuntimeError, ValueError) as exc:
            raise CorruptDocument(
                path,
                f"{name} is damaged: PyMuPDF stopped reading it ({_short(exc)}). "
                "Open it in a PDF viewer and save a fresh copy, then add that.",
            ) from exc
        # Scanned pages: read by OCR where Tesseract is installed (engine/ingest/ocr.py).
        from engine.ingest.ocr import fill_scanned_pages

        fill_scanned_pages(doc, path, pages)
        if not any(pages):
            if any(page.get_images() for page in doc):
                raise ScannedDocument(
                    path,
                    f"{name} has no text layer — it looks scanned, and OCR found no text on "
                    "its pages. If the scan is faint or skewed, scan it again at 300 dpi.",
                )
            raise EmptyDocument(path, f"{name} has {doc.page_count} page(s) but no text on them.")
        meta_title = _clean_title((doc.metadata or {}).get("title") or "")
        page_count = doc.page_count

    builder = DocumentBuilder()
    if toc:
        _add_with_outline(builder, pages, toc)
    else:
        _add_with_font_sizes(builder, pages)
    text_chars = sum(len(b.text) for b in builder.blocks)
    unreadable = sum(b.text.count("\ufffd") for b in builder.blocks)
    if text_chars and unreadable > 0.3 * text_chars:
        raise CorruptDocument(
            path,
            f"{name} has a text layer Hearth cannot decode (its fonts carry no character map). "
            "Run OCR on it (for example with ocrmypdf --force-ocr) and add the result.",
        )
    return builder.finish(path, kind="pdf", title=meta_title, pages=page_count)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    title = re.sub(r"^Microsoft (Word|PowerPoint|Excel) - ", "", title)
    if re.search(r"\.(docx?|pptx?|xlsx?|pdf|indd|tex|dvi|odt|rtf|txt)$", title, re.IGNORECASE):
        return ""  # the producing program's file name, not a title
    if title.lower() in ("untitled", "title", "document", "slide 1"):
        return ""
    return title


def _page_blocks(page, flags: int) -> list[list[Line]]:  # type: ignore[no-untyped-def]
    """The page's text blocks, each a list of (line text, dominant font size)."""
    blocks = []
    for block in page.get_text("dict", flags=flags)["blocks"]:
        if block.get("type", 0) != 0:
            continue
        lines = []
        for line in block["lines"]:
            spans = line["spans"]
            text = "".join(span["text"] for span in spans)
            if not text.strip():
                continue
            size = max(spans, key=lambda span: len(span["text"].strip()))["size"]
            lines.append((text.rstrip(), float(size)))
        if lines:
            blocks.append(lines)
    return blocks


def _page_lines(page, flags: int) -> list[list[Line]]:  # type: ignore[no-untyped-def]
    """The page's text blocks as `_page_blocks` gives them, without font sizes (0.0)."""
    blocks = []
    for *_box, text, _number, kind in page.get_text("blocks", flags=flags):
        if kind != 0:
            continue
        lines = [(line.rstrip(), 0.0) for line in text.split("\n") if line.strip()]
        if lines:
            blocks.append(lines)
    return blocks


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _contents_blocks(blocks: list[list[Line]]) -> set[int]:
    """Indices of a page's blocks that are table-of-contents entries.

    Only on a page with several leader lines (one dotted line in prose is not a table of
    contents); there, a block is an entry when a quarter or more of its lines end in a leader
    (PyMuPDF often splits an entry into its number, its title and its page).
    """
    leaders = [sum(1 for text, _ in lines if _LEADER_END.search(text)) for lines in blocks]
    if sum(leaders) < CONTENTS_LINES_PER_PAGE:
        return set()
    return {
        i
        for i, (n, lines) in enumerate(zip(leaders, blocks, strict=True))
        if n and 4 * n >= len(lines)
    }


def _add_runs(
    builder: DocumentBuilder, page: int, lines: list[Line], marks: list[tuple[int, int]] | None
) -> None:
    """Add a block's lines as consecutive runs of equal marks `(heading level, group)`.

    Level 0 is body text. Lines of one run are joined: a heading wrapped over two lines is
    one heading; `group` keeps two adjacent headings of the same level apart. No marks: the
    block is a table-of-contents entry, added whole as kind "contents".
    """
    if marks is None:
        builder.add("\n".join(text for text, _ in lines), page=page, kind="contents")
        return
    run: list[str] = []
    run_mark = marks[0] if marks else (0, 0)

    def flush() -> None:
        level = run_mark[0]
        if not run:
            return
        if level and sum(len(t) for t in run) <= 2 * HEADING_MAX_CHARS:
            builder.add(" ".join(t.strip() for t in run), page=page, kind="heading", level=level)
        else:
            builder.add("\n".join(run), page=page)
        run.clear()

    for (text, _size), mark in zip(lines, marks, strict=True):
        if mark != run_mark:
            flush()
            run_mark = mark
        run.append(text)
    flush()


def _add_with_font_sizes(builder: DocumentBuilder, pages: list[list[list[Line]]]) -> None:
    sizes: Counter[float] = Counter()
    for blocks in pages:
        for lines in blocks:
            for text, size in lines:
                sizes[round(size * 2) / 2] += len(text)
    body = sizes.most_common(1)[0][0]
    threshold = max(body * HEADING_SIZE_RATIO, body + 1.0)

    def candidate(text: str, size: float) -> bool:
        stripped = text.strip()
        return (
            round(size * 2) / 2 >= threshold
            and len(stripped) <= HEADING_MAX_CHARS
            and any(c.isalpha() for c in stripped)
        )

    seen_on: defaultdict[str, set[int]] = defaultdict(set)
    for number, blocks in enumerate(pages, start=1):
        for lines in blocks:
            for text, size in lines:
                if candidate(text, size):
                    seen_on[_norm(text)].add(number)
    running = {t for t, on in seen_on.items() if len(on) >= RUNNING_HEAD_PAGES}
    heading_sizes = sorted(
        {
            round(size * 2) / 2
            for blocks in pages
            for lines in blocks
            for text, size in lines
            if candidate(text, size) and _norm(text) not in running
        },
        reverse=True,
    )
    level_of = {size: min(i + 1, 6) for i, size in enumerate(heading_sizes)}

    for number, blocks in enumerate(pages, start=1):
        contents = _contents_blocks(blocks)
        for b, lines in enumerate(blocks):
            if b in contents:
                _add_runs(builder, number, lines, None)
                continue
            levels = [
                level_of.get(round(size * 2) / 2, 0)
                if candidate(text, size) and _norm(text) not in running
                else 0
                for text, size in lines
            ]
            _add_runs(builder, number, lines, [(level, level) for level in levels])


def _add_with_outline(
    builder: DocumentBuilder, pages: list[list[list[Line]]], toc: list[list]
) -> None:
    entries: defaultdict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for entry in toc:
        level, title, page = int(entry[0]), str(entry[1]), int(entry[2])
        if 1 <= page <= len(pages) and title.strip():
            entries[page].append((level, _norm(title), title))
    for number, blocks in enumerate(pages, start=1):
        waiting = list(entries.get(number, ()))
        contents = _contents_blocks(blocks)
        found: list[tuple[list[Line], list[tuple[int, int]] | None]] = []
        for b, lines in enumerate(blocks):
            if b in contents:  # an entry names a section; it does not open it
                found.append((lines, None))
                continue
            marks = [(0, 0)] * len(lines)
            for i, (text, _size) in enumerate(lines):
                if not waiting:
                    break
                one = _norm(text)
                two = _norm(text + " " + lines[i + 1][0]) if i + 1 < len(lines) else None
                for k, (level, norm, _title) in enumerate(waiting):
                    if norm == one:
                        marks[i] = (level, i + 1)
                    elif norm == two:
                        marks[i] = marks[i + 1] = (level, i + 1)
                    else:
                        continue
                    del waiting[k]
                    break
            found.append((lines, marks))
        # Outline entries whose text is not on the page (renamed, or drawn as a picture)
        # still open their section where the page begins.
        for level, _norm_title, title in waiting:
            builder.enter_heading(title, level)
        for lines, block_marks in found:
            _add_runs(builder, number, lines, block_marks)

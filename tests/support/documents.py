"""Generators of real documents for tests: PDFs, Office files, web pages, mail, e-books.

Every generator writes a genuine file in its format with the same libraries or the same
package layout a real application would produce, so parsers are tested against the real
thing. Structure is given as a list of `(style, text)` items; the styles understood are

    "title"  the document's title paragraph (where the format has one)
    "h1".."h3"  headings
    "p"      a paragraph
    "bullet" a bulleted list item
    "code"   a preformatted block
    "table"  a table; its content is a list of rows (lists of cell strings)
    "pagebreak"  (Word only) a page break, recorded as Word records it

`make_mixed_folder` writes a folder of good and bad files and says which is which.
"""

from __future__ import annotations

import csv
import email.utils
import functools
import html
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from engine.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    ScannedDocument,
)

Item = tuple[str, Any]

PDF_SIZES = {"title": 24.0, "h1": 20.0, "h2": 16.0, "h3": 13.5, "p": 11.0, "bullet": 11.0}
"""Font sizes `make_pdf` uses per style: headings are recognisable by size alone."""

_PAGE_W, _PAGE_H, _MARGIN = 595.0, 842.0, 60.0


# --- PDF --------------------------------------------------------------------------------------


def _pdf_items(page: str | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(page, str):
        return [("p", para.strip()) for para in page.split("\n\n") if para.strip()]
    return [(style, text) for style, text in page]


@functools.lru_cache(maxsize=65536)
def _width(word: str, fontname: str, fontsize: float) -> float:
    import pymupdf

    return pymupdf.get_text_length(word, fontname, fontsize)


def _wrap(text: str, *, fontname: str, fontsize: float, width: float) -> list[str]:
    """Greedy line breaking with Base-14 metrics (additive: no kerning)."""
    space = _width(" ", fontname, fontsize)
    lines: list[str] = []
    for raw in text.split("\n"):
        current: list[str] = []
        used = 0.0
        for word in raw.split(" "):
            w = _width(word, fontname, fontsize)
            if current and used + space + w > width:
                lines.append(" ".join(current))
                current, used = [word], w
            else:
                used += (space if current else 0.0) + w
                current.append(word)
        lines.append(" ".join(current))
    return lines


def _write_pdf_page(doc: Any, items: list[tuple[str, str]], number: int) -> list[tuple[str, str]]:
    """Lay out one page; return the headings written on it."""
    page = doc.new_page(width=_PAGE_W, height=_PAGE_H)
    y = _MARGIN
    headings = []
    for style, text in items:
        size = PDF_SIZES.get(style, PDF_SIZES["p"])
        bold = style != "p" and style != "bullet"
        fontname = "hebo" if bold else "helv"
        body = f"• {text}" if style == "bullet" else text
        lines = _wrap(body, fontname=fontname, fontsize=size, width=_PAGE_W - 2 * _MARGIN)
        height = len(lines) * size * 1.3
        if y + height > _PAGE_H - _MARGIN:
            raise ValueError(f"page {number} of the test PDF holds more text than fits on it")
        page.insert_text(
            (_MARGIN, y + size), lines, fontname=fontname, fontsize=size, lineheight=1.3
        )
        y += height + size * 0.8
        if style in ("title", "h1", "h2", "h3"):
            headings.append((style, text))
    return headings


def make_pdf(
    path: Path,
    pages: Sequence[str | Sequence[tuple[str, str]]],
    *,
    title: str | None = None,
    outline: bool = False,
    password: str | None = None,
) -> Path:
    """Write a text PDF with PyMuPDF, one entry of `pages` per page.

    A page is either a string (paragraphs separated by blank lines) or a list of
    `(style, text)` items; headings are set in larger bold type (`PDF_SIZES`). `outline` also
    writes the headings as the PDF's outline (bookmarks); `password` encrypts the file (AES-256)
    so that it cannot be opened without it.
    """
    import pymupdf

    doc = pymupdf.open()
    toc: list[list[Any]] = []
    levels = {"title": 1, "h1": 1, "h2": 2, "h3": 3}
    for number, page in enumerate(pages, start=1):
        for style, text in _write_pdf_page(doc, _pdf_items(page), number):
            toc.append([levels[style], text, number])
    if title is not None:
        doc.set_metadata({"title": title, "creator": "Hearth tests"})
    if outline and toc:
        # An outline must start at level 1 and never skip a level down.
        fixed: list[list[Any]] = []
        previous = 0
        for level, text, number in toc:
            level = min(level, previous + 1)
            fixed.append([level, text, number])
            previous = level
        doc.set_toc(fixed)
    path = Path(path)
    if password is None:
        doc.save(path, garbage=3, deflate=True)
    else:
        doc.save(
            path,
            encryption=pymupdf.PDF_ENCRYPT_AES_256,  # type: ignore[attr-defined]
            user_pw=password,
            owner_pw=password + "-owner",
        )
    doc.close()
    return path


def make_scanned_pdf(path: Path, pages: Sequence[str], *, dpi: int = 60) -> Path:
    """Write a PDF whose pages are only pictures of text (as a scanner makes): no text layer.

    At the default 60 dpi OCR reads little; 200 dpi is a clean office scan."""
    import pymupdf

    source = pymupdf.open()
    for number, content in enumerate(pages, start=1):
        _write_pdf_page(source, _pdf_items(content), number)
    scanned = pymupdf.open()
    for page in source.pages():
        pixmap = page.get_pixmap(dpi=dpi)
        out = scanned.new_page(width=page.rect.width, height=page.rect.height)
        out.insert_image(out.rect, pixmap=pixmap)
    scanned.save(Path(path), deflate=True)
    scanned.close()
    source.close()
    return Path(path)


_MANUAL_TEXT = (
    "the index stores every chunk with its page and span so that an answer can cite "
    "its source while the embedder turns passages into vectors and the keyword table "
    "finds exact terms that a person remembers from the manual"
)


def make_long_pdf(path: Path, pages: int = 300, *, paragraphs_per_page: int = 5) -> Path:
    """A long text PDF with a chapter and section structure, for throughput measurements."""
    words = _MANUAL_TEXT.split()
    content = []
    for number in range(1, pages + 1):
        items: list[tuple[str, str]] = []
        if number % 20 == 1:
            items.append(("h1", f"Chapter {number // 20 + 1}: Operating the system"))
        if number % 4 == 1:
            items.append(("h2", f"Section {number}.1 Maintenance and checks"))
        for p in range(paragraphs_per_page):
            start = (number * 7 + p * 13) % len(words)
            sentence = " ".join(words[start:] + words[:start])
            items.append(("p", f"{sentence.capitalize()}. Step {number}.{p} is described here."))
        content.append(items)
    return make_pdf(path, content, title="Operations manual", outline=False)


# --- Office Open XML --------------------------------------------------------------------------


def make_docx(path: Path, items: Sequence[Item], *, title: str | None = None) -> Path:
    """Write a Word document with python-docx; headings use Word's built-in heading styles.

    A `("pagebreak", "")` item breaks the page and marks the next paragraph as Word does
    (`w:lastRenderedPageBreak`), so readers can number pages.
    """
    import docx
    from docx.oxml import OxmlElement

    document = docx.Document()
    rendered_break = False
    for style, content in items:
        paragraphs_before = len(document.paragraphs)
        if style == "title":
            document.add_heading(content, level=0)
        elif style in ("h1", "h2", "h3"):
            document.add_heading(content, level=int(style[1]))
        elif style == "bullet":
            document.add_paragraph(content, style="List Bullet")
        elif style == "table":
            rows = list(content)
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = str(cell)
        elif style == "pagebreak":
            document.add_page_break()
            rendered_break = True
            continue
        else:
            document.add_paragraph(content)
        if rendered_break and len(document.paragraphs) > paragraphs_before:
            # Word records where it broke pages when it last laid the document out; readers
            # take page numbers from these marks, so write one as Word would.
            runs = document.paragraphs[-1].runs
            if runs:
                runs[0]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
            rendered_break = False
    if title is not None:
        document.core_properties.title = title
    document.save(str(path))
    return Path(path)


def make_pptx(
    path: Path,
    slides: Sequence[tuple[str, Sequence[str]]],
    *,
    title: str | None = None,
    notes: Sequence[str] | None = None,
) -> Path:
    """Write a PowerPoint deck: one `(slide title, bullet lines)` per slide, optional notes."""
    import pptx

    deck = pptx.Presentation()
    layout = deck.slide_layouts[1]  # "Title and Content"
    for index, (heading, bullets) in enumerate(slides):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        for i, line in enumerate(bullets):
            paragraph = body.paragraphs[0] if i == 0 else body.add_paragraph()
            paragraph.text = line
        if notes is not None and index < len(notes) and notes[index]:
            slide.notes_slide.notes_text_frame.text = notes[index]
    if title is not None:
        deck.core_properties.title = title
    deck.save(str(path))
    return Path(path)


def make_xlsx(
    path: Path, sheets: dict[str, Sequence[Sequence[object]]], *, title: str | None = None
) -> Path:
    """Write an Excel workbook with openpyxl: one sheet per entry, rows of cell values."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(title=name)
        for row in rows:
            sheet.append(list(row))
    if title is not None:
        book.properties.title = title
    book.save(str(path))
    return Path(path)


# --- web, text, mail --------------------------------------------------------------------------


def _html_body(items: Sequence[Item]) -> str:
    out: list[str] = []
    in_list = False
    for style, content in items:
        if style == "bullet":
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html.escape(content)}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if style == "title":
            out.append(f"<h1>{html.escape(content)}</h1>")
        elif style in ("h1", "h2", "h3"):
            out.append(f"<{style}>{html.escape(content)}</{style}>")
        elif style == "code":
            out.append(f"<pre><code>{html.escape(content)}</code></pre>")
        elif style == "table":
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                for row in content
            )
            out.append(f"<table>{rows}</table>")
        else:
            out.append(f"<p>{html.escape(content)}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def make_html(
    path: Path, items: Sequence[Item], *, title: str = "", encoding: str = "utf-8"
) -> Path:
    """Write an HTML page with a <title>, headings, paragraphs, lists and tables."""
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="{encoding}">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{_html_body(items)}\n</body></html>\n"
    )
    Path(path).write_bytes(page.encode(encoding))
    return Path(path)


def make_markdown(path: Path, items: Sequence[Item] | str, *, front_matter: str = "") -> Path:
    """Write a Markdown file from items (or verbatim text), with optional YAML front matter."""
    if isinstance(items, str):
        body = items
    else:
        parts = []
        for style, content in items:
            if style in ("title", "h1"):
                parts.append(f"# {content}")
            elif style in ("h2", "h3"):
                parts.append(f"{'#' * int(style[1])} {content}")
            elif style == "bullet":
                parts.append(f"- {content}")
            elif style == "code":
                parts.append(f"```\n{content}\n```")
            elif style == "table":
                rows = [list(map(str, r)) for r in content]
                lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
                lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
                parts.append("\n".join(lines))
            else:
                parts.append(content)
        body = "\n\n".join(parts) + "\n"
    if front_matter:
        body = f"---\n{front_matter.strip()}\n---\n\n{body}"
    Path(path).write_text(body, encoding="utf-8")
    return Path(path)


def make_text(path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write plain text in the given encoding (cp1252 or latin-1 to test non-UTF-8 input)."""
    Path(path).write_bytes(text.encode(encoding))
    return Path(path)


def make_csv(path: Path, rows: Sequence[Sequence[object]], *, delimiter: str = ",") -> Path:
    """Write a CSV (or TSV) file; the first row is the header."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return Path(path)


def make_eml(
    path: Path,
    *,
    subject: str,
    body: str,
    sender: str = "Ada Lovelace <ada@example.org>",
    to: str = "Charles Babbage <charles@example.org>",
    html_body: str | None = None,
) -> Path:
    """Write an RFC 5322 e-mail message (.eml), plain text with an optional HTML part."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = email.utils.format_datetime(
        email.utils.parsedate_to_datetime("Tue, 01 Jul 2025 09:30:00 +0000")
    )
    message["Message-ID"] = "<hearth-test-1@example.org>"
    message.set_content(body)
    if html_body is not None:
        message.add_alternative(html_body, subtype="html")
    Path(path).write_bytes(bytes(message))
    return Path(path)


# --- e-books and OpenDocument -----------------------------------------------------------------


def make_epub(path: Path, *, title: str, chapters: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """Write an EPUB 3 book: one XHTML file per `(chapter heading, paragraphs)`."""
    manifest, spine, nav = [], [], []
    files = {}
    for i, (heading, paragraphs) in enumerate(chapters, start=1):
        name = f"chapter{i}.xhtml"
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        files[f"OEBPS/{name}"] = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<html xmlns="http://www.w3.org/1999/xhtml"><head>'
            f"<title>{html.escape(heading)}</title></head><body>"
            f"<h1>{html.escape(heading)}</h1>{body}</body></html>"
        )
        manifest.append(f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>')
        spine.append(f'<itemref idref="c{i}"/>')
        nav.append(f'<li><a href="{name}">{html.escape(heading)}</a></li>')
    files["OEBPS/nav.xhtml"] = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f'<head><title>Contents</title></head><body><nav epub:type="toc"><ol>{"".join(nav)}'
        "</ol></nav></body></html>"
    )
    files["OEBPS/content.opf"] = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:uuid:hearth-test</dc:identifier>'
        f"<dc:title>{html.escape(title)}</dc:title><dc:language>en</dc:language>"
        '<meta property="dcterms:modified">2025-07-01T00:00:00Z</meta></metadata>'
        '<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
        f'properties="nav"/>{"".join(manifest)}</manifest>'
        f"<spine>{''.join(spine)}</spine></package>"
    )
    files["META-INF/container.xml"] = (
        '<?xml version="1.0"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" '
        'media-type="application/oebps-package+xml"/></rootfiles></container>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # first, stored
        for name, text in files.items():
            z.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
    return Path(path)


_ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
)


def make_odt(path: Path, items: Sequence[Item], *, title: str | None = None) -> Path:
    """Write an OpenDocument text file (as LibreOffice Writer saves it, minus styling)."""
    body = []
    for style, content in items:
        if style in ("title", "h1", "h2", "h3"):
            level = 1 if style == "title" else int(style[1])
            body.append(f'<text:h text:outline-level="{level}">{html.escape(content)}</text:h>')
        elif style == "bullet":
            body.append(
                f"<text:list><text:list-item><text:p>{html.escape(content)}</text:p>"
                "</text:list-item></text:list>"
            )
        elif style == "table":
            rows = "".join(
                "<table:table-row>"
                + "".join(
                    f"<table:table-cell><text:p>{html.escape(str(c))}</text:p></table:table-cell>"
                    for c in row
                )
                + "</table:table-row>"
                for row in content
            )
            columns = len(content[0])
            body.append(
                f'<table:table table:name="Table1"><table:table-column '
                f'table:number-columns-repeated="{columns}"/>{rows}</table:table>'
            )
        else:
            body.append(f"<text:p>{html.escape(content)}</text:p>")
    content_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {_ODT_NS} '
        f'office:version="1.2"><office:body><office:text>{"".join(body)}'
        "</office:text></office:body></office:document-content>"
    )
    meta_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta {_ODT_NS} '
        f'office:version="1.2"><office:meta>'
        f"{f'<dc:title>{html.escape(title)}</dc:title>' if title else ''}"
        "</office:meta></office:document-meta>"
    )
    styles_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-styles {_ODT_NS} '
        'office:version="1.2"><office:styles/></office:document-styles>'
    )
    manifest_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest {_ODT_NS} '
        'manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        for name, text in (
            ("content.xml", content_xml),
            ("styles.xml", styles_xml),
            ("meta.xml", meta_xml),
            ("META-INF/manifest.xml", manifest_xml),
        ):
            z.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
    return Path(path)


# --- a folder of everything -------------------------------------------------------------------

SAMPLE_ITEMS: list[Item] = [
    ("title", "Field guide to the heat pump"),
    ("h1", "Installation"),
    ("p", "Mount the outdoor unit on a level base at least thirty centimetres above the ground."),
    ("h2", "Electrical connection"),
    ("p", "A qualified electrician connects the unit to its own circuit breaker of 16 amperes."),
    ("bullet", "Switch off the main breaker before you open the cover."),
    ("bullet", "Check the earth connection with a meter."),
    ("h1", "Maintenance"),
    ("p", "Clean the air filter every three months and rinse the evaporator fins each spring."),
    ("table", [["Part", "Interval"], ["Filter", "3 months"], ["Fins", "12 months"]]),
]
"""A small structured document used for every format in `make_mixed_folder`."""


@dataclass
class MixedFolder:
    """What `make_mixed_folder` wrote.

    good: file -> the `ParsedDocument.kind` it must parse to.
    bad: file -> the `DocumentError` subclass `parse_file` must raise for it.
    skipped: files `is_supported` rejects (a folder walker passes over them silently).
    """

    root: Path
    good: dict[Path, str] = field(default_factory=dict)
    bad: dict[Path, type[DocumentError]] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)

    @property
    def not_files(self) -> list[Path]:
        """Bad entries that are not regular files (a dangling link, a folder named x.pdf).

        A folder walker that lists only files passes over these instead of failing them.
        """
        return [p for p in self.bad if not p.is_file()]


def _pdf_bytes() -> bytes:
    import pymupdf

    doc = pymupdf.open()
    _write_pdf_page(doc, [("h1", "Quarterly report"), ("p", "Sales rose by ten percent.")], 1)
    data = doc.tobytes()
    doc.close()
    return data


def make_mixed_folder(root: Path) -> MixedFolder:
    """Write good files in every supported format plus the bad inputs a real folder holds.

    Bad inputs: a truncated (corrupt) PDF, an empty file, a password-protected PDF, a scanned
    PDF with no text layer, random bytes named .docx and .pdf, a dangling symbolic link and a
    directory named like a PDF. A file made unreadable with `chmod 000` is only written when the
    tests do not run as root: root reads such files anyway, so the dangling link and the
    directory stand in for "cannot be read" there.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = MixedFolder(root=root)
    items = SAMPLE_ITEMS
    pdf_pages = [
        [("h1", "Installation"), ("p", items[2][1]), ("h2", "Electrical connection")],
        [("p", items[4][1]), ("h1", "Maintenance"), ("p", items[8][1])],
    ]

    out.good[make_pdf(root / "guide.pdf", pdf_pages, title="Heat pump guide")] = "pdf"
    out.good[make_docx(root / "guide.docx", items, title="Heat pump guide")] = "docx"
    out.good[
        make_pptx(
            root / "slides.pptx",
            [("Installation", [items[2][1]]), ("Maintenance", [items[8][1]])],
        )
    ] = "pptx"
    out.good[
        make_xlsx(root / "parts.xlsx", {"Parts": [["Part", "Interval"], ["Filter", "3 months"]]})
    ] = "xlsx"
    out.good[make_html(root / "guide.html", items, title="Heat pump guide")] = "html"
    out.good[make_markdown(root / "guide.md", items)] = "markdown"
    out.good[make_text(root / "notes.txt", "Heat pump notes.\n\nThe filter is in the front.\n")] = (
        "text"
    )
    out.good[
        make_text(
            root / "legacy-notes.txt",
            "Café crème and façade: the naïve résumé costs €5 – “quoted”.\n",
            encoding="cp1252",
        )
    ] = "text"
    out.good[make_csv(root / "readings.csv", [["day", "kWh"], ["Mon", 12], ["Tue", 9]])] = "csv"
    out.good[
        make_eml(root / "message.eml", subject="Service visit", body="The technician comes Monday.")
    ] = "email"
    out.good[
        make_epub(
            root / "book.epub",
            title="Heat pumps explained",
            chapters=[("Basics", ["A heat pump moves heat from outside to inside."])],
        )
    ] = "epub"
    out.good[make_odt(root / "guide.odt", items, title="Heat pump guide")] = "odt"
    (root / "tool.py").write_text('def main():\n    print("hello")\n', encoding="utf-8")
    out.good[root / "tool.py"] = "code"

    good_pdf = _pdf_bytes()
    (root / "truncated.pdf").write_bytes(good_pdf[: len(good_pdf) // 3])
    out.bad[root / "truncated.pdf"] = CorruptDocument
    (root / "empty.txt").write_bytes(b"")
    out.bad[root / "empty.txt"] = EmptyDocument
    out.bad[make_pdf(root / "locked.pdf", pdf_pages, password="s3cret")] = EncryptedDocument
    # A scan is read by OCR where Tesseract is installed, and reported as scanned elsewhere.
    from engine.ingest.ocr import ocr_available

    scan = make_scanned_pdf(root / "scan.pdf", ["Scanned page one.", "Scanned page two."])
    if ocr_available():
        out.good[scan] = "pdf"
    else:
        out.bad[scan] = ScannedDocument
    junk = os.urandom(4096)
    (root / "junk.docx").write_bytes(junk)
    out.bad[root / "junk.docx"] = CorruptDocument
    (root / "junk.pdf").write_bytes(junk)
    out.bad[root / "junk.pdf"] = CorruptDocument
    (root / "gone.pdf").symlink_to(root / "does-not-exist.pdf")
    out.bad[root / "gone.pdf"] = DocumentError
    (root / "folder.pdf").mkdir()
    out.bad[root / "folder.pdf"] = DocumentError
    if os.geteuid() != 0:
        locked = root / "no-permission.txt"
        locked.write_text("secret", encoding="utf-8")
        locked.chmod(0)
        out.bad[locked] = DocumentError

    (root / "photo.bin").write_bytes(bytes(range(256)) * 8)
    out.skipped.append(root / "photo.bin")
    return out

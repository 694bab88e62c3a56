"""Word, PowerPoint, Excel, HTML, e-mail, EPUB and OpenDocument through unstructured, offline.

unstructured 0.27 classifies unstyled text with spaCy, and on its first use it loads
`en_core_web_sm` through `unstructured.nlp.tokenize._get_nlp`; when that model is missing it
*downloads a wheel from GitHub and installs it into site-packages* (`_install_spacy_model`).
It also pings a telemetry endpoint at import unless `DO_NOT_TRACK` is set. Hearth prevents
both: `go_offline()` runs when this module is imported (before unstructured is), and
`_offline_nlp()` replaces the loader with a blank English pipeline with a rule-based
sentencizer, and the download/install functions with ones that refuse, before the first
partition. A blank pipeline has no part-of-speech tags, so unstructured's "narrative text or
title?" guess is weaker; Hearth only trusts headings that come from real structure (Word
heading styles, <h1>–<h6>, slide titles), so nothing is lost.

Only local strategies are used: never `hi_res` (it needs models from a hub). EPUB and ODT go
through pandoc (bundled by pypandoc-binary), run as a local program.

Pages: PPTX page = slide number; XLSX page = sheet number (1-based, in workbook order) with
the sheet name as the top heading; DOCX page = the page breaks Word recorded when it saved the
file, when there are any (otherwise None); HTML, e-mail, EPUB and ODT have no pages.
"""

from __future__ import annotations

import email.parser
import email.policy
import html as html_module
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine.offline import go_offline

go_offline()

from engine.errors import (  # noqa: E402
    CorruptDocument,
    DocumentError,
    EncryptedDocument,
    MissingDependency,
    UnsupportedFormat,
)
from engine.ingest.archive import check_archive  # noqa: E402
from engine.ingest.document import DocumentBuilder, ParsedDocument  # noqa: E402

FORMAT_NAMES = {
    "docx": "Word document",
    "pptx": "PowerPoint deck",
    "xlsx": "Excel workbook",
    "html": "web page",
    "email": "e-mail message",
    "epub": "EPUB book",
    "odt": "OpenDocument text",
}
_ZIP_KINDS = frozenset({"docx", "pptx", "xlsx", "epub", "odt"})
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

_nlp_lock = threading.Lock()
_nlp: Any = None


class OfflineViolation(RuntimeError):
    """unstructured tried to fetch or install a language model; Hearth never allows that."""


def _refuse_download(*_args: object, **_kwargs: object) -> None:
    raise OfflineViolation(
        "unstructured tried to download and install a spaCy model; Hearth works offline "
        "and gives it a local pipeline instead"
    )


def _offline_nlp() -> Any:
    """Install Hearth's local spaCy pipeline into unstructured (once) and return it."""
    global _nlp
    with _nlp_lock:
        if _nlp is not None:
            return _nlp
        try:
            import spacy
            import unstructured.nlp.tokenize as tokenize
        except ImportError as exc:
            raise MissingDependency(
                "Reading Office, web, e-mail and e-book files",
                "unstructured[docx,pptx,xlsx,md,epub,odt]",
            ) from exc
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        # `_run_pipeline` looks `_get_nlp` up in the module at call time: this is the hook.
        tokenize._get_nlp = lambda: nlp  # type: ignore[assignment]
        tokenize._load_spacy_model = _refuse_download  # type: ignore[assignment]
        tokenize._install_spacy_model = _refuse_download
        tokenize._download_with_timeout = _refuse_download
        for cached in ("_process_cached", "word_tokenize", "pos_tag", "_tokenize_for_cache"):
            getattr(getattr(tokenize, cached, None), "cache_clear", lambda: None)()
        _nlp = nlp
        return nlp


def reader(kind: str) -> Callable[[Path], ParsedDocument]:
    """The reader for one of the formats this module handles."""
    if kind not in FORMAT_NAMES:
        raise ValueError(f"office cannot read kind {kind!r}")

    def read(path: Path) -> ParsedDocument:
        return _read(path, kind)

    return read


# --- checks before partitioning ---------------------------------------------------------------


def check_container(path: Path, kind: str) -> None:
    """Refuse files that cannot be the format their suffix claims (with the likely reason),
    and ZIP packages that would unpack to far too much. Cheap: nothing is inflated."""
    what = FORMAT_NAMES[kind]
    if kind not in _ZIP_KINDS:
        return
    if zipfile.is_zipfile(path):
        check_archive(path, what)
        return
    with open(path, "rb") as f:
        head = f.read(1 << 20)
        f.seek(max(0, os.fstat(f.fileno()).st_size - (1 << 20)))
        tail = f.read()
    if head.startswith(_OLE_MAGIC):
        # Office stores a password-protected .docx/.xlsx/.pptx as an OLE file holding an
        # "EncryptedPackage" stream; the stream's name sits in the directory, near either end.
        if _ENCRYPTED_PACKAGE in head or _ENCRYPTED_PACKAGE in tail:
            raise EncryptedDocument(
                path,
                f"{path.name} is protected by a password, so Hearth cannot read it. Open it with "
                "the password, remove the protection (File → Info → Protect), save, and add it again.",
            )
        raise UnsupportedFormat(
            path,
            f"{path.name} is an old binary Office file (97–2003 format) with a .{path.suffix[1:]} "
            f"name. Open it in Office or LibreOffice and save it as a real .{path.suffix[1:]}, "
            "then add that.",
        )
    raise CorruptDocument(
        path,
        f"{path.name} is not a valid {what}: it is not the ZIP package such files are. It may "
        "be damaged or another kind of file renamed; open it to check, and add a good copy.",
    )


# --- partitioning -----------------------------------------------------------------------------


def _partition(path: Path, kind: str, html_text: str | None = None) -> list[Any]:
    _offline_nlp()
    filename = str(path)
    common: dict[str, Any] = {"languages": [""]}  # [""]: no language detection pass
    if kind == "docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(filename, strategy="fast", include_page_breaks=True, **common)
    if kind == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx(filename, strategy="fast", include_slide_notes=False, **common)
    if kind == "xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return partition_xlsx(filename, find_subtable=True, include_header=False, **common)
    if kind == "html":
        from unstructured.partition.html import partition_html

        # Decoded here (meta charset, else Hearth's detection) rather than guessed again.
        return partition_html(
            text=without_navigation(html_text or ""), skip_headers_and_footers=True, **common
        )
    if kind == "email":
        from unstructured.partition.email import partition_email

        return partition_email(filename, process_attachments=False, **common)
    if kind in ("epub", "odt"):
        _require_pandoc()
    if kind == "epub":
        from unstructured.partition.epub import partition_epub

        return partition_epub(filename, **common)
    from unstructured.partition.odt import partition_odt

    return partition_odt(filename, **common)


_NAVIGATION = (
    "//nav | //*[@role='navigation' or @role='search' or @role='banner' or @role='contentinfo']"
)
_NAVIGATION_CLASSES = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "navheader",  # DocBook
        "navfooter",
        "nav-panel",  # Texinfo 7
        "related",  # Sphinx
        "sphinxsidebar",
        "breadcrumb",
        "breadcrumbs",
        "headerlink",  # Sphinx and MkDocs: the "¶" permalink after every heading and definition
        "hash-link",  # Docusaurus: the "#" permalink
    }
)
_PAGE_FRAME_CLASSES = frozenset({"header", "footer"})
"""Kept when they hold a heading: some pages put their title in a "header"."""


LINK_LIST_SHARE = 0.8
"""A list or table whose text is at least this share link text is a table of contents."""

LINK_LIST_MIN = 3
"""Links a list needs before it can be a table of contents."""


def _link_lists(root: Any) -> list[Any]:
    """The outermost lists and tables of `root` that are tables of contents: made of at least
    `LINK_LIST_MIN` links whose text is nearly all of theirs (Sphinx's toctrees, DocBook's
    "Table of Contents", Texinfo's menus, a site's lists of pages). Like a printed table of
    contents, such a list names every section and answers nothing."""
    found: list[Any] = []
    for element in root.iter("ul", "ol", "dl", "table"):
        if any(ancestor in found for ancestor in element.iterancestors("ul", "ol", "dl", "table")):
            continue
        chars = sum(len(t) - t.count(" ") for t in element.itertext())
        links = [a for a in element.iter("a") if a.get("href")]
        if len(links) < LINK_LIST_MIN or not chars:
            continue
        linked = sum(len(t) - t.count(" ") for a in links for t in a.itertext())
        if linked >= LINK_LIST_SHARE * chars:
            found.append(element)
    return found


def without_navigation(page: str) -> str:
    """`page` without its navigation: <nav>, elements whose ARIA role is navigation, search,
    banner or page footer, and the navigation bars of documentation generators (DocBook's
    "Prev Up Next Home", Texinfo's "Next: ... Previous: ... Up: ...", Sphinx's related links,
    sidebar and the "¶" permalinks after its headings), and tables of contents (lists made of
    links, `_link_lists`). On every page of a manual they repeat the same words, which match
    questions about none of it. A page that would be left without text is kept whole."""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.document_fromstring(page)
    except (etree.ParserError, ValueError):  # empty, or not markup at all
        return page
    drop = list(root.xpath(_NAVIGATION))
    # Walked, not selected by XPath: "//*[@class]" took 1.9 s on a page of highlighted source
    # code (15,000 classed spans), the walk 0.03 s.
    for element in root.iter():
        if not element.get("class"):
            continue
        classes = set(element.get("class", "").split())
        if classes & _NAVIGATION_CLASSES or (
            classes & _PAGE_FRAME_CLASSES
            and not element.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6")
        ):
            drop.append(element)
    drop.extend(_link_lists(root))
    if not drop:
        return page
    for element in drop:
        if element.getparent() is not None:
            element.drop_tree()
    body = root.find("body")
    if body is None or not "".join(body.itertext()).strip():
        return page
    return str(lxml_html.tostring(root, encoding="unicode"))


def _require_pandoc() -> None:
    """EPUB and ODT are converted by pandoc, a local program (bundled by pypandoc-binary)."""
    try:
        import pypandoc

        pypandoc.get_pandoc_path()
    except (ImportError, OSError) as exc:
        raise MissingDependency("Reading EPUB and ODT files", "pypandoc-binary") from exc


def _read(path: Path, kind: str) -> ParsedDocument:
    check_container(path, kind)
    html_text = _html_text(path) if kind == "html" else None
    try:
        elements = _partition(path, kind, html_text)
        slides, notes = _slides_and_notes(path) if kind == "pptx" else (0, {})
    except (DocumentError, MissingDependency, OfflineViolation):
        raise
    except Exception as exc:  # third-party parsers raise anything on a damaged file
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise CorruptDocument(
            path,
            f"{path.name} could not be read as a {FORMAT_NAMES[kind]} ({message}). It may be "
            "damaged or saved by a program that writes it oddly: open it and save a fresh "
            "copy, then add that.",
        ) from exc
    builder = DocumentBuilder()
    title = None
    pages: int | None = None
    if kind == "docx":
        title = _ooxml_title(path)
        pages = _add_docx(builder, elements)
    elif kind == "pptx":
        title = _ooxml_title(path)
        pages = slides
        _add_slides(builder, elements, notes)
    elif kind == "xlsx":
        title = _ooxml_title(path)
        pages = _add_sheets(builder, elements, _xlsx_sheet_names(path))
    elif kind == "email":
        title = _add_email(builder, path, elements)
    else:
        if html_text is not None:
            title = _html_title(html_text)
        elif kind == "epub":
            title = _epub_title(path)
        elif kind == "odt":
            title = _zip_xml_title(path, "meta.xml")
        _add_elements(builder, elements, headings=True)
    # A workbook's first heading is a sheet name, not a title.
    return builder.finish(
        path, kind=kind, title=title, pages=pages, title_from_heading=kind != "xlsx"
    )


# --- elements to blocks -----------------------------------------------------------------------

_SKIP = frozenset({"PageBreak", "PageNumber"})
_KIND_OF = {"ListItem": "list", "Table": "table", "CodeSnippet": "code", "Formula": "code"}


def _block_text(element: Any) -> str:
    if element.category == "Table":
        as_html = getattr(element.metadata, "text_as_html", None)
        if as_html:
            return _table_lines(as_html) or element.text
    return element.text or ""


def _table_lines(table_html: str) -> str:
    """A table as lines of cells joined with ' | ', one line per row (good for search)."""
    try:
        import lxml.html
    except ImportError:
        return ""
    try:
        root = lxml.html.fromstring(table_html)
    except Exception:  # malformed table markup: fall back to unstructured's flat text
        return ""
    rows = []
    for tr in root.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in tr if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _add_element(
    builder: DocumentBuilder, element: Any, *, page: int | None, heading_level: int | None
) -> None:
    text = _block_text(element)
    if heading_level is not None:
        builder.add(text, page=page, kind="heading", level=heading_level)
    else:
        builder.add(text, page=page, kind=_KIND_OF.get(element.category, "text"))


def _add_elements(builder: DocumentBuilder, elements: Iterable[Any], *, headings: bool) -> None:
    for element in elements:
        if element.category in _SKIP:
            continue
        level = None
        if headings and element.category == "Title":
            level = (element.metadata.category_depth or 0) + 1
        _add_element(builder, element, page=None, heading_level=level)


def _add_docx(builder: DocumentBuilder, elements: list[Any]) -> int | None:
    numbers = {e.metadata.page_number for e in elements if e.metadata.page_number is not None}
    paged = len(numbers) > 1
    for element in elements:
        if element.category in _SKIP:
            continue
        level = None
        if element.category == "Title":
            level = (element.metadata.category_depth or 0) + 1
        page = element.metadata.page_number if paged else None
        _add_element(builder, element, page=page, heading_level=level)
    return max(numbers) if paged else None


def _add_slides(builder: DocumentBuilder, elements: list[Any], notes: dict[int, str]) -> None:
    """Slides: the slide title heads the slide, each slide starts afresh, notes come last."""
    slides: dict[int, list[Any]] = {number: [] for number in notes}
    for element in elements:
        if element.category not in _SKIP:
            slides.setdefault(element.metadata.page_number or 1, []).append(element)
    for page in sorted(slides):
        builder.reset_headings()
        for element in slides[page]:
            level = None
            if element.category == "Title" and element.metadata.category_depth == 0:
                level = 1
            _add_element(builder, element, page=page, heading_level=level)
        if notes.get(page):
            builder.add(notes[page], page=page)


def _slides_and_notes(path: Path) -> tuple[int, dict[int, str]]:
    """Number of slides, and speaker notes per slide number.

    unstructured would emit a slide's notes before its title; Hearth reads them here and puts
    them after the slide's own text.
    """
    import pptx

    slides = pptx.Presentation(str(path)).slides
    notes = {}
    for number, slide in enumerate(slides, start=1):
        if slide.has_notes_slide:
            frame = slide.notes_slide.notes_text_frame
            if frame is not None and frame.text.strip():
                notes[number] = frame.text
    return len(slides), notes


def _add_sheets(builder: DocumentBuilder, elements: list[Any], names: list[str]) -> int:
    """Sheets: page = sheet number, the sheet name heads its rows; cell text is never a heading."""
    current: int | None = None
    for element in elements:
        if element.category in _SKIP:
            continue
        page = element.metadata.page_number
        if page != current:
            builder.reset_headings()
            current = page
            name = getattr(element.metadata, "page_name", None)
            if not name and page is not None and 0 < page <= len(names):
                name = names[page - 1]
            builder.add(name or f"Sheet {page}", page=page, kind="heading", level=1)
        _add_element(builder, element, page=page, heading_level=None)
    return len(names) or (current or 0)


def _add_email(builder: DocumentBuilder, path: Path, elements: list[Any]) -> str | None:
    """The envelope (from, to, date, subject) as the first block, then the body as text."""
    with open(path, "rb") as f:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parse(f)
    lines = []
    for field in ("From", "To", "Cc", "Date", "Subject"):
        value = headers.get(field)
        if value:
            lines.append(f"{field}: {' '.join(str(value).split())}")
    builder.add("\n".join(lines))
    # Mail bodies have no reliable structure: unstructured's title guesses are ignored.
    _add_elements(builder, elements, headings=False)
    subject = headers.get("Subject")
    return str(subject) if subject else None


# --- titles from metadata ---------------------------------------------------------------------

_DC_TITLE = re.compile(r"<dc:title[^>]*>(.*?)</dc:title>", re.DOTALL | re.IGNORECASE)


def _zip_xml_title(path: Path, member: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as z:
            xml = z.read(member).decode("utf-8", errors="replace")
    except (KeyError, OSError, zipfile.BadZipFile):
        return None
    found = _DC_TITLE.search(xml)
    return (html_module.unescape(found.group(1)).strip() or None) if found else None


def _ooxml_title(path: Path) -> str | None:
    return _zip_xml_title(path, "docProps/core.xml")


def _epub_title(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as z:
            container = z.read("META-INF/container.xml").decode("utf-8", errors="replace")
            found = re.search(r'full-path="([^"]+)"', container)
            if not found:
                return None
    except (KeyError, OSError, zipfile.BadZipFile):
        return None
    return _zip_xml_title(path, found.group(1))


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _html_text(path: Path) -> str:
    import codecs

    from engine.ingest.document import decode_bytes

    data = path.read_bytes()
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith(
        (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        try:
            return data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass  # an unknown charset name: detect instead
    return decode_bytes(data)[0]


def _html_title(page: str) -> str | None:
    found = re.search(r"<title[^>]*>(.*?)</title>", page[:65536], re.DOTALL | re.IGNORECASE)
    return (html_module.unescape(" ".join(found.group(1).split())) or None) if found else None


def _xlsx_sheet_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            xml = z.read("xl/workbook.xml").decode("utf-8", errors="replace")
    except (KeyError, OSError, zipfile.BadZipFile):
        return []
    return [html_module.unescape(n) for n in re.findall(r'<sheet\b[^>]*\bname="([^"]*)"', xml)]

"""The shared shapes of a parsed document, how it is built, and how text is recognised.

Every reader (PDF, Office, plain text) builds a `ParsedDocument` with `DocumentBuilder`; the
chunker and the pipeline consume it. Text sniffing and decoding live here too, because the
dispatcher (which reader?) and the plain-text reader both need them. This module imports no
other part of `engine.ingest`, so the package's import graph has no cycles.
"""

from __future__ import annotations

import codecs
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HEADING_MAX_CHARS = 200
"""Longest heading kept in a heading path; longer ones are cut (they are prose, not titles)."""

# --- the public types -------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A piece of a document's text with where it sits: page, headings above it, offset."""

    text: str
    page: int | None
    """1-based page (PDF page, slide, sheet); None where the format has no pages."""
    heading_path: tuple[str, ...]
    """Headings this block sits under, outermost first; a heading block ends with itself."""
    start: int
    """Offset of this block's text inside `ParsedDocument.text`."""
    kind: str = "text"
    """"heading" | "text" | "table" | "list" | "code" | "contents" (a table-of-contents entry:
    part of the text, never a passage)."""


@dataclass(frozen=True)
class ParsedDocument:
    """All the text of one file and its structure; every block is an exact slice of `text`."""

    path: Path
    kind: str
    title: str
    text: str
    blocks: tuple[Block, ...]
    pages: int | None


@dataclass(frozen=True)
class DocumentPart:
    """One part of a large text file read as a stream.

    `doc` holds the part's own text and blocks (offsets inside the part); the part starts at
    `offset` in the whole document's text, which is the parts' texts joined.
    """

    doc: ParsedDocument
    offset: int
    bytes_read: int
    bytes_total: int


# --- building a document ----------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Normalise line ends, drop NULs and form feeds, trim the ends."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    if "\x0c" in text:
        text = text.replace("\x0c", "\n")
    return text.strip()


def heading_label(text: str) -> str:
    """A heading as it appears in a heading path: one line, trimmed, at most 200 characters."""
    label = " ".join(text.split())
    return label if len(label) <= HEADING_MAX_CHARS else label[: HEADING_MAX_CHARS - 1] + "…"


class DocumentBuilder:
    """Collects blocks into one text, keeping exact offsets and the heading path of each block.

    Two modes: without `source`, `add` appends cleaned text and joins blocks with a blank
    line; with `source` (the whole text already known, as for plain text), `add_span` marks
    slices of it, so offsets also point into the decoded file.
    """

    SEPARATOR = "\n\n"

    def __init__(
        self, source: str | None = None, *, headings: Sequence[tuple[int, str]] = ()
    ) -> None:
        self._source = source
        self._parts: list[str] = []
        self._length = 0
        self._blocks: list[Block] = []
        self._stack: list[tuple[int, str]] = list(headings)
        """Open headings as (level, label); `headings` continues the outline of an earlier
        part of the same document (a large file read as a stream)."""

    @property
    def open_headings(self) -> tuple[tuple[int, str], ...]:
        """The open headings (level, label), to continue the outline in the next part."""
        return tuple(self._stack)

    @property
    def blocks(self) -> list[Block]:
        return self._blocks

    def heading_path(self) -> tuple[str, ...]:
        return tuple(label for _, label in self._stack)

    def enter_heading(self, title: str, level: int) -> None:
        """Open a section without adding text (a PDF outline entry not found on its page)."""
        label = heading_label(title)
        if not label:
            return
        level = max(1, level)
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, label))

    def reset_headings(self) -> None:
        """Forget open headings (a new slide or sheet starts a fresh outline)."""
        self._stack.clear()

    def add(
        self,
        text: str,
        *,
        page: int | None = None,
        kind: str = "text",
        level: int = 1,
        heading: str | None = None,
    ) -> None:
        """Append a block (joined mode). Blank text is ignored; a heading opens a section."""
        if self._source is not None:
            raise RuntimeError("this builder marks spans of its source; use add_span")
        text = clean_text(text)
        if not text:
            return
        if kind == "heading":
            self.enter_heading(heading or text, level)
        if self._parts:
            self._parts.append(self.SEPARATOR)
            self._length += len(self.SEPARATOR)
        self._blocks.append(Block(text, page, self.heading_path(), self._length, kind))
        self._parts.append(text)
        self._length += len(text)

    def add_span(
        self,
        start: int,
        end: int,
        *,
        page: int | None = None,
        kind: str = "text",
        level: int = 1,
        heading: str | None = None,
    ) -> None:
        """Mark `source[start:end]` as a block (source mode), trimmed of surrounding space."""
        source = self._source
        if source is None:
            raise RuntimeError("this builder has no source text; use add")
        while start < end and source[start].isspace():
            start += 1
        while end > start and source[end - 1].isspace():
            end -= 1
        if start >= end:
            return
        text = source[start:end]
        if kind == "heading":
            self.enter_heading(heading or text, level)
        self._blocks.append(Block(text, page, self.heading_path(), start, kind))

    def first_heading(self) -> str | None:
        for block in self._blocks:
            if block.kind == "heading":
                return heading_label(block.text)
        return None

    def finish(
        self,
        path: Path,
        *,
        kind: str,
        title: str | None,
        pages: int | None,
        title_from_heading: bool = True,
    ) -> ParsedDocument:
        """The document; its title is `title`, else the first heading, else the file name."""
        text = self._source if self._source is not None else "".join(self._parts)
        fallback = self.first_heading() if title_from_heading else None
        title = heading_label(title or "") or fallback or path.name
        return ParsedDocument(
            path=path, kind=kind, title=title, text=text, blocks=tuple(self._blocks), pages=pages
        )


# --- recognising and decoding text ------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_MAGIC = (
    b"%PDF",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\x1f\x8b",
    b"\x7fELF",
    b"BZh",
    b"7z\xbc\xaf",
    b"Rar!",
)
# Single-byte Western encodings that charset-normalizer cannot tell apart on short text
# without language evidence; Windows-1252 is by far the most common of them in the wild.
_WESTERN_LIST = (
    "cp1250 cp1252 cp1257 cp775 cp437 cp850 cp858 latin_1 iso8859_15 iso8859_2 iso8859_3 "
    "iso8859_4 iso8859_9 iso8859_10 iso8859_13 iso8859_14 iso8859_16 mac_roman mac_latin2 "
    "mac_iceland mac_turkish hp_roman8"
)
_WESTERN_SINGLE_BYTE = frozenset(_WESTERN_LIST.split())
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13, 27, 8}


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file look like text in some encoding (not binary)."""
    if not head:
        return True
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return True
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return False
    controls = sum(1 for byte in head if byte in _CONTROL)
    if controls > len(head) * 0.05:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return True
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return True  # no NULs, few control bytes: a legacy 8-bit encoding
    return from_bytes(head).best() is not None


_MARKS = frozenset(string.punctuation.encode())

MACHINE_LINE_CHARS = 2000
"""A line at least this long, in the first bytes of a file, may be machine-written."""

MACHINE_MARK_SHARE = 0.15
"""Share of ASCII punctuation in such a line above which it is code or data, not prose: on
minified scripts, styles, source maps and search indexes 0.17-0.37; in English prose written
as one line per paragraph about 0.03, in Markdown 0.09, in Chinese or Japanese (no spaces,
punctuation of its own) 0."""


def looks_machine_written(head: bytes) -> bool:
    """Whether the first bytes of a text file are written for machines, not readers: a
    minified script or style, a source map, a search index. Their lines run to thousands of
    characters of brackets, quotes and operators."""
    line = max(head.split(b"\n"), key=len)
    if len(line) < MACHINE_LINE_CHARS:
        return False
    return sum(byte in _MARKS for byte in line) > MACHINE_MARK_SHARE * len(line)


def detect_encoding(head: bytes) -> str:
    """The encoding of a text file judged from its first bytes (for reading it as a stream)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return _guess_single_byte(head)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode text of unknown encoding; returns (text, encoding). Never raises."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    encoding = _guess_single_byte(data)
    return data.decode(encoding, errors="replace"), encoding


def _guess_single_byte(data: bytes) -> str:
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return "cp1252"
    matches = from_bytes(data[:1_000_000])
    best = matches.best()
    if best is None:
        return "cp1252"
    if best.encoding in _WESTERN_SINGLE_BYTE:
        near = {m.encoding for m in matches if m.chaos <= best.chaos + 0.01}
        if best.coherence == 0 or "cp1252" in near:
            try:
                data.decode("cp1252")
                return "cp1252"
            except UnicodeDecodeError:
                pass
    return best.encoding

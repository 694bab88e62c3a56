"""Plain text, Markdown, source code and CSV, read directly.

These formats are read without unstructured: decoding the bytes ourselves gives a document
text that *is* the file's text (line ends normalised), so every offset also points into the
file, and it is far faster. Markdown structure comes from markdown-it's block map (headings,
paragraphs, lists, code fences, tables); CSV records are grouped under their header row.

Text in an unknown encoding is never fatal: UTF-8 and byte-order marks first, then
charset-normalizer, preferring Windows-1252 among the Western single-byte look-alikes.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

from engine.ingest.parse import DocumentBuilder, ParsedDocument, heading_label

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


def read_source(path: Path) -> str:
    """The file's text, decoded, with line ends normalised and NULs dropped."""
    text, _ = decode_bytes(path.read_bytes())
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\x00", "")


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_UNDERLINE = re.compile(r"^(=+|-+)[ \t]*$")


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def read_text(path: Path) -> ParsedDocument:
    """Plain text: paragraphs split at blank lines; setext-style underlined lines are headings."""
    text = read_source(path)
    builder = DocumentBuilder(source=text)
    for start, end in _paragraph_spans(text):
        lines = text[start:end].split("\n")
        if len(lines) == 2 and len(lines[1].strip()) >= 3 and _UNDERLINE.match(lines[1].strip()):
            level = 1 if lines[1].strip()[0] == "=" else 2
            builder.add_span(start, start + len(lines[0]), kind="heading", level=level)
        else:
            builder.add_span(start, end)
    return builder.finish(path, kind="text", title=None, pages=None)


def read_code(path: Path) -> ParsedDocument:
    """Source code and configuration: blocks split at blank lines, kept verbatim."""
    text = read_source(path)
    builder = DocumentBuilder(source=text)
    for start, end in _paragraph_spans(text):
        builder.add_span(start, end, kind="code")
    return builder.finish(path, kind="code", title=None, pages=None)


# --- Markdown ---------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)
_BLOCK_KIND = {
    "paragraph_open": "text",
    "blockquote_open": "text",
    "html_block": "text",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "fence": "code",
    "code_block": "code",
    "table_open": "table",
}


def read_markdown(path: Path) -> ParsedDocument:
    """Markdown through markdown-it's block map: each top-level block is an exact source span."""
    from markdown_it import MarkdownIt

    text = read_source(path)
    title = None
    parse_text = text
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        if found:
            title = found.group(1).strip("\"'")
        # Blank out the front matter but keep its lines, so line numbers still match.
        parse_text = "\n" * front.group(0).count("\n") + text[front.end() :]

    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(line: int) -> int:
        return line_starts[line] if line < len(line_starts) else len(text)

    builder = DocumentBuilder(source=text)
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(parse_text)
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None:
            continue
        start, end = offset(token.map[0]), offset(token.map[1])
        if token.type == "heading_open":
            content = tokens[i + 1].content if i + 1 < len(tokens) else ""
            at = text.find(content, start, end) if content else -1
            if at >= 0:
                start, end = at, at + len(content)
            builder.add_span(
                start, end, kind="heading", level=int(token.tag[1]), heading=content or None
            )
        elif token.type in _BLOCK_KIND:
            builder.add_span(start, end, kind=_BLOCK_KIND[token.type])
    return builder.finish(path, kind="markdown", title=title, pages=None)


# --- CSV --------------------------------------------------------------------------------------

CSV_BLOCK_CHARS = 1500
"""Rows are grouped into blocks of about this many characters (a block per row is wasteful)."""


def read_csv(path: Path) -> ParsedDocument:
    """CSV/TSV: the header row is a heading, so every chunk of rows carries its column names."""
    text = read_source(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text[:20000])
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    builder = DocumentBuilder(source=text)
    previous_line = 0
    block_start: int | None = None
    header_done = False
    try:
        for row in reader:
            line = reader.line_num
            row_start = (
                line_starts[previous_line] if previous_line < len(line_starts) else len(text)
            )
            row_end = line_starts[line] if line < len(line_starts) else len(text)
            previous_line = line
            if not any(cell.strip() for cell in row):
                continue
            if not header_done:
                header_done = True
                label = heading_label(" | ".join(cell.strip() for cell in row))
                builder.add_span(row_start, row_end, kind="heading", level=1, heading=label)
                continue
            if block_start is None:
                block_start = row_start
            if row_end - block_start >= CSV_BLOCK_CHARS:
                builder.add_span(block_start, row_end, kind="table")
                block_start = None
    except csv.Error:
        # A malformed quote or similar: keep what was read, the rest as plain lines.
        block_start = block_start if block_start is not None else line_starts[previous_line]
    if block_start is not None:
        builder.add_span(block_start, len(text), kind="table")
    # The first "heading" is the header row, not a title.
    return builder.finish(path, kind="csv", title=None, pages=None, title_from_heading=False)


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","

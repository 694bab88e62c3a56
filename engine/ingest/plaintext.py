"""Plain text, Markdown, source code and CSV, read directly.

These formats are read without unstructured: decoding the bytes ourselves gives a document
text that *is* the file's text (line ends normalised), so every offset also points into the
file, and it is far faster. Markdown structure comes from markdown-it's block map (headings,
paragraphs, lists, code fences, tables); CSV records are grouped under their header row.

Text in an unknown encoding is never fatal: UTF-8 and byte-order marks first, then
charset-normalizer, preferring Windows-1252 among the Western single-byte look-alikes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from engine.ingest.document import (
    DocumentBuilder,
    DocumentPart,
    ParsedDocument,
    decode_bytes,
    detect_encoding,
    heading_label,
)


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


def _add_text(builder: DocumentBuilder, text: str) -> None:
    """Plain text: paragraphs split at blank lines; setext-style underlined lines are headings."""
    for start, end in _paragraph_spans(text):
        lines = text[start:end].split("\n")
        if len(lines) == 2 and len(lines[1].strip()) >= 3 and _UNDERLINE.match(lines[1].strip()):
            level = 1 if lines[1].strip()[0] == "=" else 2
            builder.add_span(start, start + len(lines[0]), kind="heading", level=level)
        else:
            builder.add_span(start, end)


def _add_code(builder: DocumentBuilder, text: str) -> None:
    """Source code and configuration: blocks split at blank lines, kept verbatim."""
    for start, end in _paragraph_spans(text):
        builder.add_span(start, end, kind="code")


def read_text(path: Path) -> ParsedDocument:
    text = read_source(path)
    builder = DocumentBuilder(source=text)
    _add_text(builder, text)
    return builder.finish(path, kind="text", title=None, pages=None)


def read_code(path: Path) -> ParsedDocument:
    text = read_source(path)
    builder = DocumentBuilder(source=text)
    _add_code(builder, text)
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


def _add_markdown(builder: DocumentBuilder, text: str, *, front_matter: bool = True) -> str | None:
    """Markdown through markdown-it's block map: each top-level block is an exact source span.
    Returns the front matter's title, if there is one."""
    from markdown_it import MarkdownIt

    title = None
    parse_text = text
    front = _FRONT_MATTER.match(text) if front_matter else None
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        if found:
            title = found.group(1).strip("\"'")
        # Blank out the front matter but keep its lines, so line numbers still match.
        parse_text = "\n" * front.group(0).count("\n") + text[front.end() :]

    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(line: int) -> int:
        return line_starts[line] if line < len(line_starts) else len(text)

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
    return title


def read_markdown(path: Path) -> ParsedDocument:
    text = read_source(path)
    builder = DocumentBuilder(source=text)
    title = _add_markdown(builder, text)
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


# --- large files, as a stream ------------------------------------------------------------------

STREAM_BYTES = 8 * 2**20
"""Text, Markdown and code files above this size are read and chunked part by part, so memory
stays bounded whatever their size (a whole-file parse of 50 MB of Markdown takes gigabytes)."""

STREAMABLE_KINDS = frozenset({"text", "markdown", "code"})

PART_CHARS = 1 << 20
"""About this many characters per part; a part ends at a blank line (outside code fences)."""

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _cut(text: str, *, markdown: bool) -> int:
    """Where a part may end: just after the last blank line (outside a Markdown code fence,
    so a fence is never split); 0 when there is none."""
    if not markdown:
        at = text.rfind("\n\n")
        return at + 2 if at >= 0 else 0
    cut, pos, fence = 0, 0, ""
    for line in text.splitlines(keepends=True):
        pos += len(line)
        found = _FENCE.match(line)
        if fence:
            if found and found.group(1)[0] == fence[0] and len(found.group(1)) >= len(fence):
                fence = ""
        elif found:
            fence = found.group(1)
        elif not line.strip() and line.endswith("\n"):
            cut = pos
    return cut if pos == len(text) else 0


def _parts(path: Path, *, markdown: bool) -> Iterator[tuple[str, int, int]]:
    """The file's text in parts of about `PART_CHARS`: (text, bytes read, bytes in all)."""
    total = path.stat().st_size
    with open(path, "rb") as raw:
        encoding = detect_encoding(raw.read(1 << 16))
        raw.seek(0)
        # newline=None turns \r\n and \r into \n, even across reads, as read_source does.
        f = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline=None)
        carry = ""
        while True:
            block = f.read(PART_CHARS)
            buffer = carry + block.replace("\x00", "")
            if not block:
                if buffer:
                    yield buffer, total, total
                return
            cut = _cut(buffer, markdown=markdown)
            if cut == 0 and len(buffer) > 4 * PART_CHARS:
                cut = buffer.rfind("\n") + 1 or len(buffer)  # no blank line for megabytes
            if cut == 0:
                carry = buffer
                continue
            yield buffer[:cut], min(raw.tell(), total), total
            carry = buffer[cut:]


def stream_document(path: Path, kind: str) -> Iterator[DocumentPart]:
    """Read a large text, Markdown or code file part by part (see `STREAM_BYTES`).

    The parts' texts joined are exactly the text `read_text`/`read_markdown`/`read_code`
    give; headings stay open from one part to the next.
    """
    if kind not in STREAMABLE_KINDS:
        raise ValueError(f"cannot stream kind {kind!r}")
    headings: tuple[tuple[int, str], ...] = ()
    offset = 0
    title = None
    for number, (text, done, total) in enumerate(_parts(path, markdown=kind == "markdown")):
        builder = DocumentBuilder(source=text, headings=headings)
        if kind == "markdown":
            title = _add_markdown(builder, text, front_matter=number == 0) or title
        elif kind == "code":
            _add_code(builder, text)
        else:
            _add_text(builder, text)
        headings = builder.open_headings
        doc = builder.finish(path, kind=kind, title=title, pages=None)
        yield DocumentPart(doc=doc, offset=offset, bytes_read=done, bytes_total=total)
        offset += len(text)

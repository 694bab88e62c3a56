"""Turn a file into text with structure: blocks with pages, heading paths and exact offsets.

`parse_file` is the one entry point. It checks the file (exists, readable, not a folder, not
too large, not empty), picks a reader by suffix (or by sniffing text files with unknown
suffixes) and returns a `ParsedDocument`. Every problem a user can meet is a typed
`DocumentError` whose message says what happened and what to do about it.

Readers per family of formats: `pdf` (PyMuPDF), `office` (unstructured, offline: docx, pptx,
xlsx, html, email, epub, odt) and `plaintext` (text, Markdown, source code, CSV, read directly
for exact offsets and speed). They all build their result with `DocumentBuilder`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CorruptDocument, DocumentError, EmptyDocument, UnsupportedFormat

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Files above this size are refused: parsing them would hold the machine for minutes."""

SNIFF_BYTES = 8192
"""How much of a file is read to decide whether an unknown suffix is text."""

HEADING_MAX_CHARS = 200
"""Longest heading kept in a heading path; longer ones are cut (they are prose, not titles)."""

KIND_BY_SUFFIX: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".rst": "text",
    ".org": "text",
    ".adoc": "text",
    ".tex": "text",
    ".csv": "csv",
    ".tsv": "csv",
    ".eml": "email",
    ".epub": "epub",
    ".odt": "odt",
}

_CODE_SUFFIX_LIST = """.py .pyi .ipynb .js .mjs .cjs .jsx .ts .tsx .java .kt .kts .scala .groovy .gradle .c .h
    .cc .cpp .cxx .hpp .hh .cs .go .rs .rb .php .pl .pm .swift .m .mm .r .jl .lua .sh .bash .zsh
    .fish .ps1 .bat .cmd .sql .css .scss .less .vue .svelte .dart .hs .ml .ex .exs .erl .clj
    .el .vim .json .jsonl .yaml .yml .toml .ini .cfg .conf .xml .proto .graphql .cmake .mk
"""
CODE_SUFFIXES = frozenset(_CODE_SUFFIX_LIST.split())

_NOT_SUPPORTED_ADVICE: dict[str, str] = {
    ".doc": "an old Word 97–2003 document: open it in Word or LibreOffice, save it as .docx",
    ".xls": "an old Excel 97–2003 workbook: open it in Excel or LibreOffice, save it as .xlsx",
    ".ppt": "an old PowerPoint 97–2003 deck: open it in PowerPoint or LibreOffice, save it as .pptx",
    ".rtf": "a Rich Text file: save it as .docx or .odt",
    ".msg": "an Outlook message: save it as .eml (or print it to PDF)",
    ".pages": "an Apple Pages document: export it as .docx or PDF",
    ".key": "an Apple Keynote deck: export it as .pptx or PDF",
    ".numbers": "an Apple Numbers sheet: export it as .xlsx or CSV",
}
_IMAGE_SUFFIX_LIST = ".png .jpg .jpeg .gif .bmp .tif .tiff .webp .heic .svg"
_IMAGE_SUFFIXES = frozenset(_IMAGE_SUFFIX_LIST.split())


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
    """"heading" | "text" | "table" | "list" | "code"."""


@dataclass(frozen=True)
class ParsedDocument:
    """All the text of one file and its structure; every block is an exact slice of `text`."""

    path: Path
    kind: str
    title: str
    text: str
    blocks: tuple[Block, ...]
    pages: int | None


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

    def __init__(self, source: str | None = None) -> None:
        self._source = source
        self._parts: list[str] = []
        self._length = 0
        self._blocks: list[Block] = []
        self._stack: list[tuple[int, str]] = []

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


# --- which files ------------------------------------------------------------------------------


def supported_suffixes() -> frozenset[str]:
    """Suffixes Hearth reads (lower case, with the dot); text files with others are sniffed."""
    return frozenset(KIND_BY_SUFFIX) | CODE_SUFFIXES


def _known_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in KIND_BY_SUFFIX:
        return KIND_BY_SUFFIX[suffix]
    if suffix in CODE_SUFFIXES:
        return "code"
    return None


def is_supported(path: Path) -> bool:
    """Whether Hearth would try to read this file: a known suffix, or text by its content.

    Unknown suffixes (source code, configuration, logs, README without a suffix) are accepted
    when the first few kilobytes look like text; binary files are rejected. Never raises.
    """
    path = Path(path)
    if _known_kind(path) is not None:
        return True
    suffix = path.suffix.lower()
    if suffix in _NOT_SUPPORTED_ADVICE or suffix in _IMAGE_SUFFIXES:
        return False
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return False
    from engine.ingest.plaintext import looks_like_text

    return bool(head) and looks_like_text(head)


# --- reading ----------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.1f} kB"


def _check_file(path: Path) -> tuple[int, bytes]:
    """Size and first bytes of a regular, readable file, or a DocumentError saying why not."""
    name = path.name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise DocumentError(
                path,
                f"{name} is a link to a file that no longer exists "
                f"({os.readlink(path)}). Remove the link or restore the file it points to.",
            ) from None
        raise DocumentError(
            path, f"{name} does not exist (any more). Check the path, or remove it from Hearth."
        ) from None
    except PermissionError:
        raise DocumentError(
            path,
            f"{name} cannot be read: permission denied on its folder. "
            "Give your user read access to the folder, then add it again.",
        ) from None
    except OSError as exc:
        raise DocumentError(
            path, f"{name} cannot be read: {exc.strerror or exc}. Check the disk and the path."
        ) from exc
    if stat.S_ISDIR(info.st_mode):
        raise DocumentError(
            path, f"{name} is a folder, not a file. Add the folder itself to read what is in it."
        )
    if not stat.S_ISREG(info.st_mode):
        raise DocumentError(
            path,
            f"{name} is not a regular file (it is a device, pipe or socket). "
            "Only documents on disk can be added.",
        )
    if info.st_size > MAX_FILE_BYTES:
        raise DocumentError(
            path,
            f"{name} is {_size(info.st_size)}, above Hearth's limit of {_size(MAX_FILE_BYTES)} "
            "per file. Split it into smaller files and add those.",
        )
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except PermissionError:
        raise DocumentError(
            path,
            f"{name} cannot be read: permission denied. "
            "Give your user read access to the file (or copy it somewhere you own), then add it again.",
        ) from None
    except OSError as exc:
        raise DocumentError(
            path, f"{name} cannot be read: {exc.strerror or exc}. Check the disk and the file."
        ) from exc
    return info.st_size, head


def _kind_for(path: Path, head: bytes) -> str:
    from engine.ingest.plaintext import looks_like_text

    kind = _known_kind(path)
    suffix = path.suffix.lower()
    if kind is not None:
        if kind in ("text", "markdown", "csv", "code", "html", "email") and not looks_like_text(
            head
        ):
            raise CorruptDocument(
                path,
                f"{path.name} should be text ({suffix}) but holds binary data. It may be damaged "
                "or be another kind of file renamed: open it to check, and add the real document.",
            )
        return kind
    if suffix in _NOT_SUPPORTED_ADVICE:
        raise UnsupportedFormat(
            path,
            f"Hearth cannot read {path.name}: it is {_NOT_SUPPORTED_ADVICE[suffix]} "
            "and add that file instead.",
        )
    if suffix in _IMAGE_SUFFIXES:
        raise UnsupportedFormat(
            path,
            f"{path.name} is an image; Hearth does not read text from images yet. "
            "Run OCR on it (for example ocrmypdf on a PDF of it) and add the result.",
        )
    if looks_like_text(head):
        return "text"
    raise UnsupportedFormat(
        path,
        f"Hearth cannot read {path.name}: it is not a document format Hearth knows "
        f"({', '.join(sorted(KIND_BY_SUFFIX))}, source code or plain text). "
        "Convert it to PDF, DOCX or text and add that.",
    )


def _reader(kind: str) -> Callable[[Path], ParsedDocument]:
    if kind == "pdf":
        from engine.ingest.pdf import read_pdf

        return read_pdf
    if kind in ("text", "markdown", "code", "csv"):
        from engine.ingest import plaintext

        return {
            "text": plaintext.read_text,
            "markdown": plaintext.read_markdown,
            "code": plaintext.read_code,
            "csv": plaintext.read_csv,
        }[kind]
    from engine.ingest import office

    return office.reader(kind)


def parse_file(path: Path) -> ParsedDocument:
    """Read one file into a `ParsedDocument`.

    Raises a `DocumentError` subclass (UnsupportedFormat, EmptyDocument, EncryptedDocument,
    ScannedDocument, CorruptDocument, or DocumentError itself for missing, unreadable, too
    large files and folders) whose message says what happened and what the user can do.
    """
    path = Path(path)
    size, head = _check_file(path)
    if size == 0:
        raise EmptyDocument(
            path,
            f"{path.name} is empty (0 bytes). There is nothing to read; add it once it has content.",
        )
    kind = _kind_for(path, head)
    try:
        doc = _reader(kind)(path)
    except DocumentError:
        raise
    except PermissionError:
        raise DocumentError(
            path, f"{path.name} cannot be read: permission denied. Give your user read access."
        ) from None
    except MemoryError:
        raise DocumentError(
            path,
            f"{path.name} needs more memory to read than this machine has free. "
            "Close other programs, or split the document, and add it again.",
        ) from None
    if not doc.text.strip() or not doc.blocks:
        raise EmptyDocument(
            path,
            f"{path.name} contains no text to read. If it should, open it and check that the "
            "text is real text (not pictures of text), then add it again.",
        )
    return doc

"""Turn a file into text with structure: blocks with pages, heading paths and exact offsets.

`parse_file` is the one entry point. It checks the file (exists, readable, not a folder, not
too large, not empty), picks a reader by suffix (or by sniffing text files with unknown
suffixes) and returns a `ParsedDocument`. Every problem a user can meet is a typed
`DocumentError` whose message says what happened and what to do about it.

Readers per family of formats: `pdf` (PyMuPDF), `office` (unstructured, offline: docx, pptx,
xlsx, html, email, epub, odt) and `plaintext` (text, Markdown, source code, CSV, read directly
for exact offsets and speed). They all build their result with `DocumentBuilder`
(engine/ingest/document.py, which also holds the shared types, re-exported here).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from engine.errors import CorruptDocument, DocumentError, EmptyDocument, UnsupportedFormat
from engine.ingest.document import (
    Block,
    DocumentBuilder,
    ParsedDocument,
    clean_text,
    heading_label,
    looks_like_text,
    looks_machine_written,
)

__all__ = [
    "MAX_FILE_BYTES",
    "Block",
    "DocumentBuilder",
    "ParsedDocument",
    "clean_text",
    "heading_label",
    "inspect_file",
    "is_supported",
    "parse_file",
    "read_file",
    "supported_suffixes",
]

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Files above this size are refused: parsing them would hold the machine for minutes."""

SNIFF_BYTES = 8192
"""How much of a file is read to decide whether an unknown suffix is text."""

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
_OFTEN_MINIFIED = frozenset({".js", ".mjs", ".cjs", ".css", ".json"})
"""Known suffixes whose files are looked into before a folder's ingest takes them."""

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


# --- which files ------------------------------------------------------------------------------


def supported_suffixes() -> frozenset[str]:
    """Suffixes Hearth reads (lower case, with the dot); text files with others are sniffed."""
    return frozenset(KIND_BY_SUFFIX) | CODE_SUFFIXES


def kind_from_name(path: Path) -> str | None:
    """The kind a file's suffix names, if Hearth knows it (its content decides in the end)."""
    suffix = path.suffix.lower()
    if suffix in KIND_BY_SUFFIX:
        return KIND_BY_SUFFIX[suffix]
    if suffix in CODE_SUFFIXES:
        return "code"
    return None


def is_supported(path: Path) -> bool:
    """Whether Hearth would try to read this file: a known suffix, or text by its content.

    Unknown suffixes (source code, configuration, logs, README without a suffix) are accepted
    when the first few kilobytes look like text; binary files are rejected, and so is text
    written for machines (minified scripts and styles, source maps, search indexes), which
    a folder of web pages carries beside them. Never raises.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if kind_from_name(path) is not None and suffix not in _OFTEN_MINIFIED:
        return True
    if suffix in _NOT_SUPPORTED_ADVICE or suffix in _IMAGE_SUFFIXES:
        return False
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return False
    return bool(head) and looks_like_text(head) and not looks_machine_written(head)


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
    kind = kind_from_name(path)
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


def inspect_file(path: Path) -> tuple[int, str]:
    """Check a file before reading it: its size and the kind of reader it needs.

    Raises the `DocumentError` that `parse_file` would for a missing, unreadable, empty, too
    large or unsupported file, without reading more than its first bytes.
    """
    path = Path(path)
    size, head = _check_file(path)
    if size == 0:
        raise EmptyDocument(
            path,
            f"{path.name} is empty (0 bytes). There is nothing to read; add it once it has content.",
        )
    return size, _kind_for(path, head)


def read_file(path: Path, kind: str) -> ParsedDocument:
    """Read a file already checked by `inspect_file` with the reader for its kind."""
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
        raise no_text(path)
    return doc


def no_text(path: Path) -> EmptyDocument:
    """The error for a document that was read but holds no text."""
    return EmptyDocument(
        path,
        f"{path.name} contains no text to read. If it should, open it and check that the "
        "text is real text (not pictures of text), then add it again.",
    )


def parse_file(path: Path) -> ParsedDocument:
    """Read one file into a `ParsedDocument`.

    Raises a `DocumentError` subclass (UnsupportedFormat, EmptyDocument, EncryptedDocument,
    ScannedDocument, CorruptDocument, or DocumentError itself for missing, unreadable, too
    large files and folders) whose message says what happened and what the user can do.
    """
    path = Path(path)
    _, kind = inspect_file(path)
    return read_file(path, kind)

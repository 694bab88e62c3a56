"""Refuse ZIP-based documents that would unpack into far more than they weigh (zip bombs).

DOCX, PPTX, XLSX, ODT and EPUB are ZIP packages. Their readers unpack members whole into
memory, so a 500 KB file whose `word/document.xml` inflates to 200 MB would take gigabytes
to parse. The ZIP directory states every member's sizes, so the package can be judged
before anything is inflated: total unpacked size, number of members, and the compression
ratio of large members (XML compresses well, but not hundreds of times over).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from engine.errors import CorruptDocument

MAX_UNPACKED_BYTES = 512 * 2**20
"""Total unpacked size of a package; real documents with their images stay far below."""

MAX_MEMBERS = 20_000
"""Members of a package; a long book or a big workbook has a few thousand."""

MAX_RATIO = 100
"""Unpacked-to-packed ratio allowed for a member above `RATIO_FLOOR_BYTES`. Office XML
compresses about 5 to 20 times; a bomb's filler compresses about 1,000 times."""

RATIO_FLOOR_BYTES = 8 * 2**20
"""Members that unpack below this are never refused for their ratio (harmless either way)."""


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_archive(path: Path, what: str) -> None:
    """Raise `CorruptDocument` when the package at `path` would unpack to too much.

    `what` names the format for the message ("Word document"). A file that is not a ZIP
    is left to the caller (its own message says what it is).
    """
    try:
        with zipfile.ZipFile(path) as package:
            members = package.infolist()
    except (OSError, zipfile.BadZipFile):
        return
    name = path.name
    if len(members) > MAX_MEMBERS:
        raise CorruptDocument(
            path,
            f"{name} holds {len(members):,} parts, far more than a real {what} "
            f"(Hearth's limit is {MAX_MEMBERS:,}): it may be damaged or built to exhaust "
            "memory, so Hearth did not open it. If it is genuine, save it again in its program.",
        )
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES:
        raise CorruptDocument(
            path,
            f"{name} would unpack to {_mb(total)}, above Hearth's limit of "
            f"{_mb(MAX_UNPACKED_BYTES)} for a {what}: it may be a 'zip bomb', so Hearth did "
            "not open it. If it is genuine, split it or save it without embedded media.",
        )
    for m in members:
        if m.file_size > RATIO_FLOOR_BYTES and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            ratio = m.file_size / max(m.compress_size, 1)
            raise CorruptDocument(
                path,
                f"{name} looks like a 'zip bomb': its part {m.filename} unpacks from "
                f"{m.compress_size / 1024:,.0f} kB to {_mb(m.file_size)} ({ratio:,.0f} times), "
                f"which no real {what} does. Hearth did not open it. If it is genuine, open it "
                "in its program and save a fresh copy.",
            )

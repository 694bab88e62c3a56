"""Folders linked to a collection: kept in the collection's catalogue, in their own table.

A linked folder is indexed whole and kept in sync while Hearth runs (engine/watch.py). The
table lives in the collection's own SQLite file, so a linked folder goes wherever the
collection goes and is deleted with it. Only what must survive a restart is stored: the
folder, when it was linked, and the last error; whether it is reachable right now is looked
up when asked (a removable drive comes and goes without telling anyone).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import HearthError
from engine.index.catalog import Catalog

_SCHEMA = """
CREATE TABLE IF NOT EXISTS linked_folders (
    path TEXT PRIMARY KEY,
    added_at REAL NOT NULL,
    checked_at REAL,
    error TEXT
);
"""


@dataclass(frozen=True)
class LinkedFolder:
    """A folder linked to a collection, as a user sees it."""

    collection: str
    path: Path
    available: bool
    """Whether the folder is there now (False: a drive unplugged, a share not mounted)."""
    documents: int
    """Documents of the collection that come from this folder."""
    added_at: float
    checked_at: float | None
    """When the folder was last compared with the collection in full; None: not yet."""
    error: str | None
    """Why the last sync failed, if it did."""


def folder_path(folder: Path | str) -> Path:
    """The form a linked folder is stored and compared in: absolute, user folder expanded.

    Symbolic links are not resolved, so document paths (which keep the path as given) stay
    under their folder.
    """
    return Path(os.path.abspath(Path(folder).expanduser()))


def is_under(path: Path, folder: Path) -> bool:
    """Whether `path` lies inside `folder` (both in `folder_path` form)."""
    return path == folder or str(path).startswith(str(folder).rstrip(os.sep) + os.sep)


class LinkStore:
    """The linked folders of one collection."""

    def __init__(self, catalog: Catalog, collection: str) -> None:
        self.catalog = catalog
        self.collection = collection
        # The table is created on the catalogue's own connection and under its write lock,
        # so it shares the catalogue's transactions and WAL file.
        with catalog._write_lock:
            conn = catalog._conn()
            conn.executescript(_SCHEMA)
            conn.commit()

    def add(self, folder: Path | str) -> Path:
        path = folder_path(folder)
        if not path.is_dir():
            raise HearthError(
                f"{path} is not a folder Hearth can open. Check the path, and that the drive "
                "or share it is on is connected."
            )
        for other in self.paths():
            if other != path and (is_under(path, other) or is_under(other, path)):
                inner, outer = (path, other) if is_under(path, other) else (other, path)
                raise HearthError(
                    f"{inner} lies inside {outer}, which is already linked to "
                    f"'{self.collection}'. Link only the outer folder, or unlink it first."
                )
        with self.catalog._write_lock:
            conn = self.catalog._conn()
            conn.execute(
                "INSERT OR IGNORE INTO linked_folders(path, added_at) VALUES (?, ?)",
                (str(path), time.time()),
            )
            conn.commit()
        return path

    def remove(self, folder: Path | str) -> bool:
        with self.catalog._write_lock:
            conn = self.catalog._conn()
            cur = conn.execute(
                "DELETE FROM linked_folders WHERE path = ?", (str(folder_path(folder)),)
            )
            conn.commit()
        return cur.rowcount > 0

    def paths(self) -> list[Path]:
        rows = self.catalog._conn().execute("SELECT path FROM linked_folders ORDER BY path")
        return [Path(r[0]) for r in rows]

    def record_check(self, folder: Path, *, error: str | None) -> None:
        """Note the outcome of a full comparison of the folder with the collection."""
        with self.catalog._write_lock:
            conn = self.catalog._conn()
            conn.execute(
                "UPDATE linked_folders SET checked_at = ?, error = ? WHERE path = ?",
                (time.time(), error, str(folder)),
            )
            conn.commit()

    def list(self) -> list[LinkedFolder]:
        rows = self.catalog._conn().execute(
            "SELECT path, added_at, checked_at, error FROM linked_folders ORDER BY path"
        )
        found = [(Path(r[0]), float(r[1]), r[2], r[3]) for r in rows]
        if not found:
            return []
        counts = dict.fromkeys((p for p, *_ in found), 0)
        for (doc,) in self.catalog._conn().execute("SELECT path FROM documents"):
            for p in counts:
                if is_under(Path(doc), p):
                    counts[p] += 1
                    break
        return [
            LinkedFolder(
                collection=self.collection,
                path=path,
                available=path.is_dir(),
                documents=counts[path],
                added_at=added,
                checked_at=None if checked is None else float(checked),
                error=None if error is None else str(error),
            )
            for path, added, checked, error in found
        ]

"""Keeping linked folders in sync: a start-up re-check, then file-system events, in batches.

`watch_folders` is a generator like every long engine operation: it yields `FolderState`
events and the ingest events of each batch it indexes, and stops when its `CancelToken` is
set. Inside, watchdog's observer thread only queues raw events; everything else (deciding,
indexing, removing) happens in the generator, on the caller's thread.

- **Start-up re-check.** Each folder is walked and compared with the collection by size and
  modification time; only files that differ go to the ingest, which hashes them before it
  parses (an unchanged file that was merely touched costs a hash, not a parse).
- **Debouncing.** Events are gathered per folder until the folder has been quiet for
  `debounce_s`: an editor's save storm or a copy of a thousand files becomes one batch.
- **Files still being written** are indexed once their size and time stopped changing: a file
  whose stat differs from the one taken at its last event waits another round.
- **Hidden, temporary and lock files** (`.x`, `~$x.docx`, `x.swp`, `x.part`, `x.crdownload`,
  `x.tmp`, `x~`, `#x#`) never reach the index, nor anything else an added folder passes
  over (engine/ingest/folders.py: one rule for both).
- **A folder that disappears** (a removable drive, a network share) is marked unavailable and
  its documents are kept; when it comes back it is re-checked and watched again.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import HearthError
from engine.events import CancelToken, DocumentRemoved, IngestEvent
from engine.index.links import LinkStore, is_under
from engine.ingest.folders import is_ignored

if TYPE_CHECKING:
    from engine.index.collection import Collection

DEBOUNCE_S = 1.5
"""Quiet time after the last event in a folder before its batch is indexed."""
REFRESH_S = 1.0
"""How often the list of linked folders and their availability are looked at again."""
POLL_S = 0.2
"""Longest wait for a file-system event before the loop looks at its clocks again."""
OPEN_WRITE_S = 120.0
"""Where the system reports closes (Linux), a file still open for writing waits for its close
this long at most: a program that keeps a file open (a log) still gets it indexed."""

WATCHING = "watching"
SYNCING = "syncing"
UNAVAILABLE = "unavailable"
ERROR = "error"


@dataclass(frozen=True)
class FolderState:
    """What a linked folder is doing now, for the app's list and `hearth watch`."""

    collection: str
    folder: Path
    state: str
    """'watching', 'syncing', 'unavailable' or 'error'."""
    files: int = 0
    """Files in the batch being synced (state 'syncing')."""
    removed: int = 0
    """Documents dropped because their files are gone (state 'syncing')."""
    error: str | None = None


WatchEvent = FolderState | IngestEvent

IngestFn = Callable[["Collection", Sequence[Path], CancelToken], Iterator[IngestEvent]]
"""Index files into a collection (the facade's ingest, so scanned pages are read too)."""


def _wanted(path: Path, folder: Path) -> bool:
    from engine.ingest.parse import is_supported

    return not is_ignored(path, folder) and is_supported(path)


def scan(folder: Path) -> dict[Path, tuple[int, float]]:
    """Every document file under `folder` with its (size, mtime): the files an ingest of the
    folder reads (`discover`: the same files passed over, the same linked sub-folders followed
    once), so that a re-check never takes a file read through a link for a deleted one."""
    return _listing(folder)[0]


def _listing(folder: Path) -> tuple[dict[Path, tuple[int, float]], set[Path]]:
    """`scan`'s files, and the paths an ingest of `folder` reports instead of reading (a link
    loop, a folder it cannot open, a dangling link)."""
    from engine.ingest.pipeline import discover

    found = discover([folder])
    files: dict[Path, tuple[int, float]] = {}
    for path in found.files:
        try:
            st = path.stat()
        except OSError:
            continue  # gone since it was listed
        files[path] = (st.st_size, st.st_mtime)
    return files, {problem.path for problem in found.problems}


def changes(collection: Collection, folder: Path) -> tuple[list[Path], list[Path]]:
    """Files of `folder` that are new or changed, and documents whose file is gone.

    Size and modification time decide; the ingest hashes what differs before it parses. A
    path the ingest reported instead of reading is not gone while it is still there to report.
    """
    files, reported = _listing(folder)
    known = {
        d.path: (d.size, d.mtime)
        for d in collection.catalog.documents()
        if is_under(d.path, folder)
    }
    new = sorted(p for p, stat in files.items() if known.get(p) != stat)
    gone = sorted(p for p in known if p not in files and p not in reported)
    return new, gone


def remove_documents(collection: Collection, paths: Sequence[Path]) -> int:
    """Drop documents from a collection in one transaction (the files are already gone)."""
    if not paths:
        return 0
    with collection.write_lock:
        known = [p for p in paths if collection.catalog.document(p) is not None]
        if known:
            collection.vectors().update(collection.catalog.remove_documents(known), ())
            collection.save_vectors()
    return len(known)


# --- the watcher -----------------------------------------------------------------------------


@dataclass
class _Pending:
    """A path with events not yet acted on: when the last came, its stat at that moment."""

    last_event: float
    stat: tuple[int, int] | None
    writing: bool = False
    """Opened for writing and not closed yet (known only where the system reports closes)."""


@dataclass
class _Link:
    collection: Collection
    store: LinkStore
    folder: Path
    watch: object | None = None
    available: bool = True
    recheck: bool = True
    pending: dict[Path, _Pending] = field(default_factory=dict)
    last_event: float = 0.0
    state: str = ""

    @property
    def key(self) -> tuple[Path, Path]:
        return (self.collection.folder, self.folder)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def watch_folders(
    collections: Callable[[], list[Collection]],
    ingest: IngestFn,
    *,
    cancel: CancelToken,
    debounce_s: float = DEBOUNCE_S,
    refresh_s: float = REFRESH_S,
) -> Iterator[WatchEvent]:
    """Keep every linked folder of `collections()` in sync until `cancel` is set.

    `collections` is asked again every `refresh_s`, so folders linked or unlinked meanwhile
    are picked up without a restart.
    """
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    events: queue.SimpleQueue[tuple[tuple[Path, Path], FileSystemEvent]] = queue.SimpleQueue()

    class Handler(FileSystemEventHandler):
        """Runs on watchdog's thread: only hands the event over."""

        def __init__(self, key: tuple[Path, Path]) -> None:
            self.key = key

        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write", "attrib"):
                return
            events.put((self.key, event))

    observer = Observer()
    # inotify reports when a file written to is closed: a download or a copy in progress is
    # then known to be incomplete however long it pauses. Elsewhere a stable size must do.
    reports_closes = type(observer).__name__.startswith("Inotify")
    observer.daemon = True
    observer.start()
    links: dict[tuple[Path, Path], _Link] = {}

    def state(link: _Link, name: str, **extra: object) -> FolderState:
        link.state = name
        return FolderState(link.collection.name, link.folder, name, **extra)  # type: ignore[arg-type]

    def unschedule(link: _Link) -> None:
        if link.watch is not None:
            try:
                observer.unschedule(link.watch)  # type: ignore[arg-type]
            except (KeyError, OSError, RuntimeError):
                pass  # the watch died with its folder
            link.watch = None

    def refresh() -> Iterator[WatchEvent]:
        """Pick up linked and unlinked folders; notice folders that left or came back."""
        seen: set[tuple[Path, Path]] = set()
        for coll in collections():
            store = LinkStore(coll.catalog, coll.name)
            for folder in store.paths():
                key = (coll.folder, folder)
                seen.add(key)
                link = links.get(key)
                if link is None:
                    link = links[key] = _Link(coll, store, folder)
                there = folder.is_dir()
                if not there and (link.available or not link.state):
                    link.available = False
                    link.pending.clear()
                    unschedule(link)
                    yield state(link, UNAVAILABLE)
                elif there and (not link.available or link.watch is None):
                    link.available = True
                    link.recheck = True
                    try:
                        link.watch = observer.schedule(Handler(key), str(folder), recursive=True)
                    except OSError as exc:
                        link.watch = None
                        link.recheck = False
                        yield state(link, ERROR, error=_watch_error(folder, exc))
        for key in [k for k in links if k not in seen]:
            unschedule(links.pop(key))

    def take(key: tuple[Path, Path], event: FileSystemEvent) -> None:
        link = links.get(key)
        if link is None or not link.available:
            return
        now = time.monotonic()
        link.last_event = now
        if event.is_directory:
            # A folder renamed, moved in or deleted: compare the whole folder again.
            if event.event_type in ("moved", "deleted", "created"):
                link.recheck = True
            return
        paths = [Path(os.fsdecode(event.src_path))]
        if event.event_type == "moved":
            paths.append(Path(os.fsdecode(event.dest_path)))
        # A file renamed into place (an editor's atomic save) is complete; a created or
        # modified one is open for writing until its close is reported.
        writing = reports_closes and event.event_type in ("created", "modified")
        for path in paths:
            if is_under(path, link.folder) and not is_ignored(path, link.folder):
                link.pending[path] = _Pending(now, _stat(path), writing)

    def sync(link: _Link, new: list[Path], gone: list[Path]) -> Iterator[WatchEvent]:
        """Index `new` and drop `gone`, unless the folder vanished meanwhile."""
        if not link.folder.is_dir():
            # Deletions seen while a drive was being pulled are not the user's deletions.
            link.available = False
            link.pending.clear()
            unschedule(link)
            yield state(link, UNAVAILABLE)
            return
        yield state(link, SYNCING, files=len(new), removed=len(gone))
        try:
            remove_documents(link.collection, gone)
            for path in gone:
                yield DocumentRemoved(path)
            if new:
                yield from ingest(link.collection, new, cancel)
        except HearthError as exc:
            link.store.record_check(link.folder, error=str(exc))
            yield state(link, ERROR, error=str(exc))
            return
        yield state(link, WATCHING)

    def ready(link: _Link, now: float) -> tuple[list[Path], list[Path]]:
        """Paths of a quiet folder whose files stopped changing: (to index, to drop)."""
        new: list[Path] = []
        gone: list[Path] = []
        for path, pend in list(link.pending.items()):
            current = _stat(path)
            if current is None:
                gone.append(path)
            elif pend.writing and now - pend.last_event < OPEN_WRITE_S:
                continue  # still open for writing: its close brings it back
            elif current != pend.stat:
                # Still being written (or changed since its last event): wait another round.
                link.pending[path] = _Pending(now, current)
                continue
            elif _wanted(path, link.folder):
                new.append(path)
            del link.pending[path]
        return new, gone

    try:
        last_refresh = -refresh_s
        while not cancel.cancelled:
            now = time.monotonic()
            if now - last_refresh >= refresh_s:
                yield from refresh()
                last_refresh = now
            for link in list(links.values()):
                if cancel.cancelled:
                    break
                if not link.available or link.watch is None:
                    continue
                if link.recheck and now - link.last_event >= debounce_s:
                    link.recheck = False
                    link.pending.clear()  # the full comparison covers them
                    try:
                        new, gone = changes(link.collection, link.folder)
                    except OSError as exc:
                        yield state(link, ERROR, error=_watch_error(link.folder, exc))
                        continue
                    yield from sync(link, new, gone)
                    if link.state == WATCHING:
                        link.store.record_check(link.folder, error=None)
                elif link.pending and now - link.last_event >= debounce_s:
                    new, gone = ready(link, now)
                    if new or gone:
                        yield from sync(link, new, gone)
                    elif not link.pending and link.state != WATCHING:
                        yield state(link, WATCHING)
                elif not link.pending and link.state not in (WATCHING, ERROR):
                    yield state(link, WATCHING)
            try:
                key, event = events.get(timeout=POLL_S)
                take(key, event)
                while True:  # everything already queued, without waiting
                    key, event = events.get_nowait()
                    take(key, event)
            except queue.Empty:
                pass
    finally:
        observer.stop()
        observer.join(timeout=5)


def _watch_error(folder: Path, exc: OSError) -> str:
    if exc.errno == 28:  # ENOSPC from inotify: the per-user watch limit is reached
        return (
            f"Hearth cannot watch {folder}: the system's limit on watched folders is reached. "
            "Raise it with: sudo sysctl fs.inotify.max_user_watches=524288"
        )
    return f"Hearth cannot watch {folder}: {exc.strerror or exc}."

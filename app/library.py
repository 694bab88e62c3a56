"""Collections, their documents and indexing: what the user's actions do, through the facade.

`Library` owns the Qt models the side panel, the documents view and the progress view show.
Writes to a collection (indexing, removing documents, deleting) run in the worker's WORK lane,
one after the other, so a user can queue several drops while the window stays responsive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from app.models import CollectionsModel, DocumentsModel, IngestModel
from app.worker import WORK, Runner, Task, TaskError
from engine.errors import HearthError
from engine.events import (
    CancelToken,
    FileIndexed,
    IngestFinished,
    IngestProgress,
    IngestStarted,
)
from engine.facade import SAMPLE_COLLECTION, Hearth

if TYPE_CHECKING:
    from engine.index.collection import CollectionInfo


log = logging.getLogger(__name__)


class Library(QObject):
    """Collections and documents as the window shows them; indexing in the background."""

    currentChanged = Signal(object)
    """The selected collection's name, or None."""
    error = Signal(str)
    message = Signal(str)
    ingestStarted = Signal(str)
    ingestFinished = Signal(object)
    """An `IngestSummary`, or None when the run failed."""

    def __init__(self, hearth: Hearth, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hearth = hearth
        self.runner = runner
        self.collections = CollectionsModel(self)
        self.documents = DocumentsModel(self)
        self.ingest_model = IngestModel(self)
        self.current: str | None = None
        self._ingest_tasks: list[Task] = []
        self._active: Task | None = None
        self._busy: dict[str, str] = {}
        self._last_refresh = 0.0
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(700)
        self._refresh_timer.timeout.connect(self.refresh)

    # --- reading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload collections and the current collection's documents (quick SQLite reads)."""
        self._last_refresh = time.monotonic()
        try:
            infos = self.hearth.list_collections()
        except HearthError as exc:
            self.error.emit(str(exc))
            return
        self.collections.set_collections(sorted(infos, key=lambda c: c.name.casefold()))
        if self.current is not None and self.collections.row_of(self.current) < 0:
            self.set_current(self.collections.names()[0] if infos else None)
        else:
            self._load_documents()

    def _refresh_soon(self) -> None:
        """Refresh at most about once a second while indexing runs."""
        if not self._refresh_timer.isActive():
            wait = max(0, 700 - int((time.monotonic() - self._last_refresh) * 1000))
            self._refresh_timer.start(wait)

    def _load_documents(self) -> None:
        docs = []
        if self.current is not None:
            try:
                docs = self.hearth.documents(self.current)
            except HearthError as exc:
                self.error.emit(str(exc))
        self.documents.set_documents(self.current, docs)

    def set_current(self, name: str | None) -> None:
        if name == self.current:
            return
        self.current = name
        self._load_documents()
        self.currentChanged.emit(name)

    def info(self, name: str | None = None) -> CollectionInfo | None:
        row = self.collections.row_of(name or self.current or "")
        return self.collections.item(row) if row >= 0 else None

    def names(self) -> list[str]:
        return self.collections.names()

    # --- collections ------------------------------------------------------------------------

    def create(self, name: str, *, embedding_model: str | None = None) -> bool:
        try:
            info = self.hearth.create_collection(name, embedding_model=embedding_model or None)
        except HearthError as exc:
            self.error.emit(str(exc))
            return False
        self.refresh()
        self.set_current(info.name)
        self.message.emit(f"Created “{info.name}”. Drop documents on the window to add them.")
        return True

    def rename(self, old: str, new: str) -> bool:
        new = new.strip()
        if not new or new == old:
            return False
        if self.is_indexing(old):
            self.error.emit(f"“{old}” is being indexed. Rename it when indexing has finished.")
            return False
        try:
            info = self.hearth.rename_collection(old, new)
        except HearthError as exc:
            self.error.emit(str(exc))
            return False
        was_current = self.current == old
        self.refresh()
        if was_current:
            self.current = info.name
            self.currentChanged.emit(info.name)
        self.message.emit(f"Renamed “{old}” to “{info.name}”.")
        return True

    def delete(self, name: str, *, on_done: Callable[[], None] | None = None) -> Task:
        """Delete a collection (after the work queued before it); its files stay on disk."""
        self._set_busy(name, "Deleting…")

        def done(_: object) -> None:
            self._set_busy(name, None)
            self.message.emit(f"Deleted the collection “{name}”. Your files were not touched.")
            self.refresh()
            if on_done is not None:
                on_done()

        def failed(err: TaskError) -> None:
            self._set_busy(name, None)
            self.error.emit(f"Could not delete “{name}”: {err}")

        return self.runner.start(
            lambda cancel: self.hearth.delete_collection(name),
            lane=WORK,
            name=f"delete {name}",
            on_result=done,
            on_error=failed,
        )

    # --- documents --------------------------------------------------------------------------

    def remove_documents(self, paths: Sequence[Path], collection: str | None = None) -> Task:
        name = collection or self.current
        targets = list(paths)

        def work(cancel: CancelToken) -> int:
            removed = 0
            for p in targets:
                if cancel.cancelled:
                    break
                removed += bool(self.hearth.remove_document(p, collection=name))
            return removed

        def done(n: int) -> None:
            self.message.emit(
                f"Removed {n} document{'s' if n != 1 else ''} from “{name}”. The files stay on disk."
            )
            self.refresh()

        return self.runner.start(
            work,
            lane=WORK,
            name="remove documents",
            on_result=done,
            on_error=lambda e: self.error.emit(f"Could not remove documents: {e}"),
        )

    # --- indexing ---------------------------------------------------------------------------

    @property
    def drop_target(self) -> str:
        """Where dropped files go: the collection on screen, else the engine's default one
        (the one `hearth ask` uses without `-c`)."""
        return self.current or self.hearth.settings.default_collection

    def ingest(
        self, paths: Sequence[Path | str], *, collection: str | None = None, sync: bool = False
    ) -> Task:
        """Index files and folders into a collection (created if needed) in the background."""
        name = collection or self.drop_target
        targets = [Path(p) for p in paths]
        label = "Re-syncing" if sync else "Indexing"
        return self._run_ingest(
            name,
            label,
            lambda cancel: self.hearth.ingest(targets, collection=name, sync=sync, cancel=cancel),
        )

    def resync(self, collection: str | None = None) -> Task | None:
        name = collection or self.current
        if name is None:
            return None
        return self.ingest([], collection=name, sync=True)

    def open_samples(self) -> Task:
        """Build (or refresh) the sample collection from the documents Hearth ships with."""
        return self._run_ingest(
            SAMPLE_COLLECTION,
            "Indexing",
            lambda cancel: self.hearth.open_sample_collection(cancel=cancel),
            select=True,
        )

    def set_embedding_model(self, collection: str, model: str) -> Task:
        return self._run_ingest(
            collection,
            "Re-embedding",
            lambda cancel: self.hearth.set_embedding_model(collection, model, cancel=cancel),
        )

    def _run_ingest(
        self, name: str, label: str, fn: Callable[[CancelToken], object], *, select: bool = False
    ) -> Task:
        task: Task | None = None
        summary_box: list[object] = []

        def started() -> None:
            self._active = task
            self.ingest_model.begin(name, label)
            self._update_queue()
            self._set_busy(name, "indexing…")
            self.ingestStarted.emit(name)

        def progress(event: object) -> None:
            self.ingest_model.handle(event)
            if isinstance(event, IngestStarted):
                self.refresh()
                if select or self.current is None:
                    self.set_current(name)
            elif isinstance(event, FileIndexed | IngestProgress):
                # Passages are searchable by their words as soon as they are written.
                self._refresh_soon()
            elif isinstance(event, IngestFinished):
                summary_box.append(event.summary)

        def failed(err: TaskError) -> None:
            if self._active is not task:  # failed before it could start
                started()
            self.ingest_model.finish(error=str(err))
            self.error.emit(f"Indexing into “{name}” stopped: {err}")

        def finished() -> None:
            if self._active is not task:  # cancelled while it waited in the queue
                started()
            summary = summary_box[-1] if summary_box else None
            if self.ingest_model.run.running:
                self.ingest_model.finish(summary)  # type: ignore[arg-type]
            self._set_busy(name, None)
            if task in self._ingest_tasks:
                self._ingest_tasks.remove(task)
            self._active = None
            self._update_queue()
            self.refresh()
            if select:
                self.set_current(name)
            if summary is not None:
                self.message.emit(f"“{name}”: {self.ingest_model.summary_text()}")
            self.ingestFinished.emit(summary)

        task = self.runner.start(
            fn, lane=WORK, name=f"{label} {name}", on_started=started, on_progress=progress,
            on_error=failed, on_finished=finished,
        )  # fmt: skip
        self._ingest_tasks.append(task)
        self._set_busy(name, "waiting")
        self._update_queue()
        return task

    def _update_queue(self) -> None:
        waiting = [t for t in self._ingest_tasks if t is not self._active and not t.done]
        self.ingest_model.set_queued(len(waiting))

    def is_indexing(self, name: str | None = None) -> bool:
        if name is None:
            return bool(self._ingest_tasks)
        return name in self._busy

    def busy_state(self, name: str) -> str | None:
        """What is being done to a collection ("waiting", "indexing…", "Deleting…"), if anything."""
        return self._busy.get(name)

    def _set_busy(self, name: str, state: str | None) -> None:
        if state:
            self._busy[name] = state
        else:
            self._busy.pop(name, None)
        self.collections.set_state(name, state)

    def cancel_ingest(self) -> None:
        """Stop the running indexing and everything queued behind it."""
        for task in list(self._ingest_tasks):
            task.cancel()
        if self._ingest_tasks:
            self.ingest_model.set_cancelling()

"""Qt item models: the only place the window keeps what it shows.

Controllers fill these from the engine's dataclasses (on the GUI thread, in slots of the
worker's signals); views only read them. Each model exposes its engine object under
`ItemRole` so a view or a test never has to parse display strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from app.text import human_count, human_duration, human_size, human_time, plural
from engine.events import (
    CheckedSentence,
    DocumentRemoved,
    FileFailed,
    FileIndexed,
    FileSkipped,
    FileStarted,
    Hit,
    IngestFinished,
    IngestProgress,
    IngestStarted,
    IngestSummary,
    OcrProgress,
)
from engine.index.collection import readiness

ItemRole = Qt.ItemDataRole.UserRole + 1
StateRole = Qt.ItemDataRole.UserRole + 2
SubtitleRole = Qt.ItemDataRole.UserRole + 3
NumberRole = Qt.ItemDataRole.UserRole + 4
CitedRole = Qt.ItemDataRole.UserRole + 5

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class _ListModel(QAbstractListModel):
    """A list of engine objects; subclasses say how a row is displayed."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def items(self) -> list[Any]:
        return list(self._items)

    def item(self, row: int) -> Any:
        return self._items[row]

    def _reset(self, items: list[Any]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def _changed(self, row: int) -> None:
        ix = self.index(row, 0)
        self.dataChanged.emit(ix, ix)


# --- collections ----------------------------------------------------------------------------


class CollectionsModel(_ListModel):
    """Collections (`CollectionInfo`) with their indexing state ("Indexing…", "Waiting")."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._states: dict[str, str] = {}

    def set_collections(self, infos: list[Any]) -> None:
        if [i.name for i in infos] == [i.name for i in self._items]:
            self._items = list(infos)
            if infos:
                self.dataChanged.emit(self.index(0, 0), self.index(len(infos) - 1, 0))
        else:
            self._reset(infos)

    def set_state(self, name: str, state: str | None) -> None:
        if state:
            self._states[name] = state
        else:
            self._states.pop(name, None)
        row = self.row_of(name)
        if row >= 0:
            self._changed(row)

    def state(self, name: str) -> str | None:
        return self._states.get(name)

    def row_of(self, name: str) -> int:
        return next((i for i, c in enumerate(self._items) if c.name == name), -1)

    def names(self) -> list[str]:
        return [c.name for c in self._items]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        info = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return info.name
        if role == ItemRole:
            return info
        if role == StateRole:
            return self._states.get(info.name)
        if role == SubtitleRole:
            parts = [plural(info.documents, "document")]
            if info.failed:
                parts.append(f"{info.failed} failed")
            state = self._states.get(info.name)
            if state:
                parts.append(state)
            return " · ".join(parts)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{info.name}\n{plural(info.documents, 'document')}, "
                f"{plural(info.chunks, 'passage')}\nEmbedding model: {info.embedding_model}"
            )
        return None


# --- documents ------------------------------------------------------------------------------


class DocumentsModel(QAbstractTableModel):
    """The documents (`DocumentInfo`) of one collection."""

    COLUMNS = ("Name", "Type", "Pages", "Passages", "State", "Problem")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._docs: list[Any] = []
        self.collection: str | None = None

    def set_documents(self, collection: str | None, docs: list[Any]) -> None:
        self.beginResetModel()
        self.collection = collection
        self._docs = sorted(docs, key=lambda d: (d.status != "failed", d.name.casefold()))
        self.endResetModel()

    def documents(self) -> list[Any]:
        return list(self._docs)

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._docs)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        doc = self._docs[index.row()]
        col = index.column()
        if role == ItemRole:
            return doc
        if role == StateRole:
            return doc.status
        if role == Qt.ItemDataRole.DisplayRole:
            failed = doc.status == "failed"
            return (
                doc.name,
                (doc.kind or doc.path.suffix.lstrip(".")).upper(),
                "" if doc.pages is None else str(doc.pages),
                "" if failed else str(doc.chunks),
                "Failed" if failed else "Indexed",
                doc.error or "",
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return doc.error if col == 5 and doc.error else str(doc.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


# --- conversations --------------------------------------------------------------------------


class ConversationsModel(_ListModel):
    """Saved conversations (`ConversationInfo`), most recent first."""

    def set_conversations(self, infos: list[Any]) -> None:
        self._reset(sorted(infos, key=lambda c: c.updated, reverse=True))

    def row_of(self, conversation_id: Any) -> int:
        return next((i for i, c in enumerate(self._items) if c.id == conversation_id), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        info = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return info.title or "New chat"
        if role == ItemRole:
            return info
        if role == SubtitleRole:
            return f"{plural(info.messages, 'message')} · {human_time(info.updated)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return info.title
        return None


# --- chat -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation on screen."""

    role: str
    """'user' or 'assistant'."""
    text: str
    sources: tuple[Hit, ...] = ()
    state: str = "done"
    """'done', 'streaming', 'stopped' or 'error'."""
    status: str = ""
    """What is going on while streaming (searching, loading the model)."""
    model: str | None = None
    stored_id: Any = None
    collection: str | None = None
    checks: tuple[CheckedSentence, ...] = ()
    """The answer's sentences checked against its sources (engine/chat/verify.py)."""
    notice: str = ""
    """What to say at the top of the answer ("Much of this answer is not in your documents.")."""


class MessagesModel(_ListModel):
    """The messages of the open conversation; the last one may be streaming."""

    textAppended = Signal(int)
    """A row's text grew (streaming); cheaper to follow than `dataChanged`."""

    def set_messages(self, messages: list[ChatMessage]) -> None:
        self._reset(messages)

    def append(self, message: ChatMessage) -> int:
        row = len(self._items)
        self.beginInsertRows(_ROOT, row, row)
        self._items.append(message)
        self.endInsertRows()
        return row

    def update(self, row: int, **changes: Any) -> None:
        self._items[row] = replace(self._items[row], **changes)
        self._changed(row)

    def append_text(self, row: int, text: str) -> None:
        msg = self._items[row]
        self._items[row] = replace(msg, text=msg.text + text)
        self.textAppended.emit(row)

    def remove_from(self, row: int) -> None:
        if row < len(self._items):
            self.beginRemoveRows(_ROOT, row, len(self._items) - 1)
            del self._items[row:]
            self.endRemoveRows()

    def last_row(self, role: str) -> int:
        return next(
            (i for i in range(len(self._items) - 1, -1, -1) if self._items[i].role == role), -1
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        msg = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return msg.text
        if role == ItemRole:
            return msg
        if role == StateRole:
            return msg.state
        return None


class SourcesModel(_ListModel):
    """The passages an answer was given, numbered as the answer cites them."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._cited: set[int] = set()
        self.message_row = -1
        self.collection: str | None = None

    def set_sources(
        self, hits: tuple[Hit, ...], cited: tuple[int, ...], *, row: int, collection: str | None
    ) -> None:
        self.beginResetModel()
        self._items = list(hits)
        self._cited = set(cited)
        self.message_row = row
        self.collection = collection
        self.endResetModel()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        hit: Hit = self._items[index.row()]
        n = index.row() + 1
        if role == Qt.ItemDataRole.DisplayRole:
            return hit.text
        if role == ItemRole:
            return hit
        if role == NumberRole:
            return n
        if role == CitedRole:
            return n in self._cited
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{hit.file}\nClick to open at this passage."
        return None


# --- indexing -------------------------------------------------------------------------------


@dataclass
class IngestRun:
    """Overall numbers of the indexing run on screen."""

    collection: str = ""
    label: str = ""
    running: bool = False
    cancelling: bool = False
    files_total: int = 0
    files_done: int = 0
    chunks_done: int = 0
    chunks_per_s: float = 0.0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    current: Path | None = None
    started: float = field(default_factory=time.monotonic)
    summary: IngestSummary | None = None
    error: str | None = None
    queued: int = 0
    stage: str = ""
    activity: str = ""
    """What the engine says it is doing now ("Reading big.md: 12 of 50 MB")."""
    chunks_total: int = 0
    """Passages written so far, all searchable by their words."""
    reading: int = 0
    """The number of the file being read (1-based): a run reads every file, then embeds."""


class IngestModel(QAbstractTableModel):
    """Files of the current indexing run with their state, and the run's overall numbers."""

    COLUMNS = ("File", "State", "Details")
    runChanged = Signal()

    STATES: ClassVar[dict[str, str]] = {
        "reading": "Reading",
        "embedding": "Embedding",
        "indexed": "Indexed",
        "unchanged": "Unchanged",
        "failed": "Failed",
        "removed": "Removed",
        "cancelled": "Cancelled",
    }

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.run = IngestRun()
        self._rows: list[list[Any]] = []  # [path, state, detail]
        self._by_path: dict[Path, int] = {}

    # --- feeding ----------------------------------------------------------------------------

    def begin(self, collection: str, label: str) -> None:
        queued = self.run.queued
        self.beginResetModel()
        self.run = IngestRun(collection=collection, label=label, running=True, queued=queued)
        self._rows = []
        self._by_path = {}
        self.endResetModel()
        self.runChanged.emit()

    def set_queued(self, n: int) -> None:
        self.run.queued = n
        self.runChanged.emit()

    def set_cancelling(self) -> None:
        self.run.cancelling = True
        self.runChanged.emit()

    def handle(self, event: object) -> None:
        """Take one ingest event (from `Hearth.ingest` or `set_embedding_model`)."""
        run = self.run
        if isinstance(event, IngestStarted):
            run.files_total = event.files_total
        elif isinstance(event, FileStarted):
            run.current = event.path
            run.reading = event.index + 1
            self._set(event.path, "reading", "")
        elif isinstance(event, FileIndexed):
            pages = f", {plural(event.pages, 'page')}" if event.pages else ""
            self._set(event.path, "indexed", f"{plural(event.chunks, 'passage')}{pages}")
        elif isinstance(event, FileSkipped):
            self._set(event.path, "unchanged", event.reason)
        elif isinstance(event, FileFailed):
            self._set(event.path, "failed", event.reason)
        elif isinstance(event, DocumentRemoved):
            self._set(event.path, "removed", "The file is gone; it was removed from the index.")
        elif isinstance(event, IngestProgress):
            run.files_done = event.files_done
            run.files_total = max(run.files_total, event.files_total)
            run.chunks_done = event.chunks_done
            run.chunks_total = event.chunks_total
            run.chunks_per_s = event.chunks_per_s
            run.eta_s = event.eta_s
            run.elapsed_s = event.elapsed_s
            run.stage, run.activity = event.stage, event.activity
            if event.current is not None and event.stage in ("", "embedding"):
                row = self._by_path.get(event.current)
                if row is not None and self._rows[row][1] == "reading":
                    self._set(event.current, "embedding", "")
        elif isinstance(event, OcrProgress):
            # OCR takes seconds a page: say which page, so the wait is never silent.
            run.current = event.path
            run.stage = "ocr"
            run.activity = (
                f"Reading scanned page {event.page} of {event.path.name} with OCR "
                f"({event.pages_done} of {event.pages_total} pages)"
            )
            self._set(event.path, "reading", f"OCR: page {event.page}")
        elif isinstance(event, IngestFinished):
            self.finish(event.summary)
            return
        self.runChanged.emit()

    def finish(self, summary: IngestSummary | None = None, *, error: str | None = None) -> None:
        run = self.run
        if summary is not None:
            run.summary = summary
            run.elapsed_s = summary.seconds
        if error:
            run.error = error
        if run.running:
            run.running = False
            for row in self._rows:
                if row[1] in ("reading", "embedding"):
                    row[1:] = ["cancelled", "Not indexed: indexing stopped."]
            # What needs attention first: failures, then files left out, then the rest.
            order = {"failed": 0, "cancelled": 1}
            self.beginResetModel()
            self._rows.sort(key=lambda r: order.get(r[1], 2))
            self._by_path = {r[0]: i for i, r in enumerate(self._rows)}
            self.endResetModel()
        run.current = None
        self.runChanged.emit()

    def _set(self, path: Path, state: str, detail: str) -> None:
        row = self._by_path.get(path)
        if row is None:
            row = len(self._rows)
            self.beginInsertRows(_ROOT, row, row)
            self._rows.append([path, state, detail])
            self._by_path[path] = row
            self.endInsertRows()
        else:
            self._rows[row][1:] = [state, detail]
            self.dataChanged.emit(self.index(row, 0), self.index(row, 2))

    # --- reading ----------------------------------------------------------------------------

    def files(self, state: str | None = None) -> list[Path]:
        return [r[0] for r in self._rows if state is None or r[1] == state]

    def failures(self) -> list[tuple[Path, str]]:
        return [(r[0], r[2]) for r in self._rows if r[1] == "failed"]

    def summary_text(self) -> str:
        run = self.run
        if run.error:
            return f"Indexing stopped: {run.error}"
        if run.running:
            total = run.files_total
            if run.cancelling:
                return "Stopping after the current step…"
            if not total:
                return f"Looking for documents to add to “{run.collection}”…"
            if self._reading():
                return f"Reading {run.reading} of {total} files into “{run.collection}”"
            return f"{run.label or 'Indexing'} {min(run.files_done + 1, total)} of {total} files into “{run.collection}”"
        s = run.summary
        if s is None:
            return ""
        parts = []
        if s.indexed:
            parts.append(f"indexed {plural(s.indexed, 'file')}")
        if s.skipped:
            parts.append(f"{s.skipped} unchanged")
        if s.removed:
            parts.append(f"{s.removed} removed")
        if s.failed:
            parts.append(f"{s.failed} could not be read")
        what = ", ".join(parts) or "nothing to index"
        head = "Stopped" if s.cancelled else "Done"
        return f"{head}: {what} in {human_duration(s.seconds)}."

    def detail_text(self) -> str:
        run = self.run
        if not run.running:
            s = run.summary
            if s is not None and s.chunks:
                pages = f" from {plural(s.pages, 'page')}" if s.pages else ""
                text = f"{plural(s.chunks, 'passage')}{pages}"
                embed = s.timings.get("embed") or s.seconds
                if s.chunks >= 32 and embed > 0:  # a rate over a handful says nothing
                    text += f" · embedded at {s.chunks / embed:.0f} passages/s"
                return text
            return ""
        parts = []
        ready = readiness(run.chunks_done, run.chunks_total)
        if ready:
            parts.append(ready[0].upper() + ready[1:])
        elif run.chunks_done:
            parts.append(f"{plural(run.chunks_done, 'passage')} embedded")
        if run.chunks_per_s:
            parts.append(f"{run.chunks_per_s:.0f} passages/s")
        # Early estimates include loading the embedding model: wait for a few files.
        if run.eta_s is not None and run.files_done >= 2 and run.elapsed_s >= 3:
            parts.append(f"about {human_duration(run.eta_s)} left")
        if run.current is not None:
            parts.append(run.current.name)
        if run.queued:
            parts.append(f"{run.queued} more queued")
        return " · ".join(parts)

    def _reading(self) -> bool:
        """Whether the run is still reading its files (the first of its two passes)."""
        run = self.run
        return bool(run.reading) and run.stage in ("reading", "loading")

    def fraction(self) -> float | None:
        """How far the current pass is: files read, then passages embedded."""
        run = self.run
        if not run.files_total:
            return None
        if self._reading():
            return min(1.0, (run.reading - 1) / run.files_total)
        if run.stage == "embedding" and run.chunks_total:
            return min(1.0, run.chunks_done / run.chunks_total)
        return min(1.0, run.files_done / run.files_total)

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        path, state, detail = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (path.name, self.STATES.get(state, state), detail)[index.column()]
        if role == StateRole:
            return state
        if role == ItemRole:
            return path
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{path}\n{detail}" if detail else str(path)
        return None


# --- chat models ----------------------------------------------------------------------------


class ChatModelsModel(QAbstractTableModel):
    """Installed GGUF models (`ModelInfo`); the one used for chat is marked."""

    COLUMNS = ("Name", "Size", "Quantization", "Context", "Parameters", "Architecture")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._models: list[Any] = []
        self.current: str | None = None

    def set_models(self, models: list[Any], current: str | None) -> None:
        self.beginResetModel()
        self._models = list(models)
        self.current = current
        self.endResetModel()

    def set_current(self, name: str | None) -> None:
        self.current = name
        if self._models:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._models) - 1, 0))

    def models(self) -> list[Any]:
        return list(self._models)

    def names(self) -> list[str]:
        return [m.name for m in self._models]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._models)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        m = self._models[index.row()]
        if role == ItemRole:
            return m
        if role == Qt.ItemDataRole.DisplayRole:
            name = m.name + ("  (in use)" if m.name == self.current else "")
            return (
                name,
                human_size(m.size_bytes),
                m.quantization or "—",
                f"{m.context_length:,}" if m.context_length else "—",
                human_count(m.parameters),
                m.architecture or "—",
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            extra = f"\nAdapter: {m.adapter}" if m.adapter else ""
            return f"{m.path}{extra}"
        if role == Qt.ItemDataRole.FontRole and m.name == self.current and index.column() == 0:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        return None

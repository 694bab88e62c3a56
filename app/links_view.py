"""Linked folders in the window: the watcher that keeps them in sync, and the list that shows them.

`FolderWatch` runs `Hearth.watch` in the worker's WATCH lane for as long as the window is
open and keeps the last state of every linked folder (watching, syncing N files,
unavailable, error). `LinkedFoldersView` lists the current collection's folders with that
state and lets the user link another folder or unlink one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.text import plural
from app.worker import WATCH, WORK, Runner, Task, TaskError
from engine.errors import HearthError
from engine.events import DocumentRemoved, FileIndexed
from engine.facade import Hearth
from engine.watch import ERROR, SYNCING, UNAVAILABLE, FolderState

log = logging.getLogger(__name__)


def state_text(state: FolderState | None, *, available: bool) -> str:
    """How a folder's state reads in the list."""
    if state is None:
        return "linked" if available else "unavailable — its documents stay until it returns"
    if state.state == SYNCING:
        parts = []
        if state.files:
            parts.append(plural(state.files, "file"))
        if state.removed:
            parts.append(f"{plural(state.removed, 'file')} gone")
        return f"syncing {', '.join(parts)}" if parts else "checking…"
    if state.state == UNAVAILABLE:
        return "unavailable — its documents stay until it returns"
    if state.state == ERROR:
        return f"error: {state.error}"
    return "watching"


def _pixmap_icon(name: str, size: int = 40) -> QIcon:
    """A line icon as a plain pixmap icon. Item views copy and drop their icons at every
    refresh; an icon drawn by a Python icon engine (app/icons.py) crashes PySide 6.11 when
    such copies are destroyed, a pixmap icon does not."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    QSvgRenderer(QByteArray(icons.svg(name, theme.colors().text))).render(painter)
    painter.end()
    return QIcon(pixmap)


class FolderWatch(QObject):
    """The app's one watcher over every collection's linked folders."""

    changed = Signal()
    """A folder was linked, unlinked, or changed state."""
    documentsChanged = Signal()
    """The watcher indexed or removed documents."""
    error = Signal(str)
    message = Signal(str)

    def __init__(self, hearth: Hearth, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hearth = hearth
        self.runner = runner
        self.states: dict[tuple[str, Path], FolderState] = {}
        self.task: Task | None = None

    def start(self) -> None:
        """Start watching (the start-up re-check comes first); a no-op while running."""
        if self.task is not None and not self.task.done:
            return
        self.task = self.runner.start(
            lambda cancel: self.hearth.watch(cancel=cancel),
            lane=WATCH,
            name="Watching linked folders",
            on_progress=self._event,
            on_error=self._failed,
        )

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _event(self, event: object) -> None:
        if isinstance(event, FolderState):
            before = self.states.get((event.collection, event.folder))
            self.states[(event.collection, event.folder)] = event
            self.changed.emit()
            if before is not None and before.state == SYNCING:
                self.documentsChanged.emit()  # a batch is complete: show it whole
        elif isinstance(event, (FileIndexed, DocumentRemoved)):
            self.documentsChanged.emit()

    def _failed(self, err: TaskError) -> None:
        self.error.emit(f"Linked folders are no longer kept in sync: {err}")

    def state(self, collection: str, folder: Path) -> FolderState | None:
        return self.states.get((collection, folder))

    def link(self, folder: Path, *, collection: str) -> bool:
        """Link a folder (a quick write to the catalogue); the watcher picks it up."""
        try:
            self.hearth.link_folder(folder, collection=collection)
        except HearthError as exc:
            self.error.emit(str(exc))
            return False
        self.changed.emit()
        return True

    def unlink(self, folder: Path, *, collection: str) -> Task:
        """Unlink a folder and remove its documents, in the WORK lane (it rewrites the index)."""

        def done(removed: int) -> None:
            self.states.pop((collection, folder), None)
            self.changed.emit()
            self.documentsChanged.emit()
            self.message.emit(
                f"Unlinked {folder.name}: {plural(removed, 'document')} removed from “{collection}”."
            )

        return self.runner.start(
            lambda cancel: self.hearth.unlink_folder(folder, collection=collection),
            lane=WORK,
            name=f"Unlinking {folder}",
            on_result=done,
            on_error=lambda e: self.error.emit(f"Could not unlink {folder}: {e}"),
        )


class LinkedFoldersView(QWidget):
    """The current collection's linked folders with their state; link and unlink."""

    def __init__(self, watch: FolderWatch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.watch = watch
        self.collection: str | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 14, 24, 14)
        lay.setSpacing(10)
        bar = nested(lay, QHBoxLayout())
        self.summary = QLabel(self)
        self.summary.setObjectName("Muted")
        self.summary.setWordWrap(True)
        bar.addWidget(self.summary, 1)
        self.link_button = QPushButton(icons.icon("folder"), "Link a folder…", self)
        self.link_button.clicked.connect(self._choose_folder)
        self.unlink_button = QPushButton("Unlink", self)
        self.unlink_button.clicked.connect(self._unlink_selected)
        bar.addWidget(self.link_button)
        bar.addWidget(self.unlink_button)
        self.list = QListWidget(self)
        self.list.setAlternatingRowColors(True)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.list, 1)
        watch.changed.connect(self.refresh)
        self.refresh()

    def set_collection(self, name: str | None) -> None:
        self.collection = name
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the catalogue and the watcher's states (a quick read)."""
        selected = self.selected()
        # No selection signals while items are destroyed and re-made: a slot reading the
        # selection half-way through `clear()` would touch deleted items.
        self.list.blockSignals(True)
        try:
            self._fill(selected)
        finally:
            self.list.blockSignals(False)
        self._update_buttons()

    def _fill(self, selected: Path | None) -> None:
        self.list.clear()
        folders = []
        if self.collection is not None:
            try:
                folders = self.watch.hearth.linked_folders(self.collection)
            except HearthError as exc:
                log.warning("could not list linked folders: %s", exc)
        folder_icon = _pixmap_icon("folder")
        for f in folders:
            state = self.watch.state(f.collection, f.path)
            text = state_text(state, available=f.available)
            item = QListWidgetItem(
                folder_icon, f"{f.path}\n{plural(f.documents, 'document')} · {text}"
            )
            item.setData(Qt.ItemDataRole.UserRole, str(f.path))
            item.setToolTip(text)
            self.list.addItem(item)
            if selected == f.path:
                item.setSelected(True)
        self.summary.setText(
            "Linked folders are kept in sync while Hearth runs: new, changed and deleted files "
            "are picked up within seconds."
            if folders
            else "No linked folders. Drop a folder on the window, or link one: Hearth keeps it "
            "in sync while it runs."
        )

    def selected(self) -> Path | None:
        items = self.list.selectedItems()
        return Path(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def rows(self) -> list[str]:
        """The list's lines, as shown (for tests and screen readers)."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _update_buttons(self) -> None:
        self.link_button.setEnabled(self.collection is not None)
        self.unlink_button.setEnabled(self.selected() is not None)

    def _choose_folder(self) -> None:
        if self.collection is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Link a folder", str(Path.home()))
        if folder:
            self.watch.link(Path(folder), collection=self.collection)

    def _unlink_selected(self) -> None:
        folder = self.selected()
        if folder is None or self.collection is None:
            return
        answer = QMessageBox.question(
            self,
            "Unlink folder",
            f"Stop keeping {folder} in sync and remove its documents from “{self.collection}”?\n"
            "The files themselves stay where they are.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.watch.unlink(folder, collection=self.collection)

"""The documents of a collection: name, type, pages, state and the reason a file failed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.models import DocumentsModel, ItemRole, StateRole
from app.text import plural

if TYPE_CHECKING:
    from PySide6.QtCore import QModelIndex, QPersistentModelIndex
    from PySide6.QtWidgets import QStyleOptionViewItem


class _StateDelegate(QStyledItemDelegate):
    """Failed rows in the danger colour; the rest as usual."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        if index.data(StateRole) == "failed" and index.column() in (4, 5):
            option.palette.setColor(option.palette.ColorRole.Text, QColor(theme.colors().danger))


class DocumentsView(QWidget):
    """Table of documents with Add, Re-sync and Remove."""

    addFiles = Signal()
    addFolder = Signal()
    resync = Signal()
    removeRequested = Signal(list)
    """Paths of the documents to remove."""

    def __init__(self, model: DocumentsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 14, 24, 14)
        lay.setSpacing(10)
        bar = nested(lay, QHBoxLayout())
        self.count = QLabel(self)
        self.count.setObjectName("Muted")
        bar.addWidget(self.count)
        bar.addStretch(1)
        self.add_button = QPushButton(icons.icon("file"), "Add files…", self)
        self.add_button.clicked.connect(self.addFiles)
        self.folder_button = QPushButton(icons.icon("folder"), "Add folder…", self)
        self.folder_button.clicked.connect(self.addFolder)
        self.resync_button = QPushButton(icons.icon("refresh"), "Re-sync", self)
        self.resync_button.setToolTip(
            "Re-index changed files and drop documents whose files are gone"
        )
        self.resync_button.clicked.connect(self.resync)
        self.remove_button = QPushButton(icons.icon("trash"), "Remove", self)
        self.remove_button.setToolTip("Remove the selected documents from this collection")
        self.remove_button.clicked.connect(self._remove)
        for b in (self.add_button, self.folder_button, self.resync_button, self.remove_button):
            bar.addWidget(b)
        self.stack = QStackedWidget(self)
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setItemDelegate(_StateDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(0, 260)
        for col, width in ((1, 80), (2, 64), (3, 80), (4, 80)):
            self.table.setColumnWidth(col, width)
        self.empty = QLabel(
            "No documents yet. Drop files or folders anywhere on the window, or use Add files…",
            self,
        )
        self.empty.setObjectName("Muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        lay.addWidget(self.stack, 1)
        model.modelReset.connect(self._update)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update()

    def _update(self) -> None:
        docs = self.model.documents()
        failed = sum(d.status == "failed" for d in docs)
        ok = len(docs) - failed
        pages = sum(d.pages or 0 for d in docs if d.status != "failed")
        text = plural(ok, "document")
        if pages:
            text += f" · {plural(pages, 'page')}"
        if failed:
            text += f" · {failed} could not be read"
        self.count.setText(text if docs else "")
        self.stack.setCurrentWidget(self.table if docs else self.empty)
        self.resync_button.setEnabled(bool(docs))
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def selected_paths(self) -> list[Path]:
        rows = self.table.selectionModel().selectedRows()
        return [self.model.data(ix, ItemRole).path for ix in rows]

    def _remove(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.removeRequested.emit(paths)

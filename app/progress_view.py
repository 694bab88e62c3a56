"""The indexing panel: overall progress, rate and time left, each file's state, and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.models import IngestModel, StateRole

AUTO_HIDE_MS = 8_000


class _FileStateDelegate(QStyledItemDelegate):
    def initStyleOption(self, option, index) -> None:  # type: ignore[no-untyped-def]
        super().initStyleOption(option, index)
        state = index.data(StateRole)
        c = theme.colors()
        color = {"failed": c.danger, "indexed": c.success, "cancelled": c.muted}.get(state)
        if color and index.column() in (1, 2):
            option.palette.setColor(option.palette.ColorRole.Text, QColor(color))


class IngestPanel(QFrame):
    """Shown while indexing runs and after it, until dismissed; failures stay listed."""

    cancelRequested = Signal()

    def __init__(self, model: IngestModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 10, 10)
        lay.setSpacing(6)
        top = nested(lay, QHBoxLayout())
        self.title = QLabel(self)
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setWordWrap(True)
        top.addWidget(self.title, 1)
        self.files_button = QPushButton("Show files", self)
        self.files_button.setProperty("flat", True)
        self.files_button.setCheckable(True)
        self.files_button.toggled.connect(self._toggle_files)
        top.addWidget(self.files_button)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancelRequested)
        top.addWidget(self.cancel_button)
        self.close_button = QToolButton(self)
        self.close_button.setIcon(icons.icon("close"))
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.hide)
        top.addWidget(self.close_button)
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 1000)
        lay.addWidget(self.bar)
        self.detail = QLabel(self)
        self.detail.setObjectName("Muted")
        lay.addWidget(self.detail)
        # What the engine is doing right now, also inside one long file ("Reading big.md:
        # 12 of 50 MB", "Waiting for another indexing run…"): the panel never looks stuck.
        self.activity = QLabel(self)
        self.activity.setObjectName("Muted")
        self.activity.setWordWrap(True)
        lay.addWidget(self.activity)
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setItemDelegate(_FileStateDelegate(self.table))
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(0, 220)
        self.table.setColumnWidth(1, 90)
        self.table.setMinimumHeight(150)
        self.table.setMaximumHeight(220)
        self.table.hide()
        lay.addWidget(self.table)
        model.runChanged.connect(self.update_view)
        model.rowsInserted.connect(self._scroll_to_end)
        model.modelReset.connect(self.table.scrollToTop)  # a finished run lists failures first
        # A run that went well steps aside after a while; failures stay until dismissed.
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.setInterval(AUTO_HIDE_MS)
        self._hide_timer.timeout.connect(self.hide)
        self.hide()

    def _toggle_files(self, on: bool) -> None:
        self.table.setVisible(on)
        self.update_view()

    def _scroll_to_end(self) -> None:
        if self.model.run.running:
            self.table.scrollToBottom()

    def update_view(self) -> None:
        run = self.model.run
        self.title.setText(self.model.summary_text())
        self.detail.setText(self.model.detail_text())
        self.detail.setVisible(bool(self.detail.text()))
        self.activity.setText(run.activity if run.running else "")
        self.activity.setVisible(run.running and bool(run.activity))
        frac = self.model.fraction()
        if run.running and (frac is None or run.stage in ("waiting", "loading")):
            self.bar.setRange(0, 0)  # busy indicator while files are being found
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * (frac or 0.0)) if run.running else 1000)
        self.bar.setVisible(run.running)
        self.cancel_button.setVisible(run.running)
        self.cancel_button.setEnabled(not run.cancelling)
        self.close_button.setVisible(not run.running)
        failures = len(self.model.failures())
        label = "Hide files" if self.files_button.isChecked() else "Show files"
        if failures:
            label += f" ({failures} failed)"
        self.files_button.setText(label)
        if not run.running and failures and not self.files_button.isChecked():
            self.files_button.setChecked(True)
        if run.running or run.summary is not None or run.error:
            self.show()
        clean = run.summary is not None and not run.summary.cancelled and not failures
        if not run.running and clean and not run.error:
            if not self._hide_timer.isActive():
                self._hide_timer.start()
        else:
            self._hide_timer.stop()

"""Past training runs: their settings, loss curves and results, and several side by side.

Everything shown comes from the run folders the trainer records (trainer/runs.py): run.json
for the list, events.jsonl for the curves, config.yaml for the settings, metrics.json and
answers.json for the results. Select several runs to overlay their curves and to see which
settings differ.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.text import human_time, plural
from app.wizard.context import WizardContext
from app.wizard.widgets import SERIES_COLORS, LossPlot, Step, muted, page_layout
from engine.errors import HearthError

RESUMABLE = ("cancelled", "interrupted", "failed")


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


class RunsView(Step):
    """The list of recorded runs, with curves, settings and results of the selected ones."""

    label = "Past runs"
    resumeRequested = Signal(str)
    openRequested = Signal(str)
    """A finished run to show in Compare and Use."""

    COLUMNS = ("Run", "Status", "Base model", "Preset", "Steps", "Loss", "Eval loss", "Model")

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.runs: list[Any] = []
        self.records: dict[str, Any] = {}
        lay = page_layout(
            self,
            "Past runs",
            "Every fine-tuning run with its settings, loss curves and results. Select "
            "several runs (Ctrl or Shift) to compare them.",
        )
        buttons = nested(lay, QHBoxLayout())
        self.summary = muted("", self)
        buttons.addWidget(self.summary, 1)
        self.refresh_button = QPushButton(icons.icon("refresh"), "Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.clicked.connect(self._resume)
        self.open_button = QPushButton("Compare and use", self)
        self.open_button.clicked.connect(self._open)
        for b in (self.refresh_button, self.resume_button, self.open_button):
            buttons.addWidget(b)

        split = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, len(self.COLUMNS), split)
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.tabs = QTabWidget(split)
        self.tabs.setDocumentMode(True)
        self.plot = LossPlot(self.tabs)
        self.plot.remove_defaults()
        self.settings = QTableWidget(0, 1, self.tabs)
        self.settings.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.settings.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.settings.verticalHeader().setDefaultSectionSize(26)
        self.results = QTextBrowser(self.tabs)
        self.tabs.addTab(self.plot, "Loss curves")
        self.tabs.addTab(self.settings, "Settings")
        self.tabs.addTab(self.results, "Results")
        split.addWidget(self.table)
        split.addWidget(self.tabs)
        split.setSizes([170, 430])
        lay.addWidget(split, 1)
        self._selection_changed()

    # --- data -------------------------------------------------------------------------------

    def enter(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        from trainer.runs import list_runs

        selected = set(self.selected_ids())
        self.runs = list_runs(self.ctx.hearth.paths)
        self.records.clear()
        self.table.setRowCount(len(self.runs))
        c = theme.colors()
        for row, r in enumerate(self.runs):
            evals = (
                f"{r.base_eval_loss:.3f} → {r.eval_loss:.3f}"
                if r.eval_loss is not None and r.base_eval_loss is not None
                else _fmt(r.eval_loss)
            )
            cells = (
                r.run_id,
                r.status,
                r.base if len(r.base) < 48 else "…" + r.base[-46:],
                r.preset or "—",
                f"{r.steps}/{r.total_steps or '?'}",
                f"{r.loss:.3f}" if r.loss is not None else "—",
                evals,
                r.model_name or "",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, r.run_id)
                    item.setToolTip(f"{r.path}\nstarted {human_time(r.created)}")
                if col == 1:
                    color = {"done": c.success, "failed": c.danger}.get(r.status, c.muted)
                    item.setForeground(QColor(color))
                    if r.error:
                        item.setToolTip(r.error)
                self.table.setItem(row, col, item)
        self.summary.setText(
            plural(len(self.runs), "run") if self.runs else "No training runs yet."
        )
        self.table.clearSelection()
        for row, r in enumerate(self.runs):
            if r.run_id in selected:
                self.table.selectRow(row)
        if not self.table.selectedItems() and self.runs:
            self.table.selectRow(0)
        self._selection_changed()

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.runs[r].run_id for r in rows if r < len(self.runs)]

    def select(self, run_ids: list[str]) -> None:
        """Select these runs (as Ctrl+click would)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, r in enumerate(self.runs):
            if r.run_id in run_ids:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _record(self, run_id: str) -> Any:
        if run_id not in self.records:
            from trainer.runs import load_run

            try:
                self.records[run_id] = load_run(self.ctx.hearth.paths, run_id)
            except HearthError:
                self.records[run_id] = None
        return self.records[run_id]

    def _selection_changed(self) -> None:
        ids = self.selected_ids()
        records = [r for r in (self._record(i) for i in ids) if r is not None]
        one = records[0].info if len(records) == 1 else None
        self.resume_button.setEnabled(one is not None and one.status in RESUMABLE)
        self.open_button.setEnabled(one is not None and one.status == "done")
        self._plot(records)
        self._settings(records)
        self._results(records)

    # --- views ------------------------------------------------------------------------------

    def _plot(self, records: list[Any]) -> None:
        self.plot.clear()
        for i, rec in enumerate(records):
            color = SERIES_COLORS[i % len(SERIES_COLORS)]
            steps = rec.losses()
            evals = rec.eval_losses()
            name = rec.info.run_id
            self.plot.add_series(
                f"{name}:train",
                f"{name} training",
                color,
                xs=[s for s, _ in steps],
                ys=[v for _, v in steps],
            )
            if evals:
                self.plot.add_series(
                    f"{name}:eval",
                    f"{name} evaluation",
                    color,
                    dashed=True,
                    symbols=True,
                    xs=[s for s, _ in evals],
                    ys=[v for _, v in evals],
                )

    def _settings(self, records: list[Any]) -> None:
        flat = [flatten(r.config) for r in records]

        def differs(key: str) -> bool:
            return len({_fmt(f.get(key)) for f in flat}) > 1

        # The settings that differ between the selected runs come first.
        keys = sorted({k for f in flat for k in f}, key=lambda k: (not differs(k), k))
        self.settings.clear()
        self.settings.setColumnCount(max(1, len(records)))
        self.settings.setHorizontalHeaderLabels([r.info.run_id for r in records] or [""])
        self.settings.setRowCount(len(keys))
        self.settings.setVerticalHeaderLabels(keys)
        c = theme.colors()
        strong = QFont()
        strong.setBold(True)
        for row, key in enumerate(keys):
            values = [_fmt(f.get(key)) for f in flat]
            changed = differs(key)
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if changed:
                    item.setFont(strong)
                    item.setBackground(QColor(c.accent_soft))
                self.settings.setItem(row, col, item)

    def _results(self, records: list[Any]) -> None:
        parts = []
        for rec in records:
            info, m = rec.info, rec.metrics
            title = html.escape(f"{info.run_id} — {info.status}")
            rows = [
                ("Base model", info.base),
                ("Preset", info.preset),
                ("Steps", f"{info.steps}/{info.total_steps or '?'}"),
                ("First → last training loss", _pair(m.get("initial_loss"), m.get("final_loss"))),
                (
                    "Evaluation loss, base → tuned",
                    _pair(m.get("base_eval_loss"), m.get("eval_loss")),
                ),
                ("Perplexity, base → tuned", _pair(m.get("base_perplexity"), m.get("perplexity"))),
                ("Time", f"{m['seconds']:.0f} s" if m.get("seconds") else "—"),
                ("Model", info.model_name or "—"),
                ("Error", info.error or ""),
            ]
            table = "".join(
                f"<tr><td style='padding-right:14px'>{html.escape(k)}</td>"
                f"<td>{html.escape(str(v if v is not None else '—'))}</td></tr>"
                for k, v in rows
                if v not in ("", None) or k != "Error"
            )
            answers = "".join(
                "<p><b>Q:</b> {q}<br><i>base:</i> {b}<br><i>tuned:</i> {a}</p>".format(
                    q=html.escape(str(a.get("question", ""))),
                    b=html.escape(str(a.get("base", ""))[:600]),
                    a=html.escape(str(a.get("adapter", ""))[:600]),
                )
                for a in rec.answers[:10]
            )
            parts.append(f"<h3>{title}</h3><table>{table}</table>{answers}")
        self.results.setHtml("".join(parts) or "<p>Select a run.</p>")

    # --- actions ----------------------------------------------------------------------------

    def _resume(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.resumeRequested.emit(ids[0])

    def _open(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.openRequested.emit(ids[0])


def _pair(a: Any, b: Any) -> str:
    if a is None and b is None:
        return "—"
    return f"{_fmt(a)} → {_fmt(b)}"

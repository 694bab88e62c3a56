"""Step 1, the data: pairs written from a collection by the chat model, or imported from a
file; a table to read, edit and delete them; and the preparation report.

Generation runs `python -m trainer generate` as a child process, so the chat model the window
uses is not disturbed and Cancel simply ends that process. The report runs the trainer's own
preparation steps in the app's worker, off the GUI thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app import icons
from app.layouts import nested
from app.text import human_duration, plural
from app.wizard.context import WizardContext
from app.wizard.dataset import (
    Pair,
    PairsModel,
    Report,
    check_pairs,
    load_pairs,
    salvage_jsonl,
    save_pairs,
)
from app.wizard.process import TrainingProcess
from app.wizard.widgets import Step, bold, card, muted, page_layout
from app.worker import WORK, TaskError
from engine.errors import HearthError
from trainer.events import Prepare

if TYPE_CHECKING:
    from PySide6.QtCore import QEvent, QObject


DATA_FILTER = "Datasets (*.jsonl *.json *.csv *.tsv);;All files (*)"

# Speeds measured on a 2-core machine with a 637 MiB model (DESIGN.md); they scale with the
# model's size, since reading the weights is what bounds a CPU.
_REF_BYTES = 637 * 2**20
_PROMPT_TOKENS_PER_S = 104.0
_DECODE_TOKENS_PER_S = 40.0
_PROMPT_TOKENS_PER_PASSAGE = 380
_ANSWER_TOKENS_PER_PAIR = 90


def generation_seconds(passages: int, model_bytes: int, pairs_per_passage: int) -> float:
    """A rough time for writing pairs from `passages` passages on a processor."""
    scale = max(model_bytes, 1) / _REF_BYTES
    per = _PROMPT_TOKENS_PER_PASSAGE / (
        _PROMPT_TOKENS_PER_S / scale
    ) + _ANSWER_TOKENS_PER_PAIR * pairs_per_passage / (_DECODE_TOKENS_PER_S / scale)
    return passages * per


class DataStep(Step):
    label = "Data"

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.generator: TrainingProcess | None = None
        self.last_generation: TrainingProcess | None = None
        self.report: Report | None = None
        self._checking = False
        self._recheck = False
        self._gen_started = 0.0
        self._gen_total = 0
        self._gen_out: Path | None = None
        self._build()

    # --- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        lay = page_layout(
            self,
            "Your training data",
            "The model learns from pairs of a question and the answer you want. Let the "
            "chat model write pairs from one of your collections, or import a file you "
            "made; then read them, fix or delete what is wrong.",
        )
        frame, box = card(self)
        self.from_collection = QRadioButton("Write pairs from a collection", frame)
        self.from_file = QRadioButton("Import a file (.jsonl, .json or .csv)", frame)
        group = QButtonGroup(self)
        group.addButton(self.from_collection)
        group.addButton(self.from_file)
        self.from_collection.setChecked(True)
        box.addWidget(self.from_collection)

        self.gen_panel = QWidget(frame)
        gen = QVBoxLayout(self.gen_panel)
        gen.setContentsMargins(24, 0, 0, 4)
        row = nested(gen, QGridLayout())
        row.setHorizontalSpacing(8)
        self.collection = QComboBox(self.gen_panel)
        self.collection.setMinimumWidth(220)
        self.writer = QComboBox(self.gen_panel)
        self.writer.setMinimumWidth(200)
        self.writer.setToolTip("The chat model that reads each passage and writes the pairs")
        self.passages = QSpinBox(self.gen_panel)
        self.passages.setRange(1, 100_000)
        self.passages.setValue(50)
        self.passages.setToolTip("Use at most this many passages of the collection")
        self.per_passage = QSpinBox(self.gen_panel)
        self.per_passage.setRange(1, 10)
        self.per_passage.setValue(2)
        row.addWidget(QLabel("Collection", self.gen_panel), 0, 0)
        row.addWidget(self.collection, 0, 1)
        row.addWidget(QLabel("Written by", self.gen_panel), 0, 3)
        row.addWidget(self.writer, 0, 4)
        row.addWidget(QLabel("Passages, at most", self.gen_panel), 1, 0)
        row.addWidget(self.passages, 1, 1)
        row.addWidget(QLabel("Pairs per passage", self.gen_panel), 1, 3)
        row.addWidget(self.per_passage, 1, 4)
        row.setColumnMinimumWidth(2, 16)
        row.setColumnStretch(5, 1)
        run_row = nested(gen, QHBoxLayout())
        self.generate_button = QPushButton("Write pairs", self.gen_panel)
        self.generate_button.setProperty("primary", True)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel", self.gen_panel)
        self.cancel_button.clicked.connect(self.cancel_generation)
        self.cancel_button.hide()
        self.estimate = muted("", self.gen_panel)
        run_row.addWidget(self.generate_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.estimate, 1)
        self.gen_bar = QProgressBar(self.gen_panel)
        self.gen_bar.setTextVisible(False)
        self.gen_bar.hide()
        gen.addWidget(self.gen_bar)
        box.addWidget(self.gen_panel)

        box.addWidget(self.from_file)
        self.file_panel = QWidget(frame)
        frow = QHBoxLayout(self.file_panel)
        frow.setContentsMargins(24, 0, 0, 0)
        self.choose_button = QPushButton(icons.icon("file"), "Choose a file…", self.file_panel)
        self.choose_button.clicked.connect(self.choose_file)
        self.file_label = muted(
            "Columns instruction/response (or question/answer), or chat "
            "messages; optional source, file and page.",
            self.file_panel,
        )
        frow.addWidget(self.choose_button)
        frow.addWidget(self.file_label, 1)
        box.addWidget(self.file_panel)
        self.source_message = QLabel(frame)
        self.source_message.setObjectName("Error")
        self.source_message.setWordWrap(True)
        self.source_message.hide()
        box.addWidget(self.source_message)
        lay.addWidget(frame)

        tools = nested(lay, QHBoxLayout())
        self.count = bold("No pairs yet", self)
        tools.addWidget(self.count, 1)
        self.add_button = QPushButton(icons.icon("plus"), "Add a pair", self)
        self.add_button.clicked.connect(self.add_pair)
        self.delete_button = QPushButton(icons.icon("trash"), "Delete", self)
        self.delete_button.setToolTip("Delete the selected pairs (Del)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.check_button = QPushButton(icons.icon("refresh"), "Check again", self)
        self.check_button.clicked.connect(self.check)
        for b in (self.add_button, self.delete_button, self.check_button):
            tools.addWidget(b)

        self.model = PairsModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.installEventFilter(self)
        lay.addWidget(self.table, 1)
        self.model.userChanged.connect(self._user_edited)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(700)
        self._check_timer.timeout.connect(self.check)

        report, rbox = card(self)
        self.report_title = bold("Preparation report", report)
        self.report_text = muted(
            "Once there are pairs, the trainer's preparation steps check them here.", report
        )
        rbox.addWidget(self.report_title)
        rbox.addWidget(self.report_text)
        lay.addWidget(report)

        self.from_collection.toggled.connect(self._mode)
        self.collection.currentIndexChanged.connect(self._update_estimate)
        self.writer.currentIndexChanged.connect(self._update_estimate)
        self.passages.valueChanged.connect(self._update_estimate)
        self.per_passage.valueChanged.connect(self._update_estimate)
        self._mode()
        self._update_buttons()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        from PySide6.QtGui import QKeyEvent

        if (
            obj is self.table
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Delete
            and self.table.state() != QAbstractItemView.State.EditingState
        ):
            self.delete_selected()
            return True
        return super().eventFilter(obj, event)

    # --- state ------------------------------------------------------------------------------

    def enter(self) -> None:
        self._fill_sources()

    def _fill_sources(self) -> None:
        current = self.collection.currentText()
        self.collection.blockSignals(True)
        self.collection.clear()
        try:
            infos = self.ctx.hearth.list_collections()
        except HearthError:
            infos = []
        for info in infos:
            self.collection.addItem(f"{info.name} ({plural(info.chunks, 'passage')})", info)
        names = [i.name for i in infos]
        if current and current.split(" (")[0] in names:
            self.collection.setCurrentIndex(names.index(current.split(" (")[0]))
        self.collection.blockSignals(False)
        chosen = self.writer.currentText()
        self.writer.blockSignals(True)
        self.writer.clear()
        for m in self.ctx.hearth.list_models():
            self.writer.addItem(m.name, m)
        default = chosen or self.ctx.hearth.settings.chat_model or ""
        if self.writer.findText(default) >= 0:
            self.writer.setCurrentIndex(self.writer.findText(default))
        self.writer.blockSignals(False)
        self._update_estimate()
        self._update_buttons()

    def _mode(self) -> None:
        on = self.from_collection.isChecked()
        self.gen_panel.setEnabled(on)
        self.file_panel.setEnabled(not on)

    def is_ready(self) -> bool:
        return (
            self.model.rowCount() > 0
            and not self._check_timer.isActive()
            and self.report is not None
            and self.report.kept > 0
            and not self._checking
            and not self.busy()
        )

    def busy(self) -> bool:
        return self.generator is not None and self.generator.running

    def leave(self) -> bool:
        pairs = self.model.pairs()
        if self.ctx.dataset is None or self.model.edited:
            stem = self.ctx.collection or "dataset"
            self.ctx.dataset = save_pairs(pairs, self.ctx.new_file(stem, ".jsonl"))
            self.model.edited = False
        self.ctx.pairs = len(pairs)
        self.ctx.kept = self.report.kept if self.report else len(pairs)
        chars = sum(len(m["content"]) for p in pairs for m in p.messages)
        # About 3.6 characters per token in English, plus the template's few tokens per turn.
        turns = sum(len(p.messages) for p in pairs)
        self.ctx.tokens_per_example = (chars / 3.6 + 6 * turns) / max(1, len(pairs))
        self.ctx.touch()
        return True

    def _user_edited(self) -> None:
        """A pair was edited, added or deleted: save a new copy, and check again shortly."""
        self.ctx.dataset = None
        self.report_title.setText("Preparation report (checking the changed pairs…)")
        self._check_timer.start()
        self._edited()

    def _edited(self) -> None:
        n = self.model.rowCount()
        self.count.setText(plural(n, "pair") if n else "No pairs yet")
        self._update_buttons()

    def _update_buttons(self) -> None:
        generating = self.busy()
        has = self.model.rowCount() > 0
        self.generate_button.setEnabled(
            not generating and self.collection.count() > 0 and self.writer.count() > 0
        )
        self.generate_button.setVisible(not generating)
        self.cancel_button.setVisible(generating)
        self.choose_button.setEnabled(not generating)
        self.delete_button.setEnabled(has and not generating)
        self.add_button.setEnabled(not generating)
        self.check_button.setEnabled(has and not generating and not self._checking)
        if self.collection.count() == 0:
            self.estimate.setText(
                "There is no collection yet: add documents first, or import a file."
            )
        elif self.writer.count() == 0:
            self.estimate.setText("Writing pairs needs a chat model: add one under Models.")
        self.readyChanged.emit()

    def _update_estimate(self) -> None:
        info = self.collection.currentData()
        model = self.writer.currentData()
        if info is None or model is None or self.busy():
            self._update_buttons()
            return
        n = min(self.passages.value(), info.chunks)
        seconds = generation_seconds(n, model.size_bytes, self.per_passage.value())
        self.estimate.setText(
            f"About {human_duration(seconds)} for {plural(n, 'passage')} with {model.name} on "
            "a processor (a rough figure; much less with a GPU). The time left shows as it runs."
        )
        self._update_buttons()

    # --- generating -------------------------------------------------------------------------

    def generate(self) -> None:
        info = self.collection.currentData()
        model = self.writer.currentData()
        if info is None or model is None:
            return
        self.source_message.hide()
        self.ctx.collection = info.name
        self._gen_out = self.ctx.new_file(f"{info.name}-generated", ".jsonl")
        self._gen_total = max(1, min(self.passages.value(), info.chunks))
        args = [
            "generate",
            "--collection",
            info.name,
            "--model",
            model.name,
            "--out",
            str(self._gen_out),
            "--pairs-per-chunk",
            str(self.per_passage.value()),
            "--limit",
            str(self._gen_total),
            "--json",
        ]
        proc = TrainingProcess(args, home=self.ctx.home, parent=self)
        proc.prepared.connect(self._generated_some)
        proc.failed.connect(self._show_problem)
        proc.finished.connect(self._generation_finished)
        self.generator = proc
        self._gen_started = time.monotonic()
        self.gen_bar.setRange(0, self._gen_total)
        self.gen_bar.setValue(0)
        self.gen_bar.show()
        self.estimate.setText(f"Loading {model.name}…")
        proc.start()
        self._update_buttons()

    def cancel_generation(self) -> None:
        if self.generator is not None:
            self.estimate.setText("Stopping after the current passage…")
            self.generator.cancel()

    def _generated_some(self, event: Prepare) -> None:
        counts = event.counts
        done = int(counts.get("chunks", 0))
        self.gen_bar.setValue(min(done, self._gen_total))
        if event.stage == "generated":
            self.estimate.setText(event.message)
            return
        elapsed = time.monotonic() - self._gen_started
        left = elapsed / max(1, done) * max(0, self._gen_total - done)
        self.estimate.setText(
            f"{plural(int(counts.get('pairs', 0)), 'pair')} from {done} of "
            f"{plural(self._gen_total, 'passage')} · about {human_duration(left)} left"
        )

    def _generation_finished(self, outcome: str) -> None:
        proc, self.generator = self.generator, None
        self.last_generation = proc
        self.gen_bar.hide()
        out = self._gen_out
        summary = next(
            (e.message for e in reversed(proc.events if proc else []) if isinstance(e, Prepare)),
            "",
        )
        if out is not None and outcome in ("done", "cancelled"):
            written = salvage_jsonl(out)
            if written:
                self._load(out)
                self.ctx.dataset = out if not self.model.edited else None
                prefix = "Cancelled. " if outcome == "cancelled" else ""
                self.estimate.setText(prefix + (summary or f"Wrote {plural(written, 'pair')}."))
            else:
                self.estimate.setText(summary or "Stopped before any pair was written.")
                if outcome == "done":
                    self._show_problem(
                        "The model wrote no usable question/answer pairs. A larger or "
                        "instruction-tuned chat model writes better ones; or import a file."
                    )
        self._update_buttons()

    # --- importing and editing --------------------------------------------------------------

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a dataset", str(Path.home()), DATA_FILTER
        )
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> bool:
        """Read a dataset file into the table; False (and a message) if it cannot be used."""
        self.from_file.setChecked(True)
        self.ctx.collection = None
        if self._load(path):
            self.file_label.setText(str(path))
            self.ctx.dataset = None  # saved as the wizard's own copy, with any edits
            return True
        return False

    def _load(self, path: Path) -> bool:
        try:
            pairs = load_pairs(path)
        except HearthError as exc:
            self._show_problem(str(exc))
            return False
        self.source_message.hide()
        self.model.set_pairs(pairs)
        self.report = None
        self._edited()
        self.check()
        return True

    def _show_problem(self, text: str) -> None:
        self.source_message.setText(text)
        self.source_message.show()

    def add_pair(self) -> None:
        row = self.model.add_pair()
        index = self.model.index(row, 0)
        self.table.scrollTo(index)
        self.table.setCurrentIndex(index)
        self.table.edit(index)

    def delete_selected(self) -> None:
        rows = [i.row() for i in self.table.selectionModel().selectedRows()]
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex().row()]
        self.model.remove_rows(rows)

    # --- the report -------------------------------------------------------------------------

    def check(self) -> None:
        """Run the preparation steps on the pairs as they are now (in the worker)."""
        self._check_timer.stop()
        if self._checking:
            self._recheck = True
            return
        snapshot = [Pair([dict(m) for m in p.messages], p.source) for p in self.model.pairs()]
        if not snapshot:
            return
        self._checking = True
        self.report_title.setText("Preparation report")
        self.report_text.setText("Checking the pairs…")
        self._update_buttons()
        self.ctx.runner.start(
            lambda cancel: check_pairs(snapshot),
            lane=WORK,
            name="check training pairs",
            on_result=self._show_report,
            on_error=self._report_failed,
            on_finished=self._check_finished,
        )

    def _show_report(self, report: Report) -> None:
        self.report = report
        self.model.apply_report(report)
        self.report_title.setText("Preparation report")
        self.report_text.setText(
            report.html() + "Tokenizing with the model's own template and holding out pairs "
            "for evaluation follow when training starts; the Train step reports them."
        )
        if report.kept == 0:
            self._show_problem("Every pair is dropped by the checks above: nothing to train on.")

    def _report_failed(self, err: TaskError) -> None:
        self.report = None
        self.report_text.setText(f"The pairs could not be checked: {err}")

    def _check_finished(self) -> None:
        self._checking = False
        if self._recheck:
            self._recheck = False
            self.check()
        self._update_buttons()

    def shutdown(self) -> None:
        if self.generator is not None:
            self.generator.stop_now()

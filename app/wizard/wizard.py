"""The fine-tuning wizard's window: its steps in a list on the left, one step at a time on
the right, Back and Next below; past runs one click away.

The window is not modal, so Hearth stays usable while a model trains. Closing it (or the main
window) while training asks first; quitting the app ends any trainer process it started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.wizard.compare_page import CompareStep, UseStep
from app.wizard.context import WizardContext
from app.wizard.data_page import DataStep
from app.wizard.model_page import ModelStep
from app.wizard.process import hook_quit
from app.wizard.runs_view import RunsView
from app.wizard.settings_page import SettingsStep
from app.wizard.train_page import TrainStep
from app.wizard.widgets import Step
from app.worker import Runner
from engine.facade import Hearth

if TYPE_CHECKING:
    from app.chatmodels import ModelManager


class FineTuneWizard(QDialog):
    """Fine-tune the chat model on your data, step by step."""

    def __init__(
        self,
        hearth: Hearth,
        runner: Runner,
        *,
        models: ModelManager | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        hook_quit()
        self.setWindowTitle("Fine-tune a model — Hearth")
        self.setWindowFlags(
            Qt.WindowType.Window
            | Qt.WindowType.WindowTitleHint
            | Qt.WindowType.WindowMinMaxButtonsHint
            | Qt.WindowType.WindowCloseButtonHint
        )
        self.setModal(False)
        self.resize(1120, 780)
        self.setMinimumSize(900, 620)
        self.ctx = WizardContext(hearth, runner, models=models, parent=self)
        self.data = DataStep(self.ctx)
        self.model = ModelStep(self.ctx)
        self.settings = SettingsStep(self.ctx, self.model)
        self.train = TrainStep(self.ctx)
        self.compare = CompareStep(self.ctx)
        self.use = UseStep(self.ctx)
        self.runs = RunsView(self.ctx)
        self.steps: list[Step] = [
            self.data,
            self.model,
            self.settings,
            self.train,
            self.compare,
            self.use,
        ]
        self._build()
        for step in (*self.steps, self.runs):
            step.readyChanged.connect(self._update_nav)
        self.train.runFinished.connect(lambda _: self._update_nav())
        self.runs.resumeRequested.connect(self.resume_run)
        self.runs.openRequested.connect(self.open_run)
        self._watched = parent.window() if parent is not None else None
        if self._watched is not None:
            self._watched.installEventFilter(self)
        self.data.enter()
        self._update_nav()
        self.model.start_probe()  # torch answers in a child process while the data is chosen

    # --- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        side = QWidget(self)
        side.setObjectName("Sidebar")
        side.setFixedWidth(210)
        slay = QVBoxLayout(side)
        slay.setContentsMargins(12, 18, 12, 12)
        title = QLabel("Fine-tune", side)
        title.setObjectName("Title")
        slay.addWidget(title)
        note = QLabel("Teach the model your documents' language and answers.", side)
        note.setObjectName("Muted")
        note.setWordWrap(True)
        slay.addWidget(note)
        slay.addSpacing(10)
        self.nav = QListWidget(side)
        self.nav.setSpacing(1)
        c = theme.colors()
        side.setStyleSheet(
            f"QListWidget::item {{ padding: 7px 8px; border-radius: 6px; color: {c.text}; }}"
            f"QListWidget::item:selected {{ background: {c.accent_soft}; color: {c.text}; }}"
            f"QListWidget::item:disabled {{ color: {c.muted}; }}"
            f"QPushButton:checked {{ background: {c.accent_soft}; border-color: {c.accent}; }}"
        )
        for i, step in enumerate(self.steps):
            QListWidgetItem(f"{i + 1}   {step.label}", self.nav)
        self.nav.currentRowChanged.connect(self._nav_clicked)
        slay.addWidget(self.nav, 1)
        self.runs_button = QPushButton(icons.icon("sources"), "Past runs", side)
        self.runs_button.setCheckable(True)
        self.runs_button.clicked.connect(self.show_runs)
        slay.addWidget(self.runs_button)
        outer.addWidget(side)

        main = QWidget(self)
        mlay = QVBoxLayout(main)
        mlay.setContentsMargins(24, 18, 24, 14)
        mlay.setSpacing(10)
        self.stack = QStackedWidget(main)
        for step in (*self.steps, self.runs):
            self.stack.addWidget(step)
        mlay.addWidget(self.stack, 1)
        buttons = nested(mlay, QHBoxLayout())
        self.hint = QLabel(main)
        self.hint.setObjectName("Muted")
        buttons.addWidget(self.hint, 1)
        self.back_button = QPushButton(icons.icon("left"), "Back", main)
        self.back_button.clicked.connect(self.back)
        self.next_button = QPushButton("Next", main)
        self.next_button.setProperty("primary", True)
        self.next_button.clicked.connect(self.next)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        outer.addWidget(main, 1)
        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.activated.connect(self.next)

    # --- navigation -------------------------------------------------------------------------

    @property
    def current(self) -> Step:
        return self.stack.currentWidget()  # type: ignore[return-value]

    def index(self) -> int:
        step = self.current
        return self.steps.index(step) if step in self.steps else -1

    def reachable(self, i: int) -> bool:
        """Whether step `i` may be opened now."""
        if i < 0 or i >= len(self.steps):
            return False
        if self.steps[i] in (self.compare, self.use):
            return self.ctx.tuned is not None and not self.train.busy()
        if self.steps[i] is self.train and self.train.process is not None:
            return True
        return all(self.steps[j].is_ready() for j in range(i))

    def go(self, i: int) -> bool:
        """Open step `i` (leaving the current one forward commits it); False if not allowed."""
        here = self.index()
        if i == here:
            return True
        if here >= 0 and i > here and not self.current.leave():
            return False
        if not self.reachable(i):
            self._update_nav()
            return False
        self.runs_button.setChecked(False)
        step = self.steps[i]
        self.stack.setCurrentWidget(step)
        step.enter()
        self._update_nav()
        return True

    def next(self) -> bool:
        if self.index() == len(self.steps) - 1:
            return self.close()
        return self.go(self.index() + 1)

    def back(self) -> None:
        if self.index() < 0:  # from the runs list, back to the step before it
            self.go(self._last_step)
        elif self.index() > 0:
            self.go(self.index() - 1)

    def show_runs(self) -> None:
        self._last_step = max(0, self.index())
        self.runs_button.setChecked(True)
        self.stack.setCurrentWidget(self.runs)
        self.runs.enter()
        self._update_nav()

    _last_step = 0

    def _nav_clicked(self, row: int) -> None:
        if row != self.index() and row >= 0 and not self.go(row):
            self._update_nav()

    def _update_nav(self) -> None:
        here = self.index()
        self.nav.blockSignals(True)
        for i in range(self.nav.count()):
            item = self.nav.item(i)
            flags = Qt.ItemFlag.ItemIsSelectable
            if self.reachable(i) or i == here:
                flags |= Qt.ItemFlag.ItemIsEnabled
            item.setFlags(flags)
        self.nav.setCurrentRow(here)
        self.nav.blockSignals(False)
        on_runs = here < 0
        self.back_button.setEnabled(on_runs or here > 0)
        last = here == len(self.steps) - 1
        self.next_button.setVisible(not on_runs)
        self.next_button.setText("Finish" if last else "Next")
        self.next_button.setEnabled(last or self.reachable(here + 1) or self.current.is_ready())
        if self.train.busy():
            self.hint.setText("Training runs in the background; you may keep using Hearth.")
        else:
            self.hint.setText("")

    # --- past runs --------------------------------------------------------------------------

    def resume_run(self, run_id: str) -> None:
        """Continue a cancelled or interrupted run, shown on the Train step."""
        self.stack.setCurrentWidget(self.train)
        self.runs_button.setChecked(False)
        self.train.resume(run_id)
        self._update_nav()

    def open_run(self, run_id: str) -> None:
        """Show a finished run in Compare (and make its model the one Use offers)."""
        record = next((r for r in self.runs.runs if r.run_id == run_id), None)
        if record is None or not record.model_name:
            return
        self.ctx.run_id, self.ctx.run_dir, self.ctx.tuned = run_id, record.path, record.model_name
        self.stack.setCurrentWidget(self.compare)
        self.runs_button.setChecked(False)
        self.compare.load_run(run_id)
        self._update_nav()

    # --- closing ----------------------------------------------------------------------------

    def busy(self) -> bool:
        return any(step.busy() for step in self.steps)

    def confirm(self, question: str, detail: str, action: str) -> bool:
        """Ask before stopping work (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Hearth", question, parent=self)
        box.setInformativeText(detail)
        ok = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is ok

    def may_close(self) -> bool:
        """True when nothing runs, or the user agrees to stop it."""
        if not self.busy():
            return True
        what = "Training is running" if self.train.busy() else "Pairs are being written"
        return self.confirm(
            f"{what}. Stop it?",
            "What is done so far is kept: a cancelled training run can be resumed later "
            "from Past runs.",
            "Stop and close",
        )

    def shutdown(self) -> None:
        """Stop every process the wizard started (blocking until they are gone)."""
        for step in self.steps:
            step.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.may_close():
            event.ignore()
            return
        self.shutdown()
        if self._watched is not None:
            self._watched.removeEventFilter(self)
            self._watched = None
        # Accepted as a plain window closes; QDialog's own handler would call reject() again.
        event.accept()

    def reject(self) -> None:
        self.close()  # Esc closes through closeEvent, which asks while training

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self._watched and event.type() == QEvent.Type.Close and self.busy():
            if not self.may_close():
                event.ignore()
                return True  # the main window stays open, training goes on
            self.shutdown()
        return super().eventFilter(obj, event)


def open_wizard(
    parent: QWidget | None,
    hearth: Hearth,
    runner: Runner,
    models: ModelManager | None = None,
) -> FineTuneWizard:
    """Show the fine-tuning wizard (the one already open for `parent`, if any)."""
    wizard = parent.findChild(FineTuneWizard) if parent is not None else None
    if wizard is None or not wizard.isVisible():
        if wizard is not None:
            wizard.deleteLater()
        wizard = FineTuneWizard(hearth, runner, models=models, parent=parent)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()
    wizard.raise_()
    wizard.activateWindow()
    return wizard

"""Step 4, training: the trainer runs as its own process; its events draw the loss curves live
and fill in tokens per second, time left and memory. Cancel ends the process (the trainer saves
the last completed step first); Resume starts it again from there.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import icons
from app.layouts import nested
from app.text import human_duration
from app.wizard.context import WizardContext
from app.wizard.process import TrainingProcess
from app.wizard.widgets import LossPlot, Step, bold, card, muted, page_layout
from engine.errors import HearthError
from trainer import events as ev


class Figure(QWidget):
    """A big number with a caption under it."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.value = QLabel("—", self)
        self.value.setStyleSheet("font-size: 15pt; font-weight: 600;")
        self.caption = muted(caption, self, wrap=False)
        lay.addWidget(self.value)
        lay.addWidget(self.caption)

    def set(self, text: str) -> None:
        self.value.setText(text)


class TrainStep(Step):
    label = "Train"

    runFinished = Signal(str)
    """"done", "cancelled" or "failed", when a training process has ended."""

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.process: TrainingProcess | None = None
        self.outcome: str | None = None
        self.last_done: ev.Done | None = None
        self.resumable: str | None = None
        """The id of a cancelled (or failed, interrupted) run that Resume continues."""
        self._config: Path | None = None
        self._build()

    def _build(self) -> None:
        lay = page_layout(
            self,
            "Train",
            "Training runs in its own process: keep using Hearth meanwhile. Cancel keeps "
            "what was learnt so far, and Resume continues from there.",
        )
        top, tbox = card(self)
        row = nested(tbox, QHBoxLayout())
        self.status = bold("Ready to train.", top)
        row.addWidget(self.status, 1)
        self.start_button = QPushButton("Start training", top)
        self.start_button.setProperty("primary", True)
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton(icons.icon("refresh"), "Resume", top)
        self.resume_button.clicked.connect(self.resume)
        self.resume_button.hide()
        self.cancel_button = QPushButton(icons.icon("stop"), "Cancel", top)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        for b in (self.start_button, self.resume_button, self.cancel_button):
            row.addWidget(b)
        self.bar = QProgressBar(top)
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        tbox.addWidget(self.bar)
        self.detail = muted("", top)
        tbox.addWidget(self.detail)
        figures = nested(tbox, QGridLayout())
        figures.setHorizontalSpacing(28)
        self.loss = Figure("training loss", top)
        self.eval_loss = Figure("evaluation loss", top)
        self.speed = Figure("tokens per second", top)
        self.eta = Figure("time left", top)
        self.memory = Figure("memory", top)
        for i, f in enumerate((self.loss, self.eval_loss, self.speed, self.eta, self.memory)):
            figures.addWidget(f, 0, i)
        figures.setColumnStretch(5, 1)
        self.problem = QLabel(top)
        self.problem.setObjectName("Error")
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.hide()
        tbox.addWidget(self.problem)
        lay.addWidget(top)

        self.plot = LossPlot(self)
        lay.addWidget(self.plot, 3)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("What the trainer reports appears here.")
        self.log.setMinimumHeight(80)
        self.log.setMaximumHeight(130)
        lay.addWidget(self.log, 1)

    # --- state ------------------------------------------------------------------------------

    def enter(self) -> None:
        if self.busy() or self.outcome is not None:
            return
        try:
            config = self.ctx.config()
        except HearthError as exc:
            self.status.setText(f"The settings are not valid: {exc}")
            return
        steps = config.train.max_steps
        plan = f"{steps} steps" if steps else f"{config.train.epochs:g} epochs"
        self.status.setText(
            f"Ready to fine-tune {config.base} on {self.ctx.kept or self.ctx.pairs} pairs "
            f"({plan}, preset “{self.ctx.preset}”)."
        )

    def busy(self) -> bool:
        return self.process is not None and self.process.running

    def is_ready(self) -> bool:
        return self.outcome == "done" and self.ctx.tuned is not None and not self.busy()

    # --- actions ----------------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration and start a new run."""
        if self.busy():
            return
        try:
            self._config = self.ctx.write_config()
        except (HearthError, OSError) as exc:
            self._problem(f"The run could not be set up: {exc}")
            return
        self.plot.clear()
        self.log.clear()
        for f in (self.loss, self.eval_loss, self.speed, self.eta, self.memory):
            f.set("—")
        self.ctx.tuned = None
        self.last_done = None
        self._launch(["run", str(self._config)], "Starting the trainer…")

    def resume(self, run_id: str | None = None) -> None:
        """Continue a cancelled or interrupted run from its last saved step."""
        run = run_id or self.resumable
        if self.busy() or not run:
            return
        from trainer.runs import resolve_run

        try:
            run_dir = resolve_run(self.ctx.hearth.paths, run)
        except HearthError as exc:
            self._problem(str(exc))
            return
        if run_id is not None:  # a run picked in the list of past runs: show its history
            self._show_history(run_dir)
        self._launch(
            ["run", str(run_dir / "config.yaml"), "--resume", run],
            f"Resuming {run}…",
        )

    def _show_history(self, run_dir: Path) -> None:
        from trainer.runs import load_run

        self.plot.clear()
        self.log.clear()
        record = load_run(self.ctx.hearth.paths, str(run_dir))
        for step, loss in record.losses():
            self.plot.add_point("train", step, loss)
        for step, loss in record.eval_losses():
            self.plot.add_point("eval", step, loss)

    def _launch(self, args: list[str], status: str) -> None:
        self.problem.hide()
        self.outcome = None
        self.resumable = None
        proc = TrainingProcess(args, home=self.ctx.home, parent=self)
        proc.started.connect(self._started)
        proc.prepared.connect(self._prepared)
        proc.stepped.connect(self._stepped)
        proc.evaluated.connect(self._evaluated)
        proc.checkpointed.connect(lambda e: self._log(f"Saved a checkpoint at step {e.step}."))
        proc.exported.connect(self._exported)
        proc.done.connect(self._done)
        proc.cancelled.connect(self._cancelled)
        proc.failed.connect(self._problem)
        proc.finished.connect(self._finished)
        self.process = proc
        self.status.setText(status)
        self.bar.setRange(0, 0)  # busy until the first step says how many there are
        proc.start()
        self._buttons()

    def cancel(self) -> None:
        if self.process is not None and self.process.running:
            self.status.setText("Cancelling: saving the last completed step…")
            self.process.cancel()
            self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.stop_now()

    def _buttons(self) -> None:
        running = self.busy()
        self.start_button.setVisible(not running)
        self.start_button.setText("Start again" if self.outcome else "Start training")
        self.start_button.setProperty("primary", self.outcome is None)
        self.start_button.style().polish(self.start_button)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setVisible(not running and self.resumable is not None)
        self.resume_button.setProperty("primary", self.resumable is not None)
        self.resume_button.style().polish(self.resume_button)
        self.readyChanged.emit()

    # --- events -----------------------------------------------------------------------------

    def _log(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _started(self, e: ev.Start) -> None:
        self.ctx.run_id, self.ctx.run_dir = e.run_id, Path(e.run_dir)
        again = f", resuming after step {e.resumed_from}" if e.resumed_from else ""
        self.status.setText(f"Run {e.run_id}: preparing{again}…")
        self._log(
            f"Run {e.run_id} on {e.device} ({e.quantization}, {e.dtype}){again}. "
            f"Folder: {e.run_dir}"
        )

    def _prepared(self, e: ev.Prepare) -> None:
        self._log(e.message)
        if e.stage in ("model", "plan", "memory"):
            self.detail.setText(e.message)

    def _stepped(self, e: ev.Step) -> None:
        self.bar.setRange(0, max(1, e.total_steps))
        self.bar.setValue(e.step)
        self.status.setText(f"Training: step {e.step} of {e.total_steps} (epoch {e.epoch:.2f})")
        self.detail.setText(f"Learning rate {e.learning_rate:.2e}")
        self.plot.add_point("train", e.step, e.loss)
        self.loss.set(f"{e.loss:.3f}")
        self.speed.set(f"{e.tokens_per_s:,.0f}")
        self.eta.set(human_duration(e.eta_s))
        self.memory.set(
            f"{e.memory_mib / 1024:.1f} GiB" if e.memory_mib >= 1024 else f"{e.memory_mib:.0f} MiB"
        )

    def _evaluated(self, e: ev.Eval) -> None:
        self.plot.add_point("eval", e.step, e.eval_loss)
        self.eval_loss.set(f"{e.eval_loss:.3f}")
        self._log(
            f"Evaluation at step {e.step}: loss {e.eval_loss:.4f}, perplexity {e.perplexity:.2f}"
        )

    def _exported(self, e: ev.Export) -> None:
        if e.kind == "registered" and e.name:
            self.ctx.tuned = e.name
            self._log(f"Added to the model list as “{e.name}”.")
            self.ctx.refresh_models()
        elif e.kind == "answers":
            self.status.setText("Answering the held-out questions with both models…")
            self._log(e.message or "Wrote the answers of base and tuned model.")
        else:
            self._log(e.message or f"Wrote the {e.kind} adapter: {e.path}")
        if e.kind == "gguf":
            self.status.setText("Saved the adapter; measuring and comparing…")

    def _done(self, e: ev.Done) -> None:
        self.last_done = e
        if e.model_name:
            self.ctx.tuned = e.model_name
        self.ctx.run_id, self.ctx.run_dir = e.run_id, Path(e.run_dir)
        self.eta.set("0 s")
        losses = ""
        if e.eval_loss is not None and e.base_eval_loss is not None:
            losses = f" Evaluation loss {e.base_eval_loss:.3f} → {e.eval_loss:.3f}."
        self.status.setText(f"Done in {human_duration(e.seconds)}: {e.steps} steps.{losses}")
        self.detail.setText(f"The tuned model is “{e.model_name}”. Compare it with the base next.")

    def _cancelled(self, e: ev.Cancelled) -> None:
        self.resumable = e.run_id
        self.eta.set("—")
        self.speed.set("—")
        self.status.setText(f"Cancelled after step {e.step}. Resume continues from there.")

    def _problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()

    def _finished(self, outcome: str) -> None:
        self.outcome = outcome
        self.bar.setRange(0, max(1, self.bar.maximum()))
        if outcome == "done":
            self.bar.setValue(self.bar.maximum())
        if outcome in ("cancelled", "failed") and self.resumable is None and self.ctx.run_id:
            from trainer.runs import list_runs

            resumable = {
                r.run_id
                for r in list_runs(self.ctx.hearth.paths)
                if r.status in ("cancelled", "interrupted", "failed")
            }
            if self.ctx.run_id in resumable:
                self.resumable = self.ctx.run_id
        if outcome == "cancelled" and self.resumable and "Cancelled" not in self.status.text():
            self.status.setText("Cancelled. Resume continues from the last saved step.")
        if outcome == "failed":
            self.status.setText("Training stopped with an error.")
            tail = "\n".join(list(self.process.stderr_tail)[-15:]) if self.process else ""
            if tail:
                self._log(tail)
        self._buttons()
        self.runFinished.emit(outcome)

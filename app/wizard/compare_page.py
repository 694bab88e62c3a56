"""Steps 5 and 6: compare base and tuned model side by side, then use the tuned model in chat.

The held-out questions were answered by both models at the end of the run (the trainer writes
them to the run's answers.json); a question typed here is answered by both through the
engine, on the app's model worker, the one thread that touches the chat model. "Use" makes the
"base + adapter" entry the chat model; "Switch off" goes back to the plain base model.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QWidget,
)

from app import icons
from app.layouts import nested
from app.wizard.context import WizardContext
from app.wizard.widgets import Step, bold, card, muted, page_layout
from app.worker import MODEL, TaskError
from engine.errors import HearthError


def answer_both(hearth: Any, tuned: str, question: str, *, max_tokens: int) -> tuple[str, str]:
    """The base model's and the tuned model's answer to `question` (greedy, reproducible).

    The base is loaded once; the adapter is switched off for the first answer and on for the
    second, as chat does.
    """
    chat = hearth.load_model(tuned)
    adapter = chat.info.adapter
    messages = [{"role": "user", "content": question}]
    try:
        chat.set_adapter(None)
        base = chat.chat(messages, max_tokens=max_tokens, temperature=0.0)
    finally:
        chat.set_adapter(adapter)
    tuned_answer = chat.chat(messages, max_tokens=max_tokens, temperature=0.0)
    return base, tuned_answer


def _loss_line(metrics: dict[str, Any]) -> str:
    base, tuned = metrics.get("base_eval_loss"), metrics.get("eval_loss")
    if base is None or tuned is None:
        return "There were no held-out pairs to measure the evaluation loss on."
    change = (base - tuned) / base * 100 if base else 0.0
    verdict = "better" if tuned < base else "not better"
    ppl = ""
    if metrics.get("base_perplexity") and metrics.get("perplexity"):
        ppl = f", perplexity {metrics['base_perplexity']:.2f} → {metrics['perplexity']:.2f}"
    return (
        f"On the held-out pairs, evaluation loss went from {base:.3f} (base) to {tuned:.3f} "
        f"(tuned): {abs(change):.1f}% {'lower' if tuned < base else 'higher'}, {verdict}{ppl}. "
        "Lower means the model finds your answers more likely."
    )


class CompareStep(Step):
    label = "Compare"

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.answers: list[dict[str, Any]] = []
        self._asking = False
        self._build()

    def _build(self) -> None:
        lay = page_layout(
            self,
            "Compare",
            "The same questions answered by the base model and by the tuned one. The "
            "held-out questions were never trained on.",
        )
        res, rbox = card(self)
        self.result_title = bold("", res)
        self.result = muted("", res)
        rbox.addWidget(self.result_title)
        rbox.addWidget(self.result)
        lay.addWidget(res)

        row = nested(lay, QHBoxLayout())
        row.addWidget(QLabel("Held-out question", self))
        self.questions = QComboBox(self)
        self.questions.setMinimumWidth(380)
        self.questions.currentIndexChanged.connect(self._show_answer)
        row.addWidget(self.questions, 1)
        ask = nested(lay, QHBoxLayout())
        ask.addWidget(QLabel("Your question", self))
        self.question = QLineEdit(self)
        self.question.setPlaceholderText("Type a question to ask both models…")
        self.question.returnPressed.connect(self.ask)
        self.ask_button = QPushButton(icons.icon("send"), "Ask both", self)
        self.ask_button.clicked.connect(self.ask)
        ask.addWidget(self.question, 1)
        ask.addWidget(self.ask_button)

        self.shown_question = bold("", self)
        self.reference = muted("", self)
        lay.addWidget(self.shown_question)
        lay.addWidget(self.reference)
        sides = nested(lay, QHBoxLayout(), 1)
        sides.setSpacing(12)
        self.base_view = self._side(sides, "Base model")
        self.tuned_view = self._side(sides, "Tuned model")
        self.problem = QLabel(self)
        self.problem.setObjectName("Error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        lay.addWidget(self.problem)

    def _side(self, row: QHBoxLayout, title: str) -> QTextBrowser:
        frame, box = card(self)
        label = bold(title, frame)
        view = QTextBrowser(frame)
        view.setObjectName("MessageBody")
        box.addWidget(label)
        box.addWidget(view, 1)
        row.addWidget(frame, 1)
        view.title_label = label  # type: ignore[attr-defined]
        return view

    # --- state ------------------------------------------------------------------------------

    def enter(self) -> None:
        self.load_run(self.ctx.run_id)

    def load_run(self, run_id: str | None) -> None:
        """Show the figures and side-by-side answers recorded for `run_id`."""
        self.answers = []
        self.questions.blockSignals(True)
        self.questions.clear()
        if run_id is None:
            self.result_title.setText("No finished run yet.")
            self.result.setText("")
        else:
            from trainer.runs import load_run

            try:
                record = load_run(self.ctx.hearth.paths, run_id)
            except HearthError as exc:
                self.result_title.setText(str(exc))
                record = None
            if record is not None:
                m = record.metrics
                name = record.info.model_name or self.ctx.tuned or "the tuned model"
                self.base_view.title_label.setText(f"Base model · {record.info.base}")  # type: ignore[attr-defined]
                self.tuned_view.title_label.setText(f"Tuned model · {name}")  # type: ignore[attr-defined]
                self.result_title.setText(f"Run {record.info.run_id}: {record.info.status}")
                self.result.setText(_loss_line(m))
                self.answers = list(record.answers)
                for a in self.answers:
                    self.questions.addItem(" ".join(str(a.get("question", "")).split())[:160])
                if not self.answers:
                    self.questions.addItem("(the run answered no held-out questions)")
        self.questions.blockSignals(False)
        self._show_answer()

    def _show_answer(self) -> None:
        i = self.questions.currentIndex()
        if not (0 <= i < len(self.answers)):
            self.shown_question.setText("")
            self.reference.setText("")
            self.base_view.clear()
            self.tuned_view.clear()
            return
        a = self.answers[i]
        self._show(str(a.get("question", "")), a.get("reference"), a.get("base"), a.get("adapter"))

    def _show(self, question: str, reference: Any, base: Any, tuned: Any) -> None:
        self.shown_question.setText(question)
        self.reference.setText(f"Expected answer: {reference}" if reference else "")
        self.base_view.setPlainText(str(base or ""))
        self.tuned_view.setPlainText(str(tuned or ""))

    def ask(self) -> None:
        """Ask both models the typed question (on the app's model worker)."""
        question = self.question.text().strip()
        tuned = self.ctx.tuned
        if not question or tuned is None or self._asking:
            return
        self._asking = True
        self.problem.hide()
        self.ask_button.setEnabled(False)
        self._show(question, None, "Writing…", "Waiting for the base model…")
        limit = int(self.ctx.hearth.settings.max_answer_tokens)
        self.ctx.runner.start(
            lambda cancel: answer_both(self.ctx.hearth, tuned, question, max_tokens=limit),
            lane=MODEL,
            name="compare answers",
            on_result=lambda pair: self._show(question, None, pair[0], pair[1]),
            on_error=self._failed,
            on_finished=self._asked,
        )

    def _failed(self, err: TaskError) -> None:
        self._show(self.shown_question.text(), None, "", "")
        self.problem.setText(f"The models could not answer: {err}")
        self.problem.show()

    def _asked(self) -> None:
        self._asking = False
        self.ask_button.setEnabled(True)

    def busy(self) -> bool:
        return False


class UseStep(Step):
    label = "Use"

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        lay = page_layout(
            self,
            "Use the tuned model",
            "The tuned model is the base model with your adapter switched on. Chat with "
            "it, and switch the adapter off again whenever you like: the base model is "
            "unchanged.",
        )
        frame, box = card(self)
        self.name = bold("", frame)
        self.where = muted("", frame)
        box.addWidget(self.name)
        box.addWidget(self.where)
        row = nested(box, QHBoxLayout())
        self.use_button = QPushButton(icons.icon("chat"), "Chat with the tuned model", frame)
        self.use_button.setProperty("primary", True)
        self.use_button.clicked.connect(self.use)
        self.off_button = QPushButton("Switch the adapter off", frame)
        self.off_button.clicked.connect(self.switch_off)
        row.addWidget(self.use_button)
        row.addWidget(self.off_button)
        row.addStretch(1)
        self.state = muted("", frame)
        box.addWidget(self.state)
        lay.addWidget(frame)
        res, rbox = card(self)
        rbox.addWidget(bold("What the adapter changed", res))
        self.results = muted("", res)
        rbox.addWidget(self.results)
        rbox.addWidget(
            muted(
                "In the chat window the model menu lists both the base model and the tuned "
                "one; past runs and their models stay listed under Past runs.",
                res,
            )
        )
        lay.addWidget(res)
        lay.addStretch(1)
        ctx.chatModelChanged.connect(lambda _: self.enter())

    def _entry(self) -> Any:
        if self.ctx.tuned is None:
            return None
        try:
            return self.ctx.hearth.model_info(self.ctx.tuned)
        except HearthError:
            return None

    def enter(self) -> None:
        info = self._entry()
        if info is None:
            self.name.setText("No tuned model yet: finish a training run first.")
            self.where.setText("")
            self.results.setText("")
            self.use_button.setEnabled(False)
            self.off_button.setEnabled(False)
            return
        self.results.setText(self._results(info))
        self.results.setText(self._results(info))
        self.name.setText(
            f"“{info.name}”: {info.base} with the adapter of run {info.details.get('run_id', '?')}"
        )
        self.where.setText(f"Adapter file: {info.adapter}")
        current = self.ctx.hearth.settings.chat_model
        on = current == info.name
        self.use_button.setEnabled(not on)
        self.off_button.setEnabled(on)
        self.state.setText(
            f"Chat now uses “{current}”." if current else "Chat uses the first installed model."
        )

    def _results(self, info: Any) -> str:
        run_id = info.details.get("run_id")
        if not run_id:
            return ""
        from trainer.runs import load_run

        try:
            return _loss_line(load_run(self.ctx.hearth.paths, str(run_id)).metrics)
        except HearthError:
            return ""

    def use(self) -> None:
        if self.ctx.tuned:
            self.ctx.use_chat_model(self.ctx.tuned)
            self.state.setText(f"Chat now uses “{self.ctx.tuned}”.")
            self.use_button.setEnabled(False)
            self.off_button.setEnabled(True)

    def switch_off(self) -> None:
        info = self._entry()
        if info is not None and info.base:
            self.ctx.use_chat_model(info.base)
            self.state.setText(f"Chat now uses “{info.base}”, without the adapter.")
            self.use_button.setEnabled(True)
            self.off_button.setEnabled(False)

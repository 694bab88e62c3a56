"""Adding a chat model that runs on another machine (llama.cpp's llama-server, vLLM, any
OpenAI-compatible server): the "Add remote…" button of the models dialog and its form."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.chatmodels import ModelManager
from app.layouts import nested
from app.worker import MODEL, TaskError


class RemoteModelDialog(QDialog):
    """Name, server address, model id and the environment variable holding the key."""

    def __init__(self, manager: ModelManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.setWindowTitle("Add a remote chat model")
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Answers are written by a model on another machine, for example a GPU server "
            "running llama.cpp's llama-server or vLLM. Hearth finds the passages here and "
            "sends that server only the question, the passages and earlier turns.",
            self,
        )
        intro.setWordWrap(True)
        intro.setObjectName("Muted")
        lay.addWidget(intro)
        form = nested(lay, QFormLayout())
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("gpu box")
        self.url = QLineEdit(self)
        self.url.setPlaceholderText("http://192.168.1.20:8080/v1")
        self.model = QLineEdit(self)
        self.model.setPlaceholderText("optional: the first model the server lists")
        self.key_env = QLineEdit(self)
        self.key_env.setPlaceholderText("optional: e.g. GPU_BOX_KEY (the variable's name)")
        form.addRow("Name", self.name)
        form.addRow("Server address", self.url)
        form.addRow("Model id", self.model)
        form.addRow("API key variable", self.key_env)
        self.problem = QLabel(self)
        self.problem.setObjectName("Error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        lay.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self._add)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())

    def _add(self) -> None:
        name, url = self.name.text().strip(), self.url.text().strip()
        model = self.model.text().strip() or None
        key_env = self.key_env.text().strip() or None
        if not name or not url:
            self._show_problem("Give the model a name and the server's address.")
            return
        hearth = self.manager.hearth
        self.buttons.setEnabled(False)
        self.manager.runner.start(
            lambda _cancel: hearth.add_remote_model(
                name, url=url, model=model, api_key_env=key_env
            ),
            lane=MODEL,
            name="add remote model",
            on_result=self._added,
            on_error=self._failed,
        )

    def _added(self, _info: object) -> None:
        self.manager.refresh()
        self.accept()

    def _failed(self, err: TaskError) -> None:
        self.buttons.setEnabled(True)
        self._show_problem(str(err))

    def _show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


def add_remote_button(manager: ModelManager, parent: QWidget) -> QPushButton:
    """ "Add remote…": opens `RemoteModelDialog` (for the models dialog's button row)."""
    button = QPushButton("Add remote…", parent)
    button.setToolTip(
        "A chat model served by llama-server, vLLM or another OpenAI-compatible server"
    )
    button.clicked.connect(lambda: RemoteModelDialog(manager, parent).exec())
    return button


def remote_details(m: Any) -> str:
    """The models dialog's description of a remote entry."""
    lines = [
        f"<b>{html.escape(m.name)}</b> — runs on the server at {html.escape(m.url or '')}",
        f"Model id: {html.escape(m.remote_model or 'the first the server lists')}",
    ]
    if m.api_key_env:
        lines.append(f"API key from the environment variable {html.escape(m.api_key_env)}")
    lines.append("Questions, with the passages found here, are sent to that server.")
    return "<br>".join(lines)

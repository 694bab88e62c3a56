"""Serving Hearth's API from the desktop app: a switch in Settings that starts and stops it.

`ServeController` owns the running `ApiServer` for the life of the window (the settings
dialog comes and goes; the server stays). While it serves, every request that uses the chat
model runs in the worker's MODEL lane -- the very thread the app's own chat uses -- so one
thread still owns the llama.cpp model. Starting happens on the server's own thread; the
controller polls its state with a timer and never blocks the GUI thread.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from app.chatmodels import ModelManager
from app.layouts import nested
from app.worker import MODEL, Runner
from engine.facade import Hearth

PORT_SETTING = "serve_port"
"""Key in `Settings.extra` for the port the app serves on."""


class _ModelLane(QObject):
    """Hands jobs from the server's threads to the app's MODEL lane (on the GUI thread)."""

    _job = Signal(object)

    def __init__(self, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        # Emitted from uvicorn's thread; Qt queues it to this object's (the GUI) thread.
        self._job.connect(self._start, Qt.ConnectionType.QueuedConnection)

    def submit(self, job: Callable[[], None]) -> None:
        self._job.emit(job)

    @Slot(object)
    def _start(self, job: Callable[[], None]) -> None:
        self.runner.start(lambda _cancel: job(), lane=MODEL, name="API request")


class ServeController(QObject):
    """Starts and stops the API; says where it listens or why it could not."""

    changed = Signal()

    def __init__(self, hearth: Hearth, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hearth = hearth
        self.lane = _ModelLane(runner, self)
        self.server: Any = None
        self.error: str | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._check)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    @property
    def port(self) -> int:
        from engine.serve.config import DEFAULT_PORT

        value = self.hearth.settings.extra.get(PORT_SETTING, DEFAULT_PORT)
        return int(value) if isinstance(value, int) else DEFAULT_PORT

    @property
    def state(self) -> str:
        """'stopped', 'starting', 'running' or 'failed'."""
        if self.server is None:
            return "failed" if self.error else "stopped"
        return str(self.server.state)

    @property
    def url(self) -> str | None:
        return self.server.url if self.state == "running" else None

    def start(self, port: int | None = None) -> None:
        from engine.serve.config import ServeConfig
        from engine.serve.server import ApiServer

        self.stop()
        self.error = None
        if port is not None and port != self.port:
            self.hearth.settings.extra[PORT_SETTING] = port
            self.hearth.save_settings()
        # Loopback only: the app offers no key, and without a key nothing else is allowed.
        config = ServeConfig(port=self.port)
        self.server = ApiServer(self.hearth, config, submit=self.lane.submit)
        self.server.begin()
        self._poll.start()
        self.changed.emit()

    def stop(self) -> None:
        self._poll.stop()
        if self.server is not None:
            self.server.stop(timeout=5.0)
            self.server = None
            self.changed.emit()

    def _check(self) -> None:
        state = self.server.state if self.server is not None else "stopped"
        if state == "starting":
            return
        self._poll.stop()
        if state != "running" and self.server is not None:
            self.error = self.server.error
            self.server.stop(timeout=1.0)
            self.server = None
        self.changed.emit()


def serve_controller(manager: ModelManager) -> ServeController:
    """The window's one controller (made on first use, kept with the model manager)."""
    found = manager.findChild(ServeController)
    if isinstance(found, ServeController):
        return found
    return ServeController(manager.hearth, manager.runner, manager)


class ServeSwitch(QWidget):
    """ "Serve Hearth's API on this computer": a switch, the port, and the address to use."""

    def __init__(self, controller: ServeController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = nested(lay, QHBoxLayout())
        self.switch = QCheckBox("Serve an OpenAI-compatible API on this computer", self)
        self.port = QSpinBox(self)
        self.port.setRange(1024, 65535)
        self.port.setValue(controller.port)
        self.port.setPrefix("port ")
        row.addWidget(self.switch, 1)
        row.addWidget(self.port)
        self.address = QLabel(self)
        self.address.setObjectName("Muted")
        self.address.setWordWrap(True)
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.address)
        self.switch.toggled.connect(self._toggled)
        controller.changed.connect(self._show)
        self._show()

    def _toggled(self, on: bool) -> None:
        if on and self.controller.state in ("stopped", "failed"):
            self.controller.start(self.port.value())
        elif not on and self.controller.state in ("starting", "running"):
            self.controller.stop()

    def _show(self) -> None:
        state = self.controller.state
        self.switch.blockSignals(True)
        self.switch.setChecked(state in ("starting", "running"))
        self.switch.blockSignals(False)
        self.port.setEnabled(state in ("stopped", "failed"))
        if state == "running":
            url = html.escape(self.controller.url or "")
            self.address.setText(
                f"Serving at <b>{url}</b> — only programs on this computer can reach it. "
                "Give this address to an OpenAI client as its base URL; add "
                '<code>"hearth": {"collection": "…"}</code> to answer from a collection.'
            )
        elif state == "starting":
            self.address.setText("Starting…")
        elif state == "failed":
            self.address.setText(html.escape(self.controller.error or "Could not start."))
        else:
            self.address.setText(
                "Off. When on, other programs on this computer can use Hearth's models and "
                "collections (hearth serve does the same from a terminal)."
            )


def endpoints_html(hearth: Hearth) -> str:
    """For the About box: every server outside this computer Hearth may talk to."""
    endpoints = hearth.remote_endpoints()
    if not endpoints:
        return "<b>Network:</b> none — Hearth talks to no other computer."
    items = "".join(
        f"<li>{html.escape(m.name)}: {html.escape(m.url or '')}</li>" for m in endpoints
    )
    return (
        "<b>Network:</b> questions with these remote models go, with their passages, only to "
        f"these servers; documents and the index stay here:<ul>{items}</ul>"
    )

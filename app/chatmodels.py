"""Installed chat models: listing, adding a GGUF file, removing, choosing the one to chat with.

All of it runs in the worker's MODEL lane, the thread that also loads and runs the model, so a
model is never removed under an answer being written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.models import ChatModelsModel
from app.worker import MODEL, Runner, Task, TaskError
from engine.config import Settings
from engine.facade import Hearth

if TYPE_CHECKING:
    from engine.llm.registry import ModelInfo


log = logging.getLogger(__name__)


class ModelManager(QObject):
    """The installed models as a Qt model, and the user's choice among them."""

    changed = Signal()
    """The list or the chosen model changed."""
    added = Signal(object)
    """A `ModelInfo` just added."""
    gpuChecked = Signal(bool)
    error = Signal(str)
    message = Signal(str)

    def __init__(self, hearth: Hearth, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hearth = hearth
        self.runner = runner
        self.model = ChatModelsModel(self)
        self.loaded = False
        self.gpu_available: bool | None = None

    @property
    def current(self) -> str | None:
        """The model chat uses: the chosen one if installed, else the first one."""
        from engine.llm.registry import choose_chat_model

        chosen = choose_chat_model(self.model.models(), self.hearth.settings.chat_model)
        return chosen.name if chosen is not None else None

    @property
    def has_model(self) -> bool:
        return bool(self.model.rowCount())

    def info(self, name: str | None = None) -> ModelInfo | None:
        name = name or self.current
        return next((m for m in self.model.models() if m.name == name), None)

    def refresh(self) -> Task:
        return self.runner.start(
            lambda cancel: self.hearth.list_models(),
            lane=MODEL,
            name="list models",
            on_result=self._set_models,
            on_error=lambda e: self.error.emit(f"The list of models could not be read: {e}"),
        )

    def _set_models(self, models: list) -> None:
        self.loaded = True
        self.model.set_models(models, None)
        self.model.set_current(self.current)
        self.changed.emit()

    def add(self, path: Path | str) -> Task:
        """Register a GGUF file (it stays where it is) and make it the chat model."""
        target = Path(path)

        def work(cancel: object) -> tuple[ModelInfo, list[ModelInfo]]:
            info = self.hearth.add_model(target)
            return info, self.hearth.list_models()

        def done(result: tuple) -> None:
            info, models = result
            self._choose(info.name)
            self._set_models(models)
            self.message.emit(f"Added the model “{info.name}”. Answers are now written by it.")
            self.added.emit(info)

        def failed(err: TaskError) -> None:
            self.error.emit(f"Could not add {target.name}: {err}")

        self.message.emit(f"Adding {target.name}…")
        return self.runner.start(
            work, lane=MODEL, name="add model", on_result=done, on_error=failed
        )

    def remove(self, name: str) -> Task:
        def work(cancel: object) -> list[ModelInfo]:
            self.hearth.remove_model(name)
            return self.hearth.list_models()

        def done(models: list) -> None:
            if self.hearth.settings.chat_model == name:
                self._choose(None)
            self._set_models(models)
            self.message.emit(f"Removed “{name}” from Hearth. The file itself was not deleted.")

        return self.runner.start(
            work,
            lane=MODEL,
            name="remove model",
            on_result=done,
            on_error=lambda e: self.error.emit(f"Could not remove “{name}”: {e}"),
        )

    def use(self, name: str) -> None:
        """Chat with `name` from the next question on."""
        self._choose(name)
        self.model.set_current(self.current)
        self.changed.emit()
        self.message.emit(f"Answers are now written by “{name}”.")

    def _choose(self, name: str | None) -> None:
        settings = self.hearth.settings
        if settings.chat_model != name:
            self.hearth.save_settings(_with(settings, chat_model=name))

    def check_gpu(self) -> None:
        """Find out (once, off the GUI thread) whether this llama.cpp build can use a GPU."""
        if self.gpu_available is not None:
            self.gpuChecked.emit(self.gpu_available)
            return

        def done(ok: bool) -> None:
            self.gpu_available = bool(ok)
            self.gpuChecked.emit(self.gpu_available)

        self.runner.start(
            lambda cancel: self.hearth.gpu_offload_available(),
            lane=MODEL,
            name="check gpu",
            on_result=done,
            on_error=lambda e: done(False),
        )


def _with(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)  # type: ignore[arg-type]

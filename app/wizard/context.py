"""What the wizard's steps share: the engine, the worker, and the choices made so far.

Each step reads what earlier steps chose (the dataset, the base model, the preset, the
settings) from one `WizardContext` and writes its own choice there; `changed` tells the other
steps to look again. The run configuration is always built by the trainer's own validation
(`trainer.config.build_config`), so the wizard can never start a run the trainer would refuse
for a typo.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.worker import Runner
from engine.facade import Hearth
from trainer.config import RunConfig, build_config, dump_config, merge

if TYPE_CHECKING:
    from app.chatmodels import ModelManager
    from app.wizard.hardware import Hardware


class WizardContext(QObject):
    """The state of one fine-tuning wizard."""

    changed = Signal()
    """The dataset, base model, preset, settings or hardware changed."""
    chatModelChanged = Signal(str)
    """The chat model was switched to this model (the tuned one or back to its base)."""

    def __init__(
        self,
        hearth: Hearth,
        runner: Runner,
        *,
        models: ModelManager | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.hearth = hearth
        self.runner = runner
        self.models = models
        self.dataset: Path | None = None
        self.pairs = 0
        """How many pairs the dataset holds (before preparation drops any)."""
        self.kept = 0
        """How many of them the preparation check keeps."""
        self.tokens_per_example = 0.0
        self.collection: str | None = None
        self.base: str | None = None
        self.preset: str | None = None
        self.hardware: Hardware | None = None
        self.overrides: dict[str, Any] = {}
        """Settings the user changed, on top of the preset."""
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self.tuned: str | None = None
        """The "base + adapter" model the finished run registered."""

    @property
    def home(self) -> Path:
        return self.hearth.paths.home

    @property
    def work_dir(self) -> Path:
        """Where the wizard keeps datasets and configurations it writes."""
        folder = self.home / "training"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def new_file(self, stem: str, suffix: str) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:40] or "dataset"
        return self.work_dir / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{slug}{suffix}"

    def touch(self) -> None:
        self.changed.emit()

    # --- the run configuration --------------------------------------------------------------

    def values(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "base": self.base or "",
            "data": {"path": str(self.dataset or self.work_dir / "dataset.jsonl")},
        }
        if self.preset:
            values["preset"] = self.preset
        return merge(values, self.overrides if overrides is None else overrides)

    def config(self, overrides: dict[str, Any] | None = None) -> RunConfig:
        """The run as the trainer will see it (ConfigError when a setting is out of bounds)."""
        return build_config(self.values(overrides), source="The wizard's settings")

    def preset_config(self) -> RunConfig:
        """The run with the preset's settings alone."""
        return self.config({})

    def write_config(self) -> Path:
        """Save the configuration of the run about to start, every setting spelled out."""
        path = self.new_file(f"run-{self.base or 'model'}", ".yaml")
        path.write_text(dump_config(self.config()), encoding="utf-8")
        return path

    # --- models -----------------------------------------------------------------------------

    def base_models(self) -> list[Any]:
        """Installed plain models (adapter entries cannot be a base)."""
        return [m for m in self.hearth.list_models() if m.adapter is None]

    def default_base(self) -> str | None:
        chosen = self.hearth.chat_model()
        return (chosen.base or chosen.name) if chosen is not None else None

    def use_chat_model(self, name: str) -> None:
        """Make `name` the chat model, through the window's model manager when there is one."""
        if self.models is not None:
            manager = self.models

            def chosen() -> None:
                manager.use(name)
                self.chatModelChanged.emit(name)

            # The list is read again first, so that a model the trainer just registered is in it.
            manager.refresh().finished.connect(chosen)
        else:
            self.hearth.save_settings(replace(self.hearth.settings, chat_model=name))
            self.chatModelChanged.emit(name)

    def refresh_models(self) -> None:
        """Let the window's model list show a model the trainer just registered."""
        if self.models is not None:
            self.models.refresh()

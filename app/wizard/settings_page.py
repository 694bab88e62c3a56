"""Step 3, the settings: the three that matter up front (epochs, learning rate, LoRA rank) and
the rest under "Advanced", each with the one-line explanation the trainer's configuration
gives it. Values start from the preset; what the user changes is kept on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import icons
from app.layouts import nested
from app.wizard.context import WizardContext, merge
from app.wizard.hardware import plan_run
from app.wizard.model_page import ModelStep, describe_plan
from app.wizard.widgets import (
    Collapsible,
    PageHeader,
    SciSpinBox,
    SettingsGrid,
    Step,
    bold,
    card,
    muted,
)
from engine.errors import HearthError
from trainer.config import RunConfig


@dataclass(frozen=True)
class Setting:
    key: str
    """Dotted path in the run configuration, e.g. "train.learning_rate"."""
    label: str
    make: Callable[[], QWidget]
    note: str = ""
    """Overrides the configuration's own description where a plainer line helps."""


def _spin(lo: int, hi: int, step: int = 1, special: str | None = None) -> Callable[[], QWidget]:
    def make() -> QWidget:
        w = QSpinBox()
        w.setRange(lo, hi)
        w.setSingleStep(step)
        if special:
            w.setSpecialValueText(special)
        return w

    return make


def _double(lo: float, hi: float, step: float, decimals: int = 2) -> Callable[[], QWidget]:
    def make() -> QWidget:
        w = QDoubleSpinBox()
        w.setRange(lo, hi)
        w.setSingleStep(step)
        w.setDecimals(decimals)
        return w

    return make


def _combo(*choices: str) -> Callable[[], QWidget]:
    def make() -> QWidget:
        w = QComboBox()
        w.addItems(list(choices))
        return w

    return make


FRONT = (
    Setting(
        "train.epochs",
        "Epochs",
        _double(0.1, 100.0, 0.5, 1),
        "How many times the model reads all your pairs. 2–3 is usual; more can make it parrot.",
    ),
    Setting(
        "train.learning_rate",
        "Learning rate",
        SciSpinBox,
        "How big each learning step is. Too high makes training unstable; too low learns little.",
    ),
    Setting(
        "lora.rank",
        "LoRA rank",
        _spin(1, 512),
        "Size of the adapter: more can learn more, and needs more memory. 8–16 suits most data.",
    ),
)

ADVANCED = (
    Setting(
        "train.max_steps",
        "Steps",
        _spin(0, 10_000_000, 10, "from the epochs"),
        "Optimizer steps to run; set it to stop after a fixed number instead of the epochs.",
    ),
    Setting("train.max_seq_len", "Tokens per example", _spin(16, 1_048_576, 64)),
    Setting("train.batch_size", "Batch size", _spin(1, 1024)),
    Setting("train.grad_accum", "Gradient accumulation", _spin(1, 4096)),
    Setting("lora.alpha", "LoRA alpha", _double(0.5, 4096.0, 1.0, 1)),
    Setting("lora.dropout", "LoRA dropout", _double(0.0, 0.5, 0.01)),
    Setting("train.lr_scheduler", "Schedule", _combo("cosine", "linear", "constant")),
    Setting("train.warmup_ratio", "Warm-up share", _double(0.0, 0.5, 0.01)),
    Setting("train.weight_decay", "Weight decay", _double(0.0, 1.0, 0.01)),
    Setting("train.gradient_checkpointing", "Recompute activations", QCheckBox),
    Setting("train.eval_every", "Evaluate every", _spin(0, 10_000_000, 5, "only at the end")),
    Setting("train.save_every", "Checkpoint every", _spin(0, 10_000_000, 5, "only at the end")),
    Setting("data.eval_fraction", "Held-out share", _double(0.0, 0.5, 0.05)),
    Setting("data.grounding_threshold", "Grounding check", _double(0.0, 1.0, 0.05)),
    Setting("data.dedupe_threshold", "Duplicate threshold", _double(0.5, 1.0, 0.01)),
    Setting("evaluate.answers", "Questions to compare", _spin(0, 1000)),
    Setting("evaluate.max_answer_tokens", "Answer length", _spin(8, 32_768, 16)),
    Setting("train.seed", "Seed", _spin(0, 2**31 - 1)),
    Setting("name", "Name of the tuned model", QLineEdit),
)


def describe(key: str) -> str:
    """The configuration's own one-line description of a setting."""
    model: Any = RunConfig
    parts = key.split(".")
    for part in parts[:-1]:
        model = model.model_fields[part].annotation
    return str(model.model_fields[parts[-1]].description or "")


def get_value(config: RunConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def nest(key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _read(w: QWidget) -> Any:
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QComboBox):
        return w.currentText()
    if isinstance(w, QLineEdit):
        return w.text().strip() or None
    if isinstance(w, QSpinBox):
        return w.value()
    if isinstance(w, QDoubleSpinBox):
        return float(w.value())
    raise TypeError(type(w))


def _write(w: QWidget, value: Any) -> None:
    w.blockSignals(True)
    try:
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, QLineEdit):
            w.setText("" if value is None else str(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value or 0))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(float(value))
    finally:
        w.blockSignals(False)


def _changed_signal(w: QWidget) -> Any:
    if isinstance(w, QCheckBox):
        return w.toggled
    if isinstance(w, QComboBox):
        return w.currentIndexChanged
    if isinstance(w, QLineEdit):
        return w.editingFinished
    return w.valueChanged  # type: ignore[attr-defined]


class SettingsStep(Step):
    label = "Settings"

    def __init__(
        self, ctx: WizardContext, model_step: ModelStep, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model_step = model_step
        self.controls: dict[str, QWidget] = {}
        self.ok = True
        self._build()

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(10)
        self.header = PageHeader(
            "Settings",
            "The preset's values suit most data. The three below are the ones worth a thought; "
            "the rest are there if you know you need them.",
            self,
        )
        top = nested(outer, QHBoxLayout())
        top.addWidget(self.header, 1)
        self.reset_button = QPushButton(icons.icon("refresh"), "Back to the preset", self)
        self.reset_button.setToolTip("Undo every change made here")
        self.reset_button.clicked.connect(self.reset)
        top.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        inner = QWidget(scroll)
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(0, 0, 8, 0)
        lay.setSpacing(10)
        frame, box = card(inner)
        front = SettingsGrid(frame)
        for s in FRONT:
            self._add(front, s)
        box.addWidget(front)
        lay.addWidget(frame)
        self.advanced = Collapsible("Advanced settings", inner)
        adv_lay = QVBoxLayout(self.advanced.body)
        adv_lay.setContentsMargins(0, 4, 0, 0)
        adv_frame, adv_box = card(self.advanced.body)
        grid = SettingsGrid(adv_frame)
        for s in ADVANCED:
            self._add(grid, s)
        adv_box.addWidget(grid)
        adv_lay.addWidget(adv_frame)
        lay.addWidget(self.advanced)
        lay.addStretch(1)
        scroll.setWidget(inner)
        outer.addWidget(scroll, 1)

        est, ebox = card(self)
        ebox.addWidget(bold("What the run needs", est))
        self.estimate = muted("", est)
        self.problem = QLabel(est)
        self.problem.setObjectName("Error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        ebox.addWidget(self.estimate)
        ebox.addWidget(self.problem)
        outer.addWidget(est)

    def _add(self, grid: SettingsGrid, s: Setting) -> None:
        w = s.make()
        if isinstance(w, QLineEdit):
            w.setPlaceholderText("base + run id")
        grid.add(s.label, w, s.note or describe(s.key))
        w.setObjectName(s.key)
        _changed_signal(w).connect(self._changed)
        self.controls[s.key] = w

    # --- state ------------------------------------------------------------------------------

    def enter(self) -> None:
        try:
            config = self.ctx.config()
        except HearthError:
            self.ctx.overrides = {}
            config = self.ctx.config()
        for key, w in self.controls.items():
            value = get_value(config, key)
            _write(w, 0 if key == "train.max_steps" and value is None else value)
        preset = self.ctx.preset or "no preset"
        self.header.intro.setText(
            f"Starting from the “{preset}” preset. The three below are the ones worth a thought; "
            "the rest are there if you know you need them."
        )
        self._evaluate()

    def reset(self) -> None:
        """Drop every change: the preset's values again."""
        self.ctx.overrides = {}
        self.enter()

    def set_value(self, key: str, value: Any) -> None:
        """Set one setting as the user would (tests and scripted use)."""
        w = self.controls[key]
        _write(w, value)
        self._changed()

    def _changed(self) -> None:
        preset = self.ctx.preset_config()
        overrides: dict[str, Any] = {}
        for key, w in self.controls.items():
            value = _read(w)
            if key == "train.max_steps" and value == 0:
                value = None
            if value != get_value(preset, key):
                overrides = merge(overrides, nest(key, value))
        self.ctx.overrides = overrides
        self._evaluate()

    def _mark_changed(self) -> None:
        """Settings that differ from the preset are shown in bold."""
        preset = self.ctx.preset_config()
        config = self.ctx.config()
        for key, w in self.controls.items():
            changed = get_value(config, key) != get_value(preset, key)
            font = w.font()
            font.setBold(changed)
            w.setFont(font)
        self.reset_button.setEnabled(bool(self.ctx.overrides))

    def _evaluate(self) -> None:
        self.problem.hide()
        self.ok = True
        try:
            config = self.ctx.config()
        except HearthError as exc:
            self.ok = False
            self.problem.setText(str(exc))
            self.problem.show()
            self.readyChanged.emit()
            return
        self._mark_changed()
        hw = self.ctx.hardware
        shape = self.model_step.shape()
        if hw is not None and shape is not None:
            plan = plan_run(
                config,
                hw,
                shape,
                examples=max(1, self.ctx.kept or self.ctx.pairs),
                tokens_per_example=self.ctx.tokens_per_example or 128.0,
            )
            memory, timing = describe_plan(plan)
            self.estimate.setText(f"{memory}\n{timing}")
            if plan.refusal:
                self.ok = False
                self.problem.setText("It will not fit. " + plan.refusal)
                self.problem.show()
        self.readyChanged.emit()

    def is_ready(self) -> bool:
        return self.ok

"""Step 2, the model and the preset: the base GGUF model, the machine's training hardware, the
preset chosen for it, and what the run will need in memory and time, or a clear refusal.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QWidget

from app.layouts import nested
from app.text import human_count, human_duration, human_size
from app.wizard.context import WizardContext
from app.wizard.hardware import (
    Hardware,
    HardwareProbe,
    Plan,
    choose_preset,
    plan_run,
    read_model_shape,
)
from app.wizard.widgets import Step, bold, card, muted, page_layout
from engine.errors import HearthError
from trainer.config import load_preset, preset_names
from trainer.memory import GIB, ModelShape


def describe_plan(plan: Plan) -> tuple[str, str]:
    """(memory line, time line) for people."""
    where = "GPU memory" if plan.device == "cuda" else "RAM"
    if plan.estimate is None:
        memory = "—"
    else:
        memory = (
            f"Memory: about {plan.estimate.total / GIB:.1f} GiB of {where} "
            f"({plan.available / GIB:.1f} GiB free now): {plan.estimate.describe()}"
        )
    if plan.seconds is None:
        timing = f"{plan.steps} steps"
    else:
        took = (
            "less than a minute" if plan.seconds < 60 else f"about {human_duration(plan.seconds)}"
        )
        timing = (
            f"Training: {took} for {plan.steps} steps, plus loading the model and comparing "
            "answers at the end (a rough figure; the real time left shows once it runs)"
        )
    return memory, timing


def preset_summary(name: str) -> str:
    """The preset's description and the settings that make it what it is."""
    preset = load_preset(name)
    s = preset.settings
    train, lora = s.get("train", {}), s.get("lora", {})
    parts = [
        {"nf4": "4-bit base (QLoRA)", "none": "full-precision base (LoRA)"}.get(
            str(s.get("quantization")), "QLoRA on a GPU, LoRA on a CPU"
        ),
        f"rank {lora.get('rank', 16)}",
        f"{train.get('max_seq_len', 1024):,} tokens per example",
        f"{train.get('batch_size', 1) * train.get('grad_accum', 8)} examples per step",
    ]
    return f"{preset.description}\n{' · '.join(parts)}"


class ModelStep(Step):
    label = "Model"

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.probe = HardwareProbe(self)
        self.probe.detected.connect(self.set_hardware)
        self.plan: Plan | None = None
        self._shapes: dict[Path, ModelShape] = {}
        self._build()

    def _build(self) -> None:
        lay = page_layout(
            self,
            "Model and preset",
            "Choose the model to fine-tune. Hearth trains a small adapter on top of it "
            "(LoRA) and never changes the model file itself. The preset sizes the run for "
            "this computer.",
        )
        frame, box = card(self)
        grid = nested(box, QGridLayout())
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        self.base = QComboBox(frame)
        self.base.setMinimumWidth(260)
        self.base.currentIndexChanged.connect(self._base_changed)
        self.base_info = muted("", frame)
        grid.addWidget(QLabel("Base model", frame), 0, 0)
        grid.addWidget(self.base, 0, 1, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.base_info, 1, 1)
        self.hardware = muted("Looking at this computer's hardware…", frame)
        grid.addWidget(QLabel("This computer", frame), 2, 0)
        grid.addWidget(self.hardware, 2, 1)
        self.preset = QComboBox(frame)
        self.preset.setMinimumWidth(260)
        for name in preset_names():
            self.preset.addItem(name, name)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self.preset_info = muted("", frame)
        grid.addWidget(QLabel("Preset", frame), 3, 0)
        grid.addWidget(self.preset, 3, 1, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.preset_info, 4, 1)
        lay.addWidget(frame)

        est, ebox = card(self)
        ebox.addWidget(bold("What the run needs", est))
        self.memory = muted("", est)
        self.time = muted("", est)
        ebox.addWidget(self.memory)
        ebox.addWidget(self.time)
        self.refusal = QLabel(est)
        self.refusal.setObjectName("Error")
        self.refusal.setWordWrap(True)
        self.refusal.hide()
        ebox.addWidget(self.refusal)
        lay.addWidget(est)
        lay.addStretch(1)

    # --- state ------------------------------------------------------------------------------

    def start_probe(self) -> None:
        if self.probe.result is None and not self.probe.running:
            self.probe.start()

    def enter(self) -> None:
        self.start_probe()
        current = self.base.currentText() or self.ctx.base or self.ctx.default_base()
        self.base.blockSignals(True)
        self.base.clear()
        for m in self.ctx.base_models():
            self.base.addItem(m.name, m)
        if current and self.base.findText(current) >= 0:
            self.base.setCurrentIndex(self.base.findText(current))
        self.base.blockSignals(False)
        if self.base.count() == 0:
            self.base_info.setText("No model is installed: add a GGUF model under Models first.")
        self._base_changed()

    def is_ready(self) -> bool:
        return self.plan is not None and self.plan.fits and self.ctx.base is not None

    def _base_changed(self) -> None:
        info = self.base.currentData()
        self.ctx.base = info.name if info is not None else None
        if info is not None:
            params = f"{human_count(info.parameters)} parameters · " if info.parameters else ""
            self.base_info.setText(
                f"{params}{info.quantization or '?'} · {human_size(info.size_bytes)} · "
                f"{info.architecture} · {info.path}"
            )
        self.update_plan()

    def set_hardware(self, hw: Hardware) -> None:
        """Show the hardware found, recommend its preset and estimate again."""
        self.ctx.hardware = hw
        text = hw.describe()
        if hw.error and hw.torch_version is None:
            text += (
                f"\nTraining needs PyTorch and Hearth's training packages, which could not be "
                f"loaded ({hw.error}). Install them with: pip install 'hearth[train]'"
            )
        self.hardware.setText(text)
        recommended = choose_preset(hw)
        for i in range(self.preset.count()):
            name = self.preset.itemData(i)
            self.preset.setItemText(
                i, f"{name} (for this computer)" if name == recommended else name
            )
        if self.ctx.preset is None:
            self.preset.setCurrentIndex(self.preset.findData(recommended))
        self._preset_changed()

    def _preset_changed(self) -> None:
        name = self.preset.currentData()
        if name != self.ctx.preset:
            self.ctx.preset = name
            self.ctx.overrides = {}  # a new preset: its settings, not the old ones
        if name:
            self.preset_info.setText(preset_summary(name))
        self.update_plan()

    def shape(self) -> ModelShape | None:
        info = self.base.currentData()
        if info is None:
            return None
        path = Path(info.path)
        if path not in self._shapes:
            self._shapes[path] = read_model_shape(path)
        return self._shapes[path]

    def update_plan(self) -> Plan | None:
        """Estimate again with the current choices; shows the refusal when it cannot run."""
        self.plan = None
        hw = self.ctx.hardware
        self.refusal.hide()
        if hw is None:
            self.memory.setText("Waiting for the hardware check…")
            self.time.setText("")
        elif self.ctx.base is None:
            self.memory.setText("Choose a base model.")
            self.time.setText("")
        else:
            try:
                shape = self.shape()
                assert shape is not None
                self.plan = plan_run(
                    self.ctx.config(),
                    hw,
                    shape,
                    examples=max(1, self.ctx.kept or self.ctx.pairs),
                    tokens_per_example=self.ctx.tokens_per_example or 128.0,
                )
            except (HearthError, ValueError, OSError) as exc:
                self.memory.setText("")
                self.time.setText("")
                self.refusal.setText(f"This model cannot be trained: {exc}")
                self.refusal.show()
            else:
                memory, timing = describe_plan(self.plan)
                self.memory.setText(memory)
                self.time.setText(timing)
                if hw.error and hw.torch_version is None:
                    self.plan = Plan(
                        self.plan.device,
                        self.plan.estimate,
                        self.plan.available,
                        self.plan.steps,
                        self.plan.seconds,
                        "Training is not possible until PyTorch and Hearth's training packages "
                        "are installed (pip install 'hearth[train]').",
                    )
                if self.plan.refusal:
                    self.refusal.setText("It will not fit. " + self.plan.refusal)
                    self.refusal.show()
        self.ctx.touch()
        self.readyChanged.emit()
        return self.plan

    def shutdown(self) -> None:
        self.probe.stop()

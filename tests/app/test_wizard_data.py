"""The wizard's data step writing pairs from a collection in a child process (estimate,
progress, cancel), and the model step refusing a run that will not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_testkit import wait_idle
from PySide6.QtCore import Qt

from app.wizard import open_wizard
from app.wizard.hardware import Hardware
from trainer.events import Prepare
from trainer.memory import GIB

pytestmark = pytest.mark.slow

PARAGRAPHS = [
    "The pump moves water from the tank to the heater. Check the pump every month and clean "
    "its filter when the flow drops. A noisy pump often means air in the pipes.",
    "The valve setting decides how much water reaches the boiler. Turn the valve slowly and "
    "never past the red mark, or the boiler may overheat and switch itself off.",
    "The battery keeps the clock and the settings when the power is off. Replace the battery "
    "every two years with the same model, and write down your settings before you do.",
]


def test_write_pairs_from_a_collection(
    open_window, qtbot, tiny_gguf: Path, tmp_path: Path, shot
) -> None:
    notes = tmp_path / "boiler-notes.md"
    notes.write_text(
        "".join(f"# Part {i}\n\n{p}\n\n" for i, p in enumerate(PARAGRAPHS, 1)), "utf-8"
    )
    window = open_window()
    window.library.ingest([notes], collection="Boiler")
    window.models.add(tiny_gguf)
    wait_idle(qtbot, window)
    wizard = open_wizard(window, window.hearth, window.runner, window.models)
    data = wizard.data
    assert data.collection.count() == 1 and data.collection.currentText().startswith("Boiler")
    assert data.writer.currentText() == "tiny-chat"
    data.passages.setValue(3)
    assert data.estimate.text().startswith("About ")

    # Cancel: the generating process ends, nothing is kept, and it can start again.
    qtbot.mouseClick(data.generate_button, Qt.MouseButton.LeftButton)
    assert data.busy() and data.cancel_button.isVisible() and data.gen_bar.isVisible()
    shot(wizard, "wizard-1-data-generating")
    qtbot.mouseClick(data.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not data.busy(), timeout=120_000)
    assert data.last_generation is not None and data.last_generation.outcome == "cancelled"
    assert data.generate_button.isVisible() and data.generate_button.isEnabled()

    # Write: the child process reports each passage; the tiny random model writes no usable
    # JSON, so every passage is counted as skipped and the step says what to do.
    qtbot.mouseClick(data.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not data.busy(), timeout=180_000)
    proc = data.last_generation
    assert proc is not None and proc.outcome == "done", "\n".join(proc.stderr_tail)
    assert proc.args[:3] == ["generate", "--collection", "Boiler"]
    progress = [e for e in proc.events if isinstance(e, Prepare) and e.stage == "generate"]
    final = [e for e in proc.events if isinstance(e, Prepare) and e.stage == "generated"]
    assert len(final) == 1 and final[0].counts["chunks"] >= 1
    assert len(progress) == final[0].counts["chunks"]
    assert final[0].counts.get("pairs", 0) + final[0].counts["skipped"] >= 1
    assert data.estimate.text() == final[0].message
    if not final[0].counts.get("pairs"):
        assert data.source_message.isVisible() and "no usable" in data.source_message.text()
        assert not data.is_ready()
    shot(wizard, "wizard-1-data-generated")
    wizard.close()


def test_model_step_refuses_a_run_that_does_not_fit(
    open_window, qtbot, tiny_gguf: Path, tmp_path: Path, shot
) -> None:
    from wizard_testkit import write_dataset

    window = open_window(dark=True)  # and the wizard in the dark theme
    window.models.add(tiny_gguf)
    wait_idle(qtbot, window)
    wizard = open_wizard(window, window.hearth, window.runner, window.models)
    assert wizard.data.import_file(write_dataset(tmp_path / "qa.jsonl"))
    qtbot.waitUntil(lambda: wizard.data.is_ready(), timeout=60_000)
    assert wizard.next()
    qtbot.waitUntil(lambda: wizard.ctx.hardware is not None, timeout=180_000)
    step = wizard.model
    real = wizard.ctx.hardware

    # A machine with little free memory (the numbers stand in for a smaller computer).
    step.set_hardware(Hardware(cuda=False, ram_total=GIB, ram_available=GIB // 4, cpu_count=2))
    step.preset.setCurrentIndex(step.preset.findData("cpu"))
    assert "1 GiB RAM (0.2 GiB free)" in step.hardware.text()
    assert not step.is_ready() and not wizard.next_button.isEnabled()
    assert step.refusal.isVisible()
    assert "It will not fit" in step.refusal.text() and "GiB" in step.refusal.text()
    shot(wizard, "wizard-2-model-refused-dark")

    # A GPU preset on a machine without a CUDA GPU is refused with the way out.
    assert real is not None
    if not real.cuda:
        step.set_hardware(real)
        step.preset.setCurrentIndex(step.preset.findData("gpu-24gb"))
        assert not step.is_ready()
        assert "Choose the CPU preset" in step.refusal.text()
    step.set_hardware(real)
    step.preset.setCurrentIndex(step.preset.findData("cpu"))
    assert step.is_ready() and wizard.next_button.isEnabled()
    assert not wizard.go(4)  # Compare opens only after a finished run
    wizard.close()

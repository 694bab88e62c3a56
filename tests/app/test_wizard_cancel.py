"""Cancel during training ends the trainer process and marks the run cancelled; Resume
continues it from the saved step to the end. Closing while training asks first."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from app_testkit import wait_idle
from PySide6.QtCore import Qt
from wizard_testkit import QUICK, TRAIN_WAIT_MS, walk_to_train, write_dataset

from app.wizard import open_wizard
from trainer import events as ev
from trainer.runs import list_runs

pytestmark = pytest.mark.slow

STEPS = 250


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_then_resume(open_window, qtbot, tiny_gguf: Path, tmp_path: Path, shot) -> None:
    window = open_window()
    window.models.add(tiny_gguf)
    wait_idle(qtbot, window)
    wizard = open_wizard(window, window.hearth, window.runner, window.models)
    settings = {**QUICK, "train.max_steps": STEPS, "train.eval_every": 0, "evaluate.answers": 0}
    walk_to_train(qtbot, wizard, write_dataset(tmp_path / "qa.jsonl"), settings)
    train = wizard.train
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(train.plot.points("train")) >= 3, timeout=TRAIN_WAIT_MS)
    proc = train.process
    assert proc is not None and proc.running
    pid = proc.pid

    # Closing the wizard, or the main window, while training asks first; "keep" keeps both.
    asked: list[str] = []

    def keep_training(question: str, detail: str, action: str) -> bool:
        asked.append(question)
        return False

    wizard.confirm = keep_training  # type: ignore[method-assign]
    wizard.close()
    assert wizard.isVisible() and proc.running
    window.close()
    assert window.isVisible() and proc.running
    assert asked == ["Training is running. Stop it?"] * 2
    assert "background" in wizard.hint.text()

    # Cancel: the process ends, the run is recorded as cancelled at a saved step.
    qtbot.mouseClick(train.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.outcome is not None, timeout=120_000)
    assert train.outcome == "cancelled", "\n".join(proc.stderr_tail)
    assert gone(pid)
    cancelled = [e for e in proc.events if isinstance(e, ev.Cancelled)]
    assert len(cancelled) == 1 and cancelled[0].checkpoint is not None
    stopped = cancelled[0].step
    assert 3 <= stopped < STEPS
    [run] = list_runs(window.hearth.paths)
    assert run.status == "cancelled" and run.steps == stopped
    assert train.resume_button.isVisible() and not train.cancel_button.isVisible()
    assert "Cancelled after step" in train.status.text()
    assert not wizard.reachable(4)  # nothing to compare yet
    shot(wizard, "wizard-4-train-cancelled")

    # The list of past runs offers to resume it.
    wizard.show_runs()
    assert wizard.runs.selected_ids() == [run.run_id]
    assert wizard.runs.resume_button.isEnabled()
    shot(wizard, "wizard-8-runs-cancelled")
    wizard.go(3)

    # Resume continues after the saved step and finishes the run.
    qtbot.mouseClick(train.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.outcome is not None, timeout=TRAIN_WAIT_MS)
    again = train.process
    assert again is not None and again is not proc
    assert train.outcome == "done", train.problem.text() or "\n".join(again.stderr_tail)
    start = next(e for e in again.events if isinstance(e, ev.Start))
    assert start.run_id == run.run_id and start.resumed_from == stopped
    steps = [e.step for e in again.events if isinstance(e, ev.Step)]
    assert steps[0] == stopped + 1 and steps[-1] == STEPS
    [run] = list_runs(window.hearth.paths)
    assert run.status == "done" and run.steps == STEPS and run.model_name == wizard.ctx.tuned
    assert wizard.reachable(4)

    # A second, shorter run with a smaller adapter; Past runs compares the two.
    assert wizard.go(2)
    wizard.settings.set_value("train.max_steps", 4)
    wizard.settings.set_value("lora.rank", 2)
    assert wizard.settings.controls["lora.rank"].font().bold()  # changed from the preset
    assert wizard.next()
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.outcome is not None, timeout=TRAIN_WAIT_MS)
    assert train.outcome == "done", train.problem.text()
    wizard.show_runs()
    runs = wizard.runs
    assert runs.table.rowCount() == 2
    both = [r.run_id for r in list_runs(window.hearth.paths)]
    runs.select(both)
    assert sorted(runs.selected_ids()) == sorted(both)
    keys = [runs.settings.verticalHeaderItem(r).text() for r in range(runs.settings.rowCount())]
    assert runs.settings.columnCount() == 2
    for key in ("lora.rank", "train.max_steps"):
        cell = runs.settings.item(keys.index(key), 0)
        assert cell is not None and cell.font().bold()
    cell = runs.settings.item(keys.index("train.batch_size"), 0)
    assert cell is not None and not cell.font().bold()
    curves = [k for k in runs.plot._curves if k.endswith(":train")]
    assert len(curves) == 2
    shot(wizard, "wizard-8-runs-compare")
    runs.tabs.setCurrentIndex(1)
    shot(wizard, "wizard-8-runs-compare-settings")
    wizard.close()
    assert not wizard.isVisible()

"""The fine-tuning wizard end to end on the tiny GGUF model: data, preset, settings, a real
training process with a live plot, the comparison, and chat answering with the tuned model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from app_testkit import wait_idle
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from wizard_testkit import QUICK, TRAIN_WAIT_MS, apply_settings, write_dataset

from app.wizard import FineTuneWizard, open_wizard
from app.wizard.hardware import choose_preset
from trainer.runs import list_runs

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # The trainer child inherits this: tiny matrices gain nothing from threads on a busy machine.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_walk_the_wizard_end_to_end(
    open_window, qtbot, tiny_gguf: Path, tmp_path: Path, shot
) -> None:
    window = open_window()
    notes = tmp_path / "pump-notes.txt"
    notes.write_text(
        "The pump code is 42. The valve setting is 7. Clean the filter every month.\n",
        encoding="utf-8",
    )
    window.library.ingest([notes], collection="Notes")
    window.models.add(tiny_gguf)
    wait_idle(qtbot, window)
    base = window.models.current
    assert base == "tiny-chat"

    wizard = open_wizard(window, window.hearth, window.runner, window.models)
    assert isinstance(wizard, FineTuneWizard) and wizard.isVisible()
    assert open_wizard(window, window.hearth, window.runner, window.models) is wizard
    wizard.resize(1120, 780)

    # 1. Data: import a file; the report drops the repeat and the empty answer.
    assert not wizard.next_button.isEnabled()
    assert wizard.data.import_file(write_dataset(tmp_path / "qa.jsonl"))
    qtbot.waitUntil(lambda: wizard.data.is_ready(), timeout=60_000)
    report = wizard.data.report
    assert report is not None and report.total == 34 and report.kept == 32
    dropped = {s.stage: s.dropped for s in report.steps}
    assert dropped["empty"] == 1 and dropped["duplicates"] == 1
    assert "32 of 34 pairs are kept" in wizard.data.report_text.text()
    table = wizard.data.model
    assert table.data(table.index(33, 3)).startswith("dropped")
    QApplication.processEvents()
    wizard.data.table.scrollTo(table.index(33, 0))
    shot(wizard, "wizard-1-data-report")
    # Edit a question in the table, then delete the two dropped rows; check again.
    edited = table.index(0, 0)
    assert table.setData(edited, "what is the pump setting today")
    assert table.pair(0).question == "what is the pump setting today"
    wizard.data.table.selectRow(32)
    wizard.data.table.selectionModel().select(
        table.index(33, 0),
        wizard.data.table.selectionModel().SelectionFlag.Select
        | wizard.data.table.selectionModel().SelectionFlag.Rows,
    )
    wizard.data.delete_selected()
    assert table.rowCount() == 32
    assert not wizard.data.is_ready() or wizard.data.report is not None
    wizard.data.check()
    qtbot.waitUntil(
        lambda: wizard.data.report is not None and wizard.data.report.kept == 32, timeout=60_000
    )
    shot(wizard, "wizard-1-data")
    assert wizard.next()
    dataset = wizard.ctx.dataset
    assert dataset is not None and dataset.is_file()
    assert "pump setting today" in dataset.read_text("utf-8")

    # 2. Model and preset: the hardware is found in a child process; the preset fits it.
    assert wizard.current is wizard.model
    qtbot.waitUntil(lambda: wizard.ctx.hardware is not None, timeout=180_000)
    hw = wizard.ctx.hardware
    assert hw is not None
    assert wizard.model.preset.currentData() == choose_preset(hw)
    wizard.model.preset.setCurrentIndex(wizard.model.preset.findData("cpu"))
    assert wizard.model.base.currentText() == base
    qtbot.waitUntil(lambda: wizard.model.is_ready(), timeout=10_000)
    plan = wizard.model.plan
    assert plan is not None and plan.fits and plan.estimate is not None
    assert "GiB" in wizard.model.memory.text() and "steps" in wizard.model.time.text()
    shot(wizard, "wizard-2-model")
    assert wizard.next()

    # 3. Settings: the three up front, the rest under Advanced, each explained.
    assert wizard.current is wizard.settings
    assert wizard.settings.controls["lora.rank"].value() == 8  # type: ignore[attr-defined]  # the CPU preset's rank
    apply_settings(wizard, QUICK)
    wizard.settings.set_value("lora.rank", 4)
    assert wizard.ctx.overrides["lora"]["rank"] == 4
    assert wizard.ctx.config().train.max_steps == QUICK["train.max_steps"]
    assert wizard.settings.is_ready()
    shot(wizard, "wizard-3-settings")
    assert wizard.next()

    # 4. Train: a separate process; the plot receives points; the model list gets the result.
    train = wizard.train
    assert wizard.current is train
    shot(wizard, "wizard-4-train-ready")
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.process is not None and train.process.pid > 0, timeout=30_000)
    assert train.process is not None and train.process.pid != os.getpid()
    assert train.process.args[0] == "run"
    qtbot.waitUntil(lambda: train.outcome is not None, timeout=TRAIN_WAIT_MS)
    assert train.outcome == "done", train.problem.text() or "\n".join(train.process.stderr_tail)
    points = train.plot.points("train")
    assert [int(x) for x, _ in points] == list(range(1, QUICK["train.max_steps"] + 1))
    assert len(train.plot.points("eval")) >= 2
    assert train.speed.value.text() != "—" and train.memory.value.text() != "—"
    tuned = wizard.ctx.tuned
    assert tuned is not None and tuned.startswith(f"{base}+")
    shot(wizard, "wizard-4-train-done")
    wait_idle(qtbot, window)
    assert tuned in window.models.model.names()
    [run] = list_runs(window.hearth.paths)
    assert run.status == "done" and run.model_name == tuned and run.steps == 6

    # 5. Compare: the held-out answers of both models, and a question typed here.
    assert wizard.next()
    compare = wizard.compare
    assert len(compare.answers) == 2
    assert compare.questions.count() == 2
    assert compare.shown_question.text() == compare.answers[0]["question"]
    assert "evaluation loss went from" in compare.result.text()
    compare.question.setText("what is the pump code")
    qtbot.mouseClick(compare.ask_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: compare.ask_button.isEnabled(), timeout=120_000)
    assert not compare.problem.isVisible(), compare.problem.text()
    assert compare.shown_question.text() == "what is the pump code"
    assert compare.base_view.toPlainText() != "Writing…"
    assert compare.tuned_view.toPlainText() not in ("", "Waiting for the base model…")
    shot(wizard, "wizard-5-compare")

    # 6. Use: one click makes the tuned model the chat model, and chat answers with it.
    assert wizard.next()
    use = wizard.use
    qtbot.mouseClick(use.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.models.current == tuned, timeout=60_000)
    assert window.hearth.settings.chat_model == tuned
    assert window.chat.model_button.text() == tuned
    assert use.off_button.isEnabled()
    shot(wizard, "wizard-6-use")
    window.library.set_current("Notes")
    assert window.ask("what is the pump code")
    qtbot.waitUntil(lambda: not window.session.busy, timeout=120_000)
    answer = window.session.messages.item(1)
    assert answer.state == "done" and answer.model == tuned
    loaded = window.hearth._runtime.loaded  # the one model chat keeps loaded
    assert loaded is not None and loaded.adapter is not None
    assert loaded.adapter.name == f"{run.run_id}.gguf"
    shot(window, "wizard-7-chat-with-tuned-model")

    # Switching the adapter off goes back to the base model.
    qtbot.mouseClick(use.off_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.models.current == base, timeout=60_000)
    assert window.hearth.settings.chat_model == base

    # Past runs: listed with settings, curves and results.
    wizard.show_runs()
    runs = wizard.runs
    assert runs.table.rowCount() == 1 and runs.selected_ids() == [run.run_id]
    cell = runs.table.item(0, 1)
    assert cell is not None and cell.text() == "done"
    assert runs.open_button.isEnabled() and not runs.resume_button.isEnabled()
    assert "tiny-chat" in runs.results.toPlainText()
    shot(wizard, "wizard-8-runs")
    runs.tabs.setCurrentIndex(1)
    shot(wizard, "wizard-8-runs-settings")
    wizard.close()

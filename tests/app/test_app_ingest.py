"""Dropping a folder of good and bad files: the good ones are indexed, the bad ones listed."""

from __future__ import annotations

from pathlib import Path

from app_testkit import LoopWatch, drop, wait_idle
from PySide6.QtCore import QItemSelectionModel
from support.documents import make_mixed_folder

from app.models import ItemRole


def test_drop_a_mixed_folder(
    open_window, qtbot, tmp_path: Path, shot, artifacts_dir: Path, monkeypatch
) -> None:
    mixed = make_mixed_folder(tmp_path / "docs")
    window = open_window()
    lib = window.library

    drop(window, [mixed.root], leave_overlay=True)
    assert window.overlay.isVisible()
    shot(window, "02-drag-over")

    watch = LoopWatch().start()
    drop(window, [mixed.root])
    assert not window.overlay.isVisible()
    qtbot.waitUntil(lambda: lib.ingest_model.rowCount() >= 4, timeout=240_000)
    assert lib.ingest_model.run.running
    assert window.ingest_panel.isVisible()
    shot(window, "03-indexing")
    wait_idle(qtbot, window)
    watch.stop()
    # How long the GUI thread was ever blocked is recorded for people to read (no timing
    # assertions in tests: the machines are shared).
    watch.report(artifacts_dir, "event-loop-during-ingest")

    # Every good file is indexed; every bad file that is a real file is listed with a reason.
    docs = {d.path: d for d in lib.documents.documents()}
    for path in mixed.good:
        assert docs[path.absolute()].status == "indexed", path.name
    failures = dict(lib.ingest_model.failures())
    bad_files = [p for p in mixed.bad if p.is_file() or p.is_symlink()]
    for path in bad_files:
        if not path.is_symlink() and not path.is_file():
            continue
        reason = failures.get(path.absolute())
        if reason is None and path.is_symlink():
            continue  # a dangling link inside a folder is passed over, like any non-file
        assert reason, f"{path.name} was not listed as failed"
        assert docs[path.absolute()].status == "failed"
        assert docs[path.absolute()].error
    assert len(failures) >= 5
    summary = lib.ingest_model.run.summary
    assert summary is not None and summary.indexed == len(mixed.good)
    assert window.ingest_panel.table.isVisible()  # failures are shown without asking
    assert "could not be read" in window.ingest_panel.title.text()
    assert window.stack.currentWidget() is window.collection_page
    assert lib.current == "My documents"
    info = lib.info()
    assert info.documents == len(mixed.good) and info.failed == len(failures)
    shot(window, "04-indexed-with-failures")

    # The documents tab: name, type, pages, state and the problem of each file.
    window.tabs.setCurrentWidget(window.documents)
    view = window.documents
    assert view.table.model().rowCount() == len(docs)
    shot(window, "05-documents")

    # The dropped folder was linked: let the watcher's first check of it end before removing
    # a document, so that check cannot race the removal.
    qtbot.waitUntil(lambda: "watching" in " ".join(window.folders.rows()), timeout=240_000)

    # Remove one document (after confirming), then re-sync: nothing else changes.
    target = next(p for p in mixed.good if p.suffix == ".md").absolute()
    row = next(r for r, d in enumerate(lib.documents.documents()) if d.path == target)
    view.table.selectionModel().select(
        lib.documents.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert view.remove_button.isEnabled()
    monkeypatch.setattr(window, "confirm", lambda *a: True)
    view.remove_button.click()
    wait_idle(qtbot, window)
    paths = [
        lib.documents.data(lib.documents.index(r, 0), ItemRole).path
        for r in range(lib.documents.rowCount())
    ]
    assert target not in paths
    assert target.exists()  # the file itself is never touched

    view.resync_button.click()
    wait_idle(qtbot, window)
    resync = lib.ingest_model.run.summary
    assert resync is not None and resync.indexed == 0 and resync.skipped == len(mixed.good) - 1


def test_cancel_keeps_what_was_indexed(open_window, qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    # Enough text for several embedding batches: cancel is honoured between batches.
    for i in range(20):
        (folder / f"note-{i:02d}.txt").write_text(
            f"Note {i}. " + " ".join(f"The pump number {i} runs at level {j}." for j in range(300)),
            encoding="utf-8",
        )
    window = open_window()
    lib = window.library
    lib.ingest([folder], collection="Notes")
    qtbot.waitUntil(lambda: lib.ingest_model.run.files_done >= 1, timeout=240_000)
    window.ingest_panel.cancel_button.click()
    wait_idle(qtbot, window)
    summary = lib.ingest_model.run.summary
    assert summary is not None and summary.cancelled
    assert not lib.ingest_model.run.running
    assert "Stopped" in window.ingest_panel.title.text()
    # Whatever was written is consistent: the collection opens and lists it.
    assert lib.info("Notes").documents == summary.indexed

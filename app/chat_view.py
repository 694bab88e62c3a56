"""The chat: messages as rendered Markdown with citation links, and the box to type in.

`ChatView` shows a `MessagesModel`; it re-renders a streaming answer a few times a second
rather than on every token, so a fast model cannot flood the GUI thread. Citations [n] become
`cite:n` links (see `app.text.link_citations`); a click is reported as `citationClicked`.

A finished answer's sentences carry the verdict of the check against the passages
(engine/chat/verify.py): a sentence no passage backs is underlined with a wave, one only partly
backed with dots, each with a tooltip saying why; a backed sentence is a quiet link (`check:i`,
reported as `checkClicked`) that opens its passage with the backing span highlighted. A notice
above the answer says when much of it is not in the documents.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QHelpEvent,
    QKeyEvent,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.models import ChatMessage, MessagesModel
from app.text import link_citations, plural, source_label
from engine.events import CheckedSentence, Hit

if TYPE_CHECKING:
    from PySide6.QtGui import QResizeEvent


MAX_COLUMN = 860
RENDER_MS = 60


class MessageBody(QTextBrowser):
    """Read-only rich text that is exactly as tall as its content (the chat scrolls, not it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBody")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.setFixedHeight(24)

    def _fit(self, *_: object) -> None:
        m = self.contentsMargins()
        height = math.ceil(self.document().size().height()) + m.top() + m.bottom()
        if height != self.height():
            self.setFixedHeight(max(height, 18))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        event.ignore()  # let the chat scroll

    def event(self, event: QEvent) -> bool:
        # QTextBrowser does not show the tooltips of text fragments by itself.
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self.tooltip_at(event.pos())
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def tooltip_at(self, pos) -> str:  # type: ignore[no-untyped-def]
        cursor = self.cursorForPosition(pos)
        return cursor.charFormat().toolTip()


def _fragments(doc: QTextDocument, start: int, end: int) -> list[tuple[int, int, bool]]:
    """(start, end, is a link) for the runs of text between `start` and `end`."""
    out: list[tuple[int, int, bool]] = []
    block = doc.findBlock(start)
    while block.isValid() and block.position() < end:
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            a = max(start, frag.position())
            b = min(end, frag.position() + frag.length())
            if a < b:
                out.append((a, b, frag.charFormat().isAnchor()))
            it += 1
        block = block.next()
    return out


def check_tooltip(check: CheckedSentence, sources: Sequence[Hit]) -> str:
    """What hovering a checked sentence says: the verdict's reason, and where a click leads."""
    tip = check.reason
    n = check.passage
    if n is not None and 1 <= n <= len(sources):
        tip += f" Click to open {source_label(sources[n - 1])}."
    return tip


def mark_checks(
    doc: QTextDocument, checks: Sequence[CheckedSentence], sources: Sequence[Hit]
) -> int:
    """Mark the checked sentences in a rendered answer; returns how many were found in it.

    Sentences are found by their words in order, so Markdown that rendering removed (emphasis,
    list markers) does not matter. Existing links (citations) are left as they are.
    """
    from engine.chat.verify import NOT_FOUND, PARTLY

    c = theme.colors()
    plain = doc.toPlainText()
    pos = 0
    found = 0
    for i, check in enumerate(checks):
        words = re.findall(r"\w+", check.text)
        if not words:
            continue
        m = re.compile(r"\W*".join(re.escape(w) for w in words)).search(plain, pos)
        if m is None:
            continue
        pos = m.end()
        found += 1
        linked = check.passage is not None and 1 <= check.passage <= len(sources)
        for a, b, is_link in _fragments(doc, m.start(), m.end()):
            fmt = QTextCharFormat()
            fmt.setToolTip(check_tooltip(check, sources))
            if check.verdict == NOT_FOUND:
                fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
                fmt.setUnderlineColor(QColor(c.danger))
            elif check.verdict == PARTLY:
                fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.DotLine)
                fmt.setUnderlineColor(QColor(c.muted))
            if linked and not is_link:
                fmt.setAnchor(True)
                fmt.setAnchorHref(f"check:{i}")
            cursor = QTextCursor(doc)
            cursor.setPosition(a)
            cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)
    return found


class MessageWidget(QWidget):
    """One message: a bubble with its text, what is going on, and its actions."""

    citationClicked = Signal(int, int)
    checkClicked = Signal(int, int)
    """(row, index of the checked sentence) when a backed sentence is clicked."""
    copyRequested = Signal(int)
    regenerateRequested = Signal(int)
    sourcesRequested = Signal(int)

    def __init__(self, row: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = row
        self.message: ChatMessage | None = None
        self._rendered: tuple[str, int, str, int, str] | None = None
        self.checks_marked = 0
        """How many checked sentences were found and marked in the rendered answer."""
        outer = self._outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.bubble = QFrame(self)
        outer.addWidget(self.bubble)
        lay = QVBoxLayout(self.bubble)
        lay.setContentsMargins(14, 10, 14, 10)
        lay.setSpacing(4)
        head = nested(lay, QHBoxLayout())
        head.setSpacing(6)
        self.who = QLabel(self.bubble)
        self.who.setStyleSheet("font-weight: 600;")
        self.model_label = QLabel(self.bubble)
        self.model_label.setObjectName("Muted")
        head.addWidget(self.who)
        head.addWidget(self.model_label)
        head.addStretch(1)
        self.notice = QLabel(self.bubble)
        self.notice.setObjectName("CheckNotice")
        self.notice.setWordWrap(True)
        c = theme.colors()
        self.notice.setStyleSheet(
            f"QLabel#CheckNotice {{ color: {c.danger}; background: {c.danger_soft};"
            " border-radius: 6px; padding: 4px 8px; }"
        )
        self.notice.hide()
        lay.addWidget(self.notice)
        self.body = MessageBody(self.bubble)
        self.body.anchorClicked.connect(self._anchor)
        lay.addWidget(self.body)
        self.status = QLabel(self.bubble)
        self.status.setObjectName("Muted")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.action_bar = QWidget(self.bubble)
        act = QHBoxLayout(self.action_bar)
        act.setContentsMargins(0, 2, 0, 0)
        act.setSpacing(2)
        self.copy_button = self._tool("copy", "Copy the answer")
        self.copy_button.clicked.connect(lambda: self.copyRequested.emit(self.row))
        self.regen_button = self._tool("refresh", "Write the answer again")
        self.regen_button.clicked.connect(lambda: self.regenerateRequested.emit(self.row))
        self.sources_button = QToolButton(self.action_bar)
        self.sources_button.setIcon(icons.icon("sources"))
        self.sources_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sources_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.sources_button.clicked.connect(lambda: self.sourcesRequested.emit(self.row))
        for b in (self.copy_button, self.regen_button, self.sources_button):
            act.addWidget(b)
        act.addStretch(1)
        lay.addWidget(self.action_bar)

    def _tool(self, name: str, tip: str) -> QToolButton:
        b = QToolButton(self.action_bar)
        b.setIcon(icons.icon(name))
        b.setToolTip(tip)
        b.setCursor(Qt.CursorShape.PointingHandCursor)
        return b

    def _anchor(self, url: QUrl) -> None:
        if url.scheme() == "cite":
            try:
                n = int(url.path() or url.toString().split(":", 1)[1])
            except ValueError:
                return
            self.citationClicked.emit(self.row, n)
        elif url.scheme() == "check":
            try:
                i = int(url.path() or url.toString().split(":", 1)[1])
            except ValueError:
                return
            self.checkClicked.emit(self.row, i)

    def set_message(self, msg: ChatMessage, *, last: bool) -> None:
        self.message = msg
        user = msg.role == "user"
        self.bubble.setObjectName("UserBubble" if user else "AssistantBubble")
        self.bubble.setProperty("state", msg.state)
        self.bubble.style().unpolish(self.bubble)
        self.bubble.style().polish(self.bubble)
        self.who.setText("You" if user else "Hearth")
        self.model_label.setText("" if user or not msg.model else f"· {msg.model}")
        self.model_label.setVisible(bool(msg.model) and not user)
        self.render_text()
        status = msg.status
        if msg.state == "stopped" and not status:
            status = "Stopped."
        if msg.state == "streaming" and not status and not msg.text:
            status = "Writing…"
        self.status.setText(status)
        self.status.setVisible(bool(status))
        done = msg.state in ("done", "stopped")
        self.action_bar.setVisible(not user and (done or msg.state == "error"))
        self.copy_button.setVisible(bool(msg.text) and msg.state != "error")
        self.regen_button.setVisible(last)
        n = len(msg.sources)
        self.sources_button.setVisible(n > 0)
        self.sources_button.setText(plural(n, "source"))
        self._fit_width()

    def render_text(self) -> None:
        msg = self.message
        if msg is None:
            return
        key = (msg.text, len(msg.sources), msg.state, len(msg.checks), msg.notice)
        if key == self._rendered:
            return
        self._rendered = key
        self.checks_marked = 0
        if msg.role == "user" or msg.state == "error":
            self.body.setPlainText(msg.text)
        else:
            self.body.setMarkdown(link_citations(msg.text, len(msg.sources)))
            if msg.checks:
                self.checks_marked = mark_checks(self.body.document(), msg.checks, msg.sources)
        self.body.setVisible(bool(msg.text))
        self.notice.setText(msg.notice)
        self.notice.setVisible(bool(msg.notice) and msg.role != "user")

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_width()

    def _fit_width(self) -> None:
        """A question's bubble is as wide as its text (up to 80%), right-aligned."""
        if self.message is None or self.message.role != "user":
            self.bubble.setMaximumWidth(16_777_215)
            self._outer.setAlignment(self.bubble, Qt.AlignmentFlag(0))
            return
        fm = QFontMetrics(self.body.font())
        longest = max(
            (fm.horizontalAdvance(line) for line in self.message.text.split("\n")), default=0
        )
        limit = int(self.width() * 0.8)
        self.bubble.setMaximumWidth(max(120, min(limit, longest + 48)))
        self._outer.setAlignment(self.bubble, Qt.AlignmentFlag.AlignRight)


class ChatView(QScrollArea):
    """The conversation, following the bottom while an answer streams in."""

    citationClicked = Signal(int, int)
    checkClicked = Signal(int, int)
    copyRequested = Signal(int)
    regenerateRequested = Signal(int)
    sourcesRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        canvas = QWidget()
        canvas.setObjectName("ChatCanvas")
        row = QHBoxLayout(canvas)
        row.setContentsMargins(24, 16, 24, 16)
        row.addStretch(1)
        self.column = QWidget(canvas)
        self.column.setMaximumWidth(MAX_COLUMN)
        self.column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.column, 100)
        row.addStretch(1)
        self.rows = QVBoxLayout(self.column)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.setSpacing(14)
        self.rows.addStretch(1)
        self.setWidget(canvas)
        self.viewport().setAutoFillBackground(False)
        canvas.setAutoFillBackground(False)
        self.widgets: list[MessageWidget] = []
        self.model: MessagesModel | None = None
        self._dirty: set[int] = set()
        self._stick = True
        self._timer = QTimer(self)
        self._timer.setInterval(RENDER_MS)
        self._timer.timeout.connect(self._flush)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    def bind(self, model: MessagesModel) -> None:
        self.model = model
        model.modelReset.connect(self._rebuild)
        model.rowsInserted.connect(self._inserted)
        model.rowsRemoved.connect(self._removed)
        model.dataChanged.connect(self._changed)
        model.textAppended.connect(self._text_appended)
        self._rebuild()

    # --- model → widgets --------------------------------------------------------------------

    def _rebuild(self) -> None:
        for w in self.widgets:
            self.rows.removeWidget(w)
            w.deleteLater()
        self.widgets = []
        self._dirty.clear()
        if self.model is not None:
            for row in range(self.model.rowCount()):
                self._add(row)
        self._refresh_last()
        self._stick = True
        # With the view as the timer's context: a view closed before the timer fires is not
        # scrolled (its C++ object is gone by then).
        QTimer.singleShot(0, self, self.scroll_to_bottom)

    def _add(self, row: int) -> None:
        w = MessageWidget(row, self.column)
        w.citationClicked.connect(self.citationClicked)
        w.checkClicked.connect(self.checkClicked)
        w.copyRequested.connect(self.copyRequested)
        w.regenerateRequested.connect(self.regenerateRequested)
        w.sourcesRequested.connect(self.sourcesRequested)
        self.rows.insertWidget(self.rows.count() - 1, w)
        self.widgets.append(w)
        assert self.model is not None
        w.set_message(self.model.item(row), last=False)

    def _inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            self._add(row)
        self._refresh_last()
        self._stick = True

    def _removed(self, parent: QModelIndex, first: int, last: int) -> None:
        for w in self.widgets[first : last + 1]:
            self.rows.removeWidget(w)
            w.deleteLater()
        del self.widgets[first : last + 1]
        for i, w in enumerate(self.widgets):
            w.row = i
        self._refresh_last()

    def _changed(self, top: QModelIndex, bottom: QModelIndex, roles: object = None) -> None:
        if self.model is None:
            return
        for row in range(top.row(), bottom.row() + 1):
            if row < len(self.widgets):
                self.widgets[row].set_message(self.model.item(row), last=self._is_last_answer(row))

    def _text_appended(self, row: int) -> None:
        self._dirty.add(row)
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        if not self._dirty:
            self._timer.stop()
            return
        assert self.model is not None
        for row in sorted(self._dirty):
            if row < len(self.widgets):
                w = self.widgets[row]
                w.message = self.model.item(row)
                w.render_text()
        self._dirty.clear()

    def _is_last_answer(self, row: int) -> bool:
        return (
            self.model is not None
            and row == self.model.rowCount() - 1
            and self.model.item(row).role == "assistant"
        )

    def _refresh_last(self) -> None:
        if self.model is None:
            return
        for row, w in enumerate(self.widgets):
            if w.message is not None:
                w.set_message(self.model.item(row), last=self._is_last_answer(row))

    # --- scrolling --------------------------------------------------------------------------

    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick = value >= bar.maximum() - 32

    def _range_changed(self, low: int, high: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(high)

    def scroll_to_bottom(self) -> None:
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())


class ComposerEdit(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line, Esc stops; grows with its text."""

    submitted = Signal()
    stopRequested = Signal()

    MAX_LINES = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Ask a question about your documents…")
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.document().documentLayout().documentSizeChanged.connect(self._grow)
        self.setAcceptDrops(False)
        self._grow()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.stopRequested.emit()
            return
        super().keyPressEvent(event)

    def _grow(self, *_: object) -> None:
        lines = max(1, min(self.MAX_LINES, int(self.document().size().height())))
        fm = self.fontMetrics()
        m = self.contentsMargins()
        doc_margin = int(self.document().documentMargin() * 2)
        self.setFixedHeight(lines * fm.lineSpacing() + doc_margin + m.top() + m.bottom() + 4)


class Composer(QFrame):
    """The question box with its send/stop button."""

    submitted = Signal(str)
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Composer")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        lay.setSpacing(6)
        self.edit = ComposerEdit(self)
        self.edit.submitted.connect(self._submit)
        self.edit.stopRequested.connect(self.stopRequested)
        self.edit.installEventFilter(self)
        self.button = QToolButton(self)
        self.button.setFixedSize(34, 34)
        self.button.setIconSize(self.button.size() * 0.6)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self._clicked)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        self.busy = False
        self.edit.textChanged.connect(self._update_button)
        self.set_busy(False)

    def eventFilter(self, obj: object, event: QEvent) -> bool:
        if obj is self.edit and event.type() in (QEvent.Type.FocusIn, QEvent.Type.FocusOut):
            self.setProperty("focus", event.type() == QEvent.Type.FocusIn)
            self.style().unpolish(self)
            self.style().polish(self)
        return False

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        c = theme.colors()
        if busy:
            self.button.setIcon(icons.icon("stop", c.accent_text))
            self.button.setToolTip("Stop the answer (Esc)")
        else:
            self.button.setIcon(icons.icon("send", c.accent_text))
            self.button.setToolTip("Send (Enter)")
        self._update_button()

    def _update_button(self) -> None:
        c = theme.colors()
        enabled = self.busy or bool(self.edit.toPlainText().strip())
        self.button.setEnabled(enabled)
        bg = c.accent if enabled else c.border
        self.button.setStyleSheet(
            f"QToolButton {{ background: {bg}; border-radius: 17px; }}"
            f"QToolButton:hover {{ background: {bg}; }}"
        )

    def _clicked(self) -> None:
        if self.busy:
            self.stopRequested.emit()
        else:
            self._submit()

    def _submit(self) -> None:
        if self.busy:
            return
        text = self.edit.toPlainText().strip()
        if text:
            self.submitted.emit(text)

    def clear(self) -> None:
        self.edit.clear()

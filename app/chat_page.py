"""The chat tab: conversation, question box, model indicator and the sources panel beside it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import icons
from app.chat_view import ChatView, Composer
from app.layouts import nested
from app.models import MessagesModel, SourcesModel
from app.sources_view import SourcesPanel

SUGGESTIONS = (
    "Give me a short overview of these documents.",
    "What are the most important points to remember?",
)
SAMPLE_SUGGESTIONS = (
    "How do I add my own documents?",
    "Which file types can Hearth read?",
    "Does Hearth send my documents anywhere?",
)


class ChatEmptyState(QWidget):
    """What an empty chat shows: what to ask, and a few questions to start with."""

    suggestion = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setSpacing(8)
        lay.addStretch(2)
        logo = QLabel(self)
        logo.setPixmap(icons.app_icon().pixmap(56, 56))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel(self)
        self.title.setObjectName("Title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.subtitle = QLabel(self)
        self.subtitle.setObjectName("Muted")
        self.subtitle.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.subtitle.setWordWrap(True)
        lay.addWidget(logo)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addSpacing(10)
        self.chips = nested(lay, QVBoxLayout())
        self.chips.setSpacing(6)
        lay.addStretch(3)
        self._buttons: list[QPushButton] = []

    def set_collection(
        self,
        name: str | None,
        documents: int,
        *,
        sample: bool,
        indexing: bool = False,
        passages: int = 0,
    ) -> None:
        self.title.setText(f"Ask about “{name}”" if name else "Ask about your documents")
        if indexing and not documents and passages:
            self.subtitle.setText(
                "Your documents are being indexed. You can ask already: what has been read is "
                "found by its words, and by its meaning once embedded."
            )
        elif indexing and not documents:
            self.subtitle.setText(
                "Your documents are being indexed. You can ask as soon as the first ones are in."
            )
        elif documents:
            self.subtitle.setText(
                f"Hearth answers from the {documents} document{'s' if documents != 1 else ''} "
                "in this collection and cites the passages it used. Nothing leaves this computer."
            )
        else:
            self.subtitle.setText(
                "This collection has no documents yet: drop files or folders on the window first."
            )
        for b in self._buttons:
            self.chips.removeWidget(b)
            b.deleteLater()
        self._buttons = []
        if not documents:
            return
        for text in SAMPLE_SUGGESTIONS if sample else SUGGESTIONS:
            b = QPushButton(text, self)
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            b.clicked.connect(lambda _=False, t=text: self.suggestion.emit(t))
            self.chips.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
            self._buttons.append(b)


class ModelBanner(QFrame):
    """Says that answers are passages only until a model is added, and offers to add one."""

    addModel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 8, 8)
        icon = QLabel(self)
        icon.setPixmap(icons.icon("chip").pixmap(20, 20))
        text = QLabel(
            "<b>No chat model yet.</b> Answers show the best matching passages, each cited. "
            "Add a GGUF model to get written answers.",
            self,
        )
        text.setWordWrap(True)
        button = QPushButton("Add a model…", self)
        button.clicked.connect(self.addModel)
        lay.addWidget(icon)
        lay.addWidget(text, 1)
        lay.addWidget(button)


class ChatPage(QSplitter):
    """Chat column on the left, sources on the right."""

    def __init__(
        self, messages: MessagesModel, sources: SourcesModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setChildrenCollapsible(False)
        column = QWidget(self)
        lay = QVBoxLayout(column)
        lay.setContentsMargins(0, 0, 0, 12)
        lay.setSpacing(8)
        self.stack = QStackedWidget(column)
        self.empty = ChatEmptyState(self.stack)
        self.view = ChatView(self.stack)
        self.view.bind(messages)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.view)
        lay.addWidget(self.stack, 1)
        bottom = QWidget(column)
        blay = QVBoxLayout(bottom)
        blay.setContentsMargins(24, 0, 24, 0)
        blay.setSpacing(6)
        self.banner = ModelBanner(bottom)
        self.banner.hide()
        blay.addWidget(self.banner)
        self.composer = Composer(bottom)
        blay.addWidget(self.composer)
        hints = nested(blay, QHBoxLayout())
        hint = QLabel("Enter to send · Shift+Enter for a new line · Esc to stop", bottom)
        hint.setObjectName("Muted")
        hints.addWidget(hint)
        hints.addStretch(1)
        self.model_button = QToolButton(bottom)
        self.model_button.setIcon(icons.icon("chip"))
        self.model_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_menu = QMenu(self.model_button)
        self.model_button.setMenu(self.model_menu)
        hints.addWidget(self.model_button)
        row = nested(lay, QHBoxLayout())
        row.addStretch(1)
        row.addWidget(bottom, 100)
        row.addStretch(1)
        bottom.setMaximumWidth(860 + 48)
        self.sources = SourcesPanel(sources, self)
        self.sources.setMinimumWidth(240)
        self.addWidget(column)
        self.addWidget(self.sources)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self.setSizes([760, 320])
        messages.modelReset.connect(lambda: self._update_stack(messages))
        messages.rowsInserted.connect(lambda *_: self._update_stack(messages))
        messages.rowsRemoved.connect(lambda *_: self._update_stack(messages))
        self._update_stack(messages)

    def _update_stack(self, messages: MessagesModel) -> None:
        self.stack.setCurrentWidget(self.view if messages.rowCount() else self.empty)

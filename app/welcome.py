"""The first-run page: what Hearth does, a big drop target, and the sample documents."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app import icons, theme
from app.layouts import nested

FORMATS = "PDF · Word · PowerPoint · Excel · OpenDocument · Markdown · HTML · e-mail · EPUB · text"


class DropTarget(QFrame):
    """The dashed area of the welcome page; the whole window accepts drops, this invites them."""

    addFiles = Signal()
    addFolder = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DropTarget")
        self.setMinimumHeight(220)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(32, 28, 32, 28)
        lay.setSpacing(8)
        icon = QLabel(self)
        icon.setPixmap(icons.icon("upload").pixmap(44, 44))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("Drop files or folders here", self)
        title.setObjectName("Title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        formats = QLabel(FORMATS, self)
        formats.setObjectName("Muted")
        formats.setWordWrap(True)
        formats.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addStretch(1)
        lay.addWidget(icon)
        lay.addWidget(title)
        lay.addWidget(formats)
        lay.addSpacing(8)
        buttons = nested(lay, QHBoxLayout())
        buttons.addStretch(1)
        self.files_button = QPushButton(icons.icon("file"), "Add files…", self)
        self.files_button.clicked.connect(self.addFiles)
        self.folder_button = QPushButton(icons.icon("folder"), "Add a folder…", self)
        self.folder_button.clicked.connect(self.addFolder)
        buttons.addWidget(self.files_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        lay.addStretch(1)

    def set_active(self, active: bool) -> None:
        self.setProperty("active", active)
        self.style().unpolish(self)
        self.style().polish(self)


class WelcomePage(QWidget):
    """Shown while there is no collection yet."""

    openSamples = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        col = QWidget(self)
        col.setMaximumWidth(640)
        outer.addWidget(col, 10)
        outer.addStretch(1)
        lay = QVBoxLayout(col)
        lay.setSpacing(10)
        lay.addStretch(2)
        logo = QLabel(col)
        logo.setPixmap(icons.app_icon().pixmap(88, 88))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hero = QLabel("Welcome to Hearth", col)
        hero.setObjectName("Hero")
        hero.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lead = QLabel(
            "Ask questions about your own documents and get answers that cite the page they "
            "come from. Everything stays on this computer: nothing is uploaded, ever.",
            col,
        )
        lead.setObjectName("Muted")
        lead.setWordWrap(True)
        lead.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop = DropTarget(col)
        lay.addWidget(logo)
        lay.addWidget(hero)
        lay.addWidget(lead)
        lay.addSpacing(14)
        lay.addWidget(self.drop)
        lay.addSpacing(10)
        samples = nested(lay, QHBoxLayout())
        samples.addStretch(1)
        hint = QLabel("Not sure where to start?", col)
        hint.setObjectName("Muted")
        self.samples_button = QPushButton(
            icons.icon("book", theme.colors().accent_text), "Open sample documents", col
        )
        self.samples_button.setProperty("primary", True)
        self.samples_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.samples_button.clicked.connect(self.openSamples)
        samples.addWidget(hint)
        samples.addWidget(self.samples_button)
        samples.addStretch(1)
        lay.addStretch(3)

"""The side panel: collections (with document counts and indexing state) and conversations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from app.models import ItemRole, StateRole, SubtitleRole

if TYPE_CHECKING:
    from PySide6.QtCore import QAbstractItemModel


class TwoLineDelegate(QStyledItemDelegate):
    """A title and a muted subtitle on a rounded selection, with a dot while busy."""

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        fm = QFontMetrics(option.font)
        return QSize(200, fm.lineSpacing() * 2 + 14)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        c = theme.colors()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = option.rect.adjusted(6, 1, -6, -1)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hover:
            path = QPainterPath()
            path.addRoundedRect(r, 7, 7)
            bg = QColor(c.accent_soft) if selected else QColor(c.muted)
            if not selected:
                bg.setAlpha(28)
            painter.fillPath(path, bg)
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.DemiBold if selected else QFont.Weight.Normal)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        fm = QFontMetrics(title_font)
        fms = QFontMetrics(small)
        x = r.left() + 10
        busy = bool(index.data(StateRole))
        width = r.width() - 20 - (14 if busy else 0)
        y = r.top() + 6
        painter.setFont(title_font)
        painter.setPen(QColor(c.text))
        title = fm.elidedText(str(index.data() or ""), Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRect(x, y, width, fm.lineSpacing()), Qt.AlignmentFlag.AlignLeft, title)
        painter.setFont(small)
        painter.setPen(QColor(c.muted))
        sub = fms.elidedText(
            str(index.data(SubtitleRole) or ""), Qt.TextElideMode.ElideRight, width
        )
        painter.drawText(
            QRect(x, y + fm.lineSpacing() + 1, width, fms.lineSpacing()),
            Qt.AlignmentFlag.AlignLeft,
            sub,
        )
        if busy:
            painter.setBrush(QColor(c.accent))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QPoint(r.right() - 12, r.top() + 6 + fm.lineSpacing() // 2), 4, 4)
        painter.restore()


class SectionHeader(QWidget):
    def __init__(self, text: str, button_tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(16, 8, 10, 2)
        label = QLabel(text.upper(), self)
        label.setObjectName("SectionLabel")
        lay.addWidget(label)
        lay.addStretch(1)
        self.button = QToolButton(self)
        self.button.setIcon(icons.icon("plus"))
        self.button.setToolTip(button_tip)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        lay.addWidget(self.button)


class Sidebar(QWidget):
    """Collections above, the selected collection's conversations below, models at the bottom."""

    newCollection = Signal()
    renameCollection = Signal(str)
    deleteCollection = Signal(str)
    resyncCollection = Signal(str)
    newChat = Signal()
    renameConversation = Signal(object)
    deleteConversation = Signal(object)
    openModels = Signal()
    openSettings = Signal()

    def __init__(
        self,
        collections: QAbstractItemModel,
        conversations: QAbstractItemModel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setMinimumWidth(220)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 12, 0, 10)
        lay.setSpacing(2)

        brand = nested(lay, QHBoxLayout())
        brand.setContentsMargins(16, 0, 16, 8)
        logo = QLabel(self)
        logo.setPixmap(icons.app_icon().pixmap(28, 28))
        name = QLabel("Hearth", self)
        name.setStyleSheet("font-size: 14pt; font-weight: 700;")
        brand.addWidget(logo)
        brand.addWidget(name)
        brand.addStretch(1)

        head = SectionHeader("Collections", "New collection", self)
        head.button.clicked.connect(self.newCollection)
        lay.addWidget(head)
        self.collections = self._list(collections)
        self.collections.customContextMenuRequested.connect(self._collection_menu)
        self.no_collections = self._placeholder("No collections yet. Drop documents on the window.")
        lay.addWidget(self.no_collections)
        lay.addWidget(self.collections, 2)

        chats = SectionHeader("Conversations", "New chat (Ctrl+N)", self)
        chats.button.clicked.connect(self.newChat)
        lay.addWidget(chats)
        self.conversations = self._list(conversations)
        self.conversations.customContextMenuRequested.connect(self._conversation_menu)
        self.no_conversations = self._placeholder("Your conversations are saved here.")
        lay.addWidget(self.no_conversations)
        lay.addWidget(self.conversations, 3)
        for model in (collections, conversations):
            for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved):
                signal.connect(self._update_placeholders)
        self._update_placeholders()

        bottom = nested(lay, QHBoxLayout())
        bottom.setContentsMargins(10, 6, 10, 0)
        self.models_button = QPushButton(icons.icon("chip"), "Models", self)
        self.models_button.setProperty("flat", True)
        self.models_button.clicked.connect(self.openModels)
        self.settings_button = QPushButton(icons.icon("gear"), "Settings", self)
        self.settings_button.setProperty("flat", True)
        self.settings_button.clicked.connect(self.openSettings)
        bottom.addWidget(self.models_button)
        bottom.addWidget(self.settings_button)
        bottom.addStretch(1)

    def _placeholder(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setObjectName("Muted")
        label.setWordWrap(True)
        label.setContentsMargins(16, 2, 16, 6)
        return label

    def _update_placeholders(self, *_: object) -> None:
        self.no_collections.setVisible(self.collections.model().rowCount() == 0)
        self.no_conversations.setVisible(self.conversations.model().rowCount() == 0)

    def _list(self, model: QAbstractItemModel) -> QListView:
        view = QListView(self)
        view.setModel(model)
        view.setItemDelegate(TwoLineDelegate(view))
        view.setMouseTracking(True)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        return view

    def _collection_menu(self, pos: QPoint) -> None:
        ix = self.collections.indexAt(pos)
        if not ix.isValid():
            return
        name = ix.data()
        menu = QMenu(self)
        menu.addAction(icons.icon("edit"), "Rename…", lambda: self.renameCollection.emit(name))
        menu.addAction(icons.icon("refresh"), "Re-sync", lambda: self.resyncCollection.emit(name))
        menu.addSeparator()
        menu.addAction(icons.icon("trash"), "Delete…", lambda: self.deleteCollection.emit(name))
        menu.exec(self.collections.viewport().mapToGlobal(pos))

    def _conversation_menu(self, pos: QPoint) -> None:
        ix = self.conversations.indexAt(pos)
        if not ix.isValid():
            return
        cid = ix.data(ItemRole).id
        menu = QMenu(self)
        menu.addAction(icons.icon("edit"), "Rename…", lambda: self.renameConversation.emit(cid))
        menu.addAction(icons.icon("trash"), "Delete…", lambda: self.deleteConversation.emit(cid))
        menu.exec(self.conversations.viewport().mapToGlobal(pos))

    def select_collection(self, row: int) -> None:
        self._select(self.collections, row)

    def select_conversation(self, row: int) -> None:
        self._select(self.conversations, row)

    @staticmethod
    def _select(view: QListView, row: int) -> None:
        model = view.model()
        sel = view.selectionModel()
        ix = model.index(row, 0) if row >= 0 else None
        if ix is not None and ix.isValid():
            if view.currentIndex() != ix:
                sel.setCurrentIndex(ix, sel.SelectionFlag.ClearAndSelect)
        else:
            sel.clearSelection()
            sel.setCurrentIndex(model.index(-1, 0), sel.SelectionFlag.Clear)

"""The sources panel: each passage an answer was given, with its file and page.

Passages the answer cites carry an accent bar; a click opens the passage in the viewer.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QTextLayout
from PySide6.QtWidgets import (
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.models import CitedRole, ItemRole, NumberRole, SourcesModel
from app.text import snippet

PAD = 10
SNIPPET_LINES = 4


def _lines(text: str, fm: QFontMetrics, font: QFont, width: int, limit: int) -> list[str]:
    """`text` wrapped to `width`, at most `limit` lines, the last one elided."""
    layout = QTextLayout(text, font)
    layout.beginLayout()
    out: list[str] = []
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        start, length = line.textStart(), line.textLength()
        if len(out) == limit - 1:
            out.append(fm.elidedText(text[start:], Qt.TextElideMode.ElideRight, width))
            break
        out.append(text[start : start + length].rstrip())
    layout.endLayout()
    return out


class SourceDelegate(QStyledItemDelegate):
    """Paints a passage as a small card: number, file · page, heading, text."""

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        base = QFont(option.font)
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.92))
        return base, bold, small

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        _base, bold, small = self._fonts(option)
        hit = index.data(ItemRole)
        lines = 1 + (1 if hit is not None and hit.heading else 0)
        height = PAD * 2 + QFontMetrics(bold).lineSpacing() * lines
        height += QFontMetrics(small).lineSpacing() * SNIPPET_LINES + 6
        return QSize(120, height + 8)  # the list gives each card its full width

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        c = theme.colors()
        hit = index.data(ItemRole)
        if hit is None:
            return
        n = index.data(NumberRole)
        cited = bool(index.data(CitedRole))
        _base, bold, small = self._fonts(option)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = option.rect.adjusted(4, 4, -4, -4)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        path = QPainterPath()
        path.addRoundedRect(card, 8, 8)
        painter.fillPath(path, QColor(c.accent_soft if selected else c.base))
        painter.setPen(QColor(c.accent if (hover or selected) else c.border))
        painter.drawPath(path)
        if cited:
            bar = QPainterPath()
            bar.addRoundedRect(card.left(), card.top() + 6, 3, card.height() - 12, 1.5, 1.5)
            painter.fillPath(bar, QColor(c.accent))
        x = card.left() + PAD + 4
        width = card.width() - PAD * 2 - 4
        y = card.top() + PAD
        fm_bold = QFontMetrics(bold)
        badge = f"[{n}]"
        painter.setFont(bold)
        painter.setPen(QColor(c.accent if cited else c.muted))
        painter.drawText(
            QRect(x, y, width, fm_bold.lineSpacing()), Qt.AlignmentFlag.AlignLeft, badge
        )
        bx = x + fm_bold.horizontalAdvance(badge) + 6
        page = f"  ·  page {hit.page}" if hit.page else ""
        fm_small = QFontMetrics(small)
        page_w = fm_small.horizontalAdvance(page)
        name = fm_bold.elidedText(
            hit.file.name or hit.title,
            Qt.TextElideMode.ElideMiddle,
            max(20, width - (bx - x) - page_w),
        )
        painter.setPen(QColor(c.text))
        painter.drawText(
            QRect(bx, y, width, fm_bold.lineSpacing()), Qt.AlignmentFlag.AlignLeft, name
        )
        if page:
            painter.setFont(small)
            painter.setPen(QColor(c.muted))
            px = bx + fm_bold.horizontalAdvance(name)
            painter.drawText(
                QRect(px, y, page_w + 4, fm_bold.lineSpacing()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                page,
            )
        y += fm_bold.lineSpacing()
        painter.setFont(small)
        if hit.heading:
            painter.setPen(QColor(c.muted))
            heading = fm_small.elidedText(hit.heading, Qt.TextElideMode.ElideRight, width)
            painter.drawText(
                QRect(x, y, width, fm_small.lineSpacing()), Qt.AlignmentFlag.AlignLeft, heading
            )
            y += fm_small.lineSpacing()
        y += 4
        painter.setPen(QColor(c.text))
        for line in _lines(snippet(hit.text, 600), fm_small, small, width, SNIPPET_LINES):
            painter.drawText(
                QRect(x, y, width, fm_small.lineSpacing()), Qt.AlignmentFlag.AlignLeft, line
            )
            y += fm_small.lineSpacing()
        painter.restore()


class SourcesPanel(QWidget):
    """Header, hint and the list of passages of the answer in view."""

    sourceActivated = Signal(int)
    """0-based row of the passage clicked."""

    def __init__(self, model: SourcesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 14, 12, 8)
        lay.setSpacing(6)
        self.title = QLabel("SOURCES", self)
        self.title.setObjectName("SectionLabel")
        lay.addWidget(self.title)
        self.hint = QLabel(self)
        self.hint.setObjectName("Muted")
        self.hint.setWordWrap(True)
        lay.addWidget(self.hint)
        self.list = QListView(self)
        self.list.setModel(model)
        self.list.setItemDelegate(SourceDelegate(self.list))
        self.list.setMouseTracking(True)
        self.list.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.list.setFrameShape(QListView.Shape.NoFrame)
        self.list.setStyleSheet("QListView { background: transparent; }")
        self.list.setUniformItemSizes(False)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.clicked.connect(lambda ix: self.sourceActivated.emit(ix.row()))
        self.list.activated.connect(lambda ix: self.sourceActivated.emit(ix.row()))
        lay.addWidget(self.list, 1)
        model.modelReset.connect(self._update)
        self._update()

    def _update(self) -> None:
        n = self.model.rowCount()
        self.title.setText(f"SOURCES · {n}" if n else "SOURCES")
        if n:
            self.hint.setText("Click a passage to open it in its document.")
        else:
            self.hint.setText(
                "The passages an answer is based on appear here, each with its file and page."
            )

    def select(self, row: int) -> None:
        ix = self.model.index(row, 0)
        if ix.isValid():
            self.list.setCurrentIndex(ix)
            self.list.scrollTo(ix)

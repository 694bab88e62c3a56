"""The built-in viewer: a cited passage shown in its document, highlighted.

PDF pages are rendered with PyMuPDF and the passage is marked by matching its words against
the words on the page (robust to line breaks and hyphenation where a plain text search is
not); when nothing matches, the right page is still shown. Other formats show the text Hearth
extracted, with the passage's span highlighted and scrolled into view. A button opens the
file in the system's default program.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFontDatabase,
    QImage,
    QPainter,
    QPixmap,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import icons, theme
from app.layouts import nested
from engine.errors import HearthError
from engine.events import Hit
from engine.facade import Hearth

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtGui import QCloseEvent, QResizeEvent


log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
_MONOSPACED = {
    ".py",
    ".js",
    ".ts",
    ".c",
    ".h",
    ".cpp",
    ".java",
    ".rs",
    ".go",
    ".sh",
    ".csv",
    ".tsv",
    ".json",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".log",
    ".sql",
}
MIN_RUN = 3
"""Shortest run of consecutive words that counts as part of the passage on the page."""


def _norm(word: str) -> str:
    return "".join(_WORD.findall(word.casefold()))


def passage_rects(
    page: Any, text: str, words: Sequence[Sequence[Any]] | None = None
) -> list[tuple[float, float, float, float]]:
    """Rectangles (PDF points) covering the words of `text` found in order on `page`.

    `words` stands in for the page's own when it has no text layer (a scan read by OCR)."""
    words = words or page.get_text("words")  # (x0, y0, x1, y1, word, block, line, word_no)
    page_words = [_norm(w[4]) for w in words]
    wanted = [_norm(w) for w in text.split()]
    wanted = [w for w in wanted if w]
    if not wanted or not page_words:
        return []
    matcher = difflib.SequenceMatcher(None, page_words, wanted, autojunk=False)
    chosen: list[int] = []
    for block in matcher.get_matching_blocks():
        if block.size >= MIN_RUN or (block.size and block.size == len(wanted)):
            chosen.extend(range(block.a, block.a + block.size))
    rects: list[tuple[float, float, float, float]] = []
    line_key: tuple[int, int] | None = None
    for i in chosen:
        x0, y0, x1, y1, _, blk, line = words[i][:7]
        key = (blk, line)
        if rects and key == line_key and x0 >= rects[-1][0]:
            r = rects[-1]
            rects[-1] = (r[0], min(r[1], y0), max(r[2], x1), max(r[3], y1))
        else:
            rects.append((x0, y0, x1, y1))
        line_key = key
    return rects


class PageView(QScrollArea):
    """One rendered PDF page, centred, on a neutral background."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.label.setContentsMargins(16, 16, 16, 16)
        self.setWidget(self.label)


class DocumentViewer(QWidget):
    """A window that shows a source passage in its document."""

    ZOOMS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0)

    def __init__(self, hearth: Hearth, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.hearth = hearth
        self.setWindowTitle("Hearth — Source")
        self.setWindowIcon(icons.app_icon())
        self.resize(880, 980)
        self.hit: Hit | None = None
        self.collection: str | None = None
        self.mode = ""
        """'pdf' or 'text'."""
        self.current_page: int | None = None
        """1-based page on screen (PDF)."""
        self.page_count = 0
        self.highlights = 0
        """Rectangles (PDF) or characters (text) highlighted on screen."""
        self.highlighted_text = ""
        """The passage as highlighted in the text view."""
        self._doc: Any = None
        self._doc_path: Path | None = None
        self._zoom = 1.0

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        bar = QFrame(self)
        bar.setObjectName("ViewerBar")
        top = QHBoxLayout(bar)
        top.setContentsMargins(14, 10, 10, 10)
        top.setSpacing(6)
        text_col = nested(top, QVBoxLayout(), 1)
        text_col.setSpacing(0)
        self.name = QLabel(bar)
        self.name.setStyleSheet("font-weight: 600; font-size: 12pt;")
        self.where = QLabel(bar)
        self.where.setObjectName("Muted")
        text_col.addWidget(self.name)
        text_col.addWidget(self.where)
        self.prev_button = self._tool(
            "left", "Previous page", lambda: self.go_to_page((self.current_page or 1) - 1)
        )
        self.page_label = QLabel(bar)
        self.page_label.setObjectName("Muted")
        self.next_button = self._tool(
            "right", "Next page", lambda: self.go_to_page((self.current_page or 1) + 1)
        )
        self.zoom_out = self._tool("zoom-out", "Zoom out", lambda: self._step_zoom(-1))
        self.zoom_in = self._tool("zoom-in", "Zoom in", lambda: self._step_zoom(1))
        for w in (self.prev_button, self.page_label, self.next_button, self.zoom_out, self.zoom_in):
            top.addWidget(w)
        self.open_button = QPushButton(icons.icon("external"), "Open in default app", bar)
        self.open_button.setToolTip("Open the file in the program your system uses for it")
        self.open_button.clicked.connect(self.open_externally)
        top.addSpacing(8)
        top.addWidget(self.open_button)
        root.addWidget(bar)
        sep = QFrame(self)
        sep.setObjectName("Separator")
        root.addWidget(sep)
        self.notice = QLabel(self)
        self.notice.setObjectName("Muted")
        self.notice.setWordWrap(True)
        self.notice.setContentsMargins(14, 6, 14, 6)
        self.notice.hide()
        root.addWidget(self.notice)
        self.stack = QStackedWidget(self)
        self.page_view = PageView(self.stack)
        self.text_view = QTextBrowser(self.stack)
        self.text_view.setOpenLinks(False)
        self.text_view.setFrameShape(QFrame.Shape.NoFrame)
        self.text_view.document().setDocumentMargin(24)
        self.stack.addWidget(self.page_view)
        self.stack.addWidget(self.text_view)
        root.addWidget(self.stack, 1)

    def _tool(self, icon_name: str, tip: str, slot: Callable[[], object]) -> QToolButton:
        b = QToolButton(self)
        b.setIcon(icons.icon(icon_name))
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # --- showing a passage ------------------------------------------------------------------

    def show_hit(self, hit: Hit, collection: str | None) -> None:
        """Open the passage's document at its place, with the passage highlighted."""
        self.hit = hit
        self.collection = collection
        self.name.setText(hit.file.name or hit.title)
        where = [hit.heading] if hit.heading else []
        where.append(str(hit.file.parent))
        self.where.setText(" · ".join(where))
        self.where.setToolTip(str(hit.file))
        self.notice.hide()
        self.open_button.setEnabled(hit.file.exists())
        self.setWindowTitle(f"{hit.file.name} — Hearth")
        # Shown (and laid out) first, so the page is rendered at the width it gets.
        self.show()
        self.raise_()
        self.activateWindow()
        layout = self.layout()
        if layout is not None:
            layout.activate()
        if hit.file.suffix.lower() == ".pdf" and hit.file.exists() and self._open_pdf(hit.file):
            self.mode = "pdf"
            self.stack.setCurrentWidget(self.page_view)
            self.go_to_page(hit.page or 1)
        else:
            self.mode = "text"
            self.stack.setCurrentWidget(self.text_view)
            self._show_text(hit, collection)
        self._update_nav()

    def _open_pdf(self, path: Path) -> bool:
        if self._doc is not None and self._doc_path == path:
            return True
        self._close_doc()
        try:
            import pymupdf
        except ImportError:
            self._note("PyMuPDF is not installed, so the page cannot be drawn; showing the text.")
            return False
        try:
            self._doc = pymupdf.open(str(path))
            if self._doc.needs_pass:
                raise HearthError("the PDF is protected by a password")
        except Exception as exc:  # any PyMuPDF failure: fall back to the indexed text
            self._note(f"The PDF could not be opened ({exc}); showing the text Hearth indexed.")
            self._close_doc()
            return False
        self._doc_path = path
        self.page_count = self._doc.page_count
        return True

    def _close_doc(self) -> None:
        if self._doc is not None:
            self._doc.close()
        self._doc = None
        self._doc_path = None
        self.page_count = 0

    def go_to_page(self, number: int) -> None:
        if self.mode != "pdf" or self._doc is None:
            return
        number = max(1, min(self.page_count, number))
        self.current_page = number
        self._render()
        self._update_nav()

    def _render(self) -> None:
        page = self._doc[(self.current_page or 1) - 1]
        width = max(300, self.page_view.viewport().width() - 40)
        fit = width / max(page.rect.width, 1.0)
        scale = fit * self._zoom
        ratio = self.devicePixelRatioF()
        pix = page.get_pixmap(matrix=_matrix(scale * ratio), alpha=False)
        fmt = QImage.Format.Format_RGB888
        image = QImage(pix.samples, pix.width, pix.height, pix.stride, fmt).copy()
        rects: list[tuple[float, float, float, float]] = []
        hit = self.hit
        if hit is not None and (hit.page or 1) == self.current_page:
            try:
                # A scanned page has no words of its own: OCR kept them (engine/ingest/ocr.py).
                ocr_words = None
                if not page.get_text("text").strip():
                    ocr_words = self.hearth.page_words(hit.file, self.current_page or 1)
                rects = passage_rects(page, hit.text, ocr_words)
            except Exception:  # highlighting is a nicety: the page is still shown
                log.exception("could not locate the passage on the page")
        if rects:
            painter = QPainter(image)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
            color = QColor("#ffd54a")
            s = scale * ratio
            for x0, y0, x1, y1 in rects:
                painter.fillRect(
                    QRectF(x0 * s - 2, y0 * s - 1, (x1 - x0) * s + 4, (y1 - y0) * s + 2), color
                )
            painter.end()
        self.highlights = len(rects)
        edge = QPainter(image)
        edge.setPen(QColor(theme.colors().border))
        edge.drawRect(0, 0, image.width() - 1, image.height() - 1)
        edge.end()
        pm = QPixmap.fromImage(image)
        pm.setDevicePixelRatio(ratio)
        self.page_view.label.setPixmap(pm)
        if rects:
            top = min(r[1] for r in rects) * scale
            self.page_view.verticalScrollBar().setValue(int(max(0, top - 120)))
        else:
            self.page_view.verticalScrollBar().setValue(0)

    def _show_text(self, hit: Hit, collection: str | None) -> None:
        text = ""
        try:
            doc_id = hit.document_id
            if doc_id < 0 and collection:
                doc_id = next(
                    (d.id for d in self.hearth.documents(collection) if d.path == hit.file), -1
                )
            if doc_id >= 0:
                text = self.hearth.document_text(collection, doc_id)
        except HearthError as exc:
            self._note(f"The document's text could not be loaded: {exc}")
        if not text:
            self._note("Showing the passage only: the document's full text is not available.")
            text = hit.text
        start, end = _locate(text, hit)
        self.text_view.setPlainText(text)
        mono = hit.file.suffix.lower() in _MONOSPACED
        font = QFontDatabase.systemFont(
            QFontDatabase.SystemFont.FixedFont if mono else QFontDatabase.SystemFont.GeneralFont
        )
        self.text_view.document().setDefaultFont(font)
        self.current_page = hit.page
        self.page_count = 0
        c = theme.colors()
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(c.highlight))
        if c.dark:
            fmt.setForeground(QColor("#1b1b1b"))
        sel = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.text_view.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        sel.format = fmt
        self.text_view.setExtraSelections([sel])
        self.highlights = end - start
        self.highlighted_text = text[start:end]
        caret = QTextCursor(self.text_view.document())
        caret.setPosition(start)
        self.text_view.setTextCursor(caret)
        bar = self.text_view.verticalScrollBar()
        top = self.text_view.cursorRect(caret).top() + bar.value()
        bar.setValue(max(0, top - self.text_view.viewport().height() // 4))

    def _note(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    def _update_nav(self) -> None:
        pdf = self.mode == "pdf"
        for w in (self.prev_button, self.next_button, self.zoom_in, self.zoom_out):
            w.setVisible(pdf)
        if pdf:
            self.page_label.setText(f"Page {self.current_page} of {self.page_count}")
            self.prev_button.setEnabled((self.current_page or 1) > 1)
            self.next_button.setEnabled((self.current_page or 1) < self.page_count)
        else:
            self.page_label.setText(f"Page {self.current_page}" if self.current_page else "")

    def _step_zoom(self, step: int) -> None:
        i = min(range(len(self.ZOOMS)), key=lambda k: abs(self.ZOOMS[k] - self._zoom))
        self._zoom = self.ZOOMS[max(0, min(len(self.ZOOMS) - 1, i + step))]
        if self.mode == "pdf":
            self._render()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.mode == "pdf" and self._doc is not None and self.isVisible():
            self._render()

    def open_externally(self) -> bool:
        """Open the document in the system's default program for its type."""
        if self.hit is None:
            return False
        path = self.hit.file
        if not path.exists():
            self._note(f"The file is no longer at {path}.")
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def closeEvent(self, event: QCloseEvent) -> None:
        self._close_doc()
        self.mode = ""
        super().closeEvent(event)


def _matrix(scale: float) -> Any:
    import pymupdf

    return pymupdf.Matrix(scale, scale)


def _locate(text: str, hit: Hit) -> tuple[int, int]:
    """The passage's span in `text`: its recorded span if it still matches, else a search."""
    start, end = max(0, hit.start), min(len(text), hit.end)
    probe = " ".join(hit.text.split()[:8])
    if end > start and " ".join(text[start:end].split()[:8]) == probe:
        return start, end
    if probe:
        found = " ".join(text.split())  # cheap check before a real search
        if probe in found:
            pattern = r"\s+".join(re.escape(w) for w in hit.text.split()[:8])
            m = re.search(pattern, text)
            if m:
                return m.start(), min(len(text), m.start() + max(len(hit.text), end - start))
    if end > start:
        return start, end
    return 0, 0

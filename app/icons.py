"""Line icons drawn from a few SVG paths, coloured to match the current theme.

Each icon is a 24×24 stroke drawing; `icon(name)` renders it in the palette's text colour (or
the colour given) at the sizes a button asks for, sharp on high-DPI screens.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app import theme
from engine.resources import icons_dir

if TYPE_CHECKING:
    from PySide6.QtCore import QRect


_PATHS: dict[str, str] = {
    "plus": '<path d="M12 5v14M5 12h14"/>',
    "send": '<path d="M12 19V5M5.5 11.5 12 5l6.5 6.5"/>',
    "stop": '<rect x="6.5" y="6.5" width="11" height="11" rx="2" fill="currentColor"/>',
    "copy": '<rect x="8.5" y="8.5" width="11" height="11" rx="2"/>'
    '<path d="M15.5 8.5V6a1.5 1.5 0 0 0-1.5-1.5H6A1.5 1.5 0 0 0 4.5 6v8A1.5 1.5 0 0 0 6 15.5h2.5"/>',
    "refresh": '<path d="M19.5 12a7.5 7.5 0 1 1-2.2-5.3"/><path d="M19.5 4.5v4h-4"/>',
    "folder": '<path d="M3.5 7.5A1.5 1.5 0 0 1 5 6h4l2 2h8a1.5 1.5 0 0 1 1.5 1.5v8A1.5 1.5 0 0 1 19 19H5'
    'a1.5 1.5 0 0 1-1.5-1.5z"/>',
    "file": '<path d="M6.5 3.5h7l4 4v13h-11z"/><path d="M13.5 3.5v4h4M9 12.5h6M9 16h6"/>',
    "trash": '<path d="M4.5 7h15M9.5 7V4.5h5V7M6.5 7l1 12.5h9l1-12.5M10 11v5M14 11v5"/>',
    "chat": '<path d="M4.5 6A1.5 1.5 0 0 1 6 4.5h12A1.5 1.5 0 0 1 19.5 6v9a1.5 1.5 0 0 1-1.5 1.5H10'
    'l-4.5 3.5v-3.5H6A1.5 1.5 0 0 1 4.5 15z"/>',
    "gear": '<circle cx="12" cy="12" r="3"/><path d="M12 3v2.5M12 18.5V21M3 12h2.5M18.5 12H21'
    'M5.6 5.6l1.8 1.8M16.6 16.6l1.8 1.8M5.6 18.4l1.8-1.8M16.6 7.4l1.8-1.8"/>',
    "chip": '<rect x="6.5" y="6.5" width="11" height="11" rx="1.5"/><rect x="9.5" y="9.5" width="5"'
    ' height="5"/><path d="M9.5 3.5v3M14.5 3.5v3M9.5 17.5v3M14.5 17.5v3M3.5 9.5h3M3.5 14.5h3'
    'M17.5 9.5h3M17.5 14.5h3"/>',
    "external": '<path d="M13.5 4.5h6v6M19.5 4.5l-8 8"/><path d="M17.5 14v4.5a1 1 0 0 1-1 1h-11'
    'a1 1 0 0 1-1-1v-11a1 1 0 0 1 1-1H10"/>',
    "left": '<path d="M14.5 6 8.5 12l6 6"/>',
    "right": '<path d="M9.5 6l6 6-6 6"/>',
    "close": '<path d="M6.5 6.5l11 11M17.5 6.5l-11 11"/>',
    "zoom-in": '<circle cx="10.5" cy="10.5" r="6"/><path d="M15 15l5 5M8 10.5h5M10.5 8v5"/>',
    "zoom-out": '<circle cx="10.5" cy="10.5" r="6"/><path d="M15 15l5 5M8 10.5h5"/>',
    "edit": '<path d="M4.5 19.5l1-4 10-10 3 3-10 10z"/><path d="M13.5 7.5l3 3"/>',
    "book": '<path d="M4.5 5.5A1.5 1.5 0 0 1 6 4h5.5v15.5H6a1.5 1.5 0 0 0-1.5 1.5z'
    'M19.5 5.5A1.5 1.5 0 0 0 18 4h-5.5v15.5H18a1.5 1.5 0 0 1 1.5 1.5z"/>',
    "upload": '<path d="M12 15.5V4.5M7.5 9 12 4.5 16.5 9"/><path d="M4.5 15v3.5a1 1 0 0 0 1 1h13'
    'a1 1 0 0 0 1-1V15"/>',
    "warning": '<path d="M12 4 3 19.5h18z"/><path d="M12 10v4.5M12 17v.5"/>',
    "check": '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
    "sources": '<path d="M5 5.5h14M5 10h14M5 14.5h9M5 19h6"/>',
    "dots": '<circle cx="6" cy="12" r="1.3" fill="currentColor"/><circle cx="12" cy="12" r="1.3"'
    ' fill="currentColor"/><circle cx="18" cy="12" r="1.3" fill="currentColor"/>',
}


def svg(name: str, color: str) -> bytes:
    body = _PATHS[name].replace("currentColor", color)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
        f'stroke="{color}" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round">'
        f"{body}</svg>"
    ).encode()


_ENGINES: list[QIconEngine] = []
"""Every icon engine made, kept alive: a QIcon owns its engine, but PySide 6.11 still frees the
Python side of an engine whose last Python reference goes, and the icon's destructor then
touches freed memory (a crash when a button's icon is replaced). A few hundred bytes each."""


class _SvgEngine(QIconEngine):
    """Renders the SVG at whatever size and pixel ratio is asked for."""

    def __init__(self, name: str, color: str | None) -> None:
        super().__init__()
        self._name = name
        self._color = color
        _ENGINES.append(self)

    def _renderer(self, mode: QIcon.Mode) -> QSvgRenderer:
        c = self._color or theme.colors().text
        if mode == QIcon.Mode.Disabled:
            c = theme.colors().muted
        return QSvgRenderer(QByteArray(svg(self._name, c)))

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        self._renderer(mode).render(painter, QRectF(rect))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pm = QPixmap(size)
        pm.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pm)
        self._renderer(mode).render(painter, QRectF(0, 0, size.width(), size.height()))
        painter.end()
        return pm

    def clone(self) -> QIconEngine:
        return _SvgEngine(self._name, self._color)


def icon(name: str, color: str | None = None) -> QIcon:
    """A theme-coloured line icon (`color` overrides, e.g. white on the accent button)."""
    return QIcon(_SvgEngine(name, color))


@cache
def app_icon() -> QIcon:
    """Hearth's own icon, from resources/icons (SVG scales; PNG as a fallback)."""
    folder = icons_dir()
    result = QIcon()
    svg_file = folder / "hearth.svg"
    if svg_file.exists():
        result.addFile(str(svg_file))
    for size in (16, 32, 64, 128, 256, 512):
        png = folder / f"hearth-{size}.png"
        if png.exists():
            result.addFile(str(png), QSize(size, size))
    return result

"""Light and dark looks that follow the system's colour scheme.

Fusion style with a palette of our own, so the window looks the same on every desktop, plus a
small style sheet for the few things a palette cannot say (rounded cards, the accent button).
`HEARTH_THEME=light|dark` or the `theme` entry in the settings overrides the system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Colors:
    dark: bool
    window: str
    sidebar: str
    base: str
    alt: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    accent_soft: str
    user_bubble: str
    highlight: str
    danger: str
    danger_soft: str
    success: str
    link: str


LIGHT = Colors(
    dark=False,
    window="#f7f6f4",
    sidebar="#efedea",
    base="#ffffff",
    alt="#f9f8f6",
    text="#1f2328",
    muted="#6a6f76",
    border="#dedbd6",
    accent="#d4551f",
    accent_text="#ffffff",
    accent_soft="#fbe6da",
    user_bubble="#f1ece6",
    highlight="#ffd54a",
    danger="#b42318",
    danger_soft="#fdecea",
    success="#2e7d32",
    link="#b8471a",
)

DARK = Colors(
    dark=True,
    window="#1c1d20",
    sidebar="#17181a",
    base="#242529",
    alt="#2a2b30",
    text="#e8e6e3",
    muted="#9a9da3",
    border="#3a3b40",
    accent="#ef7a3f",
    accent_text="#1b1b1b",
    accent_soft="#4a2e20",
    user_bubble="#2f2c2a",
    highlight="#c9a227",
    danger="#f27d72",
    danger_soft="#3d2523",
    success="#81c784",
    link="#f29a66",
)

_current: Colors = LIGHT


def colors() -> Colors:
    """The colours in use now (widgets that paint themselves read these)."""
    return _current


def system_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # Unknown: judge by the platform's own window colour.
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 110


def choose(preference: str | None = None) -> Colors:
    """'light', 'dark' or 'system' (HEARTH_THEME wins, for tests and screenshots)."""
    pref = (os.environ.get("HEARTH_THEME") or preference or "system").lower()
    if pref == "dark":
        return DARK
    if pref == "light":
        return LIGHT
    return DARK if system_prefers_dark() else LIGHT


def palette_for(c: Colors) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    group = QPalette.ColorGroup
    for r, value in (
        (role.Window, c.window),
        (role.WindowText, c.text),
        (role.Base, c.base),
        (role.AlternateBase, c.alt),
        (role.ToolTipBase, c.base),
        (role.ToolTipText, c.text),
        (role.PlaceholderText, c.muted),
        (role.Text, c.text),
        (role.Button, c.base if not c.dark else c.alt),
        (role.ButtonText, c.text),
        (role.BrightText, c.danger),
        (role.Link, c.link),
        (role.LinkVisited, c.link),
        (role.Highlight, c.accent),
        (role.HighlightedText, c.accent_text),
        (role.Light, c.base),
        (role.Midlight, c.alt),
        (role.Mid, c.border),
        (role.Dark, c.border),
        (role.Shadow, "#000000"),
        (role.Accent, c.accent),
    ):
        p.setColor(r, QColor(value))
    disabled = QColor(c.muted)
    disabled.setAlpha(160)
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, disabled)
    return p


def style_sheet(c: Colors) -> str:
    return f"""
    QWidget#Sidebar {{ background: {c.sidebar}; }}
    QWidget#Sidebar QListView {{ background: transparent; border: none; outline: 0; }}
    QLabel#SectionLabel {{ color: {c.muted}; font-weight: 600; letter-spacing: 0.5px; }}
    QLabel#Muted {{ color: {c.muted}; }}
    QLabel#Title {{ font-size: 15pt; font-weight: 600; }}
    QLabel#Hero {{ font-size: 22pt; font-weight: 600; }}
    QLabel#Error {{ color: {c.danger}; }}
    QFrame#Card {{ background: {c.base}; border: 1px solid {c.border}; border-radius: 10px; }}
    QFrame#DropTarget {{
        background: {c.base}; border: 2px dashed {c.border}; border-radius: 16px;
    }}
    QFrame#DropTarget[active="true"] {{ border-color: {c.accent}; background: {c.accent_soft}; }}
    QFrame#DropOverlay {{
        background: {_rgba(c.accent_soft, 235)}; border: 3px dashed {c.accent}; border-radius: 18px;
    }}
    QFrame#Banner {{ background: {c.accent_soft}; border: 1px solid {c.border}; border-radius: 8px; }}
    QFrame#ErrorBanner {{ background: {c.danger_soft}; border: 1px solid {c.danger};
        border-radius: 8px; }}
    QFrame#UserBubble {{ background: {c.user_bubble}; border-radius: 12px; }}
    QFrame#AssistantBubble {{ background: {c.base}; border: 1px solid {c.border};
        border-radius: 12px; }}
    QFrame#AssistantBubble[state="error"] {{ border-color: {c.danger}; }}
    QFrame#Composer {{ background: {c.base}; border: 1px solid {c.border}; border-radius: 12px; }}
    QFrame#Composer[focus="true"] {{ border-color: {c.accent}; }}
    QFrame#Composer QPlainTextEdit {{ background: transparent; border: none; }}
    QTextBrowser#MessageBody {{ background: transparent; border: none; }}
    QFrame#Separator {{ background: {c.border}; max-height: 1px; min-height: 1px; }}
    QPushButton {{
        padding: 5px 12px; border: 1px solid {c.border}; border-radius: 6px;
        background: {c.base if not c.dark else c.alt};
    }}
    QPushButton:hover {{ border-color: {c.accent}; }}
    QPushButton:disabled {{ color: {c.muted}; }}
    QPushButton[primary="true"] {{
        background: {c.accent}; color: {c.accent_text}; border: 1px solid {c.accent};
        font-weight: 600;
    }}
    QPushButton[primary="true"]:disabled {{ background: {c.border}; border-color: {c.border}; }}
    QPushButton[flat="true"], QToolButton {{ border: none; background: transparent; padding: 4px; }}
    QToolButton:hover, QPushButton[flat="true"]:hover {{
        background: {_rgba(c.muted, 40)}; border-radius: 6px;
    }}
    QToolButton:checked {{ background: {_rgba(c.accent, 50)}; border-radius: 6px; }}
    QTabWidget::pane {{ border: none; }}
    QTabBar::tab {{ padding: 6px 14px; border: none; color: {c.muted};
        border-bottom: 2px solid transparent; }}
    QTabBar::tab:selected {{ color: {c.text}; border-bottom: 2px solid {c.accent}; }}
    QTableView {{ border: 1px solid {c.border}; border-radius: 8px; gridline-color: {c.border};
        selection-background-color: {c.accent_soft}; selection-color: {c.text}; }}
    QHeaderView::section {{ background: {c.alt}; border: none;
        border-bottom: 1px solid {c.border}; padding: 4px 8px; font-weight: 600; }}
    QProgressBar {{ border: none; background: {c.border}; border-radius: 3px; max-height: 6px; }}
    QProgressBar::chunk {{ background: {c.accent}; border-radius: 3px; }}
    QStatusBar {{ color: {c.muted}; }}
    QSplitter::handle {{ background: {c.border}; }}
    QSplitter::handle:horizontal {{ width: 1px; }}
    QSplitter::handle:vertical {{ height: 1px; }}
    QScrollArea {{ border: none; background: transparent; }}
    QScrollBar:vertical {{ background: transparent; width: 11px; margin: 0; }}
    QScrollBar:horizontal {{ background: transparent; height: 11px; margin: 0; }}
    QScrollBar::handle:vertical {{ background: {_rgba(c.muted, 110)}; border-radius: 4px;
        min-height: 32px; margin: 2px; }}
    QScrollBar::handle:horizontal {{ background: {_rgba(c.muted, 110)}; border-radius: 4px;
        min-width: 32px; margin: 2px; }}
    QScrollBar::handle:hover {{ background: {_rgba(c.muted, 170)}; }}
    QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; border: none; }}
    QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
    QScrollArea > QWidget > QWidget#ChatCanvas {{ background: transparent; }}
    """


def _rgba(hex_color: str, alpha: int) -> str:
    q = QColor(hex_color)
    return f"rgba({q.red()}, {q.green()}, {q.blue()}, {alpha})"


def apply(app: QApplication, preference: str | None = None) -> Colors:
    """Style the whole application; call again when the system scheme changes."""
    global _current
    _current = choose(preference)
    app.setStyle("Fusion")
    app.setPalette(palette_for(_current))
    app.setStyleSheet(style_sheet(_current))
    return _current

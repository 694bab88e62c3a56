"""Nested layouts, added to their parent before they are filled.

When a layout that already holds widgets is added to another, PySide walks its items and keeps
a Python wrapper for each. Qt deletes those items with their widgets (a chat message replaced,
a dialog closed) without telling PySide, and a later Qt object at the same address can come back
as the stale wrapper: the clipboard arriving as a ``QWidgetItem``. A layout added while still
empty gets no such wrappers, so every nested layout in the app is made with :func:`nested`.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QBoxLayout, QLayout

L = TypeVar("L", bound=QLayout)


def nested(parent: QBoxLayout, child: L, stretch: int = 0) -> L:
    """Add the empty layout ``child`` to ``parent`` and return it, ready to be filled."""
    parent.addLayout(child, stretch)
    return child

"""Hearth's desktop front end (PySide6): drop documents in, ask, read the cited pages.

The app shows engine state and forwards user intent through `engine.Hearth`; long work runs
off the GUI thread in `app.worker`. Start it with `hearth-app` or `python -m app`.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from app.main import main as _main

    return _main(argv)

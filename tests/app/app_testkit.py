"""Helpers for the desktop app's tests: drops, waiting for background work, event-loop gaps."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.window import MainWindow

WAIT_MS = 240_000
"""Upper bound for background work in a test (embedding on a busy 2-core machine)."""


def close_window(window: MainWindow) -> None:
    """What quitting does: save state, stop and join the worker threads."""
    window.shutdown()
    window.close()
    QApplication.processEvents()


def wait_idle(qtbot, window: MainWindow, timeout: int = WAIT_MS) -> None:
    """Wait until no background work is queued or running (the window keeps processing)."""
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=timeout)
    QApplication.processEvents()


def drop(window: QWidget, paths: list[Path], *, leave_overlay: bool = False) -> None:
    """Drag files onto the window and drop them, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(window.width() // 2, window.height() // 2)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the window refused the drag"
    if leave_overlay:
        return
    event = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, event)


class LoopWatch:
    """Ticks a 10 ms timer on the GUI thread and records the gaps between ticks."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> LoopWatch:
        self._last = time.perf_counter()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()

    @property
    def longest(self) -> float:
        return max(self.gaps, default=0.0)

    def report(self, artifacts: Path, name: str) -> dict[str, float]:
        data = {
            "ticks": len(self.gaps),
            "longest_gap_s": round(self.longest, 4),
            "median_gap_s": round(sorted(self.gaps)[len(self.gaps) // 2], 4) if self.gaps else 0.0,
            "gaps_over_100ms": sum(g > 0.1 for g in self.gaps),
        }
        (artifacts / f"{name}.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        print(f"event loop during {name}: {data}")
        return data


# A three-page manual that chat, sources and verdict tests ask about.
MANUAL_PAGES = [
    [("h1", "Installation"), ("p", "A qualified technician installs the boiler on a solid wall.")],
    [
        ("h1", "Descaling"),
        (
            "p",
            "To descale the espresso machine, fill the water tank with a citric acid solution "
            "and run the descaling program until the tank is empty. Rinse twice with clean water.",
        ),
    ],
    [("h1", "Warranty"), ("p", "The warranty lasts two years from the date of purchase.")],
]

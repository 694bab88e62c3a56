"""Fixtures for the desktop app's tests: a real window on a real Hearth home, offscreen.

Every window is built on the test's own empty HEARTH_HOME (tests/conftest.py), runs real engine
work in its worker threads, and is shut down (threads joined, files closed) after the test.
Screenshots go to `<artifacts>/screenshots`; the run prints that folder at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from app_testkit import close_window
from PySide6.QtWidgets import QApplication, QSpacerItem, QWidget, QWidgetItem
from shiboken6 import Shiboken
from support.tiny_gguf import write_tiny_gguf

from app import theme
from app.window import MainWindow
from engine.facade import Hearth


@pytest.fixture(autouse=True)
def no_layout_item_wrappers() -> Iterator[None]:
    """Fail a test whose widgets left PySide holding wrappers of layout items.

    Qt deletes layout items without telling PySide, so such a wrapper can later stand for
    another object at the same address (app/layouts.py says how the app avoids them).
    """
    yield
    held = [o for o in Shiboken.getAllValidWrappers() if isinstance(o, QWidgetItem | QSpacerItem)]
    assert not held, (
        f"PySide holds {len(held)} layout item wrappers; build nested layouts with app.layouts.nested"
    )


@pytest.fixture(scope="session")
def screenshots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def shot(screenshots: Path) -> Callable[[QWidget, str], Path]:
    """Save a PNG of a widget (as it would be painted on screen) and return its path."""

    def save(widget: QWidget, name: str) -> Path:
        for _ in range(3):  # signals, then the layout requests they post
            QApplication.processEvents()
        path = screenshots / f"{name}.png"
        assert widget.grab().save(str(path)), f"could not write {path}"
        print(f"screenshot: {path}")
        return path

    return save


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight llama GGUF (about 0.8 MB) that llama.cpp loads and streams text from.

    Its long context lets an answer run for seconds, so a test can stop it half-way.
    """
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-chat.gguf", n_ctx=8192)


@pytest.fixture
def open_window(
    qapp: QApplication, qtbot, hearth_home: Path
) -> Iterator[Callable[..., MainWindow]]:
    """Open Hearth's main window on the test's home; call again after closing to "restart"."""
    opened: list[tuple[MainWindow, Hearth]] = []

    def make(*, dark: bool = False) -> MainWindow:
        theme.apply(qapp, "dark" if dark else "light")
        hearth = Hearth(hearth_home)
        window = MainWindow(hearth)
        qtbot.addWidget(window)
        window.resize(1240, 800)
        window.show()
        qtbot.waitExposed(window)
        opened.append((window, hearth))
        return window

    yield make
    for window, hearth in opened:
        close_window(window)
        hearth.close()
    theme.apply(qapp, "light")

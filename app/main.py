"""Start Hearth's desktop app: `hearth-app [--home DIR] [--theme light|dark|system]`.

The window opens before any heavy library loads: torch, sentence-transformers and llama.cpp
are imported by the engine only when the first document is indexed or question asked, and
then off the GUI thread.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from engine.offline import go_offline

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow
    from engine.facade import Hearth


log = logging.getLogger("app")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hearth-app", description="Hearth: chat with your documents, offline."
    )
    parser.add_argument(
        "--home", type=Path, help="data folder (default: HEARTH_HOME or the user data folder)"
    )
    parser.add_argument(
        "--theme", choices=("system", "light", "dark"), help="override the colour theme"
    )
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders to index on start")
    args, _unknown = parser.parse_known_args(argv)  # Qt's own options pass through
    return args


def qt_problem() -> str | None:
    """Why the installed Qt binding cannot run Hearth, if it cannot."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        shiboken = version("shiboken6")
    except PackageNotFoundError:
        return "Hearth's window needs PySide6. Install it with: pip install 'PySide6>=6.7,<6.12'"
    if shiboken.startswith("6.12.0") and sys.version_info < (3, 12):
        # Its wrappers return None, True and False without taking a reference, which only
        # immortal objects (Python 3.12+) survive: the process dies after a few thousand calls.
        return (
            f"PySide6 {shiboken} does not work with Python "
            f"{sys.version_info.major}.{sys.version_info.minor}: it crashes after a few seconds. "
            "Install an earlier version with: pip install 'PySide6>=6.7,<6.12'"
        )
    return xcb_problem()


XCB_PACKAGES = (
    "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 "
    "libxcb-image0 libxkbcommon-x11-0"
)
"""Debian/Ubuntu packages Qt's X11 plugin needs; desktop systems have them already."""


def xcb_problem() -> str | None:
    """Why Qt's X11 plugin cannot load, if the window would use it (Qt would just abort)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    if not os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    import ctypes
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt/plugins/platforms/libqxcb.so"
    if not plugin.exists():
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return (
            f"the window cannot open on this X11 display: a system library is missing ({exc}). "
            f"On Debian or Ubuntu install them with: sudo apt-get install {XCB_PACKAGES}"
        )
    return None


def _setup_logging(home: Path) -> None:
    logs = home / "logs"
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        logs.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logs / "app.log", encoding="utf-8"))
    except OSError:
        pass
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def _install_excepthook() -> None:
    """An unexpected exception in a slot is shown to the user, not only printed."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("unexpected error:\n%s", text)
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is not None:
            box = QMessageBox(QMessageBox.Icon.Critical, "Hearth", f"Something went wrong: {value}")
            box.setInformativeText("Hearth keeps running. The details are in the log.")
            box.setDetailedText(text)
            box.exec()

    sys.excepthook = hook


def launch(argv: list[str] | None = None) -> tuple[QApplication, Hearth, MainWindow]:
    """Create the application, open the Hearth home and show the window; returns all three."""
    go_offline()
    started = time.perf_counter()
    args = parse_args(argv if argv is not None else sys.argv[1:])
    problem = qt_problem()
    if problem:
        print(f"hearth-app: {problem}", file=sys.stderr)
        raise SystemExit(2)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Hearth")
    app.setApplicationDisplayName("Hearth")
    app.setOrganizationName("Hearth")
    app.setDesktopFileName("hearth")

    from app import icons, theme
    from engine.errors import HearthError
    from engine.facade import Hearth

    app.setWindowIcon(icons.app_icon())
    try:
        hearth = Hearth(args.home)
    except (HearthError, OSError) as exc:
        QMessageBox.critical(None, "Hearth", f"Hearth cannot open its data folder: {exc}")
        raise SystemExit(1) from exc
    _setup_logging(hearth.paths.home)
    if args.theme:
        os.environ["HEARTH_THEME"] = args.theme
    theme.apply(app, str(hearth.settings.extra.get("theme") or "system"))

    from app.window import MainWindow

    window = MainWindow(hearth)
    window.show()
    log.info("window shown %.2f s after start", time.perf_counter() - started)
    if args.paths:
        window.add_paths(args.paths)
    return app, hearth, window


def main(argv: list[str] | None = None) -> int:
    """Console entry point `hearth-app`."""
    app, hearth, window = launch(argv)
    _install_excepthook()
    try:
        return int(app.exec())
    finally:
        window.shutdown()
        hearth.close()


if __name__ == "__main__":
    raise SystemExit(main())

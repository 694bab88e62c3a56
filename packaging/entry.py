"""The one entry point of Hearth's bundle: the same program is the CLI, the window and the trainer.

The bundle holds `hearth` (console) and `hearth-app` (a windowed executable on Windows and
macOS, a symbolic link to `hearth` on Linux); the name the program was started as says which
front end to run.
Fine-tuning runs as its own process started as `sys.executable -m trainer ...`, exactly as from
a checkout; in the bundle `sys.executable` is one of these programs, so `-m trainer` (and
`-m engine`, `-m app`) are honoured here.

`HEARTH_SCREENSHOT=FILE.png hearth-app` opens the window, saves a picture of it to FILE.png,
writes FILE.png.json (when the window was shown, whether torch was loaded by then) and quits:
the release check uses it to prove the installed app starts, and how fast.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

MODULES = {"trainer": "trainer.cli", "engine": "engine.cli", "app": "app.main"}


def _role(argv: list[str]) -> tuple[str, list[str]]:
    """Which front end to run and with which arguments."""
    if len(argv) >= 2 and argv[0] == "-m" and argv[1] in MODULES:
        return argv[1], argv[2:]
    names = {Path(p.replace("\\", "/")).stem.lower() for p in (sys.argv[0], sys.executable)}
    if any(n.endswith("-app") for n in names) or os.environ.get("HEARTH_FROZEN_ROLE") == "app":
        return "app", argv
    return "engine", argv


def _screenshot(target: Path) -> int:
    """Open the window, save a picture of it and quit (see the module docstring)."""
    import json
    import time

    from PySide6.QtCore import QTimer

    from app.main import launch

    qapp, hearth, window = launch(sys.argv[1:])
    shown = time.time()
    torch_loaded = "torch" in sys.modules

    def grab() -> None:
        window.grab().save(str(target))
        facts = {"window_shown": shown, "torch_loaded_at_window": torch_loaded}
        Path(f"{target}.json").write_text(json.dumps(facts), encoding="utf-8")
        qapp.quit()

    QTimer.singleShot(1500, grab)  # let the first layout and paint settle
    try:
        qapp.exec()
    finally:
        window.shutdown()
        hearth.close()
    return 0 if target.exists() else 1


def main() -> int:
    multiprocessing.freeze_support()
    role, args = _role(sys.argv[1:])
    # The front ends read sys.argv themselves (Qt takes its own options from it, too).
    sys.argv = [sys.argv[0], *args]
    from engine.offline import go_offline

    go_offline()
    if role == "trainer":
        from trainer.cli import main as run
    elif role == "app":
        if os.environ.get("HEARTH_SCREENSHOT"):
            return _screenshot(Path(os.environ["HEARTH_SCREENSHOT"]))
        from app.main import main as run
    else:
        from engine.cli import main as run
    return int(run() or 0)


if __name__ == "__main__":
    sys.exit(main())

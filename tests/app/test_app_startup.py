"""First start: the window opens fast, without heavy libraries, on an inviting empty state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from app.main import qt_problem

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    from app.main import launch
    app, hearth, window = launch([])
    app.processEvents()
    shown = time.perf_counter() - started
    heavy = [m for m in ("torch", "sentence_transformers", "transformers", "llama_cpp", "faiss",
                         "unstructured", "pymupdf") if m in sys.modules]
    print(json.dumps({"seconds_to_window": shown, "visible": window.isVisible(),
                      "page": window.stack.currentWidget() is window.welcome, "heavy": heavy}))
    window.shutdown()
    hearth.close()
    """
)


def test_window_opens_before_any_heavy_library_loads(hearth_home: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HEARTH_HOME=str(hearth_home))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"time to first window: {result['seconds_to_window']:.2f} s")
    assert result["visible"] and result["page"]
    assert result["heavy"] == [], f"loaded on the GUI thread before the window: {result['heavy']}"


def test_installed_qt_binding_is_usable() -> None:
    assert qt_problem() is None


def test_first_run_invites_to_drop_documents(open_window, shot) -> None:
    window = open_window()
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.samples_button.isVisible()
    assert window.sidebar.no_collections.isVisible()
    assert window.library.collections.rowCount() == 0
    shot(window, "01-empty")


def test_first_run_in_dark_palette(open_window, shot) -> None:
    window = open_window(dark=True)
    assert window.palette().window().color().lightness() < 80
    assert window.stack.currentWidget() is window.welcome
    shot(window, "01-empty-dark")

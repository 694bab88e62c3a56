"""The module graph carries the design: the engine runs without the desktop app, Qt or the
trainer's stack, and the trainer never imports the app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level module names imported anywhere in a package, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_engine_imports_neither_qt_nor_the_app_nor_the_trainer() -> None:
    files = _imports("engine")
    assert len(files) > 20  # the scan really saw the package
    offenders = {
        f: names & {"PySide6", "PyQt5", "PyQt6", "app", "trainer"}
        for f, names in files.items()
        if names & {"PySide6", "PyQt5", "PyQt6", "app", "trainer"}
    }
    assert offenders == {}


def test_the_trainer_never_imports_the_app_or_qt() -> None:
    files = _imports("trainer")
    assert len(files) > 10
    offenders = {f: n & {"PySide6", "app"} for f, n in files.items() if n & {"PySide6", "app"}}
    assert offenders == {}


def test_every_engine_module_imports_on_its_own() -> None:
    """No import cycles: each module of the engine can be the first one imported."""
    modules = [
        ".".join(Path(f).with_suffix("").parts).removesuffix(".__init__")
        for f in _imports("engine")
        if not f.endswith("__main__.py")
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'engine' or m.startswith('engine.')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]

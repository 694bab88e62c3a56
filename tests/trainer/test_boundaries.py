"""The trainer stays a separate process: it never imports the desktop app or Qt."""

from __future__ import annotations

import ast
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[2] / "trainer"


def test_trainer_never_imports_the_app_or_qt() -> None:
    offenders = []
    for path in sorted(TRAINER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("app", "PySide6", "PyQt5", "PyQt6"):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
    assert len(list(TRAINER.glob("*.py"))) > 10  # the scan really saw the package

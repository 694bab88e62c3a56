"""Where Hearth's shipped resources are: prompts, presets, sample documents, icons.

In a checkout or an editable install they are in `resources/` beside the packages; in a
PyInstaller bundle, in the bundle's data folder.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def samples_dir() -> Path:
    return resources_dir() / "samples"


def prompts_dir() -> Path:
    return resources_dir() / "prompts"


def presets_dir() -> Path:
    return resources_dir() / "presets"


def icons_dir() -> Path:
    return resources_dir() / "icons"

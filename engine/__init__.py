"""Hearth's engine: documents, collections, retrieval, models and chat — no Qt.

Everything goes through the facade, `engine.Hearth`; long operations yield the events of
`engine.events`. Heavy libraries load inside the functions that need them.
"""

from __future__ import annotations

from engine.config import Paths, Settings
from engine.errors import HearthError
from engine.events import CancelToken
from engine.facade import DocumentInfo, Hearth

__version__ = "0.1.0"

__all__ = [
    "CancelToken",
    "DocumentInfo",
    "Hearth",
    "HearthError",
    "Paths",
    "Settings",
    "__version__",
]

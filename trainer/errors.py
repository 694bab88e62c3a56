"""Errors a person can meet while preparing data or training, each saying what to change."""

from __future__ import annotations

from pathlib import Path

from engine.errors import HearthError


class ConfigError(HearthError):
    """A training configuration or preset is invalid; the message names the setting."""


class DatasetError(HearthError):
    """A dataset file cannot be used as it is; the message names the file and line."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class EmptyDataset(DatasetError):
    pass


class MissingColumn(DatasetError):
    pass


class BadRow(DatasetError):
    """A row that is not valid JSON or not a usable conversation."""


class RowTooLong(DatasetError):
    pass


class DoesNotFit(HearthError):
    """The run would need more memory than the machine has; the message says what to change."""


class ExportError(HearthError):
    """The adapter cannot be written in a form llama.cpp applies to the base model."""


class RunNotFound(HearthError):
    def __init__(self, run: str) -> None:
        super().__init__(
            f"There is no training run '{run}'. `python -m trainer runs` lists the runs."
        )
        self.run = run

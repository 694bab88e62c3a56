"""Errors a user can meet, each with a message a person can act on."""

from __future__ import annotations


class HearthError(Exception):
    """Base of every error Hearth reports to a user; str(error) is the message to show."""


class CollectionNotFound(HearthError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"There is no collection named '{name}'. "
            "Create it by ingesting documents into it, or list collections with `hearth status`."
        )
        self.name = name


class CollectionExists(HearthError):
    def __init__(self, name: str) -> None:
        super().__init__(f"A collection named '{name}' already exists. Choose another name.")
        self.name = name


class DocumentError(HearthError):
    """A document could not be read; the reason says why and what to do."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


class UnsupportedFormat(DocumentError):
    pass


class EmptyDocument(DocumentError):
    pass


class EncryptedDocument(DocumentError):
    pass


class ScannedDocument(DocumentError):
    pass


class CorruptDocument(DocumentError):
    pass


class ModelError(HearthError):
    """A chat model could not be added, found or loaded."""


class ModelNotFound(ModelError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"No model named '{name}' is installed. "
            "Add one with `hearth models add FILE.gguf`; `hearth models list` shows what is installed."
        )
        self.name = name


class ModelTooLarge(ModelError):
    pass


class MissingDependency(HearthError):
    """An optional part of Hearth is not installed; the message names the package."""

    def __init__(self, what: str, package: str) -> None:
        super().__init__(
            f"{what} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install {package}"
        )
        self.package = package


class Cancelled(HearthError):
    def __init__(self, what: str = "The operation") -> None:
        super().__init__(f"{what} was cancelled.")

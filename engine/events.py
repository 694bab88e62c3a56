"""Typed events yielded by the engine's long operations, and the cancel flag they honour.

Every long operation (ingest, ask, dataset building) is a generator of these frozen
dataclasses. It checks its `CancelToken` between yields. The engine knows nothing about
threads: the CLI iterates with a progress bar, the app in one worker, tests in a loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path


class CancelToken:
    """A flag set from any thread and checked by a running operation between its steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


# --- ingest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestStarted:
    collection: str
    files_total: int


@dataclass(frozen=True)
class FileStarted:
    path: Path
    index: int
    files_total: int


@dataclass(frozen=True)
class FileIndexed:
    path: Path
    chunks: int
    pages: int | None


@dataclass(frozen=True)
class FileSkipped:
    """A file that needed no work (unchanged since it was indexed)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FileFailed:
    path: Path
    reason: str


@dataclass(frozen=True)
class DocumentRemoved:
    path: Path


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    chunks_done: int
    elapsed_s: float
    chunks_per_s: float
    eta_s: float | None
    current: Path | None = None


@dataclass(frozen=True)
class IngestSummary:
    collection: str
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    failures: tuple[tuple[Path, str], ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per stage: parse, chunk, embed, write."""


@dataclass(frozen=True)
class IngestFinished:
    summary: IngestSummary


# Scanned PDFs: OCR reads their pages ahead of the ingest, seconds a page (engine/ingest/ocr.py).
@dataclass(frozen=True)
class OcrProgress:
    """One scanned page read by OCR."""

    path: Path
    page: int
    """1-based page of `path` that was read."""
    pages_done: int
    pages_total: int
    """Pages to read by OCR in this ingest, over all its files."""
    seconds: float


IngestEvent = (
    IngestStarted
    | FileStarted
    | FileIndexed
    | FileSkipped
    | FileFailed
    | DocumentRemoved
    | IngestProgress
    | IngestFinished
    | OcrProgress
)


# --- retrieval and chat ---------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, with everything needed to cite it and open it at its place."""

    file: Path
    page: int | None
    """1-based page number; None where the format has no pages."""
    score: float
    text: str
    chunk_id: int
    document_id: int
    start: int
    """Character span of the passage in the document's extracted text."""
    end: int
    heading: str = ""
    title: str = ""
    similarity: float | None = None
    """Cosine similarity of passage and question (dense); a relevance measure across queries."""

    def to_json(self) -> dict[str, object]:
        return {
            "file": str(self.file),
            "page": self.page,
            "score": self.score,
            "similarity": self.similarity,
            "text": self.text,
            "heading": self.heading,
            "title": self.title,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Retrieved:
    """The passages an answer will be grounded in, numbered [1]..[n] in this order."""

    sources: tuple[Hit, ...]


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    sources: tuple[Hit, ...]
    cited: tuple[int, ...]
    """1-based numbers of the sources the answer actually cites."""
    model: str | None
    """Name of the model that wrote it; None when no model is installed (passages only)."""
    grounded: bool
    """False when the documents did not hold the answer and the answer says so."""
    cancelled: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds_to_first_token: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "answer": self.text,
            "sources": [dict(h.to_json(), n=i + 1) for i, h in enumerate(self.sources)],
            "cited": list(self.cited),
            "model": self.model,
            "grounded": self.grounded,
            "cancelled": self.cancelled,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds_to_first_token": self.seconds_to_first_token,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Status:
    """A line of what is going on (loading the model, reading the prompt) for the UI."""

    text: str


@dataclass(frozen=True)
class AnswerFinished:
    answer: Answer


ChatEvent = Retrieved | Token | Status | AnswerFinished

"""Typed events yielded by the engine's long operations, and the cancel flag they honour.

Every long operation (ingest, ask, dataset building) is a generator of these frozen
dataclasses. It checks its `CancelToken` between yields. The engine knows nothing about
threads: the CLI iterates with a progress bar, the app in one worker, tests in a loop.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
class FileDuplicate(FileSkipped):
    """A file whose content equals an indexed document's: recorded, not embedded twice."""

    original: Path


@dataclass(frozen=True)
class FileFailed:
    """A file or folder that could not be read, and why (also listed by `hearth status`)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class DocumentRemoved:
    path: Path


@dataclass(frozen=True)
class IngestProgress:
    """Where the run is; sent within a second of the start and every second or two after,
    also while one long file is read or embedded."""

    files_done: int
    """Files finished: indexed, unchanged, duplicate or failed."""
    files_total: int
    chunks_done: int
    """Chunks embedded in this run."""
    elapsed_s: float
    chunks_per_s: float
    eta_s: float | None
    current: Path | None = None
    stage: str = ""
    """"waiting" (another ingest holds the collection), "loading" (the embedding model),
    "reading" (files to text and chunks), "embedding" (chunks to vectors), "saving"."""
    chunks_total: int = 0
    """Chunks of this run written so far; all of them are searchable by keywords."""
    activity: str = ""
    """What is happening, for a person: "Reading big.md: 12 of 50 MB"."""
    file_fraction: float | None = None
    """How far the current file is (0..1), where that is known."""


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
    failures: tuple[FileFailed, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per stage: parse, chunk, embed, write."""
    duplicates: int = 0
    """Files with the content of an indexed document: recorded, not embedded again."""
    missing: tuple[Path, ...] = ()
    """Paths named by the caller that do not exist (reported, not recorded)."""

    @property
    def ok(self) -> bool:
        """Whether every named path and every file found was read (no failure, none missing)."""
        return not self.failed and not self.missing


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
    | FileDuplicate
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
        """The hit as JSON; `Hit.from_json` reads it back to an equal hit."""
        return {
            "file": str(self.file),
            "page": self.page,
            "score": self.score,
            "similarity": self.similarity,
            "text": self.text,
            "heading": self.heading,
            "title": self.title,
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "start": self.start,
            "end": self.end,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Hit:
        """A hit from `to_json`'s form; fields missing from older records get neutral values."""
        page = raw.get("page")
        similarity = raw.get("similarity")
        return cls(
            file=Path(str(raw.get("file", ""))),
            page=int(page) if isinstance(page, (int, float)) else None,
            score=float(raw.get("score") or 0.0),
            text=str(raw.get("text") or ""),
            chunk_id=int(raw.get("chunk_id", -1)),
            document_id=int(raw.get("document_id", -1)),
            start=int(raw.get("start", 0)),
            end=int(raw.get("end", 0)),
            heading=str(raw.get("heading") or ""),
            title=str(raw.get("title") or ""),
            similarity=float(similarity) if isinstance(similarity, (int, float)) else None,
        )


@dataclass(frozen=True)
class Retrieved:
    """The passages an answer will be grounded in, numbered [1]..[n] in this order."""

    sources: tuple[Hit, ...]


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class CheckedSentence:
    """One claim of an answer and the passage that backs it (engine/chat/verify.py)."""

    start: int
    end: int
    """Character span of the sentence in the answer's text."""
    text: str
    verdict: str
    """"supported", "partly_supported" or "not_found"."""
    passage: int | None
    """1-based number of the backing passage among the answer's sources; None when not found."""
    passage_start: int = 0
    passage_end: int = 0
    """Character span of the backing sentence(s) in that passage's text (`Hit.text`)."""
    similarity: float = 0.0
    overlap: float = 0.0
    """Share of the sentence's content words found in the passage."""
    missing: tuple[str, ...] = ()
    """Numbers, names or identifiers of the sentence that the passage does not contain."""
    cited: tuple[int, ...] = ()
    """Passage numbers the model wrote in this sentence."""
    wrong_citations: tuple[int, ...] = ()
    """Of `cited`, those whose passage does not back the sentence."""
    reason: str = ""
    """Why, in words, for a tooltip or the terminal."""
    model_agrees: bool | None = None
    """The chat model's yes/no on the claim, when that second opinion is switched on."""

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "verdict": self.verdict,
            "passage": self.passage,
            "passage_span": [self.passage_start, self.passage_end]
            if self.passage is not None
            else None,
            "similarity": self.similarity,
            "overlap": self.overlap,
            "missing": list(self.missing),
            "cited": list(self.cited),
            "wrong_citations": list(self.wrong_citations),
            "reason": self.reason,
            "model_agrees": self.model_agrees,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CheckedSentence:
        """A checked sentence from `to_json`'s form (as saved with a conversation)."""
        span = raw.get("passage_span") or (0, 0)
        passage = raw.get("passage")
        agrees = raw.get("model_agrees")
        return cls(
            start=int(raw.get("start", 0)),
            end=int(raw.get("end", 0)),
            text=str(raw.get("text") or ""),
            verdict=str(raw.get("verdict") or ""),
            passage=int(passage) if isinstance(passage, int) else None,
            passage_start=int(span[0]),
            passage_end=int(span[1]),
            similarity=float(raw.get("similarity") or 0.0),
            overlap=float(raw.get("overlap") or 0.0),
            missing=tuple(str(m) for m in raw.get("missing") or ()),
            cited=tuple(int(n) for n in raw.get("cited") or ()),
            wrong_citations=tuple(int(n) for n in raw.get("wrong_citations") or ()),
            reason=str(raw.get("reason") or ""),
            model_agrees=agrees if isinstance(agrees, bool) else None,
        )


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
    notes: tuple[str, ...] = ()
    """Things the reader should know about how the answer came about, shown under it
    (for one: "The model started repeating itself — answer cut.")."""
    sentences: tuple[CheckedSentence, ...] = ()
    """The answer's claims, each checked against the sources (empty when nothing was checked)."""
    support: str = ""
    """The answer as a whole: "" (not checked), "supported", "mostly_unsupported" or
    "not_in_documents" (the text is the model's own words, not what the documents say)."""
    notice: str = ""
    """What to show at the top of the answer, such as "Much of this answer is not in your
    documents."; empty when nothing needs saying."""
    check_seconds: float = 0.0

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
            "notes": list(self.notes),
            "support": self.support,
            "notice": self.notice,
            "sentences": [c.to_json() for c in self.sentences],
            "check_seconds": self.check_seconds,
        }


@dataclass(frozen=True)
class Status:
    """A line of what is going on (loading the model, reading the prompt) for the UI."""

    text: str


@dataclass(frozen=True)
class AnswerFinished:
    answer: Answer


@dataclass(frozen=True)
class TurnSaved:
    """A message of a saved conversation was stored: the question before the answer starts,
    the answer (with its sources) once it is finished."""

    conversation_id: int
    message_id: int
    role: str
    """"user" or "assistant"."""


ChatEvent = Retrieved | Token | Status | AnswerFinished | TurnSaved

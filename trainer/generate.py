"""Build a dataset from a collection: the local chat model writes question/answer pairs
grounded in each chunk, and every pair keeps the file and page it came from.

Small local models answer badly often enough: prose instead of JSON, half a list, empty
answers, an error for a passage too long for the context. Such output is skipped and counted by
reason, and the run carries on; only a cancel stops it. The preparation step's grounding check
later drops answers that drifted away from their passage.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.errors import HearthError
from engine.events import CancelToken
from trainer.data import Source
from trainer.events import Prepare

SYSTEM_PROMPT = (
    "You write training data for a document assistant. You read one passage from a document "
    "and write questions a reader could ask about it, each with a correct answer taken only "
    "from the passage. You reply with JSON only."
)

USER_PROMPT = (
    'Passage from "{file}"{page}:\n"""\n{text}\n"""\n\n'
    "Write {n} different questions that this passage answers, each with a complete answer "
    "using only facts from the passage. Reply with a JSON list and nothing else, like this:\n"
    '[{{"question": "...", "answer": "..."}}]'
)

MIN_QUESTION_CHARS = 8
MAX_FIELD_CHARS = 4000


class ChatLike(Protocol):
    """Anything that streams a chat reply (the engine's ChatModel, a scripted one in tests)."""

    def stream_chat(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]: ...


class MalformedOutput(ValueError):
    """The model's reply holds no usable question/answer pair; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GeneratedPair:
    question: str
    answer: str
    source: Source

    def to_json(self) -> dict[str, Any]:
        """A dataset row as `load_dataset` reads it (source passage kept for grounding)."""
        return {
            "instruction": self.question,
            "response": self.answer,
            "source": self.source.text,
            "file": self.source.file,
            "page": self.source.page,
            "heading": self.source.heading,
        }


def _objects(text: str) -> list[Any]:
    """JSON values found in a reply: the whole list, or else each {...} object on its own."""
    cleaned = re.sub(r"```(?:json)?", "", text)
    start, end = cleaned.find("["), cleaned.rfind("]")
    if 0 <= start < end:
        try:
            value = json.loads(cleaned[start : end + 1])
            return value if isinstance(value, list) else [value]
        except json.JSONDecodeError:
            pass
    found = []
    for match in re.finditer(r"\{[^{}]*\}", cleaned):
        try:
            found.append(json.loads(match.group(0)))
        except json.JSONDecodeError:
            continue
    return found


def _field(item: dict[str, Any], names: tuple[str, ...]) -> str:
    for key, value in item.items():
        if str(key).strip().lower() in names and isinstance(value, (str, int, float)):
            return str(value).strip()
    return ""


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """Question/answer pairs in a model's reply (JSON, or "Q: ... A: ..." lines).

    Raises MalformedOutput("no_pairs") when nothing in the reply looks like a pair, and
    MalformedOutput("bad_pairs") when pairs are there but none is usable (empty, too short,
    too long).
    """
    items = [i for i in _objects(text) if isinstance(i, dict)]
    candidates = [(_field(i, ("question", "q")), _field(i, ("answer", "a"))) for i in items]
    if not candidates:
        qa = re.findall(
            r"(?ims)^\s*Q(?:uestion)?\s*[:.]\s*(.+?)\s*^\s*A(?:nswer)?\s*[:.]\s*(.+?)\s*(?=^\s*Q|\Z)",
            text,
        )
        candidates = [(q.strip(), a.strip()) for q, a in qa]
    if not candidates:
        raise MalformedOutput("no_pairs")
    good = [
        (q, a)
        for q, a in candidates
        if len(q) >= MIN_QUESTION_CHARS
        and a
        and len(q) <= MAX_FIELD_CHARS
        and len(a) <= MAX_FIELD_CHARS
    ]
    if not good:
        raise MalformedOutput("bad_pairs")
    return good


def _source(chunk: Any) -> Source:
    file = getattr(chunk, "file", None) or getattr(chunk, "path", None) or ""
    return Source(
        text=str(chunk.text),
        file=str(file),
        page=getattr(chunk, "page", None),
        heading=str(getattr(chunk, "heading", "") or ""),
    )


def generate_pairs(
    chunks: Iterable[Any],
    chat: ChatLike,
    *,
    pairs_per_chunk: int = 2,
    max_tokens: int = 512,
    temperature: float = 0.3,
    min_chunk_chars: int = 120,
    limit: int | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[GeneratedPair | Prepare]:
    """Yield the pairs written for each chunk, and a `Prepare("generate")` count after each.

    `chunks` are objects with `.text` and optionally `.file` (or `.path`), `.page`,
    `.heading`; `limit` stops after that many chunks. The last event is
    `Prepare("generated")` with the final counts: chunks, pairs, and skipped chunks per reason
    (short_chunk, no_pairs, bad_pairs, model_error).
    """
    counts: Counter[str] = Counter()
    for chunk in chunks:
        if cancel is not None and cancel.cancelled:
            counts["cancelled"] = 1
            break
        if limit is not None and counts["chunks"] >= limit:
            break
        counts["chunks"] += 1
        source = _source(chunk)
        if len(source.text.strip()) < min_chunk_chars:
            counts["short_chunk"] += 1
            continue
        page = f", page {source.page}" if source.page else ""
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": USER_PROMPT.format(
                    file=Path(source.file).name or "a document",
                    page=page,
                    text=source.text.strip(),
                    n=pairs_per_chunk,
                ),
            },
        ]
        try:
            reply = "".join(
                chat.stream_chat(messages, max_tokens=max_tokens, temperature=temperature)
            )
            pairs = parse_pairs(reply)[:pairs_per_chunk]
        except MalformedOutput as exc:
            counts[exc.reason] += 1
        except (HearthError, ValueError, RuntimeError):
            # One passage the model cannot handle (too long for its context, a decode error)
            # is counted and skipped; the other passages still get their pairs.
            counts["model_error"] += 1
        else:
            for question, answer in pairs:
                counts["pairs"] += 1
                yield GeneratedPair(question, answer, source)
        yield Prepare(
            "generate",
            f"{counts['pairs']} pairs from {counts['chunks']} passages.",
            dict(counts),
        )
    skipped = sum(counts[k] for k in ("short_chunk", "no_pairs", "bad_pairs", "model_error"))
    yield Prepare(
        "generated",
        f"Wrote {counts['pairs']} question/answer pairs from {counts['chunks']} passages; "
        f"skipped {skipped} passages ({counts['no_pairs'] + counts['bad_pairs']} with "
        f"malformed output, {counts['model_error']} model errors, {counts['short_chunk']} "
        "too short).",
        {**dict(counts), "skipped": skipped},
    )


def write_jsonl(pairs: Iterable[GeneratedPair], path: Path) -> int:
    """Write pairs as a JSONL dataset; return how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n

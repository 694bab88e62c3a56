"""Citation marks in an answer: "[1]", "[2][3]", "[1, 2]", "[2-4]", "[Passage 3]".

An answer cites the numbered passages it was given; these helpers find which numbers it used,
so the interface can link them to the pages they come from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_MARK = re.compile(
    r"\[\s*(?:(?:passages?|sources?|documents?|docs?)\s*)?"
    r"(\d{1,3}(?:\s*(?:,|;|-|–|and)\s*\d{1,3})*)\s*\]",
    re.IGNORECASE,
)
_NUMBER_OR_RANGE = re.compile(r"(\d{1,3})(?:\s*[-–]\s*(\d{1,3}))?")
_MAX_RANGE = 20


def _numbers(body: str) -> list[int]:
    out: list[int] = []
    for m in _NUMBER_OR_RANGE.finditer(body):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        if last < first or last - first > _MAX_RANGE:
            last = first
        out.extend(range(first, last + 1))
    return out


@dataclass(frozen=True)
class CitationMark:
    """One citation mark in a text: where it is and the passage numbers it names."""

    start: int
    end: int
    numbers: tuple[int, ...]


def citation_marks(text: str) -> Iterator[CitationMark]:
    """Every citation mark in `text`, in order (numbers as written, valid or not)."""
    for mark in _MARK.finditer(text):
        yield CitationMark(mark.start(), mark.end(), tuple(_numbers(mark.group(1))))


def parse_citations(text: str, n_sources: int) -> tuple[int, ...]:
    """The 1-based passage numbers `text` cites, in order of first mention, each once.

    Numbers outside 1..n_sources (a model's slip, or a reference copied from a paper) are left
    out, so every number returned points at a real source.
    """
    seen: dict[int, None] = {}
    for mark in citation_marks(text):
        for n in mark.numbers:
            if 1 <= n <= n_sources:
                seen.setdefault(n)
    return tuple(seen)


def strip_citations(text: str) -> str:
    """`text` without its citation marks (for earlier turns, whose numbers no longer apply)."""
    text = re.sub(r"[ \t]*(?:" + _MARK.pattern + r")", "", text, flags=re.IGNORECASE)
    return text.strip()

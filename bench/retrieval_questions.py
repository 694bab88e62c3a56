"""The retrieval benchmark's questions: each names a document, its exact page and evidence.

Questions live in `retrieval_questions.json` as {file, page, question, evidence}: `file` is
the document's path relative to the documents folder, `page` its 1-based page (null for HTML
and Word files, which have no pages), `evidence` a short string that is on that page. They
were written by reading the pages, as a user who roughly knows what to look for would ask:
in their own words, never four words in a row as the page has them.

`check` proves both properties against the pages as PyMuPDF (or the HTML and Word readers)
extracts them. The questions of each document alternate between a tuning half and a held-out
half, so a change tuned on one half is seen on the other.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

QUESTIONS_FILE = Path(__file__).with_name("retrieval_questions.json")

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00ad": "", "∗": "*"})
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Question:
    file: str
    page: int | None
    question: str
    evidence: str
    split: str
    """'tune' or 'held-out'."""


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    """The questions, each document's alternately in the tuning and the held-out half."""
    seen: dict[str, int] = {}
    out = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        n = seen.get(raw["file"], 0)
        seen[raw["file"]] = n + 1
        out.append(
            Question(
                file=raw["file"],
                page=raw["page"],
                question=raw["question"],
                evidence=raw["evidence"],
                split="tune" if n % 2 == 0 else "held-out",
            )
        )
    return out


def normalize(text: str) -> str:
    """Lower case, ligatures and typographic quotes undone, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return " ".join(text.split())


def copied_run(question: str, page: str, *, words: int = 4) -> str | None:
    """The first run of `words` consecutive words of the question found on the page, if any."""
    q = _WORD.findall(normalize(question))
    p = _WORD.findall(normalize(page))
    runs = {tuple(p[i : i + words]) for i in range(len(p) - words + 1)}
    for i in range(len(q) - words + 1):
        if tuple(q[i : i + words]) in runs:
            return " ".join(q[i : i + words])
    return None


def check(questions: list[Question], folder: Path) -> list[str]:
    """Problems found: evidence missing from its page, or a question copying its page."""
    from bench.peer import load_pages

    pages: dict[str, dict[int | None, str]] = {}
    problems = []
    for n, q in enumerate(questions, 1):
        if q.file not in pages:
            pages[q.file] = dict(load_pages(folder / q.file))
        text = pages[q.file].get(q.page)
        where = f"question {n} ({q.file} page {q.page})"
        if text is None:
            problems.append(f"{where}: no such page")
            continue
        if normalize(q.evidence) not in normalize(text):
            problems.append(f"{where}: evidence {q.evidence!r} is not on the page")
        run = copied_run(q.question, text)
        if run is not None:
            problems.append(f"{where}: the question copies '{run}' from the page")
    return problems

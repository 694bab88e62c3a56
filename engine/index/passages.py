"""What the embedder sees of a passage: the one rule, used by ingest, re-embedding and search.

A chunk is stored with its text and its heading path joined by `HEADING_SEPARATOR`. The
embedder sees the heading path above the text, so a passage carries the context of its
section ("Maintenance > Filters" above "Clean it every three months"), unless the text
already starts with its own heading (a chunk that opens its section). Both the ingest and a
change of embedding model build the embedded text from the stored fields through
`embedding_text`, so a re-embedded collection holds exactly the vectors a fresh ingest would.

The embedder reads words, not layout: `embedder_view` drops punctuation that stands outside
words (brackets, quotes, commas, operators, rules of dashes and dots) and keeps what joins a
word (`file.txt`, `well-known`, `snake_case`, `usr/bin`, `don't`). A word-piece tokenizer
spends a token on every such mark: in technical manuals they are about a third of all
tokens, and the embedder's time grows with tokens. Dropping them made indexing 1.4x as fast
with the same pages found (bench/retrieval.py; figures in bench/README.md). Questions pass
through the same view, so both sides are read alike. Stored text and keyword search keep
every character.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

HEADING_SEPARATOR = " > "

_LOOSE_MARKS = re.compile(
    r"[^\w\s]+(?=\s|$)"  # marks that end a word: "end.", "value,", "f(x)"
    r"|(?:(?<=\s)|^)[^\w\s]+"  # marks that start one: "(see", "--verbose", "$HOME"
    r"|[^\w\s.\-_/']+"  # any other mark, even inside a word: "a=b", "x[i]"
)
_SPACE = re.compile(r"\s+")


def heading_text(path: Sequence[str]) -> str:
    """A heading path as it is stored with a chunk: outermost first, joined."""
    return HEADING_SEPARATOR.join(path)


def embedder_view(text: str) -> str:
    """`text` as the embedder reads it: words, numbers and the marks inside words, one space
    between them. A text of marks alone is kept as it is."""
    view = _SPACE.sub(" ", _LOOSE_MARKS.sub(" ", text)).strip()
    return view or text.strip()


def embedding_text(text: str, heading: str) -> str:
    """The text the embedder sees for a chunk with `text` under the stored `heading` path."""
    if heading:
        last = heading.rsplit(HEADING_SEPARATOR, 1)[-1]
        if not text.startswith(last):
            text = f"{heading}\n{text}"
    return embedder_view(text)

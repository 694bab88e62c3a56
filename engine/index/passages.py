"""What the embedder sees of a passage: the one rule, used by ingest and by re-embedding.

A chunk is stored with its text and its heading path joined by `HEADING_SEPARATOR`. The
embedder sees the heading path above the text, so a passage carries the context of its
section ("Maintenance > Filters" above "Clean it every three months"), unless the text
already starts with its own heading (a chunk that opens its section). Both the ingest and a
change of embedding model build the embedded text from the stored fields through
`embedding_text`, so a re-embedded collection holds exactly the vectors a fresh ingest would.
"""

from __future__ import annotations

from collections.abc import Sequence

HEADING_SEPARATOR = " > "


def heading_text(path: Sequence[str]) -> str:
    """A heading path as it is stored with a chunk: outermost first, joined."""
    return HEADING_SEPARATOR.join(path)


def embedding_text(text: str, heading: str) -> str:
    """The text the embedder sees for a chunk with `text` under the stored `heading` path."""
    if not heading:
        return text
    last = heading.rsplit(HEADING_SEPARATOR, 1)[-1]
    if text.startswith(last):
        return text
    return f"{heading}\n{text}"

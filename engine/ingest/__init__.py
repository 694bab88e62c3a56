"""Documents in: parse files into structured text, then cut it into embedder-sized chunks."""

from __future__ import annotations

from engine.ingest.chunk import Chunk, chunk_document
from engine.ingest.parse import (
    MAX_FILE_BYTES,
    Block,
    ParsedDocument,
    is_supported,
    parse_file,
    supported_suffixes,
)

__all__ = [
    "MAX_FILE_BYTES",
    "Block",
    "Chunk",
    "ParsedDocument",
    "chunk_document",
    "is_supported",
    "parse_file",
    "supported_suffixes",
]

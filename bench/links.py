"""Linked folders: the start-up re-check of 10,000 unchanged files, and how soon a change lands.

Run: python -m bench.links [--files 10000]
The folder holds real files (small Markdown notes in 100 sub-folders); the catalogue gets one
record per file with its true size and time, written straight into it (embedding 10,000
notes would take ten minutes and is not what is measured). Measured:

- `changes()`: walk and compare by size and time, nothing to do (the re-check proper);
- the watcher's start: from `Hearth.watch` to every folder watching (re-check plus one
  inotify watch per sub-folder);
- one changed file among the 10,000 at start: found and re-indexed (hash, parse, embed);
- a new file dropped in while watching: from the write to `FileIndexed`, at the default
  debounce (the figure a user feels).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.events import CancelToken, FileIndexed
from engine.facade import Hearth
from engine.index.catalog import DocumentRow, NewChunk
from engine.watch import DEBOUNCE_S, FolderState, changes


def write_folder(root: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        sub = root / f"year-{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        p = sub / f"note-{i:05d}.md"
        p.write_text(f"# Note {i}\n\nThe meter read {i * 7 % 1000} kWh on day {i}.\n")
        paths.append(p)
    return paths


def record(h: Hearth, name: str, paths: list[Path]) -> None:
    """Catalogue records with the files' real size and time, as an earlier ingest leaves them."""
    coll = h._collections.get_or_create(name)
    dim = coll.embedder().dim
    coll.catalog.set_meta("embedding_dim", str(dim))
    vec = np.zeros(dim, dtype=np.float32)
    vec[0] = 1.0
    batch = []
    for p in paths:
        st = p.stat()
        meta = DocumentRow(path=p, kind="markdown", size=st.st_size, mtime=st.st_mtime)
        batch.append((meta, [NewChunk(p.read_text(), "", None, 0, 10, vec)]))
        if len(batch) == 1000:
            coll.catalog.write_batch(batch)
            batch = []
    coll.catalog.write_batch(batch)
    coll.drop_vectors()  # rebuilt from the catalogue on first use


def watch_until(h: Hearth, predicate, *, limit_s: float = 300.0) -> tuple[float, list[object]]:
    token = CancelToken()
    events: list[object] = []
    t0 = time.perf_counter()
    for event in h.watch(cancel=token):
        events.append(event)
        if predicate(event) or time.perf_counter() - t0 > limit_s:
            token.cancel()
    return time.perf_counter() - t0, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-links-"))
    try:
        folder = work / "linked"
        t0 = time.perf_counter()
        paths = write_folder(folder, args.files)
        print(f"wrote {len(paths)} files in 100 folders: {time.perf_counter() - t0:.1f}s")
        with Hearth(work / "home") as h:
            record(h, "Bench", paths)
            h.link_folder(folder, collection="Bench")
            coll = h._collections.get("Bench")

            for run in (1, 2, 3):
                t0 = time.perf_counter()
                new, gone = changes(coll, folder)
                took = time.perf_counter() - t0
                print(f"re-check {run}: {len(new)} changed, {len(gone)} gone, {took:.2f}s")

            took, _ = watch_until(h, lambda e: isinstance(e, FolderState) and e.state == "watching")
            print(f"watcher start to 'watching' (re-check + watches): {took:.2f}s")

            paths[1234].write_text("# Note 1234\n\nThe meter was replaced.\n")
            took, events = watch_until(h, lambda e: isinstance(e, FileIndexed))
            indexed = [e for e in events if isinstance(e, FileIndexed)]
            print(
                f"start with 1 changed file: indexed {[e.path.name for e in indexed]} "
                f"after {took:.2f}s (embedder load included)"
            )

            # Latency of a change while watching, the embedder already loaded.
            token = CancelToken()
            new_file = folder / "year-00" / "new.md"
            written = 0.0
            latency = None
            for event in h.watch(cancel=token):
                if isinstance(event, FolderState) and event.state == "watching" and not written:
                    new_file.write_text("# New\n\nA new reading of the gas meter.\n")
                    written = time.perf_counter()
                elif isinstance(event, FileIndexed) and written:
                    latency = time.perf_counter() - written
                    token.cancel()
            print(
                f"new file while watching → indexed: {latency:.2f}s "
                f"(debounce {DEBOUNCE_S}s included)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

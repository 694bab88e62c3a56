"""An ingest killed (SIGKILL) at 20 random moments never leaves a broken collection.

The child process runs a real ingest (real embedder, SQLite, FAISS) over a small corpus that
touches every stage: plain files, a duplicate, a damaged file, a large file read as a stream.
It announces when it is inside a write transaction and inside the vector index save, so some
kills land exactly there; the others land after a random number of events. After each kill
the collection must open, pass `PRAGMA integrity_check`, have every indexed document findable
by its keyword and in the vector index, and the next run must finish with the exact count.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.index.collection import Collection
from engine.index.vectors import VectorIndex

CHILD = r"""
import json, sys, time
from pathlib import Path

import engine.index.catalog as catalog
import engine.index.vectors as vectors
import engine.ingest.pipeline as pipeline
import engine.ingest.plaintext as plaintext
from engine import Hearth
from engine.events import IngestFinished

pipeline.STREAM_BYTES = 6_000      # the large file is read as a stream, part by part
plaintext.PART_CHARS = 2_000
pipeline.SAVE_EVERY_S = 0.0        # the vector index is saved after every group

bump = catalog.Catalog._bump_vectors_version
def slow_bump(conn):  # called inside each write transaction, before COMMIT
    print("STAGE write", flush=True)
    time.sleep(0.05)
    bump(conn)
catalog.Catalog._bump_vectors_version = staticmethod(slow_bump)

class SlowOs:
    def __getattr__(self, name):
        import os
        return getattr(os, name)
    def replace(self, src, dst):  # the atomic step of the vector index save
        import os
        print("STAGE save", flush=True)
        time.sleep(0.05)
        os.replace(src, dst)
vectors.os = SlowOs()

h = Hearth(sys.argv[1])
coll = h._collection("k", create=True)
for event in pipeline.ingest_paths(coll, [Path(sys.argv[2])], batch_chunks=4):
    if isinstance(event, IngestFinished):
        s = event.summary
        print("SUMMARY " + json.dumps(
            {"indexed": s.indexed, "skipped": s.skipped, "duplicates": s.duplicates,
             "failed": s.failed}), flush=True)
    else:
        print("EVENT " + type(event).__name__, flush=True)
h.close()
"""


def make_corpus(folder: Path, rng: random.Random) -> int:
    """Write the corpus; returns the number of files."""
    folder.mkdir(parents=True, exist_ok=True)
    words = "boiler valve filter pump radiator meter fuse gate shed attic cellar window".split()
    for i in range(10):
        body = " ".join(rng.choice(words) for _ in range(60))
        (folder / f"note-{i:02d}.txt").write_text(f"Note kw{i:02d}x. {body}.\n")
    (folder / "note-dup.txt").write_text((folder / "note-00.txt").read_text())
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    sections = [
        f"## Part {i}\n\nThe cellar part {i} holds crate kw9{i:02d}y.\n" for i in range(120)
    ]
    (folder / "large.md").write_text("# Cellar\n\n" + "\n".join(sections))
    return 13


def change_some(folder: Path, rng: random.Random, round_: int) -> None:
    """Give the next run work to do: new content in a few files."""
    for i in rng.sample(range(1, 10), 3):
        path = folder / f"note-{i:02d}.txt"
        path.write_text(f"Note kw{i:02d}x, revision {round_}. The pump was serviced.\n")


def check(folder: Path) -> None:
    """Every invariant a kill must not break."""
    coll = Collection(folder)  # opening drops what a stopped run left half-done
    cat = coll.catalog
    conn = cat._conn()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        conn.execute("SELECT COUNT(*) FROM documents WHERE status = 'pending'").fetchone()[0] == 0
    )
    chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0] == chunks
    assert (
        conn.execute("SELECT COUNT(*) FROM chunks WHERE length(embedding) = 0").fetchone()[0] == 0
    )
    vectors = VectorIndex.open(folder / "vectors.faiss", 384, cat)
    assert vectors.size == chunks
    for doc in cat.documents():
        n = conn.execute("SELECT COUNT(*) FROM chunks WHERE document_id = ?", (doc.id,)).fetchone()
        assert n[0] == doc.chunks, doc.path
        if doc.status == "duplicate":
            assert doc.duplicate_of is not None
        if doc.status != "indexed":
            continue
        assert doc.chunks > 0
        ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (doc.id,))]
        for chunk_id in ids:  # in the vector index: found by meaning
            vec = cat.embeddings([chunk_id], 384)[0]
            assert chunk_id in [i for i, _ in vectors.search(vec, 5)]
        if doc.path.name.startswith("note-") and doc.path.name != "note-dup.txt":
            keyword = doc.path.stem.split("-")[1]
            hits = cat.keyword_search(f'"kw{keyword}x"', 5)  # and by its keyword
            assert set(ids) & {i for i, _ in hits}, doc.path
    cat.close()


@pytest.mark.slow
def test_twenty_random_kills_leave_a_consistent_collection_that_completes(
    hearth_home: Path, tmp_path: Path
) -> None:
    rng = random.Random(20)
    folder = tmp_path / "corpus"
    files = make_corpus(folder, rng)
    home = tmp_path / "home"
    collection = home / "collections" / "k"
    where: list[str] = []
    for round_ in range(20):
        mode = ("write", "save", "event", "event")[round_ % 4]
        target = rng.randint(1, 12) if mode != "event" else rng.randint(2, 60)
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home), str(folder)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        seen = 0
        last = ""
        for line in proc.stdout:
            last = line.strip()
            if (mode == "event" and last.startswith("EVENT")) or last == f"STAGE {mode}":
                seen += 1
            if seen == target:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=120)
        where.append(f"{mode}#{target}:{last}" if proc.returncode < 0 else f"{mode}:finished")
        check(collection)
        change_some(folder, rng, round_)

    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    summary = json.loads(done.stdout.split("SUMMARY ", 1)[1].splitlines()[0])
    assert (
        summary["indexed"] + summary["skipped"] + summary["duplicates"] + summary["failed"] == files
    )
    check(collection)
    coll = Collection(collection)
    states = [d.status for d in coll.catalog.documents()]
    coll.catalog.close()
    assert len(states) == files
    assert (states.count("indexed"), states.count("duplicate"), states.count("failed")) == (
        11,
        1,
        1,
    )
    kills = [w for w in where if not w.endswith(":finished")]
    assert len(kills) >= 15, where  # nearly every round was cut short somewhere
    assert any("write" in w for w in kills) and any("save" in w for w in kills), where

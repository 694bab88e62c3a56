"""The indexing panel shows what the engine is doing, also while it waits or reads one big file."""

from __future__ import annotations

from pathlib import Path

from app.models import IngestModel
from app.progress_view import IngestPanel
from engine.events import FileStarted, IngestProgress, IngestStarted


def _progress(
    stage: str, activity: str, *, done: int = 0, embedded: int = 0, written: int = 0
) -> IngestProgress:
    return IngestProgress(
        files_done=done,
        files_total=2,
        chunks_done=embedded,
        elapsed_s=1.0,
        chunks_per_s=0.0,
        eta_s=None,
        current=Path("/docs/big.md") if stage != "waiting" else None,
        stage=stage,
        activity=activity,
        chunks_total=written,
    )


def test_panel_shows_waiting_and_progress_inside_a_file(qtbot) -> None:
    model = IngestModel()
    panel = IngestPanel(model)
    qtbot.addWidget(panel)
    model.begin("Home", "Indexing")
    model.handle(IngestStarted("Home", 2))
    model.handle(_progress("waiting", "Waiting for another indexing run into “Home” to finish"))
    assert panel.activity.text().startswith("Waiting for another indexing run")
    assert not panel.activity.isHidden()
    assert panel.bar.maximum() == 0  # a busy indicator, not a bar stuck at 0 %

    model.handle(FileStarted(Path("/docs/big.md"), 0, 2))
    model.handle(_progress("reading", "Reading big.md: 12 of 50 MB"))
    assert panel.activity.text() == "Reading big.md: 12 of 50 MB"
    assert model.files("reading") == [Path("/docs/big.md")]  # not "embedding" while read
    assert not panel.detail.text().startswith("Searchable")  # nothing written yet
    model.handle(_progress("reading", "Reading big.md: 40 of 50 MB", written=700))
    assert panel.detail.text().startswith("Searchable by keywords · ")
    # Every file is read, then embedded: the title and the bar follow the pass under way.
    model.handle(FileStarted(Path("/docs/small.md"), 1, 2))
    model.handle(_progress("reading", "Read small.md", written=900))
    assert panel.title.text() == "Reading 2 of 2 files into “Home”"
    assert panel.bar.value() == 500
    model.handle(_progress("embedding", "Embedding: 90 of 900 passages", embedded=90, written=900))
    assert model.files("embedding") == [Path("/docs/big.md")]
    assert panel.title.text() == "Indexing 1 of 2 files into “Home”"
    assert panel.bar.value() == 100  # passages embedded, not files finished
    assert panel.detail.text().startswith(
        "Searchable by keywords, meaning-based search 10% ready · "
    )
    assert panel.bar.maximum() == 1000

"""The `hearth` command line, driven in-process on real documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.documents import make_pdf

from engine.cli import main


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(
        folder / "boiler.pdf",
        [
            [("h1", "Safety"), ("p", "Never block the flue of the boiler.")],
            [("h1", "Pressure"), ("p", "Top up the boiler when the pressure falls below one bar.")],
        ],
    )
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a PDF")
    return folder


def test_ingest_search_status_and_ask_without_a_model(
    hearth_home: Path, library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file failed (broken.pdf): the summary is printed and the exit code says so.
    assert main(["ingest", str(library), "-c", "house", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "1 indexed" in out and "1 failed" in out and "broken.pdf" in out

    assert main(["search", "boiler pressure too low", "-c", "house", "--json", "-k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["file"] == str(library / "boiler.pdf")
    assert hits[0]["page"] == 2
    assert {"file", "page", "score", "text"} <= set(hits[0])
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    assert main(["status", "-c", "house", "--json"]) == 0
    [status] = json.loads(capsys.readouterr().out)
    assert status["documents"] == 1 and status["failed"] == 1
    assert status["failures"][0]["file"] == str(library / "broken.pdf")
    assert status["failures"][0]["reason"]

    # No chat model installed: the answer is the cited passages and says how to add a model.
    assert main(["ask", "What should the boiler pressure be?", "-c", "house", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] is None and answer["grounded"]
    assert "[1]" in answer["answer"] and "hearth models add" in answer["answer"]
    assert answer["sources"][0]["page"] == 2


def test_errors_are_messages_with_an_exit_code(
    hearth_home: Path, library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "anything", "-c", "missing"]) == 1
    assert "no collection named 'missing'" in capsys.readouterr().err
    main(["ingest", str(library), "-c", "house", "--quiet"])
    capsys.readouterr()
    assert main(["ask", "pressure?", "-c", "house", "--model", "nope"]) == 1
    assert "No model named 'nope'" in capsys.readouterr().err
    assert main(["models", "add", str(library / "boiler.pdf")]) == 1
    assert "GGUF" in capsys.readouterr().err


def test_train_is_recognised_only_as_the_command() -> None:
    from engine.cli import _command_index

    assert _command_index(["--home", "/x", "train", "--base", "m"]) == 2
    assert _command_index(["search", "train"]) == 0
    assert _command_index(["--home=/x", "ask", "how to train"]) == 1
    assert _command_index([]) is None

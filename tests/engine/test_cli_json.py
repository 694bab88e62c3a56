"""Every `--json` output of the command line is one JSON document and nothing else, so scripts
can pipe it straight into a parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.documents import make_pdf

from engine.cli import main


@pytest.fixture
def home_with_a_document_and_a_model(tmp_path: Path, tiny_gguf: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "boiler.pdf", [[("h1", "Pressure"), ("p", "Keep the boiler at 1.5 bar.")]])
    assert main(["ingest", str(docs), "-c", "house", "--quiet"]) == 0
    assert main(["models", "add", str(tiny_gguf), "--name", "tiny"]) == 0
    return docs


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "boiler pressure", "-c", "house", "--json"],
        ["status", "--json"],
        ["status", "-c", "house", "--json"],
        ["models", "list", "--json"],
        ["models", "info", "tiny", "--json"],
        ["ask", "What pressure?", "-c", "house", "--model", "tiny", "--json"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_json_output_is_one_document(
    home_with_a_document_and_a_model: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    document = json.loads(out)  # raises if anything but one JSON document was printed
    assert document

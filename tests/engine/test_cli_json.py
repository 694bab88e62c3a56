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


def test_the_terminal_marks_the_sentences_its_documents_do_not_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from engine.cli import _print_checks
    from engine.events import Answer, CheckedSentence

    def checked(text: str, verdict: str, reason: str = "") -> CheckedSentence:
        return CheckedSentence(
            0, len(text), text, verdict, 1 if verdict != "not_found" else None, reason=reason
        )

    made_up = checked("The pump needs oil.", "not_found", "No passage says this.")
    answer = Answer(
        question="q",
        text="…",
        sources=(),
        cited=(),
        model="m",
        grounded=True,
        sentences=(
            checked("Keep it at 1.5 bar.", "supported"),
            made_up,
            made_up,
            checked("It runs at 3 bar.", "partly_supported", "The passage does not say 3."),
        ),
        notice="Much of this answer is not in your documents.",
    )
    _print_checks(answer)
    out = capsys.readouterr().out
    assert "⚠ Much of this answer is not in your documents." in out
    assert "1 of 4 sentences backed" in out
    assert "✗ “The pump needs oil.” (×2) — No passage says this." in out
    assert "~ “It runs at 3 bar.” — The passage does not say 3." in out
    assert "1.5 bar" not in out  # backed sentences are not listed

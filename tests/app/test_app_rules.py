"""Where the window and the command line must agree: the default collection and citations."""

from __future__ import annotations

import json
from pathlib import Path

from app_testkit import drop, wait_idle
from support.documents import make_pdf

from app.text import link_citations
from engine.cli import main


def test_a_file_dropped_on_the_window_is_found_by_hearth_ask(
    open_window, qtbot, tmp_path: Path, capsys
) -> None:
    make_pdf(tmp_path / "boiler.pdf", [[("h1", "Pressure"), ("p", "Keep the boiler at 1.5 bar.")]])
    window = open_window()
    drop(window, [tmp_path / "boiler.pdf"])
    qtbot.waitUntil(lambda: window.library.current is not None, timeout=60_000)
    wait_idle(qtbot, window)
    window.hearth.close()  # the command line opens the same home in its own right

    assert main(["ask", "What pressure should the boiler have?", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["sources"][0]["file"] == str(tmp_path / "boiler.pdf")


def test_every_citation_form_the_engine_reads_becomes_a_link() -> None:
    linked = link_citations("Reset it [2-4]; see also [Passage 1] and [1; 2].", 4)
    for n in (1, 2, 3, 4):
        assert f"(cite:{n})" in linked
    assert "[2-4]" not in linked and "Passage" not in linked
    assert link_citations("Out of range [9].", 4) == "Out of range [9]."
    assert link_citations("```\ncode [1]\n```", 4) == "```\ncode [1]\n```"

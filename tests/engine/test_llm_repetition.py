"""The repetition guard: loops of words, phrases, lines and characters are caught where they
begin; ordinary answers (lists, tables, emphasis) are left alone."""

from __future__ import annotations

import pytest

from engine.llm.repetition import RepetitionGuard, find_loop

PROSE = (
    "Top up the boiler when the pressure falls below one bar [1]. Open the filling loop "
    "slowly, watch the gauge, and close it at 1.5 bar. It is very, very important not to "
    "overfill it [2].\n\n| step | what |\n| --- | --- |\n| 1 | open |\n| 2 | close |\n"
    "Steps:\n1. Open the valve.\n2. Wait.\n3. Close the valve.\n"
)


def test_ordinary_answers_pass() -> None:
    assert find_loop(PROSE) is None
    assert find_loop("Yes, yes, yes! The filter is cleaned yearly.") is None
    assert find_loop("| --- " * 40 + "|") is None, "a wide table border is not a loop"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("CSV files store data. " + "data " * 150, "CSV files store data."),
        (
            "Open the valve. " + "Turn the knob to the left and wait. " * 6,
            "Open the valve. Turn the knob to the left and wait.",
        ),
        (
            "Steps:\n1. Turn the knob carefully.\n2. Turn the knob carefully.\n"
            "3. Turn the knob carefully.\n4. Turn",
            "Steps:\n1. Turn the knob carefully.",
        ),
        ("Result: " + "ab" * 200, "Result: ab"),
    ],
)
def test_loops_are_cut_after_their_first_round(text: str, kept: str) -> None:
    loop = find_loop(text)
    assert loop is not None
    assert text[: loop.cut].strip() == kept


def test_the_guard_fires_while_streaming_not_at_the_end() -> None:
    guard = RepetitionGuard()
    pieces = ["The ", "filter ", "holds ", "data. "] + ["data "] * 200
    fired_at = next(i for i, piece in enumerate(pieces) if guard.feed(piece) is not None)
    assert fired_at < 30, "a loop is stopped within a few rounds, long before the token limit"


def test_a_long_sentence_said_again_is_a_loop() -> None:
    said = "The config file format is XML, which a text editor such as Notepad can change."
    text = f"Fonts live in /etc/fonts. {said}\n\nThe cache holds patterns. {said} More."
    loop = find_loop(text)
    assert loop is not None
    assert text[: loop.cut].rstrip().endswith("The cache holds patterns.")
    assert find_loop("Close it. Close it. Open the valve, then close it again.") is None

"""Citation marks in answers become the numbers of real sources."""

from __future__ import annotations

import pytest

from engine.chat.citations import parse_citations, strip_citations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The pump runs at 3 bar [1].", (1,)),
        ("Close the valve [2][3], then reset it [1].", (2, 3, 1)),
        ("Both say so [1, 2]; one adds a warning [3].", (1, 2, 3)),
        ("See [2; 4] and again [2].", (2, 4)),
        ("Steps are in [2-4].", (2, 3, 4)),
        ("As [Passage 3] and [source 1] state.", (3, 1)),
        ("[ 5 ] is last.", (5,)),
        ("No marks here, nor in brackets [like this].", ()),
        ("Out of range [7] and [0] are dropped, [2] stays.", (2,)),
        ("A year [2019] is not a source.", ()),
    ],
)
def test_parse_citations(text: str, expected: tuple[int, ...]) -> None:
    assert parse_citations(text, n_sources=5) == expected


def test_strip_citations() -> None:
    assert strip_citations("It runs at 3 bar [1]. Close it [2][3] first.") == (
        "It runs at 3 bar. Close it first."
    )

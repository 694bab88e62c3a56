"""Noticing a model that has started to repeat itself, while its reply streams.

Small models sometimes fall into a loop: the same word ("data data data …"), the same phrase,
or the same line over and over until the token limit. Sampling penalties make that rarer;
`RepetitionGuard` catches what is left, from the text alone (so it works for any chat model),
and says where the loop began so the answer can be cut just before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REPETITION_NOTE = "The model started repeating itself — answer cut."

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Loop:
    """A loop found in a reply: `cut` is where to end the answer (after the first round)."""

    cut: int
    """Characters of the text to keep: everything before the second round of the loop."""
    what: str
    """The repeated unit, shortened, for logs and tests."""


class RepetitionGuard:
    """Feed it the streamed text piece by piece; `check` reports a loop once one shows.

    Four kinds of loop are caught:
    - the same sentence of `min_sentence_words` words or more, a second time (SmolLM2 wrote
      "The config file format is XML, which can be manipulated by …" once per paragraph);
    - the same run of 1 to `max_period` words repeated back to back, at least
      `max(min_rounds, min_words / period)` times ("data data data …", "the water the water …");
    - the same line (digits ignored, so "1. data" and "2. data" match) `max_same_lines` times;
    - a text of no spaces at all that repeats a short unit for `min_chars` characters.
    Normal prose does not trigger these: a word repeats back to back at most two or three times,
    and a list rarely holds the same line three times.
    """

    def __init__(
        self,
        *,
        max_period: int = 40,
        min_rounds: int = 3,
        min_words: int = 12,
        max_same_lines: int = 3,
        min_line_chars: int = 12,
        min_chars: int = 160,
        min_sentence_words: int = 10,
    ) -> None:
        self.max_period = max_period
        self.min_rounds = min_rounds
        self.min_words = min_words
        self.max_same_lines = max_same_lines
        self.min_line_chars = min_line_chars
        self.min_chars = min_chars
        self.min_sentence_words = min_sentence_words
        self.text = ""
        self._sentences: set[str] = set()
        self._sentence_start = 0
        self._lines: dict[str, tuple[int, int]] = {}
        """Normalised complete line -> (times seen, character offset of its first end)."""
        self._line_start = 0

    def feed(self, piece: str) -> Loop | None:
        """Add `piece` to the text seen so far; the loop found, if any."""
        self.text += piece
        return self.check()

    def check(self) -> Loop | None:
        return (
            self._same_sentences()
            or self._same_lines()
            or self._repeated_words()
            or self._repeated_chars()
        )

    def _same_sentences(self) -> Loop | None:
        for end in _SENTENCE_END.finditer(self.text, self._sentence_start):
            start = self._sentence_start
            self._sentence_start = end.end()
            sentence = self.text[start : end.end()]
            words = _DIGITS.sub("#", sentence).casefold().split()
            if len(words) < self.min_sentence_words:
                continue
            key = " ".join(words)
            if key in self._sentences:
                lead = len(sentence) - len(sentence.lstrip())
                return Loop(cut=start + lead, what=key[:60])
            self._sentences.add(key)
        return None

    def _same_lines(self) -> Loop | None:
        while True:
            end = self.text.find("\n", self._line_start)
            if end < 0:
                return None
            line = self.text[self._line_start : end]
            self._line_start = end + 1
            key = " ".join(_DIGITS.sub("#", line).split()).casefold()
            if len(key) < self.min_line_chars:
                continue
            seen, first_end = self._lines.get(key, (0, end))
            self._lines[key] = (seen + 1, first_end)
            if seen + 1 >= self.max_same_lines:
                return Loop(cut=first_end, what=key[:60])

    def _repeated_words(self) -> Loop | None:
        # Only the tail can hold a loop that the previous pieces did not already show.
        tail_words = max(self.max_period * self.min_rounds, self.min_words) + 1
        matches = list(_WORD.finditer(self.text[-tail_words * 24 :]))[-tail_words:]
        offset = max(0, len(self.text) - tail_words * 24)
        words = [m.group().casefold().strip(".,;:!?\"'()[]") for m in matches]
        n = len(words)
        for period in range(1, min(self.max_period, n // self.min_rounds) + 1):
            needed = max(self.min_rounds, -(-self.min_words // period))
            if needed * period > n:
                continue
            unit = words[n - period :]
            if not any(any(c.isalnum() for c in w) for w in unit):
                continue  # rules and table borders ("| --- | --- |") are not a loop
            rounds = 1
            while (rounds + 1) * period <= n and (
                words[n - (rounds + 1) * period : n - rounds * period] == unit
            ):
                rounds += 1
            if rounds >= needed:
                first = n - rounds * period
                second = matches[first + period]
                return Loop(cut=offset + second.start(), what=" ".join(unit)[:60])
        return None

    def _repeated_chars(self) -> Loop | None:
        tail = self.text[-self.min_chars :]
        if len(tail) < self.min_chars or any(c.isspace() for c in tail):
            return None
        for period in range(1, 17):
            if tail[period:] == tail[:-period]:
                text, start = self.text, len(self.text) - self.min_chars
                while start > 0 and text[start - 1] == text[start - 1 + period]:
                    start -= 1  # back to where the run began
                return Loop(cut=start + period, what=tail[:period])
        return None


def find_loop(text: str) -> Loop | None:
    """The first loop in a whole text, as `RepetitionGuard` would have found it streaming."""
    guard = RepetitionGuard()
    for word in re.findall(r"\S+\s*|\s+", text):
        loop = guard.feed(word)
        if loop is not None:
            return loop
    return None

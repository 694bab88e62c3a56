"""Deterministic, document-like text for benchmarks: headings, paragraphs, numbered steps.

The words follow a Zipf-like distribution over a technical vocabulary, so tokenization,
keyword search and chunking behave as on real manuals rather than on random characters.
"""

from __future__ import annotations

import random
from pathlib import Path

_WORDS = """the of and to a in is for that on with as be by this are it or from at can you
your an if not when use device system power settings press button select menu screen display
battery charge cable connect network wireless signal mode reset restore default factory update
software firmware version install remove replace cover panel front back side top bottom left
right switch light indicator status error message warning caution note check make sure before
after during while until then again turn off on hold seconds minutes hours temperature range
operating storage humidity water dust clean cloth dry soft liquid spray surface unit model
number serial label warranty service support contact dealer center repair parts accessory
adapter supply voltage current frequency input output port connector audio video signal volume
level adjust increase decrease value option feature function setting program schedule timer
clock date time language region account password security access user profile data file backup
memory card storage capacity format transfer copy delete folder image photo record playback
speed quality resolution channel source picture sound speaker microphone headphone remote
control sensor motor pump filter valve pressure flow tank hose nozzle blade belt gear lever
handle lock release open close door lid tray drawer shelf rack mount bracket screw bolt nut
washer tool wrench screwdriver install procedure step follow instructions figure table section
chapter appendix page guide manual reference specifications dimensions weight material steel
plastic aluminum rubber glass fabric maintenance inspection interval replace monthly yearly
daily weekly hazard risk injury damage fire shock electric ground outlet circuit breaker fuse
""".split()

_HEADINGS = """Overview|Safety information|Getting started|Installation|Connecting the unit|
Basic operation|Advanced settings|Maintenance|Cleaning|Troubleshooting|Specifications|
Warranty|Updating the firmware|Network setup|Power management|Error codes|Accessories|
Storage and transport|Frequently asked questions|Technical data""".replace("\n", "").split("|")


class Corpus:
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        n = len(_WORDS)
        self.weights = [1.0 / (i + 1) ** 0.9 for i in range(n)]

    def sentence(self) -> str:
        k = self.rng.randint(8, 24)
        words = self.rng.choices(_WORDS, weights=self.weights, k=k)
        if self.rng.random() < 0.3:
            words.insert(
                self.rng.randrange(k), f"{self.rng.choice('ABCDEFXZ')}-{self.rng.randint(10, 999)}"
            )
        return " ".join(words).capitalize() + "."

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(3, 7)))

    def heading(self) -> str:
        return self.rng.choice(_HEADINGS)

    def page(self, chars: int = 2800) -> list[tuple[str, str]]:
        """A page as (kind, text) blocks: a heading now and then, paragraphs to ~chars."""
        blocks: list[tuple[str, str]] = []
        if self.rng.random() < 0.5:
            blocks.append(("heading", self.heading()))
        total = 0
        while total < chars:
            p = self.paragraph()
            blocks.append(("text", p))
            total += len(p)
        return blocks


def write_pdf(path: Path, pages: int, *, seed: int = 0) -> Path:
    """A text PDF of `pages` pages, each about 2,800 characters (a typical manual page)."""
    import pymupdf as fitz

    corpus = Corpus(seed)
    doc = fitz.open()
    for _ in range(pages):
        page = doc.new_page()
        y = 60.0
        for kind, text in corpus.page():
            size = 15 if kind == "heading" else 9.5
            rect = fitz.Rect(50, y, page.rect.width - 50, page.rect.height - 40)
            spare = page.insert_textbox(rect, text, fontsize=size, fontname="helv")
            if spare < 0:
                break
            y = rect.y1 - spare + size * 0.8
    doc.save(path)
    return path

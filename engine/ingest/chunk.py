"""Cut a parsed document into chunks the embedder can take whole.

Chunks are measured in the embedder's own tokens (a chunk longer than the model's window is
silently truncated, and its tail never searched). The rules, in order:

- a chunk never crosses a page, and a section (a heading and the blocks under it) starts a
  new chunk, except that tiny sections (a lone heading, a stray line) join their neighbour
  on the same page;
- a section longer than `max_tokens` is split into windows of even size, each ending at the
  best break in reach: a heading inside a merged section, then a paragraph (block) boundary,
  then a sentence or line, then a word; consecutive windows of a section overlap by up to
  `overlap_tokens`, starting at a sentence or word;
- every chunk keeps its page, its exact character span in the document's text and its
  heading path;
- table-of-contents entries (blocks of kind "contents") are not passages: they stay in the
  document's text, no chunk spans across one, and only a document made of nothing else is
  chunked from them.

Each block is tokenized once (one batched call for the whole document); windows are chosen on
the tokens' offsets, never by re-tokenizing text in a loop. A last batched pass re-counts the
chunk texts and trims any chunk a tokenizer counts differently in context.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from engine.index.embed import plain_tokenizer
from engine.ingest.document import Block, ParsedDocument

# Priority of a break before a token: higher is a better place to end a chunk.
_NONE, _WORD, _SENTENCE, _BLOCK, _HEADING = 0, 1, 2, 3, 4

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*\s+")
_LINE_START = re.compile(r"\n\s*")
_PARAGRAPH_START = re.compile(r"\n[ \t]*\n\s*")
_LINE_KINDS = frozenset({"list", "table", "code"})


@dataclass(frozen=True)
class Chunk:
    """A passage to embed and index: exact span of the document text, page and headings."""

    text: str
    page: int | None
    start: int
    """Character span in `ParsedDocument.text`: text == doc.text[start:end]."""
    end: int
    heading_path: tuple[str, ...]


@dataclass
class _Section:
    """Tokens of consecutive blocks on one page: character spans and break priorities.

    `members` lists (first token, heading path) of the sections merged into this one.
    """

    page: int | None
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    prio: list[int] = field(default_factory=list)
    members: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts)

    def add_block(self, block: Block, offsets: list[tuple[int, int]], first: int, gap: int) -> None:
        """Add a block's tokens (absolute offsets); the first `gap` come from the text before it.

        That text is markup between blocks (Markdown's `## `, a rule): it lies inside any chunk
        spanning the two blocks, so its tokens count, and a break goes before it.
        """
        rel_starts = [s - block.start for s, _ in offsets[gap:]]
        prio = [first]
        for i in range(1, len(offsets)):
            prio.append(_WORD if offsets[i][0] > offsets[i - 1][1] else _NONE)
        breaks = [(_SENTENCE, m.end()) for m in _SENTENCE_END.finditer(block.text)]
        if block.kind in _LINE_KINDS:
            breaks += [(_SENTENCE, m.end()) for m in _LINE_START.finditer(block.text)]
        breaks += [(_BLOCK, m.end()) for m in _PARAGRAPH_START.finditer(block.text)]
        for level, at in breaks:
            j = bisect_left(rel_starts, at)
            if 0 < j < len(rel_starts) and prio[gap + j] < level:
                prio[gap + j] = level
        self.starts.extend(s for s, _ in offsets)
        self.ends.extend(e for _, e in offsets)
        self.prio.extend(prio)

    def absorb(self, later: _Section) -> None:
        """Append a following section of the same page; the seam is a heading break."""
        shift = len(self)
        self.members.extend((shift + i, path) for i, path in later.members)
        later_prio = list(later.prio)
        later_prio[0] = _HEADING
        self.starts.extend(later.starts)
        self.ends.extend(later.ends)
        self.prio.extend(later_prio)

    def path_at(self, token: int) -> tuple[str, ...]:
        firsts = [first for first, _ in self.members]
        return self.members[max(0, bisect_right(firsts, token) - 1)][1]


def chunk_document(
    doc: ParsedDocument, *, tokenizer: Any, max_tokens: int = 200, overlap_tokens: int = 32
) -> list[Chunk]:
    """Cut `doc` into chunks of at most `max_tokens` tokens of `tokenizer` (no special tokens).

    `tokenizer` is a Hugging Face `tokenizers.Tokenizer` (or an object with a
    `backend_tokenizer`, as a transformers fast tokenizer has).
    """
    if max_tokens < 16:
        raise ValueError("max_tokens must be at least 16")
    if not 0 <= overlap_tokens < max_tokens // 2:
        raise ValueError("overlap_tokens must be at least 0 and under half of max_tokens")
    plain = plain_tokenizer(tokenizer)
    blocks = [b for b in doc.blocks if b.text.strip()]
    # Table-of-contents entries cut the document into runs chunked apart, so that no chunk
    # (whose text is a span of the document) reaches across one.
    runs = [
        list(run)
        for entries, run in itertools.groupby(blocks, key=lambda b: b.kind == "contents")
        if not entries
    ] or [blocks]
    chunks = [c for run in runs for c in _chunk_run(doc, run, plain, max_tokens, overlap_tokens)]
    return _enforce_limit(chunks, doc.text, plain, max_tokens)


def _chunk_run(
    doc: ParsedDocument, blocks: list[Block], plain: Any, max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Chunks of consecutive blocks of `doc`, before the limit is enforced."""
    if not blocks:
        return []
    # Text between blocks that is not just space (source-mode formats keep markup there).
    gaps: list[tuple[int, int] | None] = [None]
    for before, block in itertools.pairwise(blocks):
        end = before.start + len(before.text)
        between = doc.text[end : block.start]
        gaps.append((end, block.start) if between and not between.isspace() else None)
    gap_spans = [g for g in gaps if g is not None]
    encodings = plain.encode_batch(
        [b.text for b in blocks] + [doc.text[s:e] for s, e in gap_spans],
        add_special_tokens=False,
    )
    gap_encodings = iter(encodings[len(blocks) :])

    sections: list[_Section] = []
    for block, encoding, gap_span in zip(blocks, encodings, gaps, strict=False):
        offsets = [(block.start + s, block.start + e) for s, e in encoding.offsets if e > s]
        if not offsets:
            if gap_span is not None:
                next(gap_encodings)
            continue
        gap = 0
        if gap_span is not None:
            gap_offsets = [
                (gap_span[0] + s, gap_span[0] + e) for s, e in next(gap_encodings).offsets if e > s
            ]
            gap = len(gap_offsets)
            offsets = gap_offsets + offsets
        last = sections[-1] if sections else None
        if (
            last is None
            or block.kind == "heading"
            or last.page != block.page
            or last.members[-1][1] != block.heading_path
        ):
            last = _Section(page=block.page, members=[(0, block.heading_path)])
            sections.append(last)
            first = _HEADING
        else:
            first = _BLOCK
        last.add_block(block, offsets, first, gap)

    min_tokens = min(24, max_tokens // 4)
    chunks: list[Chunk] = []
    for unit in _merge_tiny(sections, min_tokens):
        for s, e in _windows(unit.prio, len(unit), max_tokens, overlap_tokens, min_tokens):
            start, end = unit.starts[s], unit.ends[e - 1]
            chunks.append(
                Chunk(
                    text=doc.text[start:end],
                    page=unit.page,
                    start=start,
                    end=end,
                    heading_path=unit.path_at((s + e - 1) // 2),
                )
            )
    return chunks


def _merge_tiny(sections: list[_Section], min_tokens: int) -> list[_Section]:
    """Join sections under `min_tokens` to the next section on their page (else the previous)."""
    merged: list[_Section] = []
    carry: _Section | None = None
    for section in sections:
        if carry is not None:
            if carry.page == section.page:
                carry.absorb(section)
                section = carry
            elif merged and merged[-1].page == carry.page:
                merged[-1].absorb(carry)
            else:
                merged.append(carry)
            carry = None
        if len(section) < min_tokens:
            carry = section
        else:
            merged.append(section)
    if carry is not None:
        if merged and merged[-1].page == carry.page:
            merged[-1].absorb(carry)
        else:
            merged.append(carry)
    return merged


def _windows(
    prio: list[int], n: int, max_tokens: int, overlap: int, min_tokens: int
) -> list[tuple[int, int]]:
    """Token ranges [s, e) covering 0..n: even sizes, each ending at the best break in reach.

    A break that would leave fewer than `min_tokens` after it is not taken (a tiny section
    merged at the end would otherwise come back as a chunk of its own).
    """
    if n <= max_tokens:
        return [(0, n)]
    out: list[tuple[int, int]] = []
    step = max_tokens - overlap
    s = 0
    while n - s > max_tokens:
        remaining = n - s
        count = math.ceil((remaining - overlap) / step)
        target = math.ceil((remaining + (count - 1) * overlap) / count)
        low = s + max(overlap + 1, int(target * 0.6))
        high = s + max_tokens
        if n - low >= min_tokens:
            high = min(high, n - min_tokens)
        ideal = s + target
        end, best = high, (-1, 0)
        for e in range(low, high + 1):
            key = (prio[e], -abs(e - ideal))
            if key > best:
                best, end = key, e
        out.append((s, end))
        if overlap == 0 or prio[end] >= _HEADING:
            s = end
            continue
        region = range(end - overlap, end)
        s = next((j for j in region if prio[j] >= _SENTENCE), -1)
        if s < 0:
            s = next((j for j in region if prio[j] >= _WORD), end - overlap)
    out.append((s, n))
    return out


def _enforce_limit(chunks: list[Chunk], text: str, plain: Any, max_tokens: int) -> list[Chunk]:
    """Re-count every chunk as the embedder will see it and split any that runs over.

    Counting blocks separately equals counting their concatenation for BERT-style tokenizers;
    a tokenizer that merges across whitespace, or a window starting inside a word, can add a
    token. This pass makes the bound a guarantee rather than an expectation; nothing is lost.
    """
    if not chunks:
        return chunks
    encodings = plain.encode_batch([c.text for c in chunks], add_special_tokens=False)
    out = []
    for chunk, encoding in zip(chunks, encodings, strict=True):
        while len(encoding.ids) > max_tokens:
            cut = max(chunk.start + encoding.offsets[max_tokens - 1][1], chunk.start + 1)
            out.append(_span(text, chunk, chunk.start, cut))
            rest = cut
            while rest < chunk.end and text[rest].isspace():
                rest += 1
            if rest >= chunk.end:
                break
            chunk = _span(text, chunk, rest, chunk.end)
            encoding = plain.encode(chunk.text, add_special_tokens=False)
        else:
            out.append(chunk)
    return out


def _span(text: str, like: Chunk, start: int, end: int) -> Chunk:
    while end > start + 1 and text[end - 1].isspace():
        end -= 1
    return Chunk(
        text=text[start:end], page=like.page, start=start, end=end, heading_path=like.heading_path
    )

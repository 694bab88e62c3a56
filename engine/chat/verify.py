"""Every sentence of an answer checked against the passages it was written from.

Small local models often ignore the instruction to cite, or cite the wrong passage, or add what
no passage says. After an answer is written, `check_answer` splits it into sentences, keeps the
ones that state something (claims), and looks for the passage that backs each one:

- by meaning: the collection's embedder encodes the claims and every sentence of every passage
  in one batch; a claim is compared with each passage sentence and each pair of neighbouring
  sentences, which gives the span inside the passage that a link can highlight;
- by words: the share of the claim's content words (lightly stemmed) found in the passage;
- by specifics: numbers, dates, versions, identifiers (paths, options, `code`, words with
  digits or underscores) and names (capitalised words inside a sentence, words the embedder's
  vocabulary does not know, such as command names) must all appear in the passage, or the claim
  is never "supported". A near-miss ("port 5433" for "port 5432") reads almost the same to an
  embedder; this rule is what catches it.

Each claim gets a verdict: supported, partly supported, or not found. Citations the model wrote
are checked the same way: a `[3]` whose passage does not back its sentence is flagged. An answer
whose claims are mostly not found carries a notice for the top of the answer; one that no
passage backs at all is marked "not in your documents" (its text is kept and shown as the
model's own words).

Optionally the chat model itself gives a second opinion on each claim (a yes/no prompt with the
passage): slower, for fast GPUs.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from engine.chat.citations import _MARK, _numbers
from engine.events import CheckedSentence, Hit

if TYPE_CHECKING:
    from engine.llm.base import ChatModel

SUPPORTED = "supported"
PARTLY = "partly_supported"
NOT_FOUND = "not_found"

MOSTLY_UNSUPPORTED_NOTICE = "Much of this answer is not in your documents."
NOT_IN_DOCUMENTS_NOTICE = (
    "Not in your documents: the passages found do not support this answer. What the model "
    "wrote is kept, but it is the model's own words, not what your documents say."
)

# Thresholds on all-MiniLM-L6-v2 cosine similarity between a claim and a passage sentence (or
# a pair of neighbouring sentences), and on the share of the claim's content words found in the
# passage. A paraphrase of a passage sentence scores 0.65-0.95; a sentence about the same topic
# that says something else 0.35-0.6; bench/verify.py measures where they fall on real manuals.
STRONG_MEANING = 0.72
MEANING = 0.55
WORDS_WITH_MEANING = 0.6
STRONG_WORDS = 0.85
MEANING_FOR_WORDS = 0.35
PARTLY_MEANING = 0.5
PARTLY_WORDS = 0.5

MOSTLY_UNSUPPORTED = 0.5
"""Above this share of claims not found, the answer carries MOSTLY_UNSUPPORTED_NOTICE."""

MIN_CLAIM_WORDS = 4
"""Sentences with fewer words ("Yes.", "Steps:") state nothing worth checking."""

MAX_PASSAGE_SENTENCE = 400
"""Passage text without sentence ends (tables, code) is cut into pieces of about this many
characters, so each piece can still be a span to highlight."""


class SentenceEncoder(Protocol):
    """What the checker needs of the collection's embedder (engine/index/embed.py `Embedder`)."""

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray: ...


# --- splitting ------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    """e.g i.e etc vs cf fig no nr approx ca mr mrs ms dr prof st sec ch vol ed eds al resp
    incl esp min max""".split()
)
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s)")
_LIST_MARK = re.compile(r"\s*(?:[-*+•]|\d{1,2}[.)]|#{1,6})\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_line(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Sentence spans inside one line or paragraph of `text`."""
    piece_start = start
    for m in _BOUNDARY.finditer(text, start, end):
        stop = m.end()
        before = text[piece_start : m.start()]
        last_word = before.rsplit(None, 1)[-1].lower() if before.strip() else ""
        if m.group(0).startswith(".") and (
            last_word.rstrip(".") in _ABBREVIATIONS
            or (len(last_word) == 1 and last_word.isalpha())  # an initial: "J. Smith"
        ):
            continue
        rest = text[stop:end].lstrip()
        if rest and rest[0].islower():  # "foo. bar": not a sentence end (a file name, a slip)
            continue
        # Citation marks right after the full stop belong to the sentence before it.
        mark = _MARK.match(rest)
        while mark is not None:
            stop = end - len(rest) + mark.end()
            rest = text[stop:end].lstrip()
            mark = _MARK.match(rest)
        yield _trim(text, piece_start, stop)
        piece_start = stop
    if piece_start < end:
        yield _trim(text, piece_start, end)


def split_sentences(text: str, *, max_chars: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, in order, list markers and headings' `#`
    left out. A fenced code block is one span. With `max_chars`, longer spans are cut at line
    ends, then at spaces."""
    spans: list[tuple[int, int]] = []
    pos = 0
    code_start: int | None = None
    paragraph: list[tuple[int, int]] = []

    def flush() -> None:
        if paragraph:
            a, b = paragraph[0][0], paragraph[-1][1]
            spans.extend(s for s in _split_line(text, a, b) if s[1] > s[0])
            paragraph.clear()

    for line in text.splitlines(keepends=True):
        a, b = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        if _FENCE.match(line):
            flush()
            if code_start is None:
                code_start = pos
            else:
                s = _trim(text, code_start, a)
                if s[1] > s[0]:
                    spans.append(s)
                code_start = None
            continue
        if code_start is not None:
            continue
        if not line.strip():
            flush()
            continue
        mark = _LIST_MARK.match(text, a, b)
        if mark is not None:  # a list item or a heading starts a sentence of its own
            flush()
            a = mark.end()
        paragraph.append((a, b))
        if mark is not None and mark.group(0).lstrip().startswith("#"):
            flush()  # and a heading ends where its line ends
    if code_start is not None:  # an unclosed fence (a cancelled answer)
        s = _trim(text, code_start, len(text))
        if s[1] > s[0]:
            spans.append(s)
    flush()
    if max_chars is None:
        return spans
    out: list[tuple[int, int]] = []
    for a, b in spans:
        while b - a > max_chars:
            cut = text.rfind("\n", a + max_chars // 3, a + max_chars)
            if cut < 0:
                cut = text.rfind(" ", a + max_chars // 3, a + max_chars)
            if cut < 0:
                cut = a + max_chars
            out.append(_trim(text, a, cut))
            a = cut
        a, b = _trim(text, a, b)
        if b > a:
            out.append((a, b))
    return out


# --- words, numbers, names ------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does for from had has have how i if in into
    is it its me my no not of on or our so such than that the their them then there these they
    this to was we were what when where which who whom why will with would you your about also
    any been being both each few more most other over same should some very just only own may
    might must use used using uses like one ones here which while within without able via per
    allows allow lets let need needs make makes made way ways well many much often usually""".split()
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:/-]\d+)*(?![\w])")
_CODE = re.compile(r"`([^`\n]+)`")
_IDENTIFIER = re.compile(
    r"(?<![\w/.-])(?:"
    r"--?[A-Za-z][\w-]*"  # an option: -v, --force
    r"|~?/[\w.+-]+(?:/[\w.+-]*)*"  # a path: /etc/apt/sources.list
    r"|[A-Za-z][\w+-]+(?:(?:[._/]|::)[\w+*-]+)+"  # sources.list, x86_64, Acquire::PDiffs
    r"|[A-Za-z]+\d[\w-]*"  # letters then digits: ext4, i386, utf8
    r"|[a-z]+[A-Z]\w*"  # camelCase
    r")"
)
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][\w-]*[a-z][\w-]*|\b[A-Z]{2,}\b")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"once": "1", "twice": "2", "thrice": "3", "dozen": "12", "hundred": "100", "thousand": "1000"}
_AMBIGUOUS_NUMBER_WORDS = frozenset({"one", "zero"})
"""Number words that are more often something else ("the one before it")."""
_NEGATIONS = frozenset(
    """not no never none nothing neither nor cannot without can't don't doesn't isn't aren't
    won't wasn't weren't shouldn't couldn't mustn't didn't""".split()
)
_SUFFIXES = (
    "ations",
    "ation",
    "ings",
    "ing",
    "ers",
    "ies",
    "ied",
    "ed",
    "es",
    "er",
    "ly",
    "s",
    "e",
)


def stem(word: str) -> str:
    """A crude stem, enough to match "installs"/"installed"/"installing" with "install"."""
    w = word.lower()
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)]
    return w


def content_words(text: str) -> list[str]:
    """The words of `text` that carry its meaning, lower-cased, without stopwords."""
    return [
        w.lower()
        for w in _WORD.findall(text)
        if w.lower() not in _STOPWORDS and (len(w) > 1 or w.isdigit())
    ]


def _normal_number(n: str) -> str:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", n):
        return n.replace(",", "")
    return n


@dataclass(frozen=True)
class PassageFacts:
    """What a passage offers to match claims by words: its stems, numbers and lower-cased text."""

    stems: frozenset[str]
    numbers: frozenset[str]
    text: str

    @classmethod
    def of(cls, text: str) -> PassageFacts:
        numbers: set[str] = set()
        for m in _NUMBER.finditer(text):
            n = _normal_number(m.group(0))
            numbers.add(n)
            numbers.update(p for p in re.split(r"[.,:/-]", n) if p)
            numbers.add(n.rstrip(".,"))
        words = [w.lower() for w in _WORD.findall(text)]
        numbers.update(_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS)
        return cls(
            stems=frozenset(stem(w) for w in words),
            numbers=frozenset(numbers),
            text=" ".join(text.lower().split()),
        )

    def has_word(self, word: str) -> bool:
        s = stem(word)
        if s in self.stems:
            return True
        # A long stem may be written joined or hyphenated in the passage ("dpkg-reconfigure"),
        # or spelled the other side of the Atlantic ("initialised", "initialize").
        if len(s) < 5:
            return False
        if re.search(r"(?<![a-z0-9])" + re.escape(s), self.text) is not None:
            return True
        return len(s) >= 7 and any(t.startswith(s[:-1]) for t in self.stems if len(t) >= 7)

    def has_number(self, number: str) -> bool:
        n = _normal_number(number)
        if n in self.numbers:
            return True
        return re.search(r"(?<![\w.])" + re.escape(n) + r"(?![\w])", self.text) is not None

    def has_term(self, term: str) -> bool:
        """An identifier or name, matched loosely: case, surrounding `quotes` and a trailing
        full stop do not matter."""
        t = " ".join(term.lower().strip(" .,;:'\"`").rstrip("/").split())
        if not t:
            return True
        if re.search(r"(?<![\w-])" + re.escape(t) + r"(?![\w])", self.text):
            return True
        if " " not in t:  # an identifier is matched as written, never word by word
            return False
        words = _WORD.findall(t)
        return bool(words) and all(self.has_word(w) for w in words)


def specifics(sentence: str, *, known_word: Callable[[str], bool] | None = None) -> list[str]:
    """Numbers, dates, versions, identifiers and names in `sentence`: what must be found in a
    passage, word for word, for the sentence to be supported by it.

    `known_word` tells ordinary words from names: a lower-case word it does not know
    (a command such as "dpkg", a term such as "rebase") counts as a name.
    """
    found: list[str] = []
    text = _MARK.sub(" ", sentence)
    for m in _CODE.finditer(text):
        found.append(m.group(1).strip())
    text_wo_code = _CODE.sub(" ", text)
    for m in _NUMBER.finditer(text_wo_code):
        found.append(m.group(0))
    for m in _IDENTIFIER.finditer(text_wo_code):
        if not _NUMBER.fullmatch(m.group(0)):
            found.append(m.group(0).rstrip("."))
    first = _WORD.search(text_wo_code)
    # Names are looked for outside the identifiers already found ("Acquire" in Acquire::PDiffs).
    plain = _IDENTIFIER.sub(lambda m: " " * len(m.group(0)), text_wo_code)
    for m in _CAPITALISED.finditer(plain):
        word = m.group(0)
        at_start = first is not None and m.start() == first.start()
        after_colon = plain[: m.start()].rstrip().endswith((":", '"', "“"))
        if at_start or after_colon or word.lower() in _STOPWORDS:
            continue
        found.append(word)
    for w in _WORD.findall(text_wo_code):
        if w.lower() in _NUMBER_WORDS and w.lower() not in _AMBIGUOUS_NUMBER_WORDS:
            found.append(w.lower())
    if known_word is not None:
        for m in re.finditer(r"(?<![\w-])[a-z]+(?:-[a-z0-9]+)+(?![\w-])", text_wo_code):
            if not all(known_word(part) for part in m.group(0).split("-")):
                found.append(m.group(0))  # a command or package name: dirvish-expire
        for w in _WORD.findall(text_wo_code):
            lw = w.lower()
            if (
                len(lw) >= 4
                and lw.isalpha()
                and w == lw  # capitalised words were handled above
                and lw not in _STOPWORDS
                and not known_word(lw)
            ):
                found.append(lw)
    seen: dict[str, None] = {}
    for f in found:
        if f and f.lower() not in (s.lower() for s in seen):
            seen.setdefault(f)
    return list(seen)


def negated(text: str) -> bool:
    """True when `text` says that something is not so ("not", "never", "cannot", "without")."""
    words = text.lower().replace("’", "'").split()
    # "--no-keep-index" is a name, not a negation: words glued to identifiers do not count.
    return any(
        w in _NEGATIONS
        for token in words
        if not token.startswith("-")
        for w in re.findall(r"[\w']+", token)
    )


def _missing(terms: Sequence[str], facts: PassageFacts) -> tuple[str, ...]:
    out = []
    for term in terms:
        if term in _NUMBER_WORDS:
            ok = facts.has_number(_NUMBER_WORDS[term])
        elif _NUMBER.fullmatch(term):
            ok = facts.has_number(term)
        elif term.isalpha() and " " not in term:
            ok = facts.has_word(term)
        else:
            ok = facts.has_term(term)
        if not ok:
            out.append(term)
    return tuple(out)


# --- claims ---------------------------------------------------------------------------------

_FILLER = re.compile(
    r"^(i hope|hope this|let me know|feel free|in summary|in conclusion|here (is|are)|"
    r"sure[,!.]|certainly|of course|good luck|happy|thank)",
    re.IGNORECASE,
)
_DECLINE = re.compile(
    r"(documents?|passages?|sources?|context)\s+(do|does)\s+not\s+(contain|include|mention|say)"
    r"|(documents?|passages?)\s+(don't|doesn't)\s+(contain|include|mention|say)"
    r"|no\s+information\s+(about|on)",
    re.IGNORECASE,
)


def is_claim(sentence: str) -> bool:
    """True when a sentence states something a passage could back: not a question, a lead-in
    ("Here are the steps:"), a pleasantry, or a statement that the documents lack the answer."""
    s = _MARK.sub(" ", sentence).strip()
    if s.endswith("?") or _FILLER.match(s) or _DECLINE.search(s):
        return False
    if s.endswith(":") and len(s.split()) <= 12:
        return False
    return len(_WORD.findall(s)) >= MIN_CLAIM_WORDS


# --- embeddings of passage sentences, kept for follow-ups -----------------------------------


class _PassageCache:
    """Sentence spans and vectors of recently checked passages: a follow-up question usually
    brings back the same passages, and their sentences need not be encoded twice."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[int, str], tuple[list[tuple[int, int]], np.ndarray]] = (
            OrderedDict()
        )
        self._size = size
        self._lock = threading.Lock()

    def get(self, encoder: object, text: str) -> tuple[list[tuple[int, int]], np.ndarray] | None:
        with self._lock:
            key = (id(encoder), text)
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(
        self, encoder: object, text: str, spans: list[tuple[int, int]], vectors: np.ndarray
    ) -> None:
        with self._lock:
            self._items[(id(encoder), text)] = (spans, vectors)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_passage_cache = _PassageCache()


@dataclass(frozen=True)
class _Window:
    """A sentence of a passage, or two neighbouring ones, as a candidate span of support."""

    start: int
    end: int
    vector: np.ndarray | None
    facts: PassageFacts
    pair: bool
    negated: bool


def _windows(
    text: str, spans: Sequence[tuple[int, int]], vectors: np.ndarray | None
) -> list[_Window]:
    out = [
        _Window(
            a,
            b,
            None if vectors is None else vectors[i],
            PassageFacts.of(text[a:b]),
            False,
            negated(text[a:b]),
        )
        for i, (a, b) in enumerate(spans)
    ]
    for i in range(len(spans) - 1):
        vec = None
        if vectors is not None:
            # all-MiniLM-L6-v2 pools its tokens by their mean, so the normalised sum of two
            # sentence vectors is close to the vector of the two sentences encoded together.
            v = vectors[i] + vectors[i + 1]
            vec = v / max(float(np.linalg.norm(v)), 1e-9)
        a, b = spans[i][0], spans[i + 1][1]
        out.append(_Window(a, b, vec, PassageFacts.of(text[a:b]), True, negated(text[a:b])))
    return out


@dataclass(frozen=True)
class _Passage:
    text: str
    facts: PassageFacts
    windows: list[_Window]


# --- judging one claim against one passage --------------------------------------------------


@dataclass(frozen=True)
class Support:
    """How well one passage backs one claim."""

    verdict: str
    similarity: float
    """Best cosine similarity of the claim to a sentence (or two) of the passage."""
    overlap: float
    """Share of the claim's content words found in the passage."""
    start: int
    end: int
    """The span in the passage's text that backs the claim best."""
    missing: tuple[str, ...]
    opposite: bool = False
    """The passage sentence closest in meaning says "not" where the claim does not, or the
    other way round: it may say the opposite."""

    @property
    def rank(self) -> tuple[int, float]:
        return (_ORDER[self.verdict], self.similarity + 0.5 * self.overlap)


_ORDER = {SUPPORTED: 2, PARTLY: 1, NOT_FOUND: 0}


def judge(
    similarity: float | None, overlap: float, missing: Sequence[str], *, opposite: bool = False
) -> str:
    """The verdict for a claim against a passage, from its best similarity (None: meaning was
    not compared), its word overlap, the specifics the passage lacks and whether it may say
    the opposite."""
    if similarity is None:  # words alone
        if overlap >= STRONG_WORDS and not missing:
            return SUPPORTED
        return PARTLY if overlap >= PARTLY_WORDS else NOT_FOUND
    backed = (
        similarity >= STRONG_MEANING
        or (similarity >= MEANING and overlap >= WORDS_WITH_MEANING)
        or (similarity >= MEANING_FOR_WORDS and overlap >= STRONG_WORDS)
    )
    if backed and not missing and not opposite:
        return SUPPORTED
    if backed or similarity >= PARTLY_MEANING or overlap >= PARTLY_WORDS:
        return PARTLY
    return NOT_FOUND


def _share(words: Sequence[str], facts: PassageFacts) -> float:
    return sum(facts.has_word(w) for w in words) / len(words) if words else 0.0


def _support(
    words: Sequence[str],
    terms: Sequence[str],
    vector: np.ndarray | None,
    passage: _Passage,
    *,
    claim_negated: bool,
) -> Support:
    best: _Window | None = None
    best_score = -1.0
    similarity = 0.0
    closest: _Window | None = None  # the single sentence closest in meaning
    for w in passage.windows:
        sim = float(w.vector @ vector) if w.vector is not None and vector is not None else 0.0
        if not w.pair and (closest is None or sim > similarity):
            closest = w
        similarity = max(similarity, sim)
        # A pair of sentences must back the claim clearly better than one of them to be the
        # span shown: the highlight should be no longer than what supports the claim.
        score = sim + 0.3 * _share(words, w.facts) - (0.1 if w.pair else 0.0)
        if score > best_score:
            best, best_score = w, score
    overlap = _share(words, passage.facts)
    missing = _missing(terms, passage.facts)
    start, end = (best.start, best.end) if best is not None else (0, 0)
    opposite = closest is not None and vector is not None and closest.negated != claim_negated
    verdict = judge(similarity if vector is not None else None, overlap, missing, opposite=opposite)
    return Support(verdict, similarity, overlap, start, end, missing, opposite)


# --- the whole answer -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """An answer checked sentence by sentence, and what to say about it as a whole."""

    sentences: tuple[CheckedSentence, ...]
    support: str
    """"" (nothing to check), "supported", "mostly_unsupported" or "not_in_documents"."""
    notice: str
    """What to show at the top of the answer; empty when nothing needs saying."""
    seconds: float = 0.0


_vocab_cache: dict[int, frozenset[str]] = {}


def _known_words(encoder: object) -> Callable[[str], bool] | None:
    """Whole words of the embedder's vocabulary: words it has never seen are names."""
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "get_vocab"):
        return None
    key = id(tokenizer)
    vocab = _vocab_cache.get(key)
    if vocab is None:
        vocab = frozenset(w for w in tokenizer.get_vocab() if w.isalpha())
        _vocab_cache[key] = vocab
    return vocab.__contains__


def _passages(
    sources: Sequence[Hit], encoder: SentenceEncoder | None, claims: Sequence[str]
) -> tuple[list[_Passage], np.ndarray | None]:
    """The passages split into windows, and the claims' vectors: one encode for all."""
    spans = [split_sentences(h.text, max_chars=MAX_PASSAGE_SENTENCE) for h in sources]
    if encoder is None:
        windows = [_windows(h.text, s, None) for h, s in zip(sources, spans, strict=True)]
        return _make(sources, windows), None
    cached = [_passage_cache.get(encoder, h.text) for h in sources]
    batch = list(claims)
    todo: list[int] = []
    for i, (hit, item) in enumerate(zip(sources, cached, strict=True)):
        if item is None:
            todo.append(i)
            batch.extend(hit.text[a:b] for a, b in spans[i])
    vectors = encoder.embed(batch) if batch else np.zeros((0, 0), dtype=np.float32)
    claim_vectors = vectors[: len(claims)]
    pos = len(claims)
    per_passage: list[np.ndarray] = []
    for i, hit in enumerate(sources):
        item = cached[i]
        if item is None:
            n = len(spans[i])
            vecs = vectors[pos : pos + n]
            pos += n
            _passage_cache.put(encoder, hit.text, spans[i], vecs)
        else:
            spans[i], vecs = item
        per_passage.append(vecs)
    windows = [_windows(h.text, s, v) for h, s, v in zip(sources, spans, per_passage, strict=True)]
    return _make(sources, windows), claim_vectors


def _make(sources: Sequence[Hit], windows: Sequence[list[_Window]]) -> list[_Passage]:
    return [
        _Passage(h.text, PassageFacts.of(h.text), w) for h, w in zip(sources, windows, strict=True)
    ]


def _cited(sentence: str) -> tuple[int, ...]:
    seen: dict[int, None] = {}
    for mark in _MARK.finditer(sentence):
        for n in _numbers(mark.group(1)):
            seen.setdefault(n)
    return tuple(seen)


def _quote(terms: Sequence[str]) -> str:
    return ", ".join(f"“{t}”" for t in terms[:3])


def _reason(verdict: str, n: int | None, support: Support | None, wrong: Sequence[int]) -> str:
    if verdict == SUPPORTED:
        text = f"Backed by passage [{n}]."
    elif verdict == PARTLY and support is not None and support.opposite and not support.missing:
        text = f"Passage [{n}] is about this but may say the opposite."
    elif verdict == PARTLY and support is not None and support.missing:
        text = f"Passage [{n}] says something close, but not {_quote(support.missing)}."
    elif verdict == PARTLY:
        text = f"Only partly backed by passage [{n}]: part of it is not in the passage."
    else:
        text = "Not found in your documents: no passage says this."
    if wrong:
        refs = ", ".join(f"[{w}]" for w in wrong)
        text += f" The answer cites {refs}, which does not say this."
    return text


def check_sentence(
    sentence: str,
    sources: Sequence[Hit],
    *,
    encoder: SentenceEncoder | None,
) -> tuple[Support | None, int | None]:
    """The best support for one sentence among `sources` and its 1-based passage number (for
    benchmarks and tests; answers go through `check_answer`)."""
    result = check_answer(sentence, sources, encoder=encoder, all_sentences=True)
    if not result.sentences:
        return None, None
    s = result.sentences[0]
    return (
        Support(s.verdict, s.similarity, s.overlap, s.passage_start, s.passage_end, s.missing),
        s.passage,
    )


def check_answer(
    text: str,
    sources: Sequence[Hit],
    *,
    encoder: SentenceEncoder | None,
    all_sentences: bool = False,
) -> Verification:
    """Check each claim of `text` against `sources` (numbered [1]..[n] as the answer cites
    them); see the module docstring. Without an encoder, meaning is not compared and a claim
    can be supported by its words alone."""
    import time

    started = time.perf_counter()
    spans = [(a, b) for a, b in split_sentences(text) if all_sentences or is_claim(text[a:b])]
    if not spans or not sources:
        return Verification((), "", "", time.perf_counter() - started)
    claims = [" ".join(_MARK.sub(" ", text[a:b]).split()) for a, b in spans]
    passages, vectors = _passages(sources, encoder, claims)
    known = _known_words(encoder)
    checked: list[CheckedSentence] = []
    for i, (a, b) in enumerate(spans):
        claim = claims[i]
        words = content_words(claim)
        terms = specifics(claim, known_word=known)
        vector = vectors[i] if vectors is not None else None
        claim_negated = negated(claim)
        supports = [
            _support(words, terms, vector, p, claim_negated=claim_negated) for p in passages
        ]
        best_i = max(range(len(supports)), key=lambda j: supports[j].rank)
        best = supports[best_i]
        cited = _cited(text[a:b])
        wrong = tuple(
            n
            for n in cited
            if not 1 <= n <= len(supports)
            or supports[n - 1].verdict == NOT_FOUND
            or (supports[n - 1].verdict == PARTLY and best.verdict == SUPPORTED)
        )
        # The passage the model cited is preferred when it backs the sentence as well as any.
        for n in cited:
            if 1 <= n <= len(supports) and _ORDER[supports[n - 1].verdict] == _ORDER[best.verdict]:
                best_i, best = n - 1, supports[n - 1]
                break
        found = best.verdict != NOT_FOUND
        number = best_i + 1 if found else None
        checked.append(
            CheckedSentence(
                start=a,
                end=b,
                text=text[a:b],
                verdict=best.verdict,
                passage=number,
                passage_start=best.start if found else 0,
                passage_end=best.end if found else 0,
                similarity=round(best.similarity, 4),
                overlap=round(best.overlap, 4),
                missing=best.missing if found else (),
                cited=cited,
                wrong_citations=wrong,
                reason=_reason(best.verdict, number, best, wrong),
            )
        )
    support, notice = summarize(checked)
    return Verification(tuple(checked), support, notice, time.perf_counter() - started)


def summarize(checked: Sequence[CheckedSentence]) -> tuple[str, str]:
    """The verdict on a whole answer and the notice for its top."""
    if not checked:
        return "", ""
    not_found = sum(c.verdict == NOT_FOUND for c in checked)
    supported = sum(c.verdict == SUPPORTED for c in checked)
    if not_found == len(checked) or (supported == 0 and not_found / len(checked) > 0.75):
        return "not_in_documents", NOT_IN_DOCUMENTS_NOTICE
    if not_found / len(checked) > MOSTLY_UNSUPPORTED:
        return "mostly_unsupported", MOSTLY_UNSUPPORTED_NOTICE
    return "supported", ""


# --- a second opinion from the chat model ---------------------------------------------------

JUDGE_SYSTEM = "You check statements against a text. Reply with one word: yes or no."
JUDGE_MAX_PASSAGE = 1200


def judge_prompt(passage: str, claim: str) -> list[dict[str, str]]:
    """The yes/no question put to the chat model about one claim and its passage."""
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {
            "role": "user",
            "content": f"Text:\n{passage[:JUDGE_MAX_PASSAGE]}\n\nStatement: {claim}\n\n"
            "Does the text say this? Answer yes or no.",
        },
    ]


def second_opinion(
    verification: Verification, sources: Sequence[Hit], model: ChatModel
) -> Verification:
    """Ask the chat model whether each claim's passage says it, and fold its yes/no in.

    The model only moves a claim between "supported" and "partly supported": a "no" takes a
    supported claim down, a "yes" lifts a partly supported one whose specifics all appear in
    the passage. A claim no passage backs has nothing to be judged against.
    """
    import time

    started = time.perf_counter()
    out: list[CheckedSentence] = []
    for c in verification.sentences:
        if c.passage is None or not 1 <= c.passage <= len(sources):
            out.append(c)
            continue
        claim = " ".join(_MARK.sub(" ", c.text).split())
        reply = "".join(
            model.stream_chat(
                judge_prompt(sources[c.passage - 1].text, claim), max_tokens=3, temperature=0.0
            )
        )
        agrees = _yes(reply)
        verdict = c.verdict
        if agrees is False and verdict == SUPPORTED:
            verdict = PARTLY
        elif agrees is True and verdict == PARTLY and not c.missing:
            verdict = SUPPORTED
        reason = c.reason
        if verdict != c.verdict:
            reason = _reason(verdict, c.passage, None, c.wrong_citations)
            reason += " (The chat model's judgement.)"
        out.append(replace(c, verdict=verdict, model_agrees=agrees, reason=reason))
    support, notice = summarize(out)
    return Verification(
        tuple(out), support, notice, verification.seconds + time.perf_counter() - started
    )


def _yes(reply: str) -> bool | None:
    word = reply.strip().lower().lstrip("*\"' ")
    if word.startswith("yes"):
        return True
    if word.startswith("no"):
        return False
    return None


def narrowed_hit(hit: Hit, start: int, end: int) -> Hit:
    """`hit` cut to the span [start, end) of its text, so a viewer highlights only that."""
    if not 0 <= start < end <= len(hit.text):
        return hit
    return replace(hit, text=hit.text[start:end], start=hit.start + start, end=hit.start + end)


__all__ = [
    "MOSTLY_UNSUPPORTED_NOTICE",
    "NOT_FOUND",
    "NOT_IN_DOCUMENTS_NOTICE",
    "PARTLY",
    "SUPPORTED",
    "Verification",
    "check_answer",
    "check_sentence",
    "narrowed_hit",
    "second_opinion",
    "split_sentences",
]

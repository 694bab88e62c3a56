"""Training data: import a dataset file, then prepare it step by step with counts.

A dataset is JSONL, JSON or CSV. Each row is either a chat (`messages`: a list of role/content
objects, or ShareGPT's `conversations` with from/value) or an instruction/response pair (also
accepted: prompt/question and output/answer/completion; an `input` column is added to the
instruction as Alpaca does). Optional columns: `system`, and `source`/`context` (the passage an
answer is grounded in) with `file` and `page`.

Preparation (`prepare`) cleans text, drops empty and near-duplicate pairs, applies length
bounds, checks that answers are grounded in their source passage, tokenizes with the model's
own template and tokenizer (loss on the assistant's tokens only), fits examples to the context
and splits off a held-out set, reporting the counts of each step as a `Prepare` event.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import BadRow, DatasetError, EmptyDataset, MissingColumn, RowTooLong
from trainer.events import Prepare
from trainer.tokens import ChatTokenizer, Tokenized

INSTRUCTION_COLUMNS = ("instruction", "prompt", "question", "query")
RESPONSE_COLUMNS = ("response", "output", "answer", "completion")
SOURCE_COLUMNS = ("source", "context", "passage")
ROLES = {"system": "system", "user": "user", "assistant": "assistant"}
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant"}


@dataclass(frozen=True)
class Source:
    """The passage an answer was written from, and where it lies."""

    text: str
    file: str = ""
    page: int | None = None
    heading: str = ""


def last_turn(messages: Sequence[dict[str, str]], role: str) -> str:
    """The text of the last message of `role` in a conversation, or ""."""
    return next((m["content"] for m in reversed(messages) if m["role"] == role), "")


@dataclass(frozen=True)
class Example:
    """One conversation to learn from; the assistant's turns are what the model is taught."""

    messages: tuple[dict[str, str], ...]
    source: Source | None = None
    line: int = 0
    """1-based line (JSONL, CSV) or item (JSON) in the file it came from; 0 if generated."""

    @property
    def question(self) -> str:
        """The last user turn (the question shown when answers are compared)."""
        return last_turn(self.messages, "user")

    @property
    def answer(self) -> str:
        """The last assistant turn."""
        return last_turn(self.messages, "assistant")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": list(self.messages), "line": self.line}
        if self.source is not None:
            out["source"] = {
                "text": self.source.text,
                "file": self.source.file,
                "page": self.source.page,
                "heading": self.source.heading,
            }
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Example:
        src = raw.get("source")
        return cls(
            tuple(dict(m) for m in raw["messages"]),
            Source(**src) if isinstance(src, dict) else None,
            int(raw.get("line", 0)),
        )


# --- import ---------------------------------------------------------------------------------


def load_dataset(path: Path, *, system_prompt: str | None = None) -> list[Example]:
    """Read a JSONL, JSON or CSV dataset; DatasetError (with file and line) if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"There is no dataset file {path}.", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path.name} is not UTF-8 text (byte {exc.start} cannot be read). "
            "Save it as UTF-8 and try again.",
            path=path,
        ) from None
    except OSError as exc:
        raise DatasetError(f"Cannot read {path}: {exc.strerror or exc}.", path=path) from None
    if not text.strip():
        raise EmptyDataset(
            f"{path.name} is empty. A dataset needs one example per line, for example "
            '{"instruction": "...", "response": "..."}.',
            path=path,
        )
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path, text)
    elif suffix == ".json":
        rows = _json_rows(path, text)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, text, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise DatasetError(
            f"{path.name}: Hearth reads datasets in .jsonl, .json or .csv files.", path=path
        )
    examples = [_example(path, line, row, system_prompt) for line, row in rows]
    if not examples:
        raise EmptyDataset(f"{path.name} holds no examples, only empty lines.", path=path)
    return examples


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRow(
                f"{path.name}, line {n}: not valid JSON ({exc.msg} at column {exc.colno}). "
                'Each line must be one JSON object, such as {"instruction": "...", '
                '"response": "..."}.',
                path=path,
                line=n,
            ) from None
        if not isinstance(row, dict):
            raise BadRow(
                f"{path.name}, line {n}: a JSON {type(row).__name__}, not an object with "
                "named columns.",
                path=path,
                line=n,
            )
        yield n, row


def _json_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRow(
            f"{path.name}, line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno}).",
            path=path,
            line=exc.lineno,
        ) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise BadRow(f"{path.name} must hold a JSON list of examples.", path=path)
    for n, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise BadRow(f"{path.name}, item {n}: not an object with named columns.", path=path)
        yield n, row


def _csv_rows(path: Path, text: str, *, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise EmptyDataset(f"{path.name} has no header row.", path=path)
    for row in reader:
        if any((v or "").strip() for v in row.values() if isinstance(v, str)):
            yield reader.line_num, row


def _pick(row: dict[str, Any], names: Sequence[str]) -> tuple[str | None, Any]:
    lowered = {str(k).strip().lower(): k for k in row}
    for name in names:
        if name in lowered:
            return name, row[lowered[name]]
    return None, None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _example(path: Path, line: int, row: dict[str, Any], system: str | None) -> Example:
    where = f"{path.name}, line {line}"
    _, chat = _pick(row, ("messages", "conversations"))
    if chat is not None:
        messages = _messages(where, chat, path, line)
    else:
        ins_name, instruction = _pick(row, INSTRUCTION_COLUMNS)
        res_name, response = _pick(row, RESPONSE_COLUMNS)
        missing = [
            label
            for label, found, names in (
                ("instruction", ins_name, INSTRUCTION_COLUMNS),
                ("response", res_name, RESPONSE_COLUMNS),
            )
            if found is None
        ]
        if missing:
            columns = ", ".join(str(k) for k in row) or "none"
            raise MissingColumn(
                f"{where}: no '{missing[0]}' column (columns found: {columns}). Give each row "
                "an 'instruction' and a 'response' column, or a chat 'messages' list.",
                path=path,
                line=line,
            )
        _, extra = _pick(row, ("input",))
        user = _text(instruction)
        if _text(extra).strip():
            user = f"{user}\n\n{_text(extra)}"
        messages = [
            {"role": "user", "content": user},
            {"role": "assistant", "content": _text(response)},
        ]
    _, row_system = _pick(row, ("system",))
    system_text = _text(row_system) or system
    if system_text and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_text})
    _, source_text = _pick(row, SOURCE_COLUMNS)
    source = None
    if _text(source_text).strip():
        _, file = _pick(row, ("file",))
        _, page = _pick(row, ("page",))
        source = Source(_text(source_text), _text(file), _page(page))
    return Example(tuple(messages), source, line)


def _page(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _messages(where: str, chat: Any, path: Path, line: int) -> list[dict[str, str]]:
    if not isinstance(chat, list) or not chat:
        raise BadRow(f"{where}: 'messages' must be a non-empty list.", path=path, line=line)
    out = []
    for i, m in enumerate(chat, start=1):
        if not isinstance(m, dict):
            raise BadRow(f"{where}: message {i} is not an object.", path=path, line=line)
        if "role" in m:
            role, content = ROLES.get(str(m["role"]).lower()), m.get("content")
        else:
            role, content = SHAREGPT_ROLES.get(str(m.get("from", "")).lower()), m.get("value")
        if role is None:
            raise BadRow(
                f"{where}: message {i} has role {m.get('role', m.get('from'))!r}; use system, "
                "user or assistant.",
                path=path,
                line=line,
            )
        out.append({"role": role, "content": _text(content)})
    if not any(m["role"] == "assistant" for m in out):
        raise BadRow(
            f"{where}: the conversation has no assistant message, so there is nothing to learn.",
            path=path,
            line=line,
        )
    return out


# --- preparation steps ----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff]")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANKS = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """NFC, no control or zero-width characters, \\n line ends, no trailing blanks or gaps."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).replace("\u00a0", " ")
    text = _TRAILING.sub("\n", text)
    return _BLANKS.sub("\n\n", text).strip()


def clean(examples: Sequence[Example]) -> tuple[list[Example], int]:
    """Clean every message; return the examples and how many of them changed."""
    out, changed = [], 0
    for ex in examples:
        messages = tuple({**m, "content": clean_text(m["content"])} for m in ex.messages)
        if messages != ex.messages:
            changed += 1
        out.append(replace(ex, messages=messages))
    return out, changed


def drop_empty(examples: Sequence[Example]) -> list[Example]:
    """Keep examples whose user and assistant turns all have text."""
    return [
        ex
        for ex in examples
        if all(m["content"] for m in ex.messages if m["role"] != "system")
        and any(m["role"] == "user" for m in ex.messages)
    ]


def _shingles(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < 3:
        return {" ".join(words)}
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


def drop_near_duplicates(examples: Sequence[Example], *, threshold: float) -> list[Example]:
    """Drop an example whose question and answer nearly repeat an earlier one.

    Near means a Jaccard similarity of word trigrams at or above `threshold`. Candidates are
    found with MinHash banding (16 bands of 4), so this stays fast for large sets; every
    candidate is confirmed with the exact similarity.
    """
    n_hash, rows = 64, 4
    rng = np.random.default_rng(12345)
    a = rng.integers(1, (1 << 31) - 1, n_hash, dtype=np.int64)
    b = rng.integers(0, (1 << 31) - 1, n_hash, dtype=np.int64)
    prime = (1 << 31) - 1
    buckets: dict[tuple[int, bytes], list[int]] = {}
    kept: list[Example] = []
    kept_shingles: list[set[str]] = []
    for ex in examples:
        text = " ".join(m["content"] for m in ex.messages if m["role"] != "system")
        sh = _shingles(text)
        hashes = np.array([zlib.crc32(s.encode()) & 0x7FFFFFFF for s in sh], dtype=np.int64)
        signature = ((np.outer(a, hashes) + b[:, None]) % prime).min(axis=1)
        keys = [
            (band, signature[band * rows : (band + 1) * rows].tobytes())
            for band in range(n_hash // rows)
        ]
        candidates = {i for key in keys for i in buckets.get(key, ())}
        if any(
            len(sh & kept_shingles[i]) / max(1, len(sh | kept_shingles[i])) >= threshold
            for i in candidates
        ):
            continue
        for key in keys:
            buckets.setdefault(key, []).append(len(kept))
        kept.append(ex)
        kept_shingles.append(sh)
    return kept


def bound_lengths(examples: Sequence[Example], *, min_chars: int, max_chars: int) -> list[Example]:
    """Keep examples whose every user and assistant turn is within the character bounds."""
    return [
        ex
        for ex in examples
        if all(
            min_chars <= len(m["content"]) <= max_chars
            for m in ex.messages
            if m["role"] != "system"
        )
    ]


def check_grounding(
    examples: Sequence[Example],
    *,
    threshold: float,
    embed: Callable[[list[str]], np.ndarray],
) -> tuple[list[Example], list[float]]:
    """Drop examples whose answer is less similar to its source passage than `threshold`.

    Similarity is the cosine of normalized sentence embeddings; examples without a source
    passage are kept as they are. Returns the kept examples and the similarity of each checked
    example (kept or not), for the report.
    """
    with_source = [(i, ex.source) for i, ex in enumerate(examples) if ex.source is not None]
    if not with_source or threshold <= 0:
        return list(examples), []
    answers = embed([examples[i].answer for i, _ in with_source])
    sources = embed([source.text for _, source in with_source])
    sims = (np.asarray(answers) * np.asarray(sources)).sum(axis=1)
    drop = {i for (i, _), s in zip(with_source, sims, strict=True) if s < threshold}
    return [ex for i, ex in enumerate(examples) if i not in drop], [float(s) for s in sims]


@dataclass
class TokenizeResult:
    examples: list[Tokenized] = field(default_factory=list)
    kept: list[Example] = field(default_factory=list)
    truncated: int = 0
    dropped: int = 0


MIN_TRAINED_TOKENS = 4
"""A truncated example must keep at least this many of the assistant's tokens."""


def tokenize_examples(
    examples: Sequence[Example],
    tokenizer: ChatTokenizer,
    *,
    max_seq_len: int,
    overlong: str,
    path: Path | None = None,
) -> TokenizeResult:
    """Tokenize with the model's template; fit each example into `max_seq_len` tokens.

    `overlong` says what happens to a longer example: "truncate" cuts the end of the reply
    (an example whose prompt alone does not leave room for a reply is dropped), "drop" drops
    it, "error" stops with RowTooLong naming the row.
    """
    result = TokenizeResult()
    name = path.name if path else "The dataset"
    for ex in examples:
        try:
            ids, trained = tokenizer.encode_chat(ex.messages)
        except ValueError as exc:  # the template's raise_exception
            raise BadRow(
                f"{name}, line {ex.line}: the model's chat template refuses this conversation "
                f"({exc}). Check the order of its roles.",
                path=path,
                line=ex.line,
            ) from None
        if len(ids) > max_seq_len:
            if overlong == "error":
                raise RowTooLong(
                    f"{name}, line {ex.line}: {len(ids)} tokens, longer than the "
                    f"{max_seq_len} tokens each example may have. Shorten it, raise "
                    "train.max_seq_len, or set data.overlong to 'truncate' or 'drop'.",
                    path=path,
                    line=ex.line,
                )
            if overlong == "drop" or sum(trained[:max_seq_len]) < MIN_TRAINED_TOKENS:
                result.dropped += 1
                continue
            ids, trained = ids[:max_seq_len], trained[:max_seq_len]
            result.truncated += 1
        if not any(trained):
            result.dropped += 1
            continue
        result.examples.append(Tokenized(tuple(ids), tuple(trained), ex.line))
        result.kept.append(ex)
    return result


def split(n: int, *, eval_fraction: float, max_eval: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and the held-out examples (shuffled with `seed`)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_eval = min(max_eval, round(n * eval_fraction)) if eval_fraction > 0 else 0
    if eval_fraction > 0 and n >= 2:
        n_eval = max(1, min(n_eval, n - 1))
    return sorted(order[n_eval:]), sorted(order[:n_eval])


# --- the whole preparation ------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedData:
    """The outcome of preparation: tokenized train and held-out sets, and the held-out chats."""

    train: list[Tokenized]
    eval: list[Tokenized]
    eval_examples: list[Example]
    counts: dict[str, int]


SCREENING_STAGES = ("clean", "empty", "duplicates", "length", "grounding")
"""The text steps of preparation, in the order they run (before tokenizing)."""


@dataclass(frozen=True)
class Screened:
    """The outcome of the text steps: the examples kept, and why each of the others went."""

    kept: list[Example]
    """The cleaned examples that passed every step, in their original order."""
    dropped_by: list[str | None]
    """For each example given, in order: the stage that dropped it, or None if it is kept."""


def screen(
    examples: Sequence[Example],
    *,
    min_chars: int = 2,
    max_chars: int = 20_000,
    dedupe_threshold: float = 0.9,
    grounding_threshold: float = 0.25,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> Iterator[Prepare | Screened]:
    """Run the text steps (SCREENING_STAGES), yielding a `Prepare` event each, then `Screened`.

    This is the one place that decides the order and the rules of these steps: a training run
    and the wizard's preview of a dataset both go through it, so the preview drops exactly
    what the run will drop. `embed` maps texts to normalized embeddings for the grounding
    check; None loads the bundled all-MiniLM-L6-v2 when (and only when) some example has a
    source passage to check.
    """
    total = len(examples)
    current, changed = clean(examples)
    position = {id(ex): i for i, ex in enumerate(current)}
    dropped_by: list[str | None] = [None] * total

    def note(stage: str, before: Sequence[Example], after: Sequence[Example]) -> dict[str, int]:
        kept = {id(ex) for ex in after}
        for ex in before:
            if id(ex) not in kept:
                dropped_by[position[id(ex)]] = stage
        return {"in": len(before), "dropped": len(before) - len(after), "kept": len(after)}

    yield Prepare(
        "clean",
        f"Cleaned whitespace and control characters in {changed} examples.",
        {"in": total, "changed": changed, "kept": len(current)},
    )
    before, current = current, drop_empty(current)
    counts = note("empty", before, current)
    yield Prepare("empty", f"Dropped {counts['dropped']} examples with an empty turn.", counts)
    before, current = current, drop_near_duplicates(current, threshold=dedupe_threshold)
    counts = note("duplicates", before, current)
    yield Prepare("duplicates", f"Dropped {counts['dropped']} near-duplicate examples.", counts)
    before, current = current, bound_lengths(current, min_chars=min_chars, max_chars=max_chars)
    counts = note("length", before, current)
    yield Prepare(
        "length",
        f"Dropped {counts['dropped']} examples shorter than {min_chars} or longer than "
        f"{max_chars} characters.",
        counts,
    )
    with_source = sum(1 for ex in current if ex.source is not None)
    checked = with_source if grounding_threshold > 0 else 0
    before = current
    if checked:
        if embed is None:
            from engine.index.embed import get_embedder

            embed = get_embedder().embed
        current, _sims = check_grounding(current, threshold=grounding_threshold, embed=embed)
        message = (
            f"Dropped {len(before) - len(current)} of {checked} answers less similar than "
            f"{grounding_threshold} to their source passage."
        )
    else:
        message = "No source passages to check answers against." if not with_source else "Skipped."
    yield Prepare("grounding", message, {**note("grounding", before, current), "checked": checked})
    yield Screened(kept=list(current), dropped_by=dropped_by)


def prepare(
    examples: Sequence[Example],
    tokenizer: ChatTokenizer,
    *,
    max_seq_len: int,
    overlong: str = "truncate",
    min_chars: int = 2,
    max_chars: int = 20_000,
    dedupe_threshold: float = 0.9,
    grounding_threshold: float = 0.25,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    eval_fraction: float = 0.1,
    max_eval: int = 200,
    seed: int = 0,
    path: Path | None = None,
) -> Iterator[Prepare | PreparedData]:
    """Run every preparation step, yielding a `Prepare` event per step, then `PreparedData`.

    The text steps are `screen`'s; then the examples are tokenized, fitted to `max_seq_len`
    and split into training and held-out sets.
    """
    total = len(examples)
    current: list[Example] = []
    for item in screen(
        examples,
        min_chars=min_chars,
        max_chars=max_chars,
        dedupe_threshold=dedupe_threshold,
        grounding_threshold=grounding_threshold,
        embed=embed,
    ):
        if isinstance(item, Screened):
            current = item.kept
        else:
            yield item
    before = len(current)
    tokens = tokenize_examples(
        current, tokenizer, max_seq_len=max_seq_len, overlong=overlong, path=path
    )
    n_tokens = sum(len(t.input_ids) for t in tokens.examples)
    yield Prepare(
        "tokenize",
        f"Tokenized {len(tokens.examples)} examples ({n_tokens} tokens); truncated "
        f"{tokens.truncated} and dropped {tokens.dropped} longer than {max_seq_len} tokens.",
        {
            "in": before,
            "truncated": tokens.truncated,
            "dropped": tokens.dropped,
            "kept": len(tokens.examples),
            "tokens": n_tokens,
            "trained_tokens": sum(t.n_trained for t in tokens.examples),
        },
    )
    if not tokens.examples:
        raise DatasetError(
            f"No examples are left to train on: {total} were read, and preparation dropped "
            "all of them (see the counts above). Check the dataset, or loosen data.min_chars, "
            "data.grounding_threshold or train.max_seq_len.",
            path=path,
        )
    train_idx, eval_idx = split(
        len(tokens.examples), eval_fraction=eval_fraction, max_eval=max_eval, seed=seed
    )
    yield Prepare(
        "split",
        f"{len(train_idx)} examples to train on, {len(eval_idx)} held out.",
        {"train": len(train_idx), "eval": len(eval_idx)},
    )
    yield PreparedData(
        train=[tokens.examples[i] for i in train_idx],
        eval=[tokens.examples[i] for i in eval_idx],
        eval_examples=[tokens.kept[i] for i in eval_idx],
        counts={"read": total, "train": len(train_idx), "eval": len(eval_idx), "tokens": n_tokens},
    )

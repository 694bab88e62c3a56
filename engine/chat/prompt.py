"""The prompt for a grounded answer, fitted into the model's context window.

Layout, chosen so that llama.cpp reuses its cached prefix across a conversation: the system
prompt first (the same for every question), then the earlier turns, then one user message with
the numbered passages and the question.

A follow-up continues the previous prompt word for word when the model still holds it (its
`Transcript`): the earlier passages stay where they were, with their numbers, and only passages
not shown yet are added, numbered on. llama.cpp then evaluates just the new message instead of
the whole conversation. Otherwise (first question, another conversation, no room left) the
prompt is built afresh: earlier turns as plain questions and answers, then the passages.

Fitting counts tokens with the model's own tokenizer and chat template. When the fresh prompt
plus the room reserved for the answer would not fit, it drops the oldest turns first, then the
lowest-ranked passages, then trims the last passage kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from engine.chat.citations import strip_citations
from engine.errors import ModelError
from engine.events import Hit
from engine.resources import prompts_dir

SYSTEM_PROMPT_FILE = "answer_system.txt"
_FALLBACK_SYSTEM_PROMPT = (
    "You answer questions about the user's documents only from the numbered passages given. "
    "Cite them as [1], [2]. If they do not contain the answer, say plainly: "
    '"The documents do not contain the answer."'
)
TRIM_MARK = " […]"
BASE_MODEL_PREFACE = (
    "The numbered passages below come from the reader's documents. After them comes a "
    "question, and an answer written only from those passages, in a few sentences, citing "
    "them as [1], [2]. When the passages do not hold the answer, the answer says: "
    '"The documents do not contain the answer."'
)
"""Opens the prompt of a base (not instruction-tuned) model in place of the system prompt: such
a model continues a document, so the prompt reads as one whose natural next words are the
answer (see engine.llm.runtime.completion_prompt)."""

Message = dict[str, str]


@lru_cache(maxsize=1)
def system_prompt() -> str:
    """Hearth's system prompt for grounded answers (resources/prompts/answer_system.txt)."""
    try:
        return (prompts_dir() / SYSTEM_PROMPT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return _FALLBACK_SYSTEM_PROMPT


def passage_label(hit: Hit) -> str:
    """`manual.pdf, page 12 — Installation > Water supply`: where a passage comes from."""
    label = hit.file.name
    if hit.page is not None:
        label += f", page {hit.page}"
    if hit.heading:
        label += f" — {hit.heading}"
    return label


def format_passages(
    hits: Sequence[Hit], texts: Sequence[str] | None = None, *, start: int = 1
) -> str:
    texts = list(texts) if texts is not None else [h.text for h in hits]
    blocks = [
        f"[{i}] {passage_label(hit)}\n{text.strip()}"
        for i, (hit, text) in enumerate(zip(hits, texts, strict=True), start=start)
    ]
    return "\n\n".join(blocks)


def user_message(
    question: str,
    hits: Sequence[Hit],
    texts: Sequence[str] | None = None,
    *,
    start: int = 1,
    also: Sequence[int] = (),
) -> str:
    """The last user message: the numbered passages, then the question (read last).

    `also` names passages shown earlier in the conversation that apply again.
    """
    parts = []
    if hits:
        parts.append(f"Passages:\n\n{format_passages(hits, texts, start=start)}")
    if also:
        refs = ", ".join(f"[{n}]" for n in also)
        parts.append(
            f"Passages {refs} above apply too." if hits else f"Passages {refs} above apply."
        )
    if not parts:
        return question.strip()
    return "\n\n".join([*parts, f"Question: {question.strip()}"])


def qa_pairs(history: Sequence[object]) -> list[tuple[str, str]]:
    """Earlier turns as (question, answer) pairs, oldest first.

    A question without an answer (a cancelled or failed one) is left out, as many chat
    templates refuse two user messages in a row.
    """
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for turn in history:
        role = getattr(turn, "role", "")
        text = str(getattr(turn, "text", "")).strip()
        if not text:
            continue
        if role == "user":
            question = text
        elif role == "assistant" and question is not None:
            pairs.append((question, text))
            question = None
    return pairs


def history_messages(history: Sequence[object]) -> list[Message]:
    """Earlier turns as alternating user/assistant messages for a fresh prompt.

    Citation marks are removed from earlier answers: their numbers referred to passages that
    are no longer in the prompt.
    """
    messages: list[Message] = []
    for question, answer in qa_pairs(history):
        answer = strip_citations(answer)
        if answer:
            messages += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
    return messages


def build_messages(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[Message] = (),
    *,
    system: str | None = None,
    texts: Sequence[str] | None = None,
) -> list[Message]:
    return [
        {"role": "system", "content": system if system is not None else system_prompt()},
        *history,
        {"role": "user", "content": user_message(question, hits, texts)},
    ]


def _key(hit: Hit) -> tuple[str, int, int, int]:
    return (str(hit.file), hit.chunk_id, hit.start, hit.end)


@dataclass(frozen=True)
class Transcript:
    """What a model's cache holds after an answer: the messages with the reply, the passages
    they number [1]..[n], and the question/answer pairs that let a follow-up recognise it."""

    messages: tuple[Message, ...]
    sources: tuple[Hit, ...]
    turns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PromptPlan:
    """The messages to send, the passages they number [1]..[n], and what fitting gave up."""

    messages: list[Message]
    sources: tuple[Hit, ...]
    prompt_tokens: int
    max_answer_tokens: int
    turns_kept: int
    turns_dropped: int
    passages_dropped: int
    trimmed: bool
    continued: bool = False
    """True when the prompt continues the previous one word for word (cache reuse)."""
    new_sources: int = 0
    """How many of `sources` this question added (the rest were shown before)."""

    def transcript(self, question: str, reply: str, turns: Sequence[tuple[str, str]]) -> Transcript:
        """The transcript after `reply` to `question`, for the next follow-up."""
        return Transcript(
            messages=(*self.messages, {"role": "assistant", "content": reply}),
            sources=self.sources,
            turns=(*turns, (question.strip(), reply.strip())),
        )


def fit_prompt(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[object],
    *,
    count_chat_tokens: Callable[[list[Message]], int],
    n_ctx: int,
    max_answer_tokens: int,
    system: str | None = None,
) -> PromptPlan:
    """Build the prompt and make it fit `n_ctx` with `max_answer_tokens` left for the answer.

    At most half the window is reserved for the answer, so a long answer setting never crowds
    out the passages. Raises ModelError when not even the question fits.
    """
    reserve = max(16, min(max_answer_tokens, n_ctx // 2))
    budget = n_ctx - reserve
    pairs = history_messages(history)
    n_turns = len(pairs) // 2
    kept_hits = list(hits)
    texts = [h.text for h in kept_hits]

    def build() -> list[Message]:
        return build_messages(question, kept_hits, pairs, system=system, texts=texts)

    messages = build()
    used = count_chat_tokens(messages)
    while used > budget and pairs:  # 1. the oldest turns
        pairs = pairs[2:]
        messages = build()
        used = count_chat_tokens(messages)
    while used > budget and len(kept_hits) > 1:  # 2. the lowest-ranked passages
        kept_hits.pop()
        texts.pop()
        messages = build()
        used = count_chat_tokens(messages)
    trimmed = False
    if used > budget and kept_hits:  # 3. the passage that is left, cut to what fits
        full = kept_hits[0].text.strip()
        lo, hi = 0, len(full)
        while lo < hi:  # longest prefix that fits, by bisection on characters
            mid = (lo + hi + 1) // 2
            texts[0] = full[:mid].rstrip() + TRIM_MARK
            if count_chat_tokens(build()) <= budget:
                lo = mid
            else:
                hi = mid - 1
        trimmed = True
        if lo == 0:
            kept_hits, texts = [], []
        else:
            texts[0] = full[:lo].rstrip() + TRIM_MARK
        messages = build()
        used = count_chat_tokens(messages)
    if used > budget:
        raise ModelError(
            f"The question alone needs {used} tokens, more than the {budget} the model's context "
            f"leaves after {reserve} tokens for the answer. Shorten the question or raise the "
            "context length in Settings."
        )
    return PromptPlan(
        messages=messages,
        sources=tuple(kept_hits),
        prompt_tokens=used,
        max_answer_tokens=min(max_answer_tokens, n_ctx - used),
        turns_kept=len(pairs) // 2,
        turns_dropped=n_turns - len(pairs) // 2,
        passages_dropped=len(hits) - len(kept_hits),
        trimmed=trimmed,
        new_sources=len(kept_hits),
    )


def continue_prompt(
    transcript: Transcript,
    question: str,
    hits: Sequence[Hit],
    *,
    count_chat_tokens: Callable[[list[Message]], int],
    n_ctx: int,
    max_answer_tokens: int,
    max_sources: int,
) -> PromptPlan | None:
    """Continue `transcript` with `question`; None when it would not fit, or would number more
    than `max_sources` passages (then a fresh prompt is better)."""
    known = {_key(h): n for n, h in enumerate(transcript.sources, start=1)}
    new = [h for h in hits if _key(h) not in known]
    again = sorted({known[_key(h)] for h in hits if _key(h) in known})
    if len(transcript.sources) + len(new) > max_sources:
        return None
    reserve = max(16, min(max_answer_tokens, n_ctx // 2))
    content = user_message(question, new, start=len(transcript.sources) + 1, also=again)
    messages = [*transcript.messages, {"role": "user", "content": content}]
    used = count_chat_tokens(messages)
    if used > n_ctx - reserve:
        return None
    return PromptPlan(
        messages=messages,
        sources=(*transcript.sources, *new),
        prompt_tokens=used,
        max_answer_tokens=min(max_answer_tokens, n_ctx - used),
        turns_kept=len(transcript.turns),
        turns_dropped=0,
        passages_dropped=0,
        trimmed=False,
        continued=True,
        new_sources=len(new),
    )

"""Answering a question from retrieved passages, as a stream of typed events.

`answer_question` yields `Retrieved` (the passages, numbered as the answer cites them), `Status`
lines, a `Token` per streamed piece, and always ends with `AnswerFinished` -- also when
cancelled, with the text so far. Without a chat model it answers with the best passages, cited;
when no passage is relevant it says so instead of letting the model invent an answer. A model's
finished answer is checked sentence by sentence against the passages (engine/chat/verify.py);
when they do not back it, the answer is marked as the model's own words.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.chat.citations import parse_citations
from engine.chat.prompt import (
    BASE_MODEL_PREFACE,
    Transcript,
    continue_prompt,
    fit_prompt,
    passage_label,
    qa_pairs,
)
from engine.chat.verify import SentenceEncoder, check_answer, second_opinion
from engine.config import Settings
from engine.events import (
    Answer,
    AnswerFinished,
    CancelToken,
    ChatEvent,
    Hit,
    Retrieved,
    Status,
    Token,
)
from engine.llm.repetition import REPETITION_NOTE, RepetitionGuard

if TYPE_CHECKING:
    from engine.llm.base import ChatModel

MIN_SIMILARITY = 0.2
"""Cosine similarity (all-MiniLM-L6-v2) below which a passage is taken as unrelated to the
question. Related passages score about 0.3 to 0.8 with that model, unrelated ones 0 to 0.15."""

NOT_FOUND_TEXT = (
    "Your documents do not seem to contain the answer to this question: no passage in them "
    "is about it. Try other words, or add documents that cover it."
)
ADD_MODEL_TEXT = (
    "To get written answers, add a chat model: `hearth models add FILE.gguf`, "
    "or drop a .gguf file onto the window."
)
PASSAGE_PREVIEW_CHARS = 400
CONVERSATION_PASSAGES = 3
"""A conversation continues its prompt until it numbers this many times `Settings.passages`
passages; then the next question starts a fresh, leaner prompt."""

_DECLINE = re.compile(
    r"(documents?|passages?|sources?|context)\s+(do|does)\s+not\s+(contain|include|mention|say)"
    r"|(documents?|passages?)\s+(don't|doesn't)\s+(contain|include|mention|say)"
    r"|no\s+information\s+(about|on)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, as history for the next answer."""

    role: str
    """"user" or "assistant"."""
    text: str


def relevant_hits(
    hits: Sequence[Hit], *, limit: int, min_similarity: float = MIN_SIMILARITY
) -> list[Hit]:
    """The hits worth showing the model, best first: at most `limit`, none clearly unrelated.

    A hit without a similarity (found by keywords alone) counts as relevant: it shares words
    with the question.
    """
    keep = [h for h in hits if h.similarity is None or h.similarity >= min_similarity]
    return keep[:limit]


def declines(text: str) -> bool:
    """True when an answer says the documents do not hold the answer (and cites nothing)."""
    return bool(_DECLINE.search(text[:400]))


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= PASSAGE_PREVIEW_CHARS:
        return flat
    return flat[:PASSAGE_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"


def passages_answer(hits: Sequence[Hit]) -> str:
    """The answer without a chat model: the best passages, each cited, and how to add one."""
    if not hits:
        return f"{NOT_FOUND_TEXT}\n\n{ADD_MODEL_TEXT}"
    lines = ["No chat model is installed, so here are the most relevant passages:", ""]
    for i, hit in enumerate(hits, start=1):
        lines.append(f"[{i}] {passage_label(hit)}: “{_preview(hit.text)}”")
        lines.append("")
    lines.append(ADD_MODEL_TEXT)
    return "\n".join(lines)


def answer_question(
    question: str,
    *,
    hits: Sequence[Hit],
    model: ChatModel | None,
    history: Sequence[Turn] = (),
    settings: Settings,
    cancel: CancelToken | None = None,
    min_similarity: float = MIN_SIMILARITY,
    encoder: SentenceEncoder | None = None,
) -> Iterator[ChatEvent]:
    """Answer `question` from `hits` (best first), streaming; see the module docstring.

    `encoder` is the collection's embedder, used to check the answer's sentences against the
    passages by meaning; without it they are checked by their words alone.
    """
    started = time.perf_counter()
    relevant = relevant_hits(hits, limit=settings.passages, min_similarity=min_similarity)
    model_name = model.info.name if model is not None else None

    def finish(
        text: str, sources: Sequence[Hit], *, grounded: bool, **figures: object
    ) -> AnswerFinished:
        return AnswerFinished(
            Answer(
                question=question,
                text=text,
                sources=tuple(sources),
                cited=parse_citations(text, len(sources)),
                model=model_name,
                grounded=grounded,
                seconds=time.perf_counter() - started,
                **figures,  # type: ignore[arg-type]
            )
        )

    if model is None:
        text = passages_answer(relevant)
        yield Retrieved(tuple(relevant))
        yield Token(text)
        yield finish(text, relevant, grounded=bool(relevant), seconds_to_first_token=0.0)
        return

    if not relevant:
        yield Retrieved(())
        yield Token(NOT_FOUND_TEXT)
        yield finish(NOT_FOUND_TEXT, (), grounded=False, seconds_to_first_token=0.0)
        return

    turns = qa_pairs(history)
    plan = None
    transcript = model.transcript
    if isinstance(transcript, Transcript) and transcript.turns == tuple(turns):
        # The model's cache holds this very conversation: add to it rather than rebuild it.
        plan = continue_prompt(
            transcript,
            question,
            relevant,
            count_chat_tokens=model.count_chat_tokens,
            n_ctx=model.n_ctx,
            max_answer_tokens=settings.max_answer_tokens,
            max_sources=CONVERSATION_PASSAGES * settings.passages,
        )
    if plan is None:
        plan = fit_prompt(
            question,
            relevant,
            history,
            count_chat_tokens=model.count_chat_tokens,
            n_ctx=model.n_ctx,
            max_answer_tokens=settings.max_answer_tokens,
            # A base model continues documents rather than following instructions.
            system=BASE_MODEL_PREFACE if model.info.kind == "base" else None,
        )
    yield Retrieved(plan.sources)
    if not plan.sources:  # not even part of one passage fits beside the question
        yield Token(NOT_FOUND_TEXT)
        yield finish(NOT_FOUND_TEXT, (), grounded=False, seconds_to_first_token=0.0)
        return
    if plan.continued:
        new = plan.new_sources
        status = f"Reading {new} new passages" if new else "Reading the question"
    else:
        status = f"Reading {len(plan.sources)} passages ({plan.prompt_tokens} tokens)"
        left_out = []
        if plan.turns_dropped:
            left_out.append(f"{plan.turns_dropped} earlier turns")
        if plan.passages_dropped:
            left_out.append(f"{plan.passages_dropped} passages")
        if left_out:
            status += f"; left out to fit the context: {', '.join(left_out)}"
    yield Status(status + "…")

    parts: list[str] = []
    first_token_at: float | None = None
    cancelled = False
    guard = RepetitionGuard()
    loop = None
    stream = model.stream_chat(
        plan.messages,
        max_tokens=plan.max_answer_tokens,
        temperature=settings.temperature,
        cancel=cancel,
    )
    try:
        for piece in stream:
            if first_token_at is None:
                first_token_at = time.perf_counter() - started
            parts.append(piece)
            yield Token(piece)
            loop = guard.feed(piece)
            if loop is not None:  # stop paying for tokens nobody wants to read
                break
            if cancel is not None and cancel.cancelled:
                break
    finally:
        stream.close()
    cancelled = bool(cancel is not None and cancel.cancelled)

    text = "".join(parts)
    notes: tuple[str, ...] = ()
    if loop is not None:
        # The answer keeps what came before the loop and its first round.
        text = text[: loop.cut]
        notes = (REPETITION_NOTE,)
    text = text.strip()
    model.transcript = plan.transcript(question, text, turns)
    completion = model.last_stats.completion_tokens
    if not completion and text:
        completion = model.count_tokens(text)
    cited = parse_citations(text, len(plan.sources))
    grounded = bool(cited) or not declines(text)
    check: dict[str, object] = {}
    if text and grounded and not cancelled:
        yield Status("Checking each sentence against your documents…")
        verification = check_answer(text, plan.sources, encoder=encoder)
        if settings.verify_with_model and verification.sentences:
            yield Status("The chat model is checking each claim…")
            verification = second_opinion(verification, plan.sources, model)
        if verification.support == "not_in_documents":
            grounded = False
        check = {
            "sentences": verification.sentences,
            "support": verification.support,
            "notice": verification.notice,
            "check_seconds": verification.seconds,
        }
    yield finish(
        text,
        plan.sources,
        grounded=grounded,
        cancelled=cancelled,
        prompt_tokens=plan.prompt_tokens,
        completion_tokens=int(completion),
        seconds_to_first_token=first_token_at,
        notes=notes,
        **check,
    )

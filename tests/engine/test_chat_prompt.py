"""Fitting history and passages into the context window, counted with the model's tokenizer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.chat.answer import Turn
from engine.chat.prompt import TRIM_MARK, build_messages, fit_prompt, system_prompt
from engine.config import Paths
from engine.errors import ModelError
from engine.events import Hit
from engine.llm.registry import ModelRegistry
from engine.llm.runtime import LlamaModel


def hit(n: int, text: str, *, page: int | None = None, heading: str = "") -> Hit:
    return Hit(
        file=Path(f"/docs/manual-{n}.pdf"),
        page=page,
        score=1.0 / n,
        text=text,
        chunk_id=n,
        document_id=n,
        start=0,
        end=len(text),
        heading=heading,
        similarity=0.6,
    )


@pytest.fixture
def model(hearth_home: Path, tiny_gguf: Path) -> Iterator[LlamaModel]:
    info = ModelRegistry(Paths(hearth_home).ensure()).add(tiny_gguf)
    m = LlamaModel(info, context_length=1024, n_threads=1)
    yield m
    m.close()


def test_system_prompt_is_hearths() -> None:
    text = system_prompt()
    assert "[1]" in text and "do not contain the answer" in text


def test_layout_keeps_what_repeats_first() -> None:
    history = [Turn("user", "First?"), Turn("assistant", "One [1].")]
    hits = [hit(1, "Pump text.", page=4, heading="Pump > Pressure"), hit(2, "Valve text.")]
    plan = fit_prompt(
        "Second?",
        hits,
        history,
        count_chat_tokens=lambda msgs: sum(len(m["content"]) for m in msgs) // 4,
        n_ctx=4096,
        max_answer_tokens=256,
    )
    roles = [m["role"] for m in plan.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert plan.messages[0]["content"] == system_prompt()
    assert plan.messages[1]["content"] == "First?"
    assert plan.messages[2]["content"] == "One.", "old citation numbers are removed"
    last = plan.messages[-1]["content"]
    assert "[1] manual-1.pdf, page 4 — Pump > Pressure\nPump text." in last
    assert "[2] manual-2.pdf\nValve text." in last
    assert last.endswith("Question: Second?")
    assert plan.sources == tuple(hits)
    assert (plan.turns_dropped, plan.passages_dropped, plan.trimmed) == (0, 0, False)


def test_unanswered_questions_are_left_out_of_history() -> None:
    history = [
        Turn("user", "cancelled question"),
        Turn("user", "First?"),
        Turn("assistant", "One."),
        Turn("user", "dangling"),
    ]
    msgs = build_messages("Now?", [], [], system="S")
    assert [m["role"] for m in msgs] == ["system", "user"]
    plan = fit_prompt(
        "Now?", [], history, count_chat_tokens=lambda m: 10, n_ctx=512, max_answer_tokens=64
    )
    assert [m["content"] for m in plan.messages[1:]] == ["First?", "One.", "Now?"]


def test_drops_old_turns_then_passages_then_trims(model: LlamaModel) -> None:
    words = "pump valve filter water heat pressure boiler reset error code "
    hits = [hit(n, f"Passage {n}: " + words * 6) for n in range(1, 6)]
    history = []
    for i in range(6):
        history += [Turn("user", f"Question {i}: " + words * 3), Turn("assistant", words * 4)]

    n_ctx, reserve = model.n_ctx, 128
    full = fit_prompt(
        "What now?",
        hits,
        history,
        count_chat_tokens=model.count_chat_tokens,
        n_ctx=100_000,
        max_answer_tokens=reserve,
    )
    assert full.turns_kept == 6 and full.prompt_tokens > n_ctx, "the case needs squeezing"

    plan = fit_prompt(
        "What now?",
        hits,
        history,
        count_chat_tokens=model.count_chat_tokens,
        n_ctx=n_ctx,
        max_answer_tokens=reserve,
    )
    assert plan.prompt_tokens == model.count_chat_tokens(plan.messages)
    assert plan.prompt_tokens + reserve <= n_ctx
    assert plan.turns_dropped > 0
    # Old turns go before any passage does.
    assert plan.passages_dropped == 0 or plan.turns_kept == 0
    asked = [m["content"] for m in plan.messages if m["content"].startswith("Question")]
    assert 0 < len(asked) < 6
    assert asked == [f"Question {i}: " + (words * 3).strip() for i in range(6 - len(asked), 6)]

    tight = fit_prompt(
        "What now?",
        hits,
        history,
        count_chat_tokens=model.count_chat_tokens,
        n_ctx=450,
        max_answer_tokens=reserve,
    )
    assert tight.turns_kept == 0 and tight.passages_dropped == 4
    assert tight.sources == (hits[0],), "the best passage is the one kept"
    assert tight.trimmed and TRIM_MARK in tight.messages[-1]["content"]
    assert tight.prompt_tokens + reserve <= 450
    assert tight.max_answer_tokens == min(reserve, 450 - tight.prompt_tokens)


def test_a_question_that_cannot_fit_is_an_error(model: LlamaModel) -> None:
    with pytest.raises(ModelError, match="Shorten the question"):
        fit_prompt(
            "why " * 400,
            [hit(1, "text")],
            [],
            count_chat_tokens=model.count_chat_tokens,
            n_ctx=300,
            max_answer_tokens=64,
        )

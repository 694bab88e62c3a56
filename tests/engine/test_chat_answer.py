"""answer_question end to end: the real tiny model for the mechanics, a scripted one only where
the text itself matters (random weights cannot write "[2]")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from support.scripted import ScriptedModel

from engine.chat.answer import ADD_MODEL_TEXT, NOT_FOUND_TEXT, Turn, answer_question
from engine.chat.prompt import BASE_MODEL_PREFACE, Transcript
from engine.config import Paths, Settings
from engine.events import Answer, AnswerFinished, CancelToken, Hit, Retrieved, Status, Token
from engine.llm.base import ChatModel
from engine.llm.registry import ModelRegistry
from engine.llm.repetition import REPETITION_NOTE
from engine.llm.runtime import LlamaModel

SETTINGS = Settings(max_answer_tokens=24, passages=3, temperature=0.0)


def hit(n: int, text: str, similarity: float | None = 0.6) -> Hit:
    return Hit(
        file=Path(f"/docs/manual-{n}.pdf"),
        page=n,
        score=1.0 / n,
        text=text,
        chunk_id=n,
        document_id=1,
        start=0,
        end=len(text),
        heading="Pump",
        similarity=similarity,
    )


HITS = [
    hit(1, "The pump pressure is 3 bar when the boiler is cold."),
    hit(2, "Press the reset button for five seconds to clear error code E4."),
    hit(3, "Change the water filter every six months."),
    hit(4, "The warranty covers the heater for two years."),
]


def run(events: Iterator[object]) -> tuple[list[object], Answer]:
    seen = list(events)
    assert isinstance(seen[-1], AnswerFinished)
    assert sum(isinstance(e, AnswerFinished) for e in seen) == 1
    return seen, seen[-1].answer


@pytest.fixture
def model(hearth_home: Path, tiny_gguf: Path) -> Iterator[LlamaModel]:
    info = ModelRegistry(Paths(hearth_home).ensure()).add(tiny_gguf)
    m = LlamaModel(info, context_length=1024, n_threads=1)
    yield m
    m.close()


def test_streams_an_answer_with_the_real_model(model: LlamaModel) -> None:
    events, answer = run(
        answer_question("What is the pump pressure?", hits=HITS, model=model, settings=SETTINGS)
    )
    assert isinstance(events[0], Retrieved)
    assert events[0].sources == tuple(HITS[:3]), "settings.passages caps the passages"
    assert any(isinstance(e, Status) for e in events)
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert tokens and answer.text == "".join(tokens).strip()
    assert answer.model == "tiny-chat"
    assert answer.sources == tuple(HITS[:3])
    assert answer.prompt_tokens == model.last_stats.prompt_tokens > 0
    assert 0 < answer.completion_tokens <= 24
    assert answer.seconds_to_first_token is not None
    assert answer.seconds >= answer.seconds_to_first_token
    assert not answer.cancelled
    assert set(answer.cited) <= {1, 2, 3}


def test_cancel_mid_answer_keeps_the_text_so_far(model: LlamaModel) -> None:
    cancel = CancelToken()
    events = []
    for event in answer_question(
        "What is the pump pressure?", hits=HITS, model=model, settings=SETTINGS, cancel=cancel
    ):
        events.append(event)
        if sum(isinstance(e, Token) for e in events) == 2:
            cancel.cancel()
    _, answer = run(iter(events))
    assert answer.cancelled
    assert answer.text == "".join(e.text for e in events if isinstance(e, Token)).strip()
    assert sum(isinstance(e, Token) for e in events) == 2
    # The model answers in full afterwards.
    _, again = run(
        answer_question("What is the pump pressure?", hits=HITS, model=model, settings=SETTINGS)
    )
    assert not again.cancelled and again.completion_tokens > 2


def test_no_relevant_passage_gives_a_plain_not_found(model: LlamaModel) -> None:
    unrelated = [hit(1, "Paris is the capital of France.", similarity=0.05)]
    for hits in ([], unrelated):
        events, answer = run(
            answer_question("What is the pump pressure?", hits=hits, model=model, settings=SETTINGS)
        )
        assert events[0] == Retrieved(())
        assert answer.text == NOT_FOUND_TEXT
        assert not answer.grounded
        assert answer.sources == () and answer.cited == ()
        assert answer.completion_tokens == 0


def test_without_a_model_the_best_passages_are_the_answer() -> None:
    hits = [*HITS[:2], hit(9, "Unrelated text about France.", similarity=0.01)]
    events, answer = run(
        answer_question("How do I clear E4?", hits=hits, model=None, settings=SETTINGS)
    )
    assert events[0] == Retrieved(tuple(HITS[:2]))
    assert answer.model is None and answer.grounded
    assert answer.text.startswith("No chat model is installed, so here are the most relevant")
    assert "[1] manual-1.pdf, page 1 — Pump: “The pump pressure is 3 bar" in answer.text
    assert "[2] manual-2.pdf, page 2 — Pump: “Press the reset button" in answer.text
    assert "France" not in answer.text
    assert answer.cited == (1, 2)
    assert answer.text.endswith(ADD_MODEL_TEXT)
    assert "hearth models add FILE.gguf" in answer.text

    _, none = run(answer_question("Anything?", hits=[], model=None, settings=SETTINGS))
    assert not none.grounded and none.cited == ()
    assert NOT_FOUND_TEXT in none.text and ADD_MODEL_TEXT in none.text


def test_a_scripted_model_is_a_chat_model() -> None:
    assert isinstance(ScriptedModel([]), ChatModel)


def test_citations_map_to_the_sources() -> None:
    model = ScriptedModel(
        ["Hold the reset ", "button [2]", ". The pump runs at 3 bar [1, 2]", " [7]."]
    )
    _, answer = run(
        answer_question("How do I clear E4?", hits=HITS, model=model, settings=SETTINGS)
    )
    assert answer.cited == (2, 1), "in order of first mention, [7] does not exist"
    assert answer.grounded
    assert answer.sources[1] == HITS[1]
    assert answer.completion_tokens == len(answer.text.split())
    prompt = model.messages[-1]["content"]
    assert "[2] manual-2.pdf, page 2 — Pump\nPress the reset button" in prompt


def test_a_model_saying_the_documents_lack_the_answer_is_not_grounded() -> None:
    model = ScriptedModel(["The documents do not contain the answer."])
    _, answer = run(answer_question("Who won in 1998?", hits=HITS, model=model, settings=SETTINGS))
    assert not answer.grounded and answer.cited == ()


def test_a_follow_up_continues_the_previous_prompt() -> None:
    model = ScriptedModel(["It runs at 3 bar [1]."])
    _, first = run(
        answer_question("What is the pump pressure?", hits=HITS[:2], model=model, settings=SETTINGS)
    )
    before = list(model.messages)
    history = [Turn("user", first.question), Turn("assistant", first.text)]

    model.reply = ["Reset it [2], then change the filter [3]."]
    events, second = run(
        answer_question(
            "And the filter?", hits=HITS[1:3], model=model, history=history, settings=SETTINGS
        )
    )
    # Word for word what the model saw, then its reply, then only the new passage, numbered on.
    assert model.messages[: len(before)] == before
    assert model.messages[len(before)] == {"role": "assistant", "content": "It runs at 3 bar [1]."}
    last = model.messages[-1]["content"]
    assert last.startswith("Passages:\n\n[3] manual-3.pdf, page 3 — Pump\nChange the water filter")
    assert "[1]" not in last and "Passages [2] above apply too." in last
    assert last.endswith("Question: And the filter?")
    assert events[0] == Retrieved(tuple(HITS[:3]))
    assert second.sources == tuple(HITS[:3]) and second.cited == (2, 3)
    assert any(isinstance(e, Status) and "1 new passages" in e.text for e in events)

    # Another conversation's history does not match: a fresh prompt, numbered from [1].
    other = [Turn("user", "Something else?"), Turn("assistant", "Yes.")]
    run(
        answer_question(
            "And the filter?", hits=HITS[2:3], model=model, history=other, settings=SETTINGS
        )
    )
    assert model.messages[1] == {"role": "user", "content": "Something else?"}
    assert model.messages[-1]["content"].startswith("Passages:\n\n[1] manual-3.pdf")


def test_a_conversation_starts_afresh_when_it_has_shown_enough_passages() -> None:
    settings = Settings(max_answer_tokens=24, passages=1, temperature=0.0)
    model = ScriptedModel(["Yes [1]."])
    history: list[Turn] = []
    numbered = []
    for i, h in enumerate(HITS):
        _, answer = run(
            answer_question(
                f"Question {i}?", hits=[h], model=model, history=history, settings=settings
            )
        )
        numbered.append(len(answer.sources))
        history += [Turn("user", answer.question), Turn("assistant", answer.text)]
    assert numbered == [1, 2, 3, 1], "three passages per conversation prompt, then afresh"


def test_a_follow_up_reads_only_the_new_message(model: LlamaModel) -> None:
    _, first = run(
        answer_question("What is the pump pressure?", hits=HITS, model=model, settings=SETTINGS)
    )
    first_prompt = model.last_stats.prompt_tokens
    history = [Turn("user", first.question), Turn("assistant", first.text)]
    _, second = run(
        answer_question(
            "And the filter?", hits=HITS[2:], model=model, history=history, settings=SETTINGS
        )
    )
    stats = model.last_stats
    assert stats.cached_tokens >= first_prompt, "the whole first prompt comes from the cache"
    assert stats.prompt_tokens == second.prompt_tokens > first_prompt
    assert second.sources == tuple(HITS), "[1]-[3] from before, [4] new"


def test_a_looping_model_is_cut_with_a_note() -> None:
    model = ScriptedModel(["CSV files hold ", "data [1]. "] + ["data "] * 300)
    events, answer = run(
        answer_question("What is in a CSV file?", hits=HITS, model=model, settings=SETTINGS)
    )
    assert answer.text == "CSV files hold data [1]. data", "one round of the loop is kept"
    assert answer.notes == (REPETITION_NOTE,)
    assert answer.to_json()["notes"] == [REPETITION_NOTE]
    streamed = sum(1 for e in events if isinstance(e, Token))
    assert streamed < 40, "generation stops soon after the loop shows, not at the token limit"
    assert isinstance(model.transcript, Transcript)
    assert model.transcript.turns[-1][1] == answer.text, "the follow-up sees the cut answer"

    calm = ScriptedModel(["The pump runs at 3 bar [1]."])
    _, fine = run(answer_question("Pressure?", hits=HITS, model=calm, settings=SETTINGS))
    assert fine.notes == ()


def test_a_base_model_is_prompted_as_a_document() -> None:
    model = ScriptedModel(["It runs at 3 bar [1]."])
    model.info = replace(model.info, kind="base")
    run(answer_question("What pressure?", hits=HITS, model=model, settings=SETTINGS))
    assert model.messages[0] == {"role": "system", "content": BASE_MODEL_PREFACE}
    assert model.messages[-1]["content"].endswith("Question: What pressure?")

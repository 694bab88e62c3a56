"""Saved conversations: round trip, order, reopen, and use from two threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.chat.answer import Turn
from engine.chat.conversations import ConversationNotFound, ConversationStore
from engine.config import Paths


@pytest.fixture
def db(hearth_home: Path) -> Path:
    return Paths(hearth_home).ensure().conversations_db


def test_round_trip_and_reopen(db: Path) -> None:
    store = ConversationStore(db)
    conv = store.create(collection="manuals")
    assert (conv.title, conv.collection, conv.messages) == ("New chat", "manuals", 0)
    store.append(conv.id, role="user", text="What is the pump pressure?")
    sources = [{"n": 1, "file": "/docs/manual.pdf", "page": 4, "text": "3 bar"}]
    reply = store.append(conv.id, role="assistant", text="It is 3 bar [1].", sources=sources)
    assert reply.sources == sources
    store.close()

    reopened = ConversationStore(db)
    [info] = reopened.list()
    assert info.id == conv.id and info.messages == 2
    assert info.title == "What is the pump pressure?", "the first question names the chat"
    messages = reopened.messages(conv.id)
    assert [(m.role, m.text) for m in messages] == [
        ("user", "What is the pump pressure?"),
        ("assistant", "It is 3 bar [1]."),
    ]
    assert messages[1].sources == sources
    assert reopened.history(conv.id) == [
        Turn("user", "What is the pump pressure?"),
        Turn("assistant", "It is 3 bar [1]."),
    ]
    reopened.close()


def test_newest_first_rename_delete(db: Path) -> None:
    store = ConversationStore(db)
    a = store.create(title="A")
    b = store.create(title="B")
    assert [c.title for c in store.list()] == ["B", "A"]
    store.append(a.id, role="user", text="more about A")
    assert [c.title for c in store.list()] == ["A", "B"], "a new message moves it up"
    store.rename(b.id, "Boiler questions")
    assert store.list()[0].title == "Boiler questions"
    store.delete(a.id)
    assert [c.title for c in store.list()] == ["Boiler questions"]
    with pytest.raises(ConversationNotFound):
        store.messages(a.id)
    with pytest.raises(ConversationNotFound):
        store.rename(a.id, "x")
    with pytest.raises(ValueError, match="role"):
        store.append(b.id, role="system", text="no")
    store.close()


def test_two_threads_share_a_store(db: Path) -> None:
    store = ConversationStore(db)
    conv = store.create()
    errors: list[BaseException] = []

    def write(role: str) -> None:
        try:
            for i in range(50):
                store.append(conv.id, role=role, text=f"{role} {i}")
                store.list()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(r,)) for r in ("user", "assistant")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.messages(conv.id)) == 100
    store.close()

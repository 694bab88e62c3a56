"""Saved conversations: one SQLite file (WAL) in the Hearth home.

A conversation is a titled list of messages; an assistant message keeps the sources it cited
(as `Hit.to_json()` dicts with their number `n`) so a reopened conversation still links to its
pages. The store may be used from the GUI thread and a worker thread: one connection, guarded
by a lock.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.chat.answer import Turn
from engine.errors import HearthError

DEFAULT_TITLE = "New chat"
TITLE_CHARS = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id         INTEGER PRIMARY KEY,
    title      TEXT NOT NULL,
    collection TEXT,
    created    TEXT NOT NULL,
    updated    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text            TEXT NOT NULL,
    sources         TEXT NOT NULL DEFAULT '[]',
    created         TEXT NOT NULL,
    checks          TEXT NOT NULL DEFAULT '[]',
    notice          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, id);
"""


class ConversationNotFound(HearthError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"There is no saved conversation with id {conversation_id}.")
        self.conversation_id = conversation_id


@dataclass(frozen=True)
class ConversationInfo:
    id: int
    title: str
    collection: str | None
    created: str
    updated: str
    messages: int


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: str
    text: str
    sources: list[dict[str, Any]]
    created: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    """An answer's sentences as checked against its sources (`CheckedSentence.to_json`)."""
    notice: str = ""
    """What was shown above the answer (much of it not backed, cut for repeating itself…)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _title_from(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= TITLE_CHARS:
        return flat or DEFAULT_TITLE
    return flat[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


class ConversationStore:
    """Conversations in the SQLite file at `db_path` (created on first use)."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            # Stores made before answers were checked sentence by sentence gain the columns.
            have = {r[1] for r in self._db.execute("PRAGMA table_info(messages)")}
            for column in ("checks TEXT NOT NULL DEFAULT '[]'", "notice TEXT NOT NULL DEFAULT ''"):
                if column.split()[0] not in have:
                    self._db.execute(f"ALTER TABLE messages ADD COLUMN {column}")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise HearthError("The conversation store has been closed.")
        return self._db

    def _info(self, db: sqlite3.Connection, conversation_id: int) -> ConversationInfo:
        row = db.execute(
            "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return ConversationInfo(
            id=row["id"],
            title=row["title"],
            collection=row["collection"],
            created=row["created"],
            updated=row["updated"],
            messages=row["n"],
        )

    def list(self) -> list[ConversationInfo]:
        """All conversations, the most recently changed first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)"
                    " AS n FROM conversations c ORDER BY c.updated DESC, c.id DESC"
                )
                .fetchall()
            )
        return [
            ConversationInfo(
                id=r["id"],
                title=r["title"],
                collection=r["collection"],
                created=r["created"],
                updated=r["updated"],
                messages=r["n"],
            )
            for r in rows
        ]

    def get(self, conversation_id: int) -> ConversationInfo:
        with self._lock:
            return self._info(self._conn(), conversation_id)

    def create(
        self, *, title: str = DEFAULT_TITLE, collection: str | None = None
    ) -> ConversationInfo:
        now = _now()
        with self._lock:
            db = self._conn()
            cur = db.execute(
                "INSERT INTO conversations (title, collection, created, updated) VALUES (?, ?, ?, ?)",
                (title.strip() or DEFAULT_TITLE, collection, now, now),
            )
            return self._info(db, int(cur.lastrowid or 0))

    def rename(self, conversation_id: int, title: str) -> None:
        with self._lock:
            cur = self._conn().execute(
                "UPDATE conversations SET title = ?, updated = ? WHERE id = ?",
                (title.strip() or DEFAULT_TITLE, _now(), conversation_id),
            )
        if cur.rowcount == 0:
            raise ConversationNotFound(conversation_id)

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and its messages (deleting one that is gone is a no-op)."""
        with self._lock:
            self._conn().execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def delete_message(self, conversation_id: int, message_id: int) -> None:
        """Delete one message (a regenerated answer replaces the old one)."""
        with self._lock:
            self._conn().execute(
                "DELETE FROM messages WHERE id = ? AND conversation_id = ?",
                (message_id, conversation_id),
            )

    def move_collection(self, old: str, new: str | None) -> None:
        """Follow a renamed collection; `new=None` deletes the conversations of a deleted one."""
        with self._lock:
            db = self._conn()
            if new is None:
                db.execute("DELETE FROM conversations WHERE collection = ?", (old,))
            else:
                db.execute(
                    "UPDATE conversations SET collection = ? WHERE collection = ?", (new, old)
                )

    def messages(self, conversation_id: int) -> builtins.list[StoredMessage]:
        """The messages of a conversation, oldest first."""
        with self._lock:
            db = self._conn()
            self._info(db, conversation_id)
            rows = db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [
            StoredMessage(
                id=r["id"],
                role=r["role"],
                text=r["text"],
                sources=json.loads(r["sources"]),
                created=r["created"],
                checks=json.loads(r["checks"]),
                notice=r["notice"],
            )
            for r in rows
        ]

    def append(
        self,
        conversation_id: int,
        *,
        role: str,
        text: str,
        sources: Sequence[dict[str, Any]] = (),
        checks: Sequence[dict[str, Any]] = (),
        notice: str = "",
    ) -> StoredMessage:
        """Add a message. The first question of an untitled conversation becomes its title."""
        if role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', not {role!r}")
        now = _now()
        payload = json.dumps([dict(s) for s in sources], ensure_ascii=False, default=str)
        checked = json.dumps([dict(c) for c in checks], ensure_ascii=False, default=str)
        with self._lock:
            db = self._conn()
            info = self._info(db, conversation_id)
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT INTO messages (conversation_id, role, text, sources, created, checks,"
                    " notice) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, role, text, payload, now, checked, notice),
                )
                title = info.title
                if role == "user" and info.messages == 0 and title == DEFAULT_TITLE:
                    title = _title_from(text)
                db.execute(
                    "UPDATE conversations SET updated = ?, title = ? WHERE id = ?",
                    (now, title, conversation_id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return StoredMessage(
            id=int(cur.lastrowid or 0),
            role=role,
            text=text,
            sources=json.loads(payload),
            created=now,
            checks=json.loads(checked),
            notice=notice,
        )

    def history(self, conversation_id: int) -> builtins.list[Turn]:
        """The conversation as turns for the next answer."""
        return [Turn(m.role, m.text) for m in self.messages(conversation_id) if m.text.strip()]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

"""The conversation on screen: asking, streaming, stopping, regenerating and saving.

`ChatSession` feeds the messages, sources and conversations models. Every question runs
`Hearth.ask` in the worker's MODEL lane (the one thread that ever touches the chat model);
each finished answer is saved with its sources in the conversation store, so a conversation
reopens after a restart exactly as it was left.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.models import ChatMessage, ConversationsModel, MessagesModel, SourcesModel
from app.worker import MODEL, Runner, Task, TaskError
from engine.chat.citations import parse_citations
from engine.chat.conversations import ConversationStore
from engine.errors import HearthError
from engine.events import AnswerFinished, CheckedSentence, Hit, Retrieved, Status, Token, TurnSaved
from engine.facade import Hearth, answer_notice

log = logging.getLogger(__name__)


class ChatSession(QObject):
    """One open conversation of one collection, and the list of that collection's chats."""

    busyChanged = Signal(bool)
    conversationChanged = Signal(object)
    """The open conversation's id, or None for a new, unsaved chat."""
    error = Signal(str)
    message = Signal(str)

    def __init__(self, hearth: Hearth, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hearth = hearth
        self.runner = runner
        self.conversations = ConversationsModel(self)
        self.messages = MessagesModel(self)
        self.sources = SourcesModel(self)
        self.collection: str | None = None
        self.conversation_id: Any = None
        self._task: Task | None = None
        self._row = -1

    # --- state ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def store(self) -> ConversationStore:
        return self.hearth.conversations

    def set_collection(self, name: str | None, *, conversation: Any = None) -> None:
        """Show the chats of a collection and open `conversation` (or its latest, or a new one)."""
        if self.busy:
            self.stop()
        self.collection = name
        self.refresh_conversations()
        if conversation is not None and self.conversations.row_of(conversation) >= 0:
            self.open_conversation(conversation)
        elif self.conversations.rowCount() and name is not None:
            self.open_conversation(self.conversations.item(0).id)
        else:
            self.new_chat()

    def refresh_conversations(self) -> None:
        if self.collection is None:
            self.conversations.set_conversations([])
            return
        try:
            infos = [c for c in self.store.list() if c.collection == self.collection]
        except HearthError as exc:
            self.error.emit(str(exc))
            infos = []
        self.conversations.set_conversations(infos)

    # --- conversations ----------------------------------------------------------------------

    def new_chat(self) -> None:
        """Start an empty chat; it is saved when the first question is asked."""
        if self.busy:
            self.stop()
        self.conversation_id = None
        self.messages.set_messages([])
        self._show_sources(-1)
        self.conversationChanged.emit(None)

    def open_conversation(self, conversation_id: Any) -> None:
        if self.busy:
            self.stop()
        try:
            stored = self.store.messages(conversation_id)
        except HearthError as exc:
            self.error.emit(str(exc))
            return
        msgs = []
        for m in stored:
            hits = tuple(Hit.from_json(s) for s in (m.sources or []))
            checks = tuple(CheckedSentence.from_json(c) for c in m.checks)
            msgs.append(
                ChatMessage(
                    role=m.role,
                    text=m.text,
                    sources=hits,
                    stored_id=m.id,
                    collection=self.collection,
                    checks=checks,
                    notice=m.notice,
                )
            )
        self.conversation_id = conversation_id
        self.messages.set_messages(msgs)
        self._show_sources(self.messages.last_row("assistant"))
        self.conversationChanged.emit(conversation_id)

    def rename_conversation(self, conversation_id: Any, title: str) -> None:
        title = title.strip()
        if not title:
            return
        try:
            self.store.rename(conversation_id, title)
        except HearthError as exc:
            self.error.emit(str(exc))
            return
        self.refresh_conversations()

    def delete_conversation(self, conversation_id: Any) -> None:
        if conversation_id == self.conversation_id and self.busy:
            self.stop()
        try:
            self.store.delete(conversation_id)
        except HearthError as exc:
            self.error.emit(str(exc))
            return
        self.refresh_conversations()
        if conversation_id == self.conversation_id:
            if self.conversations.rowCount():
                self.open_conversation(self.conversations.item(0).id)
            else:
                self.new_chat()

    def forget_collection(self, name: str) -> None:
        """The engine deleted the conversations of a deleted collection: forget the open one."""
        if self.collection == name:
            self.conversation_id = None
        self.refresh_conversations()

    # --- asking -----------------------------------------------------------------------------

    def ask(self, question: str) -> bool:
        """Send a question; the answer streams into a new assistant message."""
        question = question.strip()
        if not question or self.busy:
            return False
        if self.collection is None:
            self.error.emit("Choose a collection to ask, or drop documents on the window first.")
            return False
        if self.conversation_id is None:
            try:
                # Untitled: the engine titles a conversation by its first question.
                info = self.store.create(collection=self.collection)
            except HearthError as exc:
                self.error.emit(str(exc))
                return False
            self.conversation_id = info.id
            self.conversationChanged.emit(self.conversation_id)
        self.messages.append(ChatMessage(role="user", text=question, collection=self.collection))
        self._answer(question)
        return True

    def regenerate(self) -> bool:
        """Answer the last question again, replacing the last answer."""
        if self.busy:
            return False
        user_row = self.messages.last_row("user")
        if user_row < 0:
            return False
        question = self.messages.item(user_row).text
        dropped = self.messages.items()[user_row + 1 :]
        self.messages.remove_from(user_row + 1)
        self._forget_stored(dropped)
        self._answer(question, regenerate=True)
        return True

    def stop(self) -> None:
        """Stop the answer being written; what was written so far is kept."""
        if self._task is not None:
            self._task.cancel()
            if 0 <= self._row < self.messages.rowCount():
                self.messages.update(self._row, status="Stopping…")

    def _forget_stored(self, messages: list[ChatMessage]) -> None:
        for m in messages:
            if m.stored_id is not None and self.conversation_id is not None:
                try:
                    self.store.delete_message(self.conversation_id, m.stored_id)
                except HearthError as exc:
                    log.warning("could not delete message %s: %s", m.stored_id, exc)

    def _answer(self, question: str, *, regenerate: bool = False) -> None:
        """Stream the answer into a new message; the engine saves the turn as it goes and
        takes the history from the saved conversation."""
        collection = self.collection
        conversation = self.conversation_id
        row = self.messages.append(
            ChatMessage(
                role="assistant",
                text="",
                state="streaming",
                status="Searching your documents…",
                collection=collection,
            )
        )
        self._row = row
        final: list[Any] = []

        def alive() -> bool:
            # The user may have switched conversations while this answer was being written.
            return self.conversation_id == conversation and self._row == row

        def progress(event: object) -> None:
            if not alive():
                return
            if isinstance(event, Token):
                if self.messages.item(row).status and not self._task_cancelling():
                    self.messages.update(row, status="")
                self.messages.append_text(row, event.text)
            elif isinstance(event, Status):
                self.messages.update(row, status=event.text)
            elif isinstance(event, Retrieved):
                self.messages.update(row, sources=tuple(event.sources))
                self._show_sources(row)
            elif isinstance(event, AnswerFinished):
                final.append(event.answer)
            elif isinstance(event, TurnSaved):
                target = row if event.role == "assistant" else self.messages.last_row("user")
                if 0 <= target < self.messages.rowCount():
                    self.messages.update(target, stored_id=event.message_id)
                self.refresh_conversations()

        def failed(err: TaskError) -> None:
            msg = str(err)
            if not isinstance(err.exception, HearthError):
                msg = f"Something went wrong while answering: {msg}"
            if alive():
                self.messages.update(row, state="error", status="", text=msg)
            self.error.emit(msg)

        def finished() -> None:
            self._task = None
            self.busyChanged.emit(False)
            answer = final[-1] if final else None
            current = self.messages.item(row) if alive() else None
            checks: tuple = ()
            notice = ""
            if answer is not None:
                text = answer.text
                state = "stopped" if answer.cancelled else "done"
                sources = tuple(answer.sources)
                model = answer.model
                checks, notice = answer.sentences, answer_notice(answer)
            elif current is not None and current.state == "streaming":
                text, state, sources, model = current.text, "stopped", current.sources, None
            else:
                return
            if current is not None:
                self.messages.update(
                    row,
                    text=text,
                    state=state,
                    status="",
                    sources=sources,
                    model=model,
                    checks=checks,
                    notice=notice,
                )
                self._show_sources(row)

        self._task = self.runner.start(
            lambda cancel: self.hearth.ask(
                question,
                collection=collection,
                conversation=conversation,
                regenerate=regenerate,
                cancel=cancel,
            ),
            lane=MODEL,
            name="answer",
            on_progress=progress,
            on_error=failed,
            on_finished=finished,
        )
        self.busyChanged.emit(True)

    def _task_cancelling(self) -> bool:
        return self._task is not None and self._task.cancelled

    # --- sources ----------------------------------------------------------------------------

    def show_sources(self, row: int) -> None:
        """Show the sources of the message at `row` in the sources panel."""
        self._show_sources(row)

    def _show_sources(self, row: int) -> None:
        if 0 <= row < self.messages.rowCount():
            msg = self.messages.item(row)
            self.sources.set_sources(
                msg.sources,
                parse_citations(msg.text, len(msg.sources)),
                row=row,
                collection=msg.collection or self.collection,
            )
        else:
            self.sources.set_sources((), (), row=-1, collection=self.collection)

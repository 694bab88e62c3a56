"""The single owner of the chat model while Hearth serves: one thread, one queue.

A llama.cpp model is used from one thread (STYLE.md, "one owner per stateful thing"). Every
request that generates -- a chat completion, with or without a collection -- becomes a job on
that thread, run in arrival order; concurrent requests wait their turn instead of running the
model from two threads. The job's events travel back to the request's event loop through an
asyncio queue; when the request goes away (the client disconnected, or it finished), its
`CancelToken` is set and the generation stops at the next token.

`ModelOwner` runs its own thread. Where another thread already owns the model (the desktop
app's model lane), pass `submit` to run jobs there instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from engine.errors import HearthError
from engine.events import CancelToken

T = TypeVar("T")
Job = Callable[[], None]


class ServerBusy(HearthError):
    """Too many generations are already waiting for the model."""

    def __init__(self, waiting: int) -> None:
        super().__init__(
            f"{waiting} answers are already waiting for the model. Try again in a moment."
        )


class ModelOwner:
    """Runs jobs one at a time, in order, on the one thread that uses the chat model."""

    def __init__(
        self, *, max_waiting: int = 8, submit: Callable[[Job], None] | None = None
    ) -> None:
        self.max_waiting = max_waiting
        self._submit = submit
        self._pending = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._pending

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job()

    def submit(self, job: Job) -> None:
        """Queue `job`; ServerBusy when `max_waiting` jobs already wait behind a running one."""
        with self._lock:
            if self._pending > self.max_waiting:
                raise ServerBusy(self._pending - 1)
            self._pending += 1

        def counted() -> None:
            try:
                job()
            finally:
                with self._lock:
                    self._pending -= 1

        if self._submit is not None:
            self._submit(counted)
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hearth-model", daemon=True)
                self._thread.start()
        self._queue.put(counted)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread after the jobs already queued."""
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
            self._thread = None

    def stream(
        self, make: Callable[[CancelToken], Iterator[T]], cancel: CancelToken
    ) -> AsyncIterator[T]:
        """Queue `make(cancel)` on the owner thread now; iterate what it yields, here.

        Called from the request's event loop. Queueing happens at once, so a full queue is a
        `ServerBusy` before any response begins. The iterator is created, iterated and closed
        on the owner thread. Leaving the returned generator early -- the consumer stopped, or
        its task was cancelled because the client disconnected -- sets `cancel`, which stops
        the work at its next step.
        """
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def post(kind: str, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the request's loop is already gone
                loop.call_soon_threadsafe(inbox.put_nowait, (kind, value))

        def job() -> None:
            try:
                if cancel.cancelled:
                    return
                events = make(cancel)
                try:
                    # Engine generators honour `cancel` themselves and still yield their last
                    # event (an answer ends with AnswerFinished, also when cancelled).
                    for event in events:
                        post("event", event)
                finally:
                    close = getattr(events, "close", None)
                    if close is not None:
                        close()
            except Exception as e:  # handed to the request, which reports it to the client
                post("error", e)
            finally:
                post("end", None)

        self.submit(job)
        return _drain(inbox, cancel)


async def _drain(inbox: asyncio.Queue[tuple[str, Any]], cancel: CancelToken) -> AsyncIterator[Any]:
    try:
        while True:
            kind, value = await inbox.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        cancel.cancel()

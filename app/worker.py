"""The one helper that runs engine work off the GUI thread and reports back with Qt signals.

An action hands `Runner.start` a function of a `CancelToken`. If the function returns a
generator (every long engine operation does), each yielded event becomes a `progress` signal;
the generator's return value (or the function's plain return value) becomes `result`; an
exception becomes `error`; `finished` always comes last. All four are emitted on the GUI thread,
so slots may touch widgets and models directly.

Work runs in lanes, each a pool of exactly one thread whose thread never expires:

- `MODEL`: everything that touches the chat model (ask, load, add and remove models), so a
  `Llama` instance is only ever used from one thread;
- `WORK`: indexing and other collection writes, one writer at a time;
- `WATCH`: the linked-folder watcher, which runs as long as the window (app/links_view.py).
  It is standing work, not a job: `busy()` without a lane leaves it out.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from engine.events import CancelToken

log = logging.getLogger(__name__)

MODEL = "model"
WORK = "work"
WATCH = "watch"
LANES = (MODEL, WORK, WATCH)


@dataclass(frozen=True)
class TaskError:
    """An exception raised by background work, with its traceback kept for the log."""

    exception: BaseException
    traceback: str

    def __str__(self) -> str:
        return str(self.exception) or type(self.exception).__name__


class Task(QObject):
    """One piece of background work: signals to listen to and `cancel()` to stop it."""

    started = Signal()
    """The work left the queue and began (not emitted for work cancelled while queued)."""
    progress = Signal(object)
    """Each event the work yields, in order."""
    result = Signal(object)
    """The return value, once the work completed without an exception."""
    error = Signal(object)
    """A `TaskError` when the work raised."""
    finished = Signal()
    """Always the last signal, after `result` or `error` (also after a cancel)."""

    # Emitted from the worker thread; connected to slots of this object, which lives on the GUI
    # thread, so the public signals above are always emitted there.
    _begun = Signal()
    _event = Signal(object)
    _done = Signal(object, object)

    def __init__(self, name: str, fn: Callable[[CancelToken], Any], lane: str) -> None:
        super().__init__()
        self.name = name
        self.lane = lane
        self.token = CancelToken()
        self.running = False
        self.done = False
        self._fn = fn
        self._begun.connect(self._on_begun)
        self._event.connect(self._on_event)
        self._done.connect(self._on_done)

    def cancel(self) -> None:
        """Ask the work to stop at its next step; `finished` still follows."""
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    # --- worker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        if self.token.cancelled:
            self._done.emit(None, None)
            return
        self._begun.emit()
        try:
            out = self._fn(self.token)
            if isinstance(out, Iterator):
                out = self._drain(out)
        except Exception as exc:
            self._done.emit(None, TaskError(exc, traceback.format_exc()))
        else:
            self._done.emit(out, None)

    def _drain(self, gen: Iterator[Any]) -> Any:
        try:
            while True:
                self._event.emit(next(gen))
        except StopIteration as stop:
            return stop.value
        finally:
            if isinstance(gen, Generator):
                gen.close()

    # --- GUI thread -------------------------------------------------------------------------

    @Slot()
    def _on_begun(self) -> None:
        self.running = True
        self.started.emit()

    @Slot(object)
    def _on_event(self, event: object) -> None:
        self.progress.emit(event)

    @Slot(object, object)
    def _on_done(self, value: object, failure: TaskError | None) -> None:
        self.running = False
        self.done = True
        if failure is not None:
            log.error("%s failed:\n%s", self.name, failure.traceback)
            self.error.emit(failure)
        else:
            self.result.emit(value)
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task
        self.setAutoDelete(True)

    def run(self) -> None:
        self.task._run()


class Runner(QObject):
    """Starts tasks in their lane and keeps them alive until they finish."""

    busyChanged = Signal(str, bool)
    """(lane, busy): a lane started or ran out of work."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for lane in LANES:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1)
            pool.setExpiryTimeout(-1)  # the one thread lives on: a model stays on its thread
            self._pools[lane] = pool
        self._tasks: list[Task] = []

    def start(
        self,
        fn: Callable[[CancelToken], Any],
        *,
        lane: str = WORK,
        name: str = "",
        on_started: Callable[[], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[TaskError], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> Task:
        """Queue `fn(cancel_token)` in `lane` and return its task (signals already connected)."""
        if lane not in self._pools:
            raise ValueError(f"unknown lane {lane!r}")
        task = Task(name or "task", fn, lane)
        if on_started is not None:
            task.started.connect(on_started)
        if on_progress is not None:
            task.progress.connect(on_progress)
        if on_result is not None:
            task.result.connect(on_result)
        if on_error is not None:
            task.error.connect(on_error)
        if on_finished is not None:
            task.finished.connect(on_finished)
        task.finished.connect(lambda: self._forget(task))
        was_busy = self.busy(lane)
        self._tasks.append(task)
        self._pools[lane].start(_Runnable(task))
        if not was_busy:
            self.busyChanged.emit(lane, True)
        return task

    def _forget(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not self.busy(task.lane):
            self.busyChanged.emit(task.lane, False)

    def busy(self, lane: str | None = None) -> bool:
        return any(t.lane == lane if lane else t.lane != WATCH for t in self._tasks)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and wait for the threads to come to rest (on quit)."""
        self.cancel_all()
        ok = all(pool.waitForDone(timeout_ms) for pool in self._pools.values())
        return ok

"""The one worker helper: engine generators run off the GUI thread and report with signals."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

from app.worker import MODEL, WORK, Runner, TaskError
from engine.errors import HearthError
from engine.events import CancelToken


def _collect(task) -> dict[str, list]:
    seen: dict[str, list] = {"progress": [], "result": [], "error": [], "finished": []}
    task.progress.connect(seen["progress"].append)
    task.result.connect(seen["result"].append)
    task.error.connect(seen["error"].append)
    task.finished.connect(lambda: seen["finished"].append(threading.get_ident()))
    return seen


def test_events_result_and_finished_arrive_on_the_gui_thread(qtbot) -> None:
    runner = Runner()
    threads: list[int] = []

    def work(cancel: CancelToken) -> Generator[int, None, int]:
        threads.append(threading.get_ident())
        yield from range(5)
        return 42

    task = runner.start(work, lane=WORK)
    seen = _collect(task)
    qtbot.waitUntil(lambda: bool(seen["finished"]), timeout=10_000)
    assert seen["progress"] == [0, 1, 2, 3, 4]
    assert seen["result"] == [42] and seen["error"] == []
    assert threads[0] != threading.get_ident()  # the work ran off the GUI thread
    assert seen["finished"] == [threading.get_ident()]  # the signals come on the GUI thread
    assert not runner.busy()
    runner.shutdown()


def test_an_exception_becomes_a_readable_error(qtbot) -> None:
    runner = Runner()

    def work(cancel: CancelToken) -> Generator[int, None, int]:
        yield 1
        raise HearthError("The collection is busy. Try again in a moment.")

    task = runner.start(work)
    seen = _collect(task)
    qtbot.waitUntil(lambda: bool(seen["finished"]), timeout=10_000)
    assert seen["progress"] == [1] and seen["result"] == []
    (err,) = seen["error"]
    assert isinstance(err, TaskError)
    assert str(err) == "The collection is busy. Try again in a moment."
    assert "HearthError" in err.traceback
    runner.shutdown()


def test_cancel_stops_a_generator_between_steps(qtbot) -> None:
    runner = Runner()
    started = threading.Event()

    def work(cancel: CancelToken) -> Generator[int, None, int]:
        for i in range(10_000):
            started.set()
            if cancel.cancelled:
                return -1
            time.sleep(0.002)
            yield i
        return 10_000

    task = runner.start(work)
    seen = _collect(task)
    started.wait(5)
    task.cancel()
    qtbot.waitUntil(lambda: bool(seen["finished"]), timeout=10_000)
    assert seen["result"] == [-1]
    assert len(seen["progress"]) < 10_000
    runner.shutdown()


def test_model_work_always_runs_on_one_and_the_same_thread(qtbot) -> None:
    runner = Runner()
    model_threads: list[int] = []
    work_threads: list[int] = []
    for _ in range(3):
        runner.start(lambda c: model_threads.append(threading.get_ident()), lane=MODEL)
        runner.start(lambda c: work_threads.append(threading.get_ident()), lane=WORK)
    qtbot.waitUntil(lambda: not runner.busy(), timeout=10_000)
    assert len(set(model_threads)) == 1 and len(model_threads) == 3
    assert len(set(work_threads)) == 1
    assert set(model_threads) != set(work_threads)  # indexing never blocks an answer's thread
    runner.shutdown()

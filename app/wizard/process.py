"""The trainer as a child process: JSON event lines in, typed Qt signals out, cancel and kill.

Training and dataset generation never run in the window's process: a CUDA crash or an
out-of-memory kill must not take the window down, and the chat model in the app's worker must
not be disturbed. `TrainingProcess` starts `python -m trainer ...` with QProcess, reads one JSON
object per line from its standard output (trainer/events.py), turns each into the trainer's own
event dataclass and emits it on the GUI thread.

Cancel sends SIGTERM (the trainer saves the last completed step and says `cancelled`), then
kills the process if it has not ended after a grace period. No trainer outlives the app: every
live process is ended when the application quits, and on Linux the child is also told by the
kernel (PR_SET_PDEATHSIG) to stop if the app itself dies without quitting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import typing
import weakref
from collections import deque
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from trainer import events as ev

log = logging.getLogger(__name__)

CANCEL_GRACE_MS = 30_000
"""How long a cancelled trainer may take to save its checkpoint before it is killed."""
QUIT_GRACE_MS = 8_000
"""How long quitting the app waits for a trainer to save before killing it."""

_EVENT_TYPES: dict[str, type[Any]] = {
    "start": ev.Start,
    "prepare": ev.Prepare,
    "step": ev.Step,
    "eval": ev.Eval,
    "checkpoint": ev.Checkpoint,
    "export": ev.Export,
    "done": ev.Done,
    "error": ev.Error,
    "cancelled": ev.Cancelled,
}

# Runs in the child before the trainer: ask the kernel to send SIGTERM when the app dies (so a
# killed or crashed window leaves no trainer behind), then become the trainer.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "parent = int(sys.argv[1])\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != parent:\n"
    "    sys.exit(130)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def parse_event(raw: dict[str, Any]) -> ev.TrainerEvent | None:
    """The trainer event a JSON object stands for; None for an unknown kind of event.

    Fields the trainer may add later are ignored; a field missing from the line becomes its
    default (or None), so an older or newer trainer still drives the wizard.
    """
    kind = _EVENT_TYPES.get(str(raw.get("event")))
    if kind is None:
        return None
    hints = typing.get_type_hints(kind)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        if not f.init:
            continue
        if f.name in raw:
            value = raw[f.name]
            if value is not None and "Path" in str(hints.get(f.name, "")):
                value = Path(value)
            values[f.name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = None
    return kind(**values)


def trainer_import_root() -> Path:
    """The folder holding the `trainer` package, for the child's PYTHONPATH."""
    spec = find_spec("trainer")
    if spec is None or spec.origin is None:
        return Path(__file__).resolve().parents[2]
    return Path(spec.origin).resolve().parent.parent


class TrainingProcess(QObject):
    """One `python -m trainer ARGS` child, read event by event.

    Used for `run` (training), `train` and `generate` (a dataset from a collection).
    """

    started = Signal(object)
    prepared = Signal(object)
    stepped = Signal(object)
    evaluated = Signal(object)
    checkpointed = Signal(object)
    exported = Signal(object)
    done = Signal(object)
    cancelled = Signal(object)
    failed = Signal(str)
    """A message a person can act on: the trainer's error, or why the process stopped."""
    log_line = Signal(str)
    """A line the trainer wrote to stderr (library warnings, tracebacks)."""
    finished = Signal(str)
    """Always last: "done", "cancelled" or "failed"."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        home: Path,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.args = [str(a) for a in args]
        self.home = Path(home)
        self.events: list[ev.TrainerEvent] = []
        self.outcome: str | None = None
        self.error_message: str | None = None
        self.stderr_tail: deque[str] = deque(maxlen=200)
        self._stdout = b""
        self._stderr = b""
        self._cancel_requested = False
        self._proc = QProcess(self)
        self._proc.setProgram(sys.executable)
        self._proc.setProcessEnvironment(self._environment())
        self._proc.setWorkingDirectory(str(trainer_import_root()))
        self._proc.readyReadStandardOutput.connect(self._read_stdout)
        self._proc.readyReadStandardError.connect(self._read_stderr)
        self._proc.finished.connect(self._on_finished)
        self._proc.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self.kill)

    # --- control ----------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line the child runs (for logs and tests)."""
        return [sys.executable, "-m", "trainer", "--home", str(self.home), *self.args]

    def start(self) -> None:
        """Start the child; events follow as it prints them."""
        trainer_args = ["-m", "trainer", "--home", str(self.home), *self.args]
        if sys.platform.startswith("linux"):
            arguments = ["-c", _LAUNCHER, str(os.getpid()), *trainer_args]
        else:
            arguments = trainer_args
        self._proc.setArguments(arguments)
        log.info("starting %s", " ".join(self.command()))
        _live.add(self)
        self._proc.start()

    @property
    def running(self) -> bool:
        return self._proc.state() != QProcess.ProcessState.NotRunning

    @property
    def pid(self) -> int:
        return int(self._proc.processId())

    def cancel(self, grace_ms: int = CANCEL_GRACE_MS) -> None:
        """Ask the trainer to stop (it saves the last completed step); kill it after a grace."""
        if not self.running:
            return
        self._cancel_requested = True
        if sys.platform == "win32":
            self._proc.kill()  # a console process on Windows has no SIGTERM to catch
            return
        self._proc.terminate()
        self._kill_timer.start(grace_ms)

    def kill(self) -> None:
        if self.running:
            log.warning("the trainer did not stop in time; killing it")
            self._proc.kill()

    def stop_now(self, grace_ms: int = QUIT_GRACE_MS) -> None:
        """Cancel and wait (blocking) until the process is gone: for quitting the app."""
        if not self.running:
            return
        self.cancel(grace_ms)
        if not self._proc.waitForFinished(grace_ms):
            self._proc.kill()
            self._proc.waitForFinished(5_000)

    def wait(self, ms: int) -> bool:
        return bool(self._proc.waitForFinished(ms))

    # --- reading ----------------------------------------------------------------------------

    def _environment(self) -> QProcessEnvironment:
        env = QProcessEnvironment.systemEnvironment()
        root = str(trainer_import_root())
        path = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (root, path) if p))
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        return env

    def _read_stdout(self) -> None:
        self._stdout += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            self._handle_line(line.decode("utf-8", errors="replace").strip())

    def _read_stderr(self) -> None:
        self._stderr += bytes(self._proc.readAllStandardError().data())
        *lines, self._stderr = self._stderr.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)
                self.log_line.emit(text)

    def _handle_line(self, line: str) -> None:
        if not line:
            return
        try:
            raw = json.loads(line)
        except ValueError:
            self.stderr_tail.append(line)
            self.log_line.emit(line)
            return
        event = parse_event(raw) if isinstance(raw, dict) else None
        if event is None:
            self.log_line.emit(line)
            return
        self.events.append(event)
        if isinstance(event, ev.Start):
            self.started.emit(event)
        elif isinstance(event, ev.Prepare):
            self.prepared.emit(event)
        elif isinstance(event, ev.Step):
            self.stepped.emit(event)
        elif isinstance(event, ev.Eval):
            self.evaluated.emit(event)
        elif isinstance(event, ev.Checkpoint):
            self.checkpointed.emit(event)
        elif isinstance(event, ev.Export):
            self.exported.emit(event)
        elif isinstance(event, ev.Done):
            self.outcome = "done"
            self.done.emit(event)
        elif isinstance(event, ev.Cancelled):
            self.outcome = "cancelled"
            self.cancelled.emit(event)
        elif isinstance(event, ev.Error):
            self.outcome = "failed"
            self.error_message = event.message
            self.failed.emit(event.message)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._stdout.strip():
            self._handle_line(self._stdout.decode("utf-8", errors="replace").strip())
            self._stdout = b""
        self._read_stderr()
        if self.outcome is None:
            if self._cancel_requested or code == 130:
                self.outcome = "cancelled"
            elif code == 0 and status == QProcess.ExitStatus.NormalExit:
                self.outcome = "done"
            else:
                self.outcome = "failed"
                tail = "\n".join(list(self.stderr_tail)[-3:])
                how = (
                    "was killed (perhaps it ran out of memory)"
                    if status == QProcess.ExitStatus.CrashExit
                    else f"stopped with exit code {code}"
                )
                self.error_message = f"The trainer {how}." + (f"\n{tail}" if tail else "")
                self.failed.emit(self.error_message)
        _live.discard(self)
        self.finished.emit(self.outcome)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart:
            return
        self.outcome = "failed"
        self.error_message = (
            f"The trainer could not start ({self._proc.errorString()}). Check that Hearth's "
            "training packages are installed: pip install 'hearth[train]'."
        )
        _live.discard(self)
        self.failed.emit(self.error_message)
        self.finished.emit(self.outcome)


# --- no orphans -----------------------------------------------------------------------------

_live: weakref.WeakSet[TrainingProcess] = weakref.WeakSet()
_quit_hooked = False


def live_processes() -> list[TrainingProcess]:
    """Trainer processes started by this app that are still running."""
    return [p for p in list(_live) if p.running]


def stop_all(grace_ms: int = QUIT_GRACE_MS) -> None:
    """End every trainer process this app started (blocking; used when the app quits)."""
    for proc in live_processes():
        proc.stop_now(grace_ms)


def hook_quit() -> None:
    """End all trainer processes when the application quits (connected once)."""
    global _quit_hooked
    app = QCoreApplication.instance()
    if app is None or _quit_hooked:
        return
    app.aboutToQuit.connect(stop_all)
    _quit_hooked = True

"""Reading risky formats in a separate process, under a memory and a time budget.

Office, web, e-mail and e-book files go through third-party parsers (unstructured,
python-docx, lxml, pandoc) that unpack and build whole documents in memory; a hostile or
broken file can make them take gigabytes or never finish. Hearth reads such files in one
worker process that lives for the whole ingest (starting it costs seconds: the parsers are
imported there once, before the memory limit is set). The worker's address space is capped
(`RLIMIT_AS`) at what it needs after those imports plus `MEMORY_BUDGET_BYTES`; each file has
a time budget. A file that exceeds either is reported with its reason, the worker is started
afresh for the next file, and the ingest goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable, Generator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine import errors
from engine.errors import DocumentError
from engine.ingest.document import ParsedDocument

RISKY_KINDS = frozenset({"docx", "pptx", "xlsx", "html", "email", "epub", "odt"})
"""Formats read in the worker; PDF (PyMuPDF, bounded by page) and plain text stay in-process."""

MEMORY_BUDGET_BYTES = 1536 * 2**20
"""Address space the worker may add to what its parsers take once imported."""

_OUT_OF_MEMORY_EXIT = 3
"""The worker's exit code when memory ran out outside a file's reading (`serve`)."""

_OUT_OF_MEMORY_ENDS = (
    _OUT_OF_MEMORY_EXIT,
    *(
        -getattr(signal, name)
        for name in ("SIGKILL", "SIGSEGV", "SIGABRT", "SIGBUS")
        if hasattr(signal, name)
    ),
)
"""How a worker out of memory ends (C libraries that do not raise MemoryError abort or crash);
any other end without an answer means the worker itself failed, not the file."""

MIN_SECONDS = 60.0
SECONDS_PER_MB = 30.0
MAX_SECONDS = 900.0


def time_budget(size: int) -> float:
    """Seconds a file of `size` bytes may take to read before Hearth gives up on it."""
    return min(MAX_SECONDS, max(MIN_SECONDS, SECONDS_PER_MB * size / 2**20))


class ParserWorker:
    """One worker process for the risky formats of an ingest; started on first use."""

    def __init__(self, *, memory_bytes: int | None = None) -> None:
        self.memory_bytes = MEMORY_BUDGET_BYTES if memory_bytes is None else memory_bytes
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        """Start the worker now (it warms up while the caller does other work)."""
        if self._process is not None and self._process.is_alive():
            return
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs torch
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=serve, args=(child, self.memory_bytes), name="hearth-reader", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def parse(self, path: Path, *, seconds: float) -> Generator[float, None, ParsedDocument]:
        """Read `path` in the worker. Yields the seconds waited, about once a second, and
        returns the document; raises the reader's `DocumentError`, or one saying which budget
        the file exceeded."""
        self.start()
        conn = self._conn
        assert conn is not None
        name = path.name
        started = time.monotonic()
        conn.send(str(path))
        while True:
            try:
                if conn.poll(1.0):
                    reply = conn.recv()
                    break
            except (EOFError, OSError):
                reply = None
                break
            if not self._process.is_alive():
                reply = None
                break
            waited = time.monotonic() - started
            if waited > seconds:
                self.close()
                raise DocumentError(
                    path,
                    f"{name} took longer than {seconds:.0f} s to read, so Hearth stopped reading "
                    "it (the rest was indexed). It may be damaged or unusually complex: open it "
                    "and save a fresh copy, or export it as PDF, and add that.",
                )
            yield waited
        code = self._exit_code() if reply is None else None
        if code is not None and code not in _OUT_OF_MEMORY_ENDS:
            self.close()
            raise DocumentError(
                path,
                f"Hearth's reader for Office, web and e-mail files stopped (exit code {code}) "
                f"before it could read {name}. Add the file again; if this keeps happening, "
                "reinstall Hearth with the README's command.",
            )
        if reply is None or reply[0] == "memory":
            self.close()
            raise DocumentError(
                path,
                f"{name} needed more memory to read than Hearth allows for one document "
                f"({self.memory_bytes / 2**30:.1f} GB), so Hearth stopped reading it (the rest "
                "was indexed). It may be damaged or built to exhaust memory; if it is genuine, "
                "split it or export it as PDF and add that.",
            )
        if reply[0] == "ok":
            doc: ParsedDocument = reply[1]
            return doc
        error_type = getattr(errors, reply[1], DocumentError)
        if not (isinstance(error_type, type) and issubclass(error_type, DocumentError)):
            error_type = DocumentError
        raise error_type(path, reply[2])

    def _exit_code(self) -> int | None:
        """The worker's exit code once it has ended (negative: the signal that ended it)."""
        if self._process is None:
            return None
        self._process.join(1.0)
        code: int | None = self._process.exitcode
        return code

    def close(self) -> None:
        """Stop the worker (at the end of an ingest, or after a file broke a budget)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._process = None


# --- the worker's side ------------------------------------------------------------------------


def _warm_up() -> None:
    """Import the parsers once, so their memory is counted before the limit is set."""
    from engine.ingest import office

    office._offline_nlp()
    import unstructured.partition.docx
    import unstructured.partition.html
    import unstructured.partition.pptx
    import unstructured.partition.xlsx  # noqa: F401


def _limit_memory(budget: int) -> None:
    try:
        import resource
    except ImportError:
        return  # not on this platform: the time budget still applies
    try:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        size = 2 * 2**30
    limit = size + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _out_of_memory(exc: BaseException) -> bool:
    """Whether a reader's error came from the memory limit: C libraries (zlib, lxml) report a
    failed allocation as their own error ("Unable to allocate output buffer"), not MemoryError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError):
            return True
        if seen is not exc and re.search(r"\balloc|memory", str(seen), re.IGNORECASE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def serve(conn: Connection, memory_bytes: int) -> None:
    """The worker's loop: read the paths it is sent, answer with a document or an error."""
    from engine.ingest.parse import parse_file

    try:
        _warm_up()
    except ImportError:
        pass  # the reader raises MissingDependency with the package to install
    _limit_memory(memory_bytes)
    try:
        _serve_files(conn, parse_file)
    except MemoryError:
        os._exit(_OUT_OF_MEMORY_EXIT)


def _serve_files(conn: Connection, parse_file: Callable[[Path], ParsedDocument]) -> None:
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        reply: tuple[Any, ...]
        try:
            reply = ("ok", parse_file(Path(path)))
        except MemoryError:
            reply = ("memory",)
        except DocumentError as exc:
            reply = (
                ("memory",) if _out_of_memory(exc) else ("error", type(exc).__name__, exc.reason)
            )
        except errors.HearthError as exc:
            reply = ("error", "DocumentError", str(exc))
        except Exception as exc:  # a parser bug on one file must not end the worker
            reply = (
                "error",
                "CorruptDocument",
                f"{Path(path).name} could not be read ({type(exc).__name__}: {exc}). It may be "
                "damaged or in a variant of the format Hearth does not handle.",
            )
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory",))

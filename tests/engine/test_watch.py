"""Linked folders kept in sync by the real watcher (watchdog) on real files.

The watcher runs in a thread with a short debounce; every wait is bounded, and each test
waits for the state it expects rather than for a fixed time.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.documents import make_markdown, make_pdf

from engine import CancelToken, Hearth
from engine.events import FileIndexed
from engine.ingest.folders import is_ignored
from engine.watch import FolderState

DEBOUNCE_S = 0.4
WAIT_S = 60.0
"""Longest wait for the watcher to reach a state (the first batch loads the embedder)."""


class Watching:
    """`Hearth.watch` running in a thread, its events collected in order."""

    def __init__(self, h: Hearth) -> None:
        self.token = CancelToken()
        self.events: list[object] = []
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(h,), daemon=True)
        self.thread.start()

    def _run(self, h: Hearth) -> None:
        try:
            for event in h.watch(cancel=self.token, debounce_s=DEBOUNCE_S):
                self.events.append(event)
        except BaseException as exc:  # reported by wait()/stop() in the test's thread
            self.failure = exc

    def states(self, folder: Path) -> list[FolderState]:
        return [e for e in self.events if isinstance(e, FolderState) and e.folder == folder]

    def wait(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.failure is not None:
                raise self.failure
            if condition():
                return
            time.sleep(0.05)
        pytest.fail(f"the watcher did not get there within {WAIT_S:.0f}s: {what}")

    def settle(self) -> None:
        """Wait until the watcher has nothing pending: every folder watching or unavailable."""

        def quiet() -> bool:
            last: dict[Path, str] = {}
            for e in self.events:
                if isinstance(e, FolderState):
                    last[e.folder] = e.state
            return bool(last) and all(s in ("watching", "unavailable") for s in last.values())

        time.sleep(DEBOUNCE_S * 3)
        self.wait("all folders at rest", quiet)

    def stop(self) -> None:
        self.token.cancel()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        if self.failure is not None:
            raise self.failure


@pytest.fixture
def hearth(hearth_home: Path) -> Iterator[Hearth]:
    with Hearth(hearth_home) as h:
        yield h


@pytest.fixture
def watching(hearth: Hearth) -> Iterator[Watching]:
    w = Watching(hearth)
    yield w
    w.stop()


def names(h: Hearth, collection: str = "Linked") -> set[str]:
    return {d.name for d in h.documents(collection) if d.status == "indexed"}


def note(path: Path, text: str) -> Path:
    return make_markdown(path, f"# {path.stem}\n\n{text}\n")


def test_a_linked_folder_follows_new_changed_renamed_and_deleted_files(
    tmp_path: Path, hearth: Hearth, watching: Watching
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    note(folder / "boiler.md", "The boiler is serviced every autumn.")
    hearth.link_folder(folder, collection="Linked")
    watching.wait("the start-up check indexes the folder", lambda: names(hearth) == {"boiler.md"})

    make_pdf(folder / "heat-pump.pdf", ["The heat pump defrosts itself in winter."])
    watching.wait("a new PDF is indexed", lambda: "heat-pump.pdf" in names(hearth))

    note(folder / "boiler.md", "The boiler now has a magnetic sludge filter.")
    watching.wait(
        "a changed file is indexed again",
        lambda: any(
            h.file.name == "boiler.md"
            for h in hearth.search("sludge filter", collection="Linked", k=3)
        ),
    )

    (folder / "boiler.md").rename(folder / "old-boiler.md")
    watching.wait(
        "a rename follows the file", lambda: names(hearth) == {"old-boiler.md", "heat-pump.pdf"}
    )

    (folder / "heat-pump.pdf").unlink()
    watching.wait("a deleted file is dropped", lambda: names(hearth) == {"old-boiler.md"})

    sub = folder / "archive"
    sub.mkdir()
    note(sub / "2019.md", "Old readings from 2019.")
    watching.wait("a file in a new sub-folder is indexed", lambda: "2019.md" in names(hearth))
    shutil.rmtree(sub)
    watching.wait("a deleted sub-folder is dropped", lambda: names(hearth) == {"old-boiler.md"})


def test_temporary_lock_and_hidden_files_are_ignored(
    tmp_path: Path, hearth: Hearth, watching: Watching
) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    hearth.link_folder(folder, collection="Linked")
    watching.settle()
    junk = ["~$report.docx", ".report.md.swp", "report.pdf.part", "film.md.crdownload",
            "draft.md.tmp", ".hidden.md", "notes.md~"]  # fmt: skip
    for name in junk:
        (folder / name).write_text("# Junk\n\nnot a document anyone wrote\n", encoding="utf-8")
    (folder / ".git").mkdir()
    note(folder / ".git" / "inside.md", "version control internals")
    note(folder / "report.md", "The real report.")
    watching.wait("the real file is indexed", lambda: names(hearth) == {"report.md"})
    watching.settle()
    assert names(hearth) == {"report.md"}
    assert all(is_ignored(folder / name, folder) for name in junk)
    assert not is_ignored(folder / "report.md", folder)


def test_a_save_storm_and_a_big_copy_are_one_batch_each(
    tmp_path: Path, hearth: Hearth, watching: Watching
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    hearth.link_folder(folder, collection="Linked")
    watching.settle()
    start = len(watching.events)
    for n in range(30):  # an editor saving over and over
        note(folder / "draft.md", f"Draft number {n} of the plan.")
    watching.wait("the draft is indexed", lambda: "draft.md" in names(hearth))
    watching.settle()
    source = tmp_path / "incoming"
    source.mkdir()
    for n in range(200):
        note(source / f"letter-{n:03}.md", f"Letter {n} about the garden shed.")
    shutil.copytree(source, folder / "letters")
    watching.wait("the copy is indexed", lambda: len(names(hearth)) == 201)
    watching.settle()
    syncs = [
        e for e in watching.events[start:] if isinstance(e, FolderState) and e.state == "syncing"
    ]
    indexed = [e for e in watching.events[start:] if isinstance(e, FileIndexed)]
    assert len(syncs) == 2, syncs  # one for the save storm, one for the copy
    assert syncs[0].files == 1 and syncs[1].files == 200
    assert len(indexed) == 201


def test_a_file_being_written_is_indexed_once_complete(
    tmp_path: Path, hearth: Hearth, watching: Watching
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    hearth.link_folder(folder, collection="Linked")
    watching.settle()
    path = folder / "manual.md"
    with path.open("w", encoding="utf-8") as f:
        f.write("# Manual\n\nThe first half arrives.\n")
        f.flush()
        time.sleep(DEBOUNCE_S * 6)  # a slow download: quiet for longer than the debounce
        assert "manual.md" not in names(hearth)
        f.write("\nThe second half mentions the pressure gauge.\n")
    watching.wait("the finished file is indexed", lambda: "manual.md" in names(hearth))
    indexed = [e for e in watching.events if isinstance(e, FileIndexed) and e.path == path]
    assert len(indexed) == 1
    assert hearth.search("pressure gauge", collection="Linked", k=1)[0].file == path


def test_a_folder_that_disappears_is_unavailable_not_emptied(
    tmp_path: Path, hearth: Hearth, watching: Watching
) -> None:
    drive = tmp_path / "usb"
    folder = drive / "papers"
    folder.mkdir(parents=True)
    note(folder / "deed.md", "The deed of the house.")
    note(folder / "survey.md", "The survey of the roof.")
    hearth.link_folder(folder, collection="Linked")
    watching.wait("indexed", lambda: names(hearth) == {"deed.md", "survey.md"})
    watching.settle()

    away = tmp_path / "unplugged"
    drive.rename(away)  # the drive is pulled out
    watching.wait("marked unavailable", lambda: watching.states(folder)[-1].state == "unavailable")
    watching.settle()
    assert names(hearth) == {"deed.md", "survey.md"}
    [linked] = hearth.linked_folders("Linked")
    assert not linked.available and linked.documents == 2

    (away / "papers" / "survey.md").unlink()  # changed elsewhere while away
    note(away / "papers" / "will.md", "The last will.")
    away.rename(drive)  # plugged in again
    watching.wait("re-checked on return", lambda: names(hearth) == {"deed.md", "will.md"})
    assert watching.states(folder)[-1].state in ("syncing", "watching")


def test_changes_while_closed_are_found_at_start_by_size_and_time(
    tmp_path: Path, hearth: Hearth
) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    for n in range(5):
        note(folder / f"paper-{n}.md", f"Paper {n} on insulation.")
    hearth.link_folder(folder, collection="Linked")
    first = Watching(hearth)
    first.wait("indexed", lambda: len(names(hearth)) == 5)
    first.settle()
    first.stop()

    # While Hearth is closed: one file changed, one deleted, one added, the rest untouched.
    note(folder / "paper-0.md", "Paper 0 now covers triple glazing.")
    (folder / "paper-1.md").unlink()
    note(folder / "paper-9.md", "Paper 9 on heat recovery.")
    second = Watching(hearth)
    second.settle()
    second.stop()
    [check] = [s for s in second.states(folder) if s.state == "syncing"]
    assert (check.files, check.removed) == (2, 1)
    indexed = {e.path.name for e in second.events if isinstance(e, FileIndexed)}
    assert indexed == {"paper-0.md", "paper-9.md"}
    assert names(hearth) == {"paper-0.md", "paper-2.md", "paper-3.md", "paper-4.md", "paper-9.md"}

"""Linking folders to a collection: stored in the catalogue, listed, unlinked; the CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.documents import make_markdown

from engine import Hearth
from engine.cli import main
from engine.errors import HearthError
from engine.watch import changes, scan


def notes(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        make_markdown(folder / f"n{i}.md", f"# Note {i}\n\nAbout the cellar, {i}.\n")
        for i in range(n)
    ]


def test_link_list_and_unlink(tmp_path: Path, hearth_home: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    notes(a, 2)
    notes(b, 1)
    with Hearth(hearth_home) as h:
        linked = h.link_folder(a, collection="Home")
        assert linked.path == a and linked.available and linked.documents == 0
        h.link_folder(b, collection="Home")
        h.link_folder(a, collection="Home")  # linking twice changes nothing
        list(h.ingest([a, b], collection="Home"))
        assert [(f.path, f.documents) for f in h.linked_folders("Home")] == [(a, 2), (b, 1)]

        (a / "sub").mkdir()
        with pytest.raises(HearthError, match="inside"):
            h.link_folder(a / "sub", collection="Home")
        with pytest.raises(HearthError, match="not a folder"):
            h.link_folder(tmp_path / "missing", collection="Home")

        assert h.unlink_folder(a, collection="Home") == 2
        assert {d.name for d in h.documents("Home")} == {"n0.md"}  # b's note stays
        assert h.unlink_folder(b, collection="Home", keep_documents=True) == 0
        assert h.linked_folders("Home") == [] and len(h.documents("Home")) == 1
        with pytest.raises(HearthError, match="not linked"):
            h.unlink_folder(b, collection="Home")


def test_links_survive_a_restart_and_a_missing_folder_is_listed_unavailable(
    tmp_path: Path, hearth_home: Path
) -> None:
    folder = tmp_path / "usb" / "papers"
    notes(folder, 1)
    with Hearth(hearth_home) as h:
        h.link_folder(folder, collection="Home")
        list(h.ingest([folder], collection="Home"))
    (tmp_path / "usb").rename(tmp_path / "away")
    with Hearth(hearth_home) as h:
        [linked] = h.linked_folders()
        assert linked.path == folder and not linked.available and linked.documents == 1


def test_recheck_compares_size_and_time_and_skips_ignored_files(
    tmp_path: Path, hearth_home: Path
) -> None:
    folder = tmp_path / "docs"
    paths = notes(folder, 3)
    (folder / "~$draft.md").write_text("lock file", encoding="utf-8")
    (folder / "n0.md.swp").write_text("swap file", encoding="utf-8")
    assert set(scan(folder)) == set(paths)
    with Hearth(hearth_home) as h:
        list(h.ingest([folder], collection="Home"))
        coll = h._collections.get("Home")
        assert changes(coll, folder) == ([], [])
        make_markdown(paths[0], "# Note 0\n\nRewritten, and longer than before.\n")
        paths[1].unlink()
        assert changes(coll, folder) == ([paths[0]], [paths[1]])


def test_cli_link_status_unlink(
    tmp_path: Path, hearth_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "letters"
    notes(folder, 2)
    home = ["--home", str(hearth_home)]
    assert main([*home, "link", str(folder), "-c", "Post", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"linked: {folder} → 'Post'" in out and "2 indexed" in out
    assert main([*home, "status", "-c", "Post"]) == 0
    assert f"linked folder: {folder} — 2 documents, linked" in capsys.readouterr().out
    assert main([*home, "unlink", str(folder), "-c", "Post"]) == 0
    assert "2 documents removed" in capsys.readouterr().out
    assert main([*home, "unlink", str(folder), "-c", "Post"]) == 1
    assert "is not linked" in capsys.readouterr().err


def test_a_recheck_reads_the_folder_as_the_ingest_did_links_included(
    tmp_path: Path, hearth_home: Path
) -> None:
    """A linked folder holding a link to another folder: the ingest reads the files behind
    the link, so the start-up re-check must find them too, not take them for deleted."""
    folder = tmp_path / "docs"
    notes(folder, 1)
    (tmp_path / "shared").mkdir()
    elsewhere = [
        make_markdown(tmp_path / "shared" / f"s{i}.md", f"# Shared {i}\n\nAbout the attic, {i}.\n")
        for i in range(2)
    ]
    (folder / "shared").symlink_to(tmp_path / "shared", target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    with Hearth(hearth_home) as h:
        h.link_folder(folder, collection="Home")
        list(h.ingest([folder], collection="Home"))
        indexed = {d.path for d in h.documents("Home") if d.status == "indexed"}
        assert indexed == {folder / "n0.md", *(folder / "shared" / p.name for p in elsewhere)}
        coll = h._collections.get("Home")
        assert changes(coll, folder) == ([], [])
        elsewhere[0].unlink()
        assert changes(coll, folder) == ([], [folder / "shared" / elsewhere[0].name])

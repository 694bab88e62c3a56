"""Which files of a folder are documents (engine/ingest/folders.py): one rule for an added
folder (`discover`), a linked folder's re-check (`scan`) and its file events (`is_ignored`)."""

from __future__ import annotations

from pathlib import Path

from engine.ingest.document import looks_machine_written
from engine.ingest.folders import is_ignored
from engine.ingest.parse import is_supported
from engine.ingest.pipeline import discover
from engine.watch import scan

PAGE = "<html><head><title>{0}</title>{1}</head><body><h1>{0}</h1><p>Text of {0}.</p></body></html>"
MINIFIED = (
    "!function(e,t){" + ";".join(f"var a{i}=e[{i}]||t({i},{{x:{i}}})" for i in range(300)) + "}"
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def found(folder: Path) -> set[str]:
    """The files an added folder indexes, checked against the linked-folder rules."""
    files = discover([folder]).files
    assert set(scan(folder)) == set(files)
    for path in folder.rglob("*"):
        if path.is_file():
            # What a linked folder's file event indexes (engine/watch.py: _wanted).
            wanted = not is_ignored(path, folder) and is_supported(path)
            assert wanted == (path in files), path
    return {p.relative_to(folder).as_posix() for p in files}


def test_a_sphinx_build_is_read_as_its_pages(tmp_path: Path) -> None:
    site = tmp_path / "docs" / "html"
    for name in (
        "index",
        "faq",
        "usage/theming",
        "genindex",
        "genindex-A",
        "py-modindex",
        "search",
    ):
        write(site / f"{name}.html", PAGE.format(name, ""))
    write(site / "searchindex.js", 'Search.setIndex({"docnames":["faq","index"]})')
    (site / "objects.inv").write_bytes(b"# Sphinx inventory version 2\n" + bytes(range(256)))
    write(site / "_sources" / "faq.rst.txt", "FAQ\n===\n\nText of faq.\n")
    write(site / "_sources" / "usage" / "theming.rst.txt", "Theming\n=======\n")
    write(site / "_static" / "basic.css", "div.body { min-width: 360px; }\n")
    write(site / "_static" / "doctools.js", "const Documentation = {\n  init: () => {},\n};\n")
    write(site / "_downloads" / "example.py", "def example():\n    return 1\n")
    (site / "_images").mkdir()
    (site / "_images" / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert found(tmp_path / "docs") == {
        "html/index.html",
        "html/faq.html",
        "html/usage/theming.html",
        "html/_downloads/example.py",
    }


def test_a_generated_sites_scripts_and_styles_are_passed_over(tmp_path: Path) -> None:
    meta = '<meta name="generator" content="Doxygen 1.9.4"/>'
    write(tmp_path / "api" / "index.html", PAGE.format("API", meta))
    write(tmp_path / "api" / "classes.html", PAGE.format("Classes", ""))
    write(tmp_path / "api" / "navtree.js", "var NAVTREE = [\n  ['API', 'index.html'],\n];\n")
    write(tmp_path / "api" / "tabs.css", ".tabs { width: 100%; }\n")
    write(tmp_path / "api" / "search" / "all_0.js", "var searchData = [\n  ['a', []],\n];\n")
    write(tmp_path / "api" / "search" / "search.css", "#MSearchBox { }\n")
    assert found(tmp_path) == {"api/index.html", "api/classes.html"}


def test_a_web_project_keeps_its_scripts(tmp_path: Path) -> None:
    # No generator named, no search index: the scripts are somebody's code.
    write(tmp_path / "index.html", PAGE.format("My app", ""))
    write(tmp_path / "src" / "app.js", "export function start() {\n  return 1;\n}\n")
    write(tmp_path / "style.css", "body { margin: 0; }\n")
    assert found(tmp_path) == {"index.html", "src/app.js", "style.css"}


def test_text_written_for_machines_is_passed_over_anywhere(tmp_path: Path) -> None:
    write(tmp_path / "vendor" / "lib.min.js", "/*! lib v1 */\n" + MINIFIED)
    write(
        tmp_path / "data" / "index.json",
        '{"terms":{' + ",".join(f'"t{i}":[{i},{i + 1}]' for i in range(400)) + "}}",
    )
    write(
        tmp_path / "vendor" / "lib.min.js.map",
        '{"version":3,"mappings":"' + "AAAA,CAAC;" * 400 + '"}',
    )
    write(
        tmp_path / "notes.md",
        "# Notes\n\n" + "A paragraph written on one line, as editors do. " * 80,
    )
    write(tmp_path / "plain.js", "function plain() {\n  return 1;\n}\n")
    assert found(tmp_path) == {"notes.md", "plain.js"}
    # A named file is always tried.
    assert discover([tmp_path / "vendor" / "lib.min.js"]).files == [
        tmp_path / "vendor" / "lib.min.js"
    ]


def test_prose_on_long_lines_is_not_taken_for_machine_text() -> None:
    english = (
        "Hearth reads your documents, and answers (with citations) from them. " * 60
    ).encode()
    chinese = ("这是一个很长的中文段落，没有空格，也不是机器写的文本。" * 80).encode()
    assert not looks_machine_written(english)
    assert not looks_machine_written(chinese)
    assert looks_machine_written(MINIFIED.encode())

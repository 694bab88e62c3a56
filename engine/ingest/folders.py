"""Which files of a folder are documents: one rule for adding a folder and for linked folders.

A folder dropped whole should index what a person would read in it. Passed over quietly:

- **hidden, temporary and lock files** (`.x`, `~$x.docx`, `x.swp`, `x.part`, `x.crdownload`,
  `x.tmp`, `x~`, `#x#`);
- **version-control, dependency and cache folders** (`.git`, `node_modules`, `__pycache__`...);
- **a generated site's machinery.** A folder of web pages written by a documentation
  generator (its `index.html` names the generator, as Doxygen, Javadoc, MkDocs, Texinfo and
  DocBook do, or it is a Sphinx build) carries the scripts and styles the pages run on:
  they are passed over in it and below it. A Sphinx build (the generator of Python's
  documentation and of most Python projects') also holds a plain-text copy of every page's
  source (`_sources/`), its theme (`_static/`), its search index (`searchindex.js`,
  `objects.inv`) and pages generated from the other pages (the general index, the module
  index, the search page). Read with the pages, the copies doubled the indexing time and
  filled the first results with the same text twice, and the search index and the index
  pages matched every question with lists of names. The build is recognised by its search
  index beside its pages; the pages themselves are read like any web page.
- **text written for machines** (minified scripts and styles, source maps, the one-line
  search indexes of other generators), wherever it is: `is_supported` in
  engine/ingest/parse.py judges it by its content.

A file named explicitly is always tried: these rules are for what a folder happens to hold.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

SKIPPED_FOLDERS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".tox", ".cache"}
)
"""Version-control, dependency and cache folders: never documents."""

_TEMP_SUFFIXES = {
    ".swp", ".swo", ".swx", ".part", ".partial", ".crdownload", ".download", ".tmp", ".temp",
    ".bak", ".lock", ".lck", ".~lock",
}  # fmt: skip

SPHINX_MARKERS = ("searchindex.js", "objects.inv")
"""Files at the root of every Sphinx HTML build (its search index and its inventory)."""

SPHINX_MACHINERY_FOLDERS = frozenset({"_sources", "_static"})
"""Sub-folders of a Sphinx build that are not pages: source copies, scripts and styles."""

_SPHINX_MACHINERY_FILE = re.compile(
    r"searchindex\.js|objects\.inv|search\.html|genindex(-[^/]*)?\.html|[a-z]+-modindex\.html"
)
"""Files of a Sphinx build's root that are not pages written by its authors."""


def is_ignored_name(name: str) -> bool:
    """Whether a file name is hidden, temporary or a lock file (`~$x.docx`, `x.swp`, `x.part`)."""
    if name.startswith((".", "~$", "~", "#")) or name.endswith(("~", "#")):
        return True
    return os.path.splitext(name)[1].lower() in _TEMP_SUFFIXES


def is_skipped_folder(name: str) -> bool:
    """Whether a folder of this name is hidden, version control, dependencies or a cache."""
    return name.startswith(".") or name in SKIPPED_FOLDERS


WEB_ASSET_SUFFIXES = frozenset({".js", ".mjs", ".cjs", ".css", ".map"})
"""Scripts, styles and source maps: a generated site's machinery."""

_GENERATOR = re.compile(rb"<meta\b[^>]*\bname\s*=\s*[\"']?generator\b", re.IGNORECASE)
_HEAD_BYTES = 8192


def _names_generator(page: Path) -> bool:
    """Whether a web page's head declares the program that generated it."""
    try:
        with open(page, "rb") as f:
            return _GENERATOR.search(f.read(_HEAD_BYTES)) is not None
    except OSError:
        return False


def _is_sphinx_build(names: Collection[str]) -> bool:
    return any(marker in names for marker in SPHINX_MARKERS)


def is_generated_site(folder: Path, names: Collection[str]) -> bool:
    """Whether `folder`, holding entries `names`, is the root of a generated site."""
    return _is_sphinx_build(names) or (
        "index.html" in names and _names_generator(folder / "index.html")
    )


def site_machinery(
    folder: Path, names: Collection[str], *, in_site: bool = False
) -> tuple[frozenset[str], bool]:
    """The entries of `folder` (given all their names) that are a generated site's machinery
    rather than its pages, and whether the folder is part of a generated site (pass it on to
    its sub-folders as `in_site`)."""
    in_site = in_site or is_generated_site(folder, names)
    if not in_site:
        return frozenset(), False
    sphinx = _is_sphinx_build(names)
    return (
        frozenset(
            name
            for name in names
            if os.path.splitext(name)[1].lower() in WEB_ASSET_SUFFIXES
            or (
                sphinx
                and (name in SPHINX_MACHINERY_FOLDERS or _SPHINX_MACHINERY_FILE.fullmatch(name))
            )
        ),
        True,
    )


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def is_ignored(path: Path, folder: Path) -> bool:
    """Whether a file inside `folder` is passed over: hidden, temporary, a lock file, in a
    version-control or cache folder, or part of a generated site's machinery."""
    try:
        parts = path.relative_to(folder).parts
    except ValueError:
        return True
    if not parts:
        return is_ignored_name(path.name)
    if any(is_skipped_folder(part) for part in parts[:-1]) or is_ignored_name(parts[-1]):
        return True
    # A site's machinery: only names that can be are looked into (it costs a listing of each
    # folder on the way down).
    asset = os.path.splitext(parts[-1])[1].lower() in WEB_ASSET_SUFFIXES
    if not asset and not any(
        p in SPHINX_MACHINERY_FOLDERS or _SPHINX_MACHINERY_FILE.fullmatch(p) for p in parts
    ):
        return False
    here, in_site = folder, False
    for part in parts:
        machinery, in_site = site_machinery(here, _names(here), in_site=in_site)
        if part in machinery:
            return True
        here = here / part
    return False

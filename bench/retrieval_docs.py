"""The documents of the retrieval benchmark: real manuals from Debian's documentation packages.

Nobody in the project wrote them, and they are of the kinds users bring: eight PDF manuals
(1,585 pages: a plotting program, a documentation generator, a system administration guide,
a vector graphics language, a linear programming kit and its modelling language, an X11
protocol convention, a computer algebra tutorial), 55 HTML pages of a network analyser's user
guide, and three Word files made from chapters of its developer guide (Debian ships no .docx
manuals; python-docx writes the real text with its headings, so the Word reader meets real
structure).

`prepare(folder)` installs the packages with apt where they are missing (it says so), then
copies the files into `folder`, unpacking `.pdf.gz` and writing the Word files. The questions
in `retrieval_questions.json` name these files by their path relative to `folder`. Page
numbers are those of the Debian 12 ("bookworm") packages; `VERSIONS` records them and the
set-up warns when another version is installed (the evidence check then says which questions
no longer hold).
"""

from __future__ import annotations

import gzip
import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

VERSIONS = {
    "gnuplot-doc": "5.4.4+dfsg1-2",
    "doxygen-doc": "1.9.4-4",
    "debian-reference-en": "2.100",
    "asymptote-doc": "2.85+ds-1",
    "glpk-doc": "5.0-1",
    "xorg-docs": "1:1.7.1-1.2",
    "maxima-doc": "5.46.0-11",
    "wireshark-doc": "4.0.17-0+deb12u3",
}
"""Debian packages the benchmark installs, with the versions its page numbers refer to."""

PDFS = {
    "gnuplot.pdf": "/usr/share/doc/gnuplot/gnuplot.pdf",
    "doxygen_manual.pdf": "/usr/share/doc/doxygen/doxygen_manual.pdf",
    "debian-reference.en.pdf": "/usr/share/debian-reference/debian-reference.en.pdf",
    "asymptote.pdf": "/usr/share/doc/asymptote/asymptote.pdf",
    "glpk.pdf": "/usr/share/doc/glpk-doc/glpk.pdf",
    "gmpl.pdf": "/usr/share/doc/glpk-doc/gmpl.pdf",
    "icccm.pdf": "/usr/share/doc/xorg-docs/icccm/icccm.pdf.gz",
    "maximabook-19-Sept-2004.pdf": "/usr/share/doc/maxima-doc/maximabook-19-Sept-2004.pdf.gz",
}

USER_GUIDE = Path("/usr/share/doc/wireshark/wsug_html_chunked")
USER_GUIDE_PAGES = re.compile(r"Ch(Adv|Cap|Cust|IO|Use)\w*\.html")
"""The user guide's chapters on capturing, files, the interface, customising and advanced
topics: 55 HTML files, copied as they are into `wireshark-guide/`."""

DEVELOPER_GUIDE = Path("/usr/share/doc/wireshark/wsdg_html_chunked")
WORD_FILES = {
    "wireshark-developer-tools.docx": "ChTools",
    "wireshark-developer-libraries.docx": "ChLibs",
    "wireshark-developer-sources.docx": "ChSrc",
}
"""Word files made from the developer guide: each joins the sections whose files start so."""


def _installed_version(package: str) -> str | None:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}\t${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except FileNotFoundError:
        return None
    status, _, version = out.partition("\t")
    return version if status.endswith(" installed") else None


def install_packages() -> None:
    """Install the documentation packages with apt where they are missing."""
    missing = [p for p in VERSIONS if _installed_version(p) is None]
    if missing:
        print(f"installing Debian packages with apt-get: {' '.join(missing)}", flush=True)
        if os.geteuid() != 0:
            sys.exit(
                "The retrieval benchmark needs these Debian packages; install them as root:\n"
                f"  apt-get update && apt-get install -y --no-install-recommends {' '.join(missing)}"
            )
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    for package, wanted in VERSIONS.items():
        have = _installed_version(package)
        if have != wanted:
            print(
                f"warning: {package} {have} is installed; the questions' pages were taken from "
                f"{wanted}. `python -m bench.retrieval --check` tells which questions still hold."
            )


class _Sections(HTMLParser):
    """Headings and paragraphs of a DocBook HTML page, without its navigation bars."""

    _BLOCKS = frozenset({"p", "pre", "li", "dt", "dd", "td", "th", "div"})

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[int, str]] = []
        """(heading level or 0 for a paragraph, text)"""
        self._text: list[str] = []
        self._level = 0
        self._skip = 0
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "div":
            nav = classes in ("navheader", "navfooter")
            self._stack.append("nav" if nav else "div")
            self._skip += nav
        if re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._level = int(tag[1])
        elif tag in self._BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self._flush()
        if tag == "div" and self._stack:
            self._skip -= self._stack.pop() == "nav"

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)

    def _flush(self) -> None:
        text = " ".join(html.unescape("".join(self._text)).split())
        if text:
            self.items.append((min(self._level, 3), text))
        self._text = []
        self._level = 0


def write_word_file(pages: list[Path], target: Path) -> None:
    """One .docx from several HTML sections: their headings as Word headings, text as paragraphs."""
    import docx

    document = docx.Document()
    for page in pages:
        parser = _Sections()
        parser.feed(page.read_text(encoding="utf-8"))
        for level, text in parser.items:
            if level:
                document.add_heading(text, level=max(1, level - 1))
            else:
                document.add_paragraph(text)
    document.save(str(target))


def prepare(folder: Path) -> Path:
    """Install what is missing and lay the benchmark's documents out in `folder`."""
    install_packages()
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in PDFS.items():
        target = folder / name
        if target.exists():
            continue
        if source.endswith(".gz"):
            with gzip.open(source, "rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copyfile(source, target)
    guide = folder / "wireshark-guide"
    guide.mkdir(exist_ok=True)
    for page in sorted(USER_GUIDE.iterdir()):
        if USER_GUIDE_PAGES.fullmatch(page.name) and not (guide / page.name).exists():
            shutil.copyfile(page, guide / page.name)
    for name, prefix in WORD_FILES.items():
        if not (folder / name).exists():
            pages = sorted(DEVELOPER_GUIDE.glob(f"{prefix}*.html"))
            write_word_file(pages, folder / name)
    return folder

"""Parsing real files of every supported format, and every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from support.documents import (
    MixedFolder,
    make_csv,
    make_docx,
    make_eml,
    make_epub,
    make_html,
    make_markdown,
    make_mixed_folder,
    make_odt,
    make_pdf,
    make_pptx,
    make_text,
    make_xlsx,
)

from engine.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    UnsupportedFormat,
)
from engine.ingest import parse
from engine.ingest.parse import ParsedDocument, is_supported, parse_file, supported_suffixes

REPO = Path(__file__).resolve().parents[2]


def assert_exact(doc: ParsedDocument) -> None:
    """Every block is the slice of the text its offset says, in document order."""
    assert doc.blocks, "a parsed document has blocks"
    previous = -1
    for block in doc.blocks:
        assert doc.text[block.start : block.start + len(block.text)] == block.text
        assert block.text.strip() == block.text and block.text
        assert block.start > previous
        previous = block.start
        assert block.kind in ("heading", "text", "table", "list", "code", "contents")
        if block.kind == "heading":
            assert block.heading_path, "a heading block ends its own heading path"


def paths_of(doc: ParsedDocument, needle: str) -> tuple[str, ...]:
    """Heading path of the first block containing `needle`."""
    return next(b.heading_path for b in doc.blocks if needle in b.text)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> MixedFolder:
    return make_mixed_folder(tmp_path_factory.mktemp("mixed"))


# --- every format -----------------------------------------------------------------------------


def test_every_good_file_in_a_mixed_folder_parses(mixed: MixedFolder) -> None:
    kinds = set()
    for path, kind in mixed.good.items():
        assert is_supported(path), path
        doc = parse_file(path)
        assert doc.kind == kind, path
        assert doc.path == path
        assert doc.title
        assert_exact(doc)
        kinds.add(kind)
    assert kinds == {
        "pdf", "docx", "pptx", "xlsx", "html", "markdown", "text", "csv", "email", "epub",
        "odt", "code",
    }  # fmt: skip


def test_structured_formats_keep_the_heading_outline(mixed: MixedFolder) -> None:
    for name in ("guide.docx", "guide.html", "guide.md", "guide.odt"):
        doc = parse_file(mixed.root / name)
        assert paths_of(doc, "qualified electrician") == ("Installation", "Electrical connection")
        assert paths_of(doc, "air filter") == ("Maintenance",)
        table = next(b for b in doc.blocks if b.kind == "table")
        assert "Filter" in table.text and "3 months" in table.text
        assert any(b.kind == "list" and "main breaker" in b.text for b in doc.blocks), name


def test_pdf_pages_and_headings_by_font_size(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "manual.pdf",
        [
            [("h1", "Installation"), ("p", "Unpack the unit."), ("h2", "On Linux")],
            [("p", "Run the installer as root."), ("h2", "On Windows"), ("p", "Double-click it.")],
            [("h1", "Care"), ("p", "Dust it weekly.")],
        ],
        title="Heat pump manual",
    )
    doc = parse_file(path)
    assert (doc.kind, doc.pages, doc.title) == ("pdf", 3, "Heat pump manual")
    assert_exact(doc)
    root = next(b for b in doc.blocks if "as root" in b.text)
    assert (root.page, root.heading_path) == (2, ("Installation", "On Linux"))
    click = next(b for b in doc.blocks if "Double-click" in b.text)
    assert (click.page, click.heading_path) == (2, ("Installation", "On Windows"))
    dust = next(b for b in doc.blocks if "Dust" in b.text)
    assert (dust.page, dust.heading_path) == (3, ("Care",))


def test_pdf_title_falls_back_to_first_heading_then_file_name(tmp_path: Path) -> None:
    body = "The boiler heats water for the radiators and the taps of the house."
    doc = parse_file(make_pdf(tmp_path / "a.pdf", [[("h1", "Boiler guide"), ("p", body)]]))
    assert doc.title == "Boiler guide"
    doc = parse_file(make_pdf(tmp_path / "plain-notes.pdf", ["Only body text here."]))
    assert doc.title == "plain-notes.pdf"
    assert all(b.heading_path == () for b in doc.blocks)


def test_pdf_outline_gives_the_heading_levels(tmp_path: Path) -> None:
    import pymupdf

    path = make_pdf(
        tmp_path / "outlined.pdf",
        [
            [("h2", "Safety"), ("p", "Wear gloves.")],
            [("p", "Keep children away.")],
            [("h3", "Disposal"), ("p", "Return it to the dealer.")],
        ],
    )
    with pymupdf.open(path) as doc:
        # The outline says Safety is a chapter, a section starts on page 2 without any
        # heading text on the page, and Disposal is a chapter too.
        doc.set_toc([[1, "Safety", 1], [2, "Children", 2], [1, "Disposal", 3]])
        doc.saveIncr()
    parsed = parse_file(path)
    assert_exact(parsed)
    assert paths_of(parsed, "gloves") == ("Safety",)
    assert paths_of(parsed, "children") == ("Safety", "Children")
    assert paths_of(parsed, "dealer") == ("Disposal",)
    assert all("Children" not in b.text for b in parsed.blocks)


def test_pdf_lines_read_without_font_sizes_are_the_same_lines(tmp_path: Path) -> None:
    """With an outline Hearth reads a page's lines without their font sizes (faster); they
    must be exactly the lines, in the blocks, that the reading with sizes gives."""
    import pymupdf

    from engine.ingest.pdf import _page_blocks, _page_lines

    prose = " ".join(f"Sentence {n} of a paragraph long enough to wrap." for n in range(12))
    path = make_pdf(
        tmp_path / "wrapped.pdf",
        [
            [("h1", "Overview"), ("p", prose), ("p", "Short line.   Spaces kept.")],
            [("h2", "Details"), ("p", prose + " Ünïcödé, ligatures: office, flow.")],
        ],
    )
    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
    with pymupdf.open(path) as doc:
        for page in doc:
            sized = [[text for text, _ in lines] for lines in _page_blocks(page, flags)]
            plain = [[text for text, _ in lines] for lines in _page_lines(page, flags)]
            assert plain == sized
            assert max(len(lines) for lines in plain) > 2  # wrapped paragraphs were compared


def test_pdf_running_heads_are_not_headings(tmp_path: Path) -> None:
    pages = [[("h2", "ACME CONFIDENTIAL"), ("p", f"Body text of page {n}.")] for n in range(1, 5)]
    pages[1].append(("h1", "Results"))
    doc = parse_file(make_pdf(tmp_path / "report.pdf", pages))
    assert not any("ACME" in b.heading_path[0] for b in doc.blocks if b.heading_path)
    assert paths_of(doc, "page 3") == ("Results",)


@pytest.mark.parametrize("outline", [False, True])
def test_pdf_table_of_contents_is_text_but_never_a_passage(tmp_path: Path, outline: bool) -> None:
    from engine.index.embed import get_embedder
    from engine.ingest.chunk import chunk_document

    leaders = " . . . . . . . . . . . . ."
    contents = [
        ("h1", "Contents"),
        *[
            ("p", f"{n}.1 {title}{leaders} {n + 1}")
            for n, title in enumerate(["Unpacking the boiler", "Filling the tank", "Descaling"], 1)
        ],
        ("p", "Page iii"),  # a footer after the entries: no chunk may span them
    ]
    path = make_pdf(
        tmp_path / "manual.pdf",
        [
            contents,
            [("h1", "Unpacking the boiler"), ("p", "Lift the boiler by its handles.")],
            [("h1", "Filling the tank"), ("p", "Pour cold water up to the mark.")],
            [("h1", "Descaling"), ("p", "Use vinegar once a year. The dots . . . . stay.")],
        ],
        outline=outline,
    )
    parsed = parse_file(path)
    assert_exact(parsed)
    entries = [b for b in parsed.blocks if b.kind == "contents"]
    assert [b.page for b in entries] == [1, 1, 1]
    assert "Filling the tank" in entries[1].text and "Filling the tank" in parsed.text
    # An entry names a section without opening it; prose with a few dots is not an entry.
    assert paths_of(parsed, "cold water") == ("Filling the tank",)
    assert paths_of(parsed, "vinegar") == ("Descaling",)
    chunks = chunk_document(parsed, tokenizer=get_embedder().tokenizer)
    assert chunks and not any("Filling" in c.text and c.page == 1 for c in chunks)
    assert {c.page for c in chunks} >= {2, 3, 4}


def test_docx_headings_pages_and_title(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "report.docx",
        [
            ("h1", "Summary"),
            ("p", "The year went well."),
            ("pagebreak", ""),
            ("h1", "Details"),
            ("h2", "Costs"),
            ("table", [["Item", "Cost"], ["Pump", "1200"]]),
        ],
        title="Annual report",
    )
    doc = parse_file(path)
    assert (doc.kind, doc.title, doc.pages) == ("docx", "Annual report", 2)
    assert_exact(doc)
    assert next(b for b in doc.blocks if "went well" in b.text).page == 1
    table = next(b for b in doc.blocks if b.kind == "table")
    assert (table.page, table.heading_path) == (2, ("Details", "Costs"))
    assert table.text.splitlines() == ["Item | Cost", "Pump | 1200"]


def test_pptx_page_is_the_slide_and_notes_follow_the_slide(tmp_path: Path) -> None:
    path = make_pptx(
        tmp_path / "deck.pptx",
        [("Why heat pumps", ["They move heat"]), ("Costs", ["Pump 1200", "Install 800"])],
        notes=["Mention the subsidy.", ""],
        title="Sales deck",
    )
    doc = parse_file(path)
    assert (doc.kind, doc.title, doc.pages) == ("pptx", "Sales deck", 2)
    assert_exact(doc)
    assert [(b.page, b.kind, b.text) for b in doc.blocks] == [
        (1, "heading", "Why heat pumps"),
        (1, "text", "They move heat"),
        (1, "text", "Mention the subsidy."),
        (2, "heading", "Costs"),
        (2, "text", "Pump 1200"),
        (2, "text", "Install 800"),
    ]
    assert paths_of(doc, "Install") == ("Costs",)


def test_xlsx_page_is_the_sheet_number_and_the_sheet_name_heads_it(tmp_path: Path) -> None:
    path = make_xlsx(
        tmp_path / "budget.xlsx",
        {"Costs": [["Item", "Cost"], ["Pump", 1200]], "Empty": [], "Notes": [["Ask the bank"]]},
    )
    doc = parse_file(path)
    assert (doc.kind, doc.title, doc.pages) == ("xlsx", "budget.xlsx", 3)
    assert_exact(doc)
    table = next(b for b in doc.blocks if b.kind == "table")
    assert (table.page, table.heading_path, table.text) == (
        1,
        ("Costs",),
        "Item | Cost\nPump | 1200",
    )
    bank = next(b for b in doc.blocks if "bank" in b.text)
    assert (bank.page, bank.heading_path) == (3, ("Notes",))


def test_html_in_a_legacy_encoding(tmp_path: Path) -> None:
    path = make_html(
        tmp_path / "seite.html",
        [("h1", "Überblick"), ("p", "Grüße aus Köln – schöne Straße.")],
        title="Wärmepumpe",
        encoding="cp1252",
    )
    doc = parse_file(path)
    assert (doc.kind, doc.title) == ("html", "Wärmepumpe")
    assert paths_of(doc, "Grüße aus Köln – schöne Straße.") == ("Überblick",)


@pytest.mark.parametrize(
    "frame",
    [
        # DocBook: a table of links above and below the text
        (
            '<div class="navheader"><table><tr><td><a href="a.html">Prev</a></td>'
            '<th>Chapter 3. Filters</th><td><a href="c.html">Next</a></td></tr></table></div>',
            '<div class="navfooter"><a href="a.html">Prev</a> <a href="i.html">Up</a>'
            " 3.14. Draining the boiler <a href='index.html'>Home</a></div>",
        ),
        # Texinfo 7, Sphinx
        (
            '<div class="nav-panel"><p>Next: <a href="c.html">Draining the boiler</a>, '
            'Up: <a href="i.html">Filters</a></p></div>',
            '<div class="related" role="navigation"><a href="i.html">Previous topic</a></div>'
            '<div class="footer">Report a bug. Show source.</div>',
        ),
        ("<nav><a href='i.html'>Home</a> Draining the boiler</nav>", "<footer>Home</footer>"),
    ],
)
def test_html_navigation_is_not_text(tmp_path: Path, frame: tuple[str, str]) -> None:
    above, below = frame
    path = tmp_path / "filters.html"
    path.write_text(
        "<html><head><title>3.15. Cleaning the filters</title></head><body>"
        f'{above}<div class="header"><h1>3.15. Cleaning the filters</h1></div>'
        "<p>Rinse the filter under warm water every three months.</p>"
        f"{below}</body></html>",
        encoding="utf-8",
    )
    doc = parse_file(path)
    assert_exact(doc)
    assert doc.title == "3.15. Cleaning the filters"
    assert paths_of(doc, "warm water") == ("3.15. Cleaning the filters",)
    for word in ("Prev", "Next", "Home", "Draining", "Previous topic", "Report a bug"):
        assert word not in doc.text


def test_sphinx_permalinks_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "filters.html"
    path.write_text(
        "<html><body><h1>Filters<a class='headerlink' href='#f' title='Permalink'>¶</a></h1>"
        "<dl><dt id='clean'>clean(every=90)<a class='headerlink' href='#clean'>¶</a></dt>"
        "<dd><p>Rinse the filter under warm water.</p></dd></dl></body></html>",
        encoding="utf-8",
    )
    doc = parse_file(path)
    assert_exact(doc)
    assert "¶" not in doc.text
    assert paths_of(doc, "warm water") == ("Filters",)


def test_a_table_of_contents_is_not_text(tmp_path: Path) -> None:
    toc = "".join(f"<li><a href='s{i}.html'>{i}. Section {i}</a></li>" for i in range(1, 6))
    path = tmp_path / "manual.html"
    path.write_text(
        f"<html><body><h1>Boiler manual</h1><div class='contents'><ul>{toc}</ul></div>"
        "<p>Rinse the filter under warm water.</p>"
        "<ul><li><a href='a.html'>Filters</a>: what to clean, how often and with what</li>"
        "<li><a href='b.html'>Pumps</a>: the pressure to expect in winter and in summer</li>"
        "<li><a href='c.html'>Valves</a>: which one to close before a repair</li></ul>"
        "</body></html>",
        encoding="utf-8",
    )
    doc = parse_file(path)
    assert "Section 3" not in doc.text
    assert "warm water" in doc.text
    # Links among words of their own are content.
    assert "the pressure to expect" in doc.text
    # A page that is nothing but a table of contents is still read.
    path.write_text(f"<html><body><ul>{toc}</ul></body></html>", encoding="utf-8")
    assert "Section 3" in parse_file(path).text


def test_a_page_of_links_only_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "index.html"
    path.write_text(
        "<html><body><div class='navheader'><a href='a.html'>Installing the boiler</a> "
        "<a href='b.html'>Cleaning the filters</a></div></body></html>",
        encoding="utf-8",
    )
    assert "Cleaning the filters" in parse_file(path).text


def test_markdown_offsets_point_into_the_file(tmp_path: Path) -> None:
    path = make_markdown(
        tmp_path / "README.md",
        [
            ("h1", "Hearth"),
            ("p", "Private document chat."),
            ("h2", "Install"),
            ("code", "pip install hearth\nhearth --help"),
            ("bullet", "offline"),
            ("bullet", "fast"),
        ],
        front_matter="title: The Hearth readme\nauthor: someone",
    )
    doc = parse_file(path)
    assert doc.text == path.read_text(encoding="utf-8")
    assert doc.title == "The Hearth readme"
    assert_exact(doc)
    code = next(b for b in doc.blocks if b.kind == "code")
    assert "pip install hearth\nhearth --help" in code.text
    assert code.heading_path == ("Hearth", "Install")
    assert [b.text for b in doc.blocks if b.kind == "heading"] == ["Hearth", "Install"]
    assert not any("author" in b.text for b in doc.blocks)


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16", "utf-8-sig"])
def test_plain_text_in_any_encoding(tmp_path: Path, encoding: str) -> None:
    text = "Notes\n=====\n\nGrüße, déjà vu: a naïve café façade.\r\n\r\nSecond paragraph.\n"
    path = make_text(tmp_path / f"notes-{encoding}.txt", text, encoding=encoding)
    doc = parse_file(path)
    assert doc.kind == "text"
    assert doc.text == text.replace("\r\n", "\n")
    assert_exact(doc)
    assert [b.text for b in doc.blocks] == [
        "Notes",
        "Grüße, déjà vu: a naïve café façade.",
        "Second paragraph.",
    ]
    assert doc.blocks[1].heading_path == ("Notes",)


def test_csv_rows_carry_the_header(tmp_path: Path) -> None:
    rows = [["city", "kWh"]] + [[f"Town {i}", str(i * 10)] for i in range(300)]
    doc = parse_file(make_csv(tmp_path / "usage.csv", rows))
    assert (doc.kind, doc.title) == ("csv", "usage.csv")
    assert_exact(doc)
    assert len(doc.blocks) > 2  # rows are grouped, not one block for the whole file
    assert all(b.heading_path == ("city | kWh",) for b in doc.blocks)
    tsv = parse_file(make_csv(tmp_path / "usage.tsv", rows[:3], delimiter="\t"))
    assert tsv.blocks[0].heading_path == ("city | kWh",)


def test_email_envelope_and_body(tmp_path: Path) -> None:
    path = make_eml(
        tmp_path / "visit.eml",
        subject="Service visit on Monday",
        body="Hello,\n\nthe technician comes at nine.\n\nRegards",
        html_body="<p>Hello,</p><p>the technician comes at <b>nine</b>.</p>",
    )
    doc = parse_file(path)
    assert (doc.kind, doc.title) == ("email", "Service visit on Monday")
    assert_exact(doc)
    assert doc.blocks[0].text.startswith("From: Ada Lovelace <ada@example.org>")
    assert "Subject: Service visit on Monday" in doc.blocks[0].text
    assert "technician comes at" in doc.text
    assert all(b.kind != "heading" for b in doc.blocks)


def test_epub_and_odt(tmp_path: Path) -> None:
    book = parse_file(
        make_epub(
            tmp_path / "book.epub",
            title="Warm homes",
            chapters=[("Insulation", ["Walls first."]), ("Heating", ["Then the pump."])],
        )
    )
    assert (book.kind, book.title, book.pages) == ("epub", "Warm homes", None)
    assert paths_of(book, "Then the pump") == ("Heating",)
    odt = parse_file(
        make_odt(
            tmp_path / "letter.odt",
            [("h1", "Offer"), ("p", "We offer a pump.")],
            title="Offer letter",
        )
    )
    assert (odt.kind, odt.title) == ("odt", "Offer letter")
    assert paths_of(odt, "We offer") == ("Offer",)


def test_source_code_and_sniffed_text(tmp_path: Path) -> None:
    (tmp_path / "tool.rs").write_text('fn main() {\n    println!("hi");\n}\n', encoding="utf-8")
    code = parse_file(tmp_path / "tool.rs")
    assert code.kind == "code" and code.blocks[0].kind == "code"
    assert code.text.startswith("fn main()")
    (tmp_path / "Makefile").write_text("all:\n\tcc -o app main.c\n", encoding="utf-8")
    (tmp_path / "server.weird").write_text("2025-07-01 started\n", encoding="utf-8")
    for name in ("Makefile", "server.weird"):
        assert is_supported(tmp_path / name)
        assert parse_file(tmp_path / name).kind == "text"
    (tmp_path / "blob.dat").write_bytes(bytes(range(256)) * 4)
    assert not is_supported(tmp_path / "blob.dat")
    with pytest.raises(UnsupportedFormat, match=r"blob\.dat"):
        parse_file(tmp_path / "blob.dat")


def test_supported_suffixes() -> None:
    suffixes = supported_suffixes()
    for suffix in (".pdf", ".docx", ".pptx", ".xlsx", ".html", ".md", ".txt", ".csv", ".eml"):
        assert suffix in suffixes
    assert {".epub", ".odt", ".py"} <= suffixes
    assert ".doc" not in suffixes and ".png" not in suffixes
    assert is_supported(Path("/nowhere/report.PDF"))  # by suffix, case-insensitive


# --- bad input --------------------------------------------------------------------------------


def test_every_bad_file_raises_its_typed_error(mixed: MixedFolder) -> None:
    for path, error in mixed.bad.items():
        with pytest.raises(DocumentError) as caught:
            parse_file(path)
        assert type(caught.value) is error, (path, caught.value)
        message = str(caught.value)
        assert path.name in message and len(message) > 40, message
        assert caught.value.path == path
    for path in mixed.skipped:
        assert not is_supported(path)
    assert {p.name for p in mixed.not_files} == {"gone.pdf", "folder.pdf"}


def test_scanned_pdf_message_says_what_to_do(
    mixed: MixedFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.ingest import ocr

    monkeypatch.setattr(ocr, "tessdata", lambda: None)  # as on a machine without Tesseract
    with pytest.raises(DocumentError, match=r"no text layer.*apt-get install tesseract-ocr"):
        parse_file(mixed.root / "scan.pdf")


def test_whitespace_only_text_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyDocument, match="no text"):
        parse_file(make_text(tmp_path / "blank.md", "  \n\n\t\n"))


def test_pdf_with_blank_pages_is_empty(tmp_path: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    doc.new_page()
    doc.save(tmp_path / "blank.pdf")
    with pytest.raises(EmptyDocument, match="no text"):
        parse_file(tmp_path / "blank.pdf")


def test_binary_junk_with_a_text_suffix(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"\x00\x01\x02garbage\x00" * 100)
    with pytest.raises(CorruptDocument, match="binary"):
        parse_file(tmp_path / "notes.txt")


def test_zip_that_is_not_an_office_file(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "fake.docx", "w") as z:
        z.writestr("hello.txt", "not a word document")
    with pytest.raises(CorruptDocument, match=r"fake\.docx"):
        parse_file(tmp_path / "fake.docx")
    with zipfile.ZipFile(tmp_path / "broken.epub", "w") as z:
        z.writestr("mimetype", "application/epub+zip")
    with pytest.raises(CorruptDocument, match=r"broken\.epub"):
        parse_file(tmp_path / "broken.epub")


def test_old_and_protected_office_files(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    # Office saves a password-protected .docx as an OLE file holding an EncryptedPackage.
    (tmp_path / "locked.docx").write_bytes(ole + "EncryptedPackage".encode("utf-16-le") * 2)
    with pytest.raises(EncryptedDocument, match="password"):
        parse_file(tmp_path / "locked.docx")
    (tmp_path / "old.xlsx").write_bytes(ole + b"Workbook".ljust(512, b"\x00"))
    with pytest.raises(UnsupportedFormat, match="97–2003"):
        parse_file(tmp_path / "old.xlsx")
    (tmp_path / "letter.doc").write_bytes(ole)
    assert not is_supported(tmp_path / "letter.doc")
    with pytest.raises(UnsupportedFormat, match=r"save it as \.docx"):
        parse_file(tmp_path / "letter.doc")


def test_missing_folder_and_special_files(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="does not exist"):
        parse_file(tmp_path / "missing.pdf")
    with pytest.raises(DocumentError, match="is a folder"):
        parse_file(tmp_path)
    os.mkfifo(tmp_path / "pipe.txt")  # opening a pipe would block: it must be refused first
    with pytest.raises(DocumentError, match="not a regular file"):
        parse_file(tmp_path / "pipe.txt")


def test_too_large_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_text(tmp_path / "big.txt", "word " * 5000)
    monkeypatch.setattr(parse, "MAX_FILE_BYTES", 10_000)
    with pytest.raises(DocumentError, match=r"above Hearth's limit of 9\.8 kB per file"):
        parse_file(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    path = make_text(tmp_path / "secret.txt", "secret")
    path.chmod(0)
    with pytest.raises(DocumentError, match="permission denied"):
        parse_file(path)


# --- unstructured stays offline ---------------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import json, os, sys, sysconfig
    site = sysconfig.get_paths()["purelib"]
    events = []

    def audit(event, args):
        if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn"):
            events.append([event, [str(a) for a in (args[1] if event == "subprocess.Popen" else args)]])
        elif event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            events.append([event, repr(args)[:200]])
        elif event == "open" and isinstance(args[0], str) and args[0].startswith(site):
            mode = args[1] if isinstance(args[1], str) else ""
            if any(m in mode for m in "wax+"):
                events.append(["write", args[0]])

    sys.addaudithook(audit)
    from engine.ingest.parse import parse_file
    from pathlib import Path
    kinds = {}
    for name in sys.argv[1:]:
        kinds[name] = parse_file(Path(name)).kind
    import spacy.util
    import unstructured.nlp.tokenize as tokenize
    print(json.dumps({
        "events": events,
        "kinds": kinds,
        "pipeline": tokenize._get_nlp().pipe_names,
        "model_installed": spacy.util.is_package("en_core_web_sm"),
        "hi_res_loaded": any(m.startswith(("unstructured_inference", "unstructured.partition.pdf"))
                             for m in sys.modules),
        "do_not_track": os.environ.get("DO_NOT_TRACK"),
    }))
    """
)


def test_unstructured_never_downloads_installs_or_phones_home(mixed: MixedFolder) -> None:
    """A fresh process (so this is the very first partition) with telemetry opt-outs unset.

    Hearth itself must switch telemetry off and keep unstructured from fetching spaCy's model:
    every network attempt, subprocess and write into site-packages is recorded by an audit hook,
    and the network guard is active in the child too (sitecustomize on PYTHONPATH).
    """
    from engine.offline import OFFLINE_ENV

    files = [
        p for p, kind in mixed.good.items() if kind not in ("pdf", "code", "csv")
    ]  # everything that may reach unstructured, plus text and markdown
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, files)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["kinds"].values()) >= {"docx", "pptx", "xlsx", "html", "email", "epub", "odt"}
    launched = [
        args for event, args in report["events"] if event != "write" and "socket" not in event
    ]
    programs = {Path(args[0]).name for args in launched}
    assert programs <= {"pandoc", "pandoc.exe"}, (
        launched
    )  # EPUB and ODT are converted by the bundled pandoc
    assert not any("pip" in arg or "install" in arg for args in launched for arg in args)
    assert not [e for e in report["events"] if e[0] in ("urllib.Request", "socket.getaddrinfo")]
    assert not [e for e in report["events"] if e[0] == "socket.connect" and "AF_UNIX" not in e[1]]
    assert not [e for e in report["events"] if e[0] == "write"]
    assert report["pipeline"] == ["sentencizer"]
    assert report["model_installed"] is False
    assert report["hi_res_loaded"] is False
    assert report["do_not_track"] == "true"


def test_unstructured_model_installer_is_disarmed(mixed: MixedFolder) -> None:
    parse_file(mixed.root / "guide.docx")
    import unstructured.nlp.tokenize as tokenize

    from engine.ingest import office

    assert tokenize._get_nlp() is office._offline_nlp()
    with pytest.raises(office.OfflineViolation):
        tokenize._install_spacy_model()
    with pytest.raises(office.OfflineViolation):
        tokenize._load_spacy_model()

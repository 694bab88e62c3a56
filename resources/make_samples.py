"""Write the sample PDF Hearth ships with (hearth-faq.pdf), from the text below.

Run once after editing the questions: `python resources/make_samples.py`. The PDF is a
real text PDF laid out by PyMuPDF, with headings and an outline, three pages long, so the
sample collection shows page citations and the page viewer.
"""

from __future__ import annotations

import html
from pathlib import Path

HERE = Path(__file__).resolve().parent / "samples"

TITLE = "Hearth — Frequently asked questions"

FAQ: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Privacy",
        [
            (
                "Does Hearth send my documents anywhere?",
                "No. Hearth reads, indexes and answers entirely on your computer. It does not "
                "upload documents, questions or answers, it sends no usage statistics, and it "
                "works with the network cable unplugged. The embedding model and the chat "
                "model both run locally.",
            ),
            (
                "Where does Hearth keep its data?",
                "In one data folder in your user profile: the index of each collection, your "
                "saved conversations, the list of installed models and your settings. Your "
                "documents and model files stay where they are; Hearth only remembers where "
                "they are. Deleting a collection or removing a model never deletes your files.",
            ),
            (
                "Can I move Hearth to another computer?",
                "Copy the data folder along with your documents. If the documents are at "
                "different paths on the new computer, add them again; unchanged files are "
                "recognised by their content and indexed quickly.",
            ),
        ],
    ),
    (
        "Documents and indexing",
        [
            (
                "Which file types can Hearth read?",
                "PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx), OpenDocument text "
                "(.odt), Markdown, HTML, e-mail messages (.eml), EPUB e-books, CSV, plain text "
                "and source code. Old binary Office formats (.doc, .ppt, .xls) must be saved "
                "in the newer format first.",
            ),
            (
                "Why was a file listed as failed?",
                "Each failed file is listed with its reason. The common ones are: the PDF is "
                "protected by a password; the PDF is a scan with no text layer (run OCR on it "
                "first); the file is damaged or empty; or Hearth may not read it because of its "
                "permissions. The other files of the folder are indexed regardless.",
            ),
            (
                "How fast is indexing?",
                "Reading text is quick; turning passages into vectors is the slow step. On a "
                "laptop without a graphics card expect roughly twenty passages per second, "
                "about one or two pages per second of dense text. The progress panel shows the "
                "rate and the time left, and you can keep chatting meanwhile.",
            ),
            (
                "What happens if I cancel indexing or close Hearth while it runs?",
                "Work is saved in small batches. What was finished stays in the collection, "
                "and adding the same files again continues with what is missing. A collection "
                "is never left half-written, even after a power cut.",
            ),
        ],
    ),
    (
        "Answers and models",
        [
            (
                "Which chat model should I use?",
                "Any instruct model in GGUF format works. For a laptop, a model of 1 to 3 "
                "billion parameters in Q4_K_M quantization answers within seconds; with a "
                "graphics card with 8 GB of memory or more, 7 to 8 billion parameters give "
                "noticeably better answers. Add a model with Models, Add model, or drop the "
                ".gguf file on the window.",
            ),
            (
                "Why does the answer take a while to start?",
                "Before writing, the model reads the question and the passages it was given. "
                "On a processor this reading, not the writing, is the wait. Fewer passages per "
                "answer and a smaller model shorten it; a graphics card shortens it most.",
            ),
            (
                "What do the numbers in brackets mean?",
                "They are citations. Each number refers to the passage with that number in "
                "the Sources panel, beside the chat. Click one to open the document at that "
                "page with the passage highlighted. If an answer cites nothing, treat it with "
                "care: the documents may not contain what you asked.",
            ),
            (
                "Can Hearth answer without a chat model?",
                "Yes. Without a model it answers every question with the most relevant "
                "passages from your documents, each cited and linked, which is often enough "
                "to find the page you need.",
            ),
        ],
    ),
]


def section_html(index: int) -> str:
    """One section of the FAQ as HTML; the first carries the title."""
    parts = []
    if index == 0:
        parts.append(f"<h1>{html.escape(TITLE)}</h1>")
        parts.append(
            "<p><i>This document ships with Hearth as a sample. Ask the sample collection "
            "about it, then add your own documents.</i></p>"
        )
    section, items = FAQ[index]
    parts.append(f"<h2>{html.escape(section)}</h2>")
    for question, answer in items:
        parts.append(f"<h3>{html.escape(question)}</h3><p>{html.escape(answer)}</p>")
    return "\n".join(parts)


CSS = """
body { font-family: sans-serif; font-size: 11pt; line-height: 1.35; }
h1 { font-size: 20pt; color: #b83a16; margin-bottom: 8pt; }
h2 { font-size: 15pt; color: #b83a16; margin-top: 16pt; }
h3 { font-size: 11.5pt; margin-top: 10pt; margin-bottom: 2pt; }
p { margin-top: 0; }
"""


def write_faq_pdf(path: Path) -> Path:
    import pymupdf

    page_rect = pymupdf.paper_rect("a5")
    where = pymupdf.Rect(page_rect.x0 + 48, page_rect.y0 + 48, page_rect.x1 - 48, page_rect.y1 - 56)
    writer = pymupdf.DocumentWriter(str(path))
    for index in range(len(FAQ)):  # each section starts on its own page
        story = pymupdf.Story(html=section_html(index), user_css=CSS)
        more = True
        while more:
            device = writer.begin_page(page_rect)
            more, _ = story.place(where)
            story.draw(device)
            writer.end_page()
    writer.close()
    # Title, outline and page numbers, added after layout.
    doc = pymupdf.open(str(path))
    doc.set_metadata({"title": TITLE, "author": "The Hearth developers", "creator": "Hearth"})
    toc = []
    for section, _ in FAQ:
        page = next((n for n, p in enumerate(doc, start=1) if p.search_for(section)), 1)
        toc.append([1, section, page])
    doc.set_toc(toc)
    for number, page in enumerate(doc, start=1):
        page.insert_text(
            (page.rect.width / 2 - 8, page.rect.height - 28),
            f"{number}",
            fontsize=9,
            color=(0.5, 0.5, 0.5),
        )
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    path.write_bytes(data)
    return path


def main() -> int:
    out = write_faq_pdf(HERE / "hearth-faq.pdf")
    import pymupdf

    with pymupdf.open(str(out)) as doc:
        print(f"wrote {out} ({doc.page_count} pages, {out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

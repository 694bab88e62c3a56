"""A citation from a scanned PDF opens its page with the passage highlighted from OCR's words."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.documents import make_scanned_pdf

from app.viewer import DocumentViewer
from engine.facade import Hearth
from engine.ingest import ocr


@pytest.mark.skipif(
    not ocr.ocr_available(),
    reason=f"Tesseract OCR is not installed (install it with: {ocr.INSTALL_COMMAND})",
)
def test_a_scanned_page_opens_with_the_passage_highlighted(
    qtbot, tmp_path: Path, hearth_home: Path
) -> None:
    path = make_scanned_pdf(
        tmp_path / "lease.pdf",
        [
            "The tenant pays the rent on the first day of every month.",
            "The landlord repairs the roof and the gutters within two weeks of a report.",
        ],
        dpi=200,
    )
    with Hearth(hearth_home) as h:
        list(h.ingest([path], collection="Scans"))
        [hit, *_] = h.search("landlord repairs roof gutters", collection="Scans", k=1)
        assert hit.file == path and hit.page == 2
        viewer = DocumentViewer(h)
        qtbot.addWidget(viewer)
        viewer.show_hit(hit, "Scans")
        assert viewer.mode == "pdf" and viewer.current_page == 2
        assert viewer.highlights > 0  # rectangles from the words OCR found on the page
        viewer.close()

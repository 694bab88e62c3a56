"""OCR of scanned pages: word recall and seconds per page, on scans made from real manuals.

Run: python -m bench.ocr [--pages 12] [--scan-dpi 200 300] [--ocr-dpi 300]
Real pages of manuals that Debian installs as PDFs (libtasn1-doc's libtasn1.pdf, bzip2-doc's
manual.pdf.gz) are turned into scans the way a scanner would: rendered in grey at the scan
resolution, turned by a slight random angle (under 1.5°), with sensor noise and specks, saved
as JPEG and wrapped as image-only PDF pages. Hearth's OCR (engine/ingest/ocr.py) then reads
each page. Word recall = share of the words of the page's own text layer (case-folded,
punctuation stripped, counted with repeats) that appear in the OCR text. Seconds per page
are wall-clock and CPU time (Tesseract runs inside the process): on a shared machine the CPU
figure is the steadier one.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from engine.ingest import ocr

SOURCES = [
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
    Path("/usr/share/doc/bzip2/manual.pdf.gz"),
]
"""Manuals from Debian -doc packages (apt-get install libtasn1-doc bzip2-doc)."""

_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> Counter[str]:
    return Counter(w for w in _WORD.findall(text.casefold()) if len(w) > 1 or w.isdigit())


def recall(truth: Counter[str], found: Counter[str]) -> float:
    total = sum(truth.values())
    return sum(min(n, found[w]) for w, n in truth.items()) / total if total else 1.0


def open_source(path: Path):
    import pymupdf

    if path.suffix == ".gz":
        return pymupdf.open(stream=gzip.decompress(path.read_bytes()), filetype="pdf")
    return pymupdf.open(path)


def pick_pages(n: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """(source name, page index, text) of pages with plenty of prose, spread over the sources."""
    chosen: list[tuple[str, int, str]] = []
    per_source = max(1, n // len(SOURCES))
    for src in SOURCES:
        if not src.exists():
            raise SystemExit(f"{src} is missing: apt-get install libtasn1-doc bzip2-doc")
        with open_source(src) as doc:
            full = [i for i, page in enumerate(doc) if sum(words(page.get_text()).values()) > 250]
            for i in sorted(rng.sample(full, min(per_source, len(full)))):
                chosen.append((src.name, i, doc[i].get_text()))
    return chosen[:n]


def scan(src: Path, index: int, *, dpi: int, rng: random.Random) -> bytes:
    """One page as a scanner delivers it: grey, turned slightly, noisy, JPEG in a PDF."""
    import pymupdf
    from PIL import Image

    with open_source(src) as doc:
        page = doc[index]
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        width, height = page.rect.width, page.rect.height
    image = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    angle = rng.uniform(-1.5, 1.5)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(1 << 30))
    pixels = (pixels + noise.normal(0, 14, pixels.shape)).astype(np.float32)  # sensor noise
    specks = noise.random(pixels.shape)
    pixels[specks < 0.002] = 0  # dust
    pixels[specks > 0.998] = 255
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=70)
    out = pymupdf.open()
    new = out.new_page(width=width, height=height)
    new.insert_image(new.rect, stream=jpeg.getvalue())
    data = out.tobytes(deflate=True)
    out.close()
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=12)
    ap.add_argument("--scan-dpi", type=int, nargs="+", default=[200, 300])
    ap.add_argument("--ocr-dpi", type=int, nargs="+", default=[ocr.OCR_DPI])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    import pymupdf

    if not ocr.ocr_available():
        raise SystemExit(f"Tesseract is not installed: {ocr.INSTALL_COMMAND}")
    rng = random.Random(args.seed)
    pages = pick_pages(args.pages, rng)
    sources = {p.name: p for p in SOURCES}
    print(f"{len(pages)} pages: " + ", ".join(f"{s} p.{i + 1}" for s, i, _ in pages))
    with tempfile.TemporaryDirectory(prefix="hearth-bench-ocr-") as tmp:
        for scan_dpi in args.scan_dpi:
            scans = []
            for name, index, text in pages:
                path = Path(tmp, f"{name}-{index + 1}-{scan_dpi}.pdf")
                path.write_bytes(scan(sources[name], index, dpi=scan_dpi, rng=rng))
                scans.append((path, text))
            for ocr_dpi in args.ocr_dpi:
                recalls, seconds, cpu = [], [], []
                for path, text in scans:
                    with pymupdf.open(path) as doc:
                        assert ocr.needs_ocr(doc[0])
                        t0, c0 = time.perf_counter(), time.process_time()
                        page = ocr.ocr_page(doc[0], dpi=ocr_dpi)
                        seconds.append(time.perf_counter() - t0)
                        cpu.append(time.process_time() - c0)
                    read = " ".join(t for block in page.blocks for t, _ in block)
                    recalls.append(recall(words(text), words(read)))
                print(
                    f"scan {scan_dpi} dpi, OCR at {ocr_dpi} dpi: word recall "
                    f"mean {statistics.mean(recalls):.1%} (min {min(recalls):.1%}), "
                    f"{statistics.mean(seconds):.2f} s/page (max {max(seconds):.2f}), "
                    f"CPU {statistics.mean(cpu):.2f} s/page"
                )


if __name__ == "__main__":
    main()

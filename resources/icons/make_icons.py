"""Render Hearth's SVG icon to the PNG sizes desktops and installers ask for.

Run once after changing hearth.svg: `python resources/icons/make_icons.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 48, 64, 128, 256, 512)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication(sys.argv)  # noqa: F841 - needed for painting
    renderer = QSvgRenderer(str(HERE / "hearth.svg"))
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        image.save(str(HERE / f"hearth-{size}.png"))
    print(f"wrote {len(SIZES)} PNG files to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

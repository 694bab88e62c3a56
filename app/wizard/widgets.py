"""Small pieces the wizard's pages share: the loss plot (pyqtgraph), page headers, a
collapsible "advanced" section, setting rows with their one-line explanation, and a spin box
for learning rates written as 2e-4.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import theme

if TYPE_CHECKING:
    from PySide6.QtGui import QValidator


SERIES_COLORS = ("#d4551f", "#1f77b4", "#2e7d32", "#8e44ad", "#c28f00", "#00838f", "#6d4c41")
"""Colours of the runs in a comparison plot, the first being Hearth's accent."""


class StepAxis(pg.AxisItem):
    """An axis of optimizer steps: whole numbers only."""

    def tickValues(
        self, minVal: float, maxVal: float, size: float
    ) -> list[tuple[float, list[float]]]:
        levels = super().tickValues(minVal, maxVal, size)
        return [
            (spacing, [v for v in values if float(v).is_integer()])
            for spacing, values in levels
            if spacing >= 1
        ] or [(1.0, [float(v) for v in range(int(minVal), int(maxVal) + 1)])]


class LossPlot(QWidget):
    """Training loss per step and evaluation loss at each evaluation, drawn live."""

    def __init__(self, parent: QWidget | None = None, *, title: str | None = None) -> None:
        super().__init__(parent)
        c = theme.colors()
        pg.setConfigOptions(antialias=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.widget = pg.PlotWidget(
            self, background=c.base, axisItems={"bottom": StepAxis(orientation="bottom")}
        )
        self.widget.setMinimumHeight(220)
        item = self.widget.getPlotItem()
        if title:
            item.setTitle(title, color=c.text, size="10pt")
        item.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(c.border))
            axis.setTextPen(pg.mkPen(c.muted))
        item.setLabel("bottom", "step", color=c.muted)
        item.setLabel("left", "loss", color=c.muted)
        # The legend is a label above the plot, so that it never hides a curve.
        self.legend = QLabel(self)
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.legend)
        lay.addWidget(self.widget, 1)
        self._curves: dict[str, tuple[pg.PlotDataItem, list[float], list[float]]] = {}
        self._keys: dict[str, tuple[str, str, bool]] = {}
        self.add_series("train", "training loss", SERIES_COLORS[0])
        self.add_series("eval", "evaluation loss", c.success, dashed=True, symbols=True)

    def add_series(
        self,
        key: str,
        label: str,
        color: str,
        *,
        dashed: bool = False,
        symbols: bool = False,
        xs: Sequence[float] = (),
        ys: Sequence[float] = (),
    ) -> None:
        """A curve to draw; `xs`/`ys` its points so far."""
        pen = pg.mkPen(
            color,
            width=2,
            style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine,
        )
        kw = {"symbol": "o", "symbolSize": 7, "symbolBrush": color, "symbolPen": color}
        curve = self.widget.plot([], [], pen=pen, **(kw if symbols else {}))
        self._curves[key] = (curve, list(xs), list(ys))
        self._keys[key] = (label, color, dashed)
        curve.setData(list(xs), list(ys))
        self._update_legend()

    def _update_legend(self) -> None:
        c = theme.colors()
        parts = []
        for label, color, dashed in self._keys.values():
            mark = "- - ●" if dashed else "━━"
            parts.append(
                f"<span style='color:{color}; font-weight:700'>{mark}</span>&nbsp;"
                f"<span style='color:{c.muted}'>{html.escape(label)}</span>"
            )
        self.legend.setText("&nbsp;&nbsp;&nbsp;&nbsp; ".join(parts))

    def add_point(self, key: str, x: float, y: float | None) -> None:
        if y is None or not math.isfinite(y):
            return
        curve, xs, ys = self._curves[key]
        xs.append(float(x))
        ys.append(float(y))
        curve.setData(xs, ys)

    def points(self, key: str) -> list[tuple[float, float]]:
        _, xs, ys = self._curves[key]
        return list(zip(xs, ys, strict=True))

    def clear(self) -> None:
        """Remove every curve's points and every series beyond the first two."""
        for key in list(self._curves):
            curve, xs, ys = self._curves[key]
            if key in ("train", "eval"):
                xs.clear()
                ys.clear()
                curve.setData([], [])
            else:
                self.widget.removeItem(curve)
                del self._curves[key]
                del self._keys[key]
        self._update_legend()

    def remove_defaults(self) -> None:
        """Drop the two live curves (for a plot that compares recorded runs)."""
        for key in ("train", "eval"):
            if key in self._curves:
                curve = self._curves.pop(key)[0]
                del self._keys[key]
                self.widget.removeItem(curve)
        self._update_legend()


class PageHeader(QWidget):
    """A page's title and a sentence saying what the step is for."""

    def __init__(self, title: str, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 6)
        lay.setSpacing(2)
        self.title = QLabel(title, self)
        self.title.setObjectName("Title")
        self.intro = QLabel(intro, self)
        self.intro.setObjectName("Muted")
        self.intro.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.intro)


def page_layout(page: QWidget, title: str, intro: str) -> QVBoxLayout:
    """The layout every wizard page starts with: no margins, the usual spacing, its header."""
    lay = QVBoxLayout(page)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(10)
    lay.addWidget(PageHeader(title, intro, page))
    return lay


def card(parent: QWidget | None = None) -> tuple[QFrame, QVBoxLayout]:
    """A rounded panel (the app's "Card" style) and its layout."""
    frame = QFrame(parent)
    frame.setObjectName("Card")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(14, 12, 14, 12)
    lay.setSpacing(6)
    return frame, lay


def muted(text: str = "", parent: QWidget | None = None, *, wrap: bool = True) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("Muted")
    label.setWordWrap(wrap)
    return label


def bold(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setStyleSheet("font-weight: 600;")
    label.setWordWrap(True)
    return label


class Collapsible(QWidget):
    """A section that opens and closes with a click on its title (for advanced settings)."""

    toggled = Signal(bool)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.button = QToolButton(self)
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.ArrowType.RightArrow)
        self.button.setStyleSheet("font-weight: 600;")
        self.button.toggled.connect(self._toggle)
        self.body = QWidget(self)
        self.body.setVisible(False)
        lay.addWidget(self.button)
        lay.addWidget(self.body)

    def _toggle(self, on: bool) -> None:
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)
        self.toggled.emit(on)

    def set_open(self, on: bool) -> None:
        self.button.setChecked(on)


class SettingsGrid(QWidget):
    """Rows of label, control and a muted one-line explanation under the control."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(2)
        self.grid.setColumnStretch(2, 1)
        self.grid.setColumnMinimumWidth(0, 170)
        self._row = 0

    def add(self, label: str, control: QWidget, explanation: str) -> QLabel:
        name = QLabel(label, self)
        name.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        control.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        control.setMinimumWidth(150)
        note = muted(explanation, self)
        self.grid.addWidget(name, self._row, 0)
        self.grid.addWidget(control, self._row, 1)
        self.grid.addWidget(note, self._row, 2)
        self._row += 1
        return note


class SciSpinBox(QDoubleSpinBox):
    """A spin box for small rates: shows 2e-04, steps by factors of about two."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(1e-7, 1.0)
        self.setValue(2e-4)

    def textFromValue(self, value: float) -> str:
        return f"{value:.1e}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        from PySide6.QtGui import QValidator

        try:
            float(text)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        value = self.value() * (2.0**steps)
        self.setValue(min(self.maximum(), max(self.minimum(), value)))


class Step(QWidget):
    """One step of the wizard: says when it is complete, and commits when it is left."""

    label = ""
    """The step's name in the wizard's list of steps."""
    readyChanged = Signal()

    def is_ready(self) -> bool:
        """Whether the next step may be opened."""
        return True

    def enter(self) -> None:
        """Called each time the step is shown: look at what earlier steps chose."""

    def leave(self) -> bool:
        """Called before the next step opens; False keeps the user here (a message says why)."""
        return True

    def busy(self) -> bool:
        """Whether the step runs something that closing the wizard would stop."""
        return False

    def shutdown(self) -> None:
        """Stop what the step runs (the wizard is closing)."""

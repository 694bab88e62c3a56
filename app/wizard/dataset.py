"""The pairs being prepared for training: a table model to preview, edit and delete them, the
dataset file they are saved to, and the preparation report (what is kept, what is dropped and
why) computed with the trainer's own preparation steps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from app import theme
from trainer import data as tdata
from trainer.config import DataSettings

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

STAGES = {
    "clean": "Clean text",
    "empty": "Empty turns",
    "duplicates": "Duplicates",
    "length": "Length",
    "grounding": "Grounding",
}
REASONS = {
    "empty": "an empty question or answer",
    "duplicates": "a near-duplicate of an earlier pair",
    "length": "too short or too long",
    "grounding": "not supported by its source passage",
}


@dataclass
class Pair:
    """One example: its conversation (the last question and answer are shown) and source."""

    messages: list[dict[str, str]]
    source: tdata.Source | None = None
    verdict: str | None = None
    """None (not checked), "kept", or the preparation step that dropped it."""

    @property
    def question(self) -> str:
        return tdata.last_turn(self.messages, "user")

    @property
    def answer(self) -> str:
        return tdata.last_turn(self.messages, "assistant")

    def set_last(self, role: str, text: str) -> None:
        for m in reversed(self.messages):
            if m["role"] == role:
                m["content"] = text
                return
        self.messages.append({"role": role, "content": text})

    def to_example(self, line: int) -> tdata.Example:
        return tdata.Example(tuple(dict(m) for m in self.messages), self.source, line)

    def to_row(self) -> dict[str, Any]:
        """A JSONL row the trainer reads back (chat messages, source passage and its place)."""
        row: dict[str, Any] = {"messages": self.messages}
        if self.source is not None:
            row.update(
                source=self.source.text,
                file=self.source.file,
                page=self.source.page,
                heading=self.source.heading,
            )
        return row

    @classmethod
    def from_example(cls, ex: tdata.Example) -> Pair:
        return cls([dict(m) for m in ex.messages], ex.source)


def load_pairs(path: Path) -> list[Pair]:
    """Read a dataset file with the trainer's reader (its errors name file and line)."""
    return [Pair.from_example(ex) for ex in tdata.load_dataset(path)]


def salvage_jsonl(path: Path) -> int:
    """Drop unreadable lines (the last line of a killed writer); return how many were left."""
    if not path.is_file():
        path.write_text("", encoding="utf-8")
        return 0
    good = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        try:
            if isinstance(json.loads(line), dict):
                good.append(line)
        except ValueError:
            continue
    path.write_text("".join(line + "\n" for line in good), encoding="utf-8")
    return len(good)


def save_pairs(pairs: Sequence[Pair], path: Path) -> Path:
    """Write the pairs as JSONL (atomically), the file a training run reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        "".join(json.dumps(p.to_row(), ensure_ascii=False) + "\n" for p in pairs), "utf-8"
    )
    tmp.replace(path)
    return path


# --- the preparation report -----------------------------------------------------------------


@dataclass(frozen=True)
class ReportStep:
    stage: str
    message: str
    dropped: int
    changed: int = 0


@dataclass(frozen=True)
class Report:
    """Counts per preparation step and the verdict of every pair (same order as given)."""

    total: int
    kept: int
    steps: list[ReportStep]
    verdicts: list[str] = field(default_factory=list)

    def html(self) -> str:
        """The report as a small table: each step, how many it dropped, and why."""
        c = theme.colors()
        rows = []
        for s in self.steps:
            if s.stage == "clean":
                count, why = f"{s.changed} tidied", "whitespace or control characters"
            else:
                color = c.danger if s.dropped else c.muted
                count = f"<span style='color:{color}'>{s.dropped} dropped</span>"
                why = REASONS.get(s.stage, s.stage)
            rows.append(
                f"<tr><td style='padding-right:16px'>{STAGES.get(s.stage, s.stage)}</td>"
                f"<td style='padding-right:16px'>{count}</td>"
                f"<td style='color:{c.muted}'>{why}</td></tr>"
            )
        return f"<b>{self.summary()}</b><table>{''.join(rows)}</table>"

    def summary(self) -> str:
        dropped = [s for s in self.steps if s.dropped]
        why = "; ".join(f"{s.dropped} {REASONS.get(s.stage, s.stage)}" for s in dropped)
        text = f"{self.kept} of {self.total} pairs are kept for training."
        return text + (f" Dropped: {why}." if why else " None is dropped.")


def check_pairs(
    pairs: Sequence[Pair],
    *,
    settings: DataSettings | None = None,
    embed: Callable[[list[str]], Any] | None = None,
) -> Report:
    """Run the trainer's text preparation steps (`trainer.data.screen`) on the pairs.

    Tokenizing and the held-out split need the base model's tokenizer; the trainer reports
    them when the run starts. `embed` (normalized sentence embeddings) is loaded from the
    bundled embedder only when some pair has a source passage to check.
    """
    s = settings or DataSettings(path=Path("unused.jsonl"))
    examples = [p.to_example(i + 1) for i, p in enumerate(pairs)]
    steps: list[ReportStep] = []
    screened: tdata.Screened | None = None
    for item in tdata.screen(
        examples,
        min_chars=s.min_chars,
        max_chars=s.max_chars,
        dedupe_threshold=s.dedupe_threshold,
        grounding_threshold=s.grounding_threshold,
        embed=embed,
    ):
        if isinstance(item, tdata.Screened):
            screened = item
        elif item.stage != "grounding" or item.counts["checked"]:
            counts = item.counts
            steps.append(
                ReportStep(
                    item.stage, item.message, counts.get("dropped", 0), counts.get("changed", 0)
                )
            )
    assert screened is not None  # screen always ends with its result
    verdicts = [stage or "kept" for stage in screened.dropped_by]
    return Report(len(pairs), len(screened.kept), steps, verdicts)


# --- the table ------------------------------------------------------------------------------


class PairsModel(QAbstractTableModel):
    """The pairs as a table: question and answer editable, source and check read-only."""

    HEADERS = ("Question", "Answer", "Source", "Check")
    userChanged = Signal()
    """A pair was edited, added or deleted (the report no longer describes the table)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._pairs: list[Pair] = []
        self.edited = False

    def set_pairs(self, pairs: list[Pair]) -> None:
        self.beginResetModel()
        self._pairs = list(pairs)
        self.edited = False
        self.endResetModel()

    def pairs(self) -> list[Pair]:
        return list(self._pairs)

    def pair(self, row: int) -> Pair:
        return self._pairs[row]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._pairs)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return str(section + 1)

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.column() in (0, 1):
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        pair = self._pairs[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == 0:
                return pair.question if role == Qt.ItemDataRole.EditRole else _line(pair.question)
            if col == 1:
                return pair.answer if role == Qt.ItemDataRole.EditRole else _line(pair.answer)
            if col == 2:
                return _where(pair.source)
            if col == 3:
                return _verdict_text(pair.verdict)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return pair.question
            if col == 1:
                return pair.answer
            if col == 2 and pair.source is not None:
                return pair.source.text[:1500]
            if col == 3 and pair.verdict not in (None, "kept"):
                return f"Dropped: {REASONS.get(str(pair.verdict), pair.verdict)}"
        if role == Qt.ItemDataRole.ForegroundRole and col == 3 and pair.verdict:
            c = theme.colors()
            return QColor(c.success if pair.verdict == "kept" else c.danger)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() not in (0, 1):
            return False
        pair = self._pairs[index.row()]
        text = str(value)
        if text == (pair.question if index.column() == 0 else pair.answer):
            return False
        pair.set_last("user" if index.column() == 0 else "assistant", text)
        pair.verdict = None
        self.edited = True
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), 3))
        self.userChanged.emit()
        return True

    def remove_rows(self, rows: Sequence[int]) -> int:
        """Delete the given rows; return how many were deleted."""
        n = 0
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self._pairs):
                self.beginRemoveRows(_ROOT, row, row)
                del self._pairs[row]
                self.endRemoveRows()
                n += 1
        if n:
            self.edited = True
            self.userChanged.emit()
        return n

    def add_pair(self, question: str = "", answer: str = "") -> int:
        row = len(self._pairs)
        self.beginInsertRows(_ROOT, row, row)
        self._pairs.append(
            Pair([{"role": "user", "content": question}, {"role": "assistant", "content": answer}])
        )
        self.endInsertRows()
        self.edited = True
        self.userChanged.emit()
        return row

    def apply_report(self, report: Report) -> None:
        if len(report.verdicts) != len(self._pairs):
            return  # the table changed while the check ran: its verdicts no longer apply
        self._pairs = [
            replace(p, verdict=v) for p, v in zip(self._pairs, report.verdicts, strict=True)
        ]
        if self._pairs:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self._pairs) - 1, 3))


def _line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _where(source: tdata.Source | None) -> str:
    if source is None:
        return ""
    name = Path(source.file).name if source.file else "passage"
    return f"{name}, p. {source.page}" if source.page else name


def _verdict_text(verdict: str | None) -> str:
    if verdict is None:
        return ""
    if verdict == "kept":
        return "kept"
    return f"dropped: {REASONS.get(verdict, verdict)}"

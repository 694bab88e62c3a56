"""Small text helpers for the window: sizes, durations, dates, citations and stored sources."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from engine.events import Hit

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_FENCE = re.compile(r"^(```|~~~)")


def human_size(n: int | None) -> str:
    if not n:
        return "—"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("bytes", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def human_count(n: int | None) -> str:
    if n is None:
        return "—"
    if n >= 1e9:
        return f"{n / 1e9:.1f} B"
    if n >= 1e6:
        return f"{n / 1e6:.0f} M"
    if n >= 1e3:
        return f"{n / 1e3:.0f} K"
    return str(n)


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def human_time(stamp: float | str | None) -> str:
    """'14:02' today, 'Mon 14:02' this week, else a date."""
    if stamp is None or stamp == "":
        return ""
    if isinstance(stamp, str):
        from datetime import datetime

        text = stamp
        try:
            stamp = datetime.fromisoformat(text).timestamp()
        except ValueError:
            return text
    now = time.time()
    lt = time.localtime(stamp)
    if time.strftime("%Y%m%d", lt) == time.strftime("%Y%m%d", time.localtime(now)):
        return time.strftime("%H:%M", lt)
    if now - stamp < 6 * 86400:
        return time.strftime("%a %H:%M", lt)
    return time.strftime("%d %b %Y", lt)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# --- citations ------------------------------------------------------------------------------


def cited_numbers(text: str, n_sources: int | None = None) -> tuple[int, ...]:
    """The source numbers an answer cites, in order of first mention."""
    seen: dict[int, None] = {}
    for m in _CITATION.finditer(text):
        for part in m.group(1).split(","):
            n = int(part)
            if n >= 1 and (n_sources is None or n <= n_sources):
                seen.setdefault(n)
    return tuple(seen)


def link_citations(markdown: str, n_sources: int) -> str:
    """Turn citations such as [2] or [1, 3] into `cite:N` links, leaving code blocks alone."""

    def repl(m: re.Match[str]) -> str:
        numbers = [int(p) for p in m.group(1).split(",")]
        if not all(1 <= n <= n_sources for n in numbers):
            return m.group(0)
        return "".join(f"[\\[{n}\\]](cite:{n})" for n in numbers)

    out: list[str] = []
    in_code = False
    for line in markdown.split("\n"):
        if _FENCE.match(line.lstrip()):
            in_code = not in_code
            out.append(line)
        elif in_code:
            out.append(line)
        else:
            out.append(_CITATION.sub(repl, line))
    return "\n".join(out)


# --- sources as stored with a conversation --------------------------------------------------


def hit_to_record(hit: Hit, collection: str | None) -> dict[str, object]:
    """A hit as JSON for the conversation store (with what reopening it at its place needs)."""
    return {**hit.to_json(), "document_id": hit.document_id, "collection": collection}


def hit_from_record(raw: Mapping[str, object]) -> Hit:
    def num(key: str, default: int = 0) -> int:
        value = raw.get(key)
        return int(value) if isinstance(value, (int, float, str)) and str(value) != "" else default

    page = raw.get("page")
    similarity = raw.get("similarity")
    return Hit(
        file=Path(str(raw.get("file", ""))),
        page=int(page) if isinstance(page, (int, float)) else None,
        score=float(raw.get("score") or 0.0),  # type: ignore[arg-type]
        text=str(raw.get("text") or ""),
        chunk_id=num("chunk_id", -1),
        document_id=num("document_id", -1),
        start=num("start"),
        end=num("end"),
        heading=str(raw.get("heading") or ""),
        title=str(raw.get("title") or ""),
        similarity=float(similarity) if isinstance(similarity, (int, float)) else None,
    )


def source_label(hit: Hit) -> str:
    name = hit.file.name or hit.title or "document"
    return f"{name} · page {hit.page}" if hit.page else name


def snippet(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"

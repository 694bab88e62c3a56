"""Small text helpers for the window: sizes, durations, dates, citations and stored sources."""

from __future__ import annotations

import re
import time

from engine.chat.citations import citation_marks
from engine.events import Hit

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


def link_citations(markdown: str, n_sources: int) -> str:
    """Turn citation marks (as the engine reads them: [2], [1, 3], [2-4], [Passage 3]) into
    `cite:N` links, leaving code blocks alone."""
    out: list[str] = []
    in_code = False
    for line in markdown.split("\n"):
        if _FENCE.match(line.lstrip()):
            in_code = not in_code
            out.append(line)
            continue
        if in_code:
            out.append(line)
            continue
        parts: list[str] = []
        pos = 0
        for mark in citation_marks(line):
            if not mark.numbers or not all(1 <= n <= n_sources for n in mark.numbers):
                continue
            parts.append(line[pos : mark.start])
            parts.append("".join(f"[\\[{n}\\]](cite:{n})" for n in mark.numbers))
            pos = mark.end
        parts.append(line[pos:])
        out.append("".join(parts))
    return "\n".join(out)


def source_label(hit: Hit) -> str:
    name = hit.file.name or hit.title or "document"
    return f"{name} · page {hit.page}" if hit.page else name


def snippet(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"

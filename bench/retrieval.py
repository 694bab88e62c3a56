"""Retrieval benchmark: does the right page come back? Hearth beside the h2oGPT-style peer.

Run: python -m bench.retrieval [--pages 300] [--systems hearth,peer-512,peer-2048] [--check]

Real manuals from Debian's documentation packages (bench/retrieval_docs.py installs them
with apt and says so), 110 questions with their exact pages (bench/retrieval_questions.json).
Every system indexes the same documents in the same run and answers every question:

- Hearth through its facade: `Hearth.ingest` into a fresh home, then `Hearth.search`;
- the peer (bench/peer.py) with 512-character chunks, and its fast variant with 2,048.

For each, the exact-page hit@1/5/10 and MRR@10 (over the distinct pages of the top 50
passages, in the order they first appear) on the tuning half, the held-out half and all
questions, and whole-ingest pages/s (an HTML or Word file counts as one page; the embedder
is loaded before the clock starts). `--pages N` keeps about N PDF pages (every question's
page and evenly spaced others) and a quarter of the HTML pages for a quick run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.retrieval_docs import prepare
from bench.retrieval_questions import Question, check, load_questions

DOCS = Path(__file__).parent / "out" / "retrieval-docs"
CANDIDATES = 50
"""Passages asked of every system per question; their distinct pages are ranked."""

PageKey = tuple[str, int | None]


@dataclass
class Result:
    name: str
    pages_per_s: float
    seconds: float
    chunks: int
    ranked: list[list[PageKey]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)


def distinct(keys: list[PageKey]) -> list[PageKey]:
    """Pages in the order they first appear."""
    seen: dict[PageKey, None] = {}
    for key in keys:
        seen.setdefault(key, None)
    return list(seen)


def scores(questions: list[Question], ranked: list[list[PageKey]]) -> dict[str, float]:
    """Exact-page hit@1/5/10 and MRR@10."""
    hits = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    for q, pages in zip(questions, ranked, strict=True):
        target = (q.file, q.page)
        rank = pages.index(target) + 1 if target in pages else None
        for k in hits:
            hits[k] += rank is not None and rank <= k
        if rank is not None and rank <= 10:
            rr += 1.0 / rank
    n = max(1, len(questions))
    return {"hit@1": hits[1] / n, "hit@5": hits[5] / n, "hit@10": hits[10] / n, "MRR@10": rr / n}


def document_set(folder: Path) -> list[tuple[str, Path]]:
    """(key, path) of every document under the folder, in a stable order."""
    return [
        (p.relative_to(folder).as_posix(), p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix.lower() in (".pdf", ".html", ".docx")
    ]


def page_count(files: list[tuple[str, Path]]) -> int:
    import pymupdf

    total = 0
    for _, path in files:
        if path.suffix.lower() == ".pdf":
            with pymupdf.open(path) as doc:
                total += doc.page_count
        else:
            total += 1
    return total


def quick_subset(
    questions: list[Question], source: Path, target: Path, pages: int
) -> list[Question]:
    """Copy about `pages` PDF pages (question pages first) to `target`; renumber questions."""
    import pymupdf

    files = document_set(source)
    pdfs = [(k, p) for k, p in files if p.suffix.lower() == ".pdf"]
    sizes = {k: pymupdf.open(p).page_count for k, p in pdfs}
    total = sum(sizes.values())
    renumber: dict[str, dict[int, int]] = {}
    for key, path in pdfs:
        wanted = {q.page - 1 for q in questions if q.file == key and q.page}
        share = max(len(wanted), round(pages * sizes[key] / total))
        step = sizes[key] / max(1, share - len(wanted))
        fill = {int(i * step) for i in range(share - len(wanted))}
        keep = sorted(wanted | fill)
        with pymupdf.open(path) as doc:
            doc.select(keep)
            out = target / key
            out.parent.mkdir(parents=True, exist_ok=True)
            doc.save(out)
        renumber[key] = {old + 1: new + 1 for new, old in enumerate(keep)}
    asked = {q.file for q in questions}
    others = [(k, p) for k, p in files if p.suffix.lower() != ".pdf"]
    for i, (key, path) in enumerate(others):
        if key in asked or i % 4 == 0:
            out = target / key
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
    return [
        Question(
            q.file,
            renumber[q.file][q.page] if q.file in renumber and q.page else q.page,
            q.question,
            q.evidence,
            q.split,
        )
        for q in questions
    ]


def run_hearth(
    files: list[tuple[str, Path]], folder: Path, questions: list[Question], pages: int
) -> Result:
    from engine.events import IngestFinished
    from engine.facade import Hearth
    from engine.index.embed import get_embedder

    work = Path(tempfile.mkdtemp(prefix="hearth-bench-retrieval-"))
    try:
        h = Hearth(work / "home")
        embedder = get_embedder()
        embedder.embed(["warm up"])  # the one-time model load is outside the clock
        print(f"  Hearth embeds in {embedder.precision}")
        t0 = time.perf_counter()
        summary = None
        for event in h.ingest([folder], collection="bench"):
            if isinstance(event, IngestFinished):
                summary = event.summary
        seconds = time.perf_counter() - t0
        assert summary is not None
        if summary.failed:
            print(f"  Hearth failed on: {summary.failures}")
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary.timings.items())
        print(f"  Hearth: {seconds:.1f} s in all; {stages}")
        result = Result("Hearth", pages / seconds, seconds, summary.chunks)
        h.search(questions[0].question, collection="bench", k=CANDIDATES)  # load the index
        for q in questions:
            t0 = time.perf_counter()
            hits = h.search(q.question, collection="bench", k=CANDIDATES)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            result.ranked.append(
                distinct(
                    [(Path(hit.file).relative_to(folder).as_posix(), hit.page) for hit in hits]
                )
            )
        h.close()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_peer(
    files: list[tuple[str, Path]], questions: list[Question], pages: int, chunk_size: int
) -> Result:
    from bench import peer

    model = peer.load_model()
    model.encode(["warm up"])
    index = peer.build(files, model, chunk_size=chunk_size)
    result = Result(f"peer {chunk_size}", pages / index.seconds, index.seconds, index.chunks)
    for q in questions:
        t0 = time.perf_counter()
        keys = index.search(model, q.question, k=CANDIDATES)
        result.latencies_ms.append((time.perf_counter() - t0) * 1000)
        result.ranked.append(distinct(keys))
    return result


def report(results: list[Result], questions: list[Question]) -> None:
    halves = {
        "tuning half": [i for i, q in enumerate(questions) if q.split == "tune"],
        "held-out half": [i for i, q in enumerate(questions) if q.split == "held-out"],
        "all": list(range(len(questions))),
    }
    for label, idx in halves.items():
        print(f"\n{label} ({len(idx)} questions)")
        print(f"  {'system':<12}{'hit@1':>8}{'hit@5':>8}{'hit@10':>8}{'MRR@10':>8}")
        for r in results:
            s = scores([questions[i] for i in idx], [r.ranked[i] for i in idx])
            print(
                f"  {r.name:<12}{s['hit@1']:8.3f}{s['hit@5']:8.3f}{s['hit@10']:8.3f}{s['MRR@10']:8.3f}"
            )
    print("\ningest (whole: read, chunk, embed, index)")
    print(f"  {'system':<12}{'pages/s':>9}{'seconds':>9}{'chunks':>8}{'search ms':>11}")
    for r in results:
        median = statistics.median(r.latencies_ms) if r.latencies_ms else 0.0
        print(f"  {r.name:<12}{r.pages_per_s:9.2f}{r.seconds:9.1f}{r.chunks:8d}{median:11.1f}")
    by_name = {r.name: r for r in results}
    hearth, slow, fast = (by_name.get(n) for n in ("Hearth", "peer 512", "peer 2048"))
    if hearth and slow:
        a, b = scores(questions, hearth.ranked), scores(questions, slow.ranked)
        print(
            f"\nHearth - peer 512: hit@5 {a['hit@5'] - b['hit@5']:+.3f}, "
            f"MRR@10 {a['MRR@10'] - b['MRR@10']:+.3f} (target +0.08 each)"
        )
    if hearth and fast:
        print(
            f"Hearth / peer 2048 pages/s: {hearth.pages_per_s / fast.pages_per_s:.2f} (target >= 1)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=0, help="keep about N PDF pages (quick run)")
    ap.add_argument("--systems", default="hearth,peer-512,peer-2048")
    ap.add_argument("--split", choices=("all", "tune", "held-out"), default="all")
    ap.add_argument("--check", action="store_true", help="only check the questions")
    ap.add_argument("--docs", type=Path, default=DOCS, help="where the documents are laid out")
    args = ap.parse_args()

    folder = prepare(args.docs).absolute()
    questions = load_questions()
    problems = check(questions, folder)
    print(f"{len(questions)} questions checked: {len(problems)} problems")
    for p in problems:
        print("  " + p)
    if args.check or problems:
        raise SystemExit(1 if problems else 0)
    if args.split != "all":
        questions = [q for q in questions if q.split == args.split]

    work = Path(tempfile.mkdtemp(prefix="hearth-bench-docs-"))
    try:
        if args.pages:
            questions = quick_subset(questions, folder, work, args.pages)
            folder = work
        files = document_set(folder)
        pages = page_count(files)
        print(f"{len(files)} documents, {pages} pages, {len(questions)} questions")
        results = []
        for system in args.systems.split(","):
            t0 = time.perf_counter()
            if system == "hearth":
                results.append(run_hearth(files, folder, questions, pages))
            elif system.startswith("peer-"):
                results.append(run_peer(files, questions, pages, int(system[5:])))
            else:
                raise SystemExit(f"unknown system {system!r}")
            print(f"  {system}: {time.perf_counter() - t0:.0f} s", flush=True)
        report(results, questions)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

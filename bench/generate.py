"""Generation benchmark: Hearth's answer path against a bare llama-cpp-python loop, and real models.

Run: python -m bench.generate [--tokens 128] [--repeat 3] [--threads N]
     python -m bench.generate --real [--answers 20] [--manual PATH]

On a random-weight model of TinyLlama-1.1B's shape in Q4_K_M (written once to bench/out/), it
prints:
- decoding tokens/s of `answer_question` through a ChatModel, and of a bare `Llama.generate`
  loop and a bare `eval`/`sample` loop on the same loaded model, same prompt, same number of
  tokens, greedy sampling (target: Hearth at least 95% of the bare loop);
- the time to first token of a ~2,000-token prompt, against the bare prompt evaluation;
- the time to first token of a follow-up question, and how many prompt tokens came from
  llama.cpp's cache.

With --real it uses the real models that ship in PyPI packages (SmolLM2-135M-Instruct and
Gemma 3 270M base, see tests/support/real_models.py) over a real manual (default: the Git
user manual from Debian's git-doc package), indexed once into bench/out/real-home:
- loops: the share of `--answers` SmolLM2 answers that fall into a loop with the sampling Hearth
  used before (no repetition penalty, nothing to stop a loop) and with today's (penalty, min-p,
  and the repetition guard that cuts the answer);
- time to first token for each model with 5 passages: the first question of a fresh process
  including the model load, the first question with the model loaded, and a follow-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

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


def sentences_for(model, target_tokens: int, count: int = 5) -> int:
    """Sentences per passage for `count` passages to make a prompt of about `target_tokens`."""
    from engine.chat.prompt import build_messages

    sentences = 2
    while True:
        hits = make_hits(1, count, sentences)
        n = model.count_chat_tokens(build_messages("What does the manual say?", hits))
        if n >= target_tokens:
            return sentences
        sentences += 1


def bare_generate(model, tokens: Sequence[int], n: int) -> tuple[float, float]:
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


def bare_eval_sample(model, tokens: Sequence[int], n: int) -> tuple[float, float]:
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


def hearth_answer(model, question, hits, settings, history=()):
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


GIT_MANUAL = Path("/usr/share/doc/git-doc/user-manual.html")
QUESTIONS = [
    "How do I undo the last commit?",
    "What does git bisect do?",
    "How do I create a new branch?",
    "How can I see the history of a single file?",
    "What is the index?",
    "How do I resolve a merge conflict?",
    "How do I clone a repository?",
    "What does git fetch do?",
    "How do I create a tag?",
    "How do I send my patches by email?",
    "What is a detached HEAD?",
    "How do I recover a lost commit?",
    "How do I rebase my branch on top of another one?",
    "What does git gc do?",
    "How do I see the differences between two branches?",
    "What is a submodule?",
    "How do I publish my changes to a public repository?",
    "How do I tell git my name and email address?",
    "How do I check a repository for corruption?",
    "What is a fast-forward merge?",
]
"""Questions a reader of the Git user manual would ask (the --real loop count)."""


def real_home(manual: Path) -> Any:
    """A Hearth home in bench/out/real-home with `manual` indexed (once) and both real models."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.real_models import gemma3_path, smollm2_path

    from engine.events import IngestFinished
    from engine.facade import Hearth

    h = Hearth(OUT / "real-home")
    started = time.perf_counter()
    for event in h.ingest([manual]):
        if isinstance(event, IngestFinished) and event.summary.indexed:
            print(
                f"indexed {manual.name}: {event.summary.chunks} chunks in "
                f"{time.perf_counter() - started:.0f} s (once)",
                flush=True,
            )
    installed = {m.name for m in h.list_models()}
    for name, path in (("smollm2", smollm2_path()), ("gemma3", gemma3_path(OUT))):
        if name not in installed:
            h.add_model(path, name=name)
    return h


def count_loops(h: Any, args: argparse.Namespace) -> None:
    """SmolLM2 answers that loop: the sampling of before against today's, same prompts."""
    from engine.chat.answer import answer_question, relevant_hits
    from engine.chat.prompt import fit_prompt
    from engine.events import AnswerFinished
    from engine.llm.repetition import find_loop

    settings = replace(h.settings, max_answer_tokens=args.tokens, temperature=0.2)
    model = h.load_model("smollm2")
    today = model.sampling
    before = replace(today, repeat_penalty=1.0)  # what Hearth used until now
    questions = (QUESTIONS * (1 + args.answers // len(QUESTIONS)))[: args.answers]
    looped_before = looped_now = cut_now = left_in = 0
    print(
        f"\nloops in {len(questions)} SmolLM2 answers ({args.tokens} tokens at most, "
        f"temperature {settings.temperature}, {settings.passages} passages):",
        flush=True,
    )
    for n, question in enumerate(questions, 1):
        hits = relevant_hits(h.search(question, k=settings.passages), limit=settings.passages)
        plan = fit_prompt(
            question,
            hits,
            [],
            count_chat_tokens=model.count_chat_tokens,
            n_ctx=model.n_ctx,
            max_answer_tokens=args.tokens,
        )
        model.sampling = before
        old = model.chat(plan.messages, max_tokens=args.tokens, temperature=settings.temperature)
        old_loop = find_loop(old)
        model.sampling = today
        model.transcript = None
        answer = None
        for event in answer_question(question, hits=hits, model=model, settings=settings):
            if isinstance(event, AnswerFinished):
                answer = event.answer
        assert answer is not None
        cut = bool(answer.notes)
        looped_before += old_loop is not None
        cut_now += cut
        left_in += find_loop(answer.text) is not None
        looped_now += cut
        print(
            f"  {n:2d}. before: {'LOOP ' + repr(old_loop.what[:30]) if old_loop else 'ok':<40} "
            f"now: {'cut ' if cut else 'ok  '}{len(answer.text):4d} chars  {question}",
            flush=True,
        )
    k = len(questions)
    print(
        f"  looping answers: before {looped_before}/{k} ({looped_before / k:.0%}), "
        f"now {looped_now}/{k} ({looped_now / k:.0%}) -- each cut with the note; "
        f"loops left in a shown answer: {left_in}",
        flush=True,
    )


def time_to_first_token(h: Any, args: argparse.Namespace) -> None:
    """First token with 5 passages: fresh process (load included), loaded model, follow-up."""
    import subprocess

    from engine.chat.answer import Turn
    from engine.events import AnswerFinished

    print("\ntime to first token, 5 passages:", flush=True)
    first_q, follow_q = "How do I undo the last commit?", "And how do I recover a lost commit?"
    for name in ("smollm2", "gemma3"):
        # 1. A fresh process, as `hearth ask` runs: start-up, search, load, prompt.
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "--home", str(OUT / "real-home"), "ask",
             first_q, "--model", name],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.read(1)
        cold = time.perf_counter() - started
        proc.stdout.read()
        proc.wait()
        # 2. The model loaded, a first question (nothing cached), then 3. a follow-up.
        h.load_model(name)._llm.reset()
        h.load_model(name).transcript = None
        figures = []
        history: list[Turn] = []
        for question in (first_q, follow_q):
            answer = None
            for event in h.ask(question, model=name, history=history):
                if isinstance(event, AnswerFinished):
                    answer = event.answer
            assert answer is not None
            stats = h.load_model(name).last_stats
            figures.append((answer.seconds_to_first_token or 0.0, stats))
            history += [Turn("user", question), Turn("assistant", answer.text)]
        (first, s1), (follow, s2) = figures
        print(
            f"  {name:<8} fresh `hearth ask` (start-up, search, load): first token after "
            f"{cold:5.1f} s\n"
            f"  {'':<8} model loaded, first question: {first:5.1f} s ({s1.prompt_tokens} prompt "
            f"tokens)\n"
            f"  {'':<8} follow-up: {follow:5.1f} s ({s2.prompt_tokens} prompt tokens, "
            f"{s2.cached_tokens} from the cache)",
            flush=True,
        )


def real_models(args: argparse.Namespace) -> int:
    """The --real benchmark (see the module docstring)."""
    from engine.offline import go_offline

    go_offline()
    if not args.manual.is_file():
        print(f"{args.manual} is missing: install Debian's git-doc, or give --manual PATH")
        return 1
    h = real_home(args.manual)
    try:
        if "loops" not in args.skip:
            count_loops(h, args)
        if "ttft" not in args.skip:
            time_to_first_token(h, args)
    finally:
        h.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128, help="tokens to generate per run")
    parser.add_argument("--repeat", type=int, default=5, help="decoding runs per contender")
    parser.add_argument("--prompt-tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="decode threads (default: cores)")
    parser.add_argument("--real", action="store_true", help="real models over a real manual")
    parser.add_argument("--answers", type=int, default=20, help="answers per loop count (--real)")
    parser.add_argument("--manual", type=Path, default=GIT_MANUAL, help="document for --real")
    parser.add_argument(
        "--skip", choices=["loops", "ttft"], action="append", default=[], help="skip a part"
    )
    args = parser.parse_args(argv)
    if args.real:
        return real_models(args)

    from engine.offline import go_offline

    go_offline()
    from engine.chat.answer import Turn
    from engine.chat.prompt import fit_prompt
    from engine.config import Paths, Settings
    from engine.llm.registry import ModelRegistry
    from engine.llm.runtime import LlamaModel, default_threads

    path = ensure_model()
    home = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    info = ModelRegistry(Paths(home).ensure()).add(path)
    started = time.perf_counter()
    model = LlamaModel(info, context_length=4096, n_threads=args.threads)
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

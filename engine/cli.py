"""The `hearth` command line: everything the engine does, driven from a terminal.

It calls the same facade as the desktop app. Long operations show a progress bar on a
terminal; Ctrl-C cancels cleanly (a second Ctrl-C stops at once — the collection stays
consistent either way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_COLLECTION
from engine.errors import HearthError
from engine.events import (
    AnswerFinished,
    CancelToken,
    DocumentRemoved,
    FileDuplicate,
    FileFailed,
    FileIndexed,
    FileStarted,
    IngestFinished,
    IngestProgress,
    IngestStarted,
    OcrProgress,
    Retrieved,
    Status,
    Token,
)
from engine.facade import Hearth


def _human_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _place(file: Path, page: int | None) -> str:
    return f"{file.name}, p. {page}" if page else file.name


@contextlib.contextmanager
def _cancel_on_interrupt(token: CancelToken) -> Iterator[None]:
    """First Ctrl-C asks the running operation to stop; a second one stops at once."""

    def handler(signum: int, frame: object) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nStopping… (press Ctrl-C again to stop at once)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- commands -----------------------------------------------------------------------------------


def cmd_ingest(h: Hearth, args: argparse.Namespace) -> int:
    """Index paths; exits 1 (after the summary) when a named path or any file failed."""
    if not args.paths and not args.sync:
        print("Name files or folders to ingest, or use --sync to re-check the collection.")
        return 2
    from tqdm import tqdm

    token = CancelToken()
    bar: Any = None
    summary = None
    waiting_said = False
    embedding = False  # every file is read first (the bar counts files read), then embedded
    into = ""

    def say(msg: str) -> None:
        (bar.write if bar is not None else print)(msg)

    with _cancel_on_interrupt(token):
        for event in h.ingest(args.paths, collection=args.collection, sync=args.sync, cancel=token):
            if isinstance(event, IngestStarted):
                into = event.collection
                bar = tqdm(
                    total=event.files_total,
                    unit="file",
                    desc=f"Reading into '{into}'",
                    disable=args.quiet or not sys.stderr.isatty(),
                    dynamic_ncols=True,
                )
            elif isinstance(event, FileStarted) and bar is not None:
                bar.n = event.index
                bar.set_postfix_str(f"reading {event.path.name}", refresh=True)
            elif isinstance(event, IngestProgress) and bar is not None:
                if event.stage == "waiting" and not waiting_said and not args.quiet:
                    say(event.activity)  # also without a terminal: say why nothing moves
                    waiting_said = True
                if event.stage == "embedding" and not embedding:
                    embedding = True
                    bar.reset(total=event.files_total)  # the second pass, with its own rate
                    bar.set_description(f"Embedding into '{into}'")
                if embedding:
                    bar.n = event.files_done
                parts = [event.activity] if event.activity else []
                if event.stage == "embedding":
                    parts.append(f"{event.chunks_per_s:.1f}/s, ETA {_human_time(event.eta_s)}")
                    if event.current is not None:
                        parts.append(event.current.name)
                bar.set_postfix_str(", ".join(parts), refresh=False)
                bar.refresh()
            elif isinstance(event, OcrProgress) and not args.quiet:
                _print_ocr(event)
            elif isinstance(event, FileFailed):
                say(f"failed: {event.path}: {event.reason}")
            elif isinstance(event, FileDuplicate):
                say(f"duplicate: {event.path} (same content as {event.original}; indexed once)")
            elif isinstance(event, DocumentRemoved):
                say(f"removed (file is gone): {event.path}")
            elif isinstance(event, IngestFinished):
                summary = event.summary
    if bar is not None:
        bar.close()
    if summary is None:
        return 1
    s = summary
    parts = [f"{s.indexed} indexed", f"{s.skipped} unchanged", f"{s.failed} failed"]
    if s.duplicates:
        parts.append(f"{s.duplicates} duplicates")
    if s.missing:
        parts.append(f"{len(s.missing)} not found")
    if s.removed:
        parts.append(f"{s.removed} removed")
    rate = f", {s.chunks / s.seconds:.1f} chunks/s" if s.seconds and s.chunks else ""
    state = "Cancelled" if s.cancelled else "Done"
    print(f"{state}: {', '.join(parts)} — {s.chunks} chunks in {s.seconds:.1f}s{rate}.")
    if s.cancelled:
        print("What was finished is kept; run the same command again to continue.")
    if s.failed:
        print("`hearth status` lists the files that failed and why.")
    if s.cancelled:
        return 130
    return 0 if s.ok else 1


def cmd_search(h: Hearth, args: argparse.Namespace) -> int:
    hits = h.search(args.query, collection=args.collection, k=args.k)
    indexing = h.collection_info(args.collection).indexing
    if indexing is not None:  # answers come from what is indexed so far: say so
        print(f"hearth: {indexing.describe()}", file=sys.stderr)
    if args.json:
        print(json.dumps([hit.to_json() for hit in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("Nothing found.")
        return 0
    for n, hit in enumerate(hits, 1):
        where = _place(hit.file, hit.page)
        heading = f" — {hit.heading}" if hit.heading else ""
        print(f"[{n}] {where}{heading}  (score {hit.score:.4f})")
        text = " ".join(hit.text.split())
        print(f"    {text[:300]}{'…' if len(text) > 300 else ''}\n")
    return 0


def _stream_answer(
    h: Hearth, question: str, args: argparse.Namespace, conversation: int | None = None
) -> Any:
    """Run one question (saved in `conversation` when given); stream to the terminal unless
    --json. Returns the Answer."""
    token = CancelToken()
    answer = None
    show = not getattr(args, "json", False)
    status_shown = False
    with _cancel_on_interrupt(token):
        for event in h.ask(
            question,
            collection=args.collection,
            model=args.model,
            conversation=conversation,
            cancel=token,
        ):
            if isinstance(event, Status) and show and sys.stderr.isatty():
                print(f"\r\033[K{event.text}", end="", file=sys.stderr, flush=True)
                status_shown = True
            elif isinstance(event, Token) and show:
                if status_shown:
                    print("\r\033[K", end="", file=sys.stderr, flush=True)
                    status_shown = False
                print(event.text, end="", flush=True)
            elif isinstance(event, Retrieved):
                pass
            elif isinstance(event, AnswerFinished):
                answer = event.answer
    if status_shown:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if answer is not None and show:
        print()
        if answer.cancelled:
            print("(stopped)")
        for note in answer.notes:
            print(f"({note})")
        _print_checks(answer)
        cited = answer.cited or tuple(range(1, len(answer.sources) + 1))
        if answer.sources and answer.grounded:
            print("\nSources:")
            for n in cited:
                hit = answer.sources[n - 1]
                print(
                    f"  [{n}] {hit.file} (page {hit.page})" if hit.page else f"  [{n}] {hit.file}"
                )
    return answer


_MARKS = {"supported": "✓", "partly_supported": "~", "not_found": "✗"}
MAX_CHECK_LINES = 12


def _print_checks(answer: Any) -> None:
    """After a streamed answer: the notice for its top, then each sentence that is not fully
    backed by the passages, marked, with the reason."""
    checks = answer.sentences
    if not checks:
        return
    if answer.notice:
        print(f"\n⚠ {answer.notice}")
    backed = sum(c.verdict == "supported" for c in checks)
    print(f"\nChecked against your documents: {backed} of {len(checks)} sentences backed.")
    # A sentence repeated (small models loop) is listed once, with how often it came.
    shown: dict[tuple[str, str, str], int] = {}
    for c in checks:
        if c.verdict != "supported" or c.wrong_citations:
            key = (" ".join(c.text.split()), c.reason, c.verdict)
            shown[key] = shown.get(key, 0) + 1
    for i, ((text, reason, verdict), times) in enumerate(shown.items()):
        if i == MAX_CHECK_LINES:
            print(f"  … and {len(shown) - i} more")
            break
        if len(text) > 90:
            text = text[:89].rsplit(" ", 1)[0] + "…"
        mark = _MARKS.get(verdict, "?")
        again = f" (×{times})" if times > 1 else ""
        print(f"  {mark} “{text}”{again} — {reason}")


def cmd_ask(h: Hearth, args: argparse.Namespace) -> int:
    answer = _stream_answer(h, args.question, args)
    if answer is None:
        return 1
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    return 130 if answer.cancelled else 0


def cmd_chat(h: Hearth, args: argparse.Namespace) -> int:
    coll = h.collection_info(args.collection)
    h.chat_model(args.model)  # a misspelt model name is an error before the first question
    # Untitled: the first question becomes the title, as in the app.
    conversation = h.conversations.create(collection=coll.name)
    print(
        f"Chatting with '{coll.name}' ({coll.documents} documents). Ctrl-C stops an answer; "
        "Ctrl-D or /quit leaves."
    )
    while True:
        try:
            question = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if question in {"/quit", "/exit"}:
            return 0
        if not question:
            continue
        print("hearth> ", end="", flush=True)
        _stream_answer(h, question, args, conversation.id)


def cmd_status(h: Hearth, args: argparse.Namespace) -> int:
    collections = h.list_collections()
    if args.json:
        out = []
        for c in collections:
            if args.collection and c.name != args.collection:
                continue
            docs = h.documents(c.name)
            out.append(
                {
                    "name": c.name,
                    "documents": c.documents,
                    "failed": c.failed,
                    "chunks": c.chunks,
                    "embedding_model": c.embedding_model,
                    "linked_folders": _links_json(h, c.name),
                    "failures": [
                        {"file": str(d.path), "reason": d.error}
                        for d in docs
                        if d.status == "failed"
                    ],
                    "duplicates": [
                        {"file": str(d.path), "same_as": str(d.duplicate_of)}
                        for d in docs
                        if d.status == "duplicate"
                    ],
                    "indexing": c.indexing.describe() if c.indexing else None,
                }
            )
        if args.endpoints:
            out = {"collections": out, "endpoints": _endpoints_json(h)}  # type: ignore[assignment]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"Hearth home: {h.paths.home}")
    _print_endpoints(h)
    if not collections:
        print("No collections yet. Start with: hearth ingest PATH [--collection NAME]")
        return 0
    for c in collections:
        if args.collection and c.name != args.collection:
            continue
        print(
            f"\n{c.name}: {c.documents} documents, {c.chunks} chunks, {c.failed} failed "
            f"(embedding model {c.embedding_model})"
        )
        if c.indexing is not None:
            print(f"  {c.indexing.describe()}")
        _print_links(h, c.name)
        for d in h.documents(c.name):
            if d.status == "failed":
                print(f"  failed: {d.path}\n          {d.error}")
            elif d.status == "duplicate":
                print(f"  duplicate: {d.path}\n          same content as {d.duplicate_of}")
    return 0


# --- linked folders and OCR ---------------------------------------------------------------------


def _print_ocr(event: OcrProgress) -> None:
    line = (
        f"Reading scanned page {event.page} of {event.path.name} by OCR "
        f"({event.pages_done}/{event.pages_total}, {event.seconds:.1f}s a page)"
    )
    if sys.stderr.isatty():
        print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
        if event.pages_done == event.pages_total:
            print(file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _links_json(h: Hearth, collection: str) -> list[dict[str, Any]]:
    return [
        {
            "folder": str(f.path),
            "available": f.available,
            "documents": f.documents,
            "error": f.error,
        }
        for f in h.linked_folders(collection)
    ]


def _print_links(h: Hearth, collection: str) -> None:
    for f in h.linked_folders(collection):
        state = "linked" if f.available else "unavailable (documents kept until it returns)"
        print(f"  linked folder: {f.path} — {f.documents} documents, {state}")
        if f.error:
            print(f"          {f.error}")


def cmd_link(h: Hearth, args: argparse.Namespace) -> int:
    folder = h.link_folder(args.folder, collection=args.collection)
    print(f"linked: {folder.path} → '{folder.collection}'")
    if args.no_index:
        print("It is indexed by `hearth watch` (or the app) when that next runs.")
        return 0
    ingest = argparse.Namespace(
        paths=[folder.path], collection=folder.collection, sync=False, quiet=args.quiet
    )
    code = cmd_ingest(h, ingest)
    if code == 0:
        print("`hearth watch` (or the app, while it runs) keeps it in sync.")
    return code


def cmd_unlink(h: Hearth, args: argparse.Namespace) -> int:
    removed = h.unlink_folder(
        args.folder, collection=args.collection, keep_documents=args.keep_documents
    )
    kept = " (its documents stay in the collection)" if args.keep_documents else ""
    print(
        f"unlinked: {args.folder}{kept}; {removed} documents removed. Your files were not touched."
    )
    return 0


def cmd_watch(h: Hearth, args: argparse.Namespace) -> int:
    from engine.watch import FolderState

    if not h.linked_folders(args.collection):
        print("No linked folders. Link one with: hearth link FOLDER -c COLLECTION")
        return 2
    token = CancelToken()
    print("Watching linked folders; Ctrl-C stops.", file=sys.stderr)
    with _cancel_on_interrupt(token):
        for event in h.watch(collection=args.collection, cancel=token, debounce_s=args.debounce):
            if isinstance(event, FolderState):
                detail = ""
                if event.state == "syncing":
                    if not (event.files or event.removed):
                        continue  # a check that found nothing to do: "watching" follows
                    detail = f": {event.files} files to index, {event.removed} to remove"
                elif event.error:
                    detail = f": {event.error}"
                print(f"[{event.collection}] {event.folder}: {event.state}{detail}", flush=True)
            elif isinstance(event, FileIndexed):
                print(f"  indexed: {event.path}", flush=True)
            elif isinstance(event, FileFailed):
                print(f"  failed: {event.path}: {event.reason}", flush=True)
            elif isinstance(event, DocumentRemoved):
                print(f"  removed: {event.path}", flush=True)
            elif isinstance(event, OcrProgress):
                _print_ocr(event)
    return 0


def cmd_remove(h: Hearth, args: argparse.Namespace) -> int:
    code = 0
    for path in args.paths:
        if h.remove_document(path, collection=args.collection):
            print(f"removed: {path}")
        else:
            print(f"not in the collection: {path}")
            code = 1
    return code


def cmd_collections(h: Hearth, args: argparse.Namespace) -> int:
    if args.action == "create":
        h.create_collection(args.name, embedding_model=args.embedding_model)
        print(f"created: {args.name}")
    elif args.action == "rename":
        h.rename_collection(args.name, args.new_name)
        print(f"renamed: {args.name} → {args.new_name}")
    elif args.action == "delete":
        h.delete_collection(args.name)
        print(f"deleted: {args.name} (your files were not touched)")
    elif args.action == "embedding-model":
        for event in h.set_embedding_model(args.name, args.model):
            if isinstance(event, IngestFinished):
                print(f"re-embedded {event.summary.chunks} chunks with {args.model}")
    else:
        for c in h.list_collections():
            print(f"{c.name}\t{c.documents} documents\t{c.chunks} chunks\t{c.failed} failed")
    return 0


def _model_json(m: Any) -> dict[str, Any]:
    return dict(m.to_json())


def cmd_models(h: Hearth, args: argparse.Namespace) -> int:
    if args.action == "add-remote":
        return cmd_add_remote(h, args)
    if args.action == "add":
        m = h.add_model(args.file, name=args.name)
        print(
            f"added: {m.name} ({m.architecture}, {m.quantization}, context {m.context_length}, "
            f"{m.kind}: {m.kind_reason})"
        )
    elif args.action == "remove":
        h.remove_model(args.name)
        print(f"removed: {args.name} (the file was not touched)")
    elif args.action == "info":
        m = h.model_info(args.name)
        info = _model_json(m)
        if args.json:
            print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
            return 0
        for key, value in info.items():
            if key not in ("chat_template", "kind", "kind_reason") and value not in (None, "", {}):
                print(f"{key:>16}: {value}")
        print(f"{'kind':>16}: {m.kind} ({m.kind_reason})")
        print(f"{'prompt format':>16}: {_prompt_format(m)}")
        print(
            f"{'GPU offload':>16}: {'available' if h.gpu_offload_available() else 'not in this build'}"
        )
    else:
        models = h.list_models()
        if args.json:
            print(json.dumps([_model_json(m) for m in models], indent=2, default=str))
            return 0
        if not models:
            print("No models yet. Add a GGUF chat model with: hearth models add FILE.gguf")
        for m in models:
            if m.is_remote:
                print(f"{m.name}\tremote\t{m.url}\t{m.remote_model or '(first listed)'}")
                continue
            size = f"{m.size_bytes / 2**30:.2f} GiB"
            label = f"{m.name}  ({m.base} + adapter)" if m.base else m.name
            print(
                f"{label}\t{m.architecture}\t{m.quantization}\t{size}\tcontext {m.context_length}"
                f"\t{m.kind}"
            )
    return 0


def _prompt_format(m: Any) -> str:
    """How Hearth prompts the model, without loading it (see engine.llm.runtime)."""
    if m.kind == "base":
        return "plain completion: passages, then 'Question: … Answer:'"
    if m.chat_template:
        return "chat template from the GGUF"
    from engine.llm.runtime import builtin_template

    return f"llama.cpp's built-in '{builtin_template(m.architecture, m.vocab_size)}' template"


# --- serving and remote models (engine/serve/, engine/llm/remote.py) ---------------------------


def _endpoints_json(h: Hearth) -> list[dict[str, Any]]:
    return [
        {"name": m.name, "url": m.url, "model": m.remote_model, "api_key_env": m.api_key_env}
        for m in h.remote_endpoints()
    ]


def _print_endpoints(h: Hearth) -> None:
    """Every address outside this computer Hearth may talk to: none unless the user added one."""
    endpoints = h.remote_endpoints()
    if not endpoints:
        print("Network: none. Hearth talks to no other computer (no remote models configured).")
        return
    print("Network: chat goes only to these servers (retrieval and documents stay here):")
    for m in endpoints:
        model = f", model {m.remote_model}" if m.remote_model else ""
        key = f", key from ${m.api_key_env}" if m.api_key_env else ""
        print(f"  {m.name}: {m.url}{model}{key}")


def cmd_add_remote(h: Hearth, args: argparse.Namespace) -> int:
    """`hearth models add-remote NAME --url ...`: register, then say whether it answers."""
    from engine.errors import ModelError

    m = h.add_remote_model(
        args.name,
        url=args.url,
        model=args.model,
        api_key_env=args.api_key_env,
        context_length=args.context or 0,
    )
    print(f"added: {m.name} -> {m.url}" + (f" (model {m.remote_model})" if m.remote_model else ""))
    try:
        from engine.llm.remote import RemoteModel

        remote = RemoteModel(m, context_length=h.settings.context_length)
        try:
            served = remote.check()
            print(f"The server answers; it serves: {', '.join(served) or 'no models listed'}.")
            if m.remote_model and m.remote_model not in served:
                print(f"Note: '{m.remote_model}' is not among them; check --model.")
        finally:
            remote.close()
    except ModelError as e:
        print(f"Note: {e}")
    return 0


def cmd_serve(h: Hearth, args: argparse.Namespace) -> int:
    """`hearth serve`: the OpenAI-compatible API on this computer until Ctrl-C."""
    from engine.serve.config import ServeConfig
    from engine.serve.server import serve_forever

    config = ServeConfig.from_env(host=args.host, port=args.port, api_key=args.api_key)
    models = [m.name for m in h.list_models()]
    print(f"Hearth's API at {config.url} (OpenAI-compatible; Ctrl-C stops it)")
    print(f"  models: {', '.join(models) or 'none installed (add one: hearth models add FILE)'}")
    print(f"  collections: {', '.join(c.name for c in h.list_collections()) or 'none yet'}")
    print("  API key: " + ("required" if config.api_key else "none (loopback only)"))
    serve_forever(h, config)
    return 0


def cmd_train(argv: list[str], home: str | None) -> int:
    """Fine-tuning runs as its own process (python -m trainer), never inside the engine."""
    cmd = [sys.executable, "-m", "trainer", "train", *argv]
    if home:
        cmd += ["--home", home]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


# --- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hearth",
        description="Hearth: private, offline chat with your documents.",
    )
    p.add_argument("--home", help="data folder (default: HEARTH_HOME or the user data folder)")
    sub = p.add_subparsers(dest="command", required=True)

    def with_collection(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument(
            "--collection", "-c", help=f"collection name (default: '{DEFAULT_COLLECTION}')"
        )
        return sp

    sp = with_collection(sub.add_parser("ingest", help="index files and folders"))
    sp.add_argument("paths", nargs="*", type=Path)
    sp.add_argument("--sync", action="store_true", help="re-check known files, drop gone ones")
    sp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    sp = with_collection(sub.add_parser("search", help="find passages"))
    sp.add_argument("query")
    sp.add_argument("-k", type=int, default=10, help="how many passages (default 10)")
    sp.add_argument("--json", action="store_true")

    sp = with_collection(sub.add_parser("ask", help="answer a question from your documents"))
    sp.add_argument("question")
    sp.add_argument("--model", "-m", help="chat model name (see `hearth models list`)")
    sp.add_argument("--json", action="store_true")

    sp = with_collection(sub.add_parser("chat", help="an interactive conversation"))
    sp.add_argument("--model", "-m")

    sp = with_collection(sub.add_parser("status", help="collections, documents and failures"))
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--endpoints", action="store_true", help="with --json: remote endpoints too")

    sp = with_collection(sub.add_parser("remove", help="remove documents from a collection"))
    sp.add_argument("paths", nargs="+", type=Path)

    sp = with_collection(
        sub.add_parser("link", help="link a folder: kept in sync while Hearth runs")
    )
    sp.add_argument("folder", type=Path)
    sp.add_argument("--no-index", action="store_true", help="link only; index on the next watch")
    sp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sp = with_collection(sub.add_parser("unlink", help="stop keeping a linked folder in sync"))
    sp.add_argument("folder", type=Path)
    sp.add_argument(
        "--keep-documents", action="store_true", help="keep its documents in the collection"
    )
    sp = with_collection(sub.add_parser("watch", help="keep linked folders in sync until Ctrl-C"))
    sp.add_argument(
        "--debounce", type=float, default=None, help="seconds of quiet before a batch is indexed"
    )

    sp = sub.add_parser("collections", help="list, create, rename, delete collections")
    csub = sp.add_subparsers(dest="action")
    csub.add_parser("list")
    c = csub.add_parser("create")
    c.add_argument("name")
    c.add_argument("--embedding-model", help="sentence-transformers folder (default MiniLM)")
    c = csub.add_parser("rename")
    c.add_argument("name")
    c.add_argument("new_name")
    c = csub.add_parser("delete")
    c.add_argument("name")
    c = csub.add_parser("embedding-model", help="re-embed a collection with another model")
    c.add_argument("name")
    c.add_argument("model")

    sp = sub.add_parser("models", help="chat models (GGUF)")
    msub = sp.add_subparsers(dest="action")
    m = msub.add_parser("list")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("add")
    m.add_argument("file", type=Path)
    m.add_argument("--name")
    m = msub.add_parser("info")
    m.add_argument("name")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("remove")
    m.add_argument("name")
    m = msub.add_parser("add-remote", help="a chat model on an OpenAI-compatible server")
    m.add_argument("name")
    m.add_argument("--url", required=True, help="the API's base URL, e.g. http://gpu-box:8080/v1")
    m.add_argument("--model", help="model id on the server (default: the first it lists)")
    m.add_argument("--api-key-env", help="environment variable that holds the server's key")
    m.add_argument("--context", type=int, help="context length (default: ask the server)")

    sp = sub.add_parser("serve", help="an OpenAI-compatible API on this computer")
    sp.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sp.add_argument("--api-key", help="require this key (needed off loopback; or HEARTH_API_KEY)")

    sub.add_parser(
        "train",
        help="fine-tune a model on your data (see `hearth train --help`)",
        add_help=False,
    )
    return p


def _command_index(argv: list[str]) -> int | None:
    """Where the subcommand is: the first word that is neither an option nor --home's value."""
    i = 0
    while i < len(argv):
        if argv[i] == "--home":
            i += 2
        elif argv[i].startswith("-"):
            i += 1
        else:
            return i
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `train` takes the trainer's own arguments, passed through untouched.
    i = _command_index(argv)
    if i is not None and argv[i] == "train":
        ns, _ = parser.parse_known_args([*argv[:i], "collections"])
        return cmd_train(argv[i + 1 :], ns.home)
    args = parser.parse_args(argv)
    handlers = {
        "ingest": cmd_ingest,
        "search": cmd_search,
        "ask": cmd_ask,
        "chat": cmd_chat,
        "status": cmd_status,
        "remove": cmd_remove,
        "link": cmd_link,
        "unlink": cmd_unlink,
        "watch": cmd_watch,
        "collections": cmd_collections,
        "models": cmd_models,
        "serve": cmd_serve,
    }
    try:
        with Hearth(args.home) as h:
            for problem in h.settings_problems:
                print(f"hearth: {problem}", file=sys.stderr)
            return handlers[args.command](h, args)
    except HearthError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

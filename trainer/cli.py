"""The trainer's command line: `python -m trainer run|train|runs|presets|generate`.

    python -m trainer run CONFIG.yaml [--resume [RUN]] [--set KEY=VALUE ...]
    python -m trainer train --base MODEL --data FILE [--preset NAME] [--max-steps N]
                            [--out DIR] [--json] [--resume RUN] [--name NAME] [--set KEY=VALUE]
    python -m trainer runs [--json]
    python -m trainer presets
    python -m trainer generate --collection NAME --model MODEL --out FILE.jsonl

`run` prints one JSON event per line (see trainer.events); `train` prints progress for people,
or the same JSON lines with --json, the last of them the `done` object with `adapter_gguf`,
`final_loss` and `eval_loss`. SIGINT or SIGTERM cancels: the last completed step is saved, a
`cancelled` event is printed and the process exits 130; a second signal stops at once. Exit
codes: 0 done, 1 error, 2 wrong usage, 130 cancelled.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from engine.config import Paths, default_home
from engine.errors import HearthError
from engine.events import CancelToken
from engine.offline import go_offline
from trainer.config import (
    RunConfig,
    build_config,
    dump_config,
    load_config,
    load_preset,
    parse_override,
    preset_names,
)
from trainer.errors import ConfigError
from trainer.events import Cancelled, Done, Error, Eval, Export, Prepare, Start, Step, TrainerEvent

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


# --- output ---------------------------------------------------------------------------------


def _claim_stdout() -> TextIO:
    """A private stream to the real stdout; file descriptor 1 then points at stderr.

    Libraries (and llama.cpp, from C) sometimes print to stdout; a front end reading our JSON
    lines must see nothing else there, so everything but our own output goes to stderr.
    """
    sys.stdout.flush()
    try:
        fd = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        return sys.stdout
    sys.stdout = sys.stderr
    return io.TextIOWrapper(os.fdopen(fd, "wb", buffering=0), encoding="utf-8", line_buffering=True)


def _prints_json(ns: argparse.Namespace) -> bool:
    """Whether this command's stdout is JSON (then a reader may show stderr as the log)."""
    if ns.command == "run":
        return not ns.human
    return bool(getattr(ns, "json", False))


def _quiet_progress_bars() -> None:
    """No progress bars at all: JSON events are the progress, stderr stays a readable log.

    go_offline() already silences the hub's and transformers' own bars; this also reaches the
    plain tqdm bars some libraries draw (transformers' GGUF reader, for one). tqdm reads the
    variable when a bar is made, so it works for libraries imported later.
    """
    os.environ["TQDM_DISABLE"] = "1"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _human(event: TrainerEvent) -> str | None:
    """One line for people, or None for events not worth a line."""
    if isinstance(event, Start):
        again = f", resuming after step {event.resumed_from}" if event.resumed_from else ""
        return (
            f"Run {event.run_id}: fine-tuning {event.base} on {event.device} "
            f"({event.quantization}, {event.dtype}){again}\n  folder: {event.run_dir}"
        )
    if isinstance(event, Prepare):
        return f"  {event.message}"
    if isinstance(event, Step):
        return (
            f"step {event.step}/{event.total_steps}  loss {event.loss:.4f}  "
            f"lr {event.learning_rate:.2e}  {event.tokens_per_s:.0f} tok/s  "
            f"ETA {_duration(event.eta_s)}  {event.memory_mib:.0f} MiB"
        )
    if isinstance(event, Eval):
        return f"  eval loss {event.eval_loss:.4f} (perplexity {event.perplexity:.2f})"
    if isinstance(event, Export):
        if event.kind == "registered":
            return f"  registered in the model list as '{event.name}'"
        return f"  {event.message or f'wrote the {event.kind} adapter: {event.path}'}"
    if isinstance(event, Done):
        losses = (
            f"loss {event.initial_loss:.4f} -> {event.final_loss:.4f}"
            if (event.initial_loss is not None and event.final_loss is not None)
            else ""
        )
        evals = (
            f"; eval loss base {event.base_eval_loss:.4f} -> adapter {event.eval_loss:.4f}"
            if event.eval_loss is not None and event.base_eval_loss is not None
            else ""
        )
        return (
            f"Done in {_duration(event.seconds)}: {event.steps} steps, {losses}{evals}.\n"
            f"Adapter: {event.adapter_gguf}\nChat with it as '{event.model_name}'."
        )
    if isinstance(event, Cancelled):
        return (
            f"Cancelled after step {event.step}. Resume with: "
            f"python -m trainer train --resume {event.run_id}"
        )
    return None


class _Printer:
    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out, self.as_json = out, as_json

    def __call__(self, event: TrainerEvent) -> None:
        try:
            if self.as_json:
                self.out.write(event.to_line() + "\n")
            elif isinstance(event, Error):
                print(f"error: {event.message}", file=sys.stderr)
            else:
                line = _human(event)
                if line:
                    self.out.write(line + "\n")
            self.out.flush()
        except BrokenPipeError:
            # The reader (the app) is gone. The run still records its end in events.jsonl, so
            # output goes nowhere from now on instead of failing the clean-up that follows.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.dup2(devnull, sys.stderr.fileno())
            os.close(devnull)


# --- running --------------------------------------------------------------------------------


def _install_signals(cancel: CancelToken) -> Callable[[], None]:
    """SIGINT and SIGTERM set `cancel` (twice: stop at once); returns the undo."""

    def on_signal(signum: int, _frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt  # asked twice: stop now
        cancel.cancel()

    before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in before.items():
            signal.signal(sig, handler)

    return restore


def _execute(
    config: RunConfig,
    paths: Paths,
    *,
    resume_dir: Path | None,
    out_dir: Path | None,
    emit: Callable[[TrainerEvent], None],
) -> int:
    from trainer import recipe
    from trainer.checkpoints import latest_checkpoint
    from trainer.runs import RunRecorder

    if resume_dir is not None:
        recorder = RunRecorder.reopen(resume_dir)
    else:
        recorder = RunRecorder.create(
            paths, base=config.base, config_yaml=dump_config(config), preset=config.preset
        )
    cancel = CancelToken()
    restore_signals = _install_signals(cancel)
    step: int | None = None

    def send(event: TrainerEvent) -> None:
        recorder.record(event)
        emit(event)

    try:
        for event in recipe.run(
            config,
            paths=paths,
            run_dir=recorder.run_dir,
            cancel=cancel,
            resume=resume_dir is not None,
            out_dir=out_dir,
        ):
            if isinstance(event, Step):
                step = event.step
            send(event)
            if isinstance(event, Cancelled):
                return EXIT_CANCELLED
        return EXIT_OK
    except KeyboardInterrupt:
        saved = latest_checkpoint(recorder.run_dir)
        send(
            Cancelled(
                recorder.run_id,
                recorder.run_dir,
                saved.step if saved else 0,
                saved.path if saved else None,
            )
        )
        return EXIT_CANCELLED
    except HearthError as exc:
        send(Error(str(exc), type(exc).__name__, step))
        return EXIT_ERROR
    except Exception as exc:
        if type(exc).__name__ == "OutOfMemoryError":
            message = (
                "The GPU ran out of memory. Lower train.batch_size or train.max_seq_len "
                "(or choose a preset for less memory) and resume the run."
            )
        else:
            traceback.print_exc()
            message = f"Training failed: {type(exc).__name__}: {exc}"
        send(Error(message, type(exc).__name__, step))
        return EXIT_ERROR
    finally:
        restore_signals()


def _overrides(ns: argparse.Namespace) -> list[dict[str, Any]]:
    return [parse_override(text) for text in ns.set or []]


def _auto_preset() -> str:
    """The largest GPU preset that fits this machine's GPU, or the CPU preset."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    best, best_mem = "cpu", 0.0
    for name in preset_names():
        preset = load_preset(name)
        if preset.device == "cuda" and best_mem < preset.memory_gib <= total * 1.02:
            best, best_mem = name, preset.memory_gib
    return best


def _resume_target(paths: Paths, config: RunConfig, run: str) -> Path:
    """The run folder to resume: the one named, or the latest unfinished run of `config`."""
    from trainer.runs import list_runs, resolve_run, run_info

    if run != "latest":
        run_dir = resolve_run(paths, run)
    else:
        wanted = dump_config(config)
        candidates = [
            r
            for r in list_runs(paths)
            if r.status in ("interrupted", "cancelled", "failed")
            and (r.path / "config.yaml").is_file()
            and (r.path / "config.yaml").read_text("utf-8") == wanted
        ]
        if not candidates:
            raise ConfigError(
                "There is no unfinished run of this configuration to resume. Start it without "
                "--resume, or name the run: --resume RUN_ID (see `python -m trainer runs`)."
            )
        run_dir = candidates[0].path
    info = run_info(run_dir)
    if info.status == "done":
        raise ConfigError(f"The run {info.run_id} has finished; there is nothing to resume.")
    if info.status == "running":
        raise ConfigError(f"The run {info.run_id} is still running; cancel it first.")
    return run_dir


def cmd_run(ns: argparse.Namespace, paths: Paths, out: TextIO) -> int:
    emit = _Printer(out, as_json=not ns.human)
    try:
        config = load_config(Path(ns.config), overrides=_overrides(ns))
        resume_dir = _resume_target(paths, config, ns.resume) if ns.resume else None
        if resume_dir is not None:
            config = load_config(resume_dir / "config.yaml", overrides=_overrides(ns))
    except HearthError as exc:
        emit(Error(str(exc), type(exc).__name__))
        return EXIT_ERROR
    out_dir = Path(ns.out).expanduser().resolve() if ns.out else None
    return _execute(config, paths, resume_dir=resume_dir, out_dir=out_dir, emit=emit)


def cmd_train(ns: argparse.Namespace, paths: Paths, out: TextIO) -> int:
    emit = _Printer(out, as_json=ns.json)
    overrides = _overrides(ns)
    if ns.max_steps is not None:
        overrides.append({"train": {"max_steps": ns.max_steps}})
    resume_dir: Path | None = None
    try:
        if ns.resume:
            from trainer.runs import resolve_run

            resume_dir = resolve_run(paths, ns.resume)
            config = load_config(resume_dir / "config.yaml", overrides=overrides)
        else:
            if not ns.base or not ns.data:
                raise ConfigError(
                    "Name the model and the data: hearth train --base MODEL --data FILE "
                    "(MODEL from `hearth models list` or a .gguf path), or --resume RUN."
                )
            values: dict[str, Any] = {
                "base": ns.base,
                "data": {"path": str(Path(ns.data).expanduser().resolve())},
                "preset": ns.preset or _auto_preset(),
            }
            if ns.name:
                values["name"] = ns.name
            config = build_config(values, source="The options", overrides=overrides)
    except HearthError as exc:
        emit(Error(str(exc), type(exc).__name__))
        return EXIT_ERROR
    out_dir = Path(ns.out).expanduser().resolve() if ns.out else None
    return _execute(config, paths, resume_dir=resume_dir, out_dir=out_dir, emit=emit)


def cmd_runs(ns: argparse.Namespace, paths: Paths, out: TextIO) -> int:
    import json

    from trainer.runs import list_runs

    runs = list_runs(paths)
    if ns.json:
        out.write(json.dumps([r.to_json() for r in runs], indent=2) + "\n")
        return EXIT_OK
    if not runs:
        out.write("No training runs yet. Start one with: hearth train --base MODEL --data FILE\n")
    for r in runs:
        steps = f"{r.steps}/{r.total_steps or '?'}"
        loss = f"loss {r.loss:.4f}" if r.loss is not None else ""
        evals = (
            f"eval {r.base_eval_loss:.4f} -> {r.eval_loss:.4f}"
            if r.eval_loss is not None and r.base_eval_loss is not None
            else ""
        )
        out.write(
            f"{r.run_id}\t{r.status}\t{r.base}\tsteps {steps}\t{loss}\t{evals}\t"
            f"{r.model_name or ''}\n"
        )
    return EXIT_OK


def cmd_presets(ns: argparse.Namespace, paths: Paths, out: TextIO) -> int:
    for name in preset_names():
        preset = load_preset(name)
        out.write(f"{name}\t{preset.description}\n")
    return EXIT_OK


def cmd_generate(ns: argparse.Namespace, paths: Paths, out: TextIO) -> int:
    from engine.facade import Hearth
    from trainer.generate import GeneratedPair, generate_pairs

    emit = _Printer(out, as_json=ns.json)
    cancel = CancelToken()
    restore_signals = _install_signals(cancel)
    target = Path(ns.out).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with Hearth(paths.home) as hearth, target.open("w", encoding="utf-8") as f:
            import json

            chat = hearth.load_model(ns.model)
            for item in generate_pairs(
                hearth.iter_chunks(ns.collection),
                chat,
                pairs_per_chunk=ns.pairs_per_chunk,
                limit=ns.limit,
                cancel=cancel,
            ):
                if isinstance(item, GeneratedPair):
                    f.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
                elif item.stage == "generated" or ns.json:
                    emit(item)
    except HearthError as exc:
        emit(Error(str(exc), type(exc).__name__))
        return EXIT_ERROR
    finally:
        restore_signals()
    if not ns.json:
        out.write(f"Dataset: {target}\n")
    return EXIT_CANCELLED if cancel.cancelled else EXIT_OK


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # --home is accepted before or after the command (`hearth train` passes it last).
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help="Hearth data folder (default: HEARTH_HOME or the user data folder)",
    )
    p = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Fine-tune a Hearth chat model on your data (LoRA / QLoRA).",
        parents=[home],
    )
    sub = p.add_subparsers(dest="command", required=True)
    setting: dict[str, Any] = {
        "action": "append",
        "metavar": "KEY=VALUE",
        "help": "override a setting, e.g. --set train.learning_rate=1e-4 (repeatable)",
    }

    r = sub.add_parser(
        "run", help="run a training configuration (JSON events on stdout)", parents=[home]
    )
    r.add_argument("config", help="the YAML configuration file")
    r.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN",
        help="continue an interrupted run (default: the latest one of this config)",
    )
    r.add_argument("--set", **setting)
    r.add_argument("--out", help="also copy the finished adapter into this folder")
    r.add_argument("--human", action="store_true", help="print progress for people, not JSON")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("train", help="fine-tune a model on a dataset file", parents=[home])
    t.add_argument("--base", help="model name from `hearth models list`, or a .gguf file")
    t.add_argument("--data", help="dataset: .jsonl, .json or .csv")
    t.add_argument("--preset", help="settings preset (default: chosen for this machine)")
    t.add_argument("--max-steps", type=int, help="optimizer steps to run")
    t.add_argument("--out", help="also copy the finished adapter into this folder")
    t.add_argument("--json", action="store_true", help="print JSON events, one per line")
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run (id or folder)")
    t.add_argument("--name", help="name of the adapted model in the model list")
    t.add_argument("--set", **setting)
    t.set_defaults(func=cmd_train)

    ls = sub.add_parser("runs", help="list training runs", parents=[home])
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_runs)

    pr = sub.add_parser("presets", help="list the settings presets", parents=[home])
    pr.set_defaults(func=cmd_presets)

    g = sub.add_parser(
        "generate", help="write a dataset from a collection with the chat model", parents=[home]
    )
    g.add_argument("--collection", required=True)
    g.add_argument("--model", required=True, help="chat model name from `hearth models list`")
    g.add_argument("--out", required=True, help="the .jsonl file to write")
    g.add_argument("--pairs-per-chunk", type=int, default=2)
    g.add_argument("--limit", type=int, help="use at most this many chunks")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_generate)
    return p


def _patient_threads() -> None:
    """Threads that sleep while they wait, set before torch (and its OpenMP) loads.

    OpenMP threads spin while waiting for each other by default. On a machine whose cores are
    also busy with other programs, a spinning thread steals the time its partner needs: on
    two shared cores, matrix products with two spinning threads ran 5-10x slower than with
    one, and at the speed of one thread when the threads wait passively.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    _patient_threads()
    go_offline()
    given = getattr(ns, "home", None)
    paths = Paths(Path(given).expanduser().resolve() if given else default_home())
    if _prints_json(ns):
        _quiet_progress_bars()
    # Long commands keep stdout for their own lines (see _claim_stdout).
    out = _claim_stdout() if ns.command in ("run", "train", "generate") else sys.stdout
    try:
        return int(ns.func(ns, paths, out))
    finally:
        out.flush()

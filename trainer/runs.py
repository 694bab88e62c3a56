"""The record of training runs under `<home>/runs/<RUN_ID>/`, to list, compare and resume.

Each run folder holds:

- `config.yaml`    the full configuration the run used (every setting spelled out)
- `run.json`       id, base, status (running, done, cancelled, failed) with the latest figures
- `events.jsonl`   every event the run printed, one JSON object per line
- `dataset/`       the prepared token data (train.jsonl, eval.jsonl, eval_examples.jsonl)
- `checkpoints/`   the latest training checkpoints
- `adapter/`       the adapter as a peft folder; `adapter.gguf` the same for llama.cpp
- `metrics.json`   the final figures; `answers.json` base and adapter answers side by side

A run whose status says running but whose process is gone was killed: it is listed as
"interrupted" and can be resumed with `--resume`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.config import Paths
from trainer.errors import RunNotFound
from trainer.events import Cancelled, Checkpoint, Done, Error, Eval, Start, Step, TrainerEvent

RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunInfo:
    """What a list of runs shows about one run."""

    run_id: str
    path: Path
    status: str
    """One of running, done, cancelled, failed, or interrupted (killed; resumable)."""
    base: str
    created: str
    updated: str
    preset: str | None = None
    steps: int = 0
    total_steps: int | None = None
    loss: float | None = None
    """Loss of the latest step."""
    eval_loss: float | None = None
    base_eval_loss: float | None = None
    adapter_gguf: Path | None = None
    model_name: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["path"] = str(self.path)
        out["adapter_gguf"] = str(self.adapter_gguf) if self.adapter_gguf else None
        return out


@dataclass(frozen=True)
class RunRecord:
    """Everything recorded about one run, for a detailed view or a comparison."""

    info: RunInfo
    config: dict[str, Any]
    events: list[dict[str, Any]]
    metrics: dict[str, Any] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)

    def losses(self) -> list[tuple[int, float]]:
        """(step, training loss) of every step."""
        return [(e["step"], e["loss"]) for e in self.events if e.get("event") == "step"]

    def eval_losses(self) -> list[tuple[int, float]]:
        return [(e["step"], e["eval_loss"]) for e in self.events if e.get("event") == "eval"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def new_run_id(paths: Paths, base: str) -> str:
    """A sortable, readable id: local date and time, then the base model's name."""
    stem = Path(base).stem if base.lower().endswith(".gguf") else base
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:40] or "run"
    run_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{slug}"
    n = 2
    candidate = run_id
    while (paths.runs / candidate).exists():
        candidate = f"{run_id}-{n}"
        n += 1
    return candidate


def resolve_run(paths: Paths, run: str) -> Path:
    """The folder of a run given by id or by path; RunNotFound otherwise."""
    as_path = Path(run).expanduser()
    for candidate in (as_path, paths.runs / run):
        if (candidate / RUN_FILE).is_file():
            return candidate.resolve()
    raise RunNotFound(run)


class RunRecorder:
    """Writes one run's record as its events happen (run.json, events.jsonl, metrics.json)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.run_id = run_dir.name
        self._status = json.loads((run_dir / RUN_FILE).read_text("utf-8"))

    @classmethod
    def create(
        cls, paths: Paths, *, base: str, config_yaml: str, preset: str | None
    ) -> RunRecorder:
        """Make the folder of a new run with its configuration."""
        paths.ensure()
        run_id = new_run_id(paths, base)
        run_dir = paths.runs / run_id
        run_dir.mkdir(parents=True)
        (run_dir / "config.yaml").write_text(config_yaml, encoding="utf-8")
        now = _now()
        status = {
            "run_id": run_id,
            "base": base,
            "preset": preset,
            "status": "running",
            "pid": os.getpid(),
            "created": now,
            "updated": now,
        }
        _write_json(run_dir / RUN_FILE, status)
        return cls(run_dir)

    @classmethod
    def reopen(cls, run_dir: Path) -> RunRecorder:
        """Continue the record of an interrupted or cancelled run (for --resume)."""
        recorder = cls(run_dir)
        recorder._update(status="running", pid=os.getpid(), error=None)
        return recorder

    def _update(self, **changes: Any) -> None:
        self._status.update(changes, updated=_now())
        _write_json(self.run_dir / RUN_FILE, self._status)

    def record(self, event: TrainerEvent) -> None:
        """Append `event` to events.jsonl and keep run.json's summary current."""
        with (self.run_dir / "events.jsonl").open("a", encoding="utf-8") as f:
            f.write(event.to_line() + "\n")
        if isinstance(event, Start):
            self._update(base_path=str(event.base_path), device=event.device)
        elif isinstance(event, Step):
            self._update(steps=event.step, total_steps=event.total_steps, loss=event.loss)
        elif isinstance(event, Eval):
            self._update(eval_loss=event.eval_loss)
        elif isinstance(event, Checkpoint):
            self._update(checkpoint_step=event.step)
        elif isinstance(event, Done):
            metrics = event.to_json()
            metrics.pop("event")
            _write_json(self.run_dir / "metrics.json", metrics)
            self._update(
                status="done",
                pid=None,
                steps=event.steps,
                eval_loss=event.eval_loss,
                base_eval_loss=event.base_eval_loss,
                adapter_gguf=str(event.adapter_gguf),
                model_name=event.model_name,
            )
        elif isinstance(event, Cancelled):
            self._update(status="cancelled", pid=None, steps=event.step)
        elif isinstance(event, Error):
            self._update(status="failed", pid=None, error=event.message)


def _info(run_dir: Path, raw: dict[str, Any]) -> RunInfo:
    status = raw.get("status", "failed")
    if status == "running" and not _alive(raw.get("pid")):
        status = "interrupted"
    adapter = raw.get("adapter_gguf")
    return RunInfo(
        run_id=raw.get("run_id", run_dir.name),
        path=run_dir,
        status=status,
        base=raw.get("base", ""),
        created=raw.get("created", ""),
        updated=raw.get("updated", ""),
        preset=raw.get("preset"),
        steps=int(raw.get("steps") or 0),
        total_steps=raw.get("total_steps"),
        loss=raw.get("loss"),
        eval_loss=raw.get("eval_loss"),
        base_eval_loss=raw.get("base_eval_loss"),
        adapter_gguf=Path(adapter) if adapter else None,
        model_name=raw.get("model_name"),
        error=raw.get("error"),
    )


def run_info(run_dir: Path) -> RunInfo:
    """The summary of the run in `run_dir`."""
    return _info(run_dir, json.loads((run_dir / RUN_FILE).read_text("utf-8")))


def list_runs(paths: Paths) -> list[RunInfo]:
    """Every recorded run, newest first; unreadable folders are left out."""
    runs = []
    for run_file in paths.runs.glob(f"*/{RUN_FILE}") if paths.runs.is_dir() else ():
        try:
            raw = json.loads(run_file.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a folder being created or damaged by hand: not a run to show
        runs.append(_info(run_file.parent, raw))
    return sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default


def load_run(paths: Paths, run_id: str) -> RunRecord:
    """The whole record of one run (by id or folder path); RunNotFound if there is none."""
    import yaml

    run_dir = resolve_run(paths, run_id)
    info = run_info(run_dir)
    config_file = run_dir / "config.yaml"
    config = yaml.safe_load(config_file.read_text("utf-8")) if config_file.is_file() else {}
    events = []
    events_file = run_dir / "events.jsonl"
    if events_file.is_file():
        for line in events_file.read_text("utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # the last line of a killed run may be cut short
    return RunRecord(
        info=info,
        config=config or {},
        events=events,
        metrics=_read_json(run_dir / "metrics.json", {}),
        answers=_read_json(run_dir / "answers.json", []),
    )

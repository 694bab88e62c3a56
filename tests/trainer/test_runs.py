"""Run records: written as events happen, listed newest first, loaded whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import Paths
from trainer import events as ev
from trainer.errors import RunNotFound
from trainer.runs import RunRecorder, list_runs, load_run


def _record_run(paths: Paths, *, finish: str) -> RunRecorder:
    rec = RunRecorder.create(paths, base="tiny.gguf", config_yaml="base: tiny.gguf\n", preset="cpu")
    rec.record(
        ev.Start(rec.run_id, rec.run_dir, "tiny.gguf", Path("/m/tiny.gguf"), "cpu", "none", "fp32")
    )
    for step, loss in ((1, 3.0), (2, 2.5)):
        rec.record(ev.Step(step, 4, step / 4, loss, 1e-3, 1.0, 100.0, step, 1.0, 300.0))
    rec.record(ev.Eval(2, 2.6, 13.5))
    rec.record(ev.Checkpoint(2, rec.run_dir / "checkpoints" / "step-000002"))
    if finish == "done":
        rec.record(
            ev.Done(
                rec.run_id,
                rec.run_dir,
                rec.run_dir / "adapter.gguf",
                rec.run_dir / "adapter",
                "tiny+x",
                2,
                3.0,
                2.5,
                2.6,
                3.1,
                13.5,
                22.2,
                5.0,
            )
        )
    elif finish == "cancelled":
        rec.record(ev.Cancelled(rec.run_id, rec.run_dir, 2, None))
    elif finish == "failed":
        rec.record(ev.Error("The GPU ran out of memory.", "OutOfMemoryError", 2))
    return rec


def test_runs_are_recorded_listed_and_loaded(hearth_home: Path) -> None:
    paths = Paths(hearth_home)
    done = _record_run(paths, finish="done")
    cancelled = _record_run(paths, finish="cancelled")
    runs = list_runs(paths)
    assert [r.run_id for r in runs] == [cancelled.run_id, done.run_id]  # newest first
    by_id = {r.run_id: r for r in runs}
    d = by_id[done.run_id]
    assert (d.status, d.steps, d.eval_loss, d.base_eval_loss, d.model_name) == (
        "done",
        2,
        2.6,
        3.1,
        "tiny+x",
    )
    assert d.adapter_gguf == done.run_dir / "adapter.gguf"
    assert by_id[cancelled.run_id].status == "cancelled"

    record = load_run(paths, done.run_id)
    assert record.losses() == [(1, 3.0), (2, 2.5)]
    assert record.eval_losses() == [(2, 2.6)]
    assert record.config == {"base": "tiny.gguf"}
    assert record.metrics["final_loss"] == 2.5
    assert record.events[0]["event"] == "start"
    assert load_run(paths, str(done.run_dir)).info.run_id == done.run_id  # by folder too


def test_a_failed_run_keeps_its_error(hearth_home: Path) -> None:
    paths = Paths(hearth_home)
    rec = _record_run(paths, finish="failed")
    info = load_run(paths, rec.run_id).info
    assert info.status == "failed"
    assert "out of memory" in (info.error or "")


def test_a_run_whose_process_is_gone_is_listed_as_interrupted(hearth_home: Path) -> None:
    paths = Paths(hearth_home)
    rec = _record_run(paths, finish="running")
    assert list_runs(paths)[0].status == "running"  # this process is alive
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads((rec.run_dir / "run.json").read_text())
    status["pid"] = int(gone.stdout)
    (rec.run_dir / "run.json").write_text(json.dumps(status))
    assert list_runs(paths)[0].status == "interrupted"


def test_an_unknown_run_is_reported(hearth_home: Path) -> None:
    with pytest.raises(RunNotFound, match="trainer runs"):
        load_run(Paths(hearth_home), "20990101-000000-none")
    assert list_runs(Paths(hearth_home)) == []

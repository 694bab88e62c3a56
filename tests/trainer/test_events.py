"""The event schema a front end reads: every event names itself and is plain JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from trainer import events as ev


def _samples() -> list[ev._Event]:
    run = Path("/runs/r1")
    return [
        ev.Start("r1", run, "tiny", Path("/m/tiny.gguf"), "cpu", "none", "fp32", resumed_from=3),
        ev.Prepare("clean", "Cleaned 2 examples.", {"in": 5, "changed": 2, "kept": 5}),
        ev.Step(4, 10, 0.5, 2.5, 1e-4, 0.7, 1000.0, 3.0, 4.5, 512.0),
        ev.Eval(4, 2.0, math.exp(2.0)),
        ev.Checkpoint(4, run / "checkpoints" / "step-000004"),
        ev.Export("gguf", run / "adapter.gguf"),
        ev.Done(
            "r1",
            run,
            run / "adapter.gguf",
            run / "adapter",
            "tiny+r1",
            10,
            3.0,
            1.0,
            1.5,
            2.5,
            math.exp(1.5),
            math.exp(2.5),
            12.0,
        ),
        ev.Error("The dataset is empty.", "EmptyDataset", None),
        ev.Cancelled("r1", run, 4, None),
    ]


def test_every_event_kind_has_its_name_and_round_trips_through_json() -> None:
    samples = _samples()
    names = [e.to_json()["event"] for e in samples]
    assert names == list(ev.EVENT_NAMES)
    for e in samples:
        line = e.to_line()
        assert "\n" not in line
        back = json.loads(line)
        assert back == e.to_json()
        assert next(iter(back)) == "event"


def test_paths_become_strings_and_non_finite_numbers_null() -> None:
    step = ev.Step(1, 2, 0.1, float("nan"), 1e-4, float("inf"), 10.0, 1.0, None, 1.0)
    data = step.to_json()
    assert data["loss"] is None and data["grad_norm"] is None
    done = _samples()[6].to_json()
    assert done["adapter_gguf"] == str(Path("/runs/r1/adapter.gguf"))
    assert {"adapter_gguf", "final_loss", "eval_loss"} <= set(done)


def test_events_are_frozen() -> None:
    e = ev.Eval(1, 2.0, 7.4)
    try:
        e.step = 2  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("events must be immutable")

"""The wizard's parts without a window: trainer events read back from their JSON lines, the
preset for a machine, and the preparation report on a small dataset."""

from __future__ import annotations

from pathlib import Path

from wizard_testkit import qa_rows, write_dataset

from app.wizard.dataset import check_pairs, load_pairs, save_pairs
from app.wizard.hardware import Hardware, choose_preset, plan_run
from app.wizard.process import parse_event
from trainer import events as ev
from trainer.config import build_config, load_preset, preset_names
from trainer.memory import GIB, REFERENCE_SHAPES


def test_every_trainer_event_reads_back_from_its_json_line(tmp_path: Path) -> None:
    samples = [
        ev.Start("r1", tmp_path, "m", tmp_path / "m.gguf", "cpu", "none", "fp32", resumed_from=3),
        ev.Prepare("split", "29 to train, 3 held out.", {"train": 29, "eval": 3}),
        ev.Step(4, 10, 0.5, 2.5, 1e-4, None, 1000.0, 3.0, 4.5, 512.0),
        ev.Eval(4, 2.25, 9.49),
        ev.Checkpoint(4, tmp_path / "checkpoints" / "step-4"),
        ev.Export("registered", tmp_path / "a.gguf", name="m+r1"),
        ev.Done(
            "r1",
            tmp_path,
            tmp_path / "a.gguf",
            tmp_path,
            "m+r1",
            10,
            3.0,
            2.0,
            2.1,
            2.2,
            8.2,
            9.0,
            12.5,
        ),
        ev.Error("It does not fit.", "DoesNotFit", 2),
        ev.Cancelled("r1", tmp_path, 4, None),
    ]
    import json

    for event in samples:
        back = parse_event(json.loads(event.to_line()))
        assert back is not None and type(back) is type(event)
        if isinstance(event, ev.Start):
            assert back.to_json() | {"time": 0} == event.to_json() | {"time": 0}
        else:
            assert back == event
    # A newer trainer's extra field is ignored; an unknown event is no event.
    assert parse_event(
        {"event": "eval", "step": 1, "eval_loss": 1.0, "perplexity": 2.7, "new_field": 1}
    ) == ev.Eval(1, 1.0, 2.7)
    assert parse_event({"event": "something-new"}) is None


def test_the_preset_follows_the_gpu() -> None:
    assert choose_preset(Hardware(cuda=False, ram_total=64 * GIB)) == "cpu"
    gpu = {name: load_preset(name).memory_gib for name in preset_names() if name != "cpu"}
    for name, gib in gpu.items():
        hw = Hardware(cuda=True, gpu_name="GPU", gpu_total=int(gib * GIB), gpu_free=int(gib * GIB))
        assert choose_preset(hw) == name
    tiny = Hardware(cuda=True, gpu_total=2 * GIB, gpu_free=2 * GIB)
    assert choose_preset(tiny) == "cpu"


def test_a_run_that_cannot_fit_is_refused_with_the_way_out(tmp_path: Path) -> None:
    config = build_config(
        {"base": "x", "data": {"path": str(tmp_path / "d.jsonl")}, "preset": "gpu-8gb"}
    )
    gpu = Hardware(cuda=True, gpu_name="GPU", gpu_total=8 * GIB, gpu_free=int(7.5 * GIB))
    fits = plan_run(config, gpu, REFERENCE_SHAPES["3b"], examples=500, tokens_per_example=300)
    assert fits.fits and fits.estimate is not None and fits.seconds and fits.steps > 0
    huge = plan_run(config, gpu, REFERENCE_SHAPES["70b"], examples=500, tokens_per_example=300)
    assert not huge.fits and "too large for this machine" in (huge.refusal or "")
    no_gpu = Hardware(cuda=False, ram_total=16 * GIB, ram_available=8 * GIB)
    refused = plan_run(config, no_gpu, REFERENCE_SHAPES["1b"], examples=10, tokens_per_example=99)
    assert not refused.fits and "Choose the CPU preset" in (refused.refusal or "")


def test_the_report_says_what_is_dropped_and_why(tmp_path: Path) -> None:
    rows = qa_rows()
    rows.append({"instruction": "?", "response": "x" * 30})  # a one-character question
    pairs = load_pairs(write_dataset(tmp_path / "qa.jsonl", rows))
    report = check_pairs(pairs)
    assert report.total == len(rows)
    dropped = {s.stage: s.dropped for s in report.steps}
    assert dropped["empty"] == 1 and dropped["duplicates"] == 1
    assert report.verdicts[33] == "empty" and report.verdicts[32] == "duplicates"
    assert dropped["length"] == 1 and report.verdicts[-1] == "length"
    assert report.kept == report.verdicts.count("kept") == len(rows) - 3
    assert "an empty question or answer" in report.summary()
    # Saved and read back, the pairs are the same (what a run trains on).
    again = load_pairs(save_pairs(pairs, tmp_path / "saved.jsonl"))
    assert [(p.question, p.answer) for p in again] == [(p.question, p.answer) for p in pairs]

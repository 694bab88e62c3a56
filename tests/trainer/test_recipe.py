"""The whole route on a tiny random GGUF: load, train, export, apply in llama.cpp."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trainer_testkit import (
    FAST,
    TrainerProcess,
    events_of,
    llama_cpp_logits,
    qa_rows,
    run_trainer,
    write_jsonl,
)

from engine.config import Paths
from engine.events import CancelToken
from trainer import events as ev
from trainer import recipe
from trainer.config import RunConfig, build_config, dump_config, parse_override
from trainer.errors import DoesNotFit
from trainer.runs import RunRecorder, list_runs, load_run

TOLERANCE = 1e-4  # see test_export.py: float32 rounding is ~2e-6; a real mistake is ~1


def _config(base: Path, data: Path, *extra: str, preset: str = "cpu") -> RunConfig:
    sets = [a for a in (*FAST, *extra) if a != "--set"]
    return build_config(
        {"base": str(base), "data": {"path": str(data)}, "preset": preset},
        overrides=[parse_override(s) for s in sets],
    )


def _run(config: RunConfig, paths: Paths, *, resume: Path | None = None) -> list[Any]:
    """Run the recipe in this process, recording it like the command line does."""
    if resume is not None:
        recorder = RunRecorder.reopen(resume)
    else:
        recorder = RunRecorder.create(
            paths, base=config.base, config_yaml=dump_config(config), preset=config.preset
        )
    out = []
    for event in recipe.run(
        config,
        paths=paths,
        run_dir=recorder.run_dir,
        cancel=CancelToken(),
        resume=resume is not None,
    ):
        recorder.record(event)
        out.append(event)
    return out


@pytest.mark.slow
def test_train_export_and_apply_in_llama_cpp(
    tiny_gguf: Path, qa_jsonl: Path, hearth_home: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from engine.llm.registry import ModelRegistry
    from trainer.model import training_checkpoint
    from trainer.tokens import Tokenized

    out = tmp_path / "out"
    done = run_trainer(
        "train",
        "--base",
        str(tiny_gguf),
        "--data",
        str(qa_jsonl),
        "--preset",
        "cpu",
        "--max-steps",
        "30",
        "--out",
        str(out),
        "--json",
        *FAST,
        "--set",
        "evaluate.answers=2",
        "--set",
        "evaluate.max_answer_tokens=12",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = events_of(done.stdout)  # every line of stdout is one JSON event
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert set(kinds) <= set(ev.EVENT_NAMES)
    steps = [e for e in events if e["event"] == "step"]
    assert [s["step"] for s in steps] == list(range(1, 31))
    assert {"loss", "learning_rate", "tokens_per_s", "eta_s", "memory_mib"} <= set(steps[0])

    result = events[-1]
    assert Path(result["adapter_gguf"]) == out / "adapter.gguf"
    assert Path(result["adapter_gguf"]).is_file() and (out / "adapter").is_dir()
    # Loss falls, on the training steps and on the held-out examples.
    assert result["final_loss"] < 0.8 * result["initial_loss"]
    assert result["eval_loss"] < result["base_eval_loss"]
    assert result["perplexity"] == pytest.approx(math.exp(result["eval_loss"]))

    # Registered as "base + adapter"; the run is listed as done.
    paths = Paths(hearth_home)
    entry = ModelRegistry(paths).get(result["model_name"])
    assert entry.base == "tiny" and entry.adapter == paths.adapters / f"{result['run_id']}.gguf"
    assert list_runs(paths)[0].status == "done"
    record = load_run(paths, result["run_id"])
    assert len(record.losses()) == 30
    # Base and adapter answered the held-out questions through llama.cpp, switched in place.
    assert len(record.answers) == 2
    assert any(a["base"] != a["adapter"] for a in record.answers)

    # llama.cpp with the exported adapter computes the logits peft computes.
    run_dir = Path(result["run_dir"])
    example = Tokenized.from_json(
        json.loads((run_dir / "dataset" / "eval.jsonl").read_text().splitlines()[0])
    )
    tokens = list(example.input_ids)
    checkpoint, made = training_checkpoint(tiny_gguf, paths.cache)
    assert not made  # the conversion was cached by the run
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32),
        str(run_dir / "adapter"),
    ).eval()
    with torch.no_grad():
        expected = model(torch.tensor([tokens])).logits[0].numpy()
    got = llama_cpp_logits(tiny_gguf, tokens, entry.adapter)
    assert np.abs(got - expected).max() < TOLERANCE


@pytest.mark.slow
def test_kill_cancel_and_resume_continue_from_the_checkpoint(
    tiny_gguf: Path, qa_jsonl: Path, hearth_home: Path
) -> None:
    paths = Paths(hearth_home)
    args = [
        "train",
        "--base",
        str(tiny_gguf),
        "--data",
        str(qa_jsonl),
        "--preset",
        "cpu",
        "--max-steps",
        "12",
        "--json",
        *FAST,
        "--set",
        "train.save_every=3",
        "--set",
        "evaluate.answers=0",
    ]

    # 1. Killed (SIGKILL) after its first checkpoint: nothing gets to clean up.
    first = TrainerProcess(*args)
    for event in first:
        if event["event"] == "checkpoint":
            first.proc.kill()
            break
    first.proc.wait(timeout=60)
    run_id = first.events[0]["run_id"]
    info = list_runs(paths)[0]
    assert info.status == "interrupted"
    saved = max(
        int(p.name.split("-")[1])
        for p in (info.path / "checkpoints").glob("step-*")
        if not p.name.endswith(".tmp")
    )

    # 2. Resumed, then cancelled with SIGTERM: it saves the step it finished and says so.
    second = TrainerProcess("train", "--resume", run_id, "--json")
    for event in second:
        if event["event"] == "step" and event["step"] >= saved + 2:
            second.proc.send_signal(signal.SIGTERM)
            break
    assert second.finish() == 130, second.stderr[-2000:]
    start = second.events[0]
    assert start["event"] == "start" and start["resumed_from"] == saved
    assert next(e for e in second.events if e["event"] == "step")["step"] == saved + 1
    cancelled = second.events[-1]
    assert cancelled["event"] == "cancelled"
    stopped = cancelled["step"]
    assert Path(cancelled["checkpoint"]).name == f"step-{stopped:06d}"
    assert list_runs(paths)[0].status == "cancelled"

    # 3. Resumed again to the end, here in this process.
    config = build_config(load_run(paths, run_id).config)
    events = _run(config, paths, resume=info.path)
    resumed_steps = [e.step for e in events if isinstance(e, ev.Step)]
    assert resumed_steps == list(range(stopped + 1, 13))
    assert isinstance(events[-1], ev.Done) and events[-1].steps == 12

    # The interrupted run trained exactly like an uninterrupted one.
    reference = _run(config, paths)
    expected = {e.step: e.loss for e in reference if isinstance(e, ev.Step)}
    for step, loss in load_run(paths, run_id).losses():
        assert loss == pytest.approx(expected[step], abs=1e-4), step


@pytest.mark.slow
def test_the_4bit_path_runs_on_the_cpu(tiny_gguf: Path, qa_jsonl: Path, hearth_home: Path) -> None:
    import bitsandbytes as bnb

    from trainer.model import load_model, training_checkpoint

    config = _config(
        tiny_gguf, qa_jsonl, "quantization=nf4", "train.max_steps=4", "evaluate.answers=0"
    )
    events = _run(config, Paths(hearth_home))
    start = events[0]
    assert isinstance(start, ev.Start) and start.quantization == "nf4" and start.device == "cpu"
    losses = [e.loss for e in events if isinstance(e, ev.Step)]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    done = events[-1]
    assert isinstance(done, ev.Done) and done.adapter_gguf.is_file()
    # The base really was loaded in 4-bit NF4.
    checkpoint, _ = training_checkpoint(tiny_gguf, Paths(hearth_home).cache)
    model = load_model(checkpoint, device="cpu", dtype="fp32", quantization="nf4")
    layer = model.model.layers[0].self_attn.q_proj
    assert isinstance(layer, bnb.nn.Linear4bit) and layer.weight.quant_type == "nf4"  # type: ignore[attr-defined]


def test_a_run_that_cannot_fit_is_refused_before_loading(
    tiny_gguf: Path, qa_jsonl: Path, hearth_home: Path, tmp_path: Path
) -> None:
    from support.tiny_gguf import write_tiny_gguf

    long_context = write_tiny_gguf(tmp_path / "long.gguf", n_ctx=1_048_576)
    config = _config(long_context, qa_jsonl, "train.max_seq_len=1048576", "train.batch_size=1024")
    with pytest.raises(DoesNotFit) as info:
        _run(config, Paths(hearth_home))
    message = str(info.value)
    assert "GiB of RAM" in message and "train.batch_size: 1" in message
    assert "train.max_seq_len" in message
    assert not (Paths(hearth_home).cache / "trainer").exists()  # refused before any loading


@pytest.mark.slow
def test_a_bad_dataset_ends_the_process_with_its_error(
    tiny_gguf: Path, tmp_path: Path, hearth_home: Path
) -> None:
    rows = qa_rows()[:3]
    rows[1] = {"instruction": "what is the pump code", "reply": "42"}
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    config = tmp_path / "run.yaml"
    config.write_text(f"base: {tiny_gguf}\npreset: cpu\ndata: {{path: bad.jsonl}}\n")
    result = run_trainer("run", str(config))
    assert result.returncode == 1
    events = events_of(result.stdout)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "MissingColumn"
    assert "bad.jsonl, line 2: no 'response' column" in events[-1]["message"]
    assert data.is_file()
    assert list_runs(Paths(hearth_home))[0].status == "failed"


def test_the_loss_takes_logits_only_where_it_needs_them(
    tiny_gguf: Path, tokenizer: Any, hearth_home: Path
) -> None:
    """Logits at the trained positions alone give the loss (and gradient) of the full logits."""
    import torch
    import torch.nn.functional as F

    from trainer import batches
    from trainer.data import load_dataset, tokenize_examples
    from trainer.model import add_lora, load_model, training_checkpoint

    checkpoint, _ = training_checkpoint(tiny_gguf, Paths(hearth_home).cache)
    model = add_lora(
        load_model(checkpoint, device="cpu", dtype="fp32", quantization="none"),
        rank=4,
        alpha=8.0,
        dropout=0.0,
        target_modules=("q_proj", "v_proj"),
        gradient_checkpointing=False,
        seed=0,
    )
    rows = qa_rows()[:3]
    rows[1]["response"] += " and more words after it"  # rows of unequal length: padding
    data = write_jsonl(hearth_home / "d.jsonl", rows)
    tokenized = tokenize_examples(load_dataset(data), tokenizer, max_seq_len=64, overlong="drop")
    batch = batches.collate(tokenized.examples, pad_id=tokenizer.pad_id, device="cpu")
    assert batches._keeps_logits(model)

    kept = batches.summed_nll(model, batch)
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    full = F.cross_entropy(
        logits[:, :-1, :].reshape(-1, logits.shape[-1]),
        batch.labels[:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )
    assert float(kept.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    lora_b = next(p for n, p in model.named_parameters() if "lora_B" in n)
    (grad_kept,) = torch.autograd.grad(kept, lora_b)
    (grad_full,) = torch.autograd.grad(full, lora_b)
    assert torch.allclose(grad_kept, grad_full, atol=1e-6)


@pytest.mark.slow
def test_json_output_is_json_events_alone_and_draws_no_progress_bars(
    tiny_gguf: Path, qa_jsonl: Path, hearth_home: Path
) -> None:
    """A reader of --json output sees nothing but events: every line of stdout parses, and
    no library draws a progress bar (the GGUF conversion of a fresh home would draw one)."""
    done = run_trainer(
        "train",
        "--base",
        str(tiny_gguf),
        "--data",
        str(qa_jsonl),
        "--preset",
        "cpu",
        "--max-steps",
        "2",
        "--json",
        *FAST,
        "--set",
        "evaluate.answers=1",
        "--set",
        "evaluate.max_answer_tokens=8",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.split("\n")
    assert lines[-1] == ""  # the last event ends its line
    events = [json.loads(line) for line in lines[:-1]]  # every other line is one JSON event
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    model = next(e for e in events if e["event"] == "prepare" and e["stage"] == "model")
    assert model["message"].startswith("Converted the GGUF")  # the conversion ran here
    assert "\r" not in done.stderr and "it/s" not in done.stderr  # no bars, not even there
    assert "n_ctx_train (0)" not in done.stderr


def test_cpu_threads_follow_the_setting_the_environment_then_the_free_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    import psutil

    from trainer.model import cpu_threads

    cores = min(psutil.cpu_count(logical=False) or 1, len(os.sched_getaffinity(0)))
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert cpu_threads(3) == 3
    assert cpu_threads(None) == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert cpu_threads(None) == cores  # an idle machine: one thread per core
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 3.0, 0.0, 0.0))
    assert cpu_threads(None) == 1  # every core busy with other work: one thread

"""The fine-tuning recipe: setup, train, save, clean-up, in that order, in one readable place.

`run` is a generator of trainer events (trainer.events). It takes a validated RunConfig and the
run's folder, and checks its CancelToken between steps: on cancel it saves a checkpoint of the
last completed step and yields `Cancelled`. With `resume=True` it continues an interrupted run
from its newest checkpoint, meeting exactly the batches the run would have met.

Setup:   find the base GGUF, refuse a run that cannot fit in memory, prepare the data with the
         model's own tokenizer, load the base (4-bit NF4 on CUDA: QLoRA; else full precision)
         and wrap it in a peft LoRA.
Train:   AdamW on the adapter, warm-up then a cosine/linear/constant schedule, gradient
         accumulation and checkpointing, periodic evaluation and checkpoints.
Save:    the adapter as a peft folder and as a GGUF LoRA, with held-out loss and perplexity
         of base and adapter.
Clean-up: free the training model, register the adapter as "base + adapter", and let llama.cpp
         answer held-out questions with base and adapter side by side.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import time
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import Paths, Settings
from engine.errors import HearthError
from engine.events import CancelToken
from trainer import batches, data, evaluate, export
from trainer.checkpoints import (
    SavedState,
    capture_rng,
    latest_checkpoint,
    restore_checkpoint,
    restore_rng,
    save_checkpoint,
)
from trainer.config import RunConfig, TrainSettings
from trainer.events import (
    Cancelled,
    Checkpoint,
    Done,
    Eval,
    Export,
    Prepare,
    Start,
    Step,
    TrainerEvent,
)
from trainer.memory import available_memory, check_fits, fit_settings, read_shape
from trainer.model import (
    BaseModel,
    add_lora,
    cpu_threads,
    load_model,
    resolve_base,
    resolve_device,
    resolve_dtype,
    resolve_quantization,
    torch_dtype,
    training_checkpoint,
)
from trainer.tokens import ChatTokenizer, Tokenized


def run(
    config: RunConfig,
    *,
    paths: Paths,
    run_dir: Path,
    cancel: CancelToken,
    resume: bool = False,
    out_dir: Path | None = None,
) -> Iterator[TrainerEvent]:
    """Fine-tune `config.base` on `config.data`, yielding events; see the module docstring."""
    started = time.monotonic()
    run_id = run_dir.name
    t = config.train

    # --- setup ------------------------------------------------------------------------------
    base = resolve_base(config.base, paths)
    device = resolve_device(config.device)
    quantization = resolve_quantization(config.quantization, device)
    dtype = resolve_dtype(config.dtype, device)
    saved = latest_checkpoint(run_dir) if resume else None
    yield Start(
        run_id,
        run_dir,
        config.base,
        base.path,
        device,
        quantization,
        dtype,
        resumed_from=saved.step if saved else None,
    )

    shape = read_shape(base.path)
    fit = fit_settings(config, device=device, quantization=quantization, dtype=dtype, shape=shape)
    seq_len = fit.seq_len
    estimate = check_fits(shape, fit, available=available_memory(device))
    yield Prepare(
        "memory",
        f"The run needs about {estimate.total / 2**30:.1f} GiB ({estimate.describe()}).",
        {"bytes": estimate.total},
    )

    tokenizer = ChatTokenizer(base.path)
    prepared = _load_prepared(run_dir) if resume else None
    if prepared is None:
        prepared = yield from _prepare_data(config, tokenizer, seq_len=seq_len, cancel=cancel)
        if prepared is None:
            yield Cancelled(run_id, run_dir, 0, None)
            return
        _save_prepared(run_dir, prepared)

    per_epoch = batches.micro_batches_per_epoch(len(prepared.train), t.batch_size)
    total_steps = t.max_steps or max(1, math.ceil(t.epochs * per_epoch / t.grad_accum))
    yield Prepare(
        "plan",
        f"{total_steps} steps of {t.batch_size * t.grad_accum} examples "
        f"({total_steps * t.grad_accum / per_epoch:.1f} epochs of {len(prepared.train)}).",
        {
            "total_steps": total_steps,
            "train_examples": len(prepared.train),
            "eval_examples": len(prepared.eval),
            "examples_per_step": t.batch_size * t.grad_accum,
        },
    )
    if cancel.cancelled:
        yield Cancelled(run_id, run_dir, saved.step if saved else 0, saved.path if saved else None)
        return

    threads = _use_threads(t.threads) if device == "cpu" else None
    checkpoint_dir, made = training_checkpoint(base.path, paths.cache)
    on = f"{device}, {threads} thread{'s' if threads > 1 else ''}" if threads else device
    yield Prepare(
        "model",
        ("Converted the GGUF to a training checkpoint" if made else "Loading the base model")
        + f" ({quantization}, {dtype}, {on}).",
        {"threads": threads} if threads else {},
    )
    training = _setup_training(
        config,
        checkpoint_dir,
        device=device,
        dtype=dtype,
        quantization=quantization,
        total_steps=total_steps,
    )
    if saved is not None:
        training.restore(saved)

    # --- train ------------------------------------------------------------------------------
    step = yield from _train(
        training,
        prepared,
        t,
        start=saved.step if saved else 0,
        total_steps=total_steps,
        pad_id=tokenizer.pad_id,
        device=device,
        run_dir=run_dir,
        cancel=cancel,
    )
    if step < total_steps:
        found = latest_checkpoint(run_dir)
        yield Cancelled(run_id, run_dir, step, found.path if found else None)
        return

    # --- save -------------------------------------------------------------------------------
    adapter_dir = export.save_peft(training.model, run_dir / "adapter")
    yield Export("peft", adapter_dir)
    adapter_gguf = export.export_gguf_lora(
        adapter_dir, base_gguf=base.path, out=run_dir / "adapter.gguf", name=f"Hearth {run_id}"
    )
    yield Export("gguf", adapter_gguf)
    eval_kw = training.eval_kw(t.batch_size, tokenizer.pad_id, device)
    eval_loss = evaluate.eval_loss(training.model, prepared.eval, **eval_kw)
    base_loss = evaluate.base_eval_loss(training.model, prepared.eval, **eval_kw)
    if eval_loss is not None:
        yield Eval(step, eval_loss, evaluate.perplexity(eval_loss) or math.inf)
    final = dict(training.state)

    # --- clean-up: the training model goes before llama.cpp loads the base for the answers --
    del training
    _release_memory()
    final_gguf = adapter_gguf
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        final_gguf = Path(shutil.copy2(adapter_gguf, out_dir / "adapter.gguf"))
        shutil.copytree(adapter_dir, out_dir / "adapter", dirs_exist_ok=True)
        yield Export("gguf", final_gguf, message=f"Copied the adapter to {out_dir}.")
    registered, model_name = _register(
        paths, base, adapter_gguf, config, run_id, eval_loss=eval_loss, base_loss=base_loss
    )
    yield Export("registered", registered, name=model_name)

    # --- evaluate: base and adapter side by side --------------------------------------------
    if config.evaluate.answers and prepared.eval_examples:
        yield from _answers(paths, model_name, registered, prepared, run_dir, config, cancel)

    yield Done(
        run_id=run_id,
        run_dir=run_dir,
        adapter_gguf=final_gguf if out_dir is not None else registered,
        adapter_dir=adapter_dir,
        model_name=model_name,
        steps=step,
        initial_loss=final["initial_loss"],
        final_loss=final["loss"],
        eval_loss=eval_loss,
        base_eval_loss=base_loss,
        perplexity=evaluate.perplexity(eval_loss),
        base_perplexity=evaluate.perplexity(base_loss),
        seconds=time.monotonic() - started,
    )


def _prepare_data(
    config: RunConfig, tokenizer: ChatTokenizer, *, seq_len: int, cancel: CancelToken
) -> Generator[TrainerEvent, None, data.PreparedData | None]:
    """Import and prepare the dataset, yielding each step; None if cancelled meanwhile."""
    d = config.data
    examples = data.load_dataset(d.path, system_prompt=d.system_prompt)
    for item in data.prepare(
        examples,
        tokenizer,
        max_seq_len=seq_len,
        overlong=d.overlong,
        min_chars=d.min_chars,
        max_chars=d.max_chars,
        dedupe_threshold=d.dedupe_threshold,
        grounding_threshold=d.grounding_threshold,
        eval_fraction=d.eval_fraction,
        max_eval=d.max_eval_examples,
        seed=config.train.seed,
        path=d.path,
    ):
        if isinstance(item, data.PreparedData):
            return item
        yield item
        if cancel.cancelled:
            return None
    return None


@dataclass
class _Training:
    """What the training loop works on: the adapted model and the optimizer's state."""

    model: Any
    optimizer: Any
    scheduler: Any
    scaler: Any
    amp: AbstractContextManager[Any]
    state: dict[str, Any]
    """Figures kept in every checkpoint, so a resumed run reports those of the whole run."""

    @property
    def trainable(self) -> list[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def restore(self, saved: SavedState) -> None:
        restore_checkpoint(
            saved, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler
        )
        self.state.update({k: saved.state[k] for k in self.state if k in saved.state})

    def save(self, run_dir: Path, step: int, *, keep: int, rng: Any = None) -> Path:
        return save_checkpoint(
            run_dir,
            step=step,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            state=self.state,
            keep=keep,
            rng=rng,
        )

    def eval_kw(self, batch_size: int, pad_id: int, device: str) -> dict[str, Any]:
        return {"batch_size": batch_size, "pad_id": pad_id, "device": device, "autocast": self.amp}


def _setup_training(
    config: RunConfig,
    checkpoint_dir: Path,
    *,
    device: str,
    dtype: str,
    quantization: str,
    total_steps: int,
) -> _Training:
    """Load the base, add the LoRA, and make AdamW with its learning-rate schedule."""
    import torch
    from transformers import get_scheduler

    t = config.train
    torch.manual_seed(t.seed)
    model = load_model(checkpoint_dir, device=device, dtype=dtype, quantization=quantization)
    model = add_lora(
        model,
        rank=config.lora.rank,
        alpha=config.lora.alpha,
        dropout=config.lora.dropout,
        target_modules=config.lora.target_modules,
        gradient_checkpointing=t.gradient_checkpointing,
        seed=t.seed,
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=t.learning_rate, weight_decay=t.weight_decay)
    schedule = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}
    scheduler = get_scheduler(
        schedule[t.lr_scheduler],
        optimizer,
        num_warmup_steps=round(t.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    return _Training(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(device, enabled=dtype == "fp16"),
        amp=_autocast(device, dtype),
        state={"elapsed_s": 0.0, "tokens": 0, "initial_loss": None, "loss": None},
    )


def _train(
    tr: _Training,
    prepared: data.PreparedData,
    t: TrainSettings,
    *,
    start: int,
    total_steps: int,
    pad_id: int,
    device: str,
    run_dir: Path,
    cancel: CancelToken,
) -> Generator[TrainerEvent, None, int]:
    """Optimizer steps from `start` to `total_steps`; returns the last completed step.

    On cancel, a step in progress is dropped (with its dropout draws) and the last completed
    step is saved, so the run resumes exactly where it would have gone on.
    """
    import torch

    per_epoch = batches.micro_batches_per_epoch(len(prepared.train), t.batch_size)
    eval_kw = tr.eval_kw(t.batch_size, pad_id, device)
    step, last_saved = start, start
    session_start, elapsed_before = time.monotonic(), tr.state["elapsed_s"]
    tr.model.train()
    while step < total_steps and not cancel.cancelled:
        tick = time.perf_counter()
        rng_before = capture_rng()
        tr.optimizer.zero_grad(set_to_none=True)
        micro = [
            batches.collate(
                [
                    prepared.train[i]
                    for i in batches.micro_batch(
                        len(prepared.train),
                        t.batch_size,
                        index=step * t.grad_accum + a,
                        seed=t.seed,
                    )
                ],
                pad_id=pad_id,
                device=device,
            )
            for a in range(t.grad_accum)
        ]
        n_trained = max(1, sum(b.n_trained for b in micro))
        loss_sum = 0.0
        for b in micro:
            with tr.amp:
                nll = batches.summed_nll(tr.model, b)
            tr.scaler.scale(nll / n_trained).backward()
            loss_sum += float(nll.detach())
            if cancel.cancelled:
                break
        if cancel.cancelled:
            tr.optimizer.zero_grad(set_to_none=True)
            if step > last_saved:
                tr.state["elapsed_s"] = elapsed_before + time.monotonic() - session_start
                path = tr.save(run_dir, step, keep=t.keep_checkpoints, rng=rng_before)
                yield Checkpoint(step, path)
            restore_rng(rng_before)
            return step
        tr.scaler.unscale_(tr.optimizer)
        norm = float(
            torch.nn.utils.clip_grad_norm_(
                tr.trainable, t.max_grad_norm if t.max_grad_norm > 0 else math.inf
            )
        )
        learning_rate = float(tr.optimizer.param_groups[0]["lr"])  # the rate this step used
        tr.scaler.step(tr.optimizer)
        tr.scaler.update()
        tr.scheduler.step()
        step += 1

        loss = loss_sum / n_trained
        tokens = sum(b.n_tokens for b in micro)
        seconds = time.perf_counter() - tick
        elapsed = time.monotonic() - session_start
        tr.state.update(
            loss=loss, tokens=tr.state["tokens"] + tokens, elapsed_s=elapsed_before + elapsed
        )
        if tr.state["initial_loss"] is None:
            tr.state["initial_loss"] = loss
        yield Step(
            step=step,
            total_steps=total_steps,
            epoch=step * t.grad_accum / per_epoch,
            loss=loss,
            learning_rate=learning_rate,
            grad_norm=norm if math.isfinite(norm) else None,
            tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
            elapsed_s=tr.state["elapsed_s"],
            eta_s=elapsed / (step - start) * (total_steps - step),
            memory_mib=_memory_mib(device),
        )
        if t.eval_every and step % t.eval_every == 0 and step < total_steps and prepared.eval:
            held_out = evaluate.eval_loss(tr.model, prepared.eval, **eval_kw)
            if held_out is not None:
                yield Eval(step, held_out, evaluate.perplexity(held_out) or math.inf)
        if (t.save_every and step % t.save_every == 0) or step == total_steps:
            last_saved = step
            yield Checkpoint(step, tr.save(run_dir, step, keep=t.keep_checkpoints))
    if cancel.cancelled and step > last_saved:  # cancelled between two steps
        yield Checkpoint(step, tr.save(run_dir, step, keep=t.keep_checkpoints))
    return step


# --- components of the recipe, each with plain arguments ------------------------------------


def _autocast(device: str, dtype: str) -> AbstractContextManager[Any]:
    import torch

    if dtype == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device, dtype=torch_dtype(dtype))


def _use_threads(requested: int | None) -> int:
    """Set torch's CPU thread count for this run (see trainer.model.cpu_threads)."""
    import torch

    threads = cpu_threads(requested)
    torch.set_num_threads(threads)
    return threads


def _memory_mib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _save_prepared(run_dir: Path, prepared: data.PreparedData) -> None:
    folder = run_dir / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("train", [t.to_json() for t in prepared.train]),
        ("eval", [t.to_json() for t in prepared.eval]),
        ("eval_examples", [e.to_json() for e in prepared.eval_examples]),
    ):
        tmp = folder / f"{name}.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        tmp.replace(folder / f"{name}.jsonl")
    (folder / "counts.json").write_text(json.dumps(prepared.counts, indent=2), "utf-8")


def _load_prepared(run_dir: Path) -> data.PreparedData | None:
    """The prepared data of an earlier session of this run, so a resume trains on the same."""
    folder = run_dir / "dataset"
    if not (folder / "counts.json").is_file():
        return None

    def rows(name: str) -> list[dict[str, Any]]:
        text = (folder / f"{name}.jsonl").read_text("utf-8")
        return [json.loads(line) for line in text.splitlines() if line]

    return data.PreparedData(
        train=[Tokenized.from_json(r) for r in rows("train")],
        eval=[Tokenized.from_json(r) for r in rows("eval")],
        eval_examples=[data.Example.from_json(r) for r in rows("eval_examples")],
        counts=json.loads((folder / "counts.json").read_text("utf-8")),
    )


def _register(
    paths: Paths,
    base: BaseModel,
    adapter_gguf: Path,
    config: RunConfig,
    run_id: str,
    *,
    eval_loss: float | None,
    base_loss: float | None,
) -> tuple[Path, str]:
    """Copy the adapter into Hearth's adapters folder and add "base + adapter" to the list."""
    from engine.llm.registry import ModelRegistry

    registry = ModelRegistry(paths)
    base_name = base.name or registry.add(base.path).name
    paths.adapters.mkdir(parents=True, exist_ok=True)
    target = paths.adapters / f"{run_id}.gguf"
    shutil.copy2(adapter_gguf, target)
    details = {
        "run_id": run_id,
        "run_dir": str(paths.runs / run_id),
        "eval_loss": eval_loss,
        "base_eval_loss": base_loss,
        "lora_rank": config.lora.rank,
    }
    entry = registry.add_adapter(base=base_name, adapter=target, name=config.name, details=details)
    return target, entry.name


def _answers(
    paths: Paths,
    model_name: str,
    adapter: Path,
    prepared: data.PreparedData,
    run_dir: Path,
    config: RunConfig,
    cancel: CancelToken,
) -> Iterator[TrainerEvent]:
    """Answer held-out questions with base and adapter through llama.cpp; write answers.json."""
    from engine.llm.registry import ModelRegistry
    from engine.llm.runtime import ModelRuntime

    registry = ModelRegistry(paths)
    info = registry.get(model_name)
    settings = Settings.load(paths.settings_file)
    chosen = prepared.eval_examples[: config.evaluate.answers]
    conversations = [_before_last_reply(ex) for ex in chosen]
    runtime = ModelRuntime()
    try:
        chat = runtime.get(
            info,
            base=registry.get(info.base) if info.base else None,
            context_length=settings.context_length,
            gpu_layers=settings.gpu_layers,
        )
        rows = []
        for row in evaluate.compare_answers(
            chat,
            conversations,
            adapter=adapter,
            max_tokens=config.evaluate.max_answer_tokens,
            references=[ex.answer for ex in chosen],
        ):
            rows.append(row)
            if cancel.cancelled:
                break
    except HearthError as exc:
        # Training and export succeeded; a model too large to also load in llama.cpp here
        # only costs the side-by-side view, so the run still ends done, with the reason shown.
        yield Export("answers", None, message=f"No side-by-side answers: {exc}")
        return
    finally:
        runtime.unload()
    path = run_dir / "answers.json"
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), "utf-8")
    n = len(rows)
    yield Export("answers", path, message=f"Base and adapter answered {n} held-out questions.")


def _before_last_reply(example: data.Example) -> list[dict[str, str]]:
    messages = list(example.messages)
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last]

"""Training benchmark: the fine-tuning recipe against a plain transformers + peft loop.

Run: python -m bench.train [--device cpu|cuda] [--quantization none|nf4] [--steps 20]
                           [--layers 4] [--embd 256] [--seq-len 256] [--batch-size 4] [--json]
     python -m bench.train --model SmolLM2-135M-Instruct.Q4_1.gguf --preset cpu --steps 6

By default on a random-weight llama-architecture GGUF, small but not trivial (4 layers, 256
wide, written to a temporary folder), both sides train the same LoRA (rank 16 on every linear
layer of a block) with the same settings on the same padded batches. With --model, a real GGUF
is trained with the settings of --preset (default: cpu) on --examples short question/answer
pairs, as `hearth train --base MODEL` would train it.

- the recipe: `trainer.recipe.run` as `python -m trainer` runs it, tokens/s read from its own
  step events (so its bookkeeping, events and checkpoints are included);
- plain: the model loaded from the same checkpoint with transformers (4-bit with bitsandbytes
  when --quantization nf4), `peft.get_peft_model`, AdamW, and `model(..., labels=...)` in a bare
  loop over the same micro-batches, as a training notebook would write it.

Their steps alternate, so a machine whose load changes weighs on both alike; both run in one
process, so they share torch's thread count (the recipe sets it for the machine). It prints the
median tokens/s of each after two warm-up steps and their ratio (target: the recipe at least
90% of the plain loop), and the peak memory of both together (torch's on CUDA, the process's
resident memory on a CPU). --device cuda runs the same on a GPU (bf16, NF4 by default there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _short_dataset(path: Path, n: int) -> Path:
    """`n` short question/answer pairs, one sentence each, like a first dataset of a manual."""
    things = ("boiler", "pump", "filter", "heater", "valve", "battery", "timer", "sensor")
    actions = ("reset", "clean", "check", "replace", "switch off")
    rows = []
    for i in range(n):
        thing, action = things[i % len(things)], actions[(i // len(things)) % len(actions)]
        rows.append(
            {
                "instruction": f"How do I {action} the {thing}?",
                "response": f"To {action} the {thing}, hold button {i % 4 + 1} for "
                f"{i % 5 + 2} seconds until the light turns green.",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _dataset(path: Path, n: int = 96) -> Path:
    words = (
        "pump",
        "valve",
        "filter",
        "heater",
        "boiler",
        "battery",
        "button",
        "water",
        "pressure",
        "temperature",
        "setting",
        "value",
        "number",
        "code",
        "page",
        "manual",
    )
    rows = []
    for i in range(n):
        a, b = words[i % len(words)], words[(i * 7 + 3) % len(words)]
        answer = " ".join(f"the {a} {b} is {(i + k) % 10}" for k in range(8 + i % 8))
        rows.append({"instruction": f"what is the {a} {b} in the manual", "response": answer})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _recipe_steps(config: Any, paths: Any) -> Iterator[float]:
    """Run the recipe as `python -m trainer` does; yield tokens/s of each of its steps."""
    from engine.events import CancelToken
    from trainer import recipe
    from trainer.config import dump_config
    from trainer.events import Step
    from trainer.runs import RunRecorder

    recorder = RunRecorder.create(
        paths, base=config.base, config_yaml=dump_config(config), preset=None
    )
    for event in recipe.run(config, paths=paths, run_dir=recorder.run_dir, cancel=CancelToken()):
        recorder.record(event)
        if isinstance(event, Step):
            yield event.tokens_per_s


class PlainLoop:
    """The same training written the plain way: transformers, peft, bitsandbytes, AdamW."""

    def __init__(self, config: Any, paths: Any, *, device: str, dtype: str) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        from trainer.data import load_dataset, tokenize_examples
        from trainer.model import training_checkpoint
        from trainer.tokens import ChatTokenizer

        self.config, self.device, self.step = config, device, 0
        compute = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        checkpoint, _ = training_checkpoint(Path(config.base), paths.cache)
        kwargs: dict[str, Any] = {"dtype": compute, "device_map": {"": device}}
        if config.quantization == "nf4":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute,
            )
        model = AutoModelForCausalLM.from_pretrained(str(checkpoint), **kwargs)
        model.config.use_cache = False
        if config.train.gradient_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
            model.enable_input_require_grads()
        lora = LoraConfig(
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=TARGETS,
            task_type="CAUSAL_LM",
        )
        self.model = get_peft_model(model, lora)
        self.model.train()
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=config.train.learning_rate,
        )
        self.tokenizer = ChatTokenizer(Path(config.base))
        self.data = tokenize_examples(
            load_dataset(config.data.path),
            self.tokenizer,
            max_seq_len=config.train.max_seq_len,
            overlong="truncate",
        ).examples
        self.amp = (
            torch.autocast(device_type=device, dtype=compute)
            if dtype != "fp32"
            else torch.autocast(device_type="cpu", enabled=False)
        )

    def train_step(self) -> float:
        """One optimizer step on the recipe's micro-batches of the same index; tokens/s."""
        import torch

        from trainer import batches

        t = self.config.train
        tick = time.perf_counter()  # batching included, as in the recipe's figure
        tokens = 0
        for a in range(t.grad_accum):
            picked = batches.micro_batch(
                len(self.data), t.batch_size, index=self.step * t.grad_accum + a, seed=t.seed
            )
            batch = batches.collate(
                [self.data[i] for i in picked], pad_id=self.tokenizer.pad_id, device=self.device
            )
            with self.amp:
                loss = self.model(
                    input_ids=batch.input_ids,
                    attention_mask=batch.attention_mask,
                    labels=batch.labels,
                ).loss
            (loss / t.grad_accum).backward()
            tokens += batch.n_tokens
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.step += 1
        return tokens / (time.perf_counter() - tick)


def _peak_mib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _config(ns: argparse.Namespace, model: Path, data: Path, quantization: str, dtype: str) -> Any:
    from trainer.config import build_config

    if ns.model:  # a real model, trained as `hearth train --preset PRESET` would train it
        return build_config(
            {
                "base": str(model),
                "preset": ns.preset,
                "data": {"path": str(data), "eval_fraction": 0.0},
                "train": {"max_steps": ns.steps, "save_every": 0, "eval_every": 0},
                "evaluate": {"answers": 0},
            }
        )
    return build_config(
        {
            "base": str(model),
            "data": {"path": str(data), "eval_fraction": 0.0},
            "device": ns.device,
            "quantization": quantization,
            "dtype": dtype,
            "lora": {"rank": 16, "alpha": 32, "dropout": 0.05},
            "train": {
                "max_steps": ns.steps,
                "batch_size": ns.batch_size,
                "grad_accum": 1,
                "max_seq_len": ns.seq_len,
                "learning_rate": 1e-3,
                "save_every": 0,
                "eval_every": 0,
                "gradient_checkpointing": ns.gradient_checkpointing,
            },
            "evaluate": {"answers": 0},
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quantization", choices=["none", "nf4"], help="default: nf4 on cuda")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--embd", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--model", help="a real GGUF to train (default: a random tiny llama)")
    p.add_argument("--preset", default="cpu", help="settings for --model (default: cpu)")
    p.add_argument("--examples", type=int, default=15, help="question/answer pairs for --model")
    p.add_argument("--json", action="store_true")
    ns = p.parse_args(argv)

    sys.path.insert(0, str(ROOT / "tests"))
    from engine.offline import go_offline

    go_offline()
    from support.tiny_gguf import write_tiny_gguf

    from engine.config import Paths

    quantization = ns.quantization or ("nf4" if ns.device == "cuda" else "none")
    dtype = "bf16" if ns.device == "cuda" else "fp32"
    with tempfile.TemporaryDirectory(prefix="hearth-bench-train-") as tmp:
        home = Path(tmp) / "home"
        paths = Paths(home).ensure()
        if ns.model:
            model = Path(ns.model).expanduser().resolve()
            data = _short_dataset(Path(tmp) / "data.jsonl", ns.examples)
        else:
            model = write_tiny_gguf(
                Path(tmp) / "bench.gguf",
                n_layer=ns.layers,
                n_embd=ns.embd,
                n_head=8,
                n_head_kv=4,
                n_ff=ns.embd * 8 // 3,
                dtype="f16" if ns.device == "cuda" else "f32",
            )
            data = _dataset(Path(tmp) / "data.jsonl")
        config = _config(ns, model, data, quantization, dtype)
        dtype = config.dtype if config.dtype != "auto" else dtype
        # Steps alternate between the two, so a machine whose load changes during the run
        # (other programs, thermal limits) weighs on both alike.
        plain = PlainLoop(config, paths, device=config.device, dtype=dtype)
        recipe_rates, plain_rates = [], []
        for rate in _recipe_steps(config, paths):
            recipe_rates.append(rate)
            plain_rates.append(plain.train_step())
        memory = _peak_mib(ns.device)

    import torch

    t = config.train
    recipe_tps = statistics.median(recipe_rates[2:] or recipe_rates)
    plain_tps = statistics.median(plain_rates[2:] or plain_rates)
    figures = {
        "device": config.device,
        "model": model.name if ns.model else {"layers": ns.layers, "embd": ns.embd},
        "quantization": config.quantization,
        "dtype": config.dtype,
        "threads": torch.get_num_threads(),
        "batch_size": t.batch_size,
        "grad_accum": t.grad_accum,
        "max_seq_len": t.max_seq_len,
        "steps": t.max_steps,
        "gradient_checkpointing": t.gradient_checkpointing,
        "recipe_tokens_per_s": round(recipe_tps, 1),
        "plain_tokens_per_s": round(plain_tps, 1),
        "ratio": round(recipe_tps / plain_tps, 3),
        "peak_mib": round(memory),
    }
    if ns.json:
        print(json.dumps(figures))
    else:
        print(
            f"model: {figures['model']}, {config.quantization}, {config.dtype} on "
            f"{config.device} ({figures['threads']} threads); batch {t.batch_size} x "
            f"{t.grad_accum} accumulated, up to {t.max_seq_len} tokens, {t.max_steps} steps, "
            f"gradient checkpointing {'on' if t.gradient_checkpointing else 'off'}"
        )
        print(f"recipe: {recipe_tps:9.1f} tokens/s")
        print(f"plain:  {plain_tps:9.1f} tokens/s")
        print(f"peak memory of both together: {memory:.0f} MiB")
        print(f"recipe / plain: {recipe_tps / plain_tps:.2f} (target >= 0.90)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training checkpoints: the adapter, the optimizer and the run's position, saved atomically.

A checkpoint is a folder `checkpoints/step-000120/` holding the adapter weights
(safetensors), the optimizer and learning-rate schedule state, the random number generators
and `state.json`. It is written under a temporary name and renamed when complete, so a run
killed at any moment leaves only whole checkpoints; a resumed run continues from the newest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class SavedState:
    step: int
    path: Path
    state: dict[str, Any]
    """From state.json: step, elapsed_s, tokens, initial_loss and what else the recipe keeps."""


def checkpoint_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as (step, folder), oldest first."""
    root = run_dir / "checkpoints"
    found = []
    for p in root.glob("step-*") if root.is_dir() else ():
        m = _NAME.match(p.name)
        if m and (p / "state.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(
    run_dir: Path,
    *,
    step: int,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    state: dict[str, Any],
    keep: int,
    rng: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint of `step` and keep only the newest `keep` checkpoints.

    `rng` is the random state to resume with (default: the current one); a step cut short by a
    cancel passes the state from before it, as its dropout draws never counted.
    """
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    root = run_dir / "checkpoints"
    final = root / f"step-{step:06d}"
    tmp = root / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {
        k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()
    }
    save_file(weights, str(tmp / "adapter_model.safetensors"))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng or capture_rng(),
        },
        tmp / "training_state.pt",
    )
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2), "utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for _old_step, old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> SavedState | None:
    """The newest complete checkpoint, or None; half-written ones are removed."""
    for tmp in (run_dir / "checkpoints").glob("*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    found = checkpoint_dirs(run_dir)
    if not found:
        return None
    step, path = found[-1]
    return SavedState(step, path, json.loads((path / "state.json").read_text("utf-8")))


def restore_checkpoint(saved: SavedState, *, model: Any, optimizer: Any, scheduler: Any) -> None:
    """Load adapter weights, optimizer, schedule and random state from `saved`."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(saved.path / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    blob = torch.load(saved.path / "training_state.pt", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    restore_rng(blob["rng"])


def capture_rng() -> dict[str, Any]:
    """The random state dropout draws from (CPU and, if present, every CUDA device)."""
    import torch

    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])

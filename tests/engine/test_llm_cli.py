"""`hearth models …` on the command line: one JSON document with --json, the kind of each
model (instruct or base) and how Hearth will prompt it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main


def test_models_list_json_is_one_document(
    hearth_home: Path, tiny_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    assert main(["models", "add", str(tiny_gguf)]) == 0
    assert "instruct" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)  # nothing printed after the JSON
    assert entry["name"] == "tiny-chat" and entry["kind"] == "instruct" and entry["kind_reason"]

    assert main(["models", "info", "tiny-chat", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "instruct"

    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("instruct")


def test_a_base_model_is_labelled_as_such(
    hearth_home: Path, gemma3_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "add", str(gemma3_gguf), "--name", "gemma"]) == 0
    added = capsys.readouterr().out
    assert "gemma3, Q4_K_M, context 32768, base: no chat template" in added
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.split("\t")[-1].strip() == "base"
    assert main(["models", "info", "gemma"]) == 0
    info = capsys.readouterr().out
    assert "plain completion" in info and "vocab_size: 262144" in info

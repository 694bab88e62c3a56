"""Importing datasets (with clear errors for bad ones) and preparing them step by step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainer_testkit import qa_rows, write_jsonl

from engine.config import Paths
from trainer import data
from trainer.errors import BadRow, DatasetError, EmptyDataset, MissingColumn, RowTooLong
from trainer.events import Prepare

# --- import ---------------------------------------------------------------------------------


def test_jsonl_with_instruction_response_and_aliases(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"instruction": "what is the pump setting", "response": "the pump setting is 42"},
            {
                "prompt": "summarize",
                "input": "the valve is open",
                "output": "open valve",
                "system": "be brief",
            },
            {
                "Question": "where is the filter",
                "Answer": "on page 3",
                "source": "p3 text",
                "file": "manual.pdf",
                "page": "3",
            },
        ],
    )
    examples = data.load_dataset(path, system_prompt="default system")
    assert [ex.line for ex in examples] == [1, 2, 3]
    assert examples[0].messages == (
        {"role": "system", "content": "default system"},
        {"role": "user", "content": "what is the pump setting"},
        {"role": "assistant", "content": "the pump setting is 42"},
    )
    assert examples[1].messages[0] == {"role": "system", "content": "be brief"}
    assert examples[1].question == "summarize\n\nthe valve is open"
    assert examples[2].source == data.Source("p3 text", "manual.pdf", 3)
    assert examples[2].answer == "on page 3"


def test_csv_and_tsv(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text(
        'instruction,response\n"what is, with a comma","line one\nline two"\n\nq2,a2\n',
        encoding="utf-8",
    )
    examples = data.load_dataset(csv_path)
    assert [ex.question for ex in examples] == ["what is, with a comma", "q2"]
    assert examples[0].answer == "line one\nline two"
    tsv = tmp_path / "d.tsv"
    tsv.write_text("question\tanswer\nq\ta\n", encoding="utf-8")
    assert data.load_dataset(tsv)[0].answer == "a"


def test_chat_messages_sharegpt_and_json_array(tmp_path: Path) -> None:
    chat = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and?"},
        {"role": "assistant", "content": "done"},
    ]
    sharegpt = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"messages": chat}, {"conversations": sharegpt}]), "utf-8")
    first, second = data.load_dataset(path)
    assert list(first.messages) == chat
    assert second.messages == (
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    )


@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        ("", EmptyDataset, "is empty"),
        ("\n  \n", EmptyDataset, "is empty"),
        (
            '{"instruction": "a", "response": "b"}\n{"instruction": "c", "response": \n',
            BadRow,
            "line 2: not valid JSON",
        ),
        (
            '{"instruction": "a", "response": "b"}\n\n{"instruction": "c", "reply": "d"}\n',
            MissingColumn,
            "line 3: no 'response' column (columns found: instruction, reply)",
        ),
        ('{"text": "no columns at all"}\n', MissingColumn, "line 1: no 'instruction' column"),
        ('["a", "b"]\n', BadRow, "line 1: a JSON list"),
        ('{"messages": [{"role": "user", "content": "hi"}]}\n', BadRow, "no assistant message"),
        ('{"messages": [{"role": "robot", "content": "hi"}]}\n', BadRow, "role 'robot'"),
    ],
)
def test_bad_datasets_get_clear_errors(
    tmp_path: Path, content: str, error: type, words: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error) as info:
        data.load_dataset(path)
    assert words in str(info.value)
    assert "bad.jsonl" in str(info.value)


def test_other_unusable_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no dataset file"):
        data.load_dataset(tmp_path / "missing.jsonl")
    txt = tmp_path / "d.txt"
    txt.write_text("hello", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"\.jsonl, \.json or \.csv"):
        data.load_dataset(txt)
    latin = tmp_path / "d.jsonl"
    latin.write_bytes('{"instruction": "caf\xe9", "response": "x"}\n'.encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        data.load_dataset(latin)
    header_only = tmp_path / "h.csv"
    header_only.write_text("instruction,response\n", encoding="utf-8")
    with pytest.raises(EmptyDataset, match="no examples"):
        data.load_dataset(header_only)


# --- tokens ---------------------------------------------------------------------------------


def test_prompt_tokens_are_the_ones_chat_uses(
    tokenizer, tiny_gguf: Path, hearth_home: Path
) -> None:
    from engine.llm.registry import ModelRegistry
    from engine.llm.runtime import LlamaModel

    info = ModelRegistry(Paths(hearth_home)).add(tiny_gguf)
    chat = LlamaModel(info, context_length=256, gpu_layers=0)
    try:
        for messages in (
            [{"role": "user", "content": "what is the pump setting"}],
            [
                {"role": "system", "content": "only say yes"},
                {"role": "user", "content": "hello <|im_end|> world"},
            ],
        ):
            assert tokenizer.prompt_tokens(messages) == chat.chat_tokens(messages)
    finally:
        chat.close()


def test_loss_is_taken_on_the_assistant_tokens_only(tokenizer) -> None:
    messages = [
        {"role": "user", "content": "what is the pump setting"},
        {"role": "assistant", "content": "the pump setting is 42"},
        {"role": "user", "content": "and the valve"},
        {"role": "assistant", "content": "the valve value is 7"},
    ]
    ids, trained = tokenizer.encode_chat(messages)
    spans, start = [], None
    for i, t in enumerate([*trained, False]):
        if t and start is None:
            start = i
        elif not t and start is not None:
            spans.append(tokenizer.decode(ids[start:i]))
            start = None
    assert spans == [
        "the pump setting is 42<|im_end|> \n",
        "the valve value is 7<|im_end|> \n",
    ]
    # The first reply's tokens are exactly what follows the prompt chat would send.
    prompt = tokenizer.prompt_tokens(messages[:1])
    assert ids[: len(prompt)] == prompt and not any(trained[: len(prompt)])
    assert trained[len(prompt)]


def test_rows_too_long_for_the_context(tokenizer, tmp_path: Path) -> None:
    long = data.Example(
        (
            {"role": "user", "content": "what is the pump setting"},
            {"role": "assistant", "content": " ".join(["the pump setting is high"] * 20)},
        ),
        line=7,
    )
    short = data.Example(
        ({"role": "user", "content": "hello"}, {"role": "assistant", "content": "yes"}), line=8
    )
    with pytest.raises(RowTooLong) as info:
        data.tokenize_examples(
            [short, long], tokenizer, max_seq_len=48, overlong="error", path=tmp_path / "qa.jsonl"
        )
    assert "qa.jsonl, line 7" in str(info.value) and "48 tokens" in str(info.value)
    cut = data.tokenize_examples([short, long], tokenizer, max_seq_len=48, overlong="truncate")
    assert (cut.truncated, cut.dropped, len(cut.examples)) == (1, 0, 2)
    assert len(cut.examples[1].input_ids) == 48 and cut.examples[1].trained[-1]
    dropped = data.tokenize_examples([short, long], tokenizer, max_seq_len=48, overlong="drop")
    assert (dropped.dropped, len(dropped.examples)) == (1, 1)


# --- preparation ----------------------------------------------------------------------------


LONG = "the boiler pressure setting is 15 and the pump value is 12 and the valve code is 7 and the filter"


def test_preparation_steps_report_their_counts(tokenizer, tmp_path: Path) -> None:
    rows = qa_rows()[:20]
    rows += [
        {
            "instruction": "what is the  pump\r\nsetting\x07  ",
            "response": "the pump is 1  \n\n\n\nok",
        },
        {"instruction": "what is the valve code", "response": "   "},  # empty once cleaned
        dict(qa_rows()[0]),  # exact duplicate
        {"instruction": "what is the boiler pressure", "response": LONG + " 3"},
        {"instruction": "what is the boiler pressure", "response": LONG + " 4"},  # near dup
        {"instruction": "what is the heater value", "response": "x" * 500},  # too long in chars
        {
            "instruction": "what is the page number",
            "response": " ".join(["the page number is 5"] * 15),
        },  # too long in tokens
    ]
    examples = data.load_dataset(write_jsonl(tmp_path / "d.jsonl", rows))
    items = list(
        data.prepare(
            examples,
            tokenizer,
            max_seq_len=64,
            max_chars=400,
            dedupe_threshold=0.85,
            eval_fraction=0.2,
            seed=1,
        )
    )
    steps = {i.stage: i.counts for i in items if isinstance(i, Prepare)}
    assert list(steps) == [
        "clean",
        "empty",
        "duplicates",
        "length",
        "grounding",
        "tokenize",
        "split",
    ]
    assert steps["clean"]["changed"] == 2
    assert steps["empty"]["dropped"] == 1
    assert steps["duplicates"]["dropped"] == 2
    assert steps["length"]["dropped"] == 1
    assert steps["grounding"]["checked"] == 0
    assert steps["tokenize"]["truncated"] == 1
    prepared = items[-1]
    assert isinstance(prepared, data.PreparedData)
    assert len(prepared.train) + len(prepared.eval) == 23
    assert len(prepared.eval) == 5 == len(prepared.eval_examples)
    cleaned = next(ex for ex in examples if ex.line == 21)
    assert data.clean_text(cleaned.question) == "what is the  pump\nsetting"
    assert data.clean_text(cleaned.answer) == "the pump is 1\n\nok"
    # The split is reproducible.
    again = list(
        data.prepare(
            examples,
            tokenizer,
            max_seq_len=64,
            max_chars=400,
            dedupe_threshold=0.85,
            eval_fraction=0.2,
            seed=1,
        )
    )[-1]
    assert isinstance(again, data.PreparedData)
    assert [t.line for t in again.eval] == [t.line for t in prepared.eval]


@pytest.mark.slow
def test_grounding_check_drops_answers_unrelated_to_their_source() -> None:
    from engine.index.embed import get_embedder

    source = data.Source(
        "The boiler pressure should stay between 1 and 1.5 bar. If it drops below 1 bar, "
        "refill the system through the filling loop under the boiler.",
        "boiler.pdf",
        12,
    )

    def ex(answer: str) -> data.Example:
        return data.Example(
            (
                {"role": "user", "content": "What pressure should the boiler have?"},
                {"role": "assistant", "content": answer},
            ),
            source,
        )

    grounded = ex(
        "Keep the boiler pressure between 1 and 1.5 bar; refill it through the "
        "filling loop when it falls below 1 bar."
    )
    drifted = ex("Paris is the capital of France and home of the Eiffel Tower.")
    no_source = data.Example(
        ({"role": "user", "content": "hi"}, {"role": "assistant", "content": "Paris is lovely."})
    )
    kept, sims = data.check_grounding(
        [grounded, drifted, no_source], threshold=0.25, embed=get_embedder().embed
    )
    assert kept == [grounded, no_source]
    assert sims[0] > 0.5 > 0.25 > sims[1]


def test_nothing_left_after_preparation_is_an_error(tokenizer) -> None:
    examples = [
        data.Example(
            ({"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}), line=1
        )
    ]
    with pytest.raises(DatasetError, match="No examples are left"):
        list(data.prepare(examples, tokenizer, max_seq_len=64, min_chars=5))


def test_split_keeps_both_sides() -> None:
    assert data.split(2, eval_fraction=0.1, max_eval=200, seed=0)[1] != []
    train, held = data.split(100, eval_fraction=0.5, max_eval=10, seed=0)
    assert len(held) == 10 and len(train) == 90 and not set(train) & set(held)
    assert data.split(5, eval_fraction=0.0, max_eval=10, seed=0) == ([0, 1, 2, 3, 4], [])


def test_screening_says_which_step_dropped_each_example(tmp_path: Path) -> None:
    """The text steps the wizard previews and the run applies: one function, one verdict each."""
    rows = [
        {"instruction": "what is the pump setting", "response": "the pump setting is 4"},
        {"instruction": "what is the valve code", "response": "  "},
        {"instruction": "what is the pump setting", "response": "the pump setting is 4"},
        {"instruction": "?", "response": "the filter value is 2"},
        {"instruction": "what is the heater number", "response": "the heater number is 7"},
    ]
    examples = data.load_dataset(write_jsonl(tmp_path / "d.jsonl", rows))
    items = list(data.screen(examples, min_chars=2, max_chars=400))
    stages = [i.stage for i in items if isinstance(i, Prepare)]
    assert stages == list(data.SCREENING_STAGES)
    result = items[-1]
    assert isinstance(result, data.Screened)
    assert result.dropped_by == [None, "empty", "duplicates", "length", None]
    assert [ex.line for ex in result.kept] == [1, 5]

"""Real models end to end: SmolLM2-135M-Instruct (a chat template in its GGUF) and Gemma 3 270M
(a base model without one) answer from passages of a manual, in their own format: no template
markers in the answer, no loop. Generation is kept short; both are marked slow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from engine.chat.answer import Turn, answer_question
from engine.config import Paths, Settings
from engine.events import Answer, AnswerFinished, Hit, Token
from engine.llm.registry import ModelRegistry
from engine.llm.repetition import find_loop
from engine.llm.runtime import LlamaModel

pytestmark = pytest.mark.slow

SETTINGS = Settings(max_answer_tokens=48, passages=3, temperature=0.0)
MARKERS = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>")

PASSAGES = [
    (
        "Undoing a commit",
        "If you have made a commit that you now wish you had not, run git reset --hard HEAD^ to "
        "throw the commit away and return the working tree to the state of the previous "
        "commit. If the commit is already public, use git revert instead: it creates a new "
        "commit that undoes the changes of the old one.",
    ),
    (
        "Creating branches",
        "To create a new branch, run git branch <name>. It points at the current commit. Use "
        "git switch <name> to start working on it, or git switch -c <name> to create and "
        "switch in one step.",
    ),
    (
        "Fetching",
        "git fetch downloads the commits and branches of a remote repository and stores them "
        "as remote-tracking branches such as origin/master; it does not change your own "
        "branches.",
    ),
]
HITS = [
    Hit(
        file=Path("/docs/git-user-manual.html"),
        page=None,
        score=1.0 / n,
        text=text,
        chunk_id=n,
        document_id=1,
        start=0,
        end=len(text),
        heading=heading,
        similarity=0.6,
    )
    for n, (heading, text) in enumerate(PASSAGES, start=1)
]


def ask(model: LlamaModel, question: str, history: Sequence[Turn] = ()) -> tuple[str, Answer]:
    streamed, answer = "", None
    events = answer_question(question, hits=HITS, model=model, history=history, settings=SETTINGS)
    for event in events:
        if isinstance(event, Token):
            streamed += event.text
        elif isinstance(event, AnswerFinished):
            answer = event.answer
    assert answer is not None
    return streamed, answer


def load(path: Path, home: Path) -> Iterator[LlamaModel]:
    info = ModelRegistry(Paths(home).ensure()).add(path)
    model = LlamaModel(info, context_length=2048)
    yield model
    model.close()


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaModel]:
    yield from load(smollm2_gguf, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def gemma3(gemma3_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaModel]:
    yield from load(gemma3_gguf, tmp_path_factory.mktemp("home"))


def check_clean(streamed: str, answer: Answer) -> None:
    assert answer.text.strip(), "an answer, not silence"
    assert not any(marker in streamed for marker in MARKERS), streamed
    assert find_loop(answer.text) is None and answer.notes == ()
    assert not answer.cancelled and answer.completion_tokens <= SETTINGS.max_answer_tokens


def test_smollm2_answers_in_its_own_chat_format(smollm2: LlamaModel) -> None:
    assert smollm2.info.kind == "instruct"
    assert smollm2.prompt_format == "chat template from the GGUF"
    prompt = smollm2.format_chat([{"role": "user", "content": "Hi"}])
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    streamed, answer = ask(smollm2, "How do I undo a commit?")
    check_clean(streamed, answer)
    print(answer.text)


def test_gemma3_base_answers_as_a_completion(gemma3: LlamaModel) -> None:
    assert gemma3.info.kind == "base"
    assert gemma3.prompt_format == "plain completion (base model)"
    streamed, answer = ask(gemma3, "How do I undo a commit?")
    check_clean(streamed, answer)
    assert "Question:" not in answer.text and "[4]" not in answer.text
    print(answer.text)
    # A follow-up continues the cached prompt in the same format.
    history = [Turn("user", answer.question), Turn("assistant", answer.text)]
    streamed, follow = ask(gemma3, "What does git fetch do?", history)
    check_clean(streamed, follow)
    assert gemma3.last_stats.cached_tokens > answer.prompt_tokens // 2
    print(follow.text)

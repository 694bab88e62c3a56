"""What the chat pipeline needs of a chat model, whatever runs it.

`ChatModel` is the protocol that engine/chat relies on. The llama.cpp model
(engine/llm/runtime.py `LlamaModel`), a model behind a remote OpenAI-compatible server and the
tests' scripted models all satisfy it, so answering never asks what kind of model it holds.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from engine.events import CancelToken
    from engine.llm.registry import ModelInfo


@dataclass(frozen=True)
class GenerationStats:
    """Figures of the last `stream_chat` call."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens reused from the model's cache instead of being evaluated again."""
    completion_tokens: int = 0
    seconds_to_first_token: float | None = None
    seconds: float = 0.0
    cancelled: bool = False


@runtime_checkable
class ChatModel(Protocol):
    """A loaded chat model, used from one thread at a time."""

    info: ModelInfo
    n_ctx: int
    """Tokens of context the model holds (prompt and reply together)."""
    last_stats: GenerationStats
    transcript: Any
    """The conversation the model's cache holds, kept by engine.chat.answer for follow-ups."""

    def count_tokens(self, text: str) -> int: ...

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int: ...

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        cancel: CancelToken | None = None,
        stop: list[str] | None = None,
    ) -> Generator[str, None, None]:
        """Yield the reply piece by piece; closing the generator stops generation."""
        ...

"""A chat model whose words the test chooses: it satisfies engine.llm.base.ChatModel."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.events import CancelToken
from engine.llm.base import GenerationStats
from engine.llm.registry import ModelInfo


class ScriptedModel:
    """Streams `reply` for every prompt; with `later`, every prompt after the first (a judging
    prompt, say) gets `later` instead. Tokens are counted as words."""

    n_ctx = 2048

    def __init__(self, reply: Sequence[str], *, later: str | None = None) -> None:
        self.reply = list(reply)
        self.later = later
        self.info = ModelInfo(
            name="scripted",
            path=Path("scripted.gguf"),
            size_bytes=0,
            architecture="llama",
            parameters=None,
            quantization="F32",
            context_length=2048,
            chat_template=None,
        )
        self.transcript: object = None
        self.last_stats = GenerationStats()
        self.prompts: list[list[dict[str, str]]] = []

    @property
    def messages(self) -> list[dict[str, str]]:
        """The last prompt."""
        return self.prompts[-1] if self.prompts else []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        cancel: CancelToken | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        self.prompts.append(messages)
        if self.later is not None and len(self.prompts) > 1:
            yield self.later
        else:
            yield from self.reply

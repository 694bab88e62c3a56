"""Request bodies of Hearth's API: OpenAI's shapes plus the `hearth` extension field.

Unknown OpenAI parameters (top_p, user, seed...) are accepted and ignored, so clients written
for OpenAI work unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HearthOptions(BaseModel):
    """`"hearth": {"collection": "manuals", "k": 5}`: answer from a collection's documents."""

    model_config = ConfigDict(extra="forbid")

    collection: str | None = None
    """Collection to answer from (None: the default collection)."""
    k: int | None = Field(default=None, ge=1, le=50)
    """Passages the answer is grounded in (None: the user's setting)."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text; the text parts of a multi-part message, joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream_options: dict[str, Any] | None = None
    hearth: HearthOptions | None = None

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    input: str | list[str]
    model: str = ""
    """A collection's name embeds with that collection's model; anything else: `hearth` or
    the default collection."""
    encoding_format: Literal["float", "base64"] = "float"
    hearth: HearthOptions | None = None

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    collection: str | None = None
    k: int = Field(default=10, ge=1, le=100)

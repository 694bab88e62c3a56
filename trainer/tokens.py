"""Training tokens exactly as chat will see them: llama.cpp's tokenizer, the GGUF's template.

transformers' tokenizer for a GGUF splits text after special tokens differently from
llama.cpp, and an adapter trained on other tokens than the ones it meets in chat learns the
wrong thing. So training text is rendered with the model's own chat template and tokenized by
llama.cpp from the same GGUF file (vocabulary only, no weights), following the same rules as
the engine's LlamaModel: control-token text inside a message is defused, BOS is added when the
vocabulary asks for it and the template has not written it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ModelError


@dataclass(frozen=True)
class Tokenized:
    """One training example as tokens; `trained[i]` marks the tokens the loss is taken on."""

    input_ids: tuple[int, ...]
    trained: tuple[bool, ...]
    line: int = 0
    """Where the example came from in the dataset file (1-based; 0 = unknown)."""

    @property
    def n_trained(self) -> int:
        return sum(self.trained)

    def to_json(self) -> dict[str, Any]:
        # The mask as a string of 0/1 keeps saved datasets compact and readable.
        return {
            "input_ids": list(self.input_ids),
            "trained": "".join("1" if t else "0" for t in self.trained),
            "line": self.line,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Tokenized:
        return cls(
            tuple(int(t) for t in raw["input_ids"]),
            tuple(c == "1" for c in raw["trained"]),
            int(raw.get("line", 0)),
        )


class ChatTokenizer:
    """The vocabulary and chat template of one GGUF model, loaded through llama.cpp."""

    def __init__(self, gguf_path: Path) -> None:
        try:
            import llama_cpp
            from llama_cpp._internals import LlamaModel
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            from engine.errors import MissingDependency

            raise MissingDependency("Tokenizing training data", "llama-cpp-python") from exc
        from engine.llm.runtime import CHATML_TEMPLATE

        self.path = Path(gguf_path)
        # The vocabulary alone, without the context `llama_cpp.Llama` would also make: a
        # context needs the model's hyper-parameters, which a vocabulary-only load lacks
        # (llama.cpp then warns of an "n_ctx_train (0)" overflow and allocates for nothing).
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        try:
            model = LlamaModel(path_model=str(self.path), params=params, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"llama.cpp could not read the vocabulary of {self.path.name}."
            ) from exc
        self._model = model
        self._vocab = model.vocab
        self.bos_id, self.eos_id = model.token_bos(), model.token_eos()
        self.bos_text = model.token_get_text(self.bos_id) if self.bos_id >= 0 else ""
        eos_text = model.token_get_text(self.eos_id) if self.eos_id >= 0 else ""
        self.template: str = model.metadata().get("tokenizer.chat_template") or CHATML_TEMPLATE
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._prompt = Jinja2ChatFormatter(
            template=self.template, eos_token=eos_text, bos_token=self.bos_text
        )
        self._whole = Jinja2ChatFormatter(
            template=self.template,
            eos_token=eos_text,
            bos_token=self.bos_text,
            add_generation_prompt=False,
        )
        self._control_texts = sorted(
            {
                model.token_get_text(t)
                for t in range(self.n_vocab)
                if llama_cpp.llama_vocab_is_control(self._vocab, t)
            }
            - {""},
            key=len,
            reverse=True,
        )

    @property
    def pad_id(self) -> int:
        """Padding never reaches the loss or attention; any valid id will do."""
        return self.eos_id if self.eos_id >= 0 else 0

    def _defuse(self, text: str) -> str:
        # The engine's ChatModel does the same, so a message that quotes "<|im_end|>" is
        # seen as plain text in training and in chat alike.
        for special in self._control_texts:
            if special in text:
                text = text.replace(special, special[:1] + "\u200b" + special[1:])
        return text

    def render(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool) -> str:
        """The chat as text with the model's template; ValueError if the template refuses it."""
        clean: Any = [{**m, "content": self._defuse(str(m.get("content", "")))} for m in messages]
        formatter = self._prompt if add_generation_prompt else self._whole
        return formatter(messages=clean).prompt

    def tokenize(self, rendered: str) -> list[int]:
        """Tokens of rendered chat text, special tokens parsed, BOS as llama.cpp's server adds it."""
        add_bos = not (self.bos_text and rendered.startswith(self.bos_text))
        return list(self._model.tokenize(rendered.encode("utf-8"), add_bos, True))

    def prompt_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The tokens chat feeds the model before its reply to `messages`."""
        return self.tokenize(self.render(messages, add_generation_prompt=True))

    def encode_chat(self, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[bool]]:
        """Tokens of a whole conversation and which of them are the assistant's replies.

        Each reply's tokens are those between the prompt that opens it and the conversation
        through it (its end-of-turn token included), so the model learns to stop. The whole
        text is tokenized once, as chat does with history; where a reply's first token would
        merge across the boundary, the boundary moves to the longest common prefix.
        """
        ids = self.tokenize(self.render(messages, add_generation_prompt=False))
        trained = [False] * len(ids)
        for k, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            start = _common_prefix(ids, self.prompt_tokens(messages[:k]))
            through = self.tokenize(self.render(messages[: k + 1], add_generation_prompt=False))
            end = _common_prefix(ids, through)
            for i in range(start, end):
                trained[i] = True
        return ids, trained

    def decode(self, ids: Sequence[int]) -> str:
        return self._model.detokenize(list(ids), special=True).decode("utf-8", errors="replace")


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

"""How much did the adapter help? Held-out loss and perplexity of base and adapter, and the
answers of both to the held-out questions, side by side.

Losses come from the training model itself (peft switches its adapter off for the base
figures), on the held-out split the run never trained on. Answers come from llama.cpp with the
exported GGUF adapter switched on and off, which is what chat will show.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Any, Protocol

from trainer.batches import collate, summed_nll
from trainer.tokens import Tokenized


class SwitchableChat(Protocol):
    """A chat model whose adapter can be switched (the engine's ChatModel is one)."""

    def chat(self, messages: list[dict[str, str]], **kw: Any) -> str: ...

    def set_adapter(self, adapter: Any, *, scale: float = 1.0) -> None: ...


def eval_loss(
    model: Any,
    examples: Sequence[Tokenized],
    *,
    batch_size: int,
    pad_id: int,
    device: str,
    autocast: Any = None,
) -> float | None:
    """Mean NLL per trained token over `examples` (None when there are none)."""
    import torch

    if not examples:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(examples), batch_size):
                batch = collate(examples[start : start + batch_size], pad_id=pad_id, device=device)
                with autocast or nullcontext():
                    total += float(summed_nll(model, batch))
                count += batch.n_trained
    finally:
        model.train(was_training)
    return total / count if count else None


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(min(loss, 700.0))  # beyond that the float overflows; it means "useless"


def base_eval_loss(model: Any, examples: Sequence[Tokenized], **kw: Any) -> float | None:
    """The same loss with the adapter switched off: the base model's figure."""
    with model.disable_adapter():
        return eval_loss(model, examples, **kw)


def compare_answers(
    chat: SwitchableChat,
    conversations: Sequence[Sequence[dict[str, str]]],
    *,
    adapter: Any,
    max_tokens: int,
    references: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield {question, reference, base, adapter} for each conversation's last question.

    Greedy decoding (temperature 0) so the comparison is reproducible. The adapter is switched
    per question and left off at the end.
    """
    try:
        for i, conversation in enumerate(conversations):
            prompt = list(conversation)
            question = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")
            chat.set_adapter(None)
            base = chat.chat(prompt, max_tokens=max_tokens, temperature=0.0)
            chat.set_adapter(adapter)
            adapted = chat.chat(prompt, max_tokens=max_tokens, temperature=0.0)
            yield {
                "question": question,
                "reference": references[i] if references else None,
                "base": base,
                "adapter": adapted,
            }
    finally:
        chat.set_adapter(None)

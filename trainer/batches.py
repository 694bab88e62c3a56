"""Batches and the loss: which examples go into each micro-batch, padded, and their NLL.

The order of examples is a pure function of the seed and the epoch, so a resumed run meets
exactly the batches the interrupted run would have met. The loss is the sum of negative
log-likelihoods of the trained (assistant) tokens; the recipe divides by the number of such
tokens in the whole optimizer step, so every token weighs the same however the examples are
cut into micro-batches.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainer.tokens import Tokenized


@dataclass(frozen=True)
class Batch:
    input_ids: Any
    attention_mask: Any
    labels: Any
    n_tokens: int
    """Real (not padding) tokens in the batch."""
    n_trained: int
    """Tokens the loss is taken on."""


def micro_batches_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, -(-n_examples // batch_size))


def micro_batch(n_examples: int, batch_size: int, *, index: int, seed: int) -> list[int]:
    """Example indices of the `index`-th micro-batch of the run (epochs follow each other)."""
    per_epoch = micro_batches_per_epoch(n_examples, batch_size)
    epoch, pos = divmod(index, per_epoch)
    order = list(range(n_examples))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order[pos * batch_size : (pos + 1) * batch_size]


def collate(examples: Sequence[Tokenized], *, pad_id: int, device: str) -> Batch:
    """Pad to the longest example; padding and prompt tokens get label -100 (no loss)."""
    import torch

    width = max(len(ex.input_ids) for ex in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for row, ex in enumerate(examples):
        n = len(ex.input_ids)
        ids[row, :n] = torch.tensor(ex.input_ids)
        mask[row, :n] = 1
        trained = torch.tensor(ex.trained)
        labels[row, :n] = torch.where(trained, ids[row, :n], torch.tensor(-100))
    n_trained = int((labels[:, 1:] != -100).sum())
    return Batch(
        ids.to(device),
        mask.to(device),
        labels.to(device),
        n_tokens=int(mask.sum()),
        n_trained=n_trained,
    )


def summed_nll(model: Any, batch: Batch) -> Any:
    """Sum of the negative log-likelihoods of the batch's trained tokens (a scalar tensor).

    Logits are computed only at the positions whose next token is trained (in any row of the
    batch): the output layer spans the whole vocabulary, so on the prompt's tokens it would
    cost a large share of the step (about a fifth of SmolLM2-135M's work per token) for
    nothing.
    """
    import torch.nn.functional as F

    targets = batch.labels[:, 1:]
    if _keeps_logits(model):
        keep = (targets != -100).any(dim=0).nonzero().squeeze(1)
        out = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, logits_to_keep=keep
        )
        targets = targets[:, keep]
        logits = out.logits.float()
    else:
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        logits = out.logits[:, :-1, :].float()
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )


def _keeps_logits(model: Any) -> bool:
    """Whether the causal LM under `model` (peft or not) takes `logits_to_keep` positions."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    kind: type[Any] = type(inner)
    if kind not in _TAKES_LOGITS_TO_KEEP:
        params = inspect.signature(kind.forward).parameters
        _TAKES_LOGITS_TO_KEEP[kind] = "logits_to_keep" in params
    return _TAKES_LOGITS_TO_KEEP[kind]


_TAKES_LOGITS_TO_KEEP: dict[type[Any], bool] = {}

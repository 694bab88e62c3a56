"""The GGUF LoRA export: llama.cpp with the adapter computes what peft computes.

Tolerance: both sides compute in float32 on the same F32 weights, but in different orders
(ggml's blocked matmuls and its LoRA as two extra products, torch's BLAS and peft's), so the
logits differ by float32 rounding, measured at about 2e-6 for logits of size ~5. llama.cpp
must keep its KV cache in F32 for this (its default F16 cache alone makes differences near
1e-3). We allow 1e-4: a wrong orientation, name or q/k permutation gives differences of order 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trainer_testkit import llama_cpp_logits

from trainer.errors import ExportError
from trainer.export import export_gguf_lora, permute_rows
from trainer.model import training_checkpoint

TOLERANCE = 1e-4


def random_adapter(gguf: Path, home: Path, out: Path) -> tuple[Any, Path]:
    """A peft LoRA with random A and B (so every weight matters) saved as a peft folder."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    checkpoint, _ = training_checkpoint(gguf, home / "cache")
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32)
    torch.manual_seed(0)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        init_lora_weights=False,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    )
    peft_model = get_peft_model(model, config).eval()
    peft_model.save_pretrained(str(out))
    return peft_model, out


def peft_logits(model: Any, tokens: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].float().numpy()


TOKENS = [1, 939, 776, 13, 702, 854, 781, 520, 670, 907, 529, 881, 940, 348, 13, 939, 933, 13]


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_llama_cpp_with_the_adapter_matches_peft(
    arch: str, tiny_gguf: Path, tiny_qwen_gguf: Path, hearth_home: Path, tmp_path: Path
) -> None:
    gguf = tiny_gguf if arch == "llama" else tiny_qwen_gguf
    tokens = TOKENS if arch == "llama" else [5, 60, 70, 80, 90, 100, 7, 8, 9, 300, 301]
    model, folder = random_adapter(gguf, hearth_home, tmp_path / "adapter")
    adapter = export_gguf_lora(folder, base_gguf=gguf, out=tmp_path / "adapter.gguf")

    expected = peft_logits(model, tokens)
    with model.disable_adapter():
        base = peft_logits(model, tokens)
    got = llama_cpp_logits(gguf, tokens, adapter)
    assert np.abs(base - expected).max() > 1.0  # the adapter changes the logits a lot
    assert np.abs(got - expected).max() < TOLERANCE
    # And without the adapter llama.cpp computes the base model.
    assert np.abs(llama_cpp_logits(gguf, tokens, None) - base).max() < TOLERANCE


def test_without_the_q_k_permutation_llama_logits_are_wrong(
    tiny_gguf: Path, hearth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trainer.export

    model, folder = random_adapter(tiny_gguf, hearth_home, tmp_path / "adapter")
    monkeypatch.setattr(trainer.export, "needs_qk_permutation", lambda arch: False)
    unpermuted = export_gguf_lora(folder, base_gguf=tiny_gguf, out=tmp_path / "raw.gguf")
    got = llama_cpp_logits(tiny_gguf, TOKENS, unpermuted)
    assert np.abs(got - peft_logits(model, TOKENS)).max() > 100 * TOLERANCE


def test_permutation_is_the_inverse_of_transformers_reading_the_gguf() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    rng = np.random.default_rng(0)
    for n_head, n_kv, rows in ((4, 4, 64), (4, 2, 32), (32, 8, 1024)):
        w = rng.standard_normal((rows, 3)).astype(np.float32)
        undone = LlamaTensorProcessor()._reverse_permute_weights(w, n_head, n_kv)
        assert np.array_equal(permute_rows(undone, n_head, n_kv), w)


def test_an_adapter_for_another_model_is_refused(
    tiny_gguf: Path, hearth_home: Path, tmp_path: Path
) -> None:
    from support.tiny_gguf import write_tiny_gguf

    _, folder = random_adapter(tiny_gguf, hearth_home, tmp_path / "adapter")
    wider = write_tiny_gguf(tmp_path / "wide.gguf", n_embd=128, n_ff=256)
    with pytest.raises(ExportError, match=r"trained on a different model|has shape"):
        export_gguf_lora(folder, base_gguf=wider, out=tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_dora_is_refused(tmp_path: Path, tiny_gguf: Path) -> None:
    (tmp_path / "adapter_config.json").write_text('{"r": 4, "lora_alpha": 8, "use_dora": true}')
    with pytest.raises(ExportError, match="DoRA"):
        export_gguf_lora(tmp_path, base_gguf=tiny_gguf, out=tmp_path / "x.gguf")

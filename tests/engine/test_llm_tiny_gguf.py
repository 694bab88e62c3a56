"""The tiny GGUF that tests (and the trainer) use is one file both llama.cpp and transformers
read the same way: same weights, same logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.tiny_gguf import write_tiny_gguf

from engine.llm.runtime import plain_cpu_buffers

TEXT = "<|im_start|>user\nWhat does the manual say about the pump pressure?<|im_end|>\n"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_transformers_and_llama_cpp_agree(tmp_path: Path, arch: str) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import llama_cpp

    path = write_tiny_gguf(tmp_path / f"tiny-{arch}.gguf", arch=arch)
    # An F32 KV cache, so that only the arithmetic order differs between the two.
    with plain_cpu_buffers():  # as Hearth loads its models
        llm = llama_cpp.Llama(
            str(path), n_ctx=256, logits_all=True, type_k=0, type_v=0, verbose=False
        )
    tokens = llm.tokenize(TEXT.encode(), add_bos=True, special=True)
    llm.eval(tokens)
    ours = np.array(llm.scores[: len(tokens)])
    llm.close()

    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(tmp_path), gguf_file=path.name, dtype=torch.float32
    )
    with torch.no_grad():
        theirs = hf(torch.tensor([tokens])).logits[0].numpy()
    assert theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() < 1e-4
    assert ours.std() > 0.1, "random weights still give logits that tell tokens apart"

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    assert tokenizer.eos_token == "<|im_end|>"
    assert (
        tokenizer.decode(tokenizer("the pump")["input_ids"], skip_special_tokens=True).strip()
        == "the pump"
    )

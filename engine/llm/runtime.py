"""Running a GGUF chat model with llama.cpp: load, stream, cancel, switch adapters.

`LlamaModel` wraps one `llama_cpp.Llama`. It formats chats with the GGUF's own template, streams
text token by token through `Llama.generate` (sampling happens in llama.cpp, and a prompt that
starts like the previous one reuses the cached prefix), stops promptly when cancelled -- also in
the middle of a long prompt, through llama.cpp's abort callback -- and switches LoRA adapters
without reloading the base weights. `ModelRuntime` keeps at most one model loaded and refuses,
with numbers, a model that cannot fit in memory.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.errors import MissingDependency, ModelError, ModelTooLarge
from engine.events import CancelToken
from engine.llm.base import GenerationStats
from engine.llm.registry import ModelInfo

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""Kept for the trainer's tokenizer; chat uses llama.cpp's built-in templates (see
`builtin_template`) for an instruct model whose GGUF carries none."""

BUILTIN_TEMPLATES = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "mistral": "mistral-v7",
    "mistral3": "mistral-v7",
    "phi3": "phi3",
    "phimoe": "phi3",
    "qwen": "chatml",
    "qwen2": "chatml",
    "qwen2moe": "chatml",
    "qwen3": "chatml",
    "qwen3moe": "chatml",
    "command-r": "command-r",
    "cohere2": "command-r",
    "deepseek2": "deepseek2",
    "granite": "granite",
    "exaone": "exaone3",
    "chatglm": "chatglm4",
    "olmo2": "chatml",
    "smollm3": "chatml",
}
"""Architecture -> name of a chat template built into llama.cpp (`llama_chat_apply_template`),
for an instruct model whose GGUF carries no template of its own."""

COMPLETION_STOPS = ["\n\n", "\nQuestion:", "\nPassages:"]
"""Where a base model's answer ends: after its first paragraph. Past it, Gemma 3 270M went on
with the next question, more numbered passages ("[6] manual.pdf …") or a stray page number."""


def builtin_template(architecture: str, vocab_size: int) -> str:
    """The llama.cpp template name for an instruct model of `architecture` without a template.

    Llama 3 and Llama 2 share the architecture name "llama"; Llama 3's 128k vocabulary tells
    them apart. An unknown architecture gets ChatML, the most widely trained format.
    """
    if architecture == "llama":
        return "llama3" if vocab_size >= 128_000 else "llama2"
    return BUILTIN_TEMPLATES.get(architecture, "chatml")


def completion_prompt(messages: list[dict[str, str]]) -> str:
    """The plain-text prompt that drives a base model: no chat markers, just a document that an
    answer naturally continues ("Question: … Answer:").

    The system message opens the text; each user message ends with its "Question: …" line
    (added when the message has none) and is followed by "Answer:", filled by the assistant's
    earlier reply or, last, left open for the model.
    """
    parts: list[str] = []
    for m in messages:
        role, content = m.get("role", ""), str(m.get("content", "")).strip()
        if role == "system":
            parts.append(content + "\n\n")
        elif role == "user":
            last_line = content.rsplit("\n", 1)[-1]
            if not last_line.startswith("Question:"):
                content = f"Question: {content}" if "\n" not in content else content
            parts.append(content + "\nAnswer:")
        elif role == "assistant":
            parts.append(f" {content}\n\n")
    return "".join(parts)


@dataclass(frozen=True)
class Sampling:
    """How llama.cpp picks each token (besides the temperature, which is the user's setting).

    The defaults are what small models need to stay on track: a mild repetition penalty over
    the last 64 tokens (without it SmolLM2 wrote "data" 150 times in a row), and min-p/top-p
    to cut the long tail of unlikely tokens. A GGUF that recommends values
    (`general.sampling.*`) overrides them.
    """

    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64

    @classmethod
    def for_model(cls, recommended: dict[str, float]) -> Sampling:
        """Hearth's defaults with the GGUF's recommendations applied (temperature aside: answers
        from documents keep the low temperature the user chose)."""
        known = {
            key: type(getattr(cls(), key))(value)
            for key, value in recommended.items()
            if key in ("top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n")
        }
        return replace(cls(), **known)


_GB = 1024**3


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as e:
        raise MissingDependency("Chatting with a local model", "llama-cpp-python") from e
    return llama_cpp


def gpu_offload_available() -> bool:
    """True when this llama.cpp build can put layers on a GPU (CUDA, Metal, Vulkan...)."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


def amx_build() -> bool:
    """True when this llama.cpp build multiplies quantized weights with AMX tiles (built for an
    Intel Xeon of the Sapphire Rapids generation or later)."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


_LOADING = threading.Lock()


@contextmanager
def plain_cpu_buffers() -> Iterator[None]:
    """Models loaded inside keep their weights in llama.cpp's ordinary CPU buffers where the
    build has AMX. Its AMX matrix products crash the process at the first token on some of
    these machines (llama.cpp #20824: a segmentation fault in `ggml_backend_amx_mul_mat`,
    seen here with SmolLM2's Q4_1 and Gemma 3's Q4_K_M), while the same build answers
    correctly with the AVX-512 code it also has. Elsewhere nothing changes: weights may still
    be repacked for the CPU's own instructions. `llama_cpp.Llama` takes no parameter for
    this, so its default model parameters are adjusted for the duration."""
    llama_cpp = _llama_cpp()
    defaults = llama_cpp.llama_cpp.llama_model_default_params
    if not amx_build() or not hasattr(defaults(), "use_extra_bufts"):
        yield
        return

    def without_extra_buffers() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _LOADING:
        llama_cpp.llama_cpp.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            llama_cpp.llama_cpp.llama_model_default_params = defaults


def available_memory() -> int:
    """Bytes of memory available to a new process now (MemAvailable on Linux)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62  # unknown: do not refuse


def default_threads() -> tuple[int, int]:
    """Threads for decoding and for prompt evaluation.

    Decoding is bound by memory bandwidth, and llama.cpp's threads wait for each other by
    spinning: when another program (or Hearth's own indexing) takes a core they were counting
    on, every token waits for it — on a loaded 2-core machine 2 threads decoded 6 tokens/s
    where 1 thread decoded 23. So decoding leaves one core free on machines with more than
    two. Prompt evaluation is bound by compute and is the wait a user sees first on a CPU, so
    it uses every core.
    """
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    logical = logical or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or logical
    except ImportError:
        physical = max(1, logical // 2)
    physical = max(1, min(physical, logical))
    decode = physical if physical <= 2 else physical - 1
    return decode, logical


class _LogCapture:
    """Collects llama.cpp's warning and error lines while a model or adapter loads.

    llama.cpp says why it refuses a file only in its log; the capture lets the ModelError carry
    that reason. The binding's own log handler is put back afterwards.
    """

    _lock = threading.Lock()
    _WARN, _ERROR, _CONT = 3, 4, 5  # enum ggml_log_level

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        llama_cpp = _llama_cpp()
        last = [0]

        @llama_cpp.llama_log_callback
        def collect(level: int, text: bytes, _data: ctypes.c_void_p) -> None:
            if level == self._CONT:
                level = last[0]
            last[0] = level
            if level in (self._WARN, self._ERROR):
                line = text.decode("utf-8", errors="replace").strip()
                if line:
                    self.lines.append((level, line))

        self._callback = collect

    def __enter__(self) -> _LogCapture:
        self._lock.acquire()
        _llama_cpp().llama_log_set(self._callback, ctypes.c_void_p(0))
        return self

    def __exit__(self, *exc: object) -> None:
        from llama_cpp import _logger

        _llama_cpp().llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        self._lock.release()

    def reason(self) -> str:
        """The most specific error llama.cpp logged, without its function-name prefix."""
        errors = [line for level, line in self.lines if level == self._ERROR]
        errors = errors or [line for _, line in self.lines]
        specific = [e for e in errors if not e.endswith("failed to load model")] or errors
        cleaned = []
        for line in specific[-2:]:
            line = re.sub(r"^\w+: ", "", line)  # the C function that logged it
            line = line.removeprefix("error loading model: ")
            cleaned.append(line)
        return "; ".join(dict.fromkeys(cleaned))


class LlamaModel:
    """One loaded GGUF model (a `ChatModel`). Use it from one thread at a time."""

    def __init__(
        self,
        info: ModelInfo,
        *,
        model_path: Path | None = None,
        context_length: int = 4096,
        gpu_layers: int = 0,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        llama_cpp = _llama_cpp()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = Path(model_path or info.path)
        if not path.is_file():
            raise ModelError(
                f"The model file of '{info.name}' is gone: {path}. Put it back, or remove the "
                f"model with `hearth models remove {info.name}` and add it again."
            )
        threads, threads_batch = default_threads()
        self.sampling = Sampling.for_model(info.sampling)
        if info.context_length > 0:
            # More context than the model was trained for only produces garbage.
            context_length = min(context_length, info.context_length)
        self.info = info
        self.path = path
        self.adapter: Path | None = None
        self.adapter_scale = 1.0
        self.last_stats = GenerationStats()
        self.transcript: Any = None
        """The conversation the cache holds, kept by engine.chat.answer for follow-ups."""
        self._adapters: dict[Path, Any] = {}
        self._cancel: CancelToken | None = None
        # A new sampling seed per reply (from a sequence fixed by `seed`): asking again, or
        # regenerating an answer, can give another wording; temperature 0 stays greedy.
        self._seeds = random.Random(seed)
        with _LogCapture() as log, plain_cpu_buffers():
            try:
                self._llm = llama_cpp.Llama(
                    str(path),
                    n_ctx=context_length,
                    n_batch=512,
                    n_gpu_layers=gpu_layers if gpu_offload_available() else 0,
                    n_threads=n_threads or threads,
                    n_threads_batch=n_threads or threads_batch,
                    seed=seed,
                    last_n_tokens_size=self.sampling.repeat_last_n,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as e:
                reason = log.reason() or str(e)
                raise ModelError(
                    f"llama.cpp could not load {path.name}: {reason}. The file may be damaged, "
                    "or made for a newer llama.cpp than this Hearth has."
                ) from e
        self.n_ctx: int = self._llm.n_ctx()
        model = self._llm._model
        self._vocab = model.vocab
        bos_id, eos_id = model.token_bos(), model.token_eos()
        self._bos_text = model.token_get_text(bos_id) if bos_id >= 0 else ""
        eos_text = model.token_get_text(eos_id) if eos_id >= 0 else ""
        template = self._llm.metadata.get("tokenizer.chat_template")
        self.kind = info.kind
        self._formatter: Any = None
        self._builtin: str | None = None
        if self.kind == "base":
            self.prompt_format = "plain completion (base model)"
        elif template:
            self.prompt_format = "chat template from the GGUF"
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=eos_text, bos_token=self._bos_text
            )
        else:
            self._builtin = builtin_template(
                info.architecture, llama_cpp.llama_vocab_n_tokens(self._vocab)
            )
            self.prompt_format = f"llama.cpp's built-in '{self._builtin}' template"
        self.chat_template: str | None = template
        n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._control_texts = sorted(
            {
                model.token_get_text(t)
                for t in range(n_vocab)
                if llama_cpp.llama_vocab_is_control(self._vocab, t)
            }
            - {""},
            key=len,
            reverse=True,
        )
        self._pieces: dict[int, bytes] = {}

        @llama_cpp.ggml_abort_callback
        def abort(_data: ctypes.c_void_p) -> bool:
            cancel = self._cancel
            return bool(cancel is not None and cancel.cancelled)

        self._abort = abort
        self._no_abort = llama_cpp.ggml_abort_callback()  # NULL: nothing to call per node

    # --- tokens -------------------------------------------------------------------------------

    def _live(self) -> Any:
        if self._llm is None:
            raise ModelError(f"The model '{self.info.name}' has been closed.")
        return self._llm

    def tokenize(self, text: str) -> list[int]:
        """Tokens of plain text (no BOS; special-token text stays text)."""
        if not text:
            return []
        return list(self._live().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def _defuse(self, text: str) -> str:
        """Keep control-token text inside a message (a document quoting "<|im_end|>") from
        being read as the real control token: a zero-width space splits it."""
        for special in self._control_texts:
            if special in text:
                text = text.replace(special, special[:1] + "\u200b" + special[1:])
        return text

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt text for `messages`, with the GGUF's chat template and the reply opened.

        Some templates (Gemma's, for one) refuse a system message; its text then opens the
        first user message instead.
        """
        import jinja2

        clean = [{**m, "content": self._defuse(str(m.get("content", "")))} for m in messages]
        if self.kind == "base":
            return completion_prompt(clean)
        if self._builtin is not None:
            return self._apply_builtin(clean)
        try:
            return self._formatter(messages=clean).prompt
        except (ValueError, jinja2.TemplateError) as e:
            if not clean or clean[0]["role"] != "system" or len(clean) < 2:
                raise ModelError(f"The chat template of {self.path.name} failed: {e}") from e
        system, first, *rest = clean
        folded = [{**first, "content": f"{system['content']}\n\n{first['content']}"}, *rest]
        try:
            return self._formatter(messages=folded).prompt
        except (ValueError, jinja2.TemplateError) as e:
            raise ModelError(f"The chat template of {self.path.name} failed: {e}") from e

    def _apply_builtin(self, messages: list[dict[str, str]]) -> str:
        """`messages` through llama.cpp's own template `self._builtin`, reply opened."""
        llama_cpp = _llama_cpp()
        raw = [(m["role"].encode(), m["content"].encode()) for m in messages]
        chat = (llama_cpp.llama_chat_message * len(raw))(
            *(llama_cpp.llama_chat_message(role=r, content=c) for r, c in raw)
        )
        size = 2 * sum(len(r) + len(c) for r, c in raw) + 256
        for _ in range(2):
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_chat_apply_template(
                str(self._builtin).encode(), chat, len(raw), True, buf, size
            )
            if n < 0:
                raise ModelError(
                    f"llama.cpp has no chat template called '{self._builtin}' for {self.path.name}."
                )
            if n <= size:
                return buf.raw[:n].decode("utf-8", errors="replace")
            size = n + 1
        raise ModelError(f"The chat template '{self._builtin}' could not format the prompt.")

    def chat_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        prompt = self.format_chat(messages)
        # Add BOS as llama.cpp's own server does: when the vocabulary asks for it and the
        # template has not written it already.
        add_bos = not (self._bos_text and prompt.startswith(self._bos_text))
        return list(self._live().tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens of `messages` rendered with the model's own chat template."""
        return len(self.chat_tokens(messages))

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            llama_cpp = _llama_cpp()
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            piece = buf.raw[: max(n, 0)]
            self._pieces[token] = piece
        return piece

    def next_token_logits(self, tokens: list[int]) -> Any:
        """Logits (numpy, one per vocabulary entry) for the token after `tokens`.

        Evaluates `tokens` from scratch with the current adapter; for checks such as "the
        adapter changes the model" and for comparing llama.cpp with other implementations.
        """
        import numpy as np

        llama_cpp = _llama_cpp()
        llm = self._live()
        llm.reset()
        llm.eval(list(tokens))
        n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        logits = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(logits, shape=(n_vocab,)).copy()

    # --- generation ---------------------------------------------------------------------------

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many of `tokens` llama.cpp holds in its cache from the previous call."""
        llm = self._live()
        n = 0
        for a, b in zip(llm.input_ids[: llm.n_tokens].tolist(), tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        cancel: CancelToken | None = None,
        stop: list[str] | None = None,
    ) -> Generator[str, None, None]:
        """Yield the reply to `messages` piece by piece.

        Stops at the model's end-of-generation token, at a `stop` string (not yielded), after
        `max_tokens`, or soon after `cancel` is set -- between tokens, or inside the prompt
        evaluation through llama.cpp's abort callback. The model stays usable either way.
        Figures land in `last_stats`.
        """
        llama_cpp = _llama_cpp()
        llm = self._live()
        started = time.perf_counter()
        tokens = self.chat_tokens(messages)
        if len(tokens) >= self.n_ctx:
            raise ModelError(
                f"The prompt needs {len(tokens)} tokens but the context holds {self.n_ctx}. "
                "Raise the context length in Settings or ask with fewer passages."
            )
        budget = max(0, min(max_tokens, self.n_ctx - len(tokens)))
        cached = self.cached_prefix(tokens)
        stats = GenerationStats(prompt_tokens=len(tokens), cached_tokens=cached)
        self.last_stats = stats
        if (cancel is not None and cancel.cancelled) or budget == 0:
            self.last_stats = replace(stats, cancelled=bool(cancel and cancel.cancelled))
            return

        stops = [s for s in (stop or []) if s]
        if self.kind == "base":
            stops += COMPLETION_STOPS
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""  # text held back: it may be the start of a stop string
        started_text = False
        produced = 0
        first_at: float | None = None
        cancelled = False
        self._cancel = cancel
        llm.set_seed(self._seeds.randrange(2**31))
        llama_cpp.llama_set_abort_callback(llm.ctx, self._abort, None)
        sampling = self.sampling
        generator = llm.generate(
            tokens,
            temp=temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
        )
        try:
            try:
                for token in generator:
                    if first_at is None:
                        first_at = time.perf_counter() - started
                        # The prompt is in; per-token decodes are short, so the callback
                        # (one Python call per graph node) is switched off again.
                        llama_cpp.llama_set_abort_callback(llm.ctx, self._no_abort, None)
                    if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                        break
                    produced += 1
                    pending += decoder.decode(self._piece(token))
                    if not started_text:
                        pending = pending.lstrip()
                        started_text = bool(pending)
                    out, pending, hit = _split_on_stops(pending, stops)
                    if out:
                        yield out
                    if hit or produced >= budget:
                        break
                    if cancel is not None and cancel.cancelled:
                        cancelled = True
                        break
                if not cancelled:
                    tail = pending + decoder.decode(b"", final=True)
                    out, _, _ = _split_on_stops(tail, stops, final=True)
                    if out:
                        yield out
            except RuntimeError as e:
                if cancel is not None and cancel.cancelled:
                    cancelled = True  # llama_decode returned "aborted" mid-prompt
                else:
                    raise ModelError(f"llama.cpp failed while generating: {e}") from e
        finally:
            generator.close()
            llama_cpp.llama_set_abort_callback(llm.ctx, self._no_abort, None)
            self._cancel = None
            self.last_stats = replace(
                stats,
                completion_tokens=produced,
                seconds_to_first_token=first_at,
                seconds=time.perf_counter() - started,
                cancelled=cancelled or bool(cancel is not None and cancel.cancelled),
            )

    def chat(self, messages: list[dict[str, str]], **kw: Any) -> str:
        """The whole reply as one string (see `stream_chat` for the arguments)."""
        return "".join(self.stream_chat(messages, **kw))

    # --- adapters -----------------------------------------------------------------------------

    def set_adapter(self, adapter: Path | None, *, scale: float = 1.0) -> None:
        """Apply the GGUF LoRA at `adapter` (None: the plain base model) without reloading.

        Each adapter file is loaded once (`llama_adapter_lora_init`) and kept; switching only
        changes the context's adapter list. The cached prompt is dropped, as it was computed
        with the previous weights.
        """
        llama_cpp = _llama_cpp()
        llm = self._live()
        if adapter is None:
            rc = llama_cpp.llama_set_adapters_lora(llm.ctx, None, 0, None)
        else:
            key = Path(adapter).resolve()
            handle = self._adapters.get(key)
            if handle is None:
                if not key.is_file():
                    raise ModelError(f"The adapter file {key} is gone. Put it back or remove it.")
                with _LogCapture() as log:
                    handle = llama_cpp.llama_adapter_lora_init(llm.model, str(key).encode())
                if not handle:
                    raise ModelError(
                        f"llama.cpp could not apply the adapter {key.name} to {self.path.name}: "
                        f"{log.reason() or 'it does not fit this model'}."
                    )
                self._adapters[key] = handle
            handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
            scales = (ctypes.c_float * 1)(scale)
            rc = llama_cpp.llama_set_adapters_lora(llm.ctx, handles, 1, scales)
        if rc != 0:
            raise ModelError(f"llama.cpp refused to switch the adapter (code {rc}).")
        llm.reset()
        self.adapter = Path(adapter).resolve() if adapter is not None else None
        self.adapter_scale = scale

    def close(self) -> None:
        """Free the model; adapters loaded on it are freed with it."""
        if getattr(self, "_llm", None) is not None:
            self._llm.close()
            self._llm = None
        self._adapters.clear()


def _split_on_stops(text: str, stops: list[str], *, final: bool = False) -> tuple[str, str, bool]:
    """Split `text` into (safe to emit, held back, stop string found)."""
    if not stops:
        return text, "", False
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut], "", True
    if final:
        return text, "", False
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                hold = max(hold, k)
                break
    return text[: len(text) - hold], text[len(text) - hold :], False


def estimate_memory(
    *,
    size_bytes: int,
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_head_kv: int,
    vocab_size: int,
    context_length: int,
    adapter_bytes: int = 0,
    cpu_fraction: float = 1.0,
) -> int:
    """Bytes of RAM a model needs: its weights, the F16 KV cache and working buffers."""
    kv_dim = n_embd * n_head_kv // n_head if n_head else n_embd
    kv_cache = 2 * n_layer * context_length * kv_dim * 2
    buffers = 128 * 1024**2 + vocab_size * 4 * 512  # compute graph and logits of a batch
    return int((size_bytes + adapter_bytes + kv_cache) * cpu_fraction) + buffers


class ModelRuntime:
    """Holds at most one loaded LlamaModel and hands it out, loading or switching as asked."""

    def __init__(
        self,
        *,
        available_memory: Callable[[], int] = available_memory,
        n_threads: int | None = None,
    ) -> None:
        self._available = available_memory
        self._n_threads = n_threads
        self._model: LlamaModel | None = None
        self._key: tuple[str, int, int] | None = None
        self._lock = threading.RLock()

    @property
    def loaded(self) -> LlamaModel | None:
        return self._model

    def _check_memory(
        self, info: ModelInfo, base: ModelInfo, context_length: int, gpu_layers: int
    ) -> None:
        """Raise ModelTooLarge when the model's estimated footprint exceeds free memory."""
        shape = base
        if not (base.n_layer and base.n_embd and base.n_head):
            from engine.llm.gguf_info import read_gguf_info

            g = read_gguf_info(base.path)  # an entry from before shapes were recorded
            shape = replace(
                base,
                size_bytes=g.size_bytes,
                context_length=g.context_length,
                n_layer=g.n_layer,
                n_embd=g.n_embd,
                n_head=g.n_head,
                n_head_kv=g.n_head_kv,
                vocab_size=g.vocab_size,
            )
        n_ctx = min(context_length, shape.context_length or context_length)
        cpu_fraction = 1.0
        if gpu_layers != 0 and gpu_offload_available() and shape.n_layer:
            on_gpu = shape.n_layer if gpu_layers < 0 else min(gpu_layers, shape.n_layer)
            cpu_fraction = (shape.n_layer - on_gpu) / shape.n_layer
        adapter = info.adapter
        adapter_bytes = adapter.stat().st_size if adapter and adapter.is_file() else 0
        model_bytes = base.path.stat().st_size
        need = estimate_memory(
            size_bytes=model_bytes,
            n_layer=shape.n_layer,
            n_embd=shape.n_embd,
            n_head=shape.n_head,
            n_head_kv=shape.n_head_kv or shape.n_head,
            vocab_size=shape.vocab_size,
            context_length=n_ctx,
            adapter_bytes=adapter_bytes,
            cpu_fraction=cpu_fraction,
        )
        free = self._available()
        if need > free:
            raise ModelTooLarge(
                f"'{info.name}' needs about {need / _GB:.1f} GB of memory with a context of "
                f"{n_ctx} tokens, but only {free / _GB:.1f} GB are free. Pick a smaller "
                "quantization (such as Q4_K_M) or a smaller model, lower the context length "
                "in Settings, or close other programs."
            )

    def get(
        self,
        info: ModelInfo,
        *,
        base: ModelInfo | None = None,
        context_length: int,
        gpu_layers: int,
    ) -> LlamaModel:
        """The model for `info`, loaded if needed; an adapter entry reuses a loaded base.

        `base` is the registry entry of an adapter entry's base model (its file is loaded).
        Raises ModelTooLarge when the estimate exceeds free memory, ModelError when llama.cpp
        refuses the file.
        """
        base = base or info
        model_path = Path(base.path)
        with self._lock:
            key = (str(model_path.resolve()), int(context_length), int(gpu_layers))
            if self._model is None or self._key != key:
                self.unload()
                if not model_path.is_file():
                    raise ModelError(
                        f"The model file of '{info.name}' is gone: {model_path}. Put it back, or "
                        f"remove the model with `hearth models remove {info.name}`."
                    )
                self._check_memory(info, base, context_length, gpu_layers)
                self._model = LlamaModel(
                    info,
                    model_path=model_path,
                    context_length=context_length,
                    gpu_layers=gpu_layers,
                    n_threads=self._n_threads,
                )
                self._key = key
            model = self._model
            wanted = info.adapter.resolve() if info.adapter else None
            if model.adapter != wanted:
                model.set_adapter(wanted)
            model.info = info
            return model

    def unload(self) -> None:
        with self._lock:
            if self._model is not None:
                self._model.close()
            self._model = None
            self._key = None

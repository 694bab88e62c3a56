"""The list of installed chat models, kept as JSON in the Hearth home.

A model is a GGUF file the user already has: Hearth references it where it lies and never copies
or deletes it. A "base + adapter" entry pairs an installed model with a GGUF LoRA adapter (for
example one Hearth fine-tuned); chat loads the base once and switches the adapter on and off.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.config import Paths
from engine.errors import ModelError, ModelNotFound
from engine.llm.gguf_info import check_adapter_fits, decide_kind, read_gguf_info

REGISTRY_FILE = "models.json"
_NAME_OK = re.compile(r"^[^\x00-\x1f/\\]{1,120}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class ModelInfo:
    """One installed model, or one "base + adapter" pairing."""

    name: str
    path: Path
    """The GGUF model file (for an adapter entry: its base model's file)."""
    size_bytes: int
    """Bytes on disk needed to run it (base and adapter together for an adapter entry)."""
    architecture: str
    parameters: int | None
    quantization: str
    context_length: int
    chat_template: str | None
    adapter: Path | None = None
    """GGUF LoRA applied on top of `path`; None for a plain model."""
    base: str | None = None
    """Name of the base model entry, for adapter entries."""
    added_at: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    """Free-form facts, such as the training run that made an adapter."""
    n_layer: int = 0
    n_embd: int = 0
    n_head: int = 0
    n_head_kv: int = 0
    vocab_size: int = 0
    """Shape of the model, kept to plan memory without reading the file again (0: unknown)."""
    kind: str = "instruct"
    """"instruct": chats through a chat template; "base": continues text, prompted as a plain
    completion (passages, then "Question: … Answer:")."""
    kind_reason: str = ""
    """How `kind` was decided, shown in the models list."""
    sampling: dict[str, float] = field(default_factory=dict)
    """Sampling recommended by the GGUF (`general.sampling.*`): top_k, top_p, min_p,
    temperature, repeat_penalty, repeat_last_n; empty when it carries none."""
    # --- a model behind a remote OpenAI-compatible server (engine/llm/remote.py) ---
    url: str | None = None
    """Base URL of the server's API (`http://host:port/v1`); None for a local GGUF file."""
    remote_model: str | None = None
    """Model id to ask the server for; None: the first model the server lists."""
    api_key_env: str | None = None
    """Name of the environment variable holding the server's API key (never the key itself)."""

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "architecture": self.architecture,
            "parameters": self.parameters,
            "quantization": self.quantization,
            "context_length": self.context_length,
            "chat_template": self.chat_template,
            "adapter": str(self.adapter) if self.adapter else None,
            "base": self.base,
            "added_at": self.added_at,
            "details": dict(self.details),
            "n_layer": self.n_layer,
            "n_embd": self.n_embd,
            "n_head": self.n_head,
            "n_head_kv": self.n_head_kv,
            "vocab_size": self.vocab_size,
            "kind": self.kind,
            "kind_reason": self.kind_reason,
            "sampling": dict(self.sampling),
            "url": self.url,
            "remote_model": self.remote_model,
            "api_key_env": self.api_key_env,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ModelInfo:
        kind, reason = raw.get("kind"), raw.get("kind_reason")
        if kind not in ("instruct", "base") and raw.get("url"):
            kind, reason = "instruct", "a chat server answers for it"
        elif kind not in ("instruct", "base"):  # an entry written before kinds were recorded
            details = raw.get("details") or {}
            kind, reason = decide_kind(
                chat_template=raw.get("chat_template"),
                names=[
                    ("its name", details.get("title")),
                    ("the file name", Path(raw["path"]).stem),
                ],
            )
        return cls(
            name=str(raw["name"]),
            path=Path(raw["path"]),
            size_bytes=int(raw.get("size_bytes") or 0),
            architecture=str(raw.get("architecture") or ""),
            parameters=raw.get("parameters"),
            quantization=str(raw.get("quantization") or ""),
            context_length=int(raw.get("context_length") or 0),
            chat_template=raw.get("chat_template"),
            adapter=Path(raw["adapter"]) if raw.get("adapter") else None,
            base=raw.get("base"),
            added_at=str(raw.get("added_at") or ""),
            details=dict(raw.get("details") or {}),
            n_layer=int(raw.get("n_layer") or 0),
            n_embd=int(raw.get("n_embd") or 0),
            n_head=int(raw.get("n_head") or 0),
            n_head_kv=int(raw.get("n_head_kv") or 0),
            vocab_size=int(raw.get("vocab_size") or 0),
            kind=str(kind),
            kind_reason=str(reason or ""),
            sampling=dict(raw.get("sampling") or {}),
            url=raw.get("url") or None,
            remote_model=raw.get("remote_model") or None,
            api_key_env=raw.get("api_key_env") or None,
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def choose_chat_model(models: Sequence[ModelInfo], preferred: str | None) -> ModelInfo | None:
    """The model that writes answers: `preferred` if installed, else the first plain model
    added (an adapter entry only when there is nothing else); None without models."""
    if preferred:
        for m in models:
            if m.name == preferred:
                return m
    plain = [m for m in models if m.adapter is None]
    choices = plain or list(models)
    return choices[0] if choices else None


class ModelRegistry:
    """Installed models, stored in `<home>/models/models.json`; safe to share between threads."""

    def __init__(self, paths: Paths) -> None:
        self._file = paths.models / REGISTRY_FILE
        self._lock = threading.Lock()

    # --- storage --------------------------------------------------------------------------------

    def _load(self) -> list[ModelInfo]:
        try:
            raw = json.loads(self._file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise ModelError(
                f"The list of installed models ({self._file}) could not be read: {e}. "
                "Move the file away and add your models again."
            ) from e
        return [ModelInfo.from_json(m) for m in raw.get("models", [])]

    def _save(self, models: list[ModelInfo]) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        data = {"version": 1, "models": [m.to_json() for m in models]}
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self._file)

    # --- queries --------------------------------------------------------------------------------

    def list(self) -> list[ModelInfo]:
        """Installed models in the order they were added."""
        with self._lock:
            return self._load()

    def get(self, name: str) -> ModelInfo:
        """The entry called `name` (exact, else case-insensitive); ModelNotFound otherwise."""
        models = self.list()
        for m in models:
            if m.name == name:
                return m
        folded = [m for m in models if m.name.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise ModelNotFound(name)

    def default(self, preferred: str | None) -> ModelInfo | None:
        """The model to chat with (see `choose_chat_model`)."""
        return choose_chat_model(self.list(), preferred)

    # --- changes --------------------------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> str:
        name = name.strip()
        if not _NAME_OK.match(name):
            raise ModelError(
                f"'{name}' cannot be a model name: use 1 to 120 characters, without slashes."
            )
        return name

    @staticmethod
    def _unique(stem: str, taken: set[str]) -> str:
        if stem not in taken:
            return stem
        n = 2
        while f"{stem}-{n}" in taken:
            n += 1
        return f"{stem}-{n}"

    def add(self, path: Path, *, name: str | None = None) -> ModelInfo:
        """Register the GGUF model at `path` (referenced in place, not copied) and return it.

        The name defaults to the file's stem, made unique with a number. Adding a file that is
        already registered returns its entry.
        """
        path = Path(path).expanduser()
        info = read_gguf_info(path)  # ModelError for a missing or non-GGUF file
        if info.is_adapter:
            raise ModelError(
                f"{path.name} is a LoRA adapter, not a model. Add the model it was trained on "
                "first, then add this adapter on top of it."
            )
        path = path.resolve()
        with self._lock:
            models = self._load()
            taken = {m.name for m in models}
            if name is None:
                for m in models:
                    if m.adapter is None and m.path == path:
                        return m
                final = self._unique(self._check_name(path.stem), taken)
            else:
                final = self._check_name(name)
                if final in taken:
                    raise ModelError(
                        f"A model named '{final}' is already installed. Choose another name, "
                        f"or remove it first with `hearth models remove {final}`."
                    )
            entry = ModelInfo(
                name=final,
                path=path,
                size_bytes=info.size_bytes,
                architecture=info.architecture,
                parameters=info.parameters,
                quantization=info.quantization,
                context_length=info.context_length,
                chat_template=info.chat_template,
                added_at=_now(),
                details={"title": info.name} if info.name else {},
                n_layer=info.n_layer,
                n_embd=info.n_embd,
                n_head=info.n_head,
                n_head_kv=info.n_head_kv,
                vocab_size=info.vocab_size,
                kind=info.kind,
                kind_reason=info.kind_reason,
                sampling=dict(info.sampling),
            )
            models.append(entry)
            self._save(models)
            return entry

    def add_adapter(
        self,
        *,
        base: str,
        adapter: Path,
        name: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> ModelInfo:
        """Register "base + adapter": the GGUF LoRA at `adapter` applied to model `base`."""
        base_info = self.get(base)
        if base_info.adapter is not None:
            raise ModelError(
                f"'{base_info.name}' already carries an adapter; choose its base model "
                f"'{base_info.base}' as the base instead."
            )
        adapter = Path(adapter).expanduser()
        info = read_gguf_info(adapter)
        if not info.is_adapter:
            raise ModelError(
                f"{adapter.name} is a model, not an adapter. Add it with `hearth models add`."
            )
        if info.adapter_type not in (None, "lora"):
            raise ModelError(
                f"{adapter.name} is a '{info.adapter_type}' adapter; Hearth applies LoRA adapters."
            )
        if info.architecture != base_info.architecture:
            raise ModelError(
                f"The adapter {adapter.name} was made for a {info.architecture} model, but "
                f"'{base_info.name}' is a {base_info.architecture} model. "
                "Use the model it was trained on as its base."
            )
        check_adapter_fits(adapter, base_info.path)
        adapter = adapter.resolve()
        with self._lock:
            models = self._load()
            taken = {m.name for m in models}
            if name is None:
                final = self._unique(f"{base_info.name}+{adapter.stem}", taken)
            else:
                final = self._check_name(name)
                if final in taken:
                    raise ModelError(
                        f"A model named '{final}' is already installed. Choose another name."
                    )
            entry = replace(
                base_info,
                name=final,
                size_bytes=base_info.size_bytes + info.size_bytes,
                adapter=adapter,
                base=base_info.name,
                added_at=_now(),
                details=dict(details or {}),
            )
            models.append(entry)
            self._save(models)
            return entry

    # --- remote endpoints ---------------------------------------------------------------------

    def add_remote(
        self,
        name: str,
        *,
        url: str,
        model: str | None = None,
        api_key_env: str | None = None,
        context_length: int = 0,
    ) -> ModelInfo:
        """Register a chat model served by an OpenAI-compatible server at `url` (…/v1).

        Only the name of the environment variable that holds the API key is stored, so the
        key never lands in Hearth's files.
        """
        url = check_remote_url(url)
        if api_key_env is not None and not _ENV_NAME.match(api_key_env):
            raise ModelError(
                f"'{api_key_env}' is not an environment variable name. Give the variable's "
                "name (such as MY_SERVER_KEY), not the key itself."
            )
        with self._lock:
            models = self._load()
            final = self._check_name(name)
            if final in {m.name for m in models}:
                raise ModelError(
                    f"A model named '{final}' is already installed. Choose another name, "
                    f"or remove it first with `hearth models remove {final}`."
                )
            entry = ModelInfo(
                name=final,
                path=Path(),
                size_bytes=0,
                architecture="remote",
                parameters=None,
                quantization="",
                context_length=max(0, int(context_length)),
                chat_template=None,
                added_at=_now(),
                url=url,
                remote_model=model or None,
                api_key_env=api_key_env or None,
                kind="instruct",
                kind_reason="a chat server answers for it",
            )
            models.append(entry)
            self._save(models)
            return entry

    def endpoints(self) -> builtins.list[ModelInfo]:
        """The remote models: every address outside this computer Hearth may talk to."""
        return [m for m in self.list() if m.is_remote]

    def remove(self, name: str) -> None:
        """Forget a model (and, for a base, the adapters on it); the files stay on disk."""
        target = self.get(name)
        with self._lock:
            models = self._load()
            kept = [m for m in models if m.name != target.name and m.base != target.name]
            self._save(kept)


def check_remote_url(url: str) -> str:
    """`url` normalised (no trailing slash) if it is an http(s) address with a host."""
    from urllib.parse import urlsplit

    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(
            f"'{url}' is not a server address. Give the API's base URL, such as "
            "http://192.168.1.20:8080/v1 (llama.cpp's llama-server) or http://gpu-box:8000/v1 "
            "(vLLM)."
        )
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as e:
        raise ModelError(f"The port in '{url}' is not a number.") from e
    return url

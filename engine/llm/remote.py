"""A chat model behind a remote OpenAI-compatible server (llama.cpp's llama-server, vLLM, ...).

`RemoteModel` satisfies the `ChatModel` protocol (engine/llm/base.py), so Hearth retrieves
and fits the prompt locally and only the fitted messages (passages, question, earlier turns)
go to the server, whose answer streams back over server-sent events. The HTTP and SSE side is
the official `openai` client's.

Context fitting needs token counts. Where the server offers a tokenizer it is used:
llama-cpp-python's server has `POST /extras/tokenize`, llama.cpp's `llama-server` has
`POST /tokenize`. The chat template's own tokens are not counted by those, so a margin per
message is added. A server without a tokenizer gets a safe estimate: one token per three
bytes of UTF-8, which overcounts English (about 4–5 bytes a token) and most other scripts.
The context length comes from the entry, else from the server where it says (llama.cpp's
`/props`, vLLM's `max_model_len`), else from Hearth's context setting.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.errors import MissingDependency, ModelError
from engine.llm.base import GenerationStats

if TYPE_CHECKING:
    from engine.events import CancelToken
    from engine.llm.registry import ModelInfo

TOKENS_PER_MESSAGE = 8
"""Margin for the chat template's own tokens around each message (ChatML uses about 5)."""
BYTES_PER_TOKEN_ESTIMATE = 3.0
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 600.0
"""A long prompt on a busy server may take minutes before its first token."""
_TOKENIZE_ROUTES = (
    ("/extras/tokenize", "input"),  # llama-cpp-python's server
    ("/tokenize", "content"),  # llama.cpp's llama-server
)


def _openai() -> Any:
    try:
        import openai
    except ImportError as e:
        raise MissingDependency("Chatting through a remote server", "openai") from e
    return openai


def api_root(url: str) -> str:
    """The server's root for its non-OpenAI routes: `http://h:p/v1` -> `http://h:p`."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _http_errors(name: str = "HTTPError") -> tuple[type[Exception], ...]:
    """The error class `name` of httpx (Hearth's own requests) and of the HTTP library under
    the openai client (httpx2 since openai 3), whose errors a stream the server drops lets
    through."""
    import importlib

    errors = []
    for library in ("httpx", "httpx2"):
        try:
            errors.append(getattr(importlib.import_module(library), name))
        except ImportError:
            pass
    return tuple(errors)


class RemoteModel:
    """A `ChatModel` answered by the OpenAI-compatible server of a registry entry."""

    def __init__(self, info: ModelInfo, *, context_length: int = 4096) -> None:
        if not info.url:
            raise ModelError(f"'{info.name}' is not a remote model.")
        openai = _openai()
        import httpx

        self.info = info
        self.url = info.url
        self.last_stats = GenerationStats()
        self.transcript: Any = None
        key = os.environ.get(info.api_key_env) if info.api_key_env else None
        if info.api_key_env and not key:
            raise ModelError(
                f"The remote model '{info.name}' needs its API key in the environment variable "
                f"{info.api_key_env}, which is not set. Set it and start Hearth again."
            )
        # The client must not send a real key from OPENAI_API_KEY to a server the user did not
        # give one for: an explicit placeholder is sent instead. Each client takes the timeout
        # of its own HTTP library (openai 3 is built on httpx2, not httpx).
        self._client = openai.OpenAI(
            base_url=self.url,
            api_key=key or "no-key",
            timeout=openai.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            max_retries=0,
        )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=api_root(self.url),
            headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            trust_env=False,
        )
        self._model_id: str | None = info.remote_model
        self._tokenize: tuple[str, str] | bool | None = False  # False: not probed yet
        self._down_since: float | None = None
        self._counts: OrderedDict[str, int] = OrderedDict()
        self.n_ctx: int = info.context_length or self._server_context() or context_length

    # --- the server ---------------------------------------------------------------------------

    def _fail(self, e: Exception) -> ModelError:
        """A message a person can act on, for anything that went wrong talking to the server."""
        openai = _openai()

        where = f"the chat server of '{self.info.name}' at {self.url}"
        if isinstance(e, (openai.APIConnectionError, *_http_errors("TransportError"))):
            return ModelError(
                f"Hearth cannot reach {where}: {e}. Check that the server is running and that "
                "the address is right (`hearth models info NAME`). Your documents and "
                "conversations are unchanged; ask again once it answers."
            )
        if isinstance(e, openai.AuthenticationError):
            env = self.info.api_key_env
            hint = (
                f"Check the key in the environment variable {env}."
                if env
                else "Give its key with `hearth models add-remote ... --api-key-env VAR`."
            )
            return ModelError(f"{where} refused the API key. {hint}")
        if isinstance(e, openai.NotFoundError):
            return ModelError(
                f"{where} does not serve the model '{self._model_id}' ({_detail(e)}). "
                "`hearth models info NAME` shows the model id; the server's /v1/models lists "
                "what it serves."
            )
        if isinstance(e, openai.APIStatusError):
            return ModelError(
                f"{where} answered with an error ({e.status_code}): {_detail(e)}. Nothing was "
                "lost; ask again, or see the server's log."
            )
        return ModelError(f"Talking to {where} failed: {e}. Nothing was lost; ask again.")

    def model_id(self) -> str:
        """The model id sent with each request: the entry's, else the first the server lists."""
        if self._model_id is None:
            openai = _openai()
            try:
                listed = list(self._client.models.list())
            except openai.APIError as e:
                raise self._fail(e) from e
            if not listed:
                raise ModelError(f"The server at {self.url} lists no models.")
            self._model_id = listed[0].id
        return self._model_id

    def check(self) -> list[str]:
        """The model ids the server lists (raises ModelError when it cannot be reached)."""
        openai = _openai()
        try:
            return [m.id for m in self._client.models.list()]
        except openai.APIError as e:
            raise self._fail(e) from e

    def _server_context(self) -> int | None:
        """The server's context length where its API tells (no error when it does not)."""
        import httpx

        try:
            r = self._http.get("/props")
            if r.status_code == 200:
                props = r.json()
                n = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get(
                    "n_ctx"
                )
                if n:
                    return int(n)
            r = self._http.get("/v1/models")
            if r.status_code == 200:
                for m in r.json().get("data", []):
                    if self._model_id in (None, m.get("id")) and m.get("max_model_len"):
                        return int(m["max_model_len"])
        except (httpx.HTTPError, ValueError, TypeError, AttributeError):
            pass  # an unreachable server says so when asked; a context length is not vital
        return None

    # --- tokens -------------------------------------------------------------------------------

    def _server_tokens(self, text: str) -> int | None:
        """Tokens of `text` by the server's tokenizer; None when the server has none."""
        import httpx

        if self._tokenize is None:
            return None
        if self._down_since is not None and time.monotonic() - self._down_since < 10.0:
            return None  # just failed to connect: do not wait again for every count
        routes = [self._tokenize] if self._tokenize else list(_TOKENIZE_ROUTES)
        for path, field in routes:  # type: ignore[misc]
            body: dict[str, Any] = {field: text}
            if field == "input":
                body["model"] = self._model_id or ""
            try:
                r = self._http.post(path, json=body)
            except httpx.HTTPError:
                self._down_since = time.monotonic()
                return None  # unreachable now: estimate, and let the request say why
            if r.status_code == 200:
                try:
                    tokens = r.json()["tokens"]
                except (ValueError, KeyError, TypeError):
                    continue
                self._tokenize = (path, field)
                return len(tokens)
        self._tokenize = None
        return None

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        cached = self._counts.get(text)
        if cached is not None:
            self._counts.move_to_end(text)
            return cached
        n = self._server_tokens(text)
        if n is None:
            n = math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN_ESTIMATE)
        self._counts[text] = n
        if len(self._counts) > 512:
            self._counts.popitem(last=False)
        return n

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens of `messages`, with a margin for the server's chat template."""
        body = sum(self.count_tokens(str(m.get("content", ""))) for m in messages)
        return body + TOKENS_PER_MESSAGE * (len(messages) + 1)

    # --- generation ---------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        cancel: CancelToken | None = None,
        stop: list[str] | None = None,
    ) -> Generator[str, None, None]:
        """Yield the server's reply piece by piece; closing the generator (or `cancel`) closes
        the HTTP stream, which makes the server stop generating."""
        openai = _openai()

        started = time.perf_counter()
        stats = GenerationStats(prompt_tokens=self.count_chat_tokens(messages))
        self.last_stats = stats
        if cancel is not None and cancel.cancelled:
            self.last_stats = replace(stats, cancelled=True)
            return
        produced = 0
        first_at: float | None = None
        started_text = False
        cancelled = False
        finished = False
        stream: Any = None
        try:
            try:
                stream = self._client.chat.completions.create(
                    model=self.model_id(),
                    messages=messages,
                    max_tokens=max(1, int(max_tokens)),
                    temperature=float(temperature),
                    stop=[s for s in (stop or []) if s] or None,
                    stream=True,
                )
                for chunk in stream:
                    if cancel is not None and cancel.cancelled:
                        cancelled = True
                        break
                    usage = getattr(chunk, "usage", None)
                    if usage is not None and usage.prompt_tokens:
                        stats = replace(stats, prompt_tokens=int(usage.prompt_tokens))
                    if not chunk.choices:
                        continue
                    finished = finished or bool(chunk.choices[0].finish_reason)
                    piece = chunk.choices[0].delta.content
                    if not piece:
                        continue
                    if first_at is None:
                        first_at = time.perf_counter() - started
                    produced += 1
                    if not started_text:
                        piece = piece.lstrip()
                        started_text = bool(piece)
                        if not piece:
                            continue
                    yield piece
            except (openai.APIError, *_http_errors()) as e:
                raise self._fail(e) from e
            if not finished and not cancelled:
                # llama_cpp.server, for one, reports a failure after the response began by
                # ending the stream: without a finish reason the answer is not complete.
                raise ModelError(
                    f"The chat server of '{self.info.name}' at {self.url} stopped sending the "
                    f"answer before it was finished (after {produced} pieces). Its log says "
                    "why; a prompt longer than the server's context is a common cause (set "
                    "the context length with `hearth models add-remote ... --context N`). "
                    "Nothing was lost; ask again."
                )
        finally:
            if stream is not None:
                stream.close()
            self.last_stats = replace(
                stats,
                completion_tokens=produced,
                seconds_to_first_token=first_at,
                seconds=time.perf_counter() - started,
                cancelled=cancelled or bool(cancel is not None and cancel.cancelled),
            )

    def close(self) -> None:
        self._client.close()
        self._http.close()


def _detail(e: Exception) -> str:
    """The server's own error text, without the client's wrapping."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return getattr(e, "message", None) or str(e)

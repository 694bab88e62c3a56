"""The HTTP API of `hearth serve`: OpenAI's routes plus retrieval, over Hearth's facade.

Why FastAPI on uvicorn: FastAPI validates OpenAI's request shapes with pydantic (which Hearth
already uses) and answers a malformed request with the field that is wrong; Starlette's
`StreamingResponse` does server-sent events and cancels the stream's task when the client
disconnects, which is how a dropped client stops generation here; uvicorn is the ASGI server
both are built and tested with, small, pure Python where no C extension is installed, and runs
in a background thread for the desktop app as well as in the foreground for the CLI. This
module imports FastAPI at the top: only engine/serve/server.py imports it, inside the
functions that start a server.

Routes:
- `GET /v1/models`: the chat models Hearth knows, "model+adapter" and remote entries included;
- `POST /v1/chat/completions`: OpenAI's shapes, streaming or not. With `"hearth":
  {"collection": ..., "k": ...}` the last user message is answered from that collection and
  the passages come back in the extension field `hearth.sources` (file, page, text) with the
  numbers the answer cites in `hearth.cited`; without it the messages go to the model as given;
- `POST /v1/embeddings`: a collection's embedding model;
- `GET /v1/collections`, `POST /v1/search`: retrieval alone.

Everything that touches the chat model runs on the one model thread (engine/serve/owner.py);
retrieval and embeddings run in the server's thread pool (collections take readers from any
thread, the embedder serializes itself).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.chat.answer import Turn
from engine.errors import CollectionNotFound, HearthError, ModelError, ModelNotFound
from engine.events import AnswerFinished, CancelToken, Hit, Retrieved, Token
from engine.facade import Hearth
from engine.llm.registry import ModelInfo
from engine.serve.config import ServeConfig
from engine.serve.guard import RequestGuard, error_body
from engine.serve.owner import ModelOwner, ServerBusy
from engine.serve.schemas import ChatRequest, EmbeddingsRequest, SearchRequest


class ApiError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    def __init__(self, status: int, message: str, *, type: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type=type, code=code)


def _hearth_error(e: HearthError) -> ApiError:
    if isinstance(e, (ModelNotFound, CollectionNotFound)):
        code = "model_not_found" if isinstance(e, ModelNotFound) else "collection_not_found"
        return ApiError(404, str(e), type="invalid_request_error", code=code)
    if isinstance(e, ServerBusy):
        return ApiError(503, str(e), type="server_busy", code="queue_full")
    if isinstance(e, ModelError):
        return ApiError(503, str(e), type="model_error", code="model_unavailable")
    return ApiError(400, str(e), type="invalid_request_error")


@dataclass(frozen=True)
class _Usage:
    """The last event of a plain chat: the model's figures."""

    prompt_tokens: int
    completion_tokens: int


def _source_json(n: int, hit: Hit) -> dict[str, Any]:
    return {
        "n": n,
        "file": str(hit.file),
        "page": hit.page,
        "text": hit.text,
        "heading": hit.heading,
        "title": hit.title,
        "score": hit.score,
        "start": hit.start,
        "end": hit.end,
    }


def _model_json(m: ModelInfo) -> dict[str, Any]:
    try:
        from datetime import datetime

        created = int(datetime.fromisoformat(m.added_at).timestamp()) if m.added_at else 0
    except ValueError:
        created = 0
    kind = "remote" if m.is_remote else "adapter" if m.adapter else "local"
    return {
        "id": m.name,
        "object": "model",
        "created": created,
        "owned_by": "hearth",
        "hearth": {"kind": kind, "base": m.base, "context_length": m.context_length or None},
    }


def _sse(obj: dict[str, Any] | str) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n"


def create_app(hearth: Hearth, config: ServeConfig, owner: ModelOwner) -> Any:
    """The ASGI application: FastAPI's routes inside the key and body-size guard."""
    app = FastAPI(
        title="Hearth",
        summary="Hearth's OpenAI-compatible API: your documents, your models, this computer.",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(e.body, status_code=e.status)

    @app.exception_handler(HearthError)
    async def hearth_error(_: Request, e: HearthError) -> JSONResponse:
        err = _hearth_error(e)
        return JSONResponse(err.body, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        message = "Invalid request: " + "; ".join(problems)
        return JSONResponse(error_body(message, type="invalid_request_error"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        body = error_body(str(e.detail), type="invalid_request_error")
        return JSONResponse(body, status_code=e.status_code)

    def find_model(name: str) -> ModelInfo:
        try:
            return hearth.models.get(name)
        except ModelNotFound as e:
            raise ApiError(
                404,
                f"Hearth has no model '{name}'. GET /v1/models lists the models it serves.",
                type="invalid_request_error",
                code="model_not_found",
            ) from e

    # --- models and retrieval ------------------------------------------------------------------

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        models = await run_in_threadpool(hearth.list_models)
        return {"object": "list", "data": [_model_json(m) for m in models]}

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str) -> dict[str, Any]:
        return _model_json(await run_in_threadpool(find_model, name))

    @app.get("/v1/collections")
    async def list_collections() -> dict[str, Any]:
        infos = await run_in_threadpool(hearth.list_collections)
        data = [
            {
                "id": c.name,
                "object": "collection",
                "documents": c.documents,
                "failed": c.failed,
                "chunks": c.chunks,
                "embedding_model": c.embedding_model,
            }
            for c in infos
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/search")
    async def search(body: SearchRequest) -> dict[str, Any]:
        hits = await run_in_threadpool(
            lambda: hearth.search(body.query, collection=body.collection, k=body.k)
        )
        return {"object": "list", "data": [_source_json(n, h) for n, h in enumerate(hits, 1)]}

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsRequest) -> dict[str, Any]:
        texts = body.texts()
        if not texts or len(texts) > config.max_inputs:
            raise ApiError(
                400,
                f"Give between 1 and {config.max_inputs} texts to embed.",
                type="invalid_request_error",
            )

        def run() -> tuple[str, Any]:
            collection = body.hearth.collection if body.hearth else None
            if collection is None and body.model:
                names = {c.name for c in hearth.list_collections()}
                collection = body.model if body.model in names else None
            info = hearth.collection_info(collection)
            return info.embedding_model, hearth.embed(texts, collection=info.name)

        name, vectors = await run_in_threadpool(run)
        data = []
        for i, row in enumerate(vectors):
            if body.encoding_format == "base64":
                value: Any = base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
            else:
                value = [float(x) for x in row]
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(len(t.split()) for t in texts)  # an indication; the embedder truncates
        return {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    # --- chat ----------------------------------------------------------------------------------

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        settings = hearth.settings
        asked = body.max_completion_tokens or body.max_tokens
        max_tokens = asked or min(settings.max_answer_tokens, config.max_tokens)
        if max_tokens > config.max_tokens:
            raise ApiError(
                400,
                f"max_tokens is {max_tokens}; this server allows at most {config.max_tokens}.",
                type="invalid_request_error",
                code="max_tokens_too_large",
            )
        temperature = settings.temperature if body.temperature is None else body.temperature
        info = await run_in_threadpool(find_model, body.model)
        created = int(time.time())
        reply_id = f"chatcmpl-{uuid.uuid4().hex}"
        cancel = CancelToken()

        if body.hearth is not None:
            last = body.messages[-1]
            question = last.text().strip()
            if last.role != "user" or not question:
                raise ApiError(
                    400,
                    "With 'hearth', the last message must be the user's question.",
                    type="invalid_request_error",
                )
            history = [
                Turn(m.role, m.text())
                for m in body.messages[:-1]
                if m.role in ("user", "assistant")
            ]
            collection = body.hearth.collection
            k = body.hearth.k
            await run_in_threadpool(hearth.collection_info, collection)  # 404 before streaming
            answer_settings = replace(
                settings,
                passages=k or settings.passages,
                temperature=temperature,
                # The settings' floor; a shorter max_tokens is enforced below, piece by piece.
                max_answer_tokens=max(16, max_tokens),
            )

            def make(token: CancelToken) -> Iterator[object]:
                return hearth.ask(
                    question,
                    collection=collection,
                    model=info.name,
                    history=history,
                    cancel=token,
                    settings=answer_settings,
                )

        else:
            messages = [
                {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                for m in body.messages
                if m.role in ("system", "developer", "user", "assistant")
            ]
            stops = body.stops()

            def make(token: CancelToken) -> Iterator[object]:
                model = hearth.load_model(info.name)
                stream = model.stream_chat(
                    messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    cancel=token,
                    stop=stops,
                )
                try:
                    for piece in stream:
                        yield Token(piece)
                finally:
                    stream.close()
                stats = model.last_stats
                yield _Usage(stats.prompt_tokens, stats.completion_tokens)

        try:
            events = owner.stream(make, cancel)
        except HearthError as e:
            raise _hearth_error(e) from e

        async def pieces() -> AsyncIterator[tuple[str, Any]]:
            """("sources", [...]), ("text", str) ..., then ("done", dict of final fields)."""
            produced = 0
            usage = {"prompt_tokens": 0, "completion_tokens": 0}
            extension: dict[str, Any] | None = None
            cut = False
            async for event in events:
                if isinstance(event, Retrieved):
                    sources = [_source_json(n, h) for n, h in enumerate(event.sources, 1)]
                    yield "sources", sources
                elif isinstance(event, Token) and not cut:
                    produced += 1
                    yield "text", event.text
                    if produced >= max_tokens:
                        cut = True
                        cancel.cancel()  # the rest of the events still arrive, then end
                elif isinstance(event, _Usage):
                    usage = {
                        "prompt_tokens": event.prompt_tokens,
                        "completion_tokens": event.completion_tokens or produced,
                    }
                elif isinstance(event, AnswerFinished):
                    a = event.answer
                    usage = {
                        "prompt_tokens": a.prompt_tokens,
                        "completion_tokens": a.completion_tokens or produced,
                    }
                    extension = {
                        "sources": [_source_json(n, h) for n, h in enumerate(a.sources, 1)],
                        "cited": list(a.cited),
                        "grounded": a.grounded,
                        "model": a.model,
                    }
            completion = usage["completion_tokens"]
            finish = "length" if cut or completion >= max_tokens else "stop"
            usage["completion_tokens"] = min(completion, max_tokens)
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            yield "done", {"finish_reason": finish, "usage": usage, "hearth": extension}

        def chunk(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
            finish = extra.pop("finish_reason", None)
            return {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": info.name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }

        if body.stream:

            async def sse() -> AsyncIterator[str]:
                try:
                    yield _sse(chunk({"role": "assistant", "content": ""}))
                    async for kind, value in pieces():
                        if kind == "sources":
                            yield _sse(chunk({}, hearth={"sources": value}))
                        elif kind == "text":
                            yield _sse(chunk({"content": value}))
                        else:
                            extra = {"hearth": value["hearth"]} if value["hearth"] else {}
                            yield _sse(chunk({}, finish_reason=value["finish_reason"], **extra))
                            if body.include_usage():
                                usage_chunk = chunk({}, usage=value["usage"])
                                usage_chunk["choices"] = []
                                yield _sse(usage_chunk)
                except HearthError as e:
                    yield _sse(_hearth_error(e).body)
                finally:
                    cancel.cancel()  # also when the client went away mid-stream
                yield _sse("[DONE]")

            return StreamingResponse(
                sse(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

        parts: list[str] = []
        final: dict[str, Any] = {}

        async def collect() -> None:
            async for kind, value in pieces():
                if kind == "text":
                    parts.append(value)
                elif kind == "done":
                    final.update(value)

        task = asyncio.ensure_future(collect())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.25)
                if not task.done() and await request.is_disconnected():
                    cancel.cancel()  # nobody will read the answer: stop writing it
            task.result()
        except HearthError as e:
            raise _hearth_error(e) from e
        finally:
            cancel.cancel()
        response: dict[str, Any] = {
            "id": reply_id,
            "object": "chat.completion",
            "created": created,
            "model": info.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(parts)},
                    "finish_reason": final.get("finish_reason", "stop"),
                }
            ],
            "usage": final.get("usage"),
        }
        if final.get("hearth"):
            response["hearth"] = final["hearth"]
        return response

    return RequestGuard(app, api_key=config.api_key, max_body_bytes=config.max_body_bytes)

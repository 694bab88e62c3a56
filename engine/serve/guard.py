"""The checks every request passes before a route sees it: the API key and the body size.

A plain ASGI middleware (no framework import): it answers 401 to a request without the key
and 413 to a body over the limit -- by its Content-Length header at once, and by counting
while the body arrives for a request that sends none (chunked).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_body(message: str, *, type: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, which its clients turn into typed exceptions."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


class _TooLarge(BaseException):
    """Not an Exception: the framework's body parsing turns those into 400, this must pass."""


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: Any = ()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class RequestGuard:
    """Refuses requests without the API key (when one is set) and bodies over `max_body_bytes`."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    def _authorized(self, scope: Scope) -> bool:
        if self.api_key is None:
            return True
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    # Constant time: the comparison must not tell how much of a guess was right.
                    return hmac.compare_digest(token.strip(), self.api_key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            await _send_json(
                send,
                401,
                error_body(
                    "This Hearth server needs an API key: send it as 'Authorization: Bearer "
                    "KEY' (the OpenAI client's api_key).",
                    type="invalid_request_error",
                    code="invalid_api_key",
                ),
                headers=[(b"www-authenticate", b"Bearer")],
            )
            return
        limit = self.max_body_bytes
        too_large = error_body(
            f"The request body is larger than this server accepts ({limit:,} bytes).",
            type="invalid_request_error",
            code="request_too_large",
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_json(send, 413, too_large)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, too_large)

"""What `hearth serve` binds to and the limits it holds every request to.

Loopback is the default. Any other address makes Hearth reachable from other computers, so
it requires an API key; with a key set, every request must carry it (`Authorization: Bearer`).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from engine.errors import HearthError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
API_KEY_ENV = "HEARTH_API_KEY"
"""Environment variable read for the key when none is given on the command line."""


class ServeError(HearthError):
    """The server cannot start as asked (an open address without a key, a port in use)."""


def is_loopback(host: str) -> bool:
    """True for addresses only this computer can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """Address and limits of the API server."""

    host: str = DEFAULT_HOST
    """Address to bind; anything but loopback requires `api_key`."""
    port: int = DEFAULT_PORT
    """TCP port; 0 picks a free one (tests, the benchmark)."""
    api_key: str | None = None
    """When set, requests without `Authorization: Bearer <key>` get 401."""
    max_body_bytes: int = 1 << 20
    """Largest request body accepted (413 beyond); 1 MiB holds a long conversation."""
    max_tokens: int = 4096
    """Largest `max_tokens` a request may ask for (400 beyond)."""
    max_waiting: int = 8
    """Generations that may wait for the model behind the running one (503 beyond)."""
    max_inputs: int = 512
    """Texts one embeddings request may carry."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServeError(f"{self.port} is not a TCP port (0 to 65535).")
        if self.api_key is not None and not self.api_key.strip():
            raise ServeError("The API key is empty. Give a key, or leave it out on loopback.")
        if not is_loopback(self.host) and not self.api_key:
            raise ServeError(
                f"Serving on {self.host} lets other computers reach Hearth and your documents. "
                f"Give an API key with --api-key (or the {API_KEY_ENV} environment variable), "
                "or serve on 127.0.0.1."
            )
        if self.max_body_bytes < 1024 or self.max_tokens < 1 or self.max_waiting < 0:
            raise ServeError("The server's limits must be positive.")

    @property
    def url(self) -> str:
        """The API's base URL (what an OpenAI client takes as `base_url`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @classmethod
    def from_env(cls, *, host: str, port: int, api_key: str | None) -> ServeConfig:
        """The config for the command line: the key from `api_key`, else HEARTH_API_KEY."""
        return cls(host=host, port=port, api_key=api_key or os.environ.get(API_KEY_ENV) or None)

"""Hearth as a local OpenAI-compatible HTTP server (`hearth serve`).

- config.py: what the server binds to and the limits it enforces (loopback unless a key);
- owner.py: the one thread that runs everything touching the chat model, in arrival order;
- app.py: the FastAPI application and its routes;
- server.py: running it in the foreground (the CLI) or in a background thread (the app).
"""

from __future__ import annotations

from engine.serve.config import ServeConfig
from engine.serve.owner import ModelOwner, ServerBusy

__all__ = ["ModelOwner", "ServeConfig", "ServerBusy"]

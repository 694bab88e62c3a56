"""Running the API: in the foreground for `hearth serve`, in a background thread for the
desktop app, the tests and the benchmark."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from engine.errors import MissingDependency
from engine.facade import Hearth
from engine.serve.config import ServeConfig, ServeError
from engine.serve.owner import Job, ModelOwner


def _uvicorn_config(hearth: Hearth, config: ServeConfig, owner: ModelOwner) -> Any:
    try:
        import uvicorn

        from engine.serve.app import create_app
    except ImportError as e:
        raise MissingDependency("Serving Hearth's API", "fastapi uvicorn") from e
    app = create_app(hearth, config, owner)
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # The one model answers one request at a time; past this many open connections
        # uvicorn answers 503 rather than piling up sockets.
        limit_concurrency=64,
        timeout_keep_alive=30,
    )


class ApiServer:
    """The API on a background thread; `start()` returns once it accepts connections."""

    def __init__(
        self,
        hearth: Hearth,
        config: ServeConfig,
        *,
        submit: Callable[[Job], None] | None = None,
    ) -> None:
        """`submit` runs model jobs on a thread the caller owns (the app's model lane);
        without it the server starts its own model thread."""
        self.hearth = hearth
        self.config = config
        self.owner = ModelOwner(max_waiting=config.max_waiting, submit=submit)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = config.port

    @property
    def url(self) -> str:
        """The API's base URL, with the port actually bound."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def begin(self) -> None:
        """Start serving in the background without waiting; `state` tells how it went."""
        self._failure: list[BaseException] = []
        self._stopping = False

        def run() -> None:
            try:
                import uvicorn

                server = uvicorn.Server(_uvicorn_config(self.hearth, self.config, self.owner))
                self._server = server
                if self._stopping:
                    return
                server.run()
            except BaseException as e:  # SystemExit from a failed bind included
                self._failure.append(e)

        self._thread = threading.Thread(target=run, name="hearth-api", daemon=True)
        self._thread.start()

    @property
    def state(self) -> str:
        """'starting', 'running', 'failed' or 'stopped'."""
        server, thread = self._server, self._thread
        if server is not None and server.started and thread is not None and thread.is_alive():
            if not self.port:
                sockets = [s for srv in server.servers for s in srv.sockets]
                if sockets:
                    self.port = int(sockets[0].getsockname()[1])
            return "running"
        if thread is not None and thread.is_alive():
            return "starting"
        return "failed" if getattr(self, "_failure", None) or thread is not None else "stopped"

    @property
    def error(self) -> str:
        """Why serving failed, in words a person can act on."""
        failure = getattr(self, "_failure", None)
        if failure and not isinstance(failure[0], SystemExit) and str(failure[0]):
            return f"Hearth could not serve on {self.config.host}:{self.config.port}: {failure[0]}"
        return (
            f"Hearth could not serve on {self.config.host}:{self.config.port}. Is another "
            "program using that port? Choose another port."
        )

    def start(self, timeout: float = 30.0) -> str:
        """Bind and serve; the base URL once it accepts connections. ServeError when the
        address cannot be bound."""
        self.begin()
        deadline = time.monotonic() + timeout
        while self.state == "starting" and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.state != "running":
            error = self.error
            self.stop()
            raise ServeError(error)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, end open streams, and stop the model thread."""
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._server = None
        self.port = self.config.port
        self.owner.close(timeout)

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(hearth: Hearth, config: ServeConfig) -> None:
    """`hearth serve`: serve until Ctrl-C (uvicorn handles the signals)."""
    import uvicorn

    owner = ModelOwner(max_waiting=config.max_waiting)
    server = uvicorn.Server(_uvicorn_config(hearth, config, owner))
    try:
        server.run()
    except SystemExit:
        pass  # uvicorn exits this way when it cannot bind; said below in Hearth's words
    finally:
        owner.close(timeout=5.0)
    if not server.started:
        raise ServeError(
            f"Hearth could not serve on {config.host}:{config.port}. Is another program using "
            "that port? Choose another with --port."
        )

"""Running the app with uvicorn: `serve(...)` blocks (the CLI), `start(...)` runs it in a background thread
(tests, notebooks). Shutdown (SIGINT/SIGTERM, or `.stop()`) stops accepting connections, lets in-flight
requests finish (up to `graceful_timeout_s`), then stops the batchers and closes the models."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from portkit.errors import BadInput, RuntimeUnavailable, require

from .models import ModelSource, ServedModel, load_models, model_sources
from .options import ServeOptions

_SPEC_ENV = "PORTKIT_SERVE_SPEC"


def _uvicorn():  # noqa: ANN202
    require("starlette", "serving models")
    return require("uvicorn", "serving models")


def _config(app: Any, options: ServeOptions, **extra: Any):  # noqa: ANN202
    uvicorn = _uvicorn()
    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        timeout_graceful_shutdown=options.graceful_timeout_s,
        access_log=False,
        lifespan="on",
        http="auto",  # httptools when installed (the serve extra), else h11
        loop="auto",  # uvloop when installed
        **extra,
    )


def _server_class():  # noqa: ANN202
    uvicorn = _uvicorn()

    class Server(uvicorn.Server):
        on_started: Callable[[Server], None] | None = None

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and self.on_started:
                self.on_started(self)

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # uvicorn re-raises the signal after shutting down; for portkit a stop by Ctrl+C or
            # SIGTERM that drained cleanly is a normal end (exit 0)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return Server


def check_address(host: str, port: int) -> None:
    """Fail in one line, before any model loads, when HOST:PORT cannot be listened on (busy port, unknown
    host, a privileged port): uvicorn would log an error and exit, or with --workers leave a manager up."""
    import errno

    if not 0 <= port <= 65535:
        raise BadInput(f"--port {port} is not a TCP port", hint="use 1..65535, or 0 to pick a free one")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise BadInput(f"--host '{host}' is not an address of this machine ({e})",
                       hint="use 127.0.0.1, 0.0.0.0 or a local interface's address") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise RuntimeUnavailable(f"port {port} on {host} is already in use",
                                         hint="stop what listens there, or pick another --port (0: any free port)"
                                         ) from e
            if e.errno == errno.EACCES:
                raise RuntimeUnavailable(f"no permission to listen on {host}:{port}",
                                         hint="ports below 1024 need privileges: pick --port 8000 or above") from e
            raise RuntimeUnavailable(f"cannot listen on {host}:{port} ({e.strerror or e})",
                                     hint="check --host and --port") from e


def bound_port(server: Any) -> int:
    for s in getattr(server, "servers", []):
        for sock in s.sockets:
            return sock.getsockname()[1]
    return 0


def serve(
    models: list[str], *, name: str | None = None, log: Callable[[str], None] | None = None, **options: Any
) -> None:
    """Serve `models` (paths, or NAME=PATH) over the Open Inference Protocol until interrupted.

    `options` are ServeOptions fields: host, port, provider, max_batch, max_delay_ms, workers,
    concurrency, threads, max_request_bytes, graceful_timeout_s, log_level.
    """
    opts = ServeOptions(**options)
    _uvicorn()  # a missing `serve` extra is exit 4 before any model loads
    check_address(opts.host, opts.port)
    sources = model_sources(list(models), name)
    loaded = load_models(sources, opts)  # in this process: a bad model is a one-line error, not a traceback
    say = log or (lambda _msg: None)
    for m in loaded.values():
        if getattr(m, "generates", False):
            held = f"up to {m.capacity} positions" if m.capacity else "a dynamic cache"
            say(f"model '{m.name}' ({m.source.format.value}, {m.runtime}): text generation with its cache, {held}")
            continue
        batching = (
            f"dynamic batching up to {m.max_batch} within {opts.max_delay_ms:g} ms"
            if m.max_batch > 1
            else "no batching (" + ("batch dim is static" if not m.batchable else "--max-batch 1") + ")"
        )
        say(f"model '{m.name}' ({m.source.format.value}, {m.runner.name}): {batching}")
    if opts.workers > 1:
        for m in loaded.values():
            m.close()
        _serve_processes(sources, opts, say)
        return
    from .app import create_app

    server = _server_class()(_config(create_app(loaded, opts), opts))
    server.on_started = lambda s: say(f"serving on http://{opts.host}:{bound_port(s)} (Ctrl+C to stop)")
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits when it cannot bind
        if server.started:
            raise
        raise RuntimeUnavailable(
            f"the server could not listen on {opts.host}:{opts.port}",
            hint="is the port in use? try another --port",
        ) from e
    finally:
        for m in loaded.values():
            m.close()
    if server.started:
        say("stopped")
    else:
        raise RuntimeUnavailable(
            f"the server did not start on {opts.host}:{opts.port}",
            hint="is the port in use? try another --port",
        )


def _serve_processes(sources: list[ModelSource], opts: ServeOptions, say: Callable[[str], None]) -> None:
    """`--workers N`: uvicorn's process manager; each worker loads the models itself (app_from_env)."""
    uvicorn = _uvicorn()
    os.environ[_SPEC_ENV] = json.dumps(
        {"sources": [[s.name, str(s.path)] for s in sources], "options": asdict(opts)}
    )
    say(f"serving on http://{opts.host}:{opts.port} with {opts.workers} worker processes (Ctrl+C to stop)")
    uvicorn.run(
        "portkit.serving.server:app_from_env",
        factory=True,
        workers=opts.workers,
        host=opts.host,
        port=opts.port,
        log_level=opts.log_level,
        timeout_graceful_shutdown=opts.graceful_timeout_s,
        access_log=False,
        http="auto",  # httptools when installed (the serve extra), else h11
        loop="auto",  # uvloop when installed
    )


def app_from_env() -> Any:
    """The app of one `--workers` process (uvicorn factory): models named in PORTKIT_SERVE_SPEC."""
    from .app import create_app

    spec = json.loads(os.environ[_SPEC_ENV])
    opts = ServeOptions(**spec["options"])
    sources = model_sources([f"{n}={p}" for n, p in spec["sources"]])
    return create_app(load_models(sources, opts), opts)


class RunningServer:
    """A server in a background thread of this process. `url` is host:port (tritonclient's form)."""

    def __init__(self, models: dict[str, ServedModel], options: ServeOptions) -> None:
        from .app import create_app

        self.models = models
        self.options = options
        self.app = create_app(models, options)
        self._server = _server_class()(_config(self.app, options))
        self._thread = threading.Thread(target=self._server.run, name="portkit-serve", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self.options.host}:{self.port}"

    @property
    def state(self) -> Any:
        return self.app.state.portkit

    def start(self, timeout_s: float = 30.0) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start on {self.options.host}:{self.options.port}")
            time.sleep(0.01)
        self.port = bound_port(self._server)
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        for m in self.models.values():
            m.close()

    def __enter__(self) -> RunningServer:
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(models: list[str], *, name: str | None = None, **options: Any) -> RunningServer:
    """Load `models` and serve them from a background thread; port 0 (the default here) picks a free one."""
    options.setdefault("port", 0)
    opts = ServeOptions(**options)
    _uvicorn()
    return RunningServer(load_models(model_sources(list(models), name), opts), opts).start()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


__all__ = ["serve", "start", "RunningServer", "app_from_env", "free_port"]

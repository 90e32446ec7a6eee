"""The Starlette application: Open Inference Protocol (KServe v2) endpoints over HTTP/JSON, the binary
tensor extension, Prometheus `/metrics`, and `{"error": ...}` bodies for every refused request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portkit.versions import PORTKIT

from .metrics import CONTENT_TYPE, Metrics
from .models import ServedModel
from .options import ServeOptions
from .protocol import ProtocolError, decode_request, encode_response

log = logging.getLogger("portkit.serving")
EXTENSIONS = ["binary_tensor_data", "model_configuration", "model_repository", "metrics"]
_OFFLOAD_BYTES = 256 * 1024  # decode bigger request bodies in a thread, off the event loop


class ServerState:
    def __init__(self, models: dict[str, ServedModel], options: ServeOptions) -> None:
        self.models = models
        self.options = options
        self.metrics = Metrics()
        self.ready = False
        for m in models.values():
            m.on_batch = (lambda name: lambda rows: self.metrics.batch_run(name, rows))(m.name)

    def model(self, name: str, version: str | None = None) -> ServedModel:
        m = self.models.get(name)
        if m is None:
            raise ProtocolError(404, f"unknown model '{name}'; this server has {sorted(self.models)}")
        if version is not None and version != m.version:
            raise ProtocolError(404, f"model '{name}' has no version '{version}'; versions: [{m.version!r}]")
        return m


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(models: dict[str, ServedModel], options: ServeOptions | None = None) -> PortkitApp:
    """An ASGI app serving already-loaded models (see `portkit.serving.server` to run it)."""
    state = ServerState(models, options or ServeOptions())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for m in state.models.values():
            await m.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False  # uvicorn has drained in-flight requests by now
            for m in state.models.values():
                await m.stop()

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": state.ready}, status_code=200 if state.ready else 503)

    async def server_metadata(request: Request) -> Response:
        return JSONResponse({"name": "portkit", "version": PORTKIT, "extensions": EXTENSIONS})

    async def model_metadata(request: Request) -> Response:
        try:
            m = state.model(request.path_params["name"], request.path_params.get("version"))
        except ProtocolError as e:
            return error(e.status, e.message)
        return JSONResponse(m.metadata())

    async def model_ready(request: Request) -> Response:
        try:
            state.model(request.path_params["name"], request.path_params.get("version"))
        except ProtocolError as e:
            return error(e.status, e.message)
        return JSONResponse(
            {"name": request.path_params["name"], "ready": state.ready},
            status_code=200 if state.ready else 503,
        )

    async def model_config(request: Request) -> Response:
        try:
            m = state.model(request.path_params["name"], request.path_params.get("version"))
        except ProtocolError as e:
            return error(e.status, e.message)
        return JSONResponse(m.config())

    async def repository_index(request: Request) -> Response:
        return JSONResponse(
            [
                {"name": m.name, "version": m.version, "state": "READY" if state.ready else "UNAVAILABLE"}
                for m in state.models.values()
            ]
        )

    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(list(state.models)), media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        return error(getattr(exc, "status_code", 500), str(getattr(exc, "detail", exc)))

    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route(model, model_metadata),
        Route(versioned, model_metadata),
        Route(model + "/ready", model_ready),
        Route(versioned + "/ready", model_ready),
        Route(model + "/config", model_config),
        Route(versioned + "/config", model_config),
        # POST .../infer is answered by PortkitApp before Starlette routes anything; these routes give
        # other methods on those paths their 405
        Route(model + "/infer", _infer_is_post_only, methods=["POST"]),
        Route(versioned + "/infer", _infer_is_post_only, methods=["POST"]),
        Route("/v2/repository/index", repository_index, methods=["POST", "GET"]),
        Route("/metrics", metrics),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.portkit = state
    return PortkitApp(app, state)


class PortkitApp:
    """The ASGI entry point. `POST /v2/models/NAME[/versions/V]/infer` is the hot path: it is answered
    here, straight from the ASGI messages (no middleware stack, Request or Response objects, which cost
    more than a small model's inference); every other request goes to the Starlette app."""

    def __init__(self, app: Starlette, state: ServerState) -> None:
        self.app = app
        self.state = app.state  # `.state.portkit`, as on the Starlette app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _INFER_PATH.match(scope["path"])
            if match:
                await infer(self.state.portkit, match["name"], match["version"], scope, receive, send)
                return
        await self.app(scope, receive, send)


_INFER_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer$")
_JSON = [(b"content-type", b"application/json")]
_BINARY = [(b"content-type", b"application/octet-stream")]


async def infer(state: ServerState, name: str, version: str | None, scope: dict, receive: Any, send: Any) -> None:
    started = time.perf_counter()
    label, status = "", 200
    state.metrics.in_flight += 1
    try:
        try:
            m = state.model(name, version)
            label = m.name
            if not state.ready:
                raise ProtocolError(503, "server is not ready")
            headers = _headers(scope)
            body = await read_body(headers, receive, state.options.max_request_bytes)
            header_length = _header_length(headers)
            if len(body) > _OFFLOAD_BYTES:
                req = await asyncio.to_thread(decode_request, body, header_length, m.signature, name)
            else:
                req = decode_request(body, header_length, m.signature, name)
            outputs = await m.infer(req.inputs, req.parameters)
            payload, json_size = encode_response(m.name, m.version, req, outputs)
        except ProtocolError as e:
            status = e.status
            payload, json_size = _error_body(e.message), None
        except Exception as e:  # noqa: BLE001 - a server bug must not take the server down; log it fully
            status = 500
            log.exception("infer on model '%s' failed", name)
            payload, json_size = _error_body(f"internal error: {type(e).__name__}: {e}"), None
        response_headers = [(b"content-length", str(len(payload)).encode())]
        if json_size is None:
            response_headers += _JSON
        else:
            response_headers += _BINARY
            response_headers.append((b"inference-header-content-length", str(json_size).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
    finally:
        state.metrics.in_flight -= 1
        state.metrics.request_done(label, time.perf_counter() - started, status)


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


async def _infer_is_post_only(request: Request) -> Response:  # pragma: no cover - PortkitApp answers POST
    return error(500, "infer requests are answered by PortkitApp")


def _headers(scope: dict) -> dict[str, str]:
    """Request headers, lower-case names (ASGI gives them so), the last value of a repeated header."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _header_length(headers: dict[str, str]) -> int | None:
    value = headers.get("inference-header-content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ProtocolError(400, f"Inference-Header-Content-Length is not an integer: {value!r}") from None


async def read_body(headers: dict[str, str], receive: Any, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (before and after gzip/deflate decoding)."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ProtocolError(400, f"bad Content-Length {declared!r}") from None
        if n > limit:
            raise ProtocolError(413, f"request body of {n} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProtocolError(400, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = (headers.get("content-encoding") or "identity").lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ProtocolError(415, f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    d = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as e:
        raise ProtocolError(400, f"request body is not valid {encoding} data: {e}") from e
    if len(out) > limit or d.unconsumed_tail:
        raise ProtocolError(413, f"decompressed request body is over the limit of {limit} bytes")
    return out

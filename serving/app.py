"""The Starlette application: Open Inference Protocol (KServe v2) endpoints over HTTP/JSON, the binary
tensor extension, Prometheus `/metrics`, and `{"error": ...}` bodies for every refused request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portkit import __version__

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


def create_app(models: dict[str, ServedModel], options: ServeOptions | None = None) -> Starlette:
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
        return JSONResponse({"name": "portkit", "version": __version__, "extensions": EXTENSIONS})

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

    async def infer(request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["name"]
        label, status = "", 200
        state.metrics.in_flight += 1
        try:
            m = state.model(name, request.path_params.get("version"))
            label = m.name
            if not state.ready:
                raise ProtocolError(503, "server is not ready")
            body = await read_body(request, state.options.max_request_bytes)
            header_length = _header_length(request)
            if len(body) > _OFFLOAD_BYTES:
                req = await asyncio.to_thread(decode_request, body, header_length, m.signature, name)
            else:
                req = decode_request(body, header_length, m.signature, name)
            outputs = await m.infer(req.inputs)
            payload, json_size = encode_response(m.name, m.version, req, outputs)
            if json_size is None:
                return Response(payload, media_type="application/json")
            return Response(
                payload,
                media_type="application/octet-stream",
                headers={"Inference-Header-Content-Length": str(json_size)},
            )
        except ProtocolError as e:
            status = e.status
            return error(e.status, e.message)
        except Exception as e:  # noqa: BLE001 - a server bug must not take the server down; log it fully
            status = 500
            log.exception("infer on model '%s' failed", name)
            return error(500, f"internal error: {type(e).__name__}: {e}")
        finally:
            state.metrics.in_flight -= 1
            state.metrics.request_done(label, time.perf_counter() - started, status)

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
        Route(model + "/infer", infer, methods=["POST"]),
        Route(versioned + "/infer", infer, methods=["POST"]),
        Route("/v2/repository/index", repository_index, methods=["POST", "GET"]),
        Route("/metrics", metrics),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.portkit = state
    return app


def _header_length(request: Request) -> int | None:
    value = request.headers.get("inference-header-content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ProtocolError(400, f"Inference-Header-Content-Length is not an integer: {value!r}") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (before and after gzip/deflate decoding)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ProtocolError(400, f"bad Content-Length {declared!r}") from None
        if n > limit:
            raise ProtocolError(413, f"request body of {n} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = (request.headers.get("content-encoding") or "identity").lower()
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


def state_of(app: Any) -> ServerState:
    return app.state.portkit

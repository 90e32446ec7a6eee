"""Options of `portkit serve`, frozen: the server never sees CLI objects."""

from __future__ import annotations

from dataclasses import dataclass

from portkit.errors import BadInput
from portkit.options import PROVIDERS


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    provider: str = "cpu"
    max_batch: int = 8  # rows per merged execution; 1 turns dynamic batching off
    max_delay_ms: float = 2.0  # how long the first request of a batch waits for company
    workers: int = 1  # server processes (uvicorn workers), each with its own copy of the models
    concurrency: int = 2  # executions in flight per model (threads; onnxruntime sessions are thread-safe)
    threads: int | None = None  # onnxruntime intra-op threads per execution (None: its default)
    max_request_bytes: int = 64 * 1024 * 1024
    graceful_timeout_s: float = 30.0  # how long shutdown waits for in-flight requests
    log_level: str = "warning"

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise BadInput(f"unknown provider '{self.provider}'", hint=f"valid: {', '.join(PROVIDERS)}")
        for name in ("max_batch", "workers", "concurrency", "max_request_bytes"):
            if getattr(self, name) < 1:
                raise BadInput(f"--{name.replace('_', '-')} must be at least 1",
                               hint=f"e.g. --{name.replace('_', '-')} 1")
        if self.max_delay_ms < 0:
            raise BadInput("--max-delay-ms must not be negative", hint="e.g. --max-delay-ms 2 (0: no waiting)")
        if not 0 <= self.port <= 65535:
            raise BadInput(f"--port {self.port} is not a TCP port", hint="use 1..65535, or 0 to pick a free one")
        if self.threads is not None and self.threads < 1:
            raise BadInput("--threads must be at least 1", hint="omit it for onnxruntime's default")

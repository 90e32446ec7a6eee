"""Options of `portkit serve`, frozen: the server never sees CLI objects."""

from __future__ import annotations

from dataclasses import dataclass

from portkit.options import PROVIDERS, check_rules, option


@dataclass(frozen=True)
class ServeOptions:
    """Each field with its rules, checked when built (portkit.options.check_rules), as every option is."""

    host: str = "127.0.0.1"
    port: int = option(8000, ge=0, le=65535)  # 0: pick a free one
    provider: str = option("cpu", choices=PROVIDERS)
    max_batch: int = option(8, ge=1)  # rows per merged execution; 1 turns dynamic batching off
    max_delay_ms: float = option(2.0, ge=0)  # how long the first request of a batch waits for company
    workers: int = option(1, ge=1)  # server processes (uvicorn workers), each with its own copy of the models
    concurrency: int = option(2, ge=1)  # executions in flight per model (threads; onnxruntime sessions are safe)
    threads: int | None = option(None, ge=1)  # onnxruntime intra-op threads per execution (None: its default)
    max_request_bytes: int = option(64 * 1024 * 1024, ge=1)
    graceful_timeout_s: float = 30.0  # how long shutdown waits for in-flight requests
    log_level: str = "warning"

    def __post_init__(self) -> None:
        check_rules(self)

"""Options of `portkit serve`, frozen: the server never sees CLI objects."""

from __future__ import annotations

from dataclasses import dataclass

from portkit.options import PROVIDERS, check_rules, option


@dataclass(frozen=True)
class ServeOptions:
    """Each field with its rules, checked when built (portkit.options.check_rules), as every option is; a
    field with a `help` is a flag of `portkit serve`, generated from it (portkit.commands._options)."""

    host: str = option("127.0.0.1", help="Interface to listen on (0.0.0.0: every interface).")
    port: int = option(8000, ge=0, le=65535, short="-p", help="TCP port (0: pick a free one).")
    provider: str = option("cpu", choices=PROVIDERS, help="onnxruntime execution provider: cpu or cuda.")
    max_batch: int = option(8, ge=1,  # rows per merged execution; 1 turns dynamic batching off
                            help="Merge concurrent requests up to N rows (1: no batching).")
    max_delay_ms: float = option(2.0, ge=0,  # how long the first request of a batch waits for company
                                 help="How long a batch waits for more requests.")
    workers: int = option(1, ge=1,  # server processes (uvicorn workers), each with its own copy of the models
                          help="Server processes, each with its own copy of the models.")
    concurrency: int = option(2, ge=1,  # executions in flight per model (threads; onnxruntime sessions are safe)
                              help="Executions in flight per model (threads).")
    threads: int | None = option(None, ge=1,  # None: onnxruntime's default
                                 help="onnxruntime intra-op threads per execution.")
    # the command line gives it in MB (--max-request-mb, commands/serve.py): no flag of its own
    max_request_bytes: int = option(64 * 1024 * 1024, ge=1)
    graceful_timeout_s: float = 30.0  # how long shutdown waits for in-flight requests
    log_level: str = option("warning", help="uvicorn log level (info shows each start/stop).")

    def __post_init__(self) -> None:
        check_rules(self)

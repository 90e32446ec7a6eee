"""Options of `portkit serve` and `portkit export triton`, frozen: the server never sees CLI objects."""

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


# a Triton model name (and a recipe's names): a folder name in the model repository
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


@dataclass(frozen=True)
class TritonOptions:
    """`portkit export triton` and a recipe target's `export: {triton: ...}` (portkit.serving.triton): the flags
    and the recipe keys are generated from these fields, and built here they are checked by their rules."""

    name: str | None = option(None, recipe="triton", pattern=NAME,
                              help="Model name in the repository (default: file name).")
    max_batch: int | None = option(None, recipe="triton", ge=0,
                                   help="max_batch_size (default 8 when the batch dim is dynamic, else 0).")
    max_delay_us: int = option(2000, recipe="triton", ge=0, help="Dynamic batching queue delay (microseconds).")
    version: int = option(1, recipe="triton", ge=1, help="Model version folder.")
    instances: int = option(1, recipe="triton", ge=1, help="Model instances (instance_group count).")
    gpu: bool = option(False, recipe="triton", help="instance_group kind KIND_GPU (default KIND_CPU).")

    def __post_init__(self) -> None:
        check_rules(self)

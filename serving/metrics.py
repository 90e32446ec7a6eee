"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand: no extra dependency.

Updated only from the event loop thread, so plain integers suffice. With `--workers N` each server
process keeps its own numbers; Prometheus sums them per pod as usual.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # last: +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, cumulative = [], 0
        for bound, n in zip((*self.buckets, "+Inf"), self.counts, strict=True):
            cumulative += n
            le = bound if isinstance(bound, str) else _num(bound)
            out.append(f'{name}_bucket{{{labels},le="{le}"}} {cumulative}')
        out.append(f"{name}_sum{{{labels}}} {_num(self.sum)}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[str, int] = defaultdict(int)  # model -> infer requests handled
        self.errors: dict[tuple[str, int], int] = defaultdict(int)  # (model, HTTP status) -> count
        self.latency: dict[str, Histogram] = {}
        self.batch: dict[str, Histogram] = {}
        self.inferences: dict[str, int] = defaultdict(int)  # model -> rows inferred
        self.executions: dict[str, int] = defaultdict(int)  # model -> runtime calls
        self.in_flight = 0

    def request_done(self, model: str, seconds: float, status: int) -> None:
        self.requests[model] += 1
        if status >= 400:
            self.errors[(model, status)] += 1
        self.latency.setdefault(model, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch_run(self, model: str, rows: int) -> None:
        self.batch.setdefault(model, Histogram(BATCH_BUCKETS)).observe(rows)
        self.inferences[model] += rows
        self.executions[model] += 1

    def render(self, models: list[str]) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        family("portkit_inference_requests_total", "counter", "Infer requests handled, by model.")
        for m in sorted(set(models) | set(self.requests)):
            lines.append(f'portkit_inference_requests_total{{model="{_esc(m)}"}} {self.requests.get(m, 0)}')
        family(
            "portkit_inference_errors_total",
            "counter",
            "Infer requests answered with an error, by model and HTTP status ('' model: unknown name).",
        )
        for (m, status), n in sorted(self.errors.items()):
            lines.append(f'portkit_inference_errors_total{{model="{_esc(m)}",code="{status}"}} {n}')
        family("portkit_request_duration_seconds", "histogram", "Infer request latency in the server.")
        for m in sorted(self.latency):
            lines += self.latency[m].lines("portkit_request_duration_seconds", f'model="{_esc(m)}"')
        family(
            "portkit_batch_size",
            "histogram",
            "Rows per runtime execution (dynamic batching merges requests).",
        )
        for m in sorted(self.batch):
            lines += self.batch[m].lines("portkit_batch_size", f'model="{_esc(m)}"')
        family("portkit_inference_count_total", "counter", "Rows (samples) inferred, by model.")
        for m in sorted(self.inferences):
            lines.append(f'portkit_inference_count_total{{model="{_esc(m)}"}} {self.inferences[m]}')
        family("portkit_execution_count_total", "counter", "Runtime executions (batches), by model.")
        for m in sorted(self.executions):
            lines.append(f'portkit_execution_count_total{{model="{_esc(m)}"}} {self.executions[m]}')
        family("portkit_requests_in_flight", "gauge", "Infer requests being handled now.")
        lines.append(f"portkit_requests_in_flight {self.in_flight}")
        return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else f"{float(v):.1f}"


def _esc(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

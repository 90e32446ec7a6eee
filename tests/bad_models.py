"""PyTorch models that fail on purpose, for the error-path tests (imported by reference in a worker)."""
from __future__ import annotations

import torch


class RouteSensitive(torch.nn.Module):
    """Fails differently on each route: torch.export (the preferred torch → ONNX route) and torch.jit.trace
    (the fallback) raise their own reasons, so a test can see which one the error line leads with."""

    def forward(self, x):
        if torch.compiler.is_exporting() or torch.compiler.is_compiling():
            raise RuntimeError("export-route-reason")
        if torch.jit.is_tracing() or torch.jit.is_scripting():
            raise RuntimeError("trace-route-reason")
        return x * 2

"""Tiny PyTorch models with int/bool/fp16 inputs for tests/test_input_specs.py, saved the way users save
them: a bare `torch.jit.trace(m, x).save(path)` (no portkit signature inside). Run in a worker
(tests.conftest.build pattern): the pytest process never imports torch."""
from __future__ import annotations

from typing import Any


def _save(module: Any, args: tuple[Any, ...], path: str) -> None:
    import torch

    with torch.no_grad():
        torch.jit.trace(module.eval(), args, check_trace=False).save(path)


def fp16_model(path: str) -> None:
    """forward(x: float16 [N, 4]) -> float32 [N, 3]."""
    import torch

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x.float())

    torch.manual_seed(0)
    _save(M(), (torch.randn(2, 4).half(),), path)


def int32_model(path: str) -> None:
    """forward(ids: int32 [N, S]) -> float32 [N, S, 8] (an embedding of 50 rows)."""
    import torch

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(50, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.emb(ids.long()) * 2.0

    torch.manual_seed(0)
    _save(M(), (torch.randint(0, 50, (2, 5), dtype=torch.int32),), path)


def bool_model(path: str) -> None:
    """forward(x: float32 [N, 6], keep: bool [N, 6]) -> float32 [N, 6]."""
    import torch

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
            return torch.where(keep, x * 3.0, torch.zeros_like(x))

    _save(M(), (torch.randn(2, 6), torch.rand(2, 6) > 0.5), path)


def cnn(path: str, onnx_path: str | None = None) -> None:
    """A bare traced CNN (x: [N, 3, 16, 16] -> [N, 5]) and, when asked, the same model in ONNX."""
    import torch

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                            torch.nn.Flatten(), torch.nn.Linear(16, 5)).eval()
    x = torch.randn(1, 3, 16, 16)
    _save(m, (x,), path)
    if onnx_path:
        torch.onnx.export(m, (x,), onnx_path, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})

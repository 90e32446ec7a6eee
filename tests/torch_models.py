"""Torch modules named by reference in tests (tests.torch_models:Name). Imported only inside worker
processes: the pytest process never imports torch."""
from __future__ import annotations

import os
import signal

import torch


class DataDependent(torch.nn.Module):
    """Python control flow on tensor values: torch.export cannot capture it."""

    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


class Crasher(torch.nn.Module):
    """Kills the process that loads it, like a converter segfaulting on an odd graph."""

    def __init__(self) -> None:
        super().__init__()
        os.kill(os.getpid(), signal.SIGSEGV)

    def forward(self, x):
        return x

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


BUILDS = {"Counted": 0}


class Counted(torch.nn.Module):
    """Counts how often it is built in this process (one build per use is what the load path promises)."""

    input_shape = (1, 4)

    def __init__(self) -> None:
        super().__init__()
        BUILDS["Counted"] += 1
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


def loads_of(factory: str, script: str) -> dict[str, object]:
    """In a worker: the causal-LM probe then two loads of `factory` (the hop's, validation's), and a TorchScript
    runner of `script`; how many builds and torch.jit.load calls they cost."""
    from portkit.artifact import Artifact
    from portkit.formats import Format
    from portkit.generative.source import probe
    from portkit.runtimes.torch import TorchRunner, load_module

    md = {"dynamic": True}
    info = probe(factory, md)
    first = load_module(Artifact(factory, Format.TORCH, None, dict(md)))
    second = load_module(Artifact(factory, Format.TORCH, None, dict(md)))
    real, calls = torch.jit.load, []

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    torch.jit.load = counting
    try:
        runner = TorchRunner(Artifact(script, Format.TORCHSCRIPT, None, {}))
    finally:
        torch.jit.load = real
    return {"probe": info, "builds": BUILDS["Counted"], "distinct": first is not second,
            "script_loads": len(calls), "script_inputs": [s.name for s in runner.signature.inputs]}


class UnevenUpsample(torch.nn.Module):
    """GhostNetV2's decoupled attention in small: a gate computed on a map pooled by 2 and upsampled back
    (nearest) to the input's odd size, 3 → 7. litert-torch 0.10 lowers that nearest resize with other
    coordinates than PyTorch's (0.07 off, GhostNetV2 at 224: 0.018), while ONNX → onnx2tf carries it exactly."""

    input_shape = (1, 4, 7, 7)

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        gate = torch.sigmoid(self.conv(torch.nn.functional.avg_pool2d(x, 2, 2)))
        return x * torch.nn.functional.interpolate(gate, size=x.shape[-2:], mode="nearest")


class Noisy(torch.nn.Module):
    """Draws fresh noise on every call: no conversion can agree with it, on any route."""

    input_shape = (1, 4)

    def forward(self, x):
        return x + torch.rand_like(x)

"""Test models built from code (no downloads). Each function runs inside a worker process (see
conftest.build) and writes files, returning their paths — so the pytest process imports no framework."""
from __future__ import annotations

import warnings
from pathlib import Path


def torchvision_state_dict(arch: str, out_dir: str) -> str:
    """A torchvision architecture with seeded random weights conditioned as the coverage corpus does
    (benchmarks/corpus_models.py: BatchNorm statistics from data, zero-initialised heads given weights),
    with 10 classes, saved as a state_dict (the statistics are buffers in it)."""
    import torch

    from benchmarks.corpus_models import torchvision_model

    model = torchvision_model(arch)
    path = Path(out_dir) / f"{arch}.pt"
    torch.save(model.state_dict(), path)
    return str(path)


def torchvision_torchscript(arch: str, out_dir: str, size: int = 64, tied_bn: str = "") -> str:
    """The same conditioned architecture, traced to TorchScript at `size`. `tied_bn="a,b"` gives BatchNorm b
    the values of BatchNorm a (same width): equal tensors the TorchScript exporter deduplicates behind Identity
    nodes, as it did for every BatchNorm of an unconditioned model (statistics all 0/1)."""
    import torch

    from benchmarks.corpus_models import torchvision_model

    model = torchvision_model(arch, size)
    if tied_bn:
        src, dst = (model.get_submodule(n) for n in tied_bn.split(","))
        dst.load_state_dict(src.state_dict())
    script = torch.jit.trace(model, torch.rand(1, 3, size, size))
    path = Path(out_dir) / f"{arch}.ts.pt"
    torch.jit.save(script, str(path))
    return str(path)


def malicious_pickle(out: str, marker: str) -> str:
    """A torch.save()-style pickle whose unpickling would create `marker`."""
    import os
    import pickle
    import zipfile

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    data = pickle.dumps(Payload(), protocol=2)
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/version", "3\n")
    return out


def pickled_digits_module(out: str) -> str:
    """The digits CNN saved as a whole pickled module (what --allow-pickle is for)."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from samples.digits_torch import build

    torch.save(build(), out)
    return out


def pooled_torchscript(out: str) -> str:
    """A traced CNN whose shape arithmetic depends on H/W (alexnet's stem: strided conv, three max pools,
    then an adaptive pool to 6×6 from 1×1 at 64²): torch's TS2EPConverter alone fails to re-trace it."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                      nn.Conv2d(4, 4, 5, padding=2), nn.MaxPool2d(3, 2), nn.Conv2d(4, 4, 3, padding=1),
                      nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Linear(144, 5)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript tracing is deprecated: the format users still bring
        torch.jit.trace(m, torch.randn(1, 3, 64, 64)).save(out)
    return out


def attention_encoder():
    """A transformer encoder layer (nn.MultiheadAttention inside), seeded: referenced as
    `tests.models:attention_encoder`. In eval mode under no_grad its forward takes PyTorch's fused
    attention fast path unless the tracer turns it off."""
    import torch

    torch.manual_seed(0)
    return torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True).eval()


def channels_last_pool_head():
    """A ConvNeXt-style head: NHWC work, permuted back, then a global average pool (channels-last input
    to adaptive_avg_pool2d, which PyTorch decomposes into an as_strided): `tests.models:channels_last_pool_head`."""
    import torch

    class Head(torch.nn.Module):
        input_shape = (1, 3, 8, 8)

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
            self.norm = torch.nn.LayerNorm(6)
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.fc = torch.nn.Linear(6, 4)

        def forward(self, x):
            x = self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            return self.fc(self.pool(x).flatten(1))

    torch.manual_seed(0)
    return Head().eval()


def upsampling_pool_head():
    """VGG's head on a small image: AdaptiveAvgPool2d((3, 3)) of a 2×2 map (bins overlap and repeat),
    and a 5 → 2 pool (uneven bins): `tests.models:upsampling_pool_head`."""
    import torch

    class Head(torch.nn.Module):
        input_shape = (1, 3, 8, 8)

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=4, padding=1)  # 8×8 → 2×2
            self.up = torch.nn.AdaptiveAvgPool2d((3, 3))
            self.down = torch.nn.AdaptiveAvgPool2d((2, 1))
            self.fc = torch.nn.Linear(4 * 3 * 3 + 3 * 2, 5)

        def forward(self, x):
            odd = self.down(x[:, :, :5, :7])  # 5×7 → 2×1: uneven, overlapping bins
            return self.fc(torch.cat([self.up(self.conv(x)).flatten(1), odd.flatten(1)], 1))

    torch.manual_seed(0)
    return Head().eval()


def fused_attention_torchscript(out: str) -> str:
    """nn.MultiheadAttention traced in eval mode without grad, as users trace torchvision's ViT: the trace
    holds PyTorch's fused `aten::_native_multi_head_attention`, which no ONNX exporter has a symbolic for."""
    import torch

    class Attend(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    torch.manual_seed(0)
    m = Attend().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        script = torch.jit.trace(m, torch.randn(2, 5, 16))
    assert "aten::_native_multi_head_attention" in str(script.inlined_graph)  # the fused kernel was traced
    script.save(out)
    return out

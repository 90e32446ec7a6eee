"""Eager PyTorch module → TorchScript (torch.jit.trace; the signature is stored inside the archive)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._torch_common import example_args, module_and_signature, ranges_metadata, save_script

SOURCE = (Format.TORCH, Format.HF)  # an HF folder loads as a torch module (portkit.hf)
TARGET = Format.TORCHSCRIPT
REQUIRES = ("torch",)
COST = 0.5
TOOL = "torch.jit.trace"


@contextmanager
def _no_mha_fastpath(torch: Any) -> Iterator[None]:
    """nn.MultiheadAttention / TransformerEncoderLayer take a fused "fast path" in eval mode under no_grad;
    traced, it records `aten::_native_multi_head_attention`, which no ONNX exporter or onnx2torch knows
    (torchvision's ViT: its TorchScript could not go on to ONNX). The unfused path is the same arithmetic."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None:
        yield
        return
    was = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(was)


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "TorchScript export")
    module, sig = module_and_signature(src)
    with converting("torch→torchscript (torch.jit.trace)", alternative="--via onnx"):
        with torch.no_grad(), _no_mha_fastpath(torch):
            # trace records one path through Python control flow; check_trace re-runs and compares
            script = torch.jit.trace(module, example_args(sig.inputs, module=module), check_trace=True, strict=False)
        ranges = ranges_metadata(module, sig)
        save_script(script, out, sig, ranges.get("input_ranges"))
    md = {"producer": TOOL, "versions": versions("torch"), **ranges}
    return Artifact(str(out), Format.TORCHSCRIPT, sig, md)

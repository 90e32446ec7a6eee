"""Helpers shared by the torch edges (one loader, one naming scheme, one way to finish an ONNX file)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.inputs import make_inputs
from portkit.signature import ModelSignature, TensorSpec


def module_and_signature(src: Artifact) -> tuple[Any, ModelSignature]:
    """The eval-mode module and its signature (inputs from shapes/stored signature, outputs by probing)."""
    from portkit.runtimes.torch import TorchRunner

    runner = TorchRunner(src)
    return runner.module, runner.signature


def example_args(specs: tuple[TensorSpec, ...], batch: int = 2) -> tuple[Any, ...]:
    import torch

    feeds = make_inputs(ModelSignature(specs), batch=batch)
    return tuple(torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in specs)


def finish_onnx(out: Path, tool: str, **metadata: Any) -> Artifact:
    """The Artifact of an exported ONNX file: its own signature (read back), opset, producer, versions."""
    from portkit import onnxutil
    from portkit.versions import versions

    model = onnxutil.load(out)
    sig = onnxutil.signature(model)
    md = {"producer": tool, "opset": onnxutil.opset(model), "versions": versions("torch", "onnx"),
          **metadata}
    return Artifact(str(out), Format.ONNX, sig, md)


def save_script(script: Any, out: Path, signature: ModelSignature) -> None:
    import torch

    from portkit.runtimes.torch import SIGNATURE_FILE

    torch.jit.save(script, str(out), _extra_files={SIGNATURE_FILE: json.dumps(signature.to_dict())})

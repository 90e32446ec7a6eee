"""ONNX helpers that need only the `onnx` package (no framework, no runtime)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import BadInput
from .signature import ModelSignature, TensorSpec

_ELEM = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "str",
         9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def load(path: str | Path, external: bool = False):
    import onnx

    try:
        return onnx.load(str(path), load_external_data=external)
    except FileNotFoundError as e:
        raise BadInput(f"external data file missing ({e.filename})", path=path,
                       hint="keep the .data file(s) beside the .onnx file") from e
    except Exception as e:
        raise BadInput(f"ONNX file does not parse ({type(e).__name__})", path=path,
                       hint="the file may be truncated; re-export it") from e


def _spec(vi: Any) -> TensorSpec:
    tt = vi.type.tensor_type
    dims: list[Any] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return TensorSpec(vi.name, _ELEM.get(tt.elem_type, str(tt.elem_type)), tuple(dims))


def signature(model: Any) -> ModelSignature:
    inits = {i.name for i in model.graph.initializer}
    ins = tuple(_spec(v) for v in model.graph.input if v.name not in inits)
    return ModelSignature(ins, tuple(_spec(v) for v in model.graph.output))


def opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def external_data_files(model: Any) -> list[str]:
    from onnx.external_data_helper import uses_external_data

    files = set()
    for t in model.graph.initializer:
        if uses_external_data(t):
            for kv in t.external_data:
                if kv.key == "location":
                    files.add(kv.value)
    return sorted(files)


def info(path: str | Path) -> dict[str, Any]:
    m = load(path)
    return {
        "opset": opset(m),
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "ir_version": m.ir_version,
        "nodes": len(m.graph.node),
        "external_data": external_data_files(m),
    }


# operator domains onnxruntime implements besides the standard ones
_RUNTIME_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.training",
                    "ai.onnx.preview.training", "com.ms.internal.nhwc", "ai.onnx.contrib"}


def check_operators(path: str | Path) -> None:
    """Refuse (exit 2) an ONNX model no converter or runtime can take, before any work: an opset newer
    than this `onnx` knows, an operator that does not exist at the model's opset, or one from a custom
    domain that nothing here implements. Functions defined inside the model are fine."""
    import onnx.defs

    model = load(path)
    latest = onnx.defs.onnx_opset_version()
    version = opset(model)
    if version > latest:
        raise BadInput(f"the model uses ONNX opset {version}; the installed onnx knows opsets up to {latest}",
                       path=path, hint=f"re-export it with opset {latest} or lower (e.g. --opset 17)")
    _check_nan_weights(path, model)
    local = {(f.domain, f.name) for f in model.functions}
    for node in _all_nodes(model.graph):
        domain = node.domain or ""
        if (domain, node.op_type) in local:
            continue
        if domain in ("", "ai.onnx"):
            try:
                onnx.defs.get_schema(node.op_type, version or latest, "")
            except onnx.defs.SchemaError:
                where = f" (node '{node.name}')" if node.name else ""
                raise BadInput(f"operator '{node.op_type}'{where} is not an ONNX operator at opset {version}",
                               path=path, hint="re-export the model with a newer opset, or replace the operator"
                               ) from None
        elif domain not in _RUNTIME_DOMAINS:
            where = f" (node '{node.name}')" if node.name else ""
            raise BadInput(f"operator '{node.op_type}'{where} is from the custom domain '{domain}', which no converter "
                           "or runtime here implements", path=path,
                           hint="export the model with standard ONNX operators (or a function body for the op)")


def _check_nan_weights(path: str | Path, model: Any) -> None:
    """A NaN weight (in the file itself; external data is not read) makes every output NaN: validation
    would compare NaN with NaN and call it equal. ±Inf stays allowed (attention masks use it)."""
    import numpy as np
    from onnx import numpy_helper
    from onnx.external_data_helper import uses_external_data

    for t in model.graph.initializer:
        if uses_external_data(t) or t.data_type not in (1, 10, 11, 16):  # float32/16/64, bfloat16
            continue
        try:
            arr = numpy_helper.to_array(t)
        except Exception:  # noqa: BLE001 - an undecodable tensor is reported by the runtime that loads it
            continue
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise BadInput(f"weight '{t.name}' holds NaN values ({int(np.isnan(arr).sum())} of {arr.size})",
                           path=path, hint="the model is broken (diverged training or a bad export): "
                                           "re-export it from a good checkpoint")


def _all_nodes(graph: Any) -> Any:
    for node in graph.node:
        yield node
        for attr in node.attribute:  # If / Loop / Scan bodies
            if attr.g is not None and attr.g.node:
                yield from _all_nodes(attr.g)
            for g in attr.graphs:
                yield from _all_nodes(g)


def check_external_data(path: str | Path, model: Any) -> None:
    base = Path(path).parent
    for f in external_data_files(model):
        if not (base / f).is_file():
            raise BadInput(f"external data file '{f}' is missing", path=path,
                           hint="keep the external data file(s) beside the .onnx file")


@contextlib.contextmanager
def scratch_cwd() -> Iterator[None]:
    """Run a tool that writes files into the working directory in a private temporary one, removed after:
    onnxruntime's symbolic shape inference (also inside quant_pre_process) dumps `sym_shape_infer_temp.onnx`
    and uuid-named `.data` files into the cwd whenever it cannot infer every shape — the user's folder."""
    before = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="portkit-cwd-") as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(before)


def light_ort_tools() -> None:
    """Make `onnxruntime.tools.*` importable without the package's `__init__`, which imports torch whenever
    torch is installed (a helper for PyTorch exports): the .ort writer and the quantization pre-pass run in
    portkit's own process, which never imports a framework (TensorFlow and torch's compiler cannot share one,
    and torch alone costs seconds). A no-op when the real package is already imported."""
    import importlib.util
    import sys
    import types

    if "onnxruntime.tools" in sys.modules:
        return
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.origin:
        return
    pkg = types.ModuleType("onnxruntime.tools")
    pkg.__path__ = [str(Path(spec.origin).parent / "tools")]
    pkg.__package__ = "onnxruntime.tools"
    sys.modules["onnxruntime.tools"] = pkg

"""Operator compatibility of an ONNX model with a target runtime, node by node, before converting.

Targets:
- `web` / `ort`: onnxruntime-web's WASM backend and ORT-format builds run onnxruntime's CPU kernels, so an
  op is supported when the installed onnxruntime's CPU execution provider registers a kernel for its domain
  and opset (or ONNX defines it as a function that onnxruntime inlines, or the model ships the function).
- `tflite`: ONNX ops that onnx2tf lowers to TFLite builtin operators; ops that need TensorFlow ops
  (Flex, SELECT_TF_OPS: a bigger runtime) or that have no known lowering are reported.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import BadInput

__all__ = ["TARGETS", "OpIssue", "OpReport", "check_ops"]

TARGETS = ("web", "ort", "tflite")
_MAX_NODES = 8  # node names listed per unsupported op

# ONNX ops onnx2tf converts to TFLite builtin operators (float models, default domain)
TFLITE_BUILTIN = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization BitShift
Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum
DepthToSpace DequantizeLinear Div Dropout DynamicQuantizeLinear Elu Equal Erf Exp Expand EyeLike
Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
Greater GreaterOrEqual GroupNormalization GRU HardSigmoid HardSwish Hardmax Identity
InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax
LpNormalization LRN LSTM MatMul Max MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg
NonMaxSuppression Not OneHot Or Pad Pow PRelu QuantizeLinear Range Reciprocal ReduceL1 ReduceL2
ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare
Relu Reshape Resize ReverseSequence RNN Round ScatterElements ScatterND Selu Shape Shrink Sigmoid
Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh
ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
""".split())
# ops whose conversion needs TensorFlow ops (Flex delegate) or has no TFLite lowering at all
TFLITE_FLEX = {
    "Einsum": "lowered to tf.einsum, a Flex (SELECT_TF_OPS) op unless onnx2tf can rewrite it to MatMul",
    "Det": "tf.linalg.det is a Flex op", "RoiAlign": "needs TensorFlow ops (Flex)",
    "DFT": "no TFLite builtin (RFFT2D covers only real 2-D FFTs)", "STFT": "no TFLite builtin",
    "Loop": "control flow: converted to WHILE only for simple loops", "Scan": "no TFLite lowering",
    "If": "control flow: converted only when the branches are convertible",
    "Unique": "Flex op for most dtypes", "NonZero": "dynamic output shape: Flex op (tf.where)",
    "MatMulInteger": "integer ops: quantize in TFLite instead",
    "ConvInteger": "integer ops: quantize in TFLite instead", "QLinearConv": "quantize in TFLite instead",
    "QLinearMatMul": "quantize in TFLite instead", "StringNormalizer": "string ops are not TFLite builtins",
    "TfIdfVectorizer": "string/ML ops are not TFLite builtins", "RandomNormal": "random ops are Flex ops",
    "RandomUniform": "random ops are Flex ops", "RandomNormalLike": "random ops are Flex ops",
    "RandomUniformLike": "random ops are Flex ops", "Multinomial": "random ops are Flex ops",
    "GridSample": "decomposed by onnx2tf into gathers (slow); check the result",
    "ColumnNormalization": "no TFLite lowering",
}


@dataclass
class OpIssue:
    op: str
    domain: str
    nodes: list[str]
    count: int
    reason: str

    def line(self) -> str:
        dom = f"{self.domain}:" if self.domain else ""
        more = f" (+{self.count - len(self.nodes)} more)" if self.count > len(self.nodes) else ""
        return f"{dom}{self.op} ×{self.count} — {self.reason}; nodes: {', '.join(self.nodes)}{more}"


@dataclass
class OpReport:
    target: str
    model: str
    opsets: dict[str, int]
    ops: dict[str, int]  # "domain:Op" (domain omitted for ai.onnx) -> count
    unsupported: list[OpIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_against: str = ""

    @property
    def ok(self) -> bool:
        return not self.unsupported

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        head = f"{len(self.ops)} op types, {sum(self.ops.values())} nodes"
        if self.ok:
            return f"{head}: all supported by {self.checked_against}"
        names = ", ".join(i.op for i in self.unsupported)
        return f"{head}: {len(self.unsupported)} unsupported by {self.checked_against}: {names}"

    def lines(self) -> list[str]:
        return [i.line() for i in self.unsupported]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["summary"] = self.summary()
        return d


def check_ops(model_path: str | Path, target: str) -> OpReport:
    """Which nodes of an ONNX model `target` ('web', 'ort', 'tflite') cannot run, with their names."""
    if target not in TARGETS:
        raise BadInput(f"unknown op-check target '{target}'", hint=f"valid: {', '.join(TARGETS)}")
    from .. import onnxutil

    model = onnxutil.load(model_path)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    local = {(f.domain, f.name) for f in model.functions}
    by_op: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, node in enumerate(_all_nodes(model.graph)):
        by_op[(_dom(node.domain), node.op_type)].append(node.name or f"#{i} ({node.op_type})")
    counts = Counter({k: len(v) for k, v in by_op.items()})
    ops = {_key(d, o): n for (d, o), n in sorted(counts.items())}
    report = OpReport(target, str(model_path), opsets, ops)
    if target == "tflite":
        report.checked_against = "TFLite builtins (via onnx2tf)"
        check = _tflite_reason
    else:
        import onnxruntime

        what = "onnxruntime-web (WASM backend)" if target == "web" else "ORT-format builds"
        report.checked_against = f"{what}: onnxruntime {onnxruntime.__version__} CPU kernels"
        report.notes.append("the WASM backend compiles onnxruntime's CPU kernels; the WebGPU/WebNN backends "
                            "support fewer ops and fall back to WASM per node")

        def check(domain: str, op: str) -> str | None:
            return _ort_reason(domain, op, opsets.get(domain, 0), local)
    for (domain, op), nodes in sorted(by_op.items()):
        reason = check(domain, op)
        if reason:
            report.unsupported.append(OpIssue(op, "" if domain == "ai.onnx" else domain, nodes[:_MAX_NODES],
                                              len(nodes), reason))
    return report


def _dom(domain: str) -> str:
    return "ai.onnx" if domain in ("", "ai.onnx") else domain


def _key(domain: str, op: str) -> str:
    return op if domain == "ai.onnx" else f"{domain}:{op}"


def _all_nodes(graph: Any):  # noqa: ANN202 - generator of NodeProto, subgraphs included
    for node in graph.node:
        yield node
        for a in node.attribute:
            if a.g is not None and len(a.g.node):
                yield from _all_nodes(a.g)
            for g in a.graphs:
                yield from _all_nodes(g)


@lru_cache(maxsize=1)
def _cpu_kernels() -> dict[tuple[str, str], list[tuple[int, int]]]:
    from onnxruntime.capi import _pybind_state as C

    out: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for k in C.get_all_opkernel_def():
        if k.provider == "CPUExecutionProvider":
            out[(_dom(k.domain), k.op_name)].append(tuple(k.version_range))  # type: ignore[arg-type]
    return dict(out)


def _ort_reason(domain: str, op: str, opset: int, local: set[tuple[str, str]]) -> str | None:
    if (domain, op) in local or (domain if domain != "ai.onnx" else "", op) in local:
        return None  # a model-local function: inlined
    ranges = _cpu_kernels().get((domain, op))
    if ranges and any(lo <= opset <= hi for lo, hi in ranges):
        return None
    if domain == "ai.onnx" and _onnx_function(op, opset):
        return None  # ONNX defines it as a function of other ops: onnxruntime inlines it
    if ranges:
        lo = min(r[0] for r in ranges)
        hi = max(r[1] for r in ranges)
        return f"no kernel at opset {opset} (kernels cover {lo}..{hi if hi < 10**6 else 'latest'})"
    if domain not in ("ai.onnx", "ai.onnx.ml", "com.microsoft"):
        return f"custom domain '{domain}': needs a custom-op library, which onnxruntime-web cannot load"
    return "no CPU kernel in onnxruntime"


def _onnx_function(op: str, opset: int) -> bool:
    import onnx.defs

    try:
        schema = onnx.defs.get_schema(op, opset, "")
    except Exception:  # noqa: BLE001 - SchemaError for unknown ops
        return False
    return bool(schema.has_function or schema.has_context_dependent_function)


def _tflite_reason(domain: str, op: str) -> str | None:
    if domain != "ai.onnx":
        return f"domain '{domain}' ops have no TFLite lowering"
    if op in TFLITE_BUILTIN:
        return None
    if op in TFLITE_FLEX:
        return TFLITE_FLEX[op]
    return "no known lowering to a TFLite builtin"

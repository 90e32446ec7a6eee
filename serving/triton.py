"""Triton model repository export: REPO/NAME/1/model.onnx (+ external data) and REPO/NAME/config.pbtxt.

The config is written in protobuf text format for Triton's `ModelConfig` (platform onnxruntime_onnx);
with max_batch_size > 0 the dims leave out the batch dim, as Triton requires, and dynamic batching is on.
KServe's Triton runtime and Ray Serve deployments wrapping Triton consume the same layout.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkit.errors import BadInput
from portkit.formats import Format, sniff
from portkit.signature import ModelSignature, TensorSpec

__all__ = ["export_triton", "TritonExport", "config_dict", "config_pbtxt"]

# numpy dtype name -> Triton DataType enum name
TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
    "str": "TYPE_STRING",
    "bfloat16": "TYPE_BF16",
}
DEFAULT_MAX_BATCH = 8


@dataclass
class TritonExport:
    repository: Path
    name: str
    version: int
    model_path: Path
    config_path: Path
    config: dict[str, Any] = field(repr=False)
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": str(self.repository),
            "name": self.name,
            "version": self.version,
            "model": str(self.model_path),
            "config": str(self.config_path),
            "max_batch_size": self.config["max_batch_size"],
            "files": [str(f) for f in self.files],
        }


def _dims(spec: TensorSpec, batched: bool) -> list[int]:
    dims = [d if isinstance(d, int) and d >= 0 else -1 for d in spec.shape]
    return dims[1:] if batched else dims


def _tensor(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    dtype = TRITON_TYPES.get(spec.dtype)
    if dtype is None:
        raise BadInput(f"tensor '{spec.name}' has dtype {spec.dtype}, which Triton cannot carry")
    t: dict[str, Any] = {"name": spec.name, "data_type": dtype, "dims": _dims(spec, batched)}
    if not t["dims"]:  # a [batch] tensor: Triton wants dims [1] reshaped to []
        t["dims"] = [1]
        t["reshape"] = {"shape": []}
    return t


def config_dict(
    name: str,
    signature: ModelSignature,
    max_batch: int,
    *,
    platform: str = "onnxruntime_onnx",
    max_delay_us: int = 2000,
    instances: int = 1,
    kind: str = "KIND_CPU",
) -> dict[str, Any]:
    """Triton's ModelConfig as a dict: the JSON form of /v2/models/NAME/config and the source of the pbtxt."""
    batched = max_batch > 0
    cfg: dict[str, Any] = {
        "name": name,
        "platform": platform,
        "max_batch_size": max_batch,
        "input": [_tensor(t, batched) for t in signature.inputs],
        "output": [_tensor(t, batched) for t in signature.outputs],
    }
    if batched:
        cfg["dynamic_batching"] = {"max_queue_delay_microseconds": max_delay_us}
    cfg["instance_group"] = [{"count": instances, "kind": kind}]
    return cfg


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def config_pbtxt(cfg: dict[str, Any]) -> str:
    """Render config_dict() in protobuf text format (what Triton reads from config.pbtxt)."""

    def tensor(t: dict[str, Any]) -> str:
        lines = [
            f"    name: {_quote(t['name'])}",
            f"    data_type: {t['data_type']}",
            f"    dims: [ {', '.join(str(d) for d in t['dims'])} ]",
        ]
        if "reshape" in t:
            lines.append("    reshape: { shape: [ ] }")
        return "  {\n" + "\n".join(lines) + "\n  }"

    out = [
        f"name: {_quote(cfg['name'])}",
        f"platform: {_quote(cfg['platform'])}",
        f"max_batch_size: {cfg['max_batch_size']}",
        "input [\n" + ",\n".join(tensor(t) for t in cfg["input"]) + "\n]",
        "output [\n" + ",\n".join(tensor(t) for t in cfg["output"]) + "\n]",
    ]
    if "dynamic_batching" in cfg:
        delay = cfg["dynamic_batching"]["max_queue_delay_microseconds"]
        out.append(f"dynamic_batching {{\n  max_queue_delay_microseconds: {delay}\n}}")
    groups = ",\n".join(
        f"  {{\n    count: {g['count']}\n    kind: {g['kind']}\n  }}" for g in cfg["instance_group"]
    )
    out.append(f"instance_group [\n{groups}\n]")
    return "\n".join(out) + "\n"


def export_triton(
    model: str | Path,
    repo: str | Path,
    *,
    name: str | None = None,
    max_batch: int | None = None,
    version: int = 1,
    max_delay_us: int = 2000,
    instances: int = 1,
    gpu: bool = False,
    overwrite: bool = True,
) -> TritonExport:
    """Write a Triton model repository entry for an ONNX model: REPO/NAME/VERSION/model.onnx + config.pbtxt.

    max_batch: None picks 8 when the batch dim is dynamic (else 0); 0 turns Triton's batching off and
    keeps full dims. A max_batch > 0 needs a dynamic first dim on every input and output.
    """
    from portkit import onnxutil

    src = Path(model)
    fmt = sniff(src)
    if fmt is not Format.ONNX:
        raise BadInput(
            f"Triton export takes an ONNX model, this is {fmt.value}",
            path=src,
            hint=f"convert it first: portkit convert {src} --to onnx",
        )
    proto = onnxutil.load(src)
    onnxutil.check_external_data(src, proto)
    sig = onnxutil.signature(proto)
    batchable = bool(sig.inputs) and all(t.batch_dynamic for t in (*sig.inputs, *sig.outputs))
    if max_batch is None:
        max_batch = DEFAULT_MAX_BATCH if batchable else 0
    if max_batch < 0:
        raise BadInput("--max-batch must be 0 (no batching) or more")
    if max_batch > 0 and not batchable:
        static = [t.name for t in (*sig.inputs, *sig.outputs) if not t.batch_dynamic]
        raise BadInput(
            f"--max-batch {max_batch} needs a dynamic batch dim, but {static} have a static first dim",
            path=src,
            hint="use --max-batch 0, or convert with --dynamic",
        )
    if version < 1:
        raise BadInput("the model version must be 1 or more")
    model_name = name or _stem(src)
    if not model_name or "/" in model_name or model_name in (".", ".."):
        raise BadInput(f"bad model name '{model_name}'")
    cfg = config_dict(
        model_name,
        sig,
        max_batch,
        max_delay_us=max_delay_us,
        instances=instances,
        kind="KIND_GPU" if gpu else "KIND_CPU",
    )

    root = Path(repo)
    model_dir = root / model_name
    version_dir = model_dir / str(version)
    if version_dir.exists() and not overwrite:
        raise BadInput(f"{version_dir} exists", hint="remove it or choose another --version")
    tmp_dir = model_dir / f".{version}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    try:
        shutil.copy2(src, tmp_dir / "model.onnx")
        for rel in onnxutil.external_data_files(proto):
            dst = tmp_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src.parent / rel, dst)
        shutil.rmtree(version_dir, ignore_errors=True)
        tmp_dir.rename(version_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    config_path = model_dir / "config.pbtxt"
    tmp_cfg = model_dir / ".config.pbtxt.tmp"
    tmp_cfg.write_text(config_pbtxt(cfg))
    tmp_cfg.replace(config_path)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    return TritonExport(root, model_name, version, version_dir / "model.onnx", config_path, cfg, files)


def _stem(path: Path) -> str:
    n = path.name
    return n[: -len(".onnx")] if n.endswith(".onnx") else path.stem

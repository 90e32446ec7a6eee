"""Model formats and content sniffing. A file's format is decided by its bytes, never by its extension."""
from __future__ import annotations

import enum
import json
import re
import zipfile
from pathlib import Path

from .errors import BadInput

__all__ = ["Format", "is_reference", "model_file", "sniff", "suggest"]


class Format(str, enum.Enum):
    KERAS = "keras"
    KERAS_H5 = "keras_h5"
    KERAS_JSON = "keras_json"
    SAVEDMODEL = "savedmodel"
    TORCH = "torch"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"
    TFLITE = "tflite"
    PT2 = "pt2"  # torch.export ExportedProgram archive (torch.export.save)
    EXECUTORCH = "executorch"  # ExecuTorch program (.pte flatbuffer, a target)
    ORT = "ort"  # ONNX Runtime's flatbuffer format for mobile / minimal builds (a target)
    WEB = "web"  # a folder: model + manifest.json + index.html for onnxruntime-web (a target)

    @property
    def is_dir(self) -> bool:
        return self in (Format.SAVEDMODEL, Format.WEB)

    @property
    def suffix(self) -> str:
        return _SUFFIX[self]

    @classmethod
    def parse(cls, text: str) -> Format:
        key = text.strip().lower().replace("-", "_")
        key = _ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise BadInput(f"unknown format '{text}'", hint=suggest(text, [f.value for f in cls])) from None


_SUFFIX = {
    Format.KERAS: ".keras",
    Format.KERAS_H5: ".h5",
    Format.KERAS_JSON: ".json",
    Format.SAVEDMODEL: "",
    Format.TORCH: ".pt",
    Format.TORCHSCRIPT: ".pt",
    Format.ONNX: ".onnx",
    Format.TFLITE: ".tflite",
    Format.PT2: ".pt2",
    Format.EXECUTORCH: ".pte",
    Format.ORT: ".ort",
    Format.WEB: "",
}
_ALIASES = {
    "h5": "keras_h5",
    "hdf5": "keras_h5",
    "json": "keras_json",
    "saved_model": "savedmodel",
    "tf": "savedmodel",
    "pytorch": "torch",
    "pt": "torchscript",
    "jit": "torchscript",
    "script": "torchscript",
    "lite": "tflite",
    "litert": "tflite",
    "export": "pt2",
    "exported_program": "pt2",
    "torch_export": "pt2",
    "pte": "executorch",
    "et": "executorch",
}

_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FILE_REF = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][\w.]*)$")  # path/to/models.py:factory
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def suggest(text: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(text.lower(), choices, n=1)
    valid = ", ".join(choices)
    return f"did you mean '{close[0]}'? valid: {valid}" if close else f"valid: {valid}"


def is_reference(text: str) -> bool:
    """`package.module:factory` (or `path/to/file.py:factory`) names an eager PyTorch model built by code
    (no unpickling)."""
    if Path(text).exists():
        return False
    return bool(_REF.match(text)) or bool((m := _FILE_REF.match(text)) and Path(m["file"]).is_file())


def sniff(location: str | Path) -> Format:
    """Detect the format of a model file, folder or `module:factory` reference. Raises BadInput."""
    text = str(location)
    if is_reference(text):
        return Format.TORCH
    path = Path(text)
    if not path.exists():
        if path.is_symlink():
            raise BadInput("symbolic link points nowhere (a broken link or a loop)", path=path,
                           hint="point it at the model file")
        raise BadInput("file not found", path=path, hint="check the path")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return Format.SAVEDMODEL
        if (path / "manifest.json").is_file() and (path / "index.html").is_file():
            return Format.WEB
        raise BadInput("folder is not a SavedModel (no saved_model.pb inside)", path=path,
                       hint="pass a model file or a SavedModel folder")
    size = path.stat().st_size
    if size == 0:
        raise BadInput("file is empty", path=path, hint="re-export the model")
    with path.open("rb") as f:
        head = f.read(64)
    if head[4:8] == b"TFL3":
        return Format.TFLITE
    if head[4:8] == b"ORTM":
        return Format.ORT
    if head[4:6] == b"ET" and head[6:8].isdigit():
        return Format.EXECUTORCH  # ExecuTorch flatbuffer file identifier "ET12" etc.
    if head.startswith(_HDF5_MAGIC):
        return _sniff_h5(path)
    if head.startswith(b"PK"):
        return _sniff_zip(path)
    if head.lstrip()[:1] == b"{":
        return _sniff_json(path)
    if head[:1] == b"\x80":
        return Format.TORCH  # a legacy (non-zip) pickle: loadable only with --allow-pickle
    if _looks_like_onnx(path):
        return Format.ONNX
    raise BadInput("unrecognised model file (not ONNX, TFLite, Keras, HDF5, TorchScript, .pt2, .pte or a SavedModel)",
                   path=path, hint="check that the file is complete and is a model")


def _sniff_h5(path: Path) -> Format:
    # Keras H5 full models carry a `model_config` attribute; weights-only files do not.
    try:
        import h5py
    except ImportError:
        return Format.KERAS_H5
    try:
        with h5py.File(path, "r") as f:
            if "model_config" in f.attrs:
                return Format.KERAS_H5
    except OSError as e:
        raise BadInput(f"HDF5 file is unreadable ({e})", path=path, hint="the file may be truncated") from e
    raise BadInput("HDF5 file holds weights only, not a model", path=path,
                   hint="pass the architecture (model.json) and give this file with --weights")


def _sniff_zip(path: Path) -> Format:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except zipfile.BadZipFile as e:
        raise BadInput("zip container is corrupt or truncated", path=path, hint="re-export the model") from e
    if any(n == "archive_format" or n.endswith("/archive_format") for n in names) or any(
        n.endswith("serialized_exported_program.json") for n in names
    ):
        if any("/data/aotinductor/" in n or n.startswith("data/aotinductor/") for n in names):
            raise BadInput("this .pt2 is an AOTInductor package (compiled code), not an ExportedProgram",
                           path=path, hint="pass the torch.export.save() archive it was compiled from")
        return Format.PT2
    if "config.json" in names and any(n.endswith("model.weights.h5") for n in names):
        return Format.KERAS
    if any(n.split("/", 2)[1:2] == ["code"] or n.startswith("code/") for n in names) and any(
        n.endswith("constants.pkl") for n in names
    ):
        return Format.TORCHSCRIPT
    if any(n.endswith("data.pkl") for n in names):
        # A torch.save() pickle: a state_dict or a whole module. Only loadable as a model with --allow-pickle.
        return Format.TORCH
    raise BadInput("zip file is neither a .keras model nor a TorchScript/.pt2/PyTorch archive", path=path,
                   hint="check the file")


def _sniff_json(path: Path) -> Format:
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)[:160]
        raise BadInput(f"JSON file does not parse ({why})", path=path, hint="the file may be truncated") from e
    if isinstance(data, dict) and "class_name" in data and "config" in data:
        return Format.KERAS_JSON
    raise BadInput("JSON file is not a Keras architecture (no class_name/config)", path=path,
                   hint="pass model.json written by model.to_json()")


def _looks_like_onnx(path: Path) -> bool:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and friends; all mean "not ONNX"
        return False
    if not (bool(model.graph.node) or bool(model.graph.output) or model.ir_version > 0 and bool(model.opset_import)):
        return False
    _check_external_data(path, model)
    return True


def _check_external_data(path: Path, model: object) -> None:
    """An ONNX model whose weights live in external files is unusable without them: name the first missing
    one (onnxruntime's own message names a path deep in its loader)."""
    from onnx.external_data_helper import uses_external_data

    for t in model.graph.initializer:  # type: ignore[attr-defined]
        if not uses_external_data(t):
            continue
        location = next((kv.value for kv in t.external_data if kv.key == "location"), "")
        if not (path.parent / location).is_file():
            raise BadInput(f"its external data file '{location}' (tensor '{t.name}') is missing beside it",
                           path=path, hint=f"copy '{location}' into {path.parent or '.'}, or re-export the model "
                                           "with its weights inside (onnx.save(..., save_as_external_data=False))")


def model_file(bundle: str | Path) -> Path:
    """The model inside a web bundle folder (Format.WEB), as its manifest names it."""
    b = Path(bundle)
    try:
        manifest = json.loads((b / "manifest.json").read_text())
        return b / manifest["model"]
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise BadInput(f"not a portkit web bundle ({type(e).__name__}: {e})", path=b,
                       hint="a bundle has manifest.json naming its model") from e

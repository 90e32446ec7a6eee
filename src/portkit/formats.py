"""Model formats and content sniffing. A file's format is decided by its bytes, never by its extension."""
from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput

__all__ = ["FORMATS", "Format", "FormatInfo", "Quantize", "family_guess", "is_reference", "model_file", "quantizable",
           "sniff", "suggest"]


class Format(str, enum.Enum):
    """A model format. What portkit knows about each one is its row in FORMATS (`fmt.info`)."""

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
    HF = "hf"  # a Hugging Face checkpoint folder (config.json + safetensors/bin; transformers or timm; a source)

    @property
    def info(self) -> FormatInfo:
        return FORMATS[self]

    @property
    def is_dir(self) -> bool:
        return self.info.folder

    @property
    def suffix(self) -> str:
        return self.info.suffix

    @classmethod
    def parse(cls, text: str) -> Format:
        key = text.strip().lower().replace("-", "_")
        key = next((f.value for f in cls if key in f.info.aliases), key)
        try:
            return cls(key)
        except ValueError:
            raise BadInput(f"unknown format '{text}'", hint=suggest(text, [f.value for f in cls])) from None


@dataclass(frozen=True)
class FormatInfo:
    """One format's row: everything portkit decides by format reads it here."""

    suffix: str  # a produced file's suffix ("" for a folder: named MODEL_<format>)
    runtime: str  # the module under portkit.runtimes whose load(artifact) runs it
    runtime_name: str  # the runtime as bench, serve and reports name it
    # the WorkerPool family its runtime runs in ("tf": TensorFlow/LiteRT, never beside torch's compiler
    # stack; "torch"), None: in the calling process (onnxruntime needs no worker)
    family: str | None
    quantize: tuple[str, ...] = ()  # the --quantize kinds a conversion to it takes
    onnx_steps: bool = False  # an ONNX graph inside: --optimize/--quantize run as ONNX steps (portkit.prep)
    folder: bool = False  # a folder, not a file
    aliases: tuple[str, ...] = ()  # other spellings --to/--via accept
    # content sniffing for a format recognised on its own (not by a shared container such as zip or HDF5):
    # detect(path, head) is true when `path` (a folder, head b""; or a file, head its first 64 bytes) is one
    detect: Callable[[Path, bytes], bool] | None = None

    @property
    def in_process(self) -> bool:
        return self.family is None


def _is_savedmodel(p: Path, head: bytes) -> bool:
    return (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file()


def _is_web_bundle(p: Path, head: bytes) -> bool:
    return (p / "manifest.json").is_file() and (p / "index.html").is_file()


def _is_checkpoint(p: Path, head: bytes) -> bool:
    """A folder with config.json naming its model — transformers' `architectures`/`model_type`, timm's
    `architecture`. Its weights are checked when it is loaded (portkit.hf.folder), so a missing shard is
    named there."""
    config = p / "config.json"
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, OSError) as e:
        raise BadInput(f"config.json does not parse ({str(e)[:160]})", path=config,
                       hint="the folder's config.json may be truncated; save the model again") from e
    return isinstance(data, dict) and any(k in data for k in ("architectures", "model_type", "architecture"))


class Quantize(str, enum.Enum):
    """--quantize: what a quantized (or half-precision) result stores. Strings compare equal to values."""

    FP16 = "fp16"
    DYNAMIC = "dynamic"
    INT8 = "int8"
    INT4 = "int4"  # 4-bit weights: causal LMs exported with their cache only (portkit.generative.quantize)


ALL_KINDS: tuple[str, ...] = tuple(q.value for q in Quantize)
GRAPH_KINDS: tuple[str, ...] = ("fp16", "dynamic", "int8")  # what any graph of these formats quantizes to

FORMATS: dict[Format, FormatInfo] = {
    Format.KERAS: FormatInfo(".keras", "keras", "tensorflow", "tf"),
    Format.KERAS_H5: FormatInfo(".h5", "keras", "tensorflow", "tf", aliases=("h5", "hdf5")),
    Format.KERAS_JSON: FormatInfo(".json", "keras", "tensorflow", "tf", aliases=("json",)),
    Format.SAVEDMODEL: FormatInfo("", "savedmodel", "tensorflow", "tf", folder=True, detect=_is_savedmodel,
                                  aliases=("saved_model", "tf")),
    Format.TORCH: FormatInfo(".pt", "torch", "torch", "torch", aliases=("pytorch",)),
    Format.TORCHSCRIPT: FormatInfo(".pt", "torch", "torch", "torch", aliases=("pt", "jit", "script")),
    Format.ONNX: FormatInfo(".onnx", "onnx", "onnxruntime", None, quantize=GRAPH_KINDS, onnx_steps=True),
    Format.TFLITE: FormatInfo(".tflite", "tflite", "litert", "tf", quantize=GRAPH_KINDS, aliases=("lite", "litert"),
                              detect=lambda p, head: head[4:8] == b"TFL3"),
    Format.PT2: FormatInfo(".pt2", "pt2", "torch.export", "torch",
                           aliases=("export", "exported_program", "torch_export")),
    # ExecuTorch's XNNPACK quantizer has no fp16 mode; its flatbuffer identifier is "ET12" etc.
    Format.EXECUTORCH: FormatInfo(".pte", "executorch", "executorch", "torch", quantize=("int8", "dynamic"),
                                  aliases=("pte", "et"),
                                  detect=lambda p, head: head[4:6] == b"ET" and head[6:8].isdigit()),
    Format.ORT: FormatInfo(".ort", "ort", "onnxruntime", None, quantize=GRAPH_KINDS, onnx_steps=True,
                           detect=lambda p, head: head[4:8] == b"ORTM"),
    Format.WEB: FormatInfo("", "ort", "onnxruntime", None, quantize=GRAPH_KINDS, onnx_steps=True, folder=True,
                           detect=_is_web_bundle),
    # a checkpoint folder loads as a torch module (portkit.hf, in the torch runtime); a source only
    Format.HF: FormatInfo("", "torch", "transformers", "torch", folder=True, detect=_is_checkpoint,
                          aliases=("huggingface", "hugging_face", "transformers", "timm")),
}


def quantizable() -> list[Format]:
    """The formats a conversion can quantize to."""
    return [f for f in Format if f.info.quantize]


_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FILE_REF = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][\w.]*)$")  # path/to/models.py:factory
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# `bert-base-uncased`, `google/vit-base-patch16-224`: what a hub id looks like (a missing path shaped so
# is answered with how to save it locally: nothing is ever downloaded)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_MODEL_SUFFIXES = (".onnx", ".tflite", ".pt", ".pth", ".pt2", ".pte", ".keras", ".h5", ".hdf5", ".json", ".ort",
                   ".pb", ".bin", ".safetensors", ".npz", ".npy", ".py", ".zip")


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
        if _HUB_ID.match(text) and not text.lower().endswith(_MODEL_SUFFIXES):
            raise BadInput("not found: no such file or folder here, and portkit never downloads models (a "
                           "Hugging Face hub id is not enough)", path=path,
                           hint=f"save it locally first: huggingface-cli download {text} --local-dir "
                                f"{text.rsplit('/', 1)[-1]} (or from_pretrained(...).save_pretrained(folder)), "
                                "then convert the folder")
        raise BadInput("file not found", path=path, hint="check the path")
    if path.is_dir():
        found = _detected(path, b"", folder=True)
        if found is not None:
            return found
        if (path / "config.json").is_file():
            raise BadInput("config.json names no model (no architectures, model_type or architecture)",
                           path=path / "config.json",
                           hint="pass a folder written by save_pretrained() (transformers) or timm's save")
        raise BadInput("folder is neither a SavedModel nor a Hugging Face checkpoint (no saved_model.pb or "
                       "config.json inside)", path=path,
                       hint="pass a model file, a SavedModel folder or a save_pretrained() folder")
    size = path.stat().st_size
    if size == 0:
        raise BadInput("file is empty", path=path, hint="re-export the model")
    with path.open("rb") as f:
        head = f.read(64)
    found = _detected(path, head, folder=False)
    if found is not None:
        return found
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


def family_guess(text: str) -> str | None:
    """The worker family a model's runtime probably runs in, from its name alone (a folder by its marker
    files), without reading the model: what the command line prestarts a worker by (portkit.workers.prestart).
    The format itself is still sniffed by content later; a wrong guess only costs a worker killed unused."""
    if is_reference(text):
        return FORMATS[Format.TORCH].family
    path = Path(text)
    try:
        if path.is_dir():
            found = _detected(path, b"", folder=True)
            return found.info.family if found is not None else None
    except (BadInput, OSError):
        return None
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    suffix = {".pth": ".pt", ".hdf5": ".h5"}.get(suffix, suffix)
    return next((f.info.family for f in Format if not f.info.folder and f.info.suffix == suffix), None)


def _detected(path: Path, head: bytes, *, folder: bool) -> Format | None:
    """The first format whose row recognises this folder or file on its own (FormatInfo.detect)."""
    return next((f for f in Format if f.info.folder == folder and f.info.detect and f.info.detect(path, head)), None)


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
    import zipfile  # here: the command line reads this module before it prestarts a worker

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

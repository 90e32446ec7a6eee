"""The shared catalogue of test models: one small model per format, named once.

Every format portkit reads has an entry. The samples are the roots (the PyTorch digits CNN by reference,
its TorchScript trace, the Keras digits CNN as .keras / H5 / JSON + weights); the other formats are made
from them by portkit's own edges, in the order of DERIVED. `Catalogue` builds what a test asks for, once,
through a WorkerPool so that torch and TensorFlow are each imported once for the whole module.
"""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.conversion import source_artifact
from portkit.formats import Format
from portkit.graph import edges
from portkit.hops import run_hop
from portkit.options import ConvertOptions
from portkit.workers import WorkerPool

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# format -> (location, loading options): the checked-in roots
ROOTS: dict[Format, tuple[str, dict]] = {
    Format.TORCH: ("samples.digits_torch:build", {"weights": str(SAMPLES / "digits_cnn.pt")}),
    Format.TORCHSCRIPT: (str(SAMPLES / "digits_cnn.ts.pt"), {}),
    Format.KERAS: (str(SAMPLES / "digits_keras.keras"), {}),
    Format.KERAS_H5: (str(SAMPLES / "digits_keras.h5"), {}),
    Format.KERAS_JSON: (str(SAMPLES / "digits_keras.json"), {"weights": str(SAMPLES / "digits_keras.weights.h5")}),
    # a tiny BERT classifier as save_pretrained writes it, with its tokenizer (examples/hf_folders.py)
    Format.HF: (str(SAMPLES / "hf_bert_cls"), {}),
}
# format -> the edge module that makes it from a root (or an earlier derived format)
DERIVED: dict[Format, tuple[Format, str]] = {
    Format.ONNX: (Format.TORCHSCRIPT, "torchscript_to_onnx"),
    Format.PT2: (Format.TORCH, "torch_to_pt2"),
    Format.SAVEDMODEL: (Format.KERAS, "keras_to_savedmodel"),
    Format.TFLITE: (Format.KERAS, "keras_to_tflite"),
}


def edge(name: str, source: Format):
    return next(e for e in edges() if e.name == name and e.source is source)


class Catalogue:
    """Source artifacts by format, built on first use under `folder`."""

    def __init__(self, folder: Path, pool: WorkerPool) -> None:
        self.folder = folder
        self.pool = pool
        self._made: dict[Format, Artifact] = {}

    def formats(self) -> set[Format]:
        return set(ROOTS) | set(DERIVED)

    def get(self, fmt: Format) -> Artifact:
        if fmt not in self._made:
            if fmt in ROOTS:
                location, options = ROOTS[fmt]
                self._made[fmt] = source_artifact(location, ConvertOptions(**options))
            else:
                src_fmt, name = DERIVED[fmt]
                out = self.folder / f"catalogue_digits{fmt.suffix or '_' + fmt.value}"
                self._made[fmt] = run_hop(edge(name, src_fmt), self.get(src_fmt), out, ConvertOptions(),
                                          self.pool)
        return self._made[fmt]

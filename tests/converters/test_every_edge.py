"""Every edge of the conversion graph, taken from the graph itself, converts a catalogue model and the
result agrees with its source (portkit's validation: batch 1 and 2 where the batch is dynamic).

The parameters are `portkit.graph.edges()`, every one of them: an edge added to converters/ is tested here
without anyone writing its name, an edge whose libraries are missing shows as skipped with their names,
and a source format the catalogue cannot provide fails `test_catalogue_covers_every_edge`.
One WorkerPool serves the module, so torch and TensorFlow are each imported once for all edges.

The Hugging Face folder (source `hf`) runs its fixed-shape TFLite and TorchScript edges here (the checkpoint
acceptance's "--to tflite / torchscript, validated"); its ONNX edge is test_hf_folders' CLI conversion, and
its pt2 and ExecuTorch edges (~100 s together on the 2-core CI machine) are the same torch.export the
`torch` source runs here, so they are opt-in with PORTKIT_HF_ALL=1 (the suite's time budget; the coverage
corpus's hf-folders family converts every folder to every target).
"""
from __future__ import annotations

import os

import pytest

from portkit.graph import edges
from portkit.hops import run_hop
from portkit.options import ConvertOptions, ValidateOptions
from portkit.prep.steps import quantized_validation
from portkit.runtimes import open_runner
from portkit.signature import InputSpec
from portkit.validation import validate_runners
from portkit.workers import WorkerPool

from ..catalogue import Catalogue

EDGES = [e for e in edges()]
# the options an edge needs to do anything (transform steps act on what their option asks for)
EDGE_OPTIONS = {"onnx_optimize": ConvertOptions(optimize=True), "onnx_quantize": ConvertOptions(quantize="dynamic"),
                # litert-torch converts fixed shapes only (docs/routes.md): with a dynamic batch the hop
                # refuses in one line and a conversion falls back to ONNX → onnx2tf
                "torch_to_tflite": ConvertOptions(dynamic=False)}
# ... and what a fixed-shape result can be checked at (the catalogue's source keeps its dynamic batch)
EDGE_VALIDATION = {"torch_to_tflite": ValidateOptions(batches=(1,))}
# the checkpoint folder's fixed-shape TFLite (litert-torch) at the sequence its --input-shape asks for; its
# validation follows the fixed candidate (16, not swept) with no shape given
_TOKENS = tuple(InputSpec(n, (1, 16)) for n in ("input_ids", "attention_mask", "token_type_ids"))
EDGE_OPTIONS_BY_SOURCE = {("torch_to_tflite", "hf"): ConvertOptions(dynamic=False, input_specs=_TOKENS)}
# (edge, source) rows run only with PORTKIT_HF_ALL=1: see the module docstring
OPT_IN = {("torch_to_onnx", "hf"), ("torch_to_pt2", "hf"), ("pt2_to_executorch", "hf")}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool():
    with WorkerPool() as p:
        yield p


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, pool):
    return Catalogue(tmp_path_factory.mktemp("catalogue"), pool)


def test_catalogue_covers_every_edge(catalogue):
    missing = sorted({e.source.value for e in EDGES} - {f.value for f in catalogue.formats()})
    assert not missing, f"no catalogue model for source format(s) {missing}: add one to tests/catalogue.py"


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: f"{e.name}[{e.source.value}]")
def test_edge_round_trip(edge, catalogue, pool, tmp_path):
    if not edge.available:  # shown as skipped with the reason, not dropped from the run
        pytest.skip(f"{edge} needs {', '.join(edge.missing)} (not installed)")
    if (edge.name, edge.source.value) in OPT_IN and not os.environ.get("PORTKIT_HF_ALL"):
        pytest.skip(f"{edge} from a checkpoint folder: opt in with PORTKIT_HF_ALL=1 (the suite's time budget)")
    src = catalogue.get(edge.source)
    out = tmp_path / (f"out{edge.target.suffix}" if edge.target.suffix else f"out_{edge.target.value}")
    opts = EDGE_OPTIONS_BY_SOURCE.get((edge.name, edge.source.value)) or EDGE_OPTIONS.get(edge.name, ConvertOptions())
    art = run_hop(edge, src, out, opts, pool)
    assert out.exists() and art.format is edge.target
    ref, cand = open_runner(src, pool=pool), open_runner(art, pool=pool)
    try:
        vopts = EDGE_VALIDATION.get(edge.name, ValidateOptions())
        vopts = quantized_validation(opts, vopts) if opts.quantize else vopts
        result = validate_runners(ref, cand, art, vopts, src.location, art.location, reference=src)
    finally:
        ref.close()
        cand.close()
    assert result, f"{edge} ({edge.tool}): {result.summary()}"
    assert result.batches and 1 in result.batches
    if (edge.name, edge.source.value) in EDGE_OPTIONS_BY_SOURCE:
        assert [s.shape for s in art.signature.inputs] == [t.shape for t in _TOKENS]
        assert any("candidate's fixed shape" in n for n in result.notes), result.notes

"""Hugging Face checkpoint folders as users have them (save_pretrained: config.json + model.safetensors +
tokenizer), converted from the folder alone; the folder's bad cases as one line, exit 2, nothing run.

One tiny BERT classifier folder (samples/hf_bert_cls, written by examples/hf_folders.py) serves every test here, and
one torch worker every call that needs transformers or torch in a test (the suite's time budget); the folder's
TFLite and TorchScript edges are test_every_edge's. The other architectures and targets are the coverage corpus's
(hf-folders, timm-folders families). PORTKIT_HF_ALL=1 adds the slow ones: a Whisper-encoder and a SegFormer
folder → TFLite with no flag (onnx2tf's routes disagree, so portkit falls back to litert-torch at fixed
shapes: ~5 min on the 2-core CI machine), and test_every_edge's hf → pt2 / executorch rows."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest

from portkit.workers import Worker

from ..conftest import custom_code_copy, run_cli

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """samples/hf_bert_cls (examples.hf_folders.save("bert-cls", ...): config.json, model.safetensors,
    tokenizer.json), copied so outputs land beside it."""
    from ..conftest import ROOT

    path = tmp_path_factory.mktemp("hf") / "bert-cls"
    shutil.copytree(ROOT / "samples" / "hf_bert_cls", path)
    return path


@pytest.fixture(scope="module")
def torch_worker():
    """transformers' own eager model and the safetensors writer run here: torch is imported once."""
    with Worker("hf folder tests") as w:
        yield w


@pytest.fixture(scope="module")
def bert_onnx(folder):
    out = folder.parent / "bert-cls.onnx"
    proc = run_cli("convert", str(folder), "--to", "onnx", cwd=folder.parent)  # no other flag, default -o
    assert proc.returncode == 0, proc.stderr
    # validated against the folder's model on random ids and on its tokenizer's sentences too
    assert "real inputs batch 4" in proc.stdout + proc.stderr and out.is_file()
    return out


def test_bert_folder_to_onnx_names_dtypes_dims(bert_onnx):
    m = onnx.load(str(bert_onnx))
    ins = {i.name: (i.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
           for i in m.graph.input}
    assert ins == {n: (onnx.TensorProto.INT64, ["batch", "sequence"])
                   for n in ("input_ids", "attention_mask", "token_type_ids")}
    assert [o.name for o in m.graph.output] == ["logits"]


def test_bert_folder_onnx_equals_transformers_on_tokenized_text(folder, bert_onnx, torch_worker):
    """onnxruntime against transformers' own eager model (not portkit's wrapper) on the folder's tokenizer."""
    import onnxruntime as ort

    from portkit.hf.samples import sample_feeds
    from portkit.signature import ModelSignature, TensorSpec

    sig = ModelSignature(tuple(TensorSpec(n, "int64", ("batch", "sequence"))
                               for n in ("input_ids", "attention_mask", "token_type_ids")))
    feeds, what = sample_feeds(folder, sig)
    assert feeds is not None, what
    assert (feeds["attention_mask"] == 0).any() and feeds["input_ids"][:, 0].tolist() == [2] * 4  # [CLS], padding
    want = torch_worker.call("examples.hf_folders", "eager", str(folder), feeds)["logits"]
    got = ort.InferenceSession(str(bert_onnx)).run(["logits"], feeds)[0]
    rel = np.abs(got - want).max() / np.abs(want).max()
    assert rel < 1e-4 and np.abs(want).max() > 1e-3


def _one_line_error(proc, code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_hub_id_without_folder_is_one_line_and_fetches_nothing(tmp_path):
    proc = run_cli("convert", "bert-base-uncased", "--to", "onnx", cwd=tmp_path,
                   env={"HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home")})
    _one_line_error(proc, 2, "bert-base-uncased", "never downloads", "save_pretrained")
    assert not (tmp_path / "hf-home").exists() and not list(tmp_path.iterdir())


def test_custom_code_needs_allow_unsafe_and_nothing_runs(folder, tmp_path):
    custom = tmp_path / "custom"
    marker = custom_code_copy(folder, custom, "AutoModelForSequenceClassification")
    for command in (["convert", str(custom), "--to", "onnx", "-o", str(tmp_path / "c.onnx")],
                    ["inspect", str(custom)]):
        _one_line_error(run_cli(*command), 2, "--allow-unsafe", "auto_map")
    assert not marker.exists() and not (tmp_path / "c.onnx").exists()


def test_missing_weights_and_shards_are_named(folder, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "model.safetensors").unlink()
    _one_line_error(run_cli("convert", str(bare), "--to", "onnx", "-o", str(tmp_path / "b.onnx")), 2,
                    "model.safetensors", "no PyTorch weights")
    (bare / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    (bare / "model-00001-of-00002.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    _one_line_error(run_cli("inspect", str(bare)), 2, "model-00002-of-00002.safetensors", "missing")


def test_unknown_task_and_task_on_other_formats(folder, tmp_path):
    _one_line_error(run_cli("convert", str(folder), "--to", "onnx", "--task", "summarise", "-o",
                            str(tmp_path / "t.onnx")), 2, "unknown task", "text-classification")


def test_weights_safetensors_for_a_factory(tmp_path, torch_worker):
    """`--weights x.safetensors` loads a factory's state_dict without pickle: the factory with the trained
    digits weights, read from safetensors, matches the TorchScript traced from the trained model (and with
    the factory's random init it would not)."""
    from ..conftest import ROOT

    st = tmp_path / "digits.safetensors"
    torch_worker.call("examples.hf_folders", "state_dict_to_safetensors", str(ROOT / "samples" / "digits_cnn.pt"),
                      str(st))
    ts = str(ROOT / "samples" / "digits_cnn.ts.pt")
    proc = run_cli("validate", "samples.digits_torch:build", ts, "--weights", str(st))
    assert proc.returncode == 0, proc.stderr  # (the factory's random init disagrees with it: exit 1)


@pytest.mark.skipif(not os.environ.get("PORTKIT_HF_ALL"), reason="~5 min: opt in with PORTKIT_HF_ALL=1 (the suite's "
                    "time budget; the coverage corpus measures these folders)")
@pytest.mark.parametrize("kind", ["whisper-encoder", "segformer"])
def test_folder_to_tflite_falls_back_to_fixed_shapes(kind, tmp_path, torch_worker):
    """onnx2tf's TFLite of these folders disagrees with the source (Whisper: 0.076 off; SegFormer: a wrong output
    shape), so `--to tflite` with no flag ends on litert-torch at fixed shapes, says so, and validates."""
    folder = torch_worker.call("examples.hf_folders", "save", kind, str(tmp_path / kind))
    proc = run_cli("convert", folder, "--to", "tflite", "-o", str(tmp_path / f"{kind}.tflite"), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["passed"] and d["route"] == ["hf → tflite (fixed shapes)"], d["route"]
    assert any("validation failed" in f or "disagrees" in f for f in d["failed_routes"]), d["failed_routes"]
    assert all(isinstance(n, int) for i in d["signature"]["inputs"] for n in i["shape"])

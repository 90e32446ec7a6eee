"""Acceptance: three torchvision architectures built from code (random seeded weights, no download)
go eager→ONNX, TorchScript→ONNX and ONNX→TorchScript within 1e-4 relative error at batch 1 and 2."""
from __future__ import annotations

import pytest

import portkit

from ..conftest import build

ARCHS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]
SHAPE = "1,3,64,64"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=ARCHS)
def arch(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    sd = build("torchvision_state_dict", request.param, str(d))
    ts = build("torchvision_torchscript", request.param, str(d))
    return request.param, d, sd, ts


def _ok(result):
    assert result.passed
    for hop in result.hops:
        v = hop.validation
        assert sorted(set(v.batches)) == [1, 2]
        assert v.max_rel <= 1e-4, v.summary()


def test_eager_to_onnx_and_back(arch):
    name, d, sd, _ = arch
    onnx_path = d / f"{name}.onnx"
    r = portkit.convert(f"torchvision.models:{name}", "onnx", onnx_path, weights=sd,
                        model_args={"num_classes": 10}, input_shapes=SHAPE)
    _ok(r)
    _ok(portkit.convert(str(onnx_path), "torchscript", d / f"{name}.back.ts.pt"))


def test_torchscript_to_onnx(arch):
    name, d, _, ts = arch
    _ok(portkit.convert(ts, "onnx", d / f"{name}.from_ts.onnx", input_shapes=SHAPE))

"""What loading a PyTorch model costs: each load path builds or reads the model once."""
from __future__ import annotations

from portkit.workers import call_in_worker

from ..conftest import SAMPLES


def test_each_model_is_built_and_read_once():
    """The causal-LM probe's build of a module:factory that is no LM is the one the hop then converts (not a
    second build), while validation's reference builds its own (a hop must not leave its changes in it); a
    TorchScript runner reads the model and portkit's stored signature with one torch.jit.load."""
    got = call_in_worker("loads", "tests.torch_models", "loads_of", "tests.torch_models:Counted",
                         str(SAMPLES / "digits_cnn.ts.pt"))
    assert got["probe"] is None  # no causal LM: the one-pass routes take it
    assert got["builds"] == 2 and got["distinct"]
    assert got["script_loads"] == 1 and got["script_inputs"]

"""Keras recurrent layers (LSTM / GRU / SimpleRNN, plain or inside Bidirectional / TimeDistributed) for the
Keras → TFLite edges.

Keras 3 runs an RNN as a while loop over TensorList ops. TFLiteConverter can lower those only when each
element's shape is static, which a dynamic batch makes impossible ("'tf.TensorListReserve' op requires
element_shape to be static during TF Lite transformation pass"); its own advice (Select TF ops) writes Flex
ops that the LiteRT interpreter cannot run. Unrolling the loop (the layers' `unroll=True`: the same cell
arithmetic once per time step) needs a static number of time steps and keeps the batch dynamic, so the
edges retry with unrolled layers when the first conversion fails on TensorList ops."""
from __future__ import annotations

from typing import Any

MAX_UNROLLED_STEPS = 512  # longer sequences would make a graph too large to be worth it


def tensor_list_failure(e: BaseException) -> bool:
    return "TensorList" in str(e)


def flex_tensor_lists(path: Any) -> bool:
    """Whether a written .tflite holds Flex TensorList ops (op names are stored as plain strings)."""
    from pathlib import Path

    return b"FlexTensorList" in Path(path).read_bytes()


def _walk(layer: Any, shape: Any, seen: set[int]) -> list[tuple[Any, Any]]:
    """(recurrent layer, its input shape) for every recurrent layer under `layer`."""
    if id(layer) in seen:
        return []
    seen.add(id(layer))
    try:
        shape = tuple(layer.input.shape)
    except Exception:  # noqa: BLE001 - a nested layer never called symbolically: its wrapper's input
        pass
    found = [(layer, shape)] if hasattr(layer, "unroll") and hasattr(layer, "cell") else []
    children = [getattr(layer, a, None) for a in ("forward_layer", "backward_layer", "layer")]
    children += list(getattr(layer, "layers", None) or [])
    for child in children:
        if child is not None and child is not layer:
            found += _walk(child, shape, seen)
    return found


def unroll_rnns(model: Any) -> list[str]:
    """Set `unroll=True` on every recurrent layer with a static number of time steps (at most
    MAX_UNROLLED_STEPS). Returns one note per layer; [] when some layer cannot be unrolled (nothing is
    changed then)."""
    layers = _walk(model, None, set())
    if not layers:
        return []
    notes = []
    for layer, shape in layers:
        steps = shape[1] if shape is not None and len(shape) >= 3 else None
        if not isinstance(steps, int) or not 0 < steps <= MAX_UNROLLED_STEPS:
            return []
        notes.append(f"{layer.name}: {type(layer).__name__} unrolled over {steps} time steps")
    for layer, _ in layers:
        layer.unroll = True
    return notes

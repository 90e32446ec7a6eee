"""Subclassed Keras models registered as serializable (loaded with `--custom-objects tests.keras_subclassed`):
a one-input model and a two-input one, saved built (by a call) or never built. Imported only in workers."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _classes() -> tuple[Any, Any]:
    import keras

    @keras.saving.register_keras_serializable(package="portkit_tests")
    class TinySubclassed(keras.Model):
        def __init__(self, units: int = 6, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.conv = keras.layers.Conv1D(units, 3, padding="same", activation="relu")
            self.head = keras.layers.Dense(3)

        def call(self, tokens: Any) -> Any:
            return self.head(keras.ops.mean(self.conv(tokens), axis=1))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    @keras.saving.register_keras_serializable(package="portkit_tests")
    class TwoInputSubclassed(keras.Model):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.a = keras.layers.Dense(4)
            self.b = keras.layers.Dense(4)

        def call(self, inputs: Any) -> Any:
            return keras.ops.tanh(self.a(inputs[0]) + self.b(inputs[1]))

    return TinySubclassed, TwoInputSubclassed


def custom_objects() -> dict[str, Any]:
    one, two = _classes()
    return {"portkit_tests>TinySubclassed": one, "portkit_tests>TwoInputSubclassed": two}


def save(kind: str, out_dir: str) -> str:
    """'built' (called once on 1x10x5), 'unbuilt' (never called) or 'two' (two inputs, 1x5 and 1x7)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    one, two = _classes()
    if kind == "two":
        model = two()
        model([np.zeros((1, 5), np.float32), np.zeros((1, 7), np.float32)])
    else:
        model = one()
        if kind == "built":
            model(np.zeros((1, 10, 5), np.float32))
    path = Path(out_dir) / f"{kind}.keras"
    model.save(path)
    return str(path)

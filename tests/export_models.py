"""Models for the today's-toolchain tests (.pt2, litert-torch, Keras export, ExecuTorch), built from code
with seeded random weights (no downloads). Each function runs in a worker process (conftest.build), so
the pytest process imports neither torch nor TensorFlow."""
from __future__ import annotations

from pathlib import Path


def keras_application(out_dir: str, size: int = 32) -> str:
    """keras.applications.MobileNetV3Small with random weights at a small input, saved as .keras."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), weights=None, classes=10,
                                                include_preprocessing=False)
    path = Path(out_dir) / "mobilenet_v3_small.keras"
    model.save(path)
    return str(path)

"""Train the Keras digits sample and save it as .keras, legacy H5, and JSON architecture + weights.

Run: .venv/bin/python samples/train_digits_keras.py  (about 15 s on 2 cores). Uses the same scikit-learn
digits split as the PyTorch sample, channels-last (N×8×8×1). Writes samples/digits_keras.keras,
samples/digits_keras.h5, samples/digits_keras.json + samples/digits_keras.weights.h5,
samples/digits_keras_accuracy.json and prints the test accuracy.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from samples.data import digits  # noqa: E402


def build(num_classes: int = 10, width: int = 16):  # noqa: ANN201 - a keras.Model
    import keras
    from keras import layers

    x = keras.Input((8, 8, 1), name="x")
    h = layers.Conv2D(width, 3, padding="same", name="conv1")(x)
    h = layers.BatchNormalization(name="bn1")(h)
    h = layers.ReLU(name="relu1")(h)
    h = layers.Conv2D(width * 2, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(64, activation="relu", name="fc1")(h)
    out = layers.Dense(num_classes, name="output")(h)
    return keras.Model(x, out, name="digits_keras")


def train(epochs: int = 15, seed: int = 0):  # noqa: ANN201
    import keras

    keras.utils.set_random_seed(seed)
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    xtr, xte = xtr.transpose(0, 2, 3, 1), xte.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=64, epochs=epochs, verbose=0)
    acc = float(np.mean(np.argmax(model.predict(xte, verbose=0), -1) == yte))
    return model, acc


def main() -> None:
    trained, acc = train()
    model = build()  # a fresh, uncompiled copy: no optimizer state in the saved files
    model.set_weights(trained.get_weights())
    model.save(HERE / "digits_keras.keras")
    model.save(HERE / "digits_keras.h5")
    (HERE / "digits_keras.json").write_text(model.to_json(indent=1) + "\n")
    model.save_weights(HERE / "digits_keras.weights.h5")
    (HERE / "digits_keras_accuracy.json").write_text(json.dumps({"test_accuracy": round(acc, 4)}) + "\n")
    print(f"digits Keras CNN: test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()

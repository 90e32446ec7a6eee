"""A custom Keras layer for the --custom-objects tests (imported only inside worker processes)."""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="portkit_tests")
class Scale(keras.layers.Layer):
    """y = x * w, one learned scale per feature."""

    def build(self, input_shape):  # noqa: ANN001, ANN201
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

    def call(self, x):  # noqa: ANN001, ANN201
        return x * self.w

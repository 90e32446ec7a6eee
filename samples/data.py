"""scikit-learn's bundled digits (1797 8x8 images, shipped inside the package: no download)."""
from __future__ import annotations

import numpy as np


def digits(split: str = "test", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images N×1×8×8 float32 in [0, 1], labels int64); a fixed 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype("float32")[:, None, :, :]
    y = d.target.astype("int64")
    idx = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    sel = idx[:cut] if split == "train" else idx[cut:]
    return x[sel], y[sel]

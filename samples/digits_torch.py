"""The PyTorch sample: a small CNN for scikit-learn's bundled 8x8 digits (no download).

Build it by reference: `portkit convert samples.digits_torch:build --weights samples/digits_cnn.pt --to onnx`.
"""
from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    input_shape = (1, 1, 8, 8)  # portkit reads this when no --input-shape is given

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * 2 * 4 * 4, 64), nn.ReLU(),
                                  nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build(num_classes: int = 10, width: int = 16) -> DigitsCNN:
    return DigitsCNN(num_classes, width)

"""Train the PyTorch digits sample and save it as a state_dict and as TorchScript (with its signature).

Run: .venv/bin/python samples/train_digits_torch.py  (about 10 s on 2 cores). Writes
samples/digits_cnn.pt (state_dict), samples/digits_cnn.ts.pt (TorchScript), samples/digits_calib.npz
(100 test images, for calibration and validation) and prints the test accuracy.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from samples.data import digits  # noqa: E402
from samples.digits_torch import build  # noqa: E402


def train(epochs: int = 15, seed: int = 0) -> tuple[torch.nn.Module, float]:
    torch.manual_seed(seed)
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[b]), yt[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    return model, float(acc)


def main() -> None:
    model, acc = train()
    torch.save(model.state_dict(), HERE / "digits_cnn.pt")
    script = torch.jit.script(model)
    sig = {"inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 1, 8, 8], "layout": "NCHW"}],
           "outputs": [{"name": "output", "dtype": "float32", "shape": ["batch", 10], "layout": None}]}
    torch.jit.save(script, str(HERE / "digits_cnn.ts.pt"), _extra_files={"portkit.json": json.dumps(sig)})
    xte, yte = digits("test")
    np.savez(HERE / "digits_calib.npz", x=xte[:100])
    (HERE / "digits_torch_accuracy.json").write_text(json.dumps({"test_accuracy": round(acc, 4)}) + "\n")
    print(f"digits CNN: test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()

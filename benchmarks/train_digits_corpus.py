"""Train the int8 bench's corpus CNNs (torchvision, 10 classes) briefly on scikit-learn's bundled digits.

Random-weight CNNs have near-tied logits, so int8 agreement on them says little about int8 on a trained
model (benchmarks/results/int8.md); these give the corpus architectures real top-1 margins. The 8×8 digits
are upsampled (bilinear) to SIZE×SIZE, scaled to [-1, 1] and repeated to 3 channels; the split is
samples/data.py's fixed 80/20 (train / held out).

    python benchmarks/train_digits_corpus.py ARCH OUT_DIR [--size 32] [--epochs 6]

writes OUT_DIR/ARCH.pt (state_dict), OUT_DIR/digits{SIZE}_{train,heldout,labelled}.npz (`x`; the labelled
one with `labels`) and prints one JSON line: held-out accuracy, epochs, seconds. `trained_model` is the
factory portkit builds the model from (`benchmarks.train_digits_corpus:trained_model`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def images(split: str, size: int) -> tuple[Any, Any]:
    """Digits as N×3×size×size float32 in [-1, 1] and their labels."""
    import numpy as np
    import torch

    from samples.data import digits

    x, y = digits(split)
    t = torch.nn.functional.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear",
                                        align_corners=False)
    return np.ascontiguousarray((t * 2 - 1).repeat(1, 3, 1, 1).numpy(), dtype="float32"), y


def _build(arch: str) -> Any:
    import torchvision

    return getattr(torchvision.models, arch)(weights=None, num_classes=10)


def trained_model(arch: str, weights: str, size: int = 32) -> Any:
    """The torchvision `arch` with the state_dict `weights` (written by this script), in eval mode."""
    import torch

    m = _build(arch)
    m.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    m.input_shape = (1, 3, size, size)
    return m.eval()


def train(arch: str, out: Path, size: int, epochs: int, seed: int = 0) -> dict[str, Any]:
    import numpy as np
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    xtr, ytr = images("train", size)
    xte, yte = images("test", size)
    for name, data in (("train", {"x": xtr}), ("heldout", {"x": xte}), ("labelled", {"x": xte, "labels": yte})):
        path = out / f"digits{size}_{name}.npz"
        if not path.is_file():
            np.savez(path, **data)
    model = _build(arch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            if len(b) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[b]), yt[b]).backward()
            opt.step()
            sched.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(xte[i:i + 128])) for i in range(0, len(xte), 128)]).argmax(1)
    torch.save(model.state_dict(), out / f"{arch}.pt")
    return {"arch": arch, "size": size, "epochs": epochs, "train_samples": len(xtr), "heldout_samples": len(xte),
            "heldout_accuracy": round(float((pred.numpy() == yte).mean()), 4), "train_seconds": round(seconds, 1),
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(train(args.arch, out, args.size, args.epochs)), flush=True)


if __name__ == "__main__":
    main()

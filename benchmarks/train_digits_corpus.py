"""Train the int8 bench's corpus CNNs (torchvision, 10 classes) briefly on scikit-learn's bundled digits.

Random-weight CNNs have near-tied logits, so int8 agreement on them says little about int8 on a trained
model (benchmarks/results/int8.md); these give the corpus architectures real top-1 margins. The 8×8 digits
are upsampled (bilinear) to SIZE×SIZE, scaled to [-1, 1] and repeated to 3 channels; the split is
samples/data.py's fixed 80/20 (train / held out).

    python benchmarks/train_digits_corpus.py ARCH OUT_DIR [--size 32] [--epochs N] [--lr LR] [--bn-only]

writes OUT_DIR/ARCH.pt (state_dict), OUT_DIR/digits{SIZE}_{train,heldout,labelled}.npz (`x`; the labelled
one with `labels`) and prints one JSON line: held-out accuracy, epochs, seconds, the training loss and
accuracy of each epoch. `trained_model` is the factory portkit builds the model from
(`benchmarks.train_digits_corpus:trained_model`).

Training is the whole network from its torchvision initialisation (no pretrained weights: no downloads),
BatchNorm in train mode, AdamW with a one-cycle schedule, batches of 64; the epochs and peak learning rate
per architecture (EPOCHS, LR) are what learned in the CPU time this shared machine gives; after the last
epoch every BatchNorm's statistics are recomputed over the training images (bn_statistics). The held-out
images are only scored at the end, never used to pick an epoch. One torch thread by default
(TRAIN_THREADS): on this 2-core machine shared by several jobs, two threads ran a resnet18 step 5× slower
than one (the threads wait on each other).
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


# epochs and peak learning rate per architecture (defaults: 8, 2e-3); squeezenet1_1 has no BatchNorm and
# its ReLU-ended classifier dies at Adam's usual rates. efficientnet_b0 and regnet_x_400mf had 6 epochs
# until 2026-12-07: held-out accuracy 0.90 / 0.86, top-1 margins too small for int8 (bench_int8.py); 15
# epochs gave 0.961 / 0.950 (efficientnet_b0 still learning at 6: training accuracy 0.87).
EPOCHS = {"squeezenet1_1": 15, "mobilenet_v3_small": 12, "regnet_x_400mf": 15, "efficientnet_b0": 15}
LR = {"squeezenet1_1": 5e-4}


def bn_statistics(model: Any, x: Any, batch: int = 64) -> int:
    """Recompute every BatchNorm's running mean/variance as the plain average over the training images
    (batches of `batch`, as in training); returns how many BatchNorm layers there are. The running averages
    training leaves lag behind weights that moved fast (mobilenet_v3_small's momentum is 0.01: 0.999 training
    accuracy, 0.10 held-out in eval mode); the eval-mode model then computes what it was trained to."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            if len(x[i:i + batch]) > 1:
                model(x[i:i + batch])
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return len(bns)


def _score(model: Any, x: Any, y: Any) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(x[i:i + 128])) for i in range(0, len(x), 128)]).argmax(1)
    return round(float((pred.numpy() == y).mean()), 4)


def bn_only(arch: str, out: Path, size: int) -> dict[str, Any]:
    """An already trained OUT_DIR/ARCH.pt with its BatchNorm statistics recomputed (bn_statistics); the
    training record OUT_DIR/ARCH.json gains the held-out accuracy before and after."""
    import torch

    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "1")))
    record = json.loads((out / f"{arch}.json").read_text())
    xtr, _ = images("train", size)
    xte, yte = images("test", size)
    model = trained_model(arch, str(out / f"{arch}.pt"), size)
    bn_statistics(model, torch.from_numpy(xtr))
    torch.save(model.state_dict(), out / f"{arch}.pt")
    return {**record, "heldout_accuracy_running_stats": record["heldout_accuracy"],
            "heldout_accuracy": _score(model, xte, yte), "bn_statistics": "recomputed on the training images"}


def train(arch: str, out: Path, size: int, epochs: int | None = None, lr: float | None = None,
          seed: int = 0) -> dict[str, Any]:
    import numpy as np
    import torch

    epochs = epochs or EPOCHS.get(arch, 8)
    lr = lr or LR.get(arch, 2e-3)
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "1")))
    xtr, ytr = images("train", size)
    xte, yte = images("test", size)
    for name, data in (("train", {"x": xtr}), ("heldout", {"x": xte}), ("labelled", {"x": xte, "labels": yte})):
        path = out / f"digits{size}_{name}.npz"
        if not path.is_file():
            np.savez(path, **data)
    model = _build(arch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    t0 = time.perf_counter()
    log = []
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        loss_sum, correct = 0.0, 0
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            if len(b) < 2:  # BatchNorm needs two samples
                continue
            opt.zero_grad()
            logits = model(xt[b])
            loss = torch.nn.functional.cross_entropy(logits, yt[b])
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < steps:
                sched.step()
            loss_sum += loss.item() * len(b)
            correct += int((logits.argmax(1) == yt[b]).sum())
        log.append({"loss": round(loss_sum / len(xt), 4), "train_acc": round(correct / len(xt), 4),
                    "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps({"arch": arch, "epoch": epoch + 1, **log[-1]}), file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    bn = bn_statistics(model, xt[perm])
    acc = _score(model, xte, yte)
    torch.save(model.state_dict(), out / f"{arch}.pt")
    return {"arch": arch, "size": size, "epochs": epochs, "train_samples": len(xtr), "heldout_samples": len(xte),
            "heldout_accuracy": acc, "train_seconds": round(seconds, 1),
            "threads": torch.get_num_threads(), "lr": lr, "optimizer": "AdamW, one-cycle, batch 64",
            "epoch_log": log, "bn_statistics": "recomputed on the training images" if bn else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=None, help="default: EPOCHS[arch] or 8")
    ap.add_argument("--bn-only", action="store_true",
                    help="recompute the BatchNorm statistics of an already trained OUT_DIR/ARCH.pt (no training)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate; default: LR[arch] or 2e-3")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(bn_only(args.arch, out, args.size) if args.bn_only
                     else train(args.arch, out, args.size, args.epochs, args.lr)), flush=True)


if __name__ == "__main__":
    main()

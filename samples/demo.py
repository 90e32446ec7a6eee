"""`make demo`: convert the bundled samples across all formats, validate every route, benchmark the
results side by side, run the samples' deployment recipe, and print the tables. Everything runs on the
CPU, in a few minutes.

Outputs go to demo-out/ (ignored by git).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "demo-out"

TORCH_SAMPLE = ROOT / "samples" / "digits_cnn.ts.pt"
KERAS_SAMPLE = ROOT / "samples" / "digits_keras.keras"


def _matrix(model: Path, out: Path) -> bool:
    from portkit import ui
    from portkit.commands.matrix import render
    from portkit.matrix import matrix

    ui.line(f"\n== {model.relative_to(ROOT)}: every other format, by the best route ==")
    result = matrix(str(model), out, log=ui.progress)
    render(result)
    return bool(result)


def _bench(models: list[str]) -> None:
    from portkit import ui
    from portkit.benchmark import bench
    from portkit.commands.bench import render

    ui.line("\n== latency side by side (CPU) ==")
    render(bench(models, batches=(1, 8), duration=1.0, log=ui.progress))


def _recipe() -> bool:
    from portkit import ui
    from portkit.api import run

    ui.line("\n== the same samples as a deployment recipe (examples/digits.recipe.yaml): convert, validate, "
            "bench, gate ==")
    result = run(str(ROOT / "examples" / "digits.recipe.yaml"), out=str(OUT / "recipe"), log=ui.progress)
    from portkit.commands.run import render

    render(result)
    return bool(result)


def main() -> int:
    from portkit import ui

    t0 = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    ok = _matrix(TORCH_SAMPLE, OUT / "torch")
    if KERAS_SAMPLE.exists():
        ok = _matrix(KERAS_SAMPLE, OUT / "keras") and ok
    torch_out = OUT / "torch"
    # the matrix writes each target into its own folder: torch/onnx/*.onnx, torch/tflite/*.tflite
    candidates = [str(TORCH_SAMPLE)] + [str(p) for p in sorted((torch_out / "onnx").glob("*.onnx"))[:1]] + \
        [str(p) for p in sorted((torch_out / "tflite").glob("*.tflite"))[:1]]
    _bench(candidates)
    ok = _recipe() and ok
    ui.line(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; outputs in {OUT.relative_to(ROOT)}/")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

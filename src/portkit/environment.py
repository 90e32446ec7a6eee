"""The machine and software a result was produced on: one record for bench results and manifests."""
from __future__ import annotations

import os
import platform
from typing import Any

__all__ = ["environment"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.lower().startswith(("model name", "hardware", "cpu model")):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]


def environment(threads: int | None = None) -> dict[str, Any]:
    """CPU, cores, load, OS, Python, library versions, onnxruntime providers, GPUs, thread settings."""
    from .versions import versions

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    physical = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    vers = versions("numpy", "onnx", "onnxruntime", "torch", "tensorflow", "ai_edge_litert")
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
        # the module imported, not the first distribution's metadata (onnxruntime and -gpu can coexist)
        vers["onnxruntime"] = getattr(ort, "__version__", vers.get("onnxruntime"))
        vers["onnxruntime_build"] = "gpu" if "CUDAExecutionProvider" in providers else "cpu"
    except ImportError:
        providers = []
    return {
        "cpu": _cpu_model(), "machine": platform.machine(), "logical_cores": os.cpu_count(),
        "physical_cores": physical, "usable_cores": usable,
        "threads": threads if threads else "runtime default",
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "versions": vers,
        "onnxruntime_providers": providers, "gpus": _gpus(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
                if k in os.environ},
        "ci": bool(os.environ.get("CI")),
    }

"""Helpers shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import platform
from datetime import date
from pathlib import Path

import numpy as np
import torch

from seminpaint.blend import poisson_blend
from seminpaint.images import from_tensor
from seminpaint.metrics import psnr
from seminpaint.precision import native_bf16, resolve_precision

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"


def blended_psnr(model, z: torch.Tensor, truth: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Full-image PSNR per image of Poisson-blended G(z) against the true faces (float [0, 1])."""
    with torch.no_grad():
        generated = from_tensor(model.generator(z))
    return np.array([psnr(t, np.clip(poisson_blend(t, g, m), 0, 1), data_range=1.0)
                     for t, g, m in zip(truth, generated, masks)])


def spread(values: list[float], digits: int) -> str:
    """The median, and the range (min–max) when the values differ: for repeated timings."""
    middle = f"{np.median(values):.{digits}f}"
    return middle if min(values) == max(values) else f"{middle} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """Date, CPU, threads, torch and what "auto" precision is here: the head of every table."""
    return (f"{date.today()} · {cpu_name()} ({torch.backends.cpu.get_cpu_capability()}, bf16 "
            f"{'native' if native_bf16('cpu') else 'emulated'}: auto = {resolve_precision('auto', 'cpu')}) · "
            f"{torch.get_num_threads()} threads · torch {torch.__version__}")

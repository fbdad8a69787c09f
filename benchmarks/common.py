"""Helpers shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from seminpaint.blend import poisson_blend
from seminpaint.images import from_tensor
from seminpaint.metrics import psnr
from seminpaint.runtime.precision import native_bf16, resolve_precision
from seminpaint.settings import SearchSettings

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"


def with_option_texts(settings: SearchSettings, texts) -> SearchSettings:
    """`settings` with OPTION=VALUE texts (e.g. "iterations=100", "mirror=0", "start=random") applied,
    each VALUE read as the option's type: numbers as numbers, booleans from 1/0, true/false, yes/no,
    anything else as text; an unknown option raises InpaintError (SearchSettings.with_options)."""
    options = {}
    for text in texts:
        name, _, value = text.partition("=")
        current = getattr(settings, name, None)
        if isinstance(current, bool):  # before int: bool("0") would be True
            options[name] = value.strip().lower() in ("1", "true", "yes")
        elif isinstance(current, (int, float)):
            options[name] = type(current)(float(value))
        else:
            options[name] = value
    return settings.with_options(**options)


def publish(table: str, out: Path | None) -> None:
    """Print a Markdown table and, when `out` is given, write it there (folders made as needed)."""
    table = table.rstrip("\n") + "\n"
    print(table, end="")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)


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


def median_seconds(run, repeats: int, warmup: int = 3) -> float:
    """The median wall-clock time of run() over `repeats` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def matrix_gigaflops_per_second(dtype: torch.dtype = torch.float32, size: int = 1024, repeats: int = 20) -> float:
    """The arithmetic rate of a size × size matrix product in `dtype` (median of `repeats`): the
    practical peak of this CPU for that dtype."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / median_seconds(lambda: a @ b, repeats) / 1e9


class CountFlops(TorchDispatchMode):
    """Counts the FLOPs of every operation run inside the block, backward passes included, with the
    formulas of torch's FlopCounterMode (convolutions and matrix products; elementwise work is not
    counted) in .total. Unlike FlopCounterMode it tracks no modules, so it also works around
    torch.autograd.grad on a leaf, as the latent search calls it."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def counted_flops(run) -> int:
    """The FLOPs of run(), as CountFlops counts them."""
    with CountFlops() as counter:
        run()
    return counter.total

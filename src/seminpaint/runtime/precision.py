"""How the networks' arithmetic runs, for the latent search and for training.

- "fp32": the plain loop, the way public ports run it: the networks as they are, float32, NCHW,
  BatchNorm as its own layer (in training, the default Adam). The benchmarks' baseline.
- "fp32-fast": float32 on faster forms of the same functions: in the search, frozen copies with
  BatchNorm folded into the convolutions (folding.fold_batchnorm); in both, the thin convolutions
  re-expressed (fast_layers) and, in training, Adam as one fused kernel. For devices without
  native bfloat16.
- "bf16": the same faster forms in bfloat16 autocast, channels_last (oneDNN's fastest layout).
  Fast only where the hardware computes bfloat16: on a CPU without AVX-512 BF16 or AMX (an AVX2
  CPU such as AMD's Zen 3) oneDNN emulates it, many times slower than float32
  (docs/results/README.md, "How fast").
- "auto" (the default everywhere): "bf16" where the device computes bfloat16 natively, else
  "fp32-fast".
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch

from ..errors import InpaintError
from ..settings import PRECISIONS

PLAIN = "fp32"


def check_precision(precision: str) -> None:
    """Raise InpaintError unless `precision` is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise InpaintError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` runs bfloat16 convolutions natively: a CUDA GPU that supports bf16, or a
    CPU with AVX-512 BF16 or AMX (as PyTorch's CPU feature checks report them)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision that runs on `device`: "auto" becomes "bf16" where native_bf16(device), else
    "fp32-fast"; any other valid precision is returned as it is."""
    check_precision(precision)
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32-fast"


def is_fast(precision: str) -> bool:
    """Whether a resolved precision runs the faster forms (everything but the plain loop)."""
    return precision != PLAIN


def layout(precision: str) -> torch.memory_format:
    """The memory format a resolved precision runs in: channels_last for bf16, NCHW otherwise."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


def compute_dtype(precision: str) -> torch.dtype:
    """The dtype a resolved precision computes in: bfloat16 for bf16, float32 otherwise."""
    return torch.bfloat16 if precision == "bf16" else torch.float32


def autocast(precision: str, device: torch.device | str) -> AbstractContextManager:
    """A fresh context to run a resolved precision's forward passes in: bf16 autocast on
    `device`'s type for bf16, nothing otherwise."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""Several processes, on one machine or many, with PyTorch's own engine (torchrun + torch.distributed).

torchrun starts one process per GPU (or a few per CPU machine) and tells each who it is through
the environment: WORLD_SIZE (processes in all), RANK (this one, 0 … WORLD_SIZE − 1) and
LOCAL_RANK (its number on its own machine). Nothing here runs at import time: a process joins
the group only when a command calls init() (or uses session()), and only when WORLD_SIZE > 1,
so `seminpaint train` and `seminpaint evaluate` without torchrun run as one plain process.

Backends: NCCL when the process trains on a CUDA GPU, gloo on CPUs (and for evaluation, which
only ever needs a barrier). Rank 0 is the "main" process: it alone writes checkpoints, sample
grids, logs and the evaluation report.

The synchronised BatchNorm and DistributedDataParallel of the training are training/data_parallel.py;
which share of an evaluation a process does is shards.py.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator

import torch

from .errors import InpaintError

_started_here = False  # whether init() created the process group (and cleanup() should end it)


# ---------------------------------------------------------------------------------------------
# Who am I


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InpaintError(f"environment variable {name}={value!r} is not an integer") from None


def launched() -> bool:
    """Whether this process was started by torchrun (or alike) as one of several: WORLD_SIZE > 1."""
    return _env_int("WORLD_SIZE", 1) > 1


def is_active() -> bool:
    """Whether a process group of more than one process is running in this process."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Processes in the group (1 without one)."""
    import torch.distributed as dist

    return dist.get_world_size() if is_active() else 1


def rank() -> int:
    """This process's number in the group, 0 … world_size() − 1 (0 without a group)."""
    import torch.distributed as dist

    return dist.get_rank() if is_active() else 0


def local_rank() -> int:
    """This process's number on its own machine (torchrun's LOCAL_RANK; 0 without torchrun)."""
    return _env_int("LOCAL_RANK", 0) if launched() else 0


def is_main() -> bool:
    """Rank 0, the process that writes shared files (true when there is no group)."""
    return rank() == 0


# ---------------------------------------------------------------------------------------------
# Joining and leaving


def local_device(device: torch.device | str) -> torch.device:
    """The device this process should use: under torchrun, a CUDA device becomes cuda:LOCAL_RANK."""
    device = torch.device(device)
    if device.type == "cuda" and launched():
        count = torch.cuda.device_count()
        index = local_rank()
        if index >= count:
            raise InpaintError(f"local rank {index} has no GPU of its own ({count} visible); start at most "
                               f"{count} processes per machine (torchrun --nproc-per-node {count})")
        return torch.device("cuda", index)
    return device


def init(device: torch.device | str = "cpu", *, backend: str | None = None,
         timeout: datetime.timedelta | None = None) -> bool:
    """Join the process group torchrun describes in the environment; return whether one is active.

    Does nothing (and returns False) when WORLD_SIZE is unset or 1. backend: default "nccl" for a
    CUDA device, else "gloo". timeout: how long a collective (e.g. a barrier) waits for the
    others; torch's default (30 minutes) when None. MASTER_ADDR and MASTER_PORT come from torchrun.
    """
    global _started_here
    if not launched():
        return False
    import torch.distributed as dist

    if not dist.is_available():
        raise InpaintError("this torch build has no torch.distributed; run without torchrun")
    if dist.is_initialized():
        return is_active()
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise InpaintError(f"WORLD_SIZE is set but {', '.join(missing)} is not; start the command with torchrun")
    device = torch.device(device)
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    if backend == "nccl":
        if not dist.is_nccl_available():
            raise InpaintError("NCCL is not available in this torch build; train on CPUs (gloo) instead")
        torch.cuda.set_device(local_device(device))
    elif backend == "gloo" and not dist.is_gloo_available():
        raise InpaintError("gloo is not available in this torch build")
    kwargs = {"timeout": timeout} if timeout is not None else {}
    dist.init_process_group(backend=backend, init_method="env://", **kwargs)
    _started_here = True
    return is_active()


def barrier() -> None:
    """Wait until every process of the group gets here (nothing without a group)."""
    import torch.distributed as dist

    if not is_active():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if init() created it."""
    global _started_here
    import torch.distributed as dist

    if _started_here and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _started_here = False


@contextlib.contextmanager
def session(device: torch.device | str = "cpu", *, backend: str | None = None,
            timeout: datetime.timedelta | None = None) -> Iterator[bool]:
    """init() on entry, cleanup() on exit; yields whether a group of several processes is active."""
    try:
        yield init(device, backend=backend, timeout=timeout)
    finally:
        cleanup()


# ---------------------------------------------------------------------------------------------
# Small collectives


def all_equal(value: object, what: str) -> None:
    """Raise InpaintError on every rank unless `value` (any picklable object) is the same on all ranks."""
    import torch.distributed as dist

    if not is_active():
        return
    values: list[object] = [None] * world_size()
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        listing = "; ".join(f"rank {r}: {v}" for r, v in enumerate(values))
        raise InpaintError(f"the processes disagree on {what} ({listing})")


def mean_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of `tensor` over the ranks (a copy; `tensor` itself without a group)."""
    import torch.distributed as dist

    if not is_active():
        return tensor
    tensor = tensor.detach().clone()
    dist.all_reduce(tensor)
    return tensor / world_size()

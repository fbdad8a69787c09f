"""Several processes, on one machine or many, with PyTorch's own engine (torchrun + torch.distributed).

torchrun starts one process per GPU (or a few per CPU machine) and tells each who it is through
the environment: WORLD_SIZE (processes in all), RANK (this one, 0 … WORLD_SIZE − 1) and
LOCAL_RANK (its number on its own machine). Nothing here runs at import time: a process joins
the group only when a command calls init() (or uses session()), and only when WORLD_SIZE > 1,
so `seminpaint train` and `seminpaint evaluate` without torchrun behave exactly as before.

Backends: NCCL when the process trains on a CUDA GPU, gloo on CPUs (and for evaluation, which
only ever needs a barrier). Rank 0 is the "main" process: it alone writes checkpoints, sample
grids, logs and the evaluation report.

BatchNorm. One process normalises each batch with that batch's mean and variance. With the
batch split over N processes, each would otherwise see only its B/N rows. torch.nn.SyncBatchNorm
computes the global statistics but, in this torch (2.13), refuses CPU tensors ("SyncBatchNorm
expected input tensor to be on GPU …"), so GlobalBatchNorm2d below does the same thing with
plain tensor operations and all-reduces of the per-channel sums (forward and backward): the
same normalisation, running statistics and gradients as one process on the whole batch. It uses
only torch.distributed.all_reduce, so it runs on gloo and NCCL alike (the tests run it on gloo).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence

import torch
from torch import nn

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


# ---------------------------------------------------------------------------------------------
# BatchNorm over the global batch


class _GlobalBatchNormFunction(torch.autograd.Function):
    """Training-mode batch normalisation over the rows of every rank, in float32.

    Forward: per-channel Σx, then Σ(x − mean)² (two passes avoid the cancellation of
    Σx² − N·mean²), each all-reduced. Backward, as torch's own BatchNorm kernels and SyncBatchNorm:
    dx = w·invstd·(dy − Σdy/N − x̂·Σ(dy·x̂)/N) with the two sums all-reduced. Each rank's dy is the
    gradient of its own loss, so dx is the gradient of the sum of every rank's loss, and the local
    Σdy, Σ(dy·x̂) are this rank's share of the bias and weight gradients: with DDP averaging the
    parameter gradients, the step is that of the mean loss over the global batch. One all-reduce
    in the backward pass (SyncBatchNorm's scheme), where autograd through the forward would need two.
    """

    @staticmethod
    def forward(ctx, input, weight, bias, eps: float, count: int):
        import torch.distributed as dist

        x = input.float()
        shape, dims = (1, x.shape[1], 1, 1), (0, 2, 3)
        total = x.sum(dims)
        dist.all_reduce(total)
        mean = total / count
        centered = x - mean.view(shape)
        squares = centered.square().sum(dims)
        dist.all_reduce(squares)
        variance = squares / count
        invstd = torch.rsqrt(variance + eps)
        normalised = centered * invstd.view(shape)
        out = normalised if weight is None else normalised * weight.view(shape) + bias.view(shape)
        ctx.save_for_backward(normalised, weight, invstd)
        ctx.count = count
        ctx.mark_non_differentiable(mean, variance)
        return out.to(input.dtype), mean, variance

    @staticmethod
    def backward(ctx, grad_out, _grad_mean, _grad_variance):
        import torch.distributed as dist

        normalised, weight, invstd = ctx.saved_tensors
        shape, dims = (1, normalised.shape[1], 1, 1), (0, 2, 3)
        dy = grad_out.float()
        sum_dy, sum_dy_xhat = dy.sum(dims), (dy * normalised).sum(dims)
        grad_weight = sum_dy_xhat.clone() if weight is not None and ctx.needs_input_grad[1] else None
        grad_bias = sum_dy.clone() if weight is not None and ctx.needs_input_grad[2] else None
        grad_input = None
        if ctx.needs_input_grad[0]:
            sums = torch.stack([sum_dy, sum_dy_xhat])
            dist.all_reduce(sums)
            mean_dy, mean_dy_xhat = (sums / ctx.count).unbind(0)
            scale = invstd if weight is None else invstd * weight.float()
            grad_input = (dy - mean_dy.view(shape) - normalised * mean_dy_xhat.view(shape)) * scale.view(shape)
            grad_input = grad_input.to(grad_out.dtype)
        return grad_input, grad_weight, grad_bias, None, None


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are those of the batch of every rank together.

    What torch.nn.SyncBatchNorm does on GPUs, for any backend and device (gloo on CPUs included):
    mean and biased variance per channel over the global batch (float32), the running statistics
    updated as nn.BatchNorm2d does (unbiased variance, momentum), and gradients that, with DDP
    averaging the parameter gradients, are those of the mean loss over the global batch (see
    _GlobalBatchNormFunction). Every rank must call it with the same number of rows. Outside
    training mode, or without a group, it is plain BatchNorm2d. Its parameters and buffers have
    BatchNorm2d's names, so checkpoints are interchangeable.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_active()):
            return super().forward(input)
        self._check_input_dim(input)
        count = input.numel() // input.shape[1] * world_size()
        out, mean, variance = _GlobalBatchNormFunction.apply(input, self.weight, self.bias, self.eps, count)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                unbiased = variance * (count / max(count - 1, 1))
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return out


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every nn.BatchNorm2d inside `module` by a GlobalBatchNorm2d, in place; return `module`.

    The new layers hold the very same Parameter and buffer objects, so optimisers built on
    `module.parameters()` stay valid and state_dict() keys do not change.
    """
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlobalBatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum,
                                            affine=child.affine, track_running_stats=child.track_running_stats)
            replacement._parameters = child._parameters
            replacement._buffers = child._buffers
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            convert_batchnorm(child)
    return module


def data_parallel(module: nn.Module, device: torch.device | str) -> nn.Module:
    """`module` (BatchNorm converted to GlobalBatchNorm2d) inside DistributedDataParallel.

    The running statistics agree on every rank already, so DDP does not broadcast buffers before
    each forward pass. Parameters are broadcast from rank 0 once, here.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    device = torch.device(device)
    device_ids = None
    if device.type == "cuda":
        device_ids = [torch.cuda.current_device() if device.index is None else device.index]
    # torch 2.13 renamed broadcast_buffers (deprecated) to forward_sync_buffers.
    keyword = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
               else "broadcast_buffers")
    return DistributedDataParallel(convert_batchnorm(module), device_ids=device_ids, **{keyword: False})


# ---------------------------------------------------------------------------------------------
# Shards of an evaluation


def parse_shard(text: str) -> tuple[int, int]:
    """"INDEX/COUNT" (e.g. "1/4", INDEX from 0) → (INDEX, COUNT)."""
    index, slash, count = str(text).partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None:
        raise InpaintError(f"--shard {text!r} must look like INDEX/COUNT, e.g. 0/4")
    return check_shard(shard)


def check_shard(shard: Sequence[int]) -> tuple[int, int]:
    """Validate (INDEX, COUNT): COUNT ≥ 1 and 0 ≤ INDEX < COUNT."""
    try:
        index, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise InpaintError(f"a shard is (INDEX, COUNT), got {shard!r}") from None
    if count < 1 or not 0 <= index < count:
        raise InpaintError(f"shard {index}/{count}: need COUNT ≥ 1 and 0 ≤ INDEX < COUNT")
    return index, count


def current_shard(shard: Sequence[int] | None = None) -> tuple[int, int]:
    """The shard this process works on: `shard` if given, else (rank, world size) of the group.

    (0, 1) means everything. Inside a group of several processes the group splits the work, so
    any other shard than (rank, world size) is refused.
    """
    own = (rank(), world_size())
    if shard is None:
        return own
    shard = check_shard(shard)
    if is_active() and shard != own:
        raise InpaintError("--shard is for processes started one by one; under torchrun each rank "
                           "takes its share (rank, world size) by itself")
    return shard


def in_shard(number: int, shard: tuple[int, int]) -> bool:
    """Whether item `number` (an image index, or a chunk number) belongs to `shard`: number % COUNT == INDEX."""
    return number % shard[1] == shard[0]

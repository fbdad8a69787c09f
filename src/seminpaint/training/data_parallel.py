"""Data-parallel training over the process group (distributed.py): BatchNorm over the global batch,
and the network inside DistributedDataParallel.

One process normalises each batch with that batch's mean and variance. With the batch split over
N processes, each would otherwise see only its B/N rows. torch.nn.SyncBatchNorm computes the global
statistics but refuses CPU tensors ("SyncBatchNorm expected input tensor to be on GPU …"), so
GlobalBatchNorm2d does the same thing with plain tensor operations and all-reduces of the
per-channel sums (forward and backward): the same normalisation, running statistics and gradients
as one process on the whole batch. It uses only torch.distributed.all_reduce, so it runs on gloo
and NCCL alike (the tests run it on gloo).
"""

from __future__ import annotations

import torch
from torch import nn

from ..distributed import is_active, world_size


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

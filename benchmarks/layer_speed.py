"""Forward + input-gradient time of each convolution of the shipped DCGAN's search copy, the
layer as oneDNN runs it against its fast form (seminpaint.runtime.fast_layers), batch 64, at a precision
("auto" by default: bf16 and channels_last where the CPU computes bf16 natively, else fp32-fast)
— what the latent search runs every step — and the arithmetic rate of the form the search runs
(GFLOP/s of the layer's own arithmetic: forward and input gradient, two FLOPs a multiply-add).
benchmarks/ceiling.py sets these rates against what the speed targets need.

    python benchmarks/layer_speed.py
    python benchmarks/layer_speed.py --precision fp32-fast --layout channels_last
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from common import counted_flops, machine_line, median_seconds
from seminpaint import load_model
from seminpaint.api import DEFAULT_MODEL
from seminpaint.runtime.fast_layers import fast_form
from seminpaint.runtime.folding import search_copy
from seminpaint.runtime.precision import PRECISIONS, PLAIN, compute_dtype, layout, resolve_precision

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def forward_and_input_gradient(layer: nn.Module, x: torch.Tensor) -> None:
    """layer(x) and the gradient of its sum with respect to x: what the search runs of each layer."""
    leaf = x.detach().requires_grad_(True)
    output = layer(leaf)
    torch.autograd.grad(output, leaf, torch.ones_like(output))


def milliseconds(layer: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median time of forward_and_input_gradient(layer, x)."""
    return median_seconds(lambda: forward_and_input_gradient(layer, x), repeats) * 1000


def gigaflops(layer: nn.Module, x: torch.Tensor) -> float:
    """FLOPs (×1e-9) of forward_and_input_gradient(layer, x) (common.CountFlops)."""
    return counted_flops(lambda: forward_and_input_gradient(layer, x)) / 1e9


def layer_inputs(network: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor]]:
    """Every convolution of `network` with the input it gets on x."""
    seen = []
    hooks = [module.register_forward_hook(lambda module, inputs, _: seen.append((module, inputs[0].detach())))
             for module in network.modules() if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        network(x)
    for hook in hooks:
        hook.remove()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--precision", choices=[p for p in PRECISIONS if p != PLAIN], default="auto",
                        help="auto (default), bf16 or fp32-fast: the dtype of the search copies")
    parser.add_argument("--layout", choices=LAYOUTS, help="memory layout (default: the precision's)")
    args = parser.parse_args()
    precision = resolve_precision(args.precision, "cpu")
    dtype, memory_format = compute_dtype(precision), LAYOUTS.get(args.layout) or layout(precision)
    model = load_model(DEFAULT_MODEL)
    generator, discriminator = (search_copy(network, dtype, fast_layers=False, memory_format=memory_format)
                                for network in (model.generator, model.discriminator))
    z = (torch.rand(args.batch, model.latent_dim) * 2 - 1).to(dtype)
    with torch.no_grad():
        image = generator(z)
    layout_name = "channels_last" if memory_format == torch.channels_last else "nchw"
    print(f"{machine_line()} · batch {args.batch} · {precision} ({dtype}), {layout_name}")
    print("| network | layer | input | native ms | fast form | fast ms | fast GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    total_native = total_fast = total_flops = 0.0
    for name, network, x in [("G", generator, z), ("D", discriminator, image)]:
        for layer, layer_input in layer_inputs(network, x):
            native = milliseconds(layer, layer_input, args.repeats)
            fast = fast_form(layer)
            fast_ms = milliseconds(fast, layer_input, args.repeats) if fast is not None else native
            flops = gigaflops(layer, layer_input)  # the layer's own arithmetic, whichever form runs it
            total_native, total_fast, total_flops = total_native + native, total_fast + fast_ms, total_flops + flops
            print(f"| {name} | {layer} | {tuple(layer_input.shape)} | {native:.2f} | "
                  f"{type(fast).__name__ if fast is not None else '—'} | {fast_ms:.2f} | {flops / fast_ms * 1000:.0f} |")
    print(f"| all | | | {total_native:.1f} | | {total_fast:.1f} | {total_flops / total_fast * 1000:.0f} |")


if __name__ == "__main__":
    main()

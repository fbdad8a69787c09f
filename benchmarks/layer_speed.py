"""Forward + input-gradient time of each convolution of the shipped DCGAN's search copy, the
layer as oneDNN runs it against its fast form (seminpaint.fast_layers), batch 64, bf16,
channels_last — what the latent search runs every step.

    python benchmarks/layer_speed.py
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from seminpaint import load_model
from seminpaint.api import DEFAULT_MODEL
from seminpaint.fast_layers import fast_form
from seminpaint.model import search_copy


def milliseconds(layer: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median time of layer(x) and the gradient of its sum with respect to x."""
    def once():
        leaf = x.detach().requires_grad_(True)
        output = layer(leaf)
        torch.autograd.grad(output, leaf, torch.ones_like(output))
    for _ in range(3):
        once()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        once()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


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
    args = parser.parse_args()
    model = load_model(DEFAULT_MODEL)
    dtype = torch.bfloat16
    generator, discriminator = (search_copy(network, dtype, fast_layers=False)
                                for network in (model.generator, model.discriminator))
    z = (torch.rand(args.batch, model.latent_dim) * 2 - 1).to(dtype)
    with torch.no_grad():
        image = generator(z)
    print(f"torch {torch.__version__} · {torch.get_num_threads()} threads · batch {args.batch} · bf16, channels_last")
    print("| network | layer | input | native ms | fast form | fast ms |")
    print("|---|---|---|---|---|---|")
    total_native = total_fast = 0.0
    for name, network, x in [("G", generator, z), ("D", discriminator, image)]:
        for layer, layer_input in layer_inputs(network, x):
            native = milliseconds(layer, layer_input, args.repeats)
            fast = fast_form(layer)
            fast_ms = milliseconds(fast, layer_input, args.repeats) if fast is not None else native
            total_native, total_fast = total_native + native, total_fast + fast_ms
            print(f"| {name} | {layer} | {tuple(layer_input.shape)} | {native:.2f} | "
                  f"{type(fast).__name__ if fast is not None else '—'} | {fast_ms:.2f} |")
    print(f"| all | | | {total_native:.1f} | | {total_fast:.1f} |")


if __name__ == "__main__":
    main()

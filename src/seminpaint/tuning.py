"""G tuned to each image after the search (beyond the paper).

The paper keeps G fixed and searches only z, so a face that G cannot draw exactly stays out of
reach: its raw G(ẑ) is far from the known pixels even at the best ẑ. Deep Generative Prior (Pan et
al., ECCV 2020) and Pivotal Tuning (Roich et al., 2022) then tune G's weights θ themselves on the
one image, starting from the trained ones and pulled back towards them. We do the same for G's
last `tune_layers` convolutions only (the layers that draw the finest detail), each image of a
batch with its own copy, minimising Eq. 2's objective over θ at z = ẑ plus the pull

    L(θ) = L_c(θ | y, M) + L_p(θ) + ρ · Σ_layers ‖θ − θ₀‖² / ‖θ₀‖²

with ρ = tune_pull, by `tune_steps` Adam steps at rate `tune_learning_rate`. A few small steps
lower the error on the known pixels without letting the hole drift far from what G learnt; the
shipped model's G and D are never changed (the tuned weights are copies, dropped afterwards).
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm import tqdm

from .errors import InpaintError
from .latent import search_networks
from .losses import importance_weights, objective
from .networks.model import GenerativeModel
from .runtime.folding import fold_batchnorm
from .settings import SearchSettings


def split_generator(generator: nn.Module, layers: int, *, folded: bool = False) -> tuple[nn.Sequential, nn.Sequential]:
    """G as (trunk, head): the head holds G's last `layers` convolutions and everything after them,
    the trunk the rest; head(trunk(z.reshape(B, latent_dim, 1, 1))) = G(z).

    folded=False: both are float32 copies in eval mode with BatchNorm folded into the convolutions
    (runtime.folding.fold_batchnorm) and no gradients, G itself untouched. folded=True: G is such a copy
    already (latent.search_networks' search copies) and its layers are shared, not copied.
    G must keep its layers in an nn.Sequential `net` fed with z as (B, latent_dim, 1, 1), as
    dcgan.Generator does; else InpaintError.
    """
    net = getattr(generator, "net", None)
    if not isinstance(net, nn.Sequential):
        raise InpaintError("generator tuning needs a G whose layers are an nn.Sequential `net` "
                           f"(as dcgan.Generator); {type(generator).__name__} is not")
    layers_of_g = list(net if folded else fold_batchnorm(copy.deepcopy(net).float().eval().requires_grad_(False)))
    convolutions = [index for index, layer in enumerate(layers_of_g)
                    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))]
    if not 1 <= layers <= len(convolutions):
        raise InpaintError(f"tune_layers must be from 1 to {len(convolutions)} for this generator, got {layers}")
    split = convolutions[-layers]
    return nn.Sequential(*layers_of_g[:split]), nn.Sequential(*layers_of_g[split:])


def tune_generator(
    model: GenerativeModel,
    z: torch.Tensor,
    corrupted: torch.Tensor,
    mask: torch.Tensor,
    settings: SearchSettings,
    *,
    progress: bool = False,
) -> torch.Tensor:
    """G(ẑ) drawn by a copy of G tuned to each image (see the module's docstring).

    z: ẑ, (B, latent_dim), from the search. corrupted: y, (B, C, H, W) in [-1, 1] at the model's
    size. mask: bool (B, H, W), True = missing. settings: tune_steps, tune_learning_rate,
    tune_layers, tune_pull and tune_target say how; window, prior_weight and prior_form are
    Eq. 3–5's. Feature maps are tuned with the search's networks and precision
    (latent.search_networks); weights in float32. Returns the tuned G(ẑ), (B, C, H, W) in
    [-1, 1], float32 on the model's device; with tune_steps = 0 it is G(ẑ) itself (up to rounding).
    """
    device = model.device
    batch = z.shape[0]
    y, weights = corrupted.to(device).float(), importance_weights(mask.to(device), settings.window)
    use_prior = settings.prior_weight > 0 and model.discriminator is not None
    if settings.tune_target == "features":
        generator_net, discriminator_net, autocast, dtype = search_networks(model, settings.precision, use_prior)
        trunk, head = split_generator(generator_net, settings.tune_layers, folded=True)
    else:
        trunk, head = (part.to(device) for part in split_generator(model.generator, settings.tune_layers))
        discriminator_net, autocast, dtype = model.discriminator, contextlib.nullcontext(), torch.float32
    with torch.no_grad(), autocast:
        features = trunk(z.to(device).to(dtype).reshape(batch, -1, 1, 1)).float()
    if settings.tune_target == "features":
        originals = {"features": features}
        tuned = {"features": features.clone().requires_grad_(True)}

        def draw(parameters: dict[str, torch.Tensor]) -> torch.Tensor:
            """G(ẑ) from each image's own feature map h: (B, C, H, W)."""
            return head(parameters["features"].to(dtype))
    else:
        originals = {name: parameter.detach() for name, parameter in head.named_parameters()}
        tuned = {name: original.expand(batch, *original.shape).clone().requires_grad_(True)
                 for name, original in originals.items()}  # one copy of θ₀ per image

        def draw(parameters: dict[str, torch.Tensor]) -> torch.Tensor:
            """G(ẑ) of every image with its own head weights: (B, C, H, W)."""
            one = lambda weights_of_one, x: functional_call(head, weights_of_one, (x[None],))[0]  # noqa: E731
            return vmap(one)(parameters, features)

    sizes = {name: (original.square().flatten(1).sum(1) if name == "features" else original.square().sum())
             .clamp_min(1e-12) for name, original in originals.items()}  # ‖h₀‖² per image, or ‖θ₀‖² per layer
    optimizer = torch.optim.Adam(tuned.values(), lr=settings.tune_learning_rate, fused=True)
    with model.frozen():
        for _ in tqdm(range(settings.tune_steps), disable=not progress, desc="tuning G", unit="it"):
            with torch.enable_grad():
                with autocast:
                    generated = draw(tuned)
                    logits = discriminator_net(generated) if use_prior else None
                generated = generated.float()
                context, prior = objective(generated, y, weights, logits, prior_weight=settings.prior_weight,
                                           prior_form=settings.prior_form)
                loss = context + prior  # Eq. 4 + Eq. 5, per image
                if settings.tune_pull:
                    loss = loss + settings.tune_pull * sum(
                        (tuned[name] - originals[name]).square().flatten(1).sum(1) / sizes[name] for name in tuned)
                optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()  # a sum: each image's copy gets its own image's gradient
            optimizer.step()
            if settings.tune_target == "features":
                with torch.no_grad():  # h stays where the trunk's ReLU puts it, as z stays in its range
                    tuned["features"].clamp_(min=0)
        with torch.no_grad(), autocast:
            return draw(tuned).float()

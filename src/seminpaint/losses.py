"""The paper's losses (section 3.1–3.2) as pure functions of tensors, and the one objective that
the search, the latent encoder's training and G's tuning all minimise (objective: Eq. 4 + Eq. 5).

Mask convention: `mask` is boolean, True = missing (to be filled). The paper's M is the opposite
(M_i = 1 on known pixels); where an equation uses M we write it as `known = ~mask`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InpaintError
from .settings import PRIOR_FORMS


def importance_weights(mask: torch.Tensor | np.ndarray, window: int = 7) -> torch.Tensor | np.ndarray:
    """Eq. 3: W_i = Σ_{j∈N(i)} (1 − M_j) / |N(i)| on known pixels i, W_i = 0 inside the hole.

    In our convention (1 − M_j) is `mask[j]`: a known pixel's weight is the fraction of *missing*
    pixels in the window×window neighbourhood N(i) centred on it. N(i) holds the neighbours that
    lie inside the image, so |N(i)| is smaller at the border. The paper uses window = 7.

    mask: bool (H, W) or (B, H, W), True = missing; numpy or torch.
    Returns float32 weights in [0, 1) of the same shape and kind (numpy in, numpy out).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise InpaintError(f"window must be a positive odd integer, got {window!r}")
    as_numpy = isinstance(mask, np.ndarray)
    missing = torch.as_tensor(np.asarray(mask) if as_numpy else mask)
    if missing.dtype != torch.bool:
        raise InpaintError(f"mask must be boolean (True = missing), got {missing.dtype}")
    if missing.ndim not in (2, 3):
        raise InpaintError(f"mask must be (H, W) or (B, H, W), got shape {tuple(missing.shape)}")
    batch = missing.reshape(-1, 1, *missing.shape[-2:]).float()
    # Mean over the in-image part of the window: count_include_pad=False gives |N(i)|.
    fraction_missing = F.avg_pool2d(batch, window, stride=1, padding=window // 2, count_include_pad=False)
    weights = (fraction_missing * (1.0 - batch)).reshape(missing.shape)
    return weights.numpy() if as_numpy else weights


def context_loss(generated: torch.Tensor, corrupted: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 4: L_c(z | y, M) = ‖W ⊙ (G(z) − y)‖₁, summed over pixels and channels of each image.

    generated G(z) and corrupted y: (B, C, H, W) on the same scale (the model's [-1, 1]);
    weights W: (B, H, W) or (B, 1, H, W) from importance_weights, broadcast over channels.
    Returns (B,): one loss per image, never averaged, so each image's search is its own.
    """
    if weights.ndim == 3:
        weights = weights[:, None]
    return (weights * (generated - corrupted)).abs().sum(dim=(1, 2, 3))


def prior_loss(logits: torch.Tensor, *, weight: float = 0.003, form: str = "paper") -> torch.Tensor:
    """Eq. 5: L_p(z) = λ · log(1 − D(G(z))), with D = sigmoid(logit) and λ = weight (paper: 0.003).

    Minimising it makes D believe G(z) is real. On logits log(1 − sigmoid(l)) = −softplus(l),
    which is stable for any l. form="non_saturating" uses −λ · log D(G(z)) = λ · softplus(−l)
    instead (the authors' public TensorFlow code); "paper" is the default.
    logits: (B,) from the discriminator. Returns (B,).
    """
    if form == "paper":
        return -weight * F.softplus(logits)
    if form == "non_saturating":
        return weight * F.softplus(-logits)
    raise InpaintError(f"prior form must be one of {', '.join(PRIOR_FORMS)}, got {form!r}")


def objective(generated: torch.Tensor, corrupted: torch.Tensor, weights: torch.Tensor,
              logits: torch.Tensor | None, *, prior_weight: float, prior_form: str = "paper"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2's objective at G(z), per image: (L_c, L_p), the context loss (Eq. 4) and the prior
    loss (Eq. 5, λ = prior_weight), each (B,); their sum is what is minimised.

    generated G(z): (B, C, H, W) in [-1, 1], any float dtype (compared in float32); corrupted y:
    (B, C, H, W) float32 on the same scale; weights W: (B, H, W) or (B, 1, H, W) from
    importance_weights (0 in the hole, True = missing); logits: D's (B,) on G(z), any float dtype,
    or None for no prior loss (L_p = 0).
    """
    context = context_loss(generated.float(), corrupted, weights)
    if logits is None:
        return context, torch.zeros_like(context)
    return context, prior_loss(logits.float(), weight=prior_weight, form=prior_form)

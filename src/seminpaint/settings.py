"""What an inpainting run does: the search's options (Eq. 2–5), the blend (Eq. 6), and the presets.

A preset is one SearchSettings that carries everything — steps, Adam's rate, where z starts, when
an image stops, and how G(ẑ) is blended in — so `inpaint(settings="paper")`, `--preset paper`, the
web page and the demo all mean the same thing by a name. DEFAULT is what every entry point runs
when no preset is named. This module imports neither torch nor SciPy, so the command line's
`--help` reads its names and defaults from here rather than from copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from numbers import Real

from .errors import InpaintError

PRECISIONS = ("auto", "bf16", "fp32-fast", "fp32")
"""How the networks run during the search (runtime/precision.py): auto = bf16 where the device computes
bfloat16 natively, else fp32-fast; bf16 and fp32-fast run copies of G and D with BatchNorm folded
into the convolutions; fp32 runs the networks as given (the plain loop)."""

PRIOR_FORMS = ("paper", "non_saturating")
"""The prior loss (Eq. 5): "paper" is λ·log(1 − D(G(z))); "non_saturating" is −λ·log D(G(z))."""

STARTS = ("random", "encoder", "auto")
"""Where the first start of each image's search lies: random (z ~ U[-1, 1], the paper), encoder
(z = E(y, M), the model's latent encoder) or auto (the encoder when the model has one)."""

BLEND_MODES = ("poisson", "hybrid", "overlay")
"""How G(ẑ) goes into the hole: poisson (Eq. 6), hybrid (Eq. 6 plus μ‖Δx‖², ours) or overlay (pasted)."""

TUNE_TARGETS = ("weights", "features")
"""What tuning.py tunes to each image: G's last layers' weights, or the feature map entering them."""

MAX_CANDIDATES = 16
"""The most completions per image (SearchSettings.candidates): each costs a search and a blend."""

HYBRID_SMOOTHNESS = 1.0
"""μ of the hybrid blend, in pixels² at the model's size, chosen on validation faces
(docs/results/hybrid_blend.md)."""


@dataclass(frozen=True)
class SearchSettings:
    """Every option of one inpainting run. The field defaults are the paper's setting (PAPER).

    iterations: Adam steps on z at most (paper: 1500).
    learning_rate, betas: Adam on z (the paper gives none; chosen on validation faces).
    prior_weight: λ of Eq. 5 (paper: 0.003); 0 switches the prior off.
    prior_form: one of PRIOR_FORMS (paper: "paper").
    window: side of Eq. 3's window around each known pixel (paper: 7).
    restarts: starts per image, the one with the lowest final loss kept (paper: 1).
    precision: one of PRECISIONS.
    start: one of STARTS, for the first start of each image; further restarts start at random.
    screen: draw this many starts per image, score each by one forward pass, and search from the
        `restarts` best (0: no screen, the paper).
    patience, tolerance: an image stops once its loss has not fallen by the fraction `tolerance`
        for `patience` steps (patience 0: never, the paper).
    blend: one of BLEND_MODES (paper: "poisson").
    smoothness: μ of the hybrid blend (pixels² at the model's size).
    candidates: completions per image, K (paper: 1). Candidate 1 starts where `start` says; each
        further one from that start plus Gaussian noise of standard deviation `candidate_noise`
        (in z's units, clipped to the latent range), and is searched and blended on its own. With
        K > 1 the result is the candidates' per-pixel mean (candidates.py).
    mirror: with K ≥ 2, the even-numbered candidates (2, 4, …) search the image mirrored left to
        right, their G(ẑ) mirrored back (candidates.py; paper: False).
    tune_steps, tune_learning_rate, tune_layers, tune_pull, tune_target: after the search, tune to
        each image a copy of G's last `tune_layers` convolutions ("weights") or the feature map
        that enters them ("features"), by `tune_steps` Adam steps at that rate, pulled back to
        where they started with weight `tune_pull` (tuning.py; paper: 0 steps).
    """

    iterations: int = 1500
    learning_rate: float = 0.003
    betas: tuple[float, float] = (0.9, 0.999)
    prior_weight: float = 0.003
    prior_form: str = "paper"
    window: int = 7
    restarts: int = 1
    precision: str = "auto"
    start: str = "random"
    screen: int = 0
    patience: int = 0
    tolerance: float = 1e-3
    blend: str = "poisson"
    smoothness: float = HYBRID_SMOOTHNESS
    candidates: int = 1
    candidate_noise: float = 0.5
    mirror: bool = False
    tune_steps: int = 0
    tune_learning_rate: float = 1e-4
    tune_layers: int = 3
    tune_pull: float = 1.0
    tune_target: str = "weights"

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise InpaintError(f"iterations must be ≥ 0, got {self.iterations}")
        if self.restarts < 1:
            raise InpaintError(f"restarts must be ≥ 1, got {self.restarts}")
        if not self.learning_rate > 0:
            raise InpaintError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.prior_weight < 0:
            raise InpaintError(f"prior_weight must be ≥ 0, got {self.prior_weight}")
        if self.screen and self.screen < self.restarts:
            raise InpaintError(f"screen ({self.screen}) must be 0 or at least restarts ({self.restarts})")
        if self.candidates < 1 or self.candidates > MAX_CANDIDATES:
            raise InpaintError(f"candidates must be from 1 to {MAX_CANDIDATES}, got {self.candidates}")
        if not 0 <= self.candidate_noise < math.inf or not 0 <= self.tune_pull < math.inf:
            raise InpaintError("candidate_noise and tune_pull must be finite numbers ≥ 0")
        if not isinstance(self.mirror, bool):
            raise InpaintError(f"mirror must be True or False, got {self.mirror!r}")
        if self.tune_steps < 0 or self.tune_layers < 1 or not self.tune_learning_rate > 0:
            raise InpaintError("tune_steps must be ≥ 0, tune_layers ≥ 1 and tune_learning_rate positive")
        if self.patience < 0 or not 0 <= self.tolerance < 1:
            raise InpaintError("patience must be ≥ 0 and tolerance in [0, 1)")
        for name, allowed in (("prior_form", PRIOR_FORMS), ("precision", PRECISIONS), ("start", STARTS),
                              ("blend", BLEND_MODES), ("tune_target", TUNE_TARGETS)):
            if getattr(self, name) not in allowed:
                raise InpaintError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        check_smoothness(self.smoothness)

    def with_options(self, **options) -> "SearchSettings":
        """A copy with some options changed, e.g. PAPER.with_options(iterations=300)."""
        unknown = set(options) - set(self.__dataclass_fields__)
        if unknown:
            raise InpaintError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)


def candidates_and_tuning(settings: SearchSettings) -> str:
    """What `settings` add to one search, in the words of the one-line descriptions (api.describe,
    the evaluation report): ", K candidates per image[, every second one of the image mirrored]
    (their mean)" with K > 1, and ", then … tuned to the image for S steps at rate R" with tuning;
    "" for neither."""
    words = ""
    if settings.candidates > 1:
        mirrored = ", every second one of the image mirrored" if settings.mirror else ""
        words += f", {settings.candidates} candidates per image{mirrored} (their mean)"
    if settings.tune_steps:
        layers = settings.tune_layers
        tuned = (f"the feature map entering G's last {layers} layers" if settings.tune_target == "features"
                 else f"the weights of G's last {layers} layers")
        words += f", then {tuned} tuned to the image for {settings.tune_steps} steps at rate {settings.tune_learning_rate:g}"
    return words


def check_smoothness(smoothness: object) -> float:
    """μ of the hybrid blend as a float; anything but a finite number ≥ 0 raises InpaintError."""
    if isinstance(smoothness, bool) or not isinstance(smoothness, Real) or not 0 <= smoothness < math.inf:
        raise InpaintError(f"smoothness must be a finite number ≥ 0, got {smoothness!r}")
    return float(smoothness)


PAPER = SearchSettings()
"""The paper's setting: 1500 Adam steps (rate 0.003, validation's choice for 1500 steps) from one
random start, λ = 0.003, window 7, Poisson blending (Eq. 6)."""

FAST = PAPER.with_options(iterations=50, start="auto", learning_rate=0.04)
"""The paper's losses and blend, 50 Adam steps at rate 0.04 from the model's latent encoder E(y, M):
on the validation faces as good as 100 steps at 0.01 in half the time (docs/results/default/)."""

ENHANCED = FAST.with_options(blend="hybrid")
"""FAST's search, then the hybrid blend (Eq. 6 plus μ‖Δx‖²) instead of Poisson's."""

MIRRORED = ENHANCED.with_options(candidates=2, mirror=True, iterations=25, learning_rate=0.08)
"""ENHANCED's 50 Adam steps split over two views: 25 steps (rate 0.08) on the image and 25 on its
mirror image, each from the latent encoder's z of its view and blended on its own (hybrid), the
two completions' mean as the result. The same search work as ENHANCED, better on every mask kind of
the validation faces (docs/results/beyond_paper.md, "Mirrored candidates")."""

QUALITY = ENHANCED.with_options(candidates=2, mirror=True, tune_steps=30, tune_layers=3,
                                 tune_learning_rate=0.03, tune_target="features")
"""ENHANCED's search on the image and on its mirror image, the feature map entering G's last 3
layers then tuned to each (30 Adam steps at 0.03), each blended (hybrid), the two completions' mean
as the result: the best combination on the validation faces among those tried
(docs/results/beyond_paper.md, with its speed)."""

PRESETS: dict[str, SearchSettings] = {"paper": PAPER, "fast": FAST, "enhanced": ENHANCED, "mirrored": MIRRORED,
                                      "quality": QUALITY}
"""The named settings of inpaint(settings=NAME) and --preset NAME."""

DEFAULT_PRESET = "mirrored"
"""The preset every entry point runs when none is named: the best on the validation faces among the
presets that are fast (docs/results/README.md, "The default")."""

DEFAULT = PRESETS[DEFAULT_PRESET]

WITHOUT_ENCODER = MIRRORED.with_options(start="random", screen=64, iterations=100, learning_rate=0.02)
"""The default for a model without a latent encoder: MIRRORED's two views, each 100 Adam steps at rate
0.02 from the best of 64 random starts, each blended (hybrid), their mean the result — the setting
validated for a random start (docs/results/beyond_paper.md, "Mirrored candidates")."""


def default_settings(*, has_encoder: bool) -> SearchSettings:
    """DEFAULT for a model with a latent encoder, WITHOUT_ENCODER for one without."""
    return DEFAULT if has_encoder else WITHOUT_ENCODER


def resolve_preset(settings: SearchSettings | str | None, *, has_encoder: bool) -> SearchSettings:
    """A SearchSettings from an instance, a preset name, or None (default_settings)."""
    if settings is None:
        return default_settings(has_encoder=has_encoder)
    if isinstance(settings, SearchSettings):
        return settings
    if settings not in PRESETS:
        raise InpaintError(f"unknown preset {settings!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[settings]

"""Calibrate the plausibility check: how far the shipped model's best fit misses face crops and non-faces.

Each 64×64 image gets one hole (the mask kinds in turn: centre, pattern, random pixels, half, eyes,
mouth) and is inpainted with the default preset's first candidate (the search the check sees in
inpaint: api.inpaint scores candidate 1's G(ẑ)); five scores are compared: the context error (mean
|G(ẑ) − y| over the known pixels), the correlation of G(ẑ) and y over the known pixels, the
structure agreement (the same for their steps between neighbouring known pixels,
plausibility.structure_agreement), and the discriminator's logit for G(ẑ) and for the blended
result. Faces: CelebA *validation* faces (never test). Non-faces: square crops of the photos that
ship inside scikit-image (the cat, the coffee cup, the rocket, bricks, grass, the moon, text …) at
random places and sizes, brought to 64×64. Each score's threshold leaves 1 % of the faces beyond
it (its 1st or 99th percentile); the table says how many non-faces each flags there. The best
score and its threshold are the shipped model's check (faces.SHIPPED).

    python benchmarks/plausibility.py --faces 500 --crops 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import CELEBA, machine_line
from seminpaint.api import inpaint, resolve_model, resolve_settings
from seminpaint.data.celeba import load
from seminpaint.images import to_tensor
from seminpaint.masks import make_mask
from seminpaint.plausibility import context_error, correlation, structure_agreement

NON_FACES = ("chelsea", "coffee", "rocket", "camera", "brick", "grass", "gravel", "moon", "text", "page",
             "coins", "clock", "horse", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel")
KINDS = ("center", "pattern", "random_pixels", "half", "eyes", "mouth")


def feature_hole(kind: str, size: int = 64) -> np.ndarray:
    """The eyes or mouth of a face framed as CelebA's: a box in fractions of the square."""
    rows, columns = {"eyes": ((0.38, 0.56), (0.2, 0.8)), "mouth": ((0.64, 0.82), (0.3, 0.7))}[kind]
    mask = np.zeros((size, size), dtype=bool)
    mask[round(rows[0] * size):round(rows[1] * size), round(columns[0] * size):round(columns[1] * size)] = True
    return mask


def masks_for(count: int, seed: int) -> np.ndarray:
    """One hole per image, the kinds in turn; the random kinds drawn with (seed, index)."""
    return np.stack([feature_hole(KINDS[i % len(KINDS)]) if KINDS[i % len(KINDS)] in ("eyes", "mouth")
                     else make_mask(KINDS[i % len(KINDS)], 64, 64, rng=np.random.default_rng([seed, i]))
                     for i in range(count)])


def non_face_crops(per_image: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """uint8 (N, 64, 64, 3) crops of scikit-image's photos (square, 20–100 % of the shorter side)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    crops, names = [], []
    for name in NON_FACES:
        photo = getattr(data, name)()
        photo = photo.astype(np.uint8) * 255 if photo.dtype == bool else photo
        photo = np.repeat(photo[..., None], 3, axis=-1) if photo.ndim == 2 else photo[..., :3]
        height, width = photo.shape[:2]
        for _ in range(per_image):
            side = int(rng.uniform(0.2, 1.0) * min(height, width))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((64, 64), Image.Resampling.BOX)
            crops.append(np.asarray(crop))
            names.append(name)
    return np.stack(crops), names


def scores(model, settings, images: np.ndarray, masks: np.ndarray, batch: int) -> np.ndarray:
    """(N, 5): context error, pixel correlation and structure agreement on the known pixels, D logit of
    G(ẑ) and of the blended result."""
    out = []
    for start in range(0, len(images), batch):
        part, holes = images[start:start + batch], masks[start:start + batch]
        result = inpaint(part, holes, model=model, settings=settings, generator=torch.Generator().manual_seed(start))
        truth = part.astype(np.float32) / 255
        with torch.no_grad(), model.frozen():
            d_generated = model.discriminator(to_tensor(result.generated)).reshape(-1).numpy()
            d_blended = model.discriminator(to_tensor(result.image)).reshape(-1).numpy()
        pixels = [correlation(g[~m], t[~m]) for g, t, m in zip(result.generated, truth, holes)]
        out.append(np.stack([context_error(result.generated, truth, holes), pixels,
                             structure_agreement(result.generated, truth, holes), d_generated, d_blended], axis=1))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(CELEBA))
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--crops", type=int, default=20, help="crops per non-face photo")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model = resolve_model(None, "cpu")
    model.faces = None  # no warnings while calibrating
    settings = resolve_settings(None, model).with_options(candidates=1)  # what warn_if_implausible sees
    faces = load(Path(args.root), split="val", image_size=64, limit=args.faces)
    others, names = non_face_crops(args.crops, args.seed)
    face_scores = scores(model, settings, faces, masks_for(len(faces), args.seed), args.batch)
    other_scores = scores(model, settings, others, masks_for(len(others), args.seed + 1), args.batch)

    print(machine_line())
    print(f"{len(faces)} CelebA validation faces, {len(others)} non-face crops ({len(NON_FACES)} photos); "
          f"the default preset's candidate 1; one hole each, kinds in turn: {', '.join(KINDS)}")
    print("| score | faces: median | threshold (1 % of faces beyond it) | non-faces: median | non-faces flagged |")
    print("|---|---|---|---|---|")
    labels = (("context error", True), ("pixel correlation", False), ("structure agreement", False),
              ("D logit of G(ẑ)", False), ("D logit of the blend", False))
    for column, (label, higher_is_odd) in enumerate(labels):
        face, other = face_scores[:, column], other_scores[:, column]
        threshold = np.percentile(face, 99 if higher_is_odd else 1)
        flagged = (other > threshold) if higher_is_odd else (other < threshold)
        print(f"| {label} | {np.median(face):.3f} | {threshold:.3f} | {np.median(other):.3f} | "
              f"{flagged.mean():.0%} ({flagged.sum()}/{len(other)}) |")
    for column, (label, higher_is_odd) in enumerate(labels[:3]):
        face, other = face_scores[:, column], other_scores[:, column]
        threshold = np.percentile(face, 99 if higher_is_odd else 1)
        odd = (other > threshold) if higher_is_odd else (other < threshold)
        print(f"\n{label}: threshold {threshold:.4f}; non-faces flagged per photo: " + ", ".join(
            f"{name} {np.mean(odd[[n == name for n in names]]):.0%}" for name in NON_FACES))
        for kind_index, kind in enumerate(KINDS):
            rows, other_rows = np.arange(len(faces)) % len(KINDS) == kind_index, np.arange(len(others)) % len(KINDS) == kind_index
            print(f"  {kind}: faces median {np.median(face[rows]):.3f}, non-faces median "
                  f"{np.median(other[other_rows]):.3f}, flagged {np.mean(odd[other_rows]):.0%}")

if __name__ == "__main__":
    main()

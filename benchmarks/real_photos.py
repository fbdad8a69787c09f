"""Real photos: holes over the eyes or the mouth filled from the framed face against the hole-centred crop.

Photos: scikit-image's astronaut (512×512, as it is) and faces pasted into 1200×900 canvases — the
astronaut's face and CelebA *validation* faces (never test), enlarged to several sizes, at several
places, on a plain grey or a textured (scikit-image's brick and grass) background. The holes cover
the eyes or the mouth (a box in fractions of the face's CelebA-framed square). Every photo is
inpainted three ways with the shipped model and the default preset (or --preset), each way one batch:

- hole-centred: the region around the hole (geometry.crop_around), what inpaint searches with
  face_check=False (`--no-face-check`);
- framed: the face found by the detector, framed as CelebA's faces (the default);
- framed, true box: the face box that frames the pasted square exactly (the detector's ceiling).

Scores: PSNR (dB) in the hole against the photo before the hole, and how often the plausibility
check warned. Writes the table (real_photos.md) and a figure (real_photos.png) into OUT.

    python benchmarks/real_photos.py --faces 8 --out docs/results/real_photos
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import CELEBA, machine_line
from seminpaint.api import choose_crop, inpaint, resolve_model, resolve_settings
from seminpaint.data.celeba import load
from seminpaint.faces import CELEBA as FRAMING
from seminpaint.faces import Face
from seminpaint.figures import labelled_grid, show_hole
from seminpaint.images import save_image
from seminpaint.metrics import psnr
from seminpaint.plausibility import ImplausibleCompletion

HOLES = {"eyes": ((0.38, 0.56), (0.2, 0.8)), "mouth": ((0.64, 0.82), (0.3, 0.7))}
"""Holes in fractions (rows, columns) of a face's CelebA-framed square."""

ASTRONAUT_SQUARE = (21, 139, 167)
"""(top, left, side) of the astronaut's face framed as CelebA's, measured by eye on the photo
(eyes at 47 %, mouth at 74 % of its height and the eyes centred, as in the mean CelebA validation face)."""

CANVAS = (900, 1200)


def hole(shape: tuple[int, int], square: tuple[int, int, int], kind: str) -> np.ndarray:
    """bool (H, W) mask, True = missing: the `kind` box of the face framed in `square` (top, left, side)."""
    (r0, r1), (c0, c1) = HOLES[kind]
    top, left, side = square
    mask = np.zeros(shape, dtype=bool)
    mask[top + round(r0 * side):top + round(r1 * side), left + round(c0 * side):left + round(c1 * side)] = True
    return mask


def true_box(square: tuple[int, int, int]) -> Face:
    """The face box that the framing maps onto `square` exactly (Framing.frame inverted)."""
    top, left, side = square
    box = side / FRAMING.scale
    centre_x, centre_y = left + side / 2 - FRAMING.dx * box, top + side / 2 - FRAMING.dy * box
    return Face(centre_x - box / 2, centre_y - box / 2, box, box)


def backgrounds() -> dict[str, np.ndarray]:
    """uint8 (900, 1200, 3) canvases: plain grey, and tiled brick and grass (textures of scikit-image)."""
    from skimage import data

    def tiled(gray):
        reps = (CANVAS[0] // gray.shape[0] + 1, CANVAS[1] // gray.shape[1] + 1)
        return np.repeat(np.tile(gray, reps)[:CANVAS[0], :CANVAS[1], None], 3, axis=-1)

    return {"grey": np.full((*CANVAS, 3), 128, np.uint8), "brick": tiled(data.brick()), "grass": tiled(data.grass())}


def photos(count: int, root: Path, seed: int):
    """(name, uint8 image, face square (top, left, side)) for the astronaut and the pasted faces."""
    from skimage import data

    astronaut = data.astronaut()
    yield "astronaut 512x512", astronaut, ASTRONAUT_SQUARE
    top, left, side = ASTRONAUT_SQUARE
    sources = [("astronaut's face", astronaut[top:top + side, left:left + side])]
    sources += [(f"CelebA val {i}", face) for i, face in enumerate(load(root, split="val", image_size=64, limit=count))]
    rng = np.random.default_rng(seed)
    grounds = backgrounds()
    for index, (name, face) in enumerate(sources):
        for size in (128, 256, 400):
            ground = list(grounds)[(index + size) % len(grounds)]
            at = (int(rng.integers(0, CANVAS[0] - size)), int(rng.integers(0, CANVAS[1] - size)))
            canvas = grounds[ground].copy()
            canvas[at[0]:at[0] + size, at[1]:at[1] + size] = np.asarray(
                Image.fromarray(face).resize((size, size), Image.Resampling.BICUBIC))
            yield f"{name}, {size}x{size} on {ground}", canvas, (at[0], at[1], size)


def run(model, settings, images, masks, **options):
    """inpaint the list in one batch; (results, warned per image); refusals give None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImplausibleCompletion)
        results = inpaint(images, masks, model=model, settings=settings, generator=torch.Generator().manual_seed(0),
                          **options)
    warned = {w.message.index for w in caught if isinstance(w.message, ImplausibleCompletion)}
    return results, [index in warned for index in range(len(images))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(CELEBA))
    parser.add_argument("--faces", type=int, default=8, help="CelebA validation faces pasted (each at 3 sizes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/results/real_photos"))
    parser.add_argument("--preset", help="the preset to run (default: the default preset)")
    args = parser.parse_args()

    model = resolve_model(None, "cpu")
    settings = resolve_settings(args.preset, model)
    cases = [(name, image, square, kind) for name, image, square in photos(args.faces, Path(args.root), args.seed)
             for kind in HOLES]
    images = [image for _, image, _, _ in cases]
    masks = [hole(image.shape[:2], square, kind) for _, image, square, kind in cases]

    found = []  # the framed method's detections, to say which photos it could not frame
    for image, mask in zip(images, masks):
        try:
            found.append(choose_crop(image.astype(np.float32) / 255, mask, model))
        except Exception as error:  # noqa: BLE001 - a refusal is a result here
            found.append(error)
    framed_rows = [i for i, crop in enumerate(found) if not isinstance(crop, Exception)]
    methods = {
        "hole-centred": run(model, settings, images, masks, face_check=False),
        "framed": run(model, settings, [images[i] for i in framed_rows], [masks[i] for i in framed_rows]),
        "framed, true box": run(model, settings, images, masks, face=[true_box(square) for _, _, square, _ in cases]),
    }

    def score(method, index):
        results, warned = methods[method]
        if method == "framed":
            if index not in framed_rows:
                return None, None, None
            results, warned, index = results, warned, framed_rows.index(index)
        truth = images_float[index]
        return psnr(truth, results[index].image, data_range=1.0, mask=masks_at[index]), warned[index], results[index]

    images_float = [image.astype(np.float32) / 255 for image in images]
    masks_at = masks
    lines = [machine_line(), "",
             "PSNR (dB) in the hole; ⚠ = the plausibility check warned; – = no face found (refused)", "",
             "| photo | hole | hole-centred | framed | framed, true box |", "|---|---|---|---|---|"]
    table = {method: [] for method in methods}
    for index, (name, _, _, kind) in enumerate(cases):
        cells = []
        for method in methods:
            value, warned, _ = score(method, index)
            table[method].append(value)
            cells.append("–" if value is None else f"{value:.2f}" + (" ⚠" if warned else ""))
        lines.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    found_count = len(framed_rows)
    both = [i for i in range(len(cases)) if table["framed"][i] is not None]
    summary = [
        "", f"{len(cases)} holes in {len(cases) // len(HOLES)} photos; the face was found for {found_count}.",
        "| mean over | hole-centred | framed | framed, true box | framed better than hole-centred |", "|---|---|---|---|---|",
    ]
    for label, rows in (("holes with a face found", both), ("every hole", list(range(len(cases))))):
        means = [np.mean([table[m][i] for i in rows if table[m][i] is not None]) for m in methods]
        better = np.mean([table["framed"][i] > table["hole-centred"][i] for i in rows if table["framed"][i] is not None])
        summary.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in means) + f" | {better:.0%} |")
    for kind in HOLES:
        rows = [i for i in both if cases[i][3] == kind]
        means = [np.mean([table[m][i] for i in rows]) for m in methods]
        summary.append(f"| {kind} (face found) | " + " | ".join(f"{v:.2f}" for v in means) + " | "
                       f"{np.mean([table['framed'][i] > table['hole-centred'][i] for i in rows]):.0%} |")
    warned = {m: int(sum(methods[m][1])) for m in methods}
    summary.append("\nplausibility warnings: " + ", ".join(f"{m} {warned[m]}/{len(methods[m][1])}" for m in methods))
    text = "\n".join(lines + summary) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real_photos.md").write_text(text)

    # The figure: per shown case, the face's surroundings: masked input, hole-centred, framed, truth.
    shown = [i for i in both if i in (0, 1)] + [i for i in both if i > 1][:: max(1, len(both) // 6)][:6]
    rows, titles = [], []
    for index in shown:
        _, image, square, kind = cases[index]
        top, left, side = square
        margin = side // 3
        window = (slice(max(0, top - margin), top + side + margin), slice(max(0, left - margin), left + side + margin))

        def tile(array):
            return np.asarray(Image.fromarray((np.clip(array[window], 0, 1) * 255).astype(np.uint8)).resize(
                (128, 128), Image.Resampling.LANCZOS)).astype(np.float32) / 255

        truth = images_float[index]
        rows.append([tile(show_hole(truth, masks[index])), tile(score("hole-centred", index)[2].image),
                     tile(score("framed", index)[2].image), tile(truth)])
        titles.append(f"{cases[index][0].split(' on ')[0]}, {kind}")
    figure = labelled_grid(rows, column_titles=["with the hole", "hole-centred", "framed", "photo"], row_titles=titles,
                           scale=1)
    save_image(args.out / "real_photos.png", figure)
    readme_figure(images_float[1], masks[1], score("framed", 1)[2], model, args.out / "astronaut.png")
    print(f"wrote {args.out / 'real_photos.md'}, {args.out / 'real_photos.png'} and {args.out / 'astronaut.png'}")


def readme_figure(photo: np.ndarray, mask: np.ndarray, result, model, path: Path) -> None:
    """The README's first example, one row of 256×256 tiles: the photo with the hole, her face with the
    hole, what the model saw (--save-crop), her face filled, and the photo's face."""
    from seminpaint.api import model_view

    def tile(array, box=None, resample=Image.Resampling.LANCZOS):
        if box is not None:
            array = array[box[0]:box[0] + box[2], box[1]:box[1] + box[2]]
        image = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))
        return np.asarray(image.resize((256, 256), resample)).astype(np.float32) / 255

    face = ASTRONAUT_SQUARE
    seen = model_view(photo, mask, result.crop, model)
    figure = labelled_grid(
        [[tile(show_hole(photo, mask)), tile(show_hole(photo, mask), face), tile(seen, resample=Image.Resampling.NEAREST),
          tile(result.image, face), tile(photo, face)]],
        column_titles=["astronaut.png + hole.png", "her face", "what the model saw", "filled.png", "before the hole"],
        scale=1)
    save_image(path, figure)

if __name__ == "__main__":
    main()

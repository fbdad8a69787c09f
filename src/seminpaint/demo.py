"""The demo: real faces that ship inside scikit-image, each with the paper's four mask kinds.

Faces: the astronaut photo's face (Eileen Collins, NASA, public domain) and faces from
skimage.data.lfw_subset() (25×25 gray crops of Labeled Faces in the Wild), enlarged to the
model's size. Nothing is downloaded: both ship in scikit-image's wheel.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .api import describe, inpaint, resolve_model, resolve_settings
from .figures import labelled_grid, show_hole
from .images import save_image
from .masks import MASK_KINDS, make_mask
from .metrics import psnr
from .networks.model import GenerativeModel
from .settings import SearchSettings

LFW_FACES = (0, 3, 10, 21, 33)  # indices into lfw_subset()'s first 100 images (all faces)


def demo_faces(size: int = 64) -> tuple[np.ndarray, list[str]]:
    """uint8 (6, size, size, 3) real faces framed roughly like CelebA's crops, and their names."""
    from skimage import data

    astronaut = data.astronaut()[30:190, 140:300]  # the face, a square crop
    faces = [Image.fromarray(astronaut).resize((size, size), Image.Resampling.LANCZOS)]
    lfw = data.lfw_subset()
    for index in LFW_FACES:
        gray = Image.fromarray(np.rint(lfw[index] * 255).astype(np.uint8))
        faces.append(gray.resize((size, size), Image.Resampling.BICUBIC).convert("RGB"))
    names = ["astronaut"] + [f"lfw_{index}" for index in LFW_FACES]
    return np.stack([np.asarray(face) for face in faces]), names


def run_demo(
    out: str | Path, *, model: GenerativeModel | str | Path | None = None,
    settings: SearchSettings | str | None = None, seed: int = 0,
    device: str | torch.device | None = None, progress: bool = True,
) -> Path:
    """Inpaint the demo faces with each mask kind; write OUT/demo.png and print PSNR per image.

    Returns the figure's path. Rows: (face, mask kind); columns: input, masked input, raw G(ẑ),
    blended result. settings: as for inpaint (None: the default for the model).
    """
    model = resolve_model(model, device)
    settings = resolve_settings(settings, model)
    channels, height, width = model.image_shape
    faces, names = demo_faces(height)
    rows = [(face, name, kind, make_mask(kind, height, width, rng=np.random.default_rng([seed, i])))
            for i, (face, name) in enumerate(zip(faces, names)) for kind in MASK_KINDS]
    images = np.stack([r[0] for r in rows])
    masks = np.stack([r[3] for r in rows])
    print(f"inpainting {len(names)} faces × {len(MASK_KINDS)} masks: {describe(settings, model)}")
    started = time.perf_counter()
    result = inpaint(images, masks, model=model, settings=settings,
                     generator=torch.Generator().manual_seed(seed), progress=progress)
    seconds = time.perf_counter() - started
    truth = images.astype(np.float32) / 255.0
    print(f"{'face':<11} {'mask':<14} {'PSNR dB':>8} {'hole PSNR':>10}")
    for (_, name, kind, mask), gt, out_image in zip(rows, truth, result.image):
        print(f"{name:<11} {kind:<14} {psnr(gt, out_image, data_range=1.0):8.2f} "
              f"{psnr(gt, out_image, data_range=1.0, mask=mask):10.2f}")
    figure = labelled_grid(
        [[gt, show_hole(gt, mask), raw, blended]
         for gt, (_, _, _, mask), raw, blended in zip(truth, rows, result.generated, result.image)],
        column_titles=["input", "masked", "G(z)", "blended"],
        row_titles=[f"{name} {kind}" for _, name, kind, _ in rows],
    )
    path = Path(out) / "demo.png"
    save_image(path, figure)
    print(f"{seconds:.1f} s for {len(rows)} images; figure: {path}")
    return path

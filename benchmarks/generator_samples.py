"""Samples of several generators from the same z, one row each, so that their faces can be compared.

    python benchmarks/generator_samples.py --models src/seminpaint/weights/celeba64.safetensors \\
        runs/celeba_wide/epochs/epoch_015.safetensors --labels shipped "wide G" --out samples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from seminpaint import load_model
from seminpaint.figures import labelled_grid
from seminpaint.images import from_tensor
from seminpaint.networks.dcgan import sample_latent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, required=True)
    parser.add_argument("--labels", nargs="+", help="one per model; default: the file names")
    parser.add_argument("--count", type=int, default=10, help="samples per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="PNG file for the figure")
    args = parser.parse_args()
    labels = args.labels or [path.stem for path in args.models]
    if len(labels) != len(args.models):
        parser.error("give one label per model")

    rows = []
    for path in args.models:
        model = load_model(path)
        low, high = model.latent_range
        z = sample_latent(args.count, model.latent_dim, generator=torch.Generator().manual_seed(args.seed),
                          low=low, high=high)  # the same z for every model of the same latent size
        with model.frozen(), torch.no_grad():
            rows.append(list(from_tensor(model.generator(z))))
    Image.fromarray(labelled_grid(rows, row_titles=labels, scale=1)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

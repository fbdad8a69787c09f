"""The command a user runs first, against the plain loop every public port has.

On a folder of N unseen CelebA faces (the first N of a held-out split, written as PNG files) with
the centre mask, it times, in one run on one machine:

- the default command, `seminpaint inpaint --image FOLDER --mask center --output OUT`, as a user
  runs it (a new process: Python start, model load, batched search, blend, files written);
- optionally the same command with `--preset paper` (the paper's setting, our fast layers);
- the plain loop: float32, NCHW, the networks as trained, torch.optim.Adam on z for the paper's
  1500 steps over the whole batch, z clipped after each step, the paper's context and prior losses
  (Eq. 3–5), then the exact Poisson blend (Eq. 6) — in this process, timed from the faces in
  memory to the blended results in memory, so it is charged nothing for files or start-up.

It prints seconds per image, the speed-up over the plain loop and the mean full-image PSNR of each,
and with --out writes the table as Markdown.

    python benchmarks/default_speed.py --count 32 --with-paper --out docs/results/default/speed.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import CELEBA, machine_line, publish
from seminpaint import load_model
from seminpaint.api import DEFAULT_MODEL
from seminpaint.blend import poisson_blend
from seminpaint.data import load_dataset
from seminpaint.images import from_tensor, read_image, to_tensor
from seminpaint.losses import context_loss, importance_weights, prior_loss
from seminpaint.masks import make_mask
from seminpaint.metrics import psnr
from seminpaint.settings import PAPER


def plain_loop(model, faces: np.ndarray, mask: np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """The paper's search as public ports write it, then Poisson blending: float [0, 1] (N, H, W, 3)."""
    generator_net, discriminator_net = model.generator.eval(), model.discriminator.eval()
    for parameter in [*generator_net.parameters(), *discriminator_net.parameters()]:
        parameter.requires_grad_(False)
    masks = torch.from_numpy(np.broadcast_to(mask, (len(faces), *mask.shape)).copy())
    corrupted = to_tensor(np.where(mask[None, ..., None], 0.0, faces).astype(np.float32))
    weights = importance_weights(masks, PAPER.window)
    low, high = model.latent_range
    start = torch.Generator().manual_seed(seed)
    z = (torch.rand(len(faces), model.latent_dim, generator=start) * (high - low) + low).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=PAPER.learning_rate, betas=PAPER.betas)
    for _ in range(iterations):
        optimizer.zero_grad()
        generated = generator_net(z)
        loss = context_loss(generated, corrupted, weights) + prior_loss(discriminator_net(generated),
                                                                         weight=PAPER.prior_weight)
        loss.sum().backward()
        optimizer.step()
        with torch.no_grad():
            z.clamp_(low, high)
    with torch.no_grad():
        generated = from_tensor(generator_net(z))
    return np.stack([np.clip(poisson_blend(face, g, mask), 0, 1) for face, g in zip(faces, generated)])


def run_command(faces_dir: Path, out_dir: Path, extra: list[str]) -> float:
    """Wall-clock seconds of `seminpaint inpaint` on the folder, in a new process."""
    command = [sys.executable, "-m", "seminpaint.cli", "inpaint", "--image", str(faces_dir), "--mask", "center",
               "--output", str(out_dir), *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def mean_psnr(truth: np.ndarray, results: np.ndarray) -> float:
    return float(np.mean([psnr(t, r, data_range=1.0) for t, r in zip(truth, results)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--split", default="test", help="a split the model never trained on (default test)")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=PAPER.iterations, help="the plain loop's Adam steps")
    parser.add_argument("--with-paper", action="store_true", help="also time `--preset paper` from the command line")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()

    faces = load_dataset("celeba", args.root, split=args.split, limit=args.count)
    truth = faces.astype(np.float32) / 255.0
    mask = make_mask("center", *faces.shape[1:3])
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "faces"
        folder.mkdir()
        names = [f"{index:05d}.png" for index in range(len(faces))]
        for name, face in zip(names, faces):
            Image.fromarray(face).save(folder / name)
        ways = [("`seminpaint inpaint` (the default)", [])]
        if args.with_paper:
            ways.append(("`seminpaint inpaint --preset paper`", ["--preset", "paper"]))
        for label, extra in ways:
            out = Path(scratch) / f"out{len(rows)}"
            seconds = run_command(folder, out, extra)
            results = np.stack([read_image(out / name) for name in names]).astype(np.float32) / 255.0
            rows.append((label, seconds / len(faces), mean_psnr(truth, results)))
            print(f"{label}: {rows[-1][1]:.3f} s per image, {rows[-1][2]:.2f} dB", flush=True)

    model = load_model(DEFAULT_MODEL)
    started = time.perf_counter()
    blended = plain_loop(model, truth, mask, args.iterations, args.seed)
    plain = (time.perf_counter() - started) / len(faces)
    rows.append((f"plain float32 loop, {args.iterations} steps, batch {len(faces)}", plain, mean_psnr(truth, blended)))
    print(f"{rows[-1][0]}: {plain:.3f} s per image, {rows[-1][2]:.2f} dB", flush=True)

    lines = [machine_line(), "",
             f"{len(faces)} CelebA {args.split} faces (the first of the split), centre mask, full-image PSNR "
             "(each way's own blend: the default's hybrid, the paper's Poisson).", "",
             "| way | seconds per image | speed-up over the plain loop | PSNR (dB) |", "|---|---|---|---|"]
    lines += [f"| {label} | {seconds:.3f} | {plain / seconds:.1f}× | {value:.2f} |" for label, seconds, value in rows]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()

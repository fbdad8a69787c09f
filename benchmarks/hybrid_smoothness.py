"""Choose μ of the hybrid blend: sweep it over the saved G(ẑ) of an evaluation folder.

Reads OUT (made by `seminpaint evaluate ... --methods ours biharmonic`), re-blends every saved
G(ẑ) (predictions/ours_raw) with blend.hybrid_blend for each μ, and prints the mean full-image
PSNR per mask kind beside ours (Eq. 6) and biharmonic. μ = 0 is Eq. 6 (up to the uint8 rounding
of the saved G(ẑ)); large μ tends to the biharmonic interpolation. Run it on a validation folder:

    seminpaint evaluate --root ../shared/data/celeba --split val --count 64 --preset fast \\
        --methods ours mean biharmonic --out runs/eval_val_fast
    python benchmarks/hybrid_smoothness.py runs/eval_val_fast
"""

from __future__ import annotations

import argparse

import numpy as np

from seminpaint.blend import hybrid_blend
from seminpaint.evaluation import load_set
from seminpaint.metrics import psnr

SMOOTHNESS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 1e4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="an evaluation folder with predictions of ours and biharmonic")
    parser.add_argument("--smoothness", type=float, nargs="+", default=list(SMOOTHNESS))
    args = parser.parse_args()

    evaluation = load_set(args.out)
    header = ["mask", "ours (Eq. 6)", "biharmonic", *(f"μ = {mu:g}" for mu in args.smoothness)]
    print(f"{evaluation.count} images of {evaluation.dataset} {evaluation.split}; full-image PSNR (dB), mean")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    means = np.zeros((len(evaluation.kinds), len(args.smoothness)))
    for row, kind in enumerate(evaluation.kinds):
        scores = {name: [] for name in ("ours", "biharmonic", *args.smoothness)}
        for index in range(evaluation.count):
            truth, mask = evaluation.read_image(index), evaluation.read_mask(kind, index)
            corrupted = np.where(mask[..., None], np.float32(0), truth)
            generated = evaluation.read_prediction("ours_raw", kind, index)
            for name in ("ours", "biharmonic"):
                scores[name].append(psnr(truth, evaluation.read_prediction(name, kind, index), data_range=1.0))
            for mu in args.smoothness:
                blended = np.clip(hybrid_blend(corrupted, generated, mask, smoothness=mu), 0, 1)
                scores[mu].append(psnr(truth, blended, data_range=1.0))
        means[row] = [np.mean(scores[mu]) for mu in args.smoothness]
        cells = [f"{np.mean(scores['ours']):.2f}", f"{np.mean(scores['biharmonic']):.2f}",
                 *(f"{value:.2f}" for value in means[row])]
        print(f"| {kind} | " + " | ".join(cells) + " |", flush=True)
    average = means.mean(axis=0)
    print("| mean over kinds | | | " + " | ".join(f"{value:.2f}" for value in average) + " |")
    print(f"\nbest μ by the mean over kinds: {args.smoothness[int(np.argmax(average))]:g}")


if __name__ == "__main__":
    main()

"""Paired comparison of two methods of an evaluation folder: is A better than B on the same images?

Reads OUT/scores.csv (seminpaint evaluate) and prints, per mask kind, the mean per-image difference
A − B of full-image PSNR with its standard error (ddof = 1), and the share of images where A
scores higher. A difference within about two standard errors of 0 is a tie. A method may also be
named FOLDER:METHOD, its scores then read from another evaluation folder; the images and masks
compared must be the same files in both folders (checked byte for byte), as `seminpaint
evaluate` makes them for the same split, count and seed.

    python benchmarks/paired.py runs/eval_paper ours_hybrid biharmonic
    python benchmarks/paired.py runs/eval_paper ours runs/eval_other_model:ours
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from seminpaint.errors import InpaintError
from seminpaint.evaluation import image_path, mask_path, read_scores


def scores_of(spec: str, out: str, metric: str) -> tuple[Path, dict[tuple[str, int], float]]:
    """(folder, {(kind, index): score}) of METHOD in OUT or of FOLDER:METHOD."""
    folder, separator, method = spec.rpartition(":")
    folder = Path(folder if separator else out)
    try:
        rows = read_scores(folder)
    except InpaintError as error:  # no scores yet: one line, not a traceback
        sys.exit(f"paired.py: {error}")
    scores = {(r["kind"], r["index"]): r[metric] for r in rows if r["method"] == method}
    if not scores:
        sys.exit(f"paired.py: {folder}/scores.csv has no scores of {method!r}")
    return folder, scores


def same_files(folder_a: Path, folder_b: Path, paths) -> bool:
    """Whether the two evaluation folders hold the same bytes at every path(folder) of `paths`."""
    return folder_a.resolve() == folder_b.resolve() or all(
        path(folder_a).read_bytes() == path(folder_b).read_bytes() for path in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("a", help="METHOD of OUT, or FOLDER:METHOD")
    parser.add_argument("b", nargs="+", help="one or more methods to compare A with (METHOD or FOLDER:METHOD)")
    parser.add_argument("--metric", default="psnr", choices=("psnr", "psnr_hole", "ssim", "ssim_hole"))
    args = parser.parse_args()

    folder_a, scores_a = scores_of(args.a, args.out, args.metric)
    kinds = list(dict.fromkeys(kind for kind, _ in scores_a))
    print(f"| {args.a} against | mask | N | mean difference ({args.metric}) | standard error | {args.a} higher |")
    print("|---|---|---|---|---|---|")
    for b in args.b:
        folder_b, scores_b = scores_of(b, args.out, args.metric)
        shared = sorted({i for key in scores_a.keys() & scores_b.keys() for i in key[1:]})
        if not same_files(folder_a, folder_b, [lambda f, i=i: image_path(f, i) for i in shared]):
            sys.exit(f"paired.py: {folder_a} and {folder_b} do not hold the same images")
        for kind in kinds:
            indices = sorted(i for k, i in scores_a if k == kind and (kind, i) in scores_b)
            if not indices:
                continue
            if not same_files(folder_a, folder_b, [lambda f, i=i: mask_path(f, kind, i) for i in indices]):
                sys.exit(f"paired.py: {folder_a} and {folder_b} do not hold the same {kind} masks")
            difference = np.array([scores_a[kind, i] - scores_b[kind, i] for i in indices])
            error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
            print(f"| {b} | {kind} | {len(difference)} | {difference.mean():+.2f} | {error:.2f} | "
                  f"{np.mean(difference > 0):.0%} |")


if __name__ == "__main__":
    main()

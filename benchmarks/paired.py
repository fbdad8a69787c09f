"""Paired comparison of two methods of an evaluation folder: is A better than B on the same images?

Reads OUT/scores.csv (seminpaint evaluate) and prints, per mask kind, the mean per-image difference
A − B of full-image PSNR with its standard error (ddof = 1), and the share of images where A
scores higher. A difference within about two standard errors of 0 is a tie.

    python benchmarks/paired.py runs/eval_paper ours_hybrid biharmonic
"""

from __future__ import annotations

import argparse

import numpy as np

from seminpaint.evaluate import read_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("a")
    parser.add_argument("b", nargs="+", help="one or more methods to compare A with")
    parser.add_argument("--metric", default="psnr", choices=("psnr", "psnr_hole", "ssim", "ssim_hole"))
    args = parser.parse_args()

    scores = {(r["method"], r["kind"], r["index"]): r[args.metric] for r in read_scores(args.out)}
    kinds = list(dict.fromkeys(kind for _, kind, _ in scores))
    print(f"| {args.a} against | mask | N | mean difference ({args.metric}) | standard error | {args.a} higher |")
    print("|---|---|---|---|---|---|")
    for b in args.b:
        for kind in kinds:
            indices = sorted(i for m, k, i in scores if m == args.a and k == kind and (b, kind, i) in scores)
            if not indices:
                continue
            difference = np.array([scores[args.a, kind, i] - scores[b, kind, i] for i in indices])
            error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
            print(f"| {b} | {kind} | {len(difference)} | {difference.mean():+.2f} | {error:.2f} | "
                  f"{np.mean(difference > 0):.0%} |")


if __name__ == "__main__":
    main()

"""Stage 3: one scorer for every prediction, OUT/scores.csv."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from .. import metrics
from ..errors import InpaintError
from .layout import (
    OURS, OURS_HYBRID, OURS_RAW, canonical_kinds, check_count, check_prepared, load_set, merge_timings,
    prediction_path, write_if_changed,
)

METRICS = ("psnr", "psnr_hole", "ssim", "ssim_hole")


def predicted_methods(out: str | Path) -> tuple[str, ...]:
    """Methods with a folder under OUT/predictions: ours and ours_raw first, then the rest sorted."""
    folder = Path(out) / "predictions"
    names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    first = [name for name in (OURS, OURS_HYBRID, OURS_RAW) if name in names]
    return tuple(first + [name for name in names if name not in first])


def _scored_methods(out: Path, methods: Sequence[str] | str | None) -> tuple[str, ...]:
    if methods is None:
        methods = predicted_methods(out)
        if not methods:
            raise InpaintError(f"{out} holds no predictions; run the predict stage first")
        return methods
    methods = [methods] if isinstance(methods, str) else list(methods)
    result: list[str] = []
    for method in methods:
        result.append(method)
        if method == OURS and OURS_RAW not in methods and (out / "predictions" / OURS_RAW).is_dir():
            result.append(OURS_RAW)
    return tuple(dict.fromkeys(result))


def score(
    out: str | Path, *, methods: Sequence[str] | str | None = None, kinds: Sequence[str] | None = None,
    count: int | None = None, progress: bool = True,
) -> Path:
    """Stage 3: score every prediction against its ground truth; write and return OUT/scores.csv.

    One row per method, kind and index: psnr, psnr_hole, ssim, ssim_hole from metrics.score on
    float [0, 1] images (data_range 1.0), read back from the PNG files. methods: default every
    method with predictions ("ours" brings "ours_raw" along); kinds, count: default everything
    prepared. A missing prediction raises InpaintError (tables over unequal sets mislead).
    """
    evaluation = load_set(out)
    out = evaluation.out
    kinds = canonical_kinds(kinds) if kinds is not None else evaluation.kinds
    count = evaluation.count if count is None else check_count(count)
    check_prepared(evaluation, kinds, count)
    methods = _scored_methods(out, methods)
    merge_timings(out)
    for method in methods:
        for kind in kinds:
            absent = [i for i in range(count) if not prediction_path(out, method, kind, i).is_file()]
            if absent:
                raise InpaintError(f"{method} has {count - len(absent)} of {count} predictions for {kind} masks "
                                   f"(first missing: {prediction_path(out, method, kind, absent[0])}); "
                                   "run the predict stage")
    rows: dict[tuple[str, str, int], dict[str, float]] = {}
    for kind in kinds:
        for index in tqdm(range(count), desc=f"scoring {kind}", unit="img", disable=not progress):
            truth, mask = evaluation.read_image(index), evaluation.read_mask(kind, index)
            for method in methods:
                prediction = evaluation.read_prediction(method, kind, index)
                rows[method, kind, index] = metrics.score(truth, prediction, mask, data_range=1.0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "kind", "index", *METRICS])
    for method in methods:
        for kind in kinds:
            for index in range(count):
                values = rows[method, kind, index]
                writer.writerow([method, kind, index, *(repr(float(values[m])) for m in METRICS)])
    path = out / "scores.csv"
    write_if_changed(path, buffer.getvalue().encode())
    return path


def read_scores(out: str | Path) -> list[dict]:
    """OUT/scores.csv as dicts: method, kind (str), index (int) and the METRICS (float)."""
    path = Path(out) / "scores.csv"
    if not path.is_file():
        raise InpaintError(f"{path} not found; run the score stage first")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    try:
        return [{"method": r["method"], "kind": r["kind"], "index": int(r["index"]),
                 **{m: float(r[m]) for m in METRICS}} for r in rows]
    except (KeyError, TypeError, ValueError) as error:
        raise InpaintError(f"{path} is not a scores table ({type(error).__name__}: {error})") from None

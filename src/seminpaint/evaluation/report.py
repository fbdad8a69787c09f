"""Stage 4: tables (OUT/results.md, OUT/results.csv) and figure grids (OUT/figures/<kind>.png)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InpaintError
from ..figures import labelled_grid, show_hole
from ..images import png_bytes
from ..settings import SearchSettings, candidates_and_tuning
from .layout import (
    OURS, OURS_HYBRID, OURS_RAW, EvaluationSet, load_set, read_json, timing_path, write_if_changed,
)
from .score import METRICS, read_scores

METRIC_TITLES = {
    "psnr": "PSNR (dB), whole image",
    "psnr_hole": "PSNR (dB), hole only",
    "ssim": "SSIM, whole image",
    "ssim_hole": "SSIM, hole only",
}
FIGURE_COUNT = 6  # default figure rows: the first 6 images
FIGURE_SCALE = 2  # tiles are upscaled ×2 (nearest) for visibility
FIGURE_PADDING = 2  # pixels between tiles and around the grid (figures.labelled_grid's padding)

# Table 1 of the paper, PSNR (dB) on the test sets: (Context Encoder, Yeh et al.) per mask kind.
PAPER_TABLE_1: dict[str, dict[str, tuple[float, float]]] = {
    "celeba": {"center": (21.3, 19.4), "pattern": (19.2, 17.4), "random_pixels": (20.6, 22.8), "half": (15.5, 13.7)},
    "svhn": {"center": (22.3, 19.0), "pattern": (22.3, 19.8), "random_pixels": (24.1, 33.0), "half": (19.1, 14.6)},
    "cars": {"center": (14.1, 13.5), "pattern": (14.0, 14.1), "random_pixels": (16.1, 18.9), "half": (12.6, 11.1)},
}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; nan for fewer than two values)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2 or not np.isfinite(values).all():
        return mean, math.nan
    return mean, float(values.std(ddof=1))


def format_cell(mean: float, std: float, decimals: int) -> str:
    """"mean ± std" with `decimals` decimals; just the mean when std is undefined."""
    if not math.isfinite(mean):
        return str(mean)
    if not math.isfinite(std):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def format_seconds(mean: float, std: float) -> str:
    """Seconds with three significant digits (std two), e.g. "6.02 ± 0.031" or "0.000118 ± 1.2e-05"."""
    return f"{mean:.3g}" if not math.isfinite(std) else f"{mean:.3g} ± {std:.2g}"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def report(
    out: str | Path, *, figure_indices: Sequence[int] | None = None, paper_reference: bool = True,
    figures: bool = True,
) -> Path:
    """Stage 4: OUT/results.md and OUT/results.csv from OUT/scores.csv and the timings, and the figures.

    For each metric a table (rows = methods, columns = mask kinds, cells "mean ± std", N
    stated) and a table of seconds per image. With paper_reference and a dataset of the paper's
    Table 1 (celeba, svhn, cars), its PSNR values (Context Encoder and Yeh et al.) are added as
    two rows of the whole-image PSNR table. figures: OUT/figures/<kind>.png for the images
    `figure_indices` (default the first 6). Returns the path of results.md.
    """
    evaluation = load_set(out)
    out = evaluation.out
    rows = read_scores(out)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    groups: dict[tuple[str, str], list[dict]] = {}  # the scores of each (method, kind)
    for row in rows:
        groups.setdefault((row["method"], row["kind"]), []).append(row)
    count = max((len(group) for group in groups.values()), default=0)
    timings = {(method, kind): _timing_values(out, method, kind, {r["index"] for r in groups.get((method, kind), [])})
               for method in methods for kind in kinds}

    lines = [f"# Evaluation: {evaluation.dataset}, {evaluation.split} split", ""]
    lines += _preamble(evaluation, methods, kinds, count, timings)
    paper = PAPER_TABLE_1.get(evaluation.dataset) if paper_reference else None
    for metric in METRICS:
        lines += metric_table(metric, methods, kinds, groups, count, paper if metric == "psnr" else None)
    lines += seconds_table(methods, kinds, timings, count)
    if figures:
        lines += figure_grids(evaluation, methods, kinds, check_figure_indices(figure_indices, count))
    write_if_changed(out / "results.md", ("\n".join(lines) + "\n").encode())
    write_if_changed(out / "results.csv", csv_bytes(summary_rows(methods, kinds, groups, timings)))
    return out / "results.md"


def metric_table(metric: str, methods: Sequence[str], kinds: Sequence[str], groups: dict, count: int,
                 paper: dict | None = None) -> list[str]:
    """results.md's section of one metric: "mean ± std" per method (rows) and kind (columns), a
    cell over fewer than `count` images saying its N; `paper`: Table 1's rows of a dataset added."""
    lines = ["", f"## {METRIC_TITLES[metric]}", "",
             f"Mean ± standard deviation over N = {count} images per cell (ddof = 1).", ""]
    table = []
    for method in methods:
        cells = []
        for kind in kinds:
            group = groups.get((method, kind), [])
            mean, std = mean_std([r[metric] for r in group])
            cell = format_cell(mean, std, 2 if metric.startswith("psnr") else 3)
            cells.append(cell if len(group) == count else f"{cell} (N = {len(group)})")
        table.append([method, *cells])
    if paper:
        for position, name in ((0, "paper Table 1: Context Encoder"), (1, "paper Table 1: Yeh et al.")):
            table.append([f"*{name}*", *(f"*{paper[k][position]:.1f}*" if k in paper else "—" for k in kinds)])
    lines += _markdown_table(["method", *kinds], table)
    if paper:
        lines += ["", "Rows in italics: the paper's Table 1 (PSNR on its own test set and masks; the "
                      "Context Encoder was trained on those masks). Not measured here."]
    return lines


def seconds_table(methods: Sequence[str], kinds: Sequence[str], timings: dict, count: int) -> list[str]:
    """results.md's section of seconds per image, per method (but ours_raw, ours' own) and kind."""
    lines = ["", "## Seconds per image (wall clock)", ""]
    lines += ["Mean ± standard deviation over the images timed; for ours a batch's time divided by its size.", ""]
    table = []
    for method in methods:
        if method == OURS_RAW:
            continue
        cells = []
        for kind in kinds:
            values = timings[method, kind]
            mean, std = mean_std(values)
            cells.append("—" if not values else format_seconds(mean, std)
                         + ("" if len(values) == count else f" (N = {len(values)})"))
        table.append([method, *cells])
    return lines + _markdown_table(["method", *kinds], table)


def summary_rows(methods: Sequence[str], kinds: Sequence[str], groups: dict, timings: dict) -> list[dict]:
    """results.csv's rows: per method and kind, N, each metric's mean and std, and the seconds'."""
    rows = []
    for method in methods:
        for kind in kinds:
            group = groups.get((method, kind), [])
            entry = {"method": method, "kind": kind, "n": len(group)}
            for metric in METRICS:
                entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean_std([r[metric] for r in group])
            values = timings[method, kind]
            entry["seconds_per_image"], entry["seconds_std"] = mean_std(values) if values else (math.nan, math.nan)
            entry["seconds_n"] = len(values)
            rows.append(entry)
    return rows


def csv_bytes(rows: Sequence[dict]) -> bytes:
    """The rows as CSV (a header of the first row's keys; floats written exactly, as repr)."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for entry in rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in entry.items()})
    return buffer.getvalue().encode()


def figure_grids(evaluation: EvaluationSet, methods: Sequence[str], kinds: Sequence[str],
                 indices: Sequence[int]) -> list[str]:
    """Write OUT/figures/<kind>.png (rows = the images `indices`; columns = ground truth, input,
    then G(ẑ) right before ours and the other methods in order); return results.md's section."""
    shown = [m for m in (OURS_RAW, OURS) if m in methods] + [m for m in methods if m not in (OURS, OURS_RAW)]
    titles = ["G(z)" if m == OURS_RAW else m for m in shown]
    lines = ["", "## Figures", "",
             f"Images {', '.join(map(str, indices))}; columns: ground truth, input (hole in white), "
             + ", ".join(titles) + f". Tiles upscaled ×{FIGURE_SCALE} (nearest).", ""]
    for kind in kinds:
        grid = []
        for index in indices:
            truth, mask = evaluation.read_image(index), evaluation.read_mask(kind, index)
            grid.append([truth, show_hole(truth, mask),
                         *(evaluation.read_prediction(method, kind, index) for method in shown)])
        write_if_changed(evaluation.out / "figures" / f"{kind}.png", png_bytes(labelled_grid(
            grid, column_titles=["ground truth", "input", *titles], scale=FIGURE_SCALE, padding=FIGURE_PADDING)))
        lines.append(f"![{kind}](figures/{kind}.png)")
    return lines


def _timing_values(out: Path, method: str, kind: str, indices: set[int]) -> list[float]:
    """Seconds per image of the scored indices (timings of ours_raw are those of ours)."""
    path = timing_path(out, OURS if method == OURS_RAW else method, kind)
    if not path.is_file():
        return []
    images = read_json(path).get("images", {})
    return [float(images[str(i)]["seconds"]) for i in sorted(indices) if str(i) in images]


def several(settings: dict) -> str:
    """What ours' settings (config.json's "settings", SearchSettings as a dict) add beyond one
    search: settings.candidates_and_tuning's words; options the dict lacks take their defaults."""
    known = {name: value for name, value in settings.items() if name in SearchSettings.__dataclass_fields__}
    return candidates_and_tuning(SearchSettings(**known))


def _preamble(evaluation: EvaluationSet, methods, kinds, count, timings) -> list[str]:
    size = f"{evaluation.image_size}×{evaluation.image_size}×{evaluation.channels}"
    lines = [f"- {count} images ({size}): the first {count} of the {evaluation.split} split of {evaluation.dataset}; "
             f"mask seed {evaluation.seed}; mask kinds: {', '.join(kinds)} (white / True = missing).",
             "- PSNR = 10·log10(1 / MSE) on [0, 1] images read back from the uint8 PNGs; SSIM is scikit-image's "
             "7×7 version; \"hole\" scores only the missing pixels.",
             "- Every method saw the ground truth with the hole set to 0."]
    config_path = evaluation.out / "predictions" / OURS / "config.json"
    if OURS in methods and config_path.is_file():
        config = read_json(config_path)
        settings = config.get("settings", {})
        devices = sorted({entry.get("device", "?") for kind in kinds
                          if timing_path(evaluation.out, OURS, kind).is_file()
                          for entry in read_json(timing_path(evaluation.out, OURS, kind)).get("images", {}).values()})
        lines.append(
            f"- ours: model {config.get('model')} (weights sha256 {str(config.get('model_sha256'))[:12]}), "
            f"{settings.get('iterations')} iterations, {settings.get('restarts')} start(s) "
            f"(first: {settings.get('start', 'random')}){several(settings)}, Adam lr "
            f"{settings.get('learning_rate')}, λ = {settings.get('prior_weight')} "
            f"({settings.get('prior_form')} prior), window {settings.get('window')}, {settings.get('precision')}, "
            f"{config.get('blend')} blending; batches of {config.get('batch_size')} on {', '.join(devices) or '?'} "
            f"(every setting: predictions/ours/config.json). ours_raw is G(ẑ) before blending.")
    hybrid_path = evaluation.out / "predictions" / OURS_HYBRID / "config.json"
    if OURS_HYBRID in methods and hybrid_path.is_file():
        lines.append(f"- ours_hybrid: the same G(ẑ) blended with the hybrid blend (Eq. 6 plus μ‖Δx‖², μ = "
                     f"{read_json(hybrid_path).get('smoothness')}) instead of Eq. 6; its seconds are ours' plus "
                     "this blend's.")
    return lines


def check_figure_indices(figure_indices: Sequence[int] | None, count: int) -> list[int]:
    if figure_indices is None:
        return list(range(min(FIGURE_COUNT, count)))
    indices = [int(i) for i in figure_indices]
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise InpaintError(f"figure index {bad[0]} is outside the {count} evaluated images (0 … {count - 1})")
    if not indices:
        raise InpaintError("figure_indices is empty")
    return indices

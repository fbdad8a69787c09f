"""The staged evaluation (LaMa-style): fixed saved masks, saved predictions, one scorer, tables.

Every stage reads and writes files under one output folder OUT (layout.py), skips what already
exists and writes a file only when its content changes, so an interrupted run continues where it
stopped and a finished run can be repeated at no cost. The stages, a file each: prepare (1: the
ground truth and the masks), predict (2: every method's predictions and seconds per image), score
(3: PSNR and SSIM, whole image and hole, OUT/scores.csv), report (4: tables and figures); run.py's
evaluate() runs all four. Shards (docs/distributed.md): predict (and evaluate) can do a share of
the work, shard (INDEX, COUNT): the chunks k of "ours" with k % COUNT == INDEX and the images i of
a baseline with i % COUNT == INDEX. Chunks are fixed index ranges seeded by their number, so the
files are those of an unsharded run. Under torchrun each rank takes shard (rank, world size);
processes started one by one are given theirs (`--shard INDEX/COUNT`). Mask convention: True /
white = missing, to be filled. Every method sees the ground truth with the hole set to 0, so none
can read the missing pixels.
"""

from .layout import (
    OURS, OURS_HYBRID, OURS_RAW, EvaluationSet, image_path, load_set, mask_path, prediction_path, timing_path,
)
from .predict import DEFAULT_METHODS, method_names, model_fingerprint
from .run import evaluate
from .score import METRICS, read_scores

# The stages themselves are prepare.prepare, predict.predict, score.score and report.report: the
# package does not re-export them, so that each name keeps naming its module.
__all__ = [
    "DEFAULT_METHODS", "METRICS", "OURS", "OURS_HYBRID", "OURS_RAW", "EvaluationSet", "evaluate", "image_path",
    "load_set", "mask_path", "method_names", "model_fingerprint", "prediction_path", "read_scores", "timing_path",
]

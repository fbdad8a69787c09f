"""Stage 1: the ground truth and the masks every method is run and scored on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data import load_dataset
from ..errors import InpaintError
from ..images import png_bytes
from ..masks import make_masks, mask_to_uint8
from .layout import (
    EvaluationSet, canonical_kinds, check_count, image_path, json_bytes, load_set, mask_path, write_if_changed,
)

_SET_KEYS = ("dataset", "split", "image_size", "channels", "seed")  # a resume must agree on these


def prepare(
    *, dataset: str, root: str | Path, split: str, count: int, kinds: Sequence[str] | None, out: str | Path,
    seed: int = 0, image_size: int = 64, channels: int = 3, progress: bool = True,
) -> EvaluationSet:
    """Stage 1: save the ground truth OUT/images/<i>.png and the masks OUT/masks/<kind>/<i>.png.

    The images are the first `count` of the split (loaded with load_dataset at image_size and
    channels); mask i of a kind is make_masks(kind, …, seed=seed)[i], which depends only on
    (seed, i). Existing files are reused, so a larger count extends a set. OUT/evaluation.json
    records the set; preparing into a folder made with another dataset, split, size, channels
    or seed raises InpaintError.
    """
    count = check_count(count)
    kinds = canonical_kinds(kinds)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InpaintError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out)
    record = out / "evaluation.json"
    wanted = {"dataset": dataset, "split": split, "image_size": int(image_size), "channels": int(channels),
              "seed": int(seed)}
    previous = load_set(out) if record.is_file() else None
    if previous is not None:
        old = previous.to_json()
        differ = [f"{key} {old[key]!r} ≠ {wanted[key]!r}" for key in _SET_KEYS if old[key] != wanted[key]]
        if differ:
            raise InpaintError(f"{out} was prepared with other settings ({'; '.join(differ)}); "
                               "use another output folder")
        kinds = tuple(previous.kinds) + tuple(kind for kind in kinds if kind not in previous.kinds)
        count = max(count, previous.count)  # every prepared kind has masks for every prepared image

    missing = [index for index in range(count) if not image_path(out, index).is_file()]
    if missing:
        images = load_dataset(dataset, root, split=split, image_size=image_size, channels=channels, limit=count)
        if len(images) < count:
            raise InpaintError(f"the {split} split of {dataset} has only {len(images)} images; "
                               f"asked for count={count}")
        for index in tqdm(missing, desc="ground truth", unit="img", disable=not progress):
            write_if_changed(image_path(out, index), png_bytes(images[index]))
    for kind in kinds:
        todo = [index for index in range(count) if not mask_path(out, kind, index).is_file()]
        if todo:
            masks = make_masks(kind, count, image_size, image_size, seed=seed)
            for index in todo:
                write_if_changed(mask_path(out, kind, index),
                                 png_bytes(mask_to_uint8(masks[index])))
    evaluation = EvaluationSet(out=out, dataset=dataset, split=split, image_size=int(image_size),
                               channels=int(channels), seed=int(seed), count=count, kinds=kinds, root=str(root))
    write_if_changed(record, json_bytes(evaluation.to_json()))
    return evaluation

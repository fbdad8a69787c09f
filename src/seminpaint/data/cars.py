"""Stanford Cars as released: `devkit/` annotations and `cars_train/`, `cars_test/` JPEGs.

devkit/cars_train_annos.mat and cars_test_annos.mat hold a 1×N struct array `annotations` with
fields bbox_x1, bbox_y1, bbox_x2, bbox_y2 (1-based, inclusive pixel coordinates), fname and,
for train only, class (1–196); devkit/cars_meta.mat holds `class_names` (1×196). As in the
paper, each image is cropped to its bounding box and resized to image_size×image_size (aspect
ratio not kept). Official split: train (8,144 images) and test (8,041).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InpaintError
from .common import load_mat, read_files, require, split_parts

SPLITS = ("train", "test")
BOX_FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")


@dataclass(frozen=True)
class CarBox:
    """One annotated image: file name, box (x1, y1, x2, y2) 1-based inclusive, class 0–195 or None."""

    fname: str
    box: tuple[int, int, int, int]
    class_index: int | None

    def crop_box(self) -> tuple[int, int, int, int]:
        """The box as PIL crops it: (left, top, right, bottom), 0-based, right and bottom exclusive."""
        x1, y1, x2, y2 = self.box
        return x1 - 1, y1 - 1, x2, y2


def _scalar(value: np.ndarray) -> object:
    """The one element of a loadmat struct field (a 1×1 array, or a 1-element string array)."""
    return np.asarray(value).reshape(-1)[0]


def read_annotations(devkit_dir: Path, split: str) -> list[CarBox]:
    """The boxes of one official split ("train" or "test"), in file order."""
    if split not in SPLITS:
        raise InpaintError(f"Stanford Cars annotations exist for {', '.join(SPLITS)}, not {split!r}")
    path = devkit_dir / f"cars_{split}_annos.mat"
    annotations = load_mat(path, f"Stanford Cars' {split} annotations ({path.name})", ("annotations",))["annotations"]
    fields = annotations.dtype.names or ()
    needed = (*BOX_FIELDS, "fname", *(("class",) if split == "train" else ()))
    if missing := [name for name in needed if name not in fields]:
        raise InpaintError(f"{path}: annotations lack the field {missing[0]!r} (has: {', '.join(fields)})")
    records = []
    for record in annotations.reshape(-1):
        x1, y1, x2, y2 = (int(_scalar(record[name])) for name in BOX_FIELDS)
        if not 1 <= x1 <= x2 or not 1 <= y1 <= y2:
            raise InpaintError(f"{path}: {_scalar(record['fname'])} has an invalid box {(x1, y1, x2, y2)}")
        label = int(_scalar(record["class"])) - 1 if "class" in fields else None
        records.append(CarBox(str(_scalar(record["fname"])), (x1, y1, x2, y2), label))
    return records


def class_names(devkit_dir: Path) -> list[str]:
    """The 196 class names of cars_meta.mat; class_index i names class_names(devkit)[i]."""
    path = devkit_dir / "cars_meta.mat"
    names = load_mat(path, "Stanford Cars' class names (cars_meta.mat)", ("class_names",))["class_names"]
    return [str(_scalar(name)) for name in names.reshape(-1)]


def load(
    root: Path, *, split: str = "train", image_size: int = 64, channels: int = 3, limit: int | None = None,
) -> np.ndarray:
    """Cars of `split` ("train", "test", "all" = train then test), box-cropped: uint8 (N, size, size, channels)."""
    paths, boxes = [], []
    for part in split_parts("Stanford Cars", split, SPLITS):
        images_dir = root / f"cars_{part}"
        for record in read_annotations(root / "devkit", part):
            paths.append(images_dir / record.fname)
            boxes.append(record.crop_box())
    paths, boxes = paths[:limit], boxes[:limit]
    for folder in sorted({path.parent for path in paths}):
        require(folder, f"Stanford Cars' {folder.name}/ folder")
    for path in paths:
        require(path, f"Stanford Cars image {path.name}")
    return read_files(paths, image_size=image_size, channels=channels, boxes=boxes,
                      description=f"Stanford Cars {split}")

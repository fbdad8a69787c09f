"""The evaluation folder OUT: where every stage reads and writes, its record, and the timings.

    OUT/evaluation.json                      what the set is: dataset, split, size, seed, count, kinds
    OUT/images/<index:05d>.png               ground truth (uint8), the dataset's first `count` images
    OUT/masks/<kind>/<index:05d>.png         mask (white = missing), masks.make_masks(kind, …, seed)
    OUT/predictions/<method>/config.json     the method's settings; a resume with others is refused
    OUT/predictions/<method>/<kind>/<index:05d>.png   prediction (uint8); "ours_raw" holds G(ẑ),
                                             "ours_hybrid" it re-blended (blend.hybrid_blend)
    OUT/timings/<method>/<kind>.json         wall-clock seconds per image, keyed by index
    OUT/timings/<method>/<kind>.shard-<INDEX>-of-<COUNT>.json   a shard's, until score() merges them
    OUT/scores.csv                           psnr, psnr_hole, ssim, ssim_hole per method, kind, image
    OUT/results.md, OUT/results.csv          mean ± std tables (rows = methods, columns = kinds)
    OUT/figures/<kind>.png                   grids like the paper's Figs. 6–11

Files are written atomically and only when their content changes (write_if_changed).
Mask convention: True / white = missing, to be filled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InpaintError
from ..images import read_image, to_float
from ..masks import MASK_ALIASES, MASK_KINDS, read_mask
from ..networks.checkpoint import atomic_write

OURS = "ours"
OURS_RAW = "ours_raw"  # G(ẑ) before blending, written by "ours"
OURS_HYBRID = "ours_hybrid"  # ours' G(ẑ) blended with blend.hybrid_blend instead of Eq. 6


def image_path(out: str | Path, index: int) -> Path:
    """OUT/images/<index:05d>.png: the ground truth of image `index`."""
    return Path(out) / "images" / f"{index:05d}.png"


def mask_path(out: str | Path, kind: str, index: int) -> Path:
    """OUT/masks/<kind>/<index:05d>.png: white = missing."""
    return Path(out) / "masks" / kind / f"{index:05d}.png"


def prediction_path(out: str | Path, method: str, kind: str, index: int) -> Path:
    """OUT/predictions/<method>/<kind>/<index:05d>.png."""
    return Path(out) / "predictions" / method / kind / f"{index:05d}.png"


def timing_path(out: str | Path, method: str, kind: str) -> Path:
    """OUT/timings/<method>/<kind>.json."""
    return Path(out) / "timings" / method / f"{kind}.json"


def shard_timing_path(out: str | Path, method: str, kind: str, shard: tuple[int, int]) -> Path:
    """OUT/timings/<method>/<kind>.shard-<INDEX>-of-<COUNT>.json: a shard's timings until score() merges them."""
    return Path(out) / "timings" / method / f"{kind}.shard-{shard[0]}-of-{shard[1]}.json"


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically (temporary file + rename) unless it already holds it.

    Returns whether the file was written. A reader (or a resumed run) never sees half a file.
    """
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write(path, lambda temporary: Path(temporary).write_bytes(data))
    return True


def json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=False) + "\n").encode()


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InpaintError(f"{path} is unreadable or not JSON ({type(error).__name__})") from None


@dataclass(frozen=True)
class EvaluationSet:
    """What OUT/evaluation.json records: the images and masks every method is run and scored on.

    count: images prepared (indices 0 … count − 1); kinds: mask kinds prepared (canonical names).
    root: where the dataset was read from (informational; nearest_neighbour reads its train split).
    """

    out: Path
    dataset: str
    split: str
    image_size: int
    channels: int
    seed: int
    count: int
    kinds: tuple[str, ...]
    root: str

    def to_json(self) -> dict:
        values = asdict(self)
        values.pop("out")
        values["kinds"] = list(self.kinds)
        return values

    def read_image(self, index: int) -> np.ndarray:
        """Ground truth `index`: float32 (H, W, C) in [0, 1]."""
        image = read_image(image_path(self.out, index), mode="RGB" if self.channels == 3 else "L")
        return to_float(image.reshape(self.image_size, self.image_size, self.channels))

    def read_mask(self, kind: str, index: int) -> np.ndarray:
        """Mask `index` of `kind`: bool (H, W), True = missing."""
        return read_mask(mask_path(self.out, kind, index), (self.image_size, self.image_size))

    def read_prediction(self, method: str, kind: str, index: int) -> np.ndarray:
        """A method's prediction: float32 (H, W, C) in [0, 1]."""
        path = prediction_path(self.out, method, kind, index)
        image = read_image(path, mode="RGB" if self.channels == 3 else "L")
        if image.shape[:2] != (self.image_size, self.image_size):
            raise InpaintError(f"{path} is {image.shape[1]}×{image.shape[0]}, expected "
                               f"{self.image_size}×{self.image_size}")
        return to_float(image.reshape(self.image_size, self.image_size, self.channels))


def load_set(out: str | Path) -> EvaluationSet:
    """The EvaluationSet recorded in OUT/evaluation.json (written by prepare)."""
    out = Path(out)
    path = out / "evaluation.json"
    if not path.is_file():
        raise InpaintError(f"{out} holds no evaluation set ({path.name} not found); run the prepare stage first")
    values = read_json(path)
    try:
        return EvaluationSet(out=out, dataset=values["dataset"], split=values["split"],
                             image_size=int(values["image_size"]), channels=int(values["channels"]),
                             seed=int(values["seed"]), count=int(values["count"]),
                             kinds=tuple(values["kinds"]), root=str(values.get("root", "")))
    except (KeyError, TypeError, ValueError) as error:
        raise InpaintError(f"{path} is not an evaluation record ({type(error).__name__}: {error})") from None


def canonical_kinds(kinds: Iterable[str] | str | None) -> tuple[str, ...]:
    """Mask kinds as canonical names ("random" → "random_pixels"), in order, without repeats."""
    if kinds is None:
        return MASK_KINDS
    if isinstance(kinds, str):
        kinds = [kinds]
    result: list[str] = []
    for kind in kinds:
        name = MASK_ALIASES.get(kind, kind)
        if name not in MASK_KINDS:
            raise InpaintError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASK_KINDS)} (or 'random')")
        if name not in result:
            result.append(name)
    if not result:
        raise InpaintError("no mask kind given; valid kinds: " + ", ".join(MASK_KINDS))
    return tuple(result)


def check_count(count: object, name: str = "count") -> int:
    """`count` as an int; anything but a positive integer raises InpaintError naming `name`."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise InpaintError(f"{name} must be a positive integer, got {count!r}")
    return int(count)


def check_prepared(evaluation: EvaluationSet, kinds: Sequence[str], count: int) -> None:
    """Raise InpaintError unless the set holds `count` images with masks of every one of `kinds`."""
    if count > evaluation.count:
        raise InpaintError(f"{evaluation.out} holds {evaluation.count} prepared images; asked for count={count}")
    for kind in kinds:
        if kind not in evaluation.kinds:
            raise InpaintError(f"{evaluation.out} has no {kind} masks; prepared kinds: {', '.join(evaluation.kinds)}")


class Timings:
    """Seconds per image of one method and kind, keyed by index, in OUT/timings/<method>/<kind>.json."""

    def __init__(self, out: Path, method: str, kind: str, shard: tuple[int, int] = (0, 1)):
        # A shard of several keeps its own file, so that shards never write the same one.
        self.path = timing_path(out, method, kind) if shard[1] == 1 else shard_timing_path(out, method, kind, shard)
        self.method, self.kind = method, kind
        self.images: dict[str, dict] = {}
        if self.path.is_file():
            self.images = dict(read_json(self.path).get("images", {}))

    def record(self, indices: Iterable[int], seconds_per_image: float, *, device: str, batch: int) -> None:
        for index in indices:
            self.images[str(index)] = {"seconds": seconds_per_image, "batch": batch, "device": device}

    def save(self) -> None:
        images = {key: self.images[key] for key in sorted(self.images, key=int)}
        write_if_changed(self.path, json_bytes({
            "method": self.method, "kind": self.kind,
            "unit": "wall-clock seconds per image (a batch's time divided by its size)",
            "images": images,
        }))


def merge_timings(out: str | Path) -> None:
    """Fold every shard's timing file into OUT/timings/<method>/<kind>.json and remove it.

    Run by the one process that scores, once every shard is done (a shard's entries are newer
    than the merged file's, so they win).
    """
    folder = Path(out) / "timings"
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*/*.shard-*-of-*.json")):
        timings = Timings(Path(out), path.parent.name, path.name.split(".shard-")[0])
        timings.images.update(read_json(path).get("images", {}))
        timings.save()
        path.unlink()

"""The staged evaluation harness (LaMa-style): fixed saved masks, saved predictions, one scorer, tables.

Every stage reads and writes files under one output folder OUT, skips what already exists, and
writes a file only when its content changes, so an interrupted run continues where it stopped and
a finished run can be repeated at no cost:

    OUT/evaluation.json                      what the set is: dataset, split, size, seed, count, kinds
    OUT/images/<index:05d>.png               ground truth (uint8), the dataset's first `count` images
    OUT/masks/<kind>/<index:05d>.png         mask (white = missing), masks.make_masks(kind, …, seed)
    OUT/predictions/<method>/config.json     the method's settings; a resume with others is refused
    OUT/predictions/<method>/<kind>/<index:05d>.png   prediction (uint8); "ours_raw" holds G(ẑ),
                                             "ours_hybrid" it re-blended (blend.hybrid_blend)
    OUT/timings/<method>/<kind>.json         wall-clock seconds per image, keyed by index
    OUT/scores.csv                           psnr, psnr_hole, ssim, ssim_hole per method, kind, image
    OUT/results.md, OUT/results.csv          mean ± std tables (rows = methods, columns = kinds)
    OUT/figures/<kind>.png                   grids like the paper's Figs. 6–11

Stages: prepare (1: images and masks), predict (2), score (3), report (4: tables and figures);
evaluate() runs all four.

Shards (docs/distributed.md): predict (and evaluate) can do a share of the work, shard
(INDEX, COUNT): the chunks k of "ours" with k % COUNT == INDEX and the images i of a baseline
with i % COUNT == INDEX. Chunks are fixed index ranges seeded by their number, so the files are
those of an unsharded run. Under torchrun each rank takes shard (rank, world size); processes
started one by one are given theirs (`--shard INDEX/COUNT`). A shard writes its timings to
OUT/timings/<method>/<kind>.shard-<INDEX>-of-<COUNT>.json; score() merges them into <kind>.json. Mask convention: True / white = missing, to be filled. Every method sees
the ground truth with the hole set to 0, so none can read the missing pixels.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import baselines, distributed, metrics
from .api import inpaint, resolve_model, resolve_settings
from .blend import HYBRID_SMOOTHNESS, check_smoothness, hybrid_blend
from .checkpoint import atomic_write
from .data import load_dataset
from .errors import InpaintError
from .figures import labelled_grid, show_hole
from .images import read_image, to_float, to_uint8
from .masks import MASK_ALIASES, MASK_KINDS, make_masks, read_mask
from .model import weights_digest
from .precision import resolve_precision

OURS = "ours"
OURS_RAW = "ours_raw"  # G(ẑ) before blending, written by "ours"
OURS_HYBRID = "ours_hybrid"  # ours' G(ẑ) blended with blend.hybrid_blend instead of Eq. 6
DEFAULT_METHODS = (OURS, "mean", "biharmonic")
METRICS = ("psnr", "psnr_hole", "ssim", "ssim_hole")
METRIC_TITLES = {
    "psnr": "PSNR (dB), whole image",
    "psnr_hole": "PSNR (dB), hole only",
    "ssim": "SSIM, whole image",
    "ssim_hole": "SSIM, hole only",
}
CHUNK_SEED_STRIDE = 100003  # chunk k of "ours" starts z from torch.Generator().manual_seed(seed · 100003 + k)
FIGURE_COUNT = 6  # default figure rows: the first 6 images
FIGURE_SCALE = 2  # tiles are upscaled ×2 (nearest) for visibility
FIGURE_PADDING = 2  # pixels between tiles and around the grid (figures.labelled_grid's padding)

# Table 1 of the paper, PSNR (dB) on the test sets: (Context Encoder, Yeh et al.) per mask kind.
PAPER_TABLE_1: dict[str, dict[str, tuple[float, float]]] = {
    "celeba": {"center": (21.3, 19.4), "pattern": (19.2, 17.4), "random_pixels": (20.6, 22.8), "half": (15.5, 13.7)},
    "svhn": {"center": (22.3, 19.0), "pattern": (22.3, 19.8), "random_pixels": (24.1, 33.0), "half": (19.1, 14.6)},
    "cars": {"center": (14.1, 13.5), "pattern": (14.0, 14.1), "random_pixels": (16.1, 18.9), "half": (12.6, 11.1)},
}

_SET_KEYS = ("dataset", "split", "image_size", "channels", "seed")  # a resume must agree on these


# ---------------------------------------------------------------------------------------------
# Paths and small file helpers


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


def png_bytes(image: np.ndarray) -> bytes:
    """(H, W), (H, W, 1) or (H, W, 3) uint8 or float [0, 1] → the bytes of a PNG file."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=False) + "\n").encode()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InpaintError(f"{path} is unreadable or not JSON ({type(error).__name__})") from None


# ---------------------------------------------------------------------------------------------
# The evaluation set (stage 1)


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
    values = _read_json(path)
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


def _check_count(count: object, name: str = "count") -> int:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise InpaintError(f"{name} must be a positive integer, got {count!r}")
    return int(count)


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
    count = _check_count(count)
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
                                 png_bytes(np.where(masks[index], np.uint8(255), np.uint8(0))))
    evaluation = EvaluationSet(out=out, dataset=dataset, split=split, image_size=int(image_size),
                               channels=int(channels), seed=int(seed), count=count, kinds=kinds, root=str(root))
    write_if_changed(record, json_bytes(evaluation.to_json()))
    return evaluation


# ---------------------------------------------------------------------------------------------
# Methods (stage 2)


def method_names() -> tuple[str, ...]:
    """Every method predict accepts: "ours" and the baselines of seminpaint.baselines.METHODS."""
    return (OURS, OURS_HYBRID, *sorted(baselines.METHODS))


def check_methods(methods: Iterable[str] | str) -> tuple[str, ...]:
    """Validate method names (in order, without repeats); unknown names raise InpaintError listing the valid ones."""
    if isinstance(methods, str):
        methods = [methods]
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise InpaintError("no method given; choose from: " + ", ".join(method_names()))
    valid = method_names()
    for method in methods:
        if method == OURS_RAW:
            raise InpaintError(f"{OURS_RAW} (G(ẑ) before blending) is written by {OURS!r}; ask for {OURS!r}")
        if method not in valid:
            raise InpaintError(f"unknown method {method!r}; choose from: {', '.join(valid)}")
    return tuple(methods)


def model_fingerprint(model) -> str:
    """sha256 of G's, D's and the latent encoder's weights (a GenerativeModel): which model made a
    set of predictions (for a model without an encoder, the digest of G and D alone)."""
    return weights_digest(model.generator, model.discriminator, model.encoder)


def _jsonable(value: object) -> object:
    """Options as JSON: arrays become a short description, tuples lists, unknown objects their repr."""
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
        return f"array {tuple(value.shape)} {value.dtype} sha256 {digest}"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _flatten(values: dict, prefix: str = "") -> dict:
    """{"settings": {"iterations": 5}} → {"settings.iterations": 5}."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_config(out: Path, method: str, config: dict, *, ignore: Sequence[str] = ()) -> None:
    """Write OUT/predictions/<method>/config.json, or refuse when existing predictions used other settings."""
    path = out / "predictions" / method / "config.json"
    config = json.loads(json.dumps(_jsonable(config)))  # what the file will hold
    if path.is_file():
        old, new = _flatten(_read_json(path)), _flatten(config)
        # A search setting on one side only is a field added to SearchSettings since (at its
        # default); any other key missing on one side is a difference (e.g. a baseline option).
        keys = sorted(key for key in (set(old) | set(new)) - set(ignore)
                      if not (key.startswith("settings.") and (key not in old or key not in new)))
        differ = [f"{key} {old.get(key, '(unset)')!r} ≠ {new.get(key, '(unset)')!r}"
                  for key in keys if old.get(key, '(unset)') != new.get(key, '(unset)')]
        if differ:
            raise InpaintError(f"the predictions in {path.parent} were made with other settings "
                               f"({'; '.join(differ)}); use another output folder or delete that one")
        return
    write_if_changed(path, json_bytes(config))


class Timings:
    """Seconds per image of one method and kind, keyed by index, in OUT/timings/<method>/<kind>.json."""

    def __init__(self, out: Path, method: str, kind: str, shard: tuple[int, int] = (0, 1)):
        # A shard of several keeps its own file, so that shards never write the same one.
        self.path = timing_path(out, method, kind) if shard[1] == 1 else shard_timing_path(out, method, kind, shard)
        self.method, self.kind = method, kind
        self.images: dict[str, dict] = {}
        if self.path.is_file():
            self.images = dict(_read_json(self.path).get("images", {}))

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
        timings.images.update(_read_json(path).get("images", {}))
        timings.save()
        path.unlink()


def _ours_options(settings, options: dict, model) -> SearchSettings:
    """The SearchSettings of "ours": a preset name, an instance or None (the default for `model`),
    with any field (blend and smoothness included) replaced by `options`."""
    return resolve_settings(settings, model).with_options(**options)


def predict(
    out: str | Path, *, methods: Sequence[str] | str, kinds: Sequence[str] | None = None, count: int | None = None,
    model=None, settings="paper", batch_size: int = 64, method_options: dict | None = None,
    device=None, root: str | Path | None = None, progress: bool = True, shard: tuple[int, int] | None = None,
) -> None:
    """Stage 2: write OUT/predictions/<method>/<kind>/<i>.png for every method, kind and image.

    Files that exist are skipped, so an interrupted run continues. Every method sees the ground
    truth with the hole set to 0. kinds, count: default to everything prepared.
    "ours_hybrid": ours' G(ẑ) (the ours_raw files, so "ours" must come first) blended with
        blend.hybrid_blend, μ = method_options["ours_hybrid"]["smoothness"] (default
        blend.HYBRID_SMOOTHNESS); its time per image is ours' plus the blend's.
    "ours": seminpaint.inpaint with `model` (a GenerativeModel, a checkpoint path, or None for
        the shipped model) and `settings` (a preset name or SearchSettings), in chunks of
        `batch_size` images fixed by index: chunk k = indices [k·B, (k+1)·B) starts z from
        torch.Generator().manual_seed(seed · 100003 + k), so a resumed run gives the same files.
        A chunk is skipped only when all its files (ours and ours_raw = G(ẑ)) exist.
        method_options["ours"] may override SearchSettings fields and give "blend".
    baselines: one image at a time, fill(name, image, mask, **method_options[name]);
        nearest_neighbour gets the dataset's train split as `references` (read from `root`, by
        default the one recorded by prepare).
    Wall-clock seconds per image go to OUT/timings/<method>/<kind>.json. A method's settings are
    recorded in its config.json; continuing with other settings raises InpaintError.
    shard: (INDEX, COUNT) to do only chunks k (ours) and images i (baselines) with k or i ≡ INDEX
        (mod COUNT); default (rank, world size) in a torchrun group, else everything. Timings of
        a shard go to their own file until score() merges them.
    """
    shard = distributed.current_shard(shard)
    evaluation = load_set(out)
    out = evaluation.out
    methods = check_methods(methods)
    kinds = canonical_kinds(kinds) if kinds is not None else evaluation.kinds
    count = evaluation.count if count is None else _check_count(count)
    batch_size = _check_count(batch_size, "batch_size")
    _check_prepared(evaluation, kinds, count)
    method_options = _check_method_options(methods, method_options)
    for method in methods:
        options = dict(method_options.get(method) or {})
        if method == OURS:
            _predict_ours(evaluation, kinds, count, model, settings, options, batch_size, device, progress, shard)
        elif method == OURS_HYBRID:
            _predict_hybrid(evaluation, kinds, count, options, progress, shard)
        else:
            _predict_baseline(evaluation, method, kinds, count, options, root, progress, shard)


def _check_method_options(methods: Sequence[str], method_options: dict | None) -> dict:
    method_options = dict(method_options or {})
    unknown = sorted(set(method_options) - set(methods))
    if unknown:
        raise InpaintError(f"options given for method(s) not asked for: {', '.join(unknown)}")
    return method_options


def _check_references(split: str) -> None:
    if split in ("train", "all"):
        raise InpaintError(f"nearest_neighbour searches the train split, which the evaluated {split!r} split "
                           "overlaps; evaluate on a held-out split (val or test) or pass references")


def _check_prepared(evaluation: EvaluationSet, kinds: Sequence[str], count: int) -> None:
    if count > evaluation.count:
        raise InpaintError(f"{evaluation.out} holds {evaluation.count} prepared images; asked for count={count}")
    for kind in kinds:
        if kind not in evaluation.kinds:
            raise InpaintError(f"{evaluation.out} has no {kind} masks; prepared kinds: {', '.join(evaluation.kinds)}")


def _corrupted(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The input every method sees: the ground truth with the hole (True = missing) set to 0."""
    return np.where(mask[..., None], np.float32(0.0), image).astype(np.float32)


def _predict_ours(evaluation, kinds, count, model, settings, options, batch_size, device, progress,
                  shard=(0, 1)) -> None:
    model = resolve_model(model, device)
    settings = _ours_options(settings, options, model)
    blend = settings.blend
    # The precision that runs here ("auto" → bf16 or fp32-fast), as the config records it.
    settings = settings.with_options(precision=resolve_precision(settings.precision, model.device))
    out = evaluation.out
    config = {"model": model.name, "model_sha256": model_fingerprint(model), "settings": asdict(settings),
              "blend": blend, "seed": evaluation.seed, "batch_size": batch_size,
              "chunk_seed": f"torch.Generator().manual_seed(seed * {CHUNK_SEED_STRIDE} + chunk)"}
    _check_config(out, OURS, config, ignore=("model",))
    _check_config(out, OURS_RAW, {**config, "note": "G(ẑ) before blending, written by ours"}, ignore=("model",))
    device_name = str(model.device)
    warmed_up = False
    chunks = [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)
              if distributed.in_shard(start // batch_size, shard)]
    for kind in kinds:
        timings = Timings(out, OURS, kind, shard)
        todo = [chunk for chunk in chunks
                if not all(prediction_path(out, method, kind, index).is_file()
                           for index in chunk for method in (OURS, OURS_RAW))]
        if todo and not warmed_up:  # one untimed step first: lazy initialisation is not the method's time
            chunk = todo[0][:1]
            image, mask = evaluation.read_image(chunk[0]), evaluation.read_mask(kind, chunk[0])
            inpaint(_corrupted(image, mask), mask, model=model, settings=settings.with_options(iterations=1),
                    generator=torch.Generator().manual_seed(0))
            warmed_up = True
        try:
            for chunk in tqdm(todo, desc=f"ours {kind}", unit="batch", disable=not progress):
                number = chunk.start // batch_size
                images = np.stack([evaluation.read_image(index) for index in chunk])
                masks = np.stack([evaluation.read_mask(kind, index) for index in chunk])
                corrupted = _corrupted(images, masks)
                generator = torch.Generator().manual_seed(evaluation.seed * CHUNK_SEED_STRIDE + number)
                start = time.perf_counter()
                result = inpaint(corrupted, masks, model=model, settings=settings, generator=generator)
                seconds = time.perf_counter() - start
                for position, index in enumerate(chunk):
                    for method, array in ((OURS, result.image), (OURS_RAW, result.generated)):
                        path = prediction_path(out, method, kind, index)
                        if not path.is_file():
                            write_if_changed(path, png_bytes(array[position]))
                timings.record(chunk, seconds / len(chunk), device=device_name, batch=len(chunk))
        finally:
            timings.save()


def _predict_hybrid(evaluation, kinds, count, options, progress, shard=(0, 1)) -> None:
    options = dict(options)
    smoothness = check_smoothness(options.pop("smoothness", HYBRID_SMOOTHNESS))
    if options:
        raise InpaintError(f"{OURS_HYBRID} takes only the option smoothness, got {', '.join(sorted(options))}")
    out = evaluation.out
    ours_config = out / "predictions" / OURS_RAW / "config.json"
    _check_config(out, OURS_HYBRID, {"smoothness": smoothness, "blend": "hybrid", "source": "ours_raw (G(ẑ) of ours)",
                                     "ours": _read_json(ours_config) if ours_config.is_file() else None})
    indices = [index for index in range(count) if distributed.in_shard(index, shard)]
    for kind in kinds:
        todo = [index for index in indices if not prediction_path(out, OURS_HYBRID, kind, index).is_file()]
        absent = [index for index in todo if not prediction_path(out, OURS_RAW, kind, index).is_file()]
        if absent:
            raise InpaintError(f"{OURS_HYBRID} re-blends the G(ẑ) of {OURS}, which has no {kind} prediction for "
                               f"image {absent[0]}; run {OURS} first (list it before {OURS_HYBRID})")
        ours_timings = timing_path(out, OURS, kind)
        entries = _read_json(ours_timings).get("images", {}) if ours_timings.is_file() else {}
        search_seconds = {int(key): entry["seconds"] for key, entry in entries.items()}
        timings = Timings(out, OURS_HYBRID, kind, shard)
        try:
            for index in tqdm(todo, desc=f"{OURS_HYBRID} {kind}", unit="img", disable=not progress):
                mask = evaluation.read_mask(kind, index)
                corrupted = _corrupted(evaluation.read_image(index), mask)
                generated = evaluation.read_prediction(OURS_RAW, kind, index)
                start = time.perf_counter()
                result = np.clip(hybrid_blend(corrupted, generated, mask, smoothness=smoothness), 0.0, 1.0)
                seconds = time.perf_counter() - start
                write_if_changed(prediction_path(out, OURS_HYBRID, kind, index), png_bytes(result))
                if index in search_seconds:  # the method's cost: ours' search (and blend) plus this blend
                    timings.record([index], search_seconds[index] + seconds, device="cpu", batch=1)
        finally:
            timings.save()


def _predict_baseline(evaluation, method, kinds, count, options, root, progress, shard=(0, 1)) -> None:
    out = evaluation.out
    indices = [index for index in range(count) if distributed.in_shard(index, shard)]
    if method == "nearest_neighbour" and isinstance(options.get("references"), (str, Path)):
        folder = str(options["references"])  # a folder of reference images, brought to the evaluated size
        options["references"] = load_dataset("folder", Path(folder), image_size=evaluation.image_size,
                                             channels=evaluation.channels)
        config_options = {**options, "references": folder}
    elif method == "nearest_neighbour" and "references" not in options:
        if any(not prediction_path(out, method, kind, index).is_file() for kind in kinds for index in indices):
            # The train split of the evaluated dataset, kept uint8 (a quarter of float32's memory).
            _check_references(evaluation.split)
            options["references"] = load_dataset(
                evaluation.dataset, evaluation.root if root is None else root, split="train",
                image_size=evaluation.image_size, channels=evaluation.channels)
        config_options = {**options, "references": f"{evaluation.dataset} train split"}
    else:
        config_options = options
    ignore = ()
    if method == "context_encoder":  # which network, by its file's digest (its path may change)
        config_options = {**options, "model_sha256": baselines.context_encoder.model_digest(options.get("model"))}
        ignore = ("options.model",)
    _check_config(out, method, {"options": config_options}, ignore=ignore)
    for kind in kinds:
        timings = Timings(out, method, kind, shard)
        todo = [index for index in indices if not prediction_path(out, method, kind, index).is_file()]
        try:
            for index in tqdm(todo, desc=f"{method} {kind}", unit="img", disable=not progress):
                mask = evaluation.read_mask(kind, index)
                corrupted = _corrupted(evaluation.read_image(index), mask)
                start = time.perf_counter()
                result = baselines.fill(method, corrupted, mask, **options)
                seconds = time.perf_counter() - start
                write_if_changed(prediction_path(out, method, kind, index), png_bytes(result))
                timings.record([index], seconds, device="cpu", batch=1)
        finally:
            timings.save()


# ---------------------------------------------------------------------------------------------
# Scoring (stage 3)


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
    count = evaluation.count if count is None else _check_count(count)
    _check_prepared(evaluation, kinds, count)
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


# ---------------------------------------------------------------------------------------------
# Tables and figures (stage 4)


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
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["kind"]), []).append(row)
    counts = {len(group) for group in groups.values()}
    count = max(counts) if counts else 0
    timings = {(method, kind): _timing_values(out, method, kind, {r["index"] for r in groups.get((method, kind), [])})
               for method in methods for kind in kinds}

    lines = [f"# Evaluation: {evaluation.dataset}, {evaluation.split} split", ""]
    lines += _preamble(evaluation, methods, kinds, count, timings)
    paper = PAPER_TABLE_1.get(evaluation.dataset) if paper_reference else None
    csv_rows = []
    for metric in METRICS:
        lines += ["", f"## {METRIC_TITLES[metric]}", "",
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
        if metric == "psnr" and paper:
            for position, name in ((0, "paper Table 1: Context Encoder"), (1, "paper Table 1: Yeh et al.")):
                table.append([f"*{name}*", *(f"*{paper[k][position]:.1f}*" if k in paper else "—" for k in kinds)])
        lines += _markdown_table(["method", *kinds], table)
        if metric == "psnr" and paper:
            lines += ["", "Rows in italics: the paper's Table 1 (PSNR on its own test set and masks; the "
                          "Context Encoder was trained on those masks). Not measured here."]
    lines += ["", "## Seconds per image (wall clock)", ""]
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
    lines += _markdown_table(["method", *kinds], table)
    for method in methods:
        for kind in kinds:
            group = groups.get((method, kind), [])
            entry = {"method": method, "kind": kind, "n": len(group)}
            for metric in METRICS:
                entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean_std([r[metric] for r in group])
            values = timings[method, kind]
            entry["seconds_per_image"], entry["seconds_std"] = mean_std(values) if values else (math.nan, math.nan)
            entry["seconds_n"] = len(values)
            csv_rows.append(entry)

    if figures:
        indices = _figure_indices(figure_indices, count)
        # Columns after the ground truth and the input: G(ẑ) right before ours, then the others in order.
        shown = [m for m in (OURS_RAW, OURS) if m in methods] + [m for m in methods if m not in (OURS, OURS_RAW)]
        titles = ["G(z)" if m == OURS_RAW else m for m in shown]
        lines += ["", "## Figures", "",
                  f"Images {', '.join(map(str, indices))}; columns: ground truth, input (hole in white), "
                  + ", ".join(titles) + f". Tiles upscaled ×{FIGURE_SCALE} (nearest).", ""]
        for kind in kinds:  # OUT/figures/<kind>.png: rows = images, columns = ground truth, input, methods
            grid = []
            for index in indices:
                truth, mask = evaluation.read_image(index), evaluation.read_mask(kind, index)
                grid.append([truth, show_hole(truth, mask),
                             *(evaluation.read_prediction(method, kind, index) for method in shown)])
            write_if_changed(out / "figures" / f"{kind}.png", png_bytes(labelled_grid(
                grid, column_titles=["ground truth", "input", *titles], scale=FIGURE_SCALE, padding=FIGURE_PADDING)))
            lines.append(f"![{kind}](figures/{kind}.png)")
    write_if_changed(out / "results.md", ("\n".join(lines) + "\n").encode())
    buffer = io.StringIO()
    if csv_rows:
        writer = csv.DictWriter(buffer, fieldnames=list(csv_rows[0]), lineterminator="\n")
        writer.writeheader()
        for entry in csv_rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in entry.items()})
    write_if_changed(out / "results.csv", buffer.getvalue().encode())
    return out / "results.md"


def _timing_values(out: Path, method: str, kind: str, indices: set[int]) -> list[float]:
    """Seconds per image of the scored indices (timings of ours_raw are those of ours)."""
    path = timing_path(out, OURS if method == OURS_RAW else method, kind)
    if not path.is_file():
        return []
    images = _read_json(path).get("images", {})
    return [float(images[str(i)]["seconds"]) for i in sorted(indices) if str(i) in images]


def _preamble(evaluation: EvaluationSet, methods, kinds, count, timings) -> list[str]:
    size = f"{evaluation.image_size}×{evaluation.image_size}×{evaluation.channels}"
    lines = [f"- {count} images ({size}): the first {count} of the {evaluation.split} split of {evaluation.dataset}; "
             f"mask seed {evaluation.seed}; mask kinds: {', '.join(kinds)} (white / True = missing).",
             "- PSNR = 10·log10(1 / MSE) on [0, 1] images read back from the uint8 PNGs; SSIM is scikit-image's "
             "7×7 version; \"hole\" scores only the missing pixels.",
             "- Every method saw the ground truth with the hole set to 0."]
    config_path = evaluation.out / "predictions" / OURS / "config.json"
    if OURS in methods and config_path.is_file():
        config = _read_json(config_path)
        settings = config.get("settings", {})
        devices = sorted({entry.get("device", "?") for kind in kinds
                          if timing_path(evaluation.out, OURS, kind).is_file()
                          for entry in _read_json(timing_path(evaluation.out, OURS, kind)).get("images", {}).values()})
        lines.append(
            f"- ours: model {config.get('model')} (weights sha256 {str(config.get('model_sha256'))[:12]}), "
            f"{settings.get('iterations')} iterations, {settings.get('restarts')} start(s) "
            f"(first: {settings.get('start', 'random')}), Adam lr "
            f"{settings.get('learning_rate')}, λ = {settings.get('prior_weight')} "
            f"({settings.get('prior_form')} prior), window {settings.get('window')}, {settings.get('precision')}, "
            f"{config.get('blend')} blending; batches of {config.get('batch_size')} on {', '.join(devices) or '?'} "
            f"(every setting: predictions/ours/config.json). ours_raw is G(ẑ) before blending.")
    hybrid_path = evaluation.out / "predictions" / OURS_HYBRID / "config.json"
    if OURS_HYBRID in methods and hybrid_path.is_file():
        lines.append(f"- ours_hybrid: the same G(ẑ) blended with the hybrid blend (Eq. 6 plus μ‖Δx‖², μ = "
                     f"{_read_json(hybrid_path).get('smoothness')}) instead of Eq. 6; its seconds are ours' plus "
                     "this blend's.")
    return lines


def _figure_indices(figure_indices: Sequence[int] | None, count: int) -> list[int]:
    if figure_indices is None:
        return list(range(min(FIGURE_COUNT, count)))
    indices = [int(i) for i in figure_indices]
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise InpaintError(f"figure index {bad[0]} is outside the {count} evaluated images (0 … {count - 1})")
    if not indices:
        raise InpaintError("figure_indices is empty")
    return indices


# ---------------------------------------------------------------------------------------------
# All stages


def evaluate(
    *, dataset: str, root: str | Path, split: str, count: int, kinds: Sequence[str] | None,
    methods: Sequence[str] | None, out: str | Path, model=None, settings="paper", seed: int = 0,
    batch_size: int = 64, method_options: dict | None = None, figure_indices: Sequence[int] | None = None,
    progress: bool = True, image_size: int | None = None, channels: int | None = None, device=None,
    shard: tuple[int, int] | None = None,
) -> Path | None:
    """Run the four stages into OUT and return the path of OUT/results.md.

    dataset, root, split: as for data.load_dataset; the first `count` images are evaluated with
    masks of each of `kinds` (default all four) drawn with `seed`. methods: "ours" and any
    baseline names (default ours, mean, biharmonic). model: a GenerativeModel, checkpoint path
    or None (the shipped model), used only by "ours"; settings: a preset name or SearchSettings.
    image_size, channels: default the model's when "ours" is asked for, else the Context Encoder's
    when "context_encoder" is, else 64 and 3.
    method_options: {method: {option: value}}. Everything already in OUT is reused.

    Shards: in a torchrun group of N > 1 processes, rank 0 prepares, every rank predicts its
    shard (rank, N), and after a barrier rank 0 scores and reports; the other ranks return None.
    With an explicit shard=(INDEX, COUNT) (processes started one by one) this process prepares
    and predicts its share only and returns None: a later call without a shard, once every shard
    is done, finds all predictions and scores them.
    """
    count = _check_count(count)
    batch_size = _check_count(batch_size, "batch_size")
    kinds = canonical_kinds(kinds)
    methods = check_methods(DEFAULT_METHODS if methods is None else methods)
    method_options = _check_method_options(methods, method_options)
    if "nearest_neighbour" in methods and "references" not in (method_options.get("nearest_neighbour") or {}):
        _check_references(split)
    if "context_encoder" in methods:  # its network, loaded now so that a missing one fails before any work
        network = baselines.context_encoder.load((method_options.get("context_encoder") or {}).get("model"))[0]
    if OURS in methods:
        model = resolve_model(model, device)
        _ours_options(settings, method_options.get(OURS) or {}, model)  # fail before any work
        model_channels, model_height, _ = model.image_shape
        image_size = model_height if image_size is None else image_size
        channels = model_channels if channels is None else channels
    elif "context_encoder" in methods:
        image_size = network.config.image_size if image_size is None else image_size
        channels = network.config.channels if channels is None else channels
    image_size = 64 if image_size is None else image_size
    channels = 3 if channels is None else channels
    if figure_indices is not None:
        _figure_indices(figure_indices, count)
    shard = distributed.current_shard(shard)
    group = distributed.is_active()
    if not group or distributed.is_main():  # in a group rank 0 prepares; the others wait for it
        prepare(dataset=dataset, root=root, split=split, count=count, kinds=kinds, out=out, seed=seed,
                image_size=image_size, channels=channels, progress=progress)
    distributed.barrier()
    predict(out, methods=methods, kinds=kinds, count=count, model=model, settings=settings,
            batch_size=batch_size, method_options=method_options, device=device, root=root, progress=progress,
            shard=shard)
    if shard[1] > 1:
        distributed.barrier()  # every rank's predictions are in OUT
        if not (group and distributed.is_main()):
            return None
    score(out, methods=methods, kinds=kinds, count=count, progress=progress)
    return report(out, figure_indices=figure_indices)

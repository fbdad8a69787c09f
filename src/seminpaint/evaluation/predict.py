"""Stage 2: every method's predictions, with their settings and wall-clock seconds per image."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import baselines
from ..api import inpaint, resolve_model, resolve_settings
from ..blend import HYBRID_SMOOTHNESS, check_smoothness, hybrid_blend
from ..data import load_dataset
from ..errors import InpaintError
from ..images import png_bytes
from ..networks.model import weights_digest
from ..runtime.precision import resolve_precision
from ..settings import SearchSettings
from ..shards import current_shard, in_shard
from .layout import (
    OURS, OURS_HYBRID, OURS_RAW, Timings, canonical_kinds, check_count, check_prepared, json_bytes,
    load_set, prediction_path, read_json, timing_path, write_if_changed,
)

DEFAULT_METHODS = (OURS, "mean", "biharmonic")
CHUNK_SEED_STRIDE = 100003  # chunk k of "ours" starts z from torch.Generator().manual_seed(seed · 100003 + k)


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
        old, new = _flatten(read_json(path)), _flatten(config)
        # A search setting on one side only is a SearchSettings field the other side's version of
        # the library did not have (at its default); any other key missing on one side is a
        # difference (e.g. a baseline option).
        keys = sorted(key for key in (set(old) | set(new)) - set(ignore)
                      if not (key.startswith("settings.") and (key not in old or key not in new)))
        differ = [f"{key} {old.get(key, '(unset)')!r} ≠ {new.get(key, '(unset)')!r}"
                  for key in keys if old.get(key, '(unset)') != new.get(key, '(unset)')]
        if differ:
            raise InpaintError(f"the predictions in {path.parent} were made with other settings "
                               f"({'; '.join(differ)}); use another output folder or delete that one")
        return
    write_if_changed(path, json_bytes(config))


def ours_options(settings, options: dict, model) -> SearchSettings:
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
    shard = current_shard(shard)
    evaluation = load_set(out)
    out = evaluation.out
    methods = check_methods(methods)
    kinds = canonical_kinds(kinds) if kinds is not None else evaluation.kinds
    count = evaluation.count if count is None else check_count(count)
    batch_size = check_count(batch_size, "batch_size")
    check_prepared(evaluation, kinds, count)
    method_options = check_method_options(methods, method_options)
    for method in methods:
        options = dict(method_options.get(method) or {})
        if method == OURS:
            _predict_ours(evaluation, kinds, count, model, settings, options, batch_size, device, progress, shard)
        elif method == OURS_HYBRID:
            _predict_hybrid(evaluation, kinds, count, options, progress, shard)
        else:
            _predict_baseline(evaluation, method, kinds, count, options, root, progress, shard)


def check_method_options(methods: Sequence[str], method_options: dict | None) -> dict:
    method_options = dict(method_options or {})
    unknown = sorted(set(method_options) - set(methods))
    if unknown:
        raise InpaintError(f"options given for method(s) not asked for: {', '.join(unknown)}")
    return method_options


def check_references(split: str) -> None:
    if split in ("train", "all"):
        raise InpaintError(f"nearest_neighbour searches the train split, which the evaluated {split!r} split "
                           "overlaps; evaluate on a held-out split (val or test) or pass references")


def _corrupted(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The input every method sees: the ground truth with the hole (True = missing) set to 0."""
    return np.where(mask[..., None], np.float32(0.0), image).astype(np.float32)


def _predict_ours(evaluation, kinds, count, model, settings, options, batch_size, device, progress,
                  shard=(0, 1)) -> None:
    model = resolve_model(model, device)
    settings = ours_options(settings, options, model)
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
              if in_shard(start // batch_size, shard)]
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
                                     "ours": read_json(ours_config) if ours_config.is_file() else None})
    indices = [index for index in range(count) if in_shard(index, shard)]
    for kind in kinds:
        todo = [index for index in indices if not prediction_path(out, OURS_HYBRID, kind, index).is_file()]
        absent = [index for index in todo if not prediction_path(out, OURS_RAW, kind, index).is_file()]
        if absent:
            raise InpaintError(f"{OURS_HYBRID} re-blends the G(ẑ) of {OURS}, which has no {kind} prediction for "
                               f"image {absent[0]}; run {OURS} first (list it before {OURS_HYBRID})")
        ours_timings = timing_path(out, OURS, kind)
        entries = read_json(ours_timings).get("images", {}) if ours_timings.is_file() else {}
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
    indices = [index for index in range(count) if in_shard(index, shard)]
    if method == "nearest_neighbour" and isinstance(options.get("references"), (str, Path)):
        folder = str(options["references"])  # a folder of reference images, brought to the evaluated size
        options["references"] = load_dataset("folder", Path(folder), image_size=evaluation.image_size,
                                             channels=evaluation.channels)
        config_options = {**options, "references": folder}
    elif method == "nearest_neighbour" and "references" not in options:
        if any(not prediction_path(out, method, kind, index).is_file() for kind in kinds for index in indices):
            # The train split of the evaluated dataset, kept uint8 (a quarter of float32's memory).
            check_references(evaluation.split)
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

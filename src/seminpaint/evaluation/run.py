"""evaluate(): the four stages in order, in one process, as one shard, or in a torchrun group."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import baselines, distributed
from ..api import resolve_model
from ..shards import current_shard
from .layout import OURS, canonical_kinds, check_count
from .predict import DEFAULT_METHODS, check_method_options, check_methods, check_references, ours_options, predict
from .prepare import prepare
from .report import check_figure_indices, report
from .score import score


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
    count = check_count(count)
    batch_size = check_count(batch_size, "batch_size")
    kinds = canonical_kinds(kinds)
    methods = check_methods(DEFAULT_METHODS if methods is None else methods)
    method_options = check_method_options(methods, method_options)
    if "nearest_neighbour" in methods and "references" not in (method_options.get("nearest_neighbour") or {}):
        check_references(split)
    if "context_encoder" in methods:  # its network, loaded now so that a missing one fails before any work
        network = baselines.context_encoder.load((method_options.get("context_encoder") or {}).get("model"))[0]
    if OURS in methods:
        model = resolve_model(model, device)
        ours_options(settings, method_options.get(OURS) or {}, model)  # fail before any work
        model_channels, model_height, _ = model.image_shape
        image_size = model_height if image_size is None else image_size
        channels = model_channels if channels is None else channels
    elif "context_encoder" in methods:
        image_size = network.config.image_size if image_size is None else image_size
        channels = network.config.channels if channels is None else channels
    image_size = 64 if image_size is None else image_size
    channels = 3 if channels is None else channels
    if figure_indices is not None:
        check_figure_indices(figure_indices, count)
    shard = current_shard(shard)
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

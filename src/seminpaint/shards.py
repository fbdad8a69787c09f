"""Shards of an evaluation (or of a folder of images): which items this process does.

A shard is (INDEX, COUNT), written INDEX/COUNT on the command line (--shard 1/4): the items whose
number k has k % COUNT == INDEX. Under torchrun each rank takes (rank, world size) by itself
(distributed.py); processes started one by one are given theirs. (0, 1) is everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from .distributed import is_active, rank, world_size
from .errors import InpaintError


def parse_shard(text: str) -> tuple[int, int]:
    """"INDEX/COUNT" (e.g. "1/4", INDEX from 0) → (INDEX, COUNT)."""
    index, slash, count = str(text).partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None:
        raise InpaintError(f"--shard {text!r} must look like INDEX/COUNT, e.g. 0/4")
    return check_shard(shard)


def check_shard(shard: Sequence[int]) -> tuple[int, int]:
    """Validate (INDEX, COUNT): COUNT ≥ 1 and 0 ≤ INDEX < COUNT."""
    try:
        index, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise InpaintError(f"a shard is (INDEX, COUNT), got {shard!r}") from None
    if count < 1 or not 0 <= index < count:
        raise InpaintError(f"shard {index}/{count}: need COUNT ≥ 1 and 0 ≤ INDEX < COUNT")
    return index, count


def current_shard(shard: Sequence[int] | None = None) -> tuple[int, int]:
    """The shard this process works on: `shard` if given, else (rank, world size) of the group.

    (0, 1) means everything. Inside a group of several processes the group splits the work, so
    any other shard than (rank, world size) is refused.
    """
    own = (rank(), world_size())
    if shard is None:
        return own
    shard = check_shard(shard)
    if is_active() and shard != own:
        raise InpaintError("--shard is for processes started one by one; under torchrun each rank "
                           "takes its share (rank, world size) by itself")
    return shard


def in_shard(number: int, shard: tuple[int, int]) -> bool:
    """Whether item `number` (an image index, or a chunk number) belongs to `shard`: number % COUNT == INDEX."""
    return number % shard[1] == shard[0]

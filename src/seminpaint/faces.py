"""Faces found and framed: where in a photo a face model should search, and which holes it may fill.

A face model learned faces framed one way — the shipped model CelebA's aligned faces, centre-cropped
to 80 % of their width (docs/results/README.md, "Real photos"). In a larger photo the face is found
with the LBP frontal-face cascade that ships inside scikit-image (nothing is downloaded), its box
is mapped to that framing (Framing, calibrated on CelebA validation faces by
benchmarks/face_framing.py), and the search sees that square, brought to the model's size.

Boxes are (x, y, width, height) in image pixels (x = column, y = row of the top-left corner).
Masks are bool (H, W), True = missing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InpaintError
from .geometry import Crop, hole_box

DETECTION_SIDE = 640
"""The detector runs on the image area-averaged to at most this many pixels on its longer side
(a face of 24 pixels there, the cascade's window, is the smallest found in one pass)."""

WINDOW = 24
"""The LBP cascade's window: its smallest face, in pixels of the image it runs on."""

SCALE_STEP = 1.1
"""The detector's window grows by this factor from one scale to the next."""

MIN_VOTES = 6
"""A face is a group of at least this many overlapping windows the cascade accepted: single
windows and small groups are mostly texture (hair, fabric, foliage)."""

NO_FACE = ("the hole touches no face found in the image, and this model fills faces: give the face's box "
           "(--face X,Y,W,H; face=(x, y, w, h) in Python) or switch the check off (--no-face-check; face_check=False)")
"""The one-line refusal for a hole away from every detected face."""


@dataclass(frozen=True)
class Face:
    """A face box: x, y (column, row of the top-left corner), width, height in image pixels, and the
    number of cascade windows that voted for it (0 for a box a user gave)."""

    x: float
    y: float
    width: float
    height: float
    votes: int = 0

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) rounded to whole pixels, as --face takes it."""
        return round(self.x), round(self.y), round(self.width), round(self.height)


@dataclass(frozen=True)
class Framing:
    """How a model's training faces were framed, as a map from a face box to the square it saw.

    The square's side is `scale` times the box's side (√(width·height)); its centre lies `dx`, `dy`
    box sides right of and below the box's centre.
    """

    scale: float
    dx: float
    dy: float

    def frame(self, face: Face, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, height, width) in whole image pixels of the region the model sees for `face`,
        in the model's aspect ratio (h, w) = size; it may reach past the image's borders."""
        side = float(np.sqrt(face.width * face.height))
        height = max(1, round(self.scale * side))
        width = max(1, round(height * size[1] / size[0]))
        centre_x = face.x + face.width / 2 + self.dx * side
        centre_y = face.y + face.height / 2 + self.dy * side
        return round(centre_y - height / 2), round(centre_x - width / 2), height, width


CELEBA = Framing(scale=1.364, dx=-0.007, dy=-0.013)
"""CelebA's framing (the 80 % centre crop of img_align_celeba) seen from the LBP cascade's boxes,
fitted on the 500 CelebA validation faces (benchmarks/face_framing.py)."""


@dataclass(frozen=True)
class FaceModel:
    """What makes a GenerativeModel a face model (its `faces` attribute).

    framing: how its training faces were framed; holes in larger photos are searched in the face
        framed so, and a hole away from every face is refused.
    implausible_below: the structure agreement (plausibility.structure_agreement) below which a
        completion is unlikely to be a face; None: no check.
    """

    framing: Framing
    implausible_below: float | None = None


SHIPPED = FaceModel(framing=CELEBA, implausible_below=0.061)
"""The shipped face model (weights/celeba64.safetensors): CelebA's framing, and the 1st percentile
of its structure agreement on CelebA validation faces for the default preset's first candidate,
the completion inpaint checks (benchmarks/plausibility.py)."""


@functools.lru_cache(maxsize=1)
def cascade():
    """scikit-image's LBP frontal-face cascade (its model file ships inside scikit-image)."""
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) image, uint8/uint16/float [0, 1] → uint8 (H, W) luma (alpha dropped)."""
    from .images import luma, to_float

    image = to_float(np.asarray(image))
    if image.ndim == 3:
        image = image[..., 0] if image.shape[-1] < 3 else luma(image[..., :3])
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def detect_faces(image: np.ndarray, *, region: tuple[int, int, int, int] | None = None) -> list[Face]:
    """The frontal faces in `image` ((H, W) or (H, W, C), any dtype as_batch takes), most votes first.

    region: (top, left, height, width) to look in only (boxes are still in the image's pixels).
    The image (or region) is area-averaged to at most DETECTION_SIDE pixels per side; the cascade's
    windows are grouped (overlapping by more than 60 % of the smaller, sizes within a factor 2) and
    each group of at least MIN_VOTES becomes one box: the median centre and the geometric mean side
    of its windows.
    """
    from PIL import Image

    gray = to_gray(image)
    top, left = 0, 0
    if region is not None:
        top, left = max(0, region[0]), max(0, region[1])
        gray = gray[top:region[0] + region[2], left:region[1] + region[3]]
    cut_height, cut_width = gray.shape
    factor = min(1.0, DETECTION_SIDE / max(gray.shape))
    if factor < 1.0:
        size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
        gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))
    if min(gray.shape) < WINDOW:
        return []
    # An intersection threshold above 1 switches scikit-image's own merging off: the groups are ours.
    windows = cascade().detect_multi_scale(img=gray, scale_factor=SCALE_STEP, step_ratio=1,
                                           min_size=(WINDOW, WINDOW), max_size=gray.shape,
                                           min_neighbor_number=1, intersection_score_threshold=1.01)
    scale_x, scale_y = cut_width / gray.shape[1], cut_height / gray.shape[0]
    faces = [Face(left + x * scale_x, top + y * scale_y, side * scale_x, side * scale_y, votes)
             for x, y, side, votes in group_windows(windows)]
    return sorted(faces, key=lambda face: -face.votes)


def group_windows(windows: Sequence[dict]) -> list[tuple[float, float, float, int]]:
    """Group the cascade's square windows ({'r', 'c', 'width', 'height'}) into faces:
    (x, y, side, votes) per group of at least MIN_VOTES windows."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    if not windows:
        return []
    boxes = np.array([(w["c"], w["r"], w["width"]) for w in windows], dtype=np.float64)
    x, y, side = boxes.T
    overlap_x = np.clip(np.minimum(x[:, None] + side[:, None], x + side) - np.maximum(x[:, None], x), 0, None)
    overlap_y = np.clip(np.minimum(y[:, None] + side[:, None], y + side) - np.maximum(y[:, None], y), 0, None)
    smaller, larger = np.minimum(side[:, None], side), np.maximum(side[:, None], side)
    linked = (overlap_x * overlap_y > 0.6 * smaller**2) & (larger < 2 * smaller)
    count, labels = connected_components(csr_matrix(linked), directed=False)
    groups = []
    for label in range(count):
        members = boxes[labels == label]
        if len(members) < MIN_VOTES:
            continue
        mean_side = float(np.exp(np.log(members[:, 2]).mean()))
        centre_x = float(np.median(members[:, 0] + members[:, 2] / 2))
        centre_y = float(np.median(members[:, 1] + members[:, 2] / 2))
        groups.append((centre_x - mean_side / 2, centre_y - mean_side / 2, mean_side, len(members)))
    return groups


def parse_box(text: str) -> Face:
    """'x,y,w,h' (pixels, as --face takes it) → a Face; anything else raises InpaintError."""
    parts = text.replace(" ", "").split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    return as_face(values if len(parts) == 4 else None, text)


def as_face(box, shown=None) -> Face:
    """A Face from a Face or an (x, y, width, height) sequence of finite numbers with positive size."""
    if isinstance(box, Face):
        return box
    try:
        x, y, width, height = (float(value) for value in box)
    except (TypeError, ValueError):
        raise InpaintError(f"a face box is x,y,w,h (four numbers, pixels), got {shown if shown is not None else box!r}") from None
    if not all(np.isfinite([x, y, width, height])) or width <= 0 or height <= 0:
        raise InpaintError(f"a face box needs finite numbers and a positive width and height, got "
                           f"{shown if shown is not None else box!r}")
    return Face(x, y, width, height)


def framed_crop(mask: np.ndarray, image: np.ndarray, size: tuple[int, int], framing: Framing, *,
                face=None) -> Crop:
    """The Crop a face model searches for the hole of `mask` (bool (H, W), True = missing) in `image`.

    face: the face's box (a Face or (x, y, width, height)); None finds the faces in the image
    (detect_faces) and takes the one whose framed square holds the hole. The Crop's frame is that
    square (it may reach past the image: those pixels count as missing); its region is the part
    inside the image. Raises InpaintError (one line) when the hole touches no face, or reaches out of
    the face's square.
    """
    height, width = mask.shape
    hole = hole_box(mask)  # top, left, bottom, right
    if hole is None:
        return Crop(0, 0, height, width)
    if face is not None:
        faces = [as_face(face)]
    else:
        faces = detect_faces(image)
        if not any(touches(framing.frame(f, size), mask) for f in faces) and max(height, width) > DETECTION_SIDE:
            faces += detect_faces(image, region=around(hole, height, width))  # small faces, near the hole
    touching = [f for f in faces if touches(framing.frame(f, size), mask)]
    if not touching:
        if face is not None:
            raise InpaintError(f"the hole lies outside the square framed around the face box {face_text(faces[0])}; "
                               "give the box of the face the hole is in")
        raise InpaintError(NO_FACE)
    holding = [f for f in touching if holds(framing.frame(f, size), hole)]
    if not holding:
        raise InpaintError(f"the hole reaches out of the face at {face_text(touching[0])} (the square the model "
                           f"sees is {square_text(framing.frame(touching[0], size))}): keep the hole within it, or "
                           "search around the hole (--no-face-check, no --face; face_check=False, no face=)")
    chosen = max(holding, key=lambda f: (inside(f, mask), f.votes))
    top, left, frame_height, frame_width = framing.frame(chosen, size)
    inner_top, inner_left = max(top, 0), max(left, 0)
    inner_bottom, inner_right = min(top + frame_height, height), min(left + frame_width, width)
    return Crop(inner_top, inner_left, inner_bottom - inner_top, inner_right - inner_left,
                frame=(top, left, frame_height, frame_width), face=chosen.box)


def around(hole: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the region searched a second time for small faces: the hole's box
    grown on every side by four times its longer side, and at least by four first-pass windows
    (4·WINDOW image pixels per DETECTION_SIDE / the image's longer side), clipped to the image."""
    top, left, bottom, right = hole
    first_pass = max(height, width) / DETECTION_SIDE
    reach = max(4 * max(bottom - top, right - left), int(4 * WINDOW * first_pass))
    region_top, region_left = max(0, top - reach), max(0, left - reach)
    return region_top, region_left, min(height, bottom + reach) - region_top, min(width, right + reach) - region_left


def touches(frame: tuple[int, int, int, int], mask: np.ndarray) -> bool:
    """Whether any missing pixel of `mask` lies in `frame` (top, left, height, width)."""
    top, left, height, width = frame
    return bool(mask[max(top, 0):max(top + height, 0), max(left, 0):max(left + width, 0)].any())


def holds(frame: tuple[int, int, int, int], hole: tuple[int, int, int, int]) -> bool:
    """Whether the hole's box (top, left, bottom, right) lies within `frame` (top, left, height, width)."""
    top, left, height, width = frame
    return top <= hole[0] and left <= hole[1] and hole[2] <= top + height and hole[3] <= left + width


def inside(face: Face, mask: np.ndarray) -> int:
    """Missing pixels of `mask` within the face's box."""
    x, y, width, height = face.box
    return int(mask[max(y, 0):max(y + height, 0), max(x, 0):max(x + width, 0)].sum())


def face_text(face: Face) -> str:
    return "x,y,w,h = " + ",".join(str(v) for v in face.box)


def square_text(frame: tuple[int, int, int, int]) -> str:
    top, left, height, width = frame
    return f"{left},{top},{width},{height}"

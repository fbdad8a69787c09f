"""Figure grids like the paper's Figs. 6–11: rows of image tiles with column and row titles."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .images import to_uint8


def show_hole(image: np.ndarray, mask: np.ndarray, *, value: float = 1.0) -> np.ndarray:
    """The masked input as a person sees it: (H, W, C) float [0, 1] with the hole (True) set to `value`."""
    shown = np.array(image, dtype=np.float32, copy=True)
    shown[mask] = value
    return shown


def labelled_grid(
    rows: list[list[np.ndarray]], *, column_titles: list[str] | None = None,
    row_titles: list[str] | None = None, scale: int = 2, padding: int = 4,
) -> np.ndarray:
    """Tile rows of equal-size (H, W, C) or (H, W) float [0, 1] images into one uint8 RGB figure.

    Tiles are enlarged `scale` times (nearest neighbour, so pixels stay visible); titles are drawn
    with Pillow's built-in font above the columns and left of the rows.
    """
    tiles = [[to_uint8(np.repeat(t[..., None], 3, -1) if t.ndim == 2 else
                       np.repeat(t, 3, -1) if t.shape[-1] == 1 else t[..., :3]) for t in row] for row in rows]
    height, width = tiles[0][0].shape[0] * scale, tiles[0][0].shape[1] * scale
    font = ImageFont.load_default()
    title_height = 16 if column_titles else 0
    label_width = (8 + 7 * max(len(t) for t in row_titles)) if row_titles else 0
    columns = max(len(row) for row in tiles)
    figure = Image.new("RGB", (label_width + columns * (width + padding) + padding,
                               title_height + len(tiles) * (height + padding) + padding), "white")
    draw = ImageDraw.Draw(figure)
    for column, title in enumerate(column_titles or []):
        draw.text((label_width + padding + column * (width + padding), 2), title, fill="black", font=font)
    for row_index, row in enumerate(tiles):
        top = title_height + padding + row_index * (height + padding)
        if row_titles:
            draw.text((4, top + height // 2 - 6), row_titles[row_index], fill="black", font=font)
        for column, tile in enumerate(row):
            image = Image.fromarray(tile).resize((width, height), Image.Resampling.NEAREST)
            figure.paste(image, (label_width + padding + column * (width + padding), top))
    return np.asarray(figure)

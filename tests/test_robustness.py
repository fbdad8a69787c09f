"""Property-based robustness: random and malformed inputs to the public API, the CLI, the checkpoint
reader and the web app each either work or fail with the project's own clear error (InpaintError;
for the CLI exit status 2 and one line on stderr; for the web app a JSON error under status 500,
raw bodies and query strings as sent included).

Every case tried is counted (CASES); the last test prints the counts, and writes them as JSON to
$SEMINPAINT_ROBUSTNESS_REPORT when that is set (docs/robustness.md quotes them).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import io
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from seminpaint import PAPER, InpaintError, inpaint
from seminpaint.baselines import fill
from seminpaint.cli import main
from seminpaint.images import MAX_PIXELS, PNG_SIGNATURE, read_image, to_float, write_png16
from seminpaint.networks.checkpoint import load_model, save_checkpoint
from seminpaint.web.app import WebConfig, create_app

from conftest import TINY, tiny_model

CASES: collections.Counter = collections.Counter()  # (test, outcome) → cases


def count(test: str, outcome: str) -> None:
    CASES[test, outcome] += 1
ONE_STEP = PAPER.with_options(iterations=1)
MODEL = tiny_model()
EXAMPLES = int(os.environ.get("SEMINPAINT_FUZZ_EXAMPLES", "60"))  # per test; raise it for a deeper run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))

DTYPES = [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_,
          np.complex64]


@st.composite
def arrays(draw, max_side=24, huge=True):
    """Arrays of random rank, shape, dtype and values, NaN and infinities included, and now and then
    one of huge dimensions (a zero-strided view: no memory behind it)."""
    if huge and draw(st.integers(0, 15)) == 0:
        side = draw(st.integers(8_001, 100_000))
        return np.broadcast_to(np.zeros((), draw(st.sampled_from([np.uint8, np.float32]))), (side, side, 3))
    plausible = draw(st.booleans())  # half the time an image a user might pass, else anything
    ndim = draw(st.integers(2, 4) if plausible else st.integers(0, 5))
    shape = tuple(draw(st.lists(st.integers(1 if plausible else 0, max_side), min_size=ndim, max_size=ndim)))
    if ndim >= 3 and (plausible or draw(st.booleans())):
        shape = shape[:-1] + (draw(st.sampled_from([1, 3, 4])),)
    if ndim == 4:
        shape = (min(shape[0], 3),) + shape[1:]
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32, np.float64] if plausible else DTYPES))
    kind = "valid" if plausible else draw(st.sampled_from(["valid", "random", "nan", "inf", "big", "negative"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.random(shape)
    if kind == "random":
        values = rng.normal(0, 300, shape)
    elif kind == "nan" and values.size:
        values.flat[rng.integers(values.size)] = np.nan
    elif kind == "inf" and values.size:
        values.flat[rng.integers(values.size)] = np.inf
    elif kind == "big":
        values = values * 1e6
    elif kind == "negative":
        values = -values
    if np.issubdtype(dtype, np.integer):
        scale = {np.uint8: 255, np.uint16: 65535}.get(dtype, 10)
        values = np.nan_to_num(values * (scale if kind == "valid" else 1), nan=0, posinf=0, neginf=0)
        info = np.iinfo(dtype)
        values = np.clip(values, info.min, info.max)
    with np.errstate(all="ignore"):
        return values.astype(dtype)


@st.composite
def masks_for(draw, image):
    """A mask for `image`: usually its size (empty, full, a box, random pixels), sometimes not."""
    image = np.asarray(image)
    height, width = {2: image.shape[:2], 3: image.shape[:2], 4: image.shape[1:3]}.get(image.ndim, (4, 4))
    kind = draw(st.sampled_from(["box"] * 6 + ["random", "empty", "full", "wrong_shape", "values", "nan", "batch"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if height * width > MAX_PIXELS:
        return np.broadcast_to(np.bool_(kind != "empty"), (height, width))
    mask = np.zeros((height, width), dtype=bool)
    if kind == "box" and height and width:
        top, left = rng.integers(height), rng.integers(width)
        mask[top:top + rng.integers(1, height + 1), left:left + rng.integers(1, width + 1)] = True
    elif kind == "random":
        mask = rng.random((height, width)) < rng.random()
    elif kind == "full":
        mask[:] = True
    elif kind == "wrong_shape":
        mask = np.ones((height + 1, max(width - 1, 0)), dtype=bool)
    elif kind == "values":
        mask = rng.integers(0, 256, (height, width)).astype(draw(st.sampled_from([np.uint8, np.int64, np.float32])))
    elif kind == "nan":
        mask = np.full((height, width), np.nan)
    elif kind == "batch":
        mask = rng.random((2, height, width)) < 0.3
    return mask


def check_result(image, mask, result):
    """A successful inpaint keeps the layout and the known pixels exactly."""
    image = to_float(np.asarray(image))
    assert result.image.shape == image.shape
    assert np.isfinite(result.image).all() and result.image.min() >= 0 and result.image.max() <= 1
    mask = np.broadcast_to(np.asarray(mask).astype(bool), image.shape[:3] if image.ndim == 4 else image.shape[:2])
    assert np.array_equal(result.image[~mask], image[~mask])  # known pixels bit-identical


@FUZZ
@given(data=st.data())
def test_inpaint_works_or_raises_inpaint_error(data):
    image = data.draw(arrays())
    mask = data.draw(masks_for(image))
    try:
        result = inpaint(image, mask, model=MODEL, settings=ONE_STEP, generator=torch.Generator().manual_seed(0))
    except InpaintError as error:
        assert str(error) and "\n" not in str(error)
        count("api: inpaint(image, mask)", "clear error")
        return
    check_result(image, mask, result)
    count("api: inpaint(image, mask)", "worked")


@FUZZ
@given(data=st.data(), method=st.sampled_from(["mean", "biharmonic", "tv", "low_rank"]))
def test_baselines_work_or_raise_inpaint_error(data, method):
    # No huge arrays here: baselines.fill has no pixel limit of its own (its finiteness check would
    # allocate the whole array); the CLI and the web app bound images before any baseline runs.
    image = data.draw(arrays(max_side=12, huge=False))
    mask = data.draw(masks_for(image))
    try:
        out = fill(method, image, mask, **({"iterations": 5} if method == "tv" else {}))
    except InpaintError as error:
        assert str(error)
        count("api: baselines.fill(name, image, mask)", "clear error")
        return
    assert out.shape == np.asarray(image).shape
    count("api: baselines.fill(name, image, mask)", "worked")


@FUZZ
@given(blend=st.text(max_size=10), settings_name=st.one_of(st.none(), st.text(max_size=10)),
       model=st.sampled_from([None, 3, "no/such/file.safetensors", "x", MODEL]))
def test_bad_options_raise_inpaint_error(blend, settings_name, model):
    image = np.full((16, 16, 3), 0.5, np.float32)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    try:
        inpaint(image, mask, model=model, settings=settings_name, blend=blend)
    except InpaintError:
        count("api: inpaint options (blend, settings, model)", "clear error")
        return
    raise AssertionError("bad options were accepted")


# --- files: images, masks and checkpoints --------------------------------------------------------

def _png_bytes(image: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb(width: int, height: int) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(b"IEND", b""))


@st.composite
def image_files(draw):
    """(bytes, suffix, what): valid images of many modes and sizes, and broken ones."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    what = draw(st.sampled_from(["rgb", "gray", "rgba", "gray16", "rgb16", "palette", "bilevel", "jpeg", "tiff16",
                                 "truncated", "flipped", "random", "empty", "bomb", "text"]))
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if what == "rgb":
        return _png_bytes(pixels[..., :3]), ".png", what
    if what == "gray":
        return _png_bytes(pixels[..., 0]), ".png", what
    if what == "rgba":
        return _png_bytes(pixels, "RGBA"), ".png", what
    if what in ("gray16", "rgb16"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "a.png"
            deep = rng.integers(0, 65536, (height, width, 1 if what == "gray16" else 3), dtype=np.uint16)
            write_png16(path, deep)
            return path.read_bytes(), ".png", what
    if what == "tiff16":
        import tifffile

        buffer = io.BytesIO()
        tifffile.imwrite(buffer, rng.integers(0, 65536, (height, width, 3), dtype=np.uint16), photometric="rgb")
        return buffer.getvalue(), ".tif", what
    if what == "palette":
        return _palette(pixels), ".png", what
    if what == "bilevel":
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] > 127).save(buffer, format="PNG")
        return buffer.getvalue(), ".png", what
    if what == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., :3]).save(buffer, format="JPEG")
        return buffer.getvalue(), ".jpg", what
    valid = _png_bytes(pixels[..., :3])
    if what == "truncated":
        return valid[:draw(st.integers(0, len(valid) - 1))], ".png", what
    if what == "flipped":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data), ".png", what
    if what == "random":
        return draw(st.binary(min_size=1, max_size=400)), draw(st.sampled_from([".png", ".jpg", ".tif"])), what
    if what == "empty":
        return b"", ".png", what
    if what == "bomb":
        side = draw(st.integers(9_000, 200_000))
        return _bomb(side, side), ".png", what
    return "a text file, not an image\n".encode() * 3, ".png", what


def _palette(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(buffer, format="PNG")
    return buffer.getvalue()


def run_cli(argv):
    """main(argv) with stdout/stderr captured: (exit status, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, err.getvalue()


@pytest.fixture(scope="module")
def checkpoint():
    folder = Path(tempfile.mkdtemp(prefix="seminpaint-robust-"))
    save_checkpoint(folder / "tiny.safetensors", TINY, MODEL.generator, MODEL.discriminator)
    return folder / "tiny.safetensors"


@FUZZ
@given(file=image_files(), mask=st.sampled_from(["center", "pattern", "half", "random", "file", "bad_file"]))
def test_cli_inpaint_works_or_exits_2_with_one_line(checkpoint, file, mask):
    data, suffix, what = file
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        image = folder / f"in{suffix}"
        image.write_bytes(data)
        mask_argument = mask
        if mask in ("file", "bad_file"):
            mask_argument = str(folder / "mask.png")
            if mask == "bad_file":
                (folder / "mask.png").write_bytes(data[: len(data) // 2] + b"junk")
            else:
                try:
                    shape = read_image(image, mode="auto").shape[:2]
                except InpaintError:
                    shape = (7, 9)
                box = np.zeros(shape, np.uint8)
                box[shape[0] // 4: shape[0] // 2 + 1, shape[1] // 4: shape[1] // 2 + 1] = 255
                Image.fromarray(box).save(folder / "mask.png")
        status, stderr = run_cli(["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask",
                                  mask_argument, "--output", str(folder / "out.png"), "--iterations", "1"])
        assert status in (0, 2), (what, status, stderr)
        count("cli: inpaint on valid and broken files, mask kinds and mask files",
              "exit 0" if status == 0 else "exit 2, one line")
        if status == 2:
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("seminpaint: error: "), stderr
        else:
            source = read_image(image, mode="auto")
            out = read_image(folder / "out.png", mode="auto")
            assert out.shape == source.shape
            assert what not in ("truncated", "random", "empty", "bomb", "text")


@FUZZ
@given(file=image_files())
def test_read_image_works_or_raises_inpaint_error(file):
    data, suffix, what = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data)
        try:
            image = read_image(path, mode="auto")
        except InpaintError as error:
            assert str(error)
            assert what not in ("rgb", "gray", "rgba", "gray16", "rgb16", "palette", "bilevel", "jpeg", "tiff16")
            count("files: read_image on valid and broken files", "clear error")
            return
        count("files: read_image on valid and broken files", "worked")
        assert image.dtype in (np.uint8, np.uint16) and image.ndim in (2, 3)
        assert image.shape[0] * image.shape[1] <= MAX_PIXELS
        assert what not in ("empty", "bomb", "text")


ORIGINAL: list[bytes] = []  # the intact checkpoint's bytes (not a fixture: hypothesis would print them)


@FUZZ
@given(data=st.data())
def test_tampered_or_truncated_checkpoints_are_refused_never_executed(checkpoint, data):
    if not ORIGINAL:
        ORIGINAL.append(checkpoint.read_bytes())
    kind = data.draw(st.sampled_from(["truncate", "flip", "flip_header", "append", "pickle"]))
    original = bytearray(ORIGINAL[0])
    header_length = struct.unpack("<Q", bytes(original[:8]))[0]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        marker = folder / "executed"
        if kind == "truncate":
            content = bytes(original[:data.draw(st.integers(0, len(original) - 1))])
        elif kind == "flip":  # anywhere, tensor bytes included
            for _ in range(data.draw(st.integers(1, 4))):
                original[data.draw(st.integers(0, len(original) - 1))] ^= data.draw(st.integers(1, 255))
            content = bytes(original)
        elif kind == "flip_header":
            original[data.draw(st.integers(8, 8 + header_length - 1))] ^= data.draw(st.integers(1, 255))
            content = bytes(original)
        elif kind == "append":
            content = bytes(original) + data.draw(st.binary(min_size=1, max_size=64))
        else:  # a pickle that would create the marker file if it were ever unpickled
            content = b"\x80\x04cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR."
        assume(content != ORIGINAL[0])  # flips that cancel out leave the file intact
        path = folder / "model.safetensors"
        path.write_bytes(content)
        with pytest.raises(InpaintError, match="checkpoint"):
            load_model(path)
        status, stderr = run_cli(["sample", "--model", str(path), "--out", str(folder / "s.png"), "--count", "1"])
        assert status == 2 and len(stderr.strip().splitlines()) == 1
        assert not marker.exists()
    count("checkpoint: tampered, truncated or pickled files", "refused")


def test_intact_checkpoint_still_loads(checkpoint):
    assert load_model(checkpoint).latent_dim == TINY.latent_dim


# --- the web app ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web():
    app = create_app(MODEL, WebConfig(max_upload_bytes=100_000, max_pixels=200 * 200, max_iterations=3,
                                      default_iterations=1), samples={"s": np.full((20, 24, 3), 128, np.uint8)})
    return app.test_client()


@FUZZ
@given(file=image_files())
def test_web_upload_answers_json_never_500(web, file):
    data, suffix, what = file
    response = web.post("/api/upload", data={"file": (io.BytesIO(data), "f" + suffix)},
                        content_type="multipart/form-data")
    assert response.status_code in (200, 400, 413), response.status_code
    body = response.get_json()
    assert ("id" in body) if response.status_code == 200 else body["error"]
    count("web: uploads of valid and broken files", f"HTTP {response.status_code}")


def _mask_url(mask: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(_png_bytes(np.where(mask, 255, 0).astype(np.uint8))).decode()


_BOX = np.zeros((20, 24), bool)
_BOX[5:12, 6:15] = True
MASK_VALUES = [_mask_url(_BOX), _mask_url(_BOX), _mask_url(np.ones((20, 24), bool)), _mask_url(np.zeros((20, 24), bool)),
               _mask_url(_BOX[:10]), "data:image/png;base64," + base64.b64encode(b"garbage").decode(),
               "data:image/png;base64,!!!", "data:image/gif;base64,R0lGOD"]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children,
                                                                                     max_size=3), max_leaves=8)


@FUZZ
@given(body=st.one_of(
    JSON,
    st.fixed_dictionaries({"image": st.sampled_from(["sample-0", "sample-0", "nope", 3, None])}, optional={
        "mask": st.one_of(st.sampled_from(MASK_VALUES), st.text(max_size=30), JSON),
        "method": st.sampled_from(["ours", "ours", "mean", "biharmonic", "nope", 5]),
        "iterations": st.one_of(st.integers(-5, 10), st.text(max_size=3), st.none()),
        "seed": st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=3)),
    }),
    st.fixed_dictionaries({"image": st.just("sample-0"), "mask": st.sampled_from(MASK_VALUES[:3]),
                           "method": st.sampled_from(["ours", "mean"]), "iterations": st.integers(0, 4),
                           "seed": st.integers(-1, 2**63)})))
def test_web_inpaint_requests_answer_json_never_500(web, body):
    response = web.post("/api/inpaint", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (202, 400, 404, 503), (body, response.status_code, response.get_json())
    assert response.get_json() is not None
    count("web: /api/inpaint with random JSON", f"HTTP {response.status_code}")


NUMBER_TEXT = st.one_of(st.integers(-(2**70), 2**70).map(str), st.sampled_from(
    ["1e400", "-1e400", "1E+308", "5.0", "0.5", "NaN", "Infinity", "-Infinity", "1" + "0" * 30, "9" * 5000,
     "true", "null", '"5"', "[5]", "{}", "-0", "0e0", "00", "+1", "0x10"]))
NESTING = st.builds(lambda depth, kind: kind[0] * depth + "1" + kind[1] * depth,
                    st.sampled_from([1, 2, 50, 999, 1000, 5000, 100_000]),
                    st.sampled_from([("[", "]"), ('{"a": ', "}")]))


@FUZZ
@given(body=st.one_of(
    st.binary(max_size=200),
    st.builds(lambda iterations, seed, extra: ('{"image": "sample-0", "mask": "%s", "method": "mean", "iterations": %s, '
                                               '"seed": %s%s}' % (MASK_VALUES[0], iterations, seed, extra)).encode(),
              NUMBER_TEXT, NUMBER_TEXT, st.sampled_from(["", ', "x": 1', ', "x": [1]']) | NESTING.map(lambda n: ', "x": ' + n)),
    NESTING.map(str.encode)))
def test_web_inpaint_raw_bodies_answer_json_never_500(web, body):
    """Bytes as sent, not through json.dumps: numbers Python's json reads as inf or NaN, integers of
    thousands of digits, nesting past the parser's recursion limit, bytes that are not UTF-8."""
    response = web.post("/api/inpaint", data=body, content_type="application/json")
    assert response.status_code in (202, 400, 404, 413, 503), (body[:200], response.status_code, response.get_json())
    assert response.get_json() is not None
    count("web: /api/inpaint with raw bodies", f"HTTP {response.status_code}")


QUERY_VALUE = st.one_of(st.integers(-5, 300).map(str), NUMBER_TEXT, st.text(max_size=6))


@FUZZ
@given(kind=st.sampled_from(["center", "pattern", "random_pixels", "random", "half", "nope", ""]),
       width=QUERY_VALUE, height=QUERY_VALUE, seed=st.one_of(st.none(), QUERY_VALUE))
def test_web_mask_queries_answer_never_500(web, kind, width, height, seed):
    query = {"kind": kind, "width": width, "height": height, **({} if seed is None else {"seed": seed})}
    response = web.get("/api/mask", query_string=query)
    assert response.status_code in (200, 400), (query, response.status_code, response.get_json())
    if response.status_code == 200:
        assert Image.open(io.BytesIO(response.data)).size == (int(width), int(height))
    else:
        assert response.get_json()["error"]
    count("web: /api/mask with random queries", f"HTTP {response.status_code}")


def test_zz_report_how_many_cases_were_tried():
    totals = collections.Counter()
    for (name, _), number in CASES.items():
        totals[name] += number
    lines = []
    for name in sorted(totals):
        outcomes = ", ".join(f"{number} {outcome}" for (test, outcome), number in sorted(CASES.items()) if test == name)
        lines.append(f"{totals[name]:6d}  {name}  ({outcomes})")
    total = sum(totals.values())
    print("\nrobustness cases tried:\n" + "\n".join(lines) + f"\n{total:6d}  in all")
    if os.environ.get("SEMINPAINT_ROBUSTNESS_REPORT"):
        report = {name: {outcome: n for (test, outcome), n in CASES.items() if test == name} for name in totals}
        Path(os.environ["SEMINPAINT_ROBUSTNESS_REPORT"]).write_text(json.dumps({**report, "total": total}, indent=2))
    if len(totals) == 10:  # the whole module ran (not a -k selection)
        assert total >= 10 * min(EXAMPLES, 30)

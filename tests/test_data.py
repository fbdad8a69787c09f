"""Dataset loaders: tiny files written in each official format, plus the real data where present."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from seminpaint.data import DATASETS, SPLITS, cars, celeba, fashion_mnist, folder, load_dataset, olivetti, svhn
from seminpaint.data.common import take, to_channels
from seminpaint.errors import InpaintError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def raises(match: str):
    """pytest.raises(InpaintError) whose message must match and fit on one line."""
    return pytest.raises(InpaintError, match=match)


def one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def solid(colour, size=(8, 8)) -> Image.Image:
    return Image.new("RGB", size, colour)


# ---------------------------------------------------------------------------------------------
# Registry


def test_registry_names():
    assert set(DATASETS) == {"celeba", "folder", "svhn", "cars", "olivetti", "fashion_mnist"}
    assert SPLITS == ("train", "val", "test", "all")


def test_unknown_dataset_lists_choices(tmp_path):
    with raises(r"unknown dataset 'mnist'; choose one of: cars, celeba, fashion_mnist, folder, olivetti, svhn") as info:
        load_dataset("mnist", tmp_path)
    one_line(info)


def test_unknown_split_and_channels(tmp_path):
    with raises(r"unknown split 'extra'; choose one of: train, val, test, all"):
        load_dataset("svhn", tmp_path, split="extra")
    with raises(r"channels must be 1 or 3, got 2"):
        load_dataset("svhn", tmp_path, channels=2)


def test_take_is_lazy():
    produced = []

    def chunks():
        for index in range(3):
            produced.append(index)
            yield np.full((4, 2), index)

    assert take(chunks(), 6).tolist() == [[0, 0]] * 4 + [[1, 1]] * 2
    assert produced == [0, 1]
    assert len(take(chunks(), None)) == 12


# ---------------------------------------------------------------------------------------------
# CelebA (tiny layout) and the real copy in ../shared/data/celeba

CELEBA_COLOURS = {"000001.jpg": ((200, 30, 30), "0"), "000002.jpg": ((30, 200, 30), "1"),
                  "000003.jpg": ((30, 30, 200), "2"), "000004.jpg": ((200, 200, 30), "0")}


@pytest.fixture
def celeba_root(tmp_path) -> Path:
    images = tmp_path / "img_align_celeba"
    images.mkdir()
    lines = []
    for name, (colour, partition) in CELEBA_COLOURS.items():
        solid(colour, (24, 30)).save(images / name, quality=95)
        lines.append(f"{name} {partition}")
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(lines) + "\n\n")
    return tmp_path


def test_celeba_splits_follow_the_partition_file(celeba_root):
    assert celeba.split_names(celeba_root, "train") == ["000001.jpg", "000004.jpg"]
    assert celeba.split_names(celeba_root, "val") == ["000002.jpg"]
    assert celeba.split_names(celeba_root, "all") == list(CELEBA_COLOURS)
    train = load_dataset("celeba", celeba_root, split="train", image_size=16)
    assert train.shape == (2, 16, 16, 3) and train.dtype == np.uint8
    assert np.abs(train[1].astype(int) - (200, 200, 30)).max() <= 3
    test = celeba.load(celeba_root, split="test", image_size=8, channels=1)
    assert test.shape == (1, 8, 8, 1)
    assert abs(int(test[0, 4, 4, 0]) - round(0.299 * 30 + 0.587 * 30 + 0.114 * 200)) <= 3
    assert len(celeba.load(celeba_root, split="all", image_size=8, limit=3)) == 3


def test_celeba_errors(celeba_root, tmp_path):
    (celeba_root / "img_align_celeba" / "000003.jpg").unlink()
    with raises(r"1 CelebA images listed in the partition are missing, e.g. .*000003\.jpg") as info:
        celeba.load(celeba_root, split="test")
    one_line(info)
    (celeba_root / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with raises(r"list_eval_partition\.txt:1: expected '<file> <0\|1\|2>'"):
        celeba.load(celeba_root)
    (celeba_root / "list_eval_partition.txt").unlink()
    with raises(r"expected CelebA's list_eval_partition\.txt at .*list_eval_partition\.txt, not found"):
        celeba.load(celeba_root)
    with raises(r"expected CelebA's img_align_celeba/ folder at .*img_align_celeba, not found"):
        celeba.load(tmp_path / "nowhere")


def test_real_celeba_split_sizes_and_images():
    root = SHARED_DATA / "celeba"
    if not (root / "list_eval_partition.txt").is_file():
        pytest.skip(f"real CelebA not found at {root}")
    assert [len(celeba.split_names(root, split)) for split in ("train", "val", "test")] == [13969, 500, 2000]
    images = load_dataset("celeba", root, split="val", limit=6)
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.uint8
    assert images.std() > 20  # real photos, not blank


# ---------------------------------------------------------------------------------------------
# Any folder of images


def test_folder_reads_images_recursively_in_path_order(tmp_path):
    (tmp_path / "b").mkdir()
    solid((10, 20, 30), (12, 20)).save(tmp_path / "b" / "z.png")
    solid((250, 0, 0)).save(tmp_path / "a.png")
    solid((0, 250, 0)).save(tmp_path / "b" / "c.PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in folder.image_files(tmp_path)] == ["a.png", "c.PNG", "z.png"]
    images = load_dataset("folder", tmp_path, split="test", image_size=6)
    assert images.shape == (3, 6, 6, 3) and images.dtype == np.uint8
    assert images[:, 3, 3].tolist() == [[250, 0, 0], [0, 250, 0], [10, 20, 30]]
    gray = folder.load(tmp_path, image_size=4, channels=1, limit=2)
    assert gray.shape == (2, 4, 4, 1) and gray[0, 0, 0, 0] == round(0.299 * 250)


def test_folder_errors(tmp_path):
    with raises(r"image folder not found: .*missing"):
        folder.load(tmp_path / "missing")
    with raises(r"no image files \(.*\) under"):
        folder.load(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with raises(r"broken\.png is not a readable image") as info:
        folder.load(tmp_path)
    one_line(info)


# ---------------------------------------------------------------------------------------------
# SVHN format 2


def write_svhn(root: Path, split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(32, 32, 3, count), dtype=np.uint8)
    labels = ((np.arange(count) % 10) + 1).astype(np.uint8).reshape(count, 1)  # 1..10, 10 = digit 0
    scipy.io.savemat(root / f"{split}_32x32.mat", {"X": images, "y": labels})
    return images, labels


@pytest.fixture
def svhn_root(tmp_path) -> Path:
    write_svhn(tmp_path, "train", 12, seed=1)
    write_svhn(tmp_path, "test", 5, seed=2)
    return tmp_path


def test_svhn_images_equal_the_file_at_32(svhn_root):
    x = scipy.io.loadmat(svhn_root / "train_32x32.mat")["X"]
    images = svhn.load(svhn_root, split="train", image_size=32)
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    for index in (0, 7, 11):
        np.testing.assert_array_equal(images[index], x[..., index])
    gray = svhn.load(svhn_root, split="train", image_size=32, channels=1, limit=3)
    assert gray.shape == (3, 32, 32, 1)
    assert np.abs(gray.astype(int) - to_channels(images[:3], 1)).max() <= 1  # float32 luma rounding


def test_svhn_resizes_to_the_papers_64(svhn_root):
    images = load_dataset("svhn", svhn_root, split="test")
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    assert images.flags["C_CONTIGUOUS"]


def test_svhn_labels_map_10_to_digit_0(svhn_root):
    labels = svhn.load_labels(svhn_root, "train")
    assert labels.dtype == np.int64
    assert labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert svhn.load_labels(svhn_root, "all").tolist()[12:] == [1, 2, 3, 4, 5]


def test_svhn_all_is_train_then_test_and_limit_stops_early(svhn_root):
    test_x = scipy.io.loadmat(svhn_root / "test_32x32.mat")["X"]
    images = svhn.load(svhn_root, split="all", image_size=32, limit=14)
    assert len(images) == 14
    np.testing.assert_array_equal(images[12], test_x[..., 0])
    assert len(svhn.load(svhn_root, split="all", image_size=32)) == 17
    (svhn_root / "test_32x32.mat").unlink()
    assert len(svhn.load(svhn_root, split="all", image_size=8, limit=10)) == 10  # test file never read


def test_svhn_errors(svhn_root, tmp_path):
    for split in ("val", "extra"):
        with raises(rf"SVHN has no '{split}' split; it has: train, test, all") as info:
            svhn.load(svhn_root, split=split)
        one_line(info)
    with raises(r"expected SVHN's test split \(test_32x32\.mat\) at .*nowhere/test_32x32\.mat, not found") as info:
        svhn.load(tmp_path / "nowhere", split="test")
    one_line(info)
    scipy.io.savemat(svhn_root / "test_32x32.mat", {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with raises(r"test_32x32\.mat: X must be uint8 \(32, 32, 3, N\), got uint8 \(28, 28, 3, 2\)"):
        svhn.load(svhn_root, split="test")
    scipy.io.savemat(svhn_root / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1))})
    with raises(r"3 labels in y for 2 images in X"):
        svhn.load_labels(svhn_root, "test")
    scipy.io.savemat(svhn_root / "test_32x32.mat", {"images": np.zeros(3)})
    with raises(r"test_32x32\.mat has no variable 'X'"):
        svhn.load(svhn_root, split="test")
    (svhn_root / "test_32x32.mat").write_bytes(b"\x00" * 10)
    with raises(r"test_32x32\.mat is not a readable MATLAB file"):
        svhn.load(svhn_root, split="test")


# ---------------------------------------------------------------------------------------------
# Stanford Cars

ANNOTATION_FIELDS = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]


def write_annotations(path: Path, records: list[tuple], *, with_class: bool) -> None:
    """The devkit's layout: a 1×N struct array `annotations` of 1×1 numbers and a file name."""
    fields = ANNOTATION_FIELDS if with_class else [f for f in ANNOTATION_FIELDS if f != "class"]
    table = np.empty((1, len(records)), dtype=[(name, "O") for name in fields])
    for index, record in enumerate(records):
        table[0, index] = tuple(np.array([[value]], dtype=np.uint16) for value in record[:-1]) + (record[-1],)
    scipy.io.savemat(path, {"annotations": table})


def write_jpeg(path: Path, pixels: np.ndarray) -> None:
    """A near-lossless JPEG: 4:4:4, quality 100, every colour edge on the 8×8 block grid."""
    Image.fromarray(pixels).save(path, quality=100, subsampling=0)


@pytest.fixture
def cars_root(tmp_path) -> Path:
    (tmp_path / "devkit").mkdir()
    (tmp_path / "cars_train").mkdir()
    (tmp_path / "cars_test").mkdir()
    # Train 00001: 48×40 grey; box columns 8..23, rows 16..31 (0-based) = red left half, blue right half.
    first = np.full((40, 48, 3), 128, np.uint8)
    first[16:32, 8:16] = (220, 20, 20)
    first[16:32, 16:24] = (20, 20, 220)
    write_jpeg(tmp_path / "cars_train" / "00001.jpg", first)
    # Train 00002: a wide green 32×16 box in a grey 64×32 image.
    second = np.full((32, 64, 3), 90, np.uint8)
    second[8:24, 16:48] = (20, 200, 20)
    write_jpeg(tmp_path / "cars_train" / "00002.jpg", second)
    # Test 00001: a grayscale JPEG whose box is white.
    third = np.zeros((24, 24), np.uint8)
    third[8:16, 8:16] = 240
    Image.fromarray(third).save(tmp_path / "cars_test" / "00001.jpg", quality=100)
    write_annotations(tmp_path / "devkit" / "cars_train_annos.mat",
                      [(9, 17, 24, 32, 1, "00001.jpg"), (17, 9, 48, 24, 196, "00002.jpg")], with_class=True)
    write_annotations(tmp_path / "devkit" / "cars_test_annos.mat", [(9, 9, 16, 16, "00001.jpg")], with_class=False)
    names = np.empty((1, 196), dtype=object)
    names[0, :] = [f"Make {index} Sedan 2012" for index in range(196)]
    scipy.io.savemat(tmp_path / "devkit" / "cars_meta.mat", {"class_names": names})
    return tmp_path


def test_cars_annotations_parse(cars_root):
    train = cars.read_annotations(cars_root / "devkit", "train")
    assert train == [cars.CarBox("00001.jpg", (9, 17, 24, 32), 0), cars.CarBox("00002.jpg", (17, 9, 48, 24), 195)]
    assert train[0].crop_box() == (8, 16, 24, 32)
    assert cars.read_annotations(cars_root / "devkit", "test") == [cars.CarBox("00001.jpg", (9, 9, 16, 16), None)]
    names = cars.class_names(cars_root / "devkit")
    assert len(names) == 196 and names[195] == "Make 195 Sedan 2012"


def test_cars_crop_is_exactly_the_inclusive_box(cars_root):
    images = cars.load(cars_root, split="train", image_size=16, limit=1)
    assert images.shape == (1, 16, 16, 3) and images.dtype == np.uint8
    crop = images[0].astype(int)
    assert np.abs(crop[:, :8] - (220, 20, 20)).max() <= 4  # no grey column: 1-based inclusive box
    assert np.abs(crop[:, 8:] - (20, 20, 220)).max() <= 4


def test_cars_box_is_resized_to_a_square_without_keeping_aspect(cars_root):
    images = load_dataset("cars", cars_root, split="train", image_size=8)
    assert images.shape == (2, 8, 8, 3)
    assert np.abs(images[1].astype(int) - (20, 200, 20)).max() <= 4  # the whole wide box, nothing else


def test_cars_splits_and_channels(cars_root):
    test = cars.load(cars_root, split="test", image_size=4)
    assert test.shape == (1, 4, 4, 3) and np.abs(test.astype(int) - 240).max() <= 4  # gray JPEG → RGB
    assert cars.load(cars_root, split="all", image_size=4, channels=1).shape == (3, 4, 4, 1)
    with raises(r"Stanford Cars has no 'val' split; it has: train, test, all") as info:
        cars.load(cars_root, split="val")
    one_line(info)


def test_cars_errors(cars_root, tmp_path):
    (cars_root / "cars_train" / "00002.jpg").unlink()
    assert len(cars.load(cars_root, image_size=4, limit=1)) == 1  # only the kept images must exist
    with raises(r"expected Stanford Cars image 00002\.jpg at .*cars_train/00002\.jpg, not found") as info:
        cars.load(cars_root, image_size=4)
    one_line(info)
    shutil.rmtree(cars_root / "cars_train")
    with raises(r"expected Stanford Cars' cars_train/ folder at .*cars_train, not found"):
        cars.load(cars_root, image_size=4)
    with raises(r"expected Stanford Cars' test annotations \(cars_test_annos\.mat\) at .*nowhere/devkit/cars_test_annos\.mat"):
        cars.load(tmp_path / "nowhere", split="test")
    with raises(r"expected Stanford Cars' class names \(cars_meta\.mat\) at .*cars_meta\.mat, not found"):
        cars.class_names(tmp_path / "nowhere")
    write_annotations(cars_root / "devkit" / "cars_test_annos.mat", [(9, 9, 30, 16, "00001.jpg")], with_class=False)
    clipped = cars.load(cars_root, split="test", image_size=16, channels=1)[0, :, :, 0]  # box clipped to x ≤ 24
    assert np.abs(clipped[:, :5].astype(int) - 240).max() <= 4 and clipped[:, 12:].max() <= 4
    write_annotations(cars_root / "devkit" / "cars_test_annos.mat", [(25, 9, 30, 16, "00001.jpg")], with_class=False)
    with raises(r"box \(24, 8, 30, 16\) lies outside the 24×24 image .*00001\.jpg"):
        cars.load(cars_root, split="test")
    write_annotations(cars_root / "devkit" / "cars_test_annos.mat", [(5, 5, 4, 9, "00001.jpg")], with_class=False)
    with raises(r"cars_test_annos\.mat: 00001\.jpg has an invalid box \(5, 5, 4, 9\)"):
        cars.read_annotations(cars_root / "devkit", "test")
    write_annotations(cars_root / "devkit" / "cars_train_annos.mat", [(1, 1, 4, 4, "00001.jpg")], with_class=False)
    with raises(r"cars_train_annos\.mat: annotations lack the field 'class'"):
        cars.read_annotations(cars_root / "devkit", "train")


def test_real_cars_devkit_parses():
    devkit = SHARED_DATA / "stanford_cars" / "devkit"
    if not (devkit / "cars_train_annos.mat").is_file():
        pytest.skip(f"real Stanford Cars devkit not found at {devkit}")
    train = cars.read_annotations(devkit, "train")
    test = cars.read_annotations(devkit, "test")
    names = cars.class_names(devkit)
    assert (len(train), len(test), len(names)) == (8144, 8041, 196)
    assert train[0] == cars.CarBox("00001.jpg", (39, 116, 569, 375), 13)
    assert names[0] == "AM General Hummer SUV 2000" and names[195] == "smart fortwo Convertible 2012"
    assert {record.class_index for record in train} == set(range(196))
    assert all(record.class_index is None for record in test)
    assert len({record.fname for record in test}) == 8041
    with raises(r"expected Stanford Cars' cars_train/ folder at .*stanford_cars/cars_train, not found"):
        cars.load(devkit.parent, limit=2)  # the images are not shipped here


# ---------------------------------------------------------------------------------------------
# Olivetti faces


def upright_faces(count: int) -> np.ndarray:
    """Distinct (count, 64, 64) uint8 images that are neither symmetric nor transposition-invariant."""
    rows, cols = np.mgrid[0:64, 0:64]
    return np.stack([(rows * 3 + cols + 17 * index) % 256 for index in range(count)]).astype(np.uint8)


@pytest.fixture
def olivetti_root(tmp_path) -> Path:
    faces = upright_faces(5)
    columns = np.stack([face.reshape(-1, order="F") for face in faces], axis=1)  # (4096, 5), column-major
    scipy.io.savemat(tmp_path / "olivettifaces.mat", {"faces": columns})
    return tmp_path


def test_olivetti_reads_column_major_faces_upright(olivetti_root):
    images = load_dataset("olivetti", olivetti_root, split="test", channels=1)
    assert images.shape == (5, 64, 64, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], upright_faces(5))
    rgb = olivetti.load(olivetti_root, split="all", limit=2)
    assert rgb.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(rgb, np.repeat(images[:2], 3, axis=-1))
    assert olivetti.load(olivetti_root, split="test", image_size=32).shape == (5, 32, 32, 3)


def test_olivetti_errors(olivetti_root, tmp_path):
    for split in ("train", "val"):
        with raises(rf"Olivetti \(an evaluation-only set\) has no '{split}' split; it has: test, all") as info:
            olivetti.load(olivetti_root, split=split)
        one_line(info)
    with raises(r"expected the Olivetti faces \(olivettifaces\.mat\) at .*nowhere/olivettifaces\.mat, not found"):
        olivetti.load(tmp_path / "nowhere")
    scipy.io.savemat(olivetti_root / "olivettifaces.mat", {"faces": np.zeros((4096, 3))})
    with raises(r"faces must be uint8 \(4096, N\), got float64 \(4096, 3\)"):
        olivetti.load(olivetti_root)


def test_real_olivetti_is_400_upright_faces():
    root = SHARED_DATA / "olivetti"
    if not (root / "olivettifaces.mat").is_file():
        pytest.skip(f"real Olivetti faces not found at {root}")
    faces = olivetti.load(root, split="all", channels=1)
    assert faces.shape == (400, 64, 64, 1) and faces.dtype == np.uint8
    mean = faces[..., 0].astype(np.float64).mean(axis=0)
    # Upright: the mean face is left-right symmetric (not top-bottom), forehead brighter than chin.
    assert np.abs(mean - mean[:, ::-1]).mean() < 0.5 * np.abs(mean - mean[::-1]).mean()
    assert mean[:32].mean() > mean[32:].mean() + 10


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX)


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    magic = 0x0800 + array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fashion_root(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    for name, count in (("train-images-idx3-ubyte", 7), ("t10k-images-idx3-ubyte", 3)):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(rng.integers(0, 256, (count, 28, 28)))))
    return tmp_path


def test_fashion_mnist_parses_gzipped_idx(fashion_root):
    raw = fashion_mnist.read_idx(fashion_root / "train-images-idx3-ubyte.gz", 3)
    assert raw.shape == (7, 28, 28) and raw.dtype == np.uint8 and raw.flags.writeable
    images = fashion_mnist.load(fashion_root, split="train", image_size=28, channels=1)
    np.testing.assert_array_equal(images[..., 0], raw)
    rgb = load_dataset("fashion_mnist", fashion_root, split="test")
    assert rgb.shape == (3, 64, 64, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    both = fashion_mnist.load(fashion_root, split="all", image_size=28, channels=1, limit=9)
    assert len(both) == 9
    np.testing.assert_array_equal(both[:7, ..., 0], raw)


def test_fashion_mnist_reads_ungzipped_files(fashion_root):
    gz = fashion_root / "t10k-images-idx3-ubyte.gz"
    (fashion_root / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    expected = fashion_mnist.load(fashion_root, split="test", image_size=28)
    gz.unlink()
    np.testing.assert_array_equal(fashion_mnist.load(fashion_root, split="test", image_size=28), expected)


def test_fashion_mnist_errors(fashion_root, tmp_path):
    with raises(r"Fashion-MNIST has no 'val' split; it has: train, test, all") as info:
        fashion_mnist.load(fashion_root, split="val")
    one_line(info)
    with raises(r"expected Fashion-MNIST's test images \(t10k-images-idx3-ubyte\.gz or t10k-images-idx3-ubyte\) "
                r"at .*nowhere/t10k-images-idx3-ubyte\.gz, not found") as info:
        fashion_mnist.load(tmp_path / "nowhere", split="test")
    one_line(info)
    path = fashion_root / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 28, 28)), magic=0x00000801)))
    with raises(r"IDX magic 0x00000801, expected 0x00000803 \(unsigned bytes, 3 dimensions\)") as info:
        fashion_mnist.load(fashion_root)
    one_line(info)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 28, 28)))[:-5]))
    with raises(r"header says 2×28×28 = 1568 bytes, file has 1563"):
        fashion_mnist.load(fashion_root)
    path.write_bytes(gzip.compress(b"\x00\x00\x08"))
    with raises(r"too short for an IDX header \(3 bytes\)"):
        fashion_mnist.load(fashion_root)
    path.write_bytes(b"plain bytes, not gzip")
    with raises(r"train-images-idx3-ubyte\.gz is not a readable gzip file"):
        fashion_mnist.load(fashion_root)


def test_real_fashion_mnist_from_debian_package():
    root = fashion_mnist.DEFAULT_ROOT
    if not (root / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({root})")
    train = fashion_mnist.load(root, split="train", image_size=28, channels=1)
    test = fashion_mnist.load(root, split="test", image_size=28, channels=1)
    assert train.shape == (60000, 28, 28, 1) and test.shape == (10000, 28, 28, 1)
    assert train.dtype == np.uint8 and train.max() == 255 and train.min() == 0
    assert fashion_mnist.load(root, split="test", limit=4).shape == (4, 64, 64, 3)

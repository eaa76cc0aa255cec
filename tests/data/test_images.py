"""read_image / image_size: every supported layout becomes (H, W, 3) uint8 RGB; bad files raise
DataError naming the file, never a cv2 traceback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posehybrid.data.images import image_size, read_image
from posehybrid.data.records import DataError
from tests.data.formats import write_image


def _png(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


def test_colour_png_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((5, 7, 3), np.uint8)
    bgr[..., 0] = 255  # blue in cv2's BGR order
    img = read_image(_png(tmp_path / "blue.png", bgr))
    assert img.shape == (5, 7, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
    assert (img[..., 2] == 255).all() and (img[..., :2] == 0).all()


def test_jpeg_reads_and_size(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.jpg", (40, 30))
    assert read_image(path).shape == (30, 40, 3)
    assert image_size(path) == (40, 30)
    assert image_size(_png(tmp_path / "b.png", np.zeros((9, 11), np.uint8))) == (11, 9)


def test_grayscale(tmp_path: Path) -> None:
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    img = read_image(_png(tmp_path / "g.png", gray))
    assert img.shape == (4, 5, 3)
    assert (img == gray[..., None]).all()


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    bgra = np.zeros((3, 4, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[..., 3] = 17  # alpha must not leak into any channel
    img = read_image(_png(tmp_path / "rgba.png", bgra))
    assert img.shape == (3, 4, 3)
    assert (img[..., 0] == 200).all() and (img[..., 1:] == 0).all()


@pytest.mark.parametrize("shape", [(4, 6), (4, 6, 3)])
def test_16bit_scaled_to_8bit(tmp_path: Path, shape: tuple[int, ...]) -> None:
    img16 = np.full(shape, 257 * 100, np.uint16)
    img16[0, 0] = 65535
    img = read_image(_png(tmp_path / "deep.png", img16))
    assert img.dtype == np.uint8 and img.shape == (4, 6, 3)
    assert (img[0, 0] == 255).all() and (img[1:] == 100).all()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(DataError, match="not found") as err:
        read_image(path)
    assert str(path) in str(err.value) and "JPEG/PNG" in str(err.value)
    with pytest.raises(DataError, match=r"nope\.jpg"):
        image_size(path)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a file"):
        read_image(tmp_path)


def test_zero_byte(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="0 bytes") as err:
        read_image(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_jpeg(tmp_path: Path, keep: float) -> None:
    good = write_image(tmp_path / "good.jpg", (64, 48)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(good[: int(len(good) * keep)])
    with pytest.raises(DataError) as err:
        read_image(path)
    assert str(path) in str(err.value) and "expected a readable JPEG/PNG image" in str(err.value)


def test_truncated_png_and_garbage(tmp_path: Path) -> None:
    good = _png(tmp_path / "good.png", np.full((20, 20, 3), 9, np.uint8)).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(good[: len(good) // 2])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image at all")
    for path in (cut, junk):
        with pytest.raises(DataError, match="cannot decode") as err:
            read_image(path)
        assert str(path) in str(err.value)


def test_max_pixels(tmp_path: Path) -> None:
    path = write_image(tmp_path / "big.jpg", (40, 30))
    with pytest.raises(DataError, match="40x30 = 1200 pixels"):
        read_image(path, max_pixels=1000)
    assert read_image(path, max_pixels=1200).shape == (30, 40, 3)

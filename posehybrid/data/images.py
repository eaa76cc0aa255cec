"""Image reading that never leaks a cv2/numpy traceback: bad files raise ``DataError``.

Images are decoded with ``cv2.IMREAD_UNCHANGED``: that keeps the stored raster as it is and, on
purpose, ignores EXIF orientation. Pose annotations are in the stored raster's pixels, so rotating
by EXIF (what ``IMREAD_COLOR`` does) would misalign every keypoint.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from posehybrid.data.records import DataError

EXPECTED = "expected a readable JPEG/PNG image"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _check_file(path: Path) -> int:
    """Return the file size in bytes, or raise ``DataError`` for a missing/empty/odd path."""
    if not path.exists():
        raise DataError(f"image not found: {path} ({EXPECTED})")
    if not path.is_file():
        raise DataError(f"image path is not a file: {path} ({EXPECTED})")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"image file is empty (0 bytes): {path} ({EXPECTED})")
    return size


def _header_size(head: bytes) -> tuple[int, int] | None:
    """(w, h) parsed from the first bytes of a PNG/JPEG, or None when they do not say."""
    if head.startswith(_PNG_MAGIC) and len(head) >= 24 and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if not head.startswith(_JPEG_SOI):
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > len(head):
                return None
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _jpeg_truncated(data: np.ndarray) -> bool:
    """True when a JPEG's last scan has no end-of-image marker after it.

    Entropy-coded data byte-stuffs 0xFF, so ``FF DA`` (start of scan) and ``FF D9`` (end of
    image) only occur as real markers there. Older OpenCV builds decode a truncated JPEG into a
    half-grey image with only a warning; this catches that on every version.
    """
    raw = data.tobytes()
    return raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda")


def _to_rgb8(img: np.ndarray, path: Path) -> np.ndarray:
    """Any decoded raster (gray, gray+alpha, BGR, BGRA; 8 or 16 bit) -> (H, W, 3) uint8 RGB."""
    if img.dtype == np.uint16:
        # 65535 / 257 == 255 exactly; +128 rounds to nearest.
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise DataError(f"unsupported pixel type {img.dtype} in {path} ({EXPECTED}, 8 or 16 bit)")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise DataError(f"unsupported image layout {img.shape} in {path} ({EXPECTED})")
    channels = img.shape[2]
    if channels in (1, 2):  # gray, or gray + alpha: drop alpha, replicate gray
        return np.ascontiguousarray(np.repeat(img[:, :, :1], 3, axis=2))
    # cv2 stores colour as BGR(A); reversing the first three channels gives RGB and drops alpha.
    return np.ascontiguousarray(img[:, :, 2::-1])


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as RGB.

    Args:
        path: a JPEG or PNG file (other formats OpenCV decodes also work).
        max_pixels: refuse images with more than this many pixels (w*h), before decoding when
            the header says the size. None: no limit beyond OpenCV's own.

    Returns:
        (H, W, 3) uint8 RGB, C-contiguous. Gray is replicated, alpha dropped, 16 bit scaled.

    Raises:
        DataError: missing, empty, truncated or undecodable file, or too large; the message
            names the path.
    """
    path = Path(path)
    _check_file(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode also handles odd paths
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err} ({EXPECTED})") from None
    if max_pixels is not None:
        size = _header_size(data[:65536].tobytes())
        if size is not None and size[0] * size[1] > max_pixels:
            raise DataError(
                f"image {path} is {size[0]}x{size[1]} = {size[0] * size[1]} pixels, "
                f"more than max_pixels={max_pixels}"
            )
    if data[:2].tobytes() == _JPEG_SOI and _jpeg_truncated(data):
        raise DataError(f"image file is truncated (JPEG has no end marker): {path} ({EXPECTED})")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise DataError(f"cannot decode image {path}: {err} ({EXPECTED})") from None
    if img is None or img.size == 0:
        raise DataError(f"cannot decode image {path}: corrupt, truncated or unknown ({EXPECTED})")
    rgb = _to_rgb8(img, path)
    h, w = rgb.shape[:2]
    if max_pixels is not None and w * h > max_pixels:
        raise DataError(
            f"image {path} is {w}x{h} = {w * h} pixels, more than max_pixels={max_pixels}"
        )
    return rgb


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image, from the PNG/JPEG header when possible (no full decode).

    Falls back to decoding for other formats or unusual headers.

    Raises:
        DataError: missing, empty or unreadable file; the message names the path.
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err} ({EXPECTED})") from None
    size = _header_size(head)
    if size is not None and size[0] > 0 and size[1] > 0:
        return size
    h, w = read_image(path).shape[:2]
    return w, h

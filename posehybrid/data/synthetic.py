"""The embedded default dataset: synthetic articulated figures written in the *real* formats.

``ensure_synthetic`` writes an LSP-format folder (``joints.mat`` 3x14xN, flag 1 = occluded,
plus ``images/im0001.jpg ...``), so the genuine LSP reader runs by default and nothing needs a
download. ``ensure_synthetic_flic`` writes a FLIC-format folder (``examples.mat`` struct array
plus 720x480 frames with several people) for the FLIC reader.

Both are deterministic in the seed: scene ``i`` draws from its own child generator
(``SeedSequence(seed, spawn_key=(i,))``), so images do not depend on generation order or on
``n``. Both are cached under ``root/<name>-<hash of parameters>``; the folder is built in a
temporary directory and moved into place with ``os.replace`` after a ``COMPLETE`` marker is
written, so an interrupted run never leaves a half dataset that looks finished; the temporary
folders of killed generations are removed by the next one, and folders get the umask's
permissions (a shared data directory stays shared).

What makes the data hard, and the knobs, live in ``posehybrid.data.render`` (``Difficulty``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from posehybrid.data.cache import ensure_dir as _ensure
from posehybrid.data.render.difficulty import Difficulty
from posehybrid.data.render.scene import (
    FLIC_SIZE,
    place_lsp_figure,
    render_flic_frame,
    render_lsp_image,
)
from posehybrid.data.skeleton import FLIC, FLIC_COLUMNS, LSP

__all__ = [
    "GENERATOR_VERSION",
    "Difficulty",
    "ensure_synthetic",
    "ensure_synthetic_flic",
    "lsp_views",
]

log = logging.getLogger(__name__)

# Bump when the renderer changes what it draws: the version is part of the cache hash, so
# stale cached datasets are regenerated instead of silently reused.
GENERATOR_VERSION = 1

FLIC_FIELDS = (
    "poselet_hit_idx",
    "moviename",
    "coords",
    "filepath",
    "imgdims",
    "currframe",
    "torsobox",
    "istrain",
    "istest",
)


def _cache_params(fmt: str, seed: int, diff: Difficulty, **sizes: int) -> dict[str, object]:
    """Everything the images depend on: the cache key (hashed with sorted keys) and
    ``params.json``. A new ``GENERATOR_VERSION`` invalidates every cached set."""
    return {
        "format": fmt,
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        **sizes,
        "difficulty": diff.as_dict(),
    }


def ensure_synthetic(
    root: str | Path,
    n_images: int = 2000,
    seed: int = 0,
    image_size: int = 128,
    **difficulty: object,
) -> Path:
    """Generate (once) an LSP-format synthetic dataset and return its folder.

    Args:
        root: parent folder; the dataset goes to ``root/synthetic-lsp-<hash>``.
        n_images: number of images (train = first half, test = last half), at most 9999
            because LSP names images with four digits.
        seed: master seed.
        image_size: side of the square images in pixels.
        **difficulty: overrides of ``Difficulty`` fields (unknown names raise ``TypeError``).

    Returns:
        The dataset folder, holding ``joints.mat``, ``images/``, ``params.json``, ``COMPLETE``.
    """
    n_images, image_size = int(n_images), int(image_size)
    if not 1 <= n_images <= 9999:
        raise ValueError(f"n_images must be in 1..9999 (LSP uses 4-digit names), got {n_images}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32, got {image_size}")
    diff = Difficulty(**difficulty)  # type: ignore[arg-type]
    params = _cache_params("lsp", seed, diff, n_images=n_images, image_size=image_size)

    def build(tmp: Path) -> None:
        images = tmp / "images"
        images.mkdir()
        joints = np.zeros((3, len(LSP.joints), n_images), np.float64)
        quality = [cv2.IMWRITE_JPEG_QUALITY, diff.jpeg_quality]
        t0 = time.perf_counter()
        for i in range(n_images):
            img, kps, visible = render_lsp_image(_child_rng(seed, i), image_size, diff)
            _imwrite(images / f"im{i + 1:04d}.jpg", img, quality)
            joints[0:2, :, i] = kps.T
            joints[2, :, i] = ~visible  # LSP: 1 = occluded
            if (i + 1) % 500 == 0:
                log.info("synthetic LSP: %d/%d images", i + 1, n_images)
        scipy.io.savemat(tmp / "joints.mat", {"joints": joints}, do_compression=False)
        dt = time.perf_counter() - t0
        log.info(
            "synthetic LSP: %d images in %.1f s (%.0f/s), %.1f%% joints occluded",
            n_images,
            dt,
            n_images / max(dt, 1e-9),
            100 * joints[2].mean(),
        )

    return _ensure(Path(root), "synthetic-lsp", params, build)


def lsp_views(
    n_images: int = 2000, seed: int = 0, image_size: int = 128, **difficulty: object
) -> list[str]:
    """The view of each image of :func:`ensure_synthetic`'s dataset with these parameters,
    image ``i`` (``im{i+1:04d}.jpg``) at index ``i``: ``"front"`` (facing the viewer),
    ``"back"`` or ``"profile"``. Each scene's generator is replayed up to its figure
    (:func:`place_lsp_figure`), so nothing is drawn and nothing is read from disk."""
    diff = Difficulty(**difficulty)  # type: ignore[arg-type]
    return [
        place_lsp_figure(_child_rng(seed, i), int(image_size), diff).facing
        for i in range(int(n_images))
    ]


def ensure_synthetic_flic(
    root: str | Path,
    n_frames: int = 300,
    seed: int = 0,
    max_people: int = 3,
    n_movies: int = 10,
    test_movies: int = 2,
    **difficulty: object,
) -> Path:
    """Generate (once) a FLIC-format synthetic dataset and return its folder.

    Frames are 720x480 with 1..``max_people`` waist-up figures; each person is one example
    (several examples share a frame and differ by ``torsobox``). Frames are grouped into
    ``n_movies`` consecutive "movies"; the last ``test_movies`` form the test split, so train
    and test never share a movie, as in FLIC.

    Args:
        root: parent folder; the dataset goes to ``root/synthetic-flic-<hash>``.
        n_frames: number of frames (about 1.8 examples each on average).
        seed: master seed.
        max_people: most figures in one frame (1..5).
        n_movies: number of movies the frames are split into.
        test_movies: how many of the last movies are the test split.
        **difficulty: overrides of ``Difficulty`` fields.

    Returns:
        The dataset folder, holding ``examples.mat``, ``images/``, ``params.json``, ``COMPLETE``.
    """
    n_frames, max_people = int(n_frames), int(max_people)
    n_movies, test_movies = int(n_movies), int(test_movies)
    if n_frames < 1:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    if not 1 <= max_people <= 5:
        raise ValueError(f"max_people must be in 1..5, got {max_people}")
    if not 1 <= test_movies < n_movies:
        raise ValueError(f"need 1 <= test_movies < n_movies, got {test_movies}, {n_movies}")
    # Movie frames: calmer global rotation than LSP's sports photos, mostly facing the camera.
    difficulty = {"rotation_deg": 10.0, "face_away_prob": 0.1, "profile_prob": 0.1, **difficulty}
    diff = Difficulty(**difficulty)  # type: ignore[arg-type]
    params = _cache_params(
        "flic",
        seed,
        diff,
        n_frames=n_frames,
        max_people=max_people,
        n_movies=n_movies,
        test_movies=test_movies,
    )
    w, h = FLIC_SIZE

    def build(tmp: Path) -> None:
        images = tmp / "images"
        images.mkdir()
        quality = [cv2.IMWRITE_JPEG_QUALITY, diff.jpeg_quality]
        rows: list[dict[str, object]] = []
        for i in range(n_frames):
            rng = _child_rng(seed, i)
            img, figs = render_flic_frame(rng, diff, max_people)
            movie = i * n_movies // n_frames
            moviename = f"synthmovie-{movie:02d}"
            frame = 1000 + 37 * i  # sparse frame numbers, like sampled movie frames
            filepath = f"{moviename}-{frame:08d}.jpg"
            _imwrite(images / filepath, img, quality)
            is_test = movie >= n_movies - test_movies
            for fig in figs:
                rows.append(
                    {
                        "poselet_hit_idx": np.array(
                            [rng.integers(1, 150, size=3)], dtype=np.float64
                        ),
                        "moviename": moviename,
                        "coords": _flic_coords(fig.joints, fig.eyes, fig.nose),
                        "filepath": filepath,
                        "imgdims": np.array([[h, w, 3]], dtype=np.float64),
                        "currframe": np.array([[frame]], dtype=np.float64),
                        "torsobox": _torso_box(fig.joints),
                        "istrain": np.array([[not is_test]], dtype=np.uint8),
                        "istest": np.array([[is_test]], dtype=np.uint8),
                    }
                )
            if (i + 1) % 100 == 0:
                log.info("synthetic FLIC: %d/%d frames", i + 1, n_frames)
        examples = np.empty((1, len(rows)), dtype=[(f, object) for f in FLIC_FIELDS])
        for k, row in enumerate(rows):
            for f in FLIC_FIELDS:
                examples[0, k][f] = row[f]
        scipy.io.savemat(tmp / "examples.mat", {"examples": examples}, do_compression=False)
        n_test = sum(bool(r["istest"][0, 0]) for r in rows)  # type: ignore[index]
        log.info(
            "synthetic FLIC: %d frames, %d examples (%d train, %d test)",
            n_frames,
            len(rows),
            len(rows) - n_test,
            n_test,
        )

    return _ensure(Path(root), "synthetic-flic", params, build)


# ---------------------------------------------------------------------------------------------


def _child_rng(seed: int, index: int) -> np.random.Generator:
    """Scene ``index``'s generator: the ``index``-th child of ``default_rng(seed)``'s seed."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))


def _imwrite(path: Path, img: np.ndarray, params: list[int]) -> None:
    if not cv2.imwrite(str(path), img, params):
        raise OSError(f"could not write image {path}")


def _flic_coords(joints: np.ndarray, eyes: np.ndarray, nose: np.ndarray) -> np.ndarray:
    """(2, 29) FLIC coordinates from an LSP-order figure; unlabelled columns are NaN."""
    ours = {name: joints[LSP.index(name)] for name in LSP.joints}
    ours["l_eye"], ours["r_eye"], ours["nose"] = eyes[0], eyes[1], nose
    coords = np.full((2, 29), np.nan)
    for name, col in zip(FLIC.joints, FLIC_COLUMNS, strict=True):
        coords[:, col] = ours[name]
    return coords


def _torso_box(joints: np.ndarray) -> np.ndarray:
    """(1, 4) float32 [x1 y1 x2 y2] around shoulders and hips, padded like FLIC's boxes."""
    pts = joints[LSP.indices(["l_shoulder", "r_shoulder", "l_hip", "r_hip"])]
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.1 * (hi - lo) + 2.0
    return np.concatenate([lo - pad, hi + pad])[None].astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    """``python -m posehybrid.data.synthetic ROOT [--flic] [--n N] [--seed S]``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--flic", action="store_true", help="write the FLIC-format variant")
    ap.add_argument("--n", type=int, default=None, help="images (LSP) or frames (FLIC)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.flic:
        path = ensure_synthetic_flic(args.root, n_frames=args.n or 300, seed=args.seed)
    else:
        path = ensure_synthetic(args.root, n_images=args.n or 2000, seed=args.seed)
    log.info("dataset ready: %s", path)


if __name__ == "__main__":
    main()

"""Whole images: a textured background, the figures, distractors, occluders and the camera."""

from __future__ import annotations

import cv2
import numpy as np

from posehybrid.data.render.body import JOINT, OCCLUSION_TARGET_WEIGHTS, ONE, SHIFT
from posehybrid.data.render.difficulty import Difficulty
from posehybrid.data.render.distractors import distractor, occluder
from posehybrid.data.render.drawing import bgr, blob, draw_figure, fixed_point, joint_visibility
from posehybrid.data.render.figure import (
    Figure,
    figure_extent,
    sample_figure,
    translate,
    unit_vector,
)
from posehybrid.data.skeleton import LSP


def background(
    rng: np.random.Generator, h: int, w: int, n_clutter: int, scale: float
) -> np.ndarray:
    """Low-frequency colour field + mid-frequency texture + random shapes, float32 BGR."""
    gh, gw = rng.integers(2, 6, size=2)
    grid = rng.uniform(25, 230, size=(gh, gw, 3)).astype(np.float32)
    # Partly desaturate: photos are rarely a rainbow, and figures should stand out somewhat.
    sat = np.float32(rng.uniform(0.25, 1.0))
    grid = grid * sat + grid.mean(-1, keepdims=True) * (1 - sat)
    img = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    th, tw = max(2, h // 6), max(2, w // 6)
    tex = rng.standard_normal((th, tw, 1), dtype=np.float32) * rng.uniform(5, 22)
    img += cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    for _ in range(n_clutter):
        col = bgr(rng.uniform(0, 255, 3))
        kind = rng.integers(3)
        c = rng.uniform([0, 0], [w, h])
        size = rng.uniform(0.05, 0.35) * scale
        if kind == 0:
            d = rng.uniform(0.3, 1.0, 2) * size
            ang = rng.uniform(0, 180)
            box = cv2.boxPoints(
                ((float(c[0]), float(c[1])), (float(d[0]) * 2, float(d[1]) * 2), ang)
            )
            cv2.fillConvexPoly(img, np.round(box * ONE).astype(np.int32), col, cv2.LINE_AA, SHIFT)
        elif kind == 1:
            blob(
                img,
                None,
                c,
                (size, size * rng.uniform(0.3, 1.0)),
                rng.uniform(0, 180),
                np.array(col),
                0,
            )
        else:
            d = unit_vector(rng.uniform(0, 360)) * size * 2
            t = max(1, int(rng.uniform(0.005, 0.03) * scale))
            cv2.line(img, fixed_point(c), fixed_point(c + d), col, t, cv2.LINE_AA, SHIFT)
    return img


def finish(rng: np.random.Generator, img: np.ndarray, diff: Difficulty) -> np.ndarray:
    """Global lighting, blur and sensor noise; returns uint8 BGR."""
    img *= rng.uniform(0.75, 1.15)
    img += rng.uniform(-20, 20)
    lo, hi = diff.blur_sigma
    s = float(rng.uniform(lo, hi))
    if s > 0.25:
        img = cv2.GaussianBlur(img, (0, 0), s)
    if diff.noise_std > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(diff.noise_std)
    return np.clip(img, 0, 255).astype(np.uint8)


def place_lsp_figure(rng: np.random.Generator, size: int, diff: Difficulty) -> Figure:
    """The person of an LSP-style image, posed and placed: the first draws of
    :func:`render_lsp_image` from ``rng``, so a scene's generator replayed here gives its
    figure (its view, ``facing``) without drawing the image."""
    lo, hi = diff.figure_height
    scale = float(rng.uniform(lo, hi)) * size / 0.94
    if rng.random() < diff.large_rotation_prob:
        rot = float(rng.uniform(-120, 120))
    else:
        rot = float(rng.uniform(-diff.rotation_deg, diff.rotation_deg))
    fig = sample_figure(rng, diff, scale, rot)

    # Centre the figure's box, then jitter it; a big box may stray past the border a little.
    mn, mx = figure_extent(fig)
    slack = np.maximum(size - (mx - mn), 0) / 2 + diff.position_jitter * size
    target = size / 2 + rng.uniform(-1, 1, 2) * slack
    translate(fig, target - (mn + mx) / 2)
    return fig


def render_lsp_image(
    rng: np.random.Generator, size: int, diff: Difficulty
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One person-centred square image, LSP style.

    Returns:
        image (size, size, 3) uint8 BGR, joints (14, 2) float64 px, visible (14,) bool.
    """
    fig = place_lsp_figure(rng, size, diff)
    scale = fig.scale
    img = background(
        rng, size, size, int(rng.integers(diff.clutter[0], diff.clutter[1] + 1)), scale
    )
    ids = np.zeros((size, size), np.uint8)
    n_dis = int(rng.integers(diff.distractors[0], diff.distractors[1] + 1))
    front = rng.random(n_dis) < diff.distractor_front_prob
    for _ in range(int((~front).sum())):
        distractor(rng, img, None, fig, size, size, diff.distractor_own_palette)
    base = 1
    draw_figure(img, ids, fig, base)
    for _ in range(int(front.sum())):
        distractor(rng, img, ids, fig, size, size, diff.distractor_own_palette)
    if rng.random() < diff.occlusion_prob:
        for _ in range(int(rng.integers(1, diff.max_occluders + 1))):
            j = rng.choice(len(LSP.joints), p=OCCLUSION_TARGET_WEIGHTS)
            c = fig.joints[j] + rng.normal(0, 0.05 * scale, 2)
            occluder(rng, img, ids, c, scale, diff)
    visible = joint_visibility(ids, fig, base)
    return finish(rng, img, diff), fig.joints, visible


FLIC_SIZE = (720, 480)  # (width, height) of a FLIC frame


def render_flic_frame(
    rng: np.random.Generator, diff: Difficulty, max_people: int = 3
) -> tuple[np.ndarray, list[Figure]]:
    """One 720x480 movie-like frame with 1..max_people upper-body figures.

    Figures stand side by side, waist-up (legs leave the frame), and overlap a little; a
    nearer (larger) figure is drawn later and hides the ones behind it, which become the
    hardest distractors of all: a second person's arms.
    """
    w, h = FLIC_SIZE
    n = int(rng.choice(np.arange(1, max_people + 1), p=_people_probs(max_people)))
    figs: list[Figure] = []
    slots = rng.permutation(n)
    for k in range(n):
        scale = float(rng.uniform(1.2, 1.6)) * h * (1.0 - 0.1 * (n - 1))
        rot = float(rng.uniform(-diff.rotation_deg, diff.rotation_deg)) * 0.4
        fig = sample_figure(rng, diff, scale, rot, upper_body=True)
        neck = fig.joints[JOINT["neck"]]
        x = (slots[k] + 0.5) / n * w + rng.uniform(-0.25, 0.25) * w / n
        y = rng.uniform(0.15, 0.32) * h
        translate(fig, np.array([x, y]) - neck)
        figs.append(fig)
    figs.sort(key=lambda f: f.scale)  # far (small) first

    img = background(
        rng, h, w, int(rng.integers(diff.clutter[0], diff.clutter[1] + 1)) * 2, figs[0].scale
    )
    for _ in range(int(rng.integers(diff.distractors[0], diff.distractors[1] + 1))):
        distractor(rng, img, None, figs[int(rng.integers(n))], h, w, diff.distractor_own_palette)
    for k, fig in enumerate(figs):
        draw_figure(img, None, fig, 1 + 20 * k)
    return finish(rng, img, diff), figs


def _people_probs(max_people: int) -> np.ndarray:
    p = np.array([0.45, 0.35, 0.2, 0.1, 0.05][:max_people], float)
    return p / p.sum()

"""Limb look-alikes (often in the figure's own palette) and occluding shapes."""

from __future__ import annotations

import cv2
import numpy as np

from posehybrid.data.render.body import BASE_LENGTHS, ID_DISTRACTOR, ID_OCCLUDER, ONE, SHIFT, WIDTHS
from posehybrid.data.render.difficulty import Difficulty
from posehybrid.data.render.drawing import bgr, blob, fixed_point, stick
from posehybrid.data.render.figure import Figure, unit_vector


def distractor(
    rng: np.random.Generator,
    img: np.ndarray,
    ids: np.ndarray | None,
    fig: Figure,
    h: int,
    w: int,
    own_palette: float,
) -> None:
    """A limb look-alike, often in the figure's palette: stick, two-segment arm/leg, or blob."""
    S, pal = fig.scale, fig.palette
    own = rng.random() < own_palette
    kind = rng.choice(3, p=[0.35, 0.45, 0.2])
    p = rng.uniform([0, 0], [w, h])
    if kind == 0:
        seg = ("upper_arm", "forearm", "thigh", "shin")[rng.integers(4)]
        col = pal[seg] if own else rng.uniform(0, 255, 3)
        q = p + unit_vector(rng.uniform(0, 360)) * BASE_LENGTHS[seg] * S * rng.uniform(0.6, 1.2)
        stick(img, ids, p, q, WIDTHS[seg] * S, col, ID_DISTRACTOR)
    elif kind == 1:
        arm = rng.random() < 0.65
        s1, s2 = ("upper_arm", "forearm") if arm else ("thigh", "shin")
        c1 = pal[s1] if own else rng.uniform(0, 255, 3)
        c2 = pal[s2] if own else c1
        a = rng.uniform(0, 360)
        q = p + unit_vector(a) * BASE_LENGTHS[s1] * S * rng.uniform(0.6, 1.1)
        a2 = a + rng.uniform(-140, 140)
        r = q + unit_vector(a2) * BASE_LENGTHS[s2] * S * rng.uniform(0.6, 1.1)
        stick(img, ids, p, q, WIDTHS[s1] * S, c1, ID_DISTRACTOR)
        stick(img, ids, q, r, WIDTHS[s2] * S, c2, ID_DISTRACTOR)
        if arm:
            rad = WIDTHS["hand"] * S
            blob(
                img,
                ids,
                r + unit_vector(a2) * rad * 0.8,
                (rad, 0.8 * rad),
                a2,
                pal["skin"],
                ID_DISTRACTOR,
            )
        else:
            L = WIDTHS["foot"] * S
            blob(
                img,
                ids,
                r + unit_vector(a2 + 90) * 0.45 * L,
                (0.6 * L, 0.35 * L),
                a2 + 90,
                pal["shoe"],
                ID_DISTRACTOR,
            )
    else:
        col = pal[("skin", "torso", "thigh")[rng.integers(3)]] if own else rng.uniform(0, 255, 3)
        r = rng.uniform(0.03, 0.08) * S
        blob(img, ids, p, (r, r * rng.uniform(0.6, 1.0)), rng.uniform(0, 180), col, ID_DISTRACTOR)


def occluder(
    rng: np.random.Generator,
    img: np.ndarray,
    ids: np.ndarray,
    centre: np.ndarray,
    scale: float,
    diff: Difficulty,
) -> None:
    """An opaque rectangle or ellipse (a bag, a table, another person's back) with stripes."""
    lo, hi = diff.occluder_size
    d = rng.uniform(lo, hi, 2) * scale
    ang = float(rng.uniform(0, 180))
    col = rng.uniform(0, 255, 3)
    c = (float(centre[0]), float(centre[1]))
    if rng.random() < 0.5:
        box = np.round(cv2.boxPoints((c, (float(d[0]) * 2, float(d[1]) * 2), ang)) * ONE).astype(
            np.int32
        )
        cv2.fillConvexPoly(img, box, bgr(col), cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(ids, box, ID_OCCLUDER, cv2.LINE_8, SHIFT)
    else:
        blob(img, ids, centre, (float(d[0]), float(d[1])), ang, col, ID_OCCLUDER)
    # Stripes so the occluder is textured like clutter rather than a flat "ignore me" patch.
    if rng.random() < 0.5:
        mask = (ids == ID_OCCLUDER).astype(np.uint8)
        stripe = np.zeros_like(img)
        step = max(2, int(rng.uniform(0.03, 0.07) * scale))
        v = unit_vector(ang)
        for k in range(-8, 9):
            o = centre + np.array([-v[1], v[0]]) * k * step
            cv2.line(
                stripe,
                fixed_point(o - v * scale),
                fixed_point(o + v * scale),
                bgr(col * 0.6 - col),
                max(1, step // 2),
                cv2.LINE_AA,
                SHIFT,
            )
        img += stripe * mask[..., None]

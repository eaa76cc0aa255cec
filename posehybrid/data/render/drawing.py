"""Drawing a figure: every shape goes to the colour image and (optionally) to the id map."""

from __future__ import annotations

import math

import cv2
import numpy as np

from posehybrid.data.render.body import (
    JOINT,
    JOINT_OWNERS,
    ONE,
    P_HEAD,
    P_LIMB,
    P_NECK,
    P_TORSO,
    SHIFT,
    WIDTHS,
)
from posehybrid.data.render.figure import Figure
from posehybrid.data.skeleton import LSP


def fixed_point(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0]) * ONE), round(float(p[1]) * ONE)


def bgr(c: np.ndarray) -> tuple[float, float, float]:
    return float(c[0]), float(c[1]), float(c[2])


def stick(
    img: np.ndarray,
    ids: np.ndarray | None,
    p: np.ndarray,
    q: np.ndarray,
    width: float,
    colour: np.ndarray,
    part_id: int,
) -> None:
    """A limb segment: a thick round-capped line with a lighter centre highlight."""
    t = max(1, round(float(width)))
    a, b = fixed_point(p), fixed_point(q)
    cv2.line(img, a, b, bgr(colour), t, cv2.LINE_AA, SHIFT)
    if t >= 3:
        hi = np.minimum(colour * 1.25 + 12, 255)
        cv2.line(img, a, b, bgr(hi), max(1, t // 3), cv2.LINE_AA, SHIFT)
    if ids is not None:
        cv2.line(ids, a, b, part_id, t, cv2.LINE_8, SHIFT)


def blob(
    img: np.ndarray,
    ids: np.ndarray | None,
    centre: np.ndarray,
    axes: tuple[float, float],
    angle_deg: float,
    colour: np.ndarray,
    part_id: int,
) -> None:
    """A filled ellipse (head, hand, foot, distractor blob)."""
    ax = (max(1, round(float(axes[0]) * ONE)), max(1, round(float(axes[1]) * ONE)))
    cv2.ellipse(
        img, fixed_point(centre), ax, angle_deg, 0, 360, bgr(colour), -1, cv2.LINE_AA, SHIFT
    )
    if ids is not None:
        cv2.ellipse(ids, fixed_point(centre), ax, angle_deg, 0, 360, part_id, -1, cv2.LINE_8, SHIFT)


def _angle(v: np.ndarray) -> float:
    return math.degrees(math.atan2(float(v[1]), float(v[0])))


def draw_limb(
    img: np.ndarray, ids: np.ndarray | None, fig: Figure, side: str, kind: str, base: int
) -> None:
    """Draw an arm or a leg with its hand/foot and small joint knobs."""
    S, pal = fig.scale, fig.palette
    if kind == "arm":
        a, b, c = (fig.joints[JOINT[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
        seg1, seg2, end = "upper_arm", "forearm", "hand"
    else:
        a, b, c = (fig.joints[JOINT[f"{side}_{n}"]] for n in ("hip", "knee", "ankle"))
        seg1, seg2, end = "thigh", "shin", "foot"
    w1, w2 = WIDTHS[seg1] * S, WIDTHS[seg2] * S
    stick(img, ids, a, b, w1, pal[seg1], base + P_LIMB[side, seg1])
    stick(img, ids, b, c, w2, pal[seg2], base + P_LIMB[side, seg2])
    # A faint knob marks the elbow/knee: real joints show a crease or a bend there.
    blob(img, None, b, (0.4 * w2, 0.4 * w2), 0.0, pal[seg2] * 0.8, 0)
    d = c - b
    n = float(np.linalg.norm(d)) + 1e-9
    if kind == "arm":
        r = WIDTHS["hand"] * S
        blob(
            img,
            ids,
            c + d / n * r * 0.8,
            (r, 0.8 * r),
            _angle(d),
            pal["skin"],
            base + P_LIMB[side, end],
        )
    else:
        # The foot points forwards in profile, else outwards (away from the other hip).
        right = np.array([-fig.up[1], fig.up[0]])  # image right for an upright figure
        if fig.profile_dir:
            fwd = float(fig.profile_dir)
        else:
            other = fig.joints[JOINT[("l" if side == "r" else "r") + "_hip"]]
            fwd = 1.0 if float(np.dot(a - other, right)) >= 0 else -1.0
        perp = right * fwd
        L = WIDTHS["foot"] * S
        blob(
            img,
            ids,
            c + perp * 0.45 * L,
            (L * 0.6, 0.35 * L),
            _angle(perp),
            pal["shoe"],
            base + P_LIMB[side, end],
        )


def draw_figure(img: np.ndarray, ids: np.ndarray | None, fig: Figure, base: int) -> None:
    """Paint one figure (and its part ids) in depth order."""
    S, pal, J = fig.scale, fig.palette, fig.joints
    order_limbs = [("r", "leg"), ("l", "leg"), ("r", "arm"), ("l", "arm")]
    for side, kind in order_limbs:
        if f"{side}_{kind}" in fig.behind:
            draw_limb(img, ids, fig, side, kind, base)

    # Torso: a quadrilateral a little wider than the shoulder/hip joints.
    up = fig.up
    lat = np.array([-up[1], up[0]])  # image right when upright
    rs, ls, rh, lh = (J[JOINT[n]] for n in ("r_shoulder", "l_shoulder", "r_hip", "l_hip"))

    def out(p: np.ndarray, ref: np.ndarray, m: float) -> np.ndarray:
        v = p - ref
        n = float(np.linalg.norm(v))
        return p + (v / n * m if n > 1e-6 else lat * m)

    mid_s, mid_h = (rs + ls) / 2, (rh + lh) / 2
    m = 0.03 * S
    quad = np.array(
        [
            out(rs, mid_s, m) + up * 0.02 * S,
            out(ls, mid_s, m) + up * 0.02 * S,
            out(lh, mid_h, m) - up * 0.03 * S,
            out(rh, mid_h, m) - up * 0.03 * S,
        ]
    )
    poly = np.round(quad * ONE).astype(np.int32)
    cv2.fillPoly(img, [poly], bgr(pal["torso"]), cv2.LINE_AA, SHIFT)
    if ids is not None:
        cv2.fillPoly(ids, [poly], base + P_TORSO, cv2.LINE_8, SHIFT)
    # A belt line: gives the hips a local cue without saying which side is which.
    stick(
        img, None, out(rh, mid_h, m * 0.8), out(lh, mid_h, m * 0.8), 0.02 * S, pal["thigh"] * 0.6, 0
    )

    if fig.facing == "front":
        # Shirt front: collar and button line. Only the front has them, so the torso tells
        # which way the figure faces (and hence which image side is its left).
        blob(img, None, mid_s + up * 0.01 * S, (0.035 * S, 0.03 * S), _angle(lat), pal["skin"], 0)
        stick(
            img,
            None,
            mid_s - up * 0.03 * S,
            mid_h + up * 0.03 * S,
            0.015 * S,
            pal["torso"] * 0.55,
            0,
        )

    # Neck and head; the hair says which way the figure faces.
    neck, top = J[JOINT["neck"]], J[JOINT["head_top"]]
    h = top - neck
    hl = float(np.linalg.norm(h)) + 1e-9
    centre = top - h / hl * 0.075 * S
    stick(img, ids, neck, neck + 0.4 * h, WIDTHS["neck"] * S, pal["skin"], base + P_NECK)
    hw, hh = WIDTHS["head_w"] * S, 0.075 * S
    ang = _angle(h)
    blob(img, ids, centre, (hh, hw), ang, pal["skin"], base + P_HEAD)
    if fig.facing == "back":
        blob(img, None, centre, (hh, hw), ang, pal["hair"], 0)
    elif fig.facing == "front":
        blob(img, None, centre + h / hl * 0.035 * S, (0.6 * hh, hw), ang, pal["hair"], 0)
        for e in fig.eyes:  # a pixel or two at LSP size; still a facing cue
            blob(img, None, e, (0.012 * S, 0.008 * S), ang, pal["hair"] * 0.5, 0)
        blob(img, None, fig.nose, (0.008 * S, 0.008 * S), ang, pal["skin"] * 0.75, 0)
    else:
        back = np.array([h[1], -h[0]]) / hl * fig.profile_dir  # points away from the face
        blob(
            img,
            None,
            centre + back * 0.03 * S + h / hl * 0.02 * S,
            (0.8 * hh, 0.75 * hw),
            ang,
            pal["hair"],
            0,
        )

    for side, kind in order_limbs:
        if f"{side}_{kind}" not in fig.behind:
            draw_limb(img, ids, fig, side, kind, base)


def joint_visibility(ids: np.ndarray, fig: Figure, base: int) -> np.ndarray:
    """(14,) bool: the joint lies inside the image and one of its own parts is on top there.

    A 3x3 neighbourhood is checked because joints sit on part boundaries (head top is the
    crown's edge, a shoulder is a torso corner).
    """
    h, w = ids.shape
    vis = np.zeros(len(LSP.joints), bool)
    for j, (x, y) in enumerate(fig.joints):
        xi, yi = round(float(x)), round(float(y))
        if not (0 <= xi < w and 0 <= yi < h):
            continue
        patch = ids[max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2]
        owners = [base + k for k in JOINT_OWNERS[j]]
        vis[j] = bool(np.isin(patch, owners).any())
    return vis

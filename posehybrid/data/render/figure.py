"""Sampling one person: a pose from the kinematic tree, its proportions, view and palette."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posehybrid.data.render.body import BASE_LENGTHS, HAIR, JOINT, SKIN
from posehybrid.data.render.difficulty import Difficulty
from posehybrid.data.skeleton import LSP


@dataclass
class Figure:
    """One sampled person, in image pixels.

    Attributes:
        joints: (14, 2) LSP order, person-centric left/right.
        eyes: (2, 2) person's left eye, right eye.
        nose: (2,).
        scale: figure scale S in px (segment lengths are fractions of it).
        facing: "front" (faces the viewer), "back" or "profile".
        profile_dir: +1 when a profile figure faces image right, else -1.
        up: (2,) unit vector from the hips towards the neck.
        behind: names of limbs ("r_arm", "l_leg", ...) drawn behind the torso.
        palette: colours (BGR float) by role.
        lengths: foreshortened segment lengths (px), used only for drawing extents.
    """

    joints: np.ndarray
    eyes: np.ndarray
    nose: np.ndarray
    scale: float
    facing: str
    profile_dir: int
    up: np.ndarray
    behind: frozenset[str]
    palette: dict[str, np.ndarray]


def unit_vector(deg: float) -> np.ndarray:
    r = math.radians(deg)
    return np.array([math.cos(r), math.sin(r)])


def _mixture(rng: np.random.Generator, parts: list[tuple[float, float, float]]) -> float:
    """Draw from a mixture of uniforms given as (weight, low, high)."""
    w = np.array([p[0] for p in parts])
    k = rng.choice(len(parts), p=w / w.sum())
    return float(rng.uniform(parts[k][1], parts[k][2]))


def sample_palette(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Clothes and skin colours. Left and right use the same entries, by design."""
    skin = SKIN[rng.integers(len(SKIN))] + rng.uniform(-12, 12, 3)
    top = rng.uniform(20, 235, 3)
    bottom = rng.uniform(20, 200, 3) if rng.random() < 0.7 else top * rng.uniform(0.7, 1.0)
    sleeve = rng.random()
    upper_arm = skin if sleeve < 0.15 else top  # sleeveless
    forearm = top if sleeve > 0.55 else skin  # long sleeves
    shin = bottom if rng.random() < 0.75 else skin  # shorts
    pal = {
        "skin": skin,
        "hair": HAIR[rng.integers(len(HAIR))] + rng.uniform(-10, 10, 3),
        "torso": top,
        "upper_arm": upper_arm,
        "forearm": forearm,
        "thigh": bottom,
        "shin": shin,
        "shoe": rng.uniform(10, 120, 3),
    }
    return {k: np.clip(v, 0, 255) for k, v in pal.items()}


def sample_figure(
    rng: np.random.Generator,
    diff: Difficulty,
    scale: float,
    rotation_deg: float,
    upper_body: bool = False,
) -> Figure:
    """Sample a pose from the kinematic tree, centred on the hips at the origin.

    Args:
        rng: the scene's generator.
        diff: difficulty knobs (proportions, views, foreshortening).
        scale: figure scale S in pixels.
        rotation_deg: global in-plane rotation about the hips.
        upper_body: calmer arm poses (movie frames, the FLIC variant).
    """
    pj = diff.proportion_jitter
    L = {k: v * scale * rng.uniform(1 - pj, 1 + pj) for k, v in BASE_LENGTHS.items()}

    def seg(name: str) -> float:
        # Out-of-plane segments project shorter: the ConvNet cannot rely on fixed lengths.
        f = rng.uniform(0.55, 1.0) if rng.random() < diff.foreshortening_prob else 1.0
        return L[name] * f

    roll = rng.random()
    if roll < diff.profile_prob:
        facing = "profile"
    elif rng.random() < diff.face_away_prob:
        facing = "back"
    else:
        facing = "front"
    profile_dir = 1 if rng.random() < 0.5 else -1
    # Image side of the person's right: facing the viewer, their right is on our left.
    sigma = {"r": -1.0, "l": 1.0} if facing != "back" else {"r": 1.0, "l": -1.0}
    if facing == "profile" and rng.random() < 0.5:
        sigma = {"r": 1.0, "l": -1.0}
    width_f = rng.uniform(0.25, 0.55) if facing == "profile" else 1.0

    up_deg = -90.0 + float(np.clip(rng.normal(0, diff.lean_deg), -25, 25))
    up = unit_vector(up_deg)
    lateral = unit_vector(up_deg + 90.0)  # image right for an upright figure
    down_deg = up_deg + 180.0
    pelvis = np.zeros(2)
    neck = pelvis + L["torso"] * up
    head_deg = up_deg + float(np.clip(rng.normal(0, 12), -35, 35))
    head_top = neck + L["head"] * unit_vector(head_deg)

    # Knees flex towards one image side in profile; frontal knees bend little either way.
    knee_dir = profile_dir if facing == "profile" else (1 if rng.random() < 0.5 else -1)
    J = np.zeros((len(LSP.joints), 2))
    J[JOINT["neck"]], J[JOINT["head_top"]] = neck, head_top
    for s in ("r", "l"):
        sg = sigma[s]
        sho = neck + sg * L["shoulder"] * width_f * lateral - L["shoulder_drop"] * up
        hip = pelvis + sg * L["hip"] * width_f * lateral
        if upper_body:
            a1 = _mixture(rng, [(0.6, -15, 35), (0.3, 35, 80), (0.1, 80, 150)])
        else:
            a1 = _mixture(rng, [(0.55, -15, 60), (0.3, 60, 120), (0.15, 120, 175)])
        if facing == "profile":
            # Arms swing forward/back in the sagittal plane: absolute image direction.
            ua = down_deg - profile_dir * rng.uniform(-50, 110)
        else:
            ua = down_deg - sg * a1
        elb = sho + seg("upper_arm") * unit_vector(ua)
        a2 = _mixture(rng, [(0.4, -20, 20), (0.35, 20, 145), (0.25, -145, -20)])
        wri = elb + seg("forearm") * unit_vector(ua - sg * a2)
        if facing == "profile":
            th = down_deg - profile_dir * rng.uniform(-35, 70)  # + = thigh forward
        else:
            th = down_deg - sg * _mixture(rng, [(0.65, -10, 25), (0.25, 25, 60), (0.1, 60, 105)])
        kne = hip + seg("thigh") * unit_vector(th)
        b2 = _mixture(rng, [(0.55, -10, 10), (0.45, 10, 120)])
        ank = kne + seg("shin") * unit_vector(th + knee_dir * b2)
        for name, p in (
            ("shoulder", sho),
            ("elbow", elb),
            ("wrist", wri),
            ("hip", hip),
            ("knee", kne),
            ("ankle", ank),
        ):
            J[JOINT[f"{s}_{name}"]] = p

    # Face landmarks (FLIC labels them); eyes on the person's own left/right.
    h = head_top - neck
    hl = float(np.linalg.norm(h)) + 1e-9
    hu, hx = h / hl, np.array([-h[1], h[0]]) / hl  # hx: image right for an upright head
    centre = neck + 0.55 * h
    if facing == "profile":
        eyes = np.stack([centre + 0.05 * hl * hu + profile_dir * 0.2 * hl * hx] * 2)
        nose = centre - 0.1 * hl * hu + profile_dir * 0.33 * hl * hx
    else:
        eyes = np.stack([centre + 0.05 * hl * hu + sigma[s] * 0.15 * hl * hx for s in ("l", "r")])
        nose = centre - 0.12 * hl * hu

    behind: set[str] = set()
    for limb in ("r_arm", "l_arm", "r_leg", "l_leg"):
        side = limb[0]
        if facing == "profile":
            # The far side of a profile figure is behind the torso.
            if (sigma[side] > 0) != (profile_dir > 0):
                behind.add(limb)
        elif rng.random() < diff.behind_torso_prob:
            behind.add(limb)

    # Global rotation about the hips.
    c, s_ = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    R = np.array([[c, -s_], [s_, c]])
    return Figure(
        joints=J @ R.T,
        eyes=eyes @ R.T,
        nose=R @ nose,
        scale=scale,
        facing=facing,
        profile_dir=profile_dir if facing == "profile" else 0,
        up=R @ up,
        behind=frozenset(behind),
        palette=sample_palette(rng),
    )


def translate(fig: Figure, offset: np.ndarray) -> None:
    """Move a figure in place."""
    fig.joints = fig.joints + offset
    fig.eyes = fig.eyes + offset
    fig.nose = fig.nose + offset


def figure_extent(fig: Figure) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (min, max) corners of the joints padded by the head and limb widths."""
    pad = 0.07 * fig.scale
    return fig.joints.min(0) - pad, fig.joints.max(0) + pad

"""Pose sampling and drawing for the synthetic articulated-figure datasets.

The figures are stick-and-blob people drawn with OpenCV primitives. The point is not realism
but the *kind* of difficulty real pose data has, so that a spatial model has errors to fix:

- Left and right limbs share colour, width and texture; only context (which way the figure
  faces, where the torso is) tells them apart. Figures face the viewer or away, which swaps
  the image side of anatomical left and right. The head carries the facing cue (face + hair
  cap when facing the viewer, all hair when facing away), so the cue is usually far from the
  wrists and ankles.
- Backgrounds are textured and cluttered, with limb-like distractors that use the figure's
  own palette (loose sticks, fake two-segment "arms" ending in a hand blob).
- Joints are occluded by the figure itself (limbs drawn behind the torso or behind each
  other), by foreground distractors and by occluding blobs. Visibility is read from a part-id
  map drawn alongside the image, so the LSP occlusion flag is exact.
- Poses come from a kinematic tree with anatomical-ish angle limits, ±15 % proportions,
  out-of-plane foreshortening, profile views with narrow torsos and striding legs.

Everything random comes from the ``numpy.random.Generator`` passed in, so a scene is a pure
function of its seed. All coordinates are float image pixels; drawing uses ``shift=4``
sub-pixel precision so labels and pixels agree to 1/16 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np

from posehybrid.data.skeleton import LSP

# Sub-pixel drawing: OpenCV takes fixed-point integer coordinates with SHIFT fractional bits.
SHIFT = 4
_ONE = 1 << SHIFT

_J = {name: LSP.index(name) for name in LSP.joints}

# Nominal segment lengths and widths as fractions of the figure scale S (standing height
# head-top-to-ankle is about 0.94 S). Adult proportions, roughly from anthropometric tables.
BASE_LENGTHS = {
    "torso": 0.30,  # neck -> mid-hip
    "head": 0.16,  # neck -> head top
    "shoulder": 0.105,  # half shoulder width
    "shoulder_drop": 0.025,  # shoulders sit a little below the neck point
    "hip": 0.075,  # half hip width
    "upper_arm": 0.165,
    "forearm": 0.15,
    "thigh": 0.24,
    "shin": 0.24,
}
WIDTHS = {
    "upper_arm": 0.062,
    "forearm": 0.05,
    "thigh": 0.088,
    "shin": 0.066,
    "neck": 0.05,
    "hand": 0.03,
    "foot": 0.058,
    "head_w": 0.062,
}

# Colour tables (BGR). Skin tones span light to dark; hair is dark or blond.
SKIN = np.array(
    [[189, 205, 241], [150, 180, 224], [120, 150, 198], [90, 120, 170], [60, 85, 125]], float
)
HAIR = np.array([[20, 20, 25], [30, 45, 70], [40, 70, 110], [90, 150, 200], [60, 60, 60]], float)

# Part ids in the id map. Figure parts are ``base + k``; figures use bases 1, 21, 41, ...
# Distractors drawn in front of a figure and occluders get ids no figure part uses.
ID_DISTRACTOR = 254
ID_OCCLUDER = 255
P_TORSO, P_HEAD, P_NECK = 0, 1, 2
P_LIMB = {  # (side, segment) -> part offset
    ("r", "upper_arm"): 3,
    ("r", "forearm"): 4,
    ("r", "hand"): 5,
    ("l", "upper_arm"): 6,
    ("l", "forearm"): 7,
    ("l", "hand"): 8,
    ("r", "thigh"): 9,
    ("r", "shin"): 10,
    ("r", "foot"): 11,
    ("l", "thigh"): 12,
    ("l", "shin"): 13,
    ("l", "foot"): 14,
}


def _owners() -> list[tuple[int, ...]]:
    """Part offsets whose pixels count as "this joint is visible", per LSP joint."""
    own: list[tuple[int, ...]] = [()] * len(LSP.joints)
    for s in ("r", "l"):
        own[_J[f"{s}_shoulder"]] = (P_TORSO, P_LIMB[s, "upper_arm"])
        own[_J[f"{s}_elbow"]] = (P_LIMB[s, "upper_arm"], P_LIMB[s, "forearm"])
        own[_J[f"{s}_wrist"]] = (P_LIMB[s, "forearm"], P_LIMB[s, "hand"])
        own[_J[f"{s}_hip"]] = (P_TORSO, P_LIMB[s, "thigh"])
        own[_J[f"{s}_knee"]] = (P_LIMB[s, "thigh"], P_LIMB[s, "shin"])
        own[_J[f"{s}_ankle"]] = (P_LIMB[s, "shin"], P_LIMB[s, "foot"])
    own[_J["neck"]] = (P_TORSO, P_NECK, P_HEAD)
    own[_J["head_top"]] = (P_HEAD,)
    return own


JOINT_OWNERS = _owners()
# Extremities get occluded more often: that is where real data is hard too.
_OCCLUSION_TARGET_WEIGHTS = np.array([3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2, 3, 1, 1], float)
_OCCLUSION_TARGET_WEIGHTS /= _OCCLUSION_TARGET_WEIGHTS.sum()


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the synthetic LSP-style data. Every field is part of the cache hash.

    Ranges are ``(low, high)`` for uniform draws. Lengths are fractions of the image size
    (``figure_height``, ``position_jitter``) or of the figure scale (occluder sizes).
    """

    figure_height: tuple[float, float] = (0.6, 0.85)  # nominal standing height / image size
    rotation_deg: float = 20.0  # global in-plane rotation, uniform in ±this
    large_rotation_prob: float = 0.04  # falls/cartwheels: rotation uniform in ±120°
    lean_deg: float = 8.0  # torso lean std
    position_jitter: float = 0.06  # how far the figure's box may stray past the border
    proportion_jitter: float = 0.15  # per-figure segment length factor 1 ± this
    foreshortening_prob: float = 0.3  # per segment: out-of-plane, length × U(0.55, 1)
    profile_prob: float = 0.12  # side view: narrow torso, striding legs, far limbs hidden
    face_away_prob: float = 0.2  # back view: image sides of left/right swap
    behind_torso_prob: float = 0.2  # per limb, frontal views: drawn behind the torso
    distractors: tuple[int, int] = (2, 6)  # limb-like sticks/arms/blobs per image
    distractor_own_palette: float = 0.6  # chance a distractor copies the figure's colours
    distractor_front_prob: float = 0.12  # a distractor drawn over the figure
    clutter: tuple[int, int] = (4, 10)  # background rectangles/ellipses/lines
    occlusion_prob: float = 0.4  # chance of occluding blobs in an image
    max_occluders: int = 2
    occluder_size: tuple[float, float] = (0.07, 0.18)  # fraction of figure scale
    blur_sigma: tuple[float, float] = (0.0, 0.9)
    noise_std: float = 6.0  # per-pixel Gaussian noise, grey levels
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        # Hydra hands lists (ListConfig); normalise so hashing and equality are stable.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(f.default, tuple):
                v = tuple(type(d)(x) for d, x in zip(f.default, v, strict=True))
            else:
                v = type(f.default)(v)
            object.__setattr__(self, f.name, v)
        for name in ("figure_height", "distractors", "clutter", "occluder_size", "blur_sigma"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise ValueError(f"Difficulty.{name} must be (low, high) with 0 <= low <= high")
        probs = [f.name for f in fields(self) if f.name.endswith("_prob")]
        for name in probs:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Difficulty.{name} must be a probability in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("Difficulty.jpeg_quality must be in 1..100")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


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


def _unit(deg: float) -> np.ndarray:
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
    up = _unit(up_deg)
    lateral = _unit(up_deg + 90.0)  # image right for an upright figure
    down_deg = up_deg + 180.0
    pelvis = np.zeros(2)
    neck = pelvis + L["torso"] * up
    head_deg = up_deg + float(np.clip(rng.normal(0, 12), -35, 35))
    head_top = neck + L["head"] * _unit(head_deg)

    # Knees flex towards one image side in profile; frontal knees bend little either way.
    knee_dir = profile_dir if facing == "profile" else (1 if rng.random() < 0.5 else -1)
    J = np.zeros((len(LSP.joints), 2))
    J[_J["neck"]], J[_J["head_top"]] = neck, head_top
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
        elb = sho + seg("upper_arm") * _unit(ua)
        a2 = _mixture(rng, [(0.4, -20, 20), (0.35, 20, 145), (0.25, -145, -20)])
        wri = elb + seg("forearm") * _unit(ua - sg * a2)
        if facing == "profile":
            th = down_deg - profile_dir * rng.uniform(-35, 70)  # + = thigh forward
        else:
            th = down_deg - sg * _mixture(rng, [(0.65, -10, 25), (0.25, 25, 60), (0.1, 60, 105)])
        kne = hip + seg("thigh") * _unit(th)
        b2 = _mixture(rng, [(0.55, -10, 10), (0.45, 10, 120)])
        ank = kne + seg("shin") * _unit(th + knee_dir * b2)
        for name, p in (
            ("shoulder", sho),
            ("elbow", elb),
            ("wrist", wri),
            ("hip", hip),
            ("knee", kne),
            ("ankle", ank),
        ):
            J[_J[f"{s}_{name}"]] = p

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


# ---------------------------------------------------------------------------------------------
# Drawing primitives: every shape goes to the colour image and (optionally) to the id map.


def _fx(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0]) * _ONE), round(float(p[1]) * _ONE)


def _col(c: np.ndarray) -> tuple[float, float, float]:
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
    a, b = _fx(p), _fx(q)
    cv2.line(img, a, b, _col(colour), t, cv2.LINE_AA, SHIFT)
    if t >= 3:
        hi = np.minimum(colour * 1.25 + 12, 255)
        cv2.line(img, a, b, _col(hi), max(1, t // 3), cv2.LINE_AA, SHIFT)
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
    ax = (max(1, round(float(axes[0]) * _ONE)), max(1, round(float(axes[1]) * _ONE)))
    cv2.ellipse(img, _fx(centre), ax, angle_deg, 0, 360, _col(colour), -1, cv2.LINE_AA, SHIFT)
    if ids is not None:
        cv2.ellipse(ids, _fx(centre), ax, angle_deg, 0, 360, part_id, -1, cv2.LINE_8, SHIFT)


def _angle(v: np.ndarray) -> float:
    return math.degrees(math.atan2(float(v[1]), float(v[0])))


def draw_limb(
    img: np.ndarray, ids: np.ndarray | None, fig: Figure, side: str, kind: str, base: int
) -> None:
    """Draw an arm or a leg with its hand/foot and small joint knobs."""
    S, pal = fig.scale, fig.palette
    if kind == "arm":
        a, b, c = (fig.joints[_J[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
        seg1, seg2, end = "upper_arm", "forearm", "hand"
    else:
        a, b, c = (fig.joints[_J[f"{side}_{n}"]] for n in ("hip", "knee", "ankle"))
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
            other = fig.joints[_J[("l" if side == "r" else "r") + "_hip"]]
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
    rs, ls, rh, lh = (J[_J[n]] for n in ("r_shoulder", "l_shoulder", "r_hip", "l_hip"))

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
    poly = np.round(quad * _ONE).astype(np.int32)
    cv2.fillPoly(img, [poly], _col(pal["torso"]), cv2.LINE_AA, SHIFT)
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
    neck, top = J[_J["neck"]], J[_J["head_top"]]
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


# ---------------------------------------------------------------------------------------------
# Backgrounds, distractors, occluders


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
        col = _col(rng.uniform(0, 255, 3))
        kind = rng.integers(3)
        c = rng.uniform([0, 0], [w, h])
        size = rng.uniform(0.05, 0.35) * scale
        if kind == 0:
            d = rng.uniform(0.3, 1.0, 2) * size
            ang = rng.uniform(0, 180)
            box = cv2.boxPoints(
                ((float(c[0]), float(c[1])), (float(d[0]) * 2, float(d[1]) * 2), ang)
            )
            cv2.fillConvexPoly(img, np.round(box * _ONE).astype(np.int32), col, cv2.LINE_AA, SHIFT)
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
            d = _unit(rng.uniform(0, 360)) * size * 2
            t = max(1, int(rng.uniform(0.005, 0.03) * scale))
            cv2.line(img, _fx(c), _fx(c + d), col, t, cv2.LINE_AA, SHIFT)
    return img


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
        q = p + _unit(rng.uniform(0, 360)) * BASE_LENGTHS[seg] * S * rng.uniform(0.6, 1.2)
        stick(img, ids, p, q, WIDTHS[seg] * S, col, ID_DISTRACTOR)
    elif kind == 1:
        arm = rng.random() < 0.65
        s1, s2 = ("upper_arm", "forearm") if arm else ("thigh", "shin")
        c1 = pal[s1] if own else rng.uniform(0, 255, 3)
        c2 = pal[s2] if own else c1
        a = rng.uniform(0, 360)
        q = p + _unit(a) * BASE_LENGTHS[s1] * S * rng.uniform(0.6, 1.1)
        a2 = a + rng.uniform(-140, 140)
        r = q + _unit(a2) * BASE_LENGTHS[s2] * S * rng.uniform(0.6, 1.1)
        stick(img, ids, p, q, WIDTHS[s1] * S, c1, ID_DISTRACTOR)
        stick(img, ids, q, r, WIDTHS[s2] * S, c2, ID_DISTRACTOR)
        if arm:
            rad = WIDTHS["hand"] * S
            blob(
                img,
                ids,
                r + _unit(a2) * rad * 0.8,
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
                r + _unit(a2 + 90) * 0.45 * L,
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
        box = np.round(cv2.boxPoints((c, (float(d[0]) * 2, float(d[1]) * 2), ang)) * _ONE).astype(
            np.int32
        )
        cv2.fillConvexPoly(img, box, _col(col), cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(ids, box, ID_OCCLUDER, cv2.LINE_8, SHIFT)
    else:
        blob(img, ids, centre, (float(d[0]), float(d[1])), ang, col, ID_OCCLUDER)
    # Stripes so the occluder is textured like clutter rather than a flat "ignore me" patch.
    if rng.random() < 0.5:
        mask = (ids == ID_OCCLUDER).astype(np.uint8)
        stripe = np.zeros_like(img)
        step = max(2, int(rng.uniform(0.03, 0.07) * scale))
        v = _unit(ang)
        for k in range(-8, 9):
            o = centre + np.array([-v[1], v[0]]) * k * step
            cv2.line(
                stripe,
                _fx(o - v * scale),
                _fx(o + v * scale),
                _col(col * 0.6 - col),
                max(1, step // 2),
                cv2.LINE_AA,
                SHIFT,
            )
        img += stripe * mask[..., None]


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


# ---------------------------------------------------------------------------------------------
# Scenes


def render_lsp_image(
    rng: np.random.Generator, size: int, diff: Difficulty
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One person-centred square image, LSP style.

    Returns:
        image (size, size, 3) uint8 BGR, joints (14, 2) float64 px, visible (14,) bool.
    """
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
            j = rng.choice(len(LSP.joints), p=_OCCLUSION_TARGET_WEIGHTS)
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
        neck = fig.joints[_J["neck"]]
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

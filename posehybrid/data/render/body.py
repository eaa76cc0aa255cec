"""Body proportions, colours and part ids shared by every drawing step."""

from __future__ import annotations

import numpy as np

from posehybrid.data.skeleton import LSP

# Sub-pixel drawing: OpenCV takes fixed-point integer coordinates with SHIFT fractional bits.
SHIFT = 4
ONE = 1 << SHIFT

JOINT = {name: LSP.index(name) for name in LSP.joints}

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
# (side, segment) -> part offset: the right arm 3-5, left arm 6-8, right leg 9-11, left leg 12-14
LIMB_SEGMENTS = (("upper_arm", "forearm", "hand"), ("thigh", "shin", "foot"))
P_LIMB = {
    (side, seg): 3 + 6 * limb + 3 * k + i
    for limb, segments in enumerate(LIMB_SEGMENTS)
    for k, side in enumerate("rl")
    for i, seg in enumerate(segments)
}


def _owners() -> list[tuple[int, ...]]:
    """Part offsets whose pixels count as "this joint is visible", per LSP joint."""
    own: list[tuple[int, ...]] = [()] * len(LSP.joints)
    for s in ("r", "l"):
        own[JOINT[f"{s}_shoulder"]] = (P_TORSO, P_LIMB[s, "upper_arm"])
        own[JOINT[f"{s}_elbow"]] = (P_LIMB[s, "upper_arm"], P_LIMB[s, "forearm"])
        own[JOINT[f"{s}_wrist"]] = (P_LIMB[s, "forearm"], P_LIMB[s, "hand"])
        own[JOINT[f"{s}_hip"]] = (P_TORSO, P_LIMB[s, "thigh"])
        own[JOINT[f"{s}_knee"]] = (P_LIMB[s, "thigh"], P_LIMB[s, "shin"])
        own[JOINT[f"{s}_ankle"]] = (P_LIMB[s, "shin"], P_LIMB[s, "foot"])
    own[JOINT["neck"]] = (P_TORSO, P_NECK, P_HEAD)
    own[JOINT["head_top"]] = (P_HEAD,)
    return own


JOINT_OWNERS = _owners()
# Extremities get occluded more often: that is where real data is hard too.
OCCLUSION_TARGET_WEIGHTS = np.array([3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2, 3, 1, 1], float)
OCCLUSION_TARGET_WEIGHTS /= OCCLUSION_TARGET_WEIGHTS.sum()

"""Declarative joint sets: the one place that knows joint names, flip pairs, links and the torso.

Everything else (flip augmentation, PCK normalisation, part grouping, drawing, the spatial
model's graph) looks joints up here by *name*, so a new dataset only adds a ``JointSet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class JointSet:
    """A named set of joints.

    Attributes:
        name: identifier stored in checkpoints (``"lsp"``, ``"flic"``) to catch mismatches.
        joints: joint names in the dataset's array order.
        flip_pairs: (left, right) name pairs swapped by a horizontal flip.
        links: (a, b) name pairs: the skeleton's edges, used for drawing and as the spatial
            model's default neighbour graph.
        torso: (a, b) names whose distance normalises PCK (LSP: L-shoulder to R-hip).
        parts: reported part name -> joint names averaged into it (e.g. head = neck + head top).
        head: (a, b) names whose distance normalises PCKh, when the set has them.
    """

    name: str
    joints: tuple[str, ...]
    flip_pairs: tuple[tuple[str, str], ...]
    links: tuple[tuple[str, str], ...]
    torso: tuple[str, str]
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    head: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        known = set(self.joints)
        if len(known) != len(self.joints):
            raise ValueError(f"joint set {self.name!r}: duplicate joint names")
        named = [n for pair in (*self.flip_pairs, *self.links, self.torso) for n in pair]
        named += [n for group in self.parts.values() for n in group]
        unknown = sorted(set(named) - known)
        if unknown:
            raise ValueError(f"joint set {self.name!r}: unknown joint names {unknown}")

    def __len__(self) -> int:
        return len(self.joints)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        try:
            return self.joints.index(name)
        except ValueError:
            raise KeyError(
                f"joint {name!r} is not in joint set {self.name!r}; known: {list(self.joints)}"
            ) from None

    def indices(self, names: tuple[str, ...] | list[str]) -> list[int]:
        return [self.index(n) for n in names]

    @cached_property
    def flip_permutation(self) -> list[int]:
        """``perm[j]`` is the joint that lands on channel ``j`` after a horizontal flip."""
        perm = list(range(len(self.joints)))
        for a, b in self.flip_pairs:
            ia, ib = self.index(a), self.index(b)
            perm[ia], perm[ib] = ib, ia
        return perm

    @cached_property
    def link_indices(self) -> list[tuple[int, int]]:
        return [(self.index(a), self.index(b)) for a, b in self.links]

    @cached_property
    def torso_indices(self) -> tuple[int, int]:
        return self.index(self.torso[0]), self.index(self.torso[1])

    @cached_property
    def part_indices(self) -> dict[str, list[int]]:
        return {part: self.indices(names) for part, names in self.parts.items()}

    def neighbours(self) -> dict[int, list[int]]:
        """Adjacency of the skeleton links, by joint index."""
        adj: dict[int, list[int]] = {i: [] for i in range(len(self.joints))}
        for a, b in self.link_indices:
            adj[a].append(b)
            adj[b].append(a)
        return adj


def sided(*parts: str) -> dict[str, tuple[str, str]]:
    """Parts made of a left and a right joint: ``"knee"`` -> ``("l_knee", "r_knee")``."""
    return {part: (f"l_{part}", f"r_{part}") for part in parts}


LSP = JointSet(
    name="lsp",
    joints=(
        "r_ankle",
        "r_knee",
        "r_hip",
        "l_hip",
        "l_knee",
        "l_ankle",
        "r_wrist",
        "r_elbow",
        "r_shoulder",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "neck",
        "head_top",
    ),
    flip_pairs=(
        ("l_ankle", "r_ankle"),
        ("l_knee", "r_knee"),
        ("l_hip", "r_hip"),
        ("l_wrist", "r_wrist"),
        ("l_elbow", "r_elbow"),
        ("l_shoulder", "r_shoulder"),
    ),
    links=(
        ("r_ankle", "r_knee"),
        ("r_knee", "r_hip"),
        ("l_hip", "l_knee"),
        ("l_knee", "l_ankle"),
        ("r_wrist", "r_elbow"),
        ("r_elbow", "r_shoulder"),
        ("l_shoulder", "l_elbow"),
        ("l_elbow", "l_wrist"),
        ("r_shoulder", "neck"),
        ("l_shoulder", "neck"),
        ("neck", "head_top"),
        ("r_hip", "r_shoulder"),
        ("l_hip", "l_shoulder"),
        ("r_hip", "l_hip"),
    ),
    torso=("l_shoulder", "r_hip"),
    parts={
        "head": ("neck", "head_top"),
        **sided("shoulder", "elbow", "wrist", "hip", "knee", "ankle"),
    },
)

# FLIC labels 11 of its 29 columns; ``FLIC_COLUMNS`` maps our order to the .mat columns.
FLIC = JointSet(
    name="flic",
    joints=(
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "r_shoulder",
        "r_elbow",
        "r_wrist",
        "l_hip",
        "r_hip",
        "l_eye",
        "r_eye",
        "nose",
    ),
    flip_pairs=(
        ("l_shoulder", "r_shoulder"),
        ("l_elbow", "r_elbow"),
        ("l_wrist", "r_wrist"),
        ("l_hip", "r_hip"),
        ("l_eye", "r_eye"),
    ),
    links=(
        ("l_shoulder", "l_elbow"),
        ("l_elbow", "l_wrist"),
        ("r_shoulder", "r_elbow"),
        ("r_elbow", "r_wrist"),
        ("l_shoulder", "r_shoulder"),
        ("l_shoulder", "l_hip"),
        ("r_shoulder", "r_hip"),
        ("l_hip", "r_hip"),
        ("l_eye", "r_eye"),
        ("l_eye", "nose"),
        ("r_eye", "nose"),
        ("nose", "l_shoulder"),
        ("nose", "r_shoulder"),
    ),
    torso=("l_shoulder", "r_hip"),
    parts={**sided("shoulder", "elbow", "wrist", "hip", "eye"), "nose": ("nose",)},
)
FLIC_COLUMNS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16)

JOINT_SETS: dict[str, JointSet] = {js.name: js for js in (LSP, FLIC)}


def get_joint_set(name: str) -> JointSet:
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise KeyError(f"unknown joint set {name!r}; known: {sorted(JOINT_SETS)}") from None


def joint_links(name: str) -> list[tuple[int, int]]:
    """The skeleton links of joint set ``name`` by joint index: what ``conf/model/*.yaml``'s
    spatial graph (``models.graph.build_edges``) is built from."""
    return get_joint_set(name).link_indices


def flip_pair_indices(name: str) -> list[tuple[int, int]]:
    """The (left, right) pairs of joint set ``name`` by joint index: what the mixture spatial
    model (``models.mixture_spatial``) clusters its pose types on."""
    js = get_joint_set(name)
    return [(js.index(a), js.index(b)) for a, b in js.flip_pairs]

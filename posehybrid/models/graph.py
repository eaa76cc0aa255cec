"""Edge lists of the spatial model's graph.

An edge ``(A, v)`` means "a message from joint v to joint A": the spatial model convolves the
detector's heat-map of v with the kernel ``w_{A|v}`` and adds the log of the result to A's score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

GraphMode = Literal["tree", "full", "explicit"]


def build_edges(
    num_joints: int,
    links: Iterable[Sequence[int]] = (),
    mode: GraphMode = "tree",
    explicit: Iterable[Sequence[int]] | None = None,
    self_edges: bool = True,
) -> list[tuple[int, int]]:
    """Build the (A, v) edge list, sorted by (A, v), without duplicates.

    Args:
        num_joints: J.
        links: undirected skeleton links (a, b) by joint index (``JointSet.link_indices``).
        mode: ``"tree"``: A's own map plus its skeleton neighbours, both directions;
            ``"full"``: all J·J ordered pairs; ``"explicit"``: exactly ``explicit`` (directed).
        explicit: the (A, v) pairs for ``mode="explicit"``.
        self_edges: include (A, A) for every joint (added in every mode when True; removed in
            every mode when False). Design §4: without the self-edge the model cannot localise.
    """
    edges: set[tuple[int, int]] = set()
    if mode == "tree":
        for a, b in links:
            a, b = int(a), int(b)
            if a != b:
                edges.add((a, b))
                edges.add((b, a))
    elif mode == "full":
        edges = {(a, v) for a in range(num_joints) for v in range(num_joints)}
    elif mode == "explicit":
        if explicit is None:
            raise ValueError("graph mode 'explicit' needs an explicit edge list")
        edges = {(int(a), int(v)) for a, v in explicit}
    else:
        raise ValueError(f"unknown graph mode {mode!r}; expected tree, full or explicit")
    for a, v in edges:
        if not (0 <= a < num_joints and 0 <= v < num_joints):
            raise ValueError(f"edge {(a, v)} out of range for {num_joints} joints")
    if self_edges:
        edges |= {(a, a) for a in range(num_joints)}
    else:
        edges = {(a, v) for a, v in edges if a != v}
    missing = sorted(set(range(num_joints)) - {a for a, _ in edges})
    if missing:
        raise ValueError(f"joints {missing} receive no message; every joint needs >= 1 edge")
    return sorted(edges)


def neighbour_pairs(links: Iterable[Sequence[int]]) -> set[tuple[int, int]]:
    """Both directions of every skeleton link, as a set of (A, v)."""
    out: set[tuple[int, int]] = set()
    for a, b in links:
        out.add((int(a), int(b)))
        out.add((int(b), int(a)))
    return out


__all__ = ["GraphMode", "build_edges", "neighbour_pairs"]

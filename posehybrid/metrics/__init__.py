"""Evaluation metrics: PCK (torso/head/bbox-normalised) and strict PCP, as torchmetrics Metrics."""

from __future__ import annotations

from posehybrid.metrics.pck import (
    DEFAULT_THRESHOLDS,
    PCK,
    alpha_key,
    bbox_lengths,
    head_lengths,
    pck_correct,
    segment_lengths,
    torso_lengths,
)
from posehybrid.metrics.pcp import LSP_STICKS, PCP, pcp_correct, stick_weights

__all__ = [
    "DEFAULT_THRESHOLDS",
    "LSP_STICKS",
    "PCK",
    "PCP",
    "alpha_key",
    "bbox_lengths",
    "head_lengths",
    "pck_correct",
    "pcp_correct",
    "segment_lengths",
    "stick_weights",
    "torso_lengths",
]

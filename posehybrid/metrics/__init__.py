"""Evaluation metrics: PCK (torso/head/bbox-normalised) and strict PCP, as torchmetrics Metrics;
candidate recall (the best of a map's top-k peaks) and error types (jitter, left/right inversion,
miss), diagnostics."""

from __future__ import annotations

from posehybrid.metrics.candidates import CandidateRecall, nearest_candidate, peak_candidates
from posehybrid.metrics.error_types import ERROR_TYPES, ErrorTypes, classify_errors
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
    "ERROR_TYPES",
    "LSP_STICKS",
    "PCK",
    "PCP",
    "CandidateRecall",
    "ErrorTypes",
    "alpha_key",
    "bbox_lengths",
    "classify_errors",
    "head_lengths",
    "nearest_candidate",
    "pck_correct",
    "pcp_correct",
    "peak_candidates",
    "segment_lengths",
    "stick_weights",
    "torso_lengths",
]

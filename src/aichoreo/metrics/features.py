"""Feature matrices for sets of motions: one kinetic or geometric vector per sequence."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from aichoreo.metrics.geometric import manual_features
from aichoreo.metrics.kinetic import kinetic_features

__all__ = ["FEATURE_KINDS", "extract_features"]

FEATURE_KINDS = ("kinetic", "manual")


def extract_features(motions: Iterable[np.ndarray], kind: str = "kinetic", *, fps: float = 60.0,
                     up_axis: int = 1, variant: str = "reference") -> np.ndarray:
    """Stack the features of several motions: each ``(T_i, 24, 3)`` metres -> ``(N, 72)`` or ``(N, 32)`` float64.

    ``kind`` "kinetic" (:func:`kinetic_features`) or "manual" (:func:`manual_features`,
    the geometric features); ``fps``, ``up_axis`` and ``variant`` are passed on.
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {kind!r}")
    extract = kinetic_features if kind == "kinetic" else manual_features
    rows = [extract(m, fps=fps, up_axis=up_axis, variant=variant) for m in motions]
    if not rows:
        raise ValueError("extract_features: no motions given")
    return np.stack(rows)

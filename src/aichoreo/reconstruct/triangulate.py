"""Robust multi-view triangulation of 2D keypoints, vectorised over frames and joints.

Per point (frame, joint) the 3D position is the confidence-weighted linear (DLT) solution
over the views that saw it, computed for all points at once with one batched SVD; views
whose reprojection error stays above a threshold are then dropped one at a time, worst
first, and the point re-triangulated, as long as ``min_views`` views remain.

Missing data: a view's detection is missing where x, y or confidence is NaN, or the
confidence is below ``min_confidence`` (0.15: google/aistplusplus_api
``processing/run_estimate_keypoints.py``). A point seen by fewer than ``min_views`` usable
views is NaN in the output, with ``n_views_used`` 0 and NaN reprojection error; a view with
no detections at all simply contributes nothing.

Units: 3D points come out in the cameras' world units (AIST++: cm), reprojection errors
in pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from aichoreo.reconstruct.cameras import project, projection_matrices, undistort

__all__ = ["Triangulation", "triangulate", "dlt", "valid_detections", "MIN_CONFIDENCE",
           "REPROJECTION_THRESHOLD_PX"]  # fmt: skip

log = logging.getLogger(__name__)

MIN_CONFIDENCE = 0.15  # run_estimate_keypoints.py: keypoints below this are dropped
# Reprojection error (px) above which a view is an outlier: the threshold of aniposelib's
# CameraGroup.optim_points soft-L1 loss (aniposelib 0.8.0 cameras.py). AIST++'s final fits
# average 6.2 px (reference.md §9), so honest detections rarely exceed it at 1920x1080.
REPROJECTION_THRESHOLD_PX = 15.0


@dataclass(frozen=True)
class Triangulation:
    """Result of :func:`triangulate` for V views, N frames, J joints.

    Attributes:
        points: ``(N, J, 3)`` float64 world units (the cameras'); NaN where fewer than
            ``min_views`` usable views remained.
        reprojection_error: ``(N, J)`` float64 pixels: mean distance between the detections
            of the views used and the projection of the point; NaN where ``points`` is.
        n_views_used: ``(N, J)`` int64 views the final point was triangulated from.
        used: ``(V, N, J)`` bool: detections used for the final point.
        rejected: ``(V, N, J)`` bool: usable detections dropped as outliers.
    """

    points: np.ndarray
    reprojection_error: np.ndarray
    n_views_used: np.ndarray
    used: np.ndarray
    rejected: np.ndarray


def valid_detections(keypoints2d: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """``(V, N, J)`` bool: finite x, y and confidence at or above ``min_confidence``.

    ``keypoints2d`` ``(V, N, J, 3)`` x, y px and confidence, or ``(V, N, J, 2)`` (all confident).
    """
    kp = np.asarray(keypoints2d)
    ok = np.all(np.isfinite(kp[..., :2]), axis=-1)
    if kp.shape[-1] == 3:
        with np.errstate(invalid="ignore"):
            ok &= np.isfinite(kp[..., 2]) & (kp[..., 2] >= min_confidence)
    return ok


def _normaliser(extrinsics: np.ndarray) -> tuple[np.ndarray, float]:
    """World centre and scale for a well-conditioned DLT: the camera centres' mean and spread."""
    rot, trans = extrinsics[:, :, :3], extrinsics[:, :, 3]
    centres = -np.einsum("vji,vj->vi", rot, trans)  # C = -R^T t
    centre = centres.mean(axis=0)
    scale = float(np.mean(np.linalg.norm(centres - centre, axis=1)))
    return centre, (scale if scale > 0 else 1.0)


def dlt(extrinsics: np.ndarray, uv: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted linear triangulation of many points at once.

    Args:
        extrinsics: ``(V, 3, 4)`` ``[R | t]`` world -> camera.
        uv: ``(V, M, 2)`` normalised (undistorted) image coordinates; values where the
            weight is 0 are ignored (NaN allowed there).
        weights: ``(V, M)`` non-negative weight of each view's two equations.

    Returns:
        ``(M, 3)`` float64 world points (NaN where fewer than two views have weight).

    Each view contributes ``w (u P_2 - P_0)`` and ``w (v P_2 - P_1)`` to a ``(2V, 4)``
    system whose least singular vector is the homogeneous point; world coordinates are
    centred and scaled on the cameras first (Hartley normalisation).
    """
    centre, scale = _normaliser(extrinsics)
    # P [c + s X'; 1] = [s R | R c + t] [X'; 1]
    proj = np.concatenate([scale * extrinsics[:, :, :3],
                           (extrinsics[:, :, :3] @ centre + extrinsics[:, :, 3])[:, :, None]], axis=2)  # fmt: skip
    w = np.where(weights > 0, weights, 0.0)
    uv = np.where((w > 0)[..., None], uv, 0.0)
    rows_u = uv[..., 0:1] * proj[:, None, 2] - proj[:, None, 0]  # (V, M, 4)
    rows_v = uv[..., 1:2] * proj[:, None, 2] - proj[:, None, 1]
    a = np.concatenate([rows_u * w[..., None], rows_v * w[..., None]], axis=0)  # (2V, M, 4)
    a = np.ascontiguousarray(np.swapaxes(a, 0, 1))  # (M, 2V, 4)
    out = np.full((a.shape[0], 3), np.nan)
    enough = np.count_nonzero(w > 0, axis=0) >= 2
    if enough.any():
        _, _, vh = np.linalg.svd(a[enough], full_matrices=False)
        h = vh[:, -1, :]  # (m, 4) homogeneous, normalised coordinates
        with np.errstate(divide="ignore", invalid="ignore"):
            out[enough] = centre + scale * h[:, :3] / h[:, 3:4]
    return out


def _view_errors(group, points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """``(V, M)`` pixel distance between detections ``(V, M, 2)`` and projected points ``(M, 3)``."""
    return np.linalg.norm(project(group, points) - pixels, axis=-1)


def triangulate(
    group,
    keypoints2d: np.ndarray,
    *,
    min_confidence: float = MIN_CONFIDENCE,
    reprojection_threshold_px: float = REPROJECTION_THRESHOLD_PX,
    min_views: int = 2,
    weighted: bool = True,
) -> Triangulation:
    """Triangulate 2D keypoints from calibrated views, rejecting outlier views.

    Args:
        group: aniposelib ``CameraGroup`` with V cameras, in the order of ``keypoints2d``.
        keypoints2d: ``(V, N, J, 3)`` x, y pixels and confidence (or ``(V, N, J, 2)``:
            every finite detection has confidence 1). NaN = missing.
        min_confidence: detections below it are missing.
        reprojection_threshold_px: a view whose reprojection error exceeds this is dropped
            (worst first, then the point is re-triangulated) while more than
            ``min_views`` views remain; ``inf`` disables outlier rejection.
        min_views: fewest views a point is triangulated from (>= 2).
        weighted: weight each view's equations by its confidence (else all 1).

    Returns:
        :class:`Triangulation` (points in the cameras' units, errors in pixels).
    """
    kp = np.asarray(keypoints2d, dtype=np.float64)
    n_cams = len(group.cameras)
    if kp.ndim != 4 or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints2d: expected shape (views, frames, joints, 3), got {kp.shape}")
    if kp.shape[0] != n_cams:
        raise ValueError(f"keypoints2d has {kp.shape[0]} views but there are {n_cams} cameras")
    if min_views < 2:
        raise ValueError(f"min_views must be at least 2, got {min_views}")
    n_views, n_frames, n_joints = kp.shape[:3]
    m = n_frames * n_joints

    valid = valid_detections(kp, min_confidence).reshape(n_views, m)
    pixels = kp[..., :2].reshape(n_views, m, 2)
    conf = kp[..., 2].reshape(n_views, m) if (weighted and kp.shape[-1] == 3) else np.ones((n_views, m))
    uv = undistort(group, pixels)
    extrinsics = projection_matrices(group)

    used = valid & (np.count_nonzero(valid, axis=0) >= min_views)
    weights = np.where(used, conf, 0.0)
    points = dlt(extrinsics, uv, weights)
    errors = np.full((n_views, m), np.nan)
    has = np.isfinite(points).all(axis=1)
    used &= has
    if has.any():
        errors[:, has] = _view_errors(group, points[has], pixels[:, has])

    # Outlier rejection: drop the worst view of every point whose worst view is above the
    # threshold and that keeps at least min_views; only those points are re-solved.
    rejected = np.zeros_like(used)
    for _ in range(n_views - min_views):
        err_used = np.where(used, errors, -np.inf)
        worst = np.argmax(err_used, axis=0)
        worst_err = err_used[worst, np.arange(m)]
        redo = np.flatnonzero((worst_err > reprojection_threshold_px) & (used.sum(axis=0) > min_views))
        if redo.size == 0:
            break
        used[worst[redo], redo] = False
        rejected[worst[redo], redo] = True
        weights_redo = np.where(used[:, redo], conf[:, redo], 0.0)
        points[redo] = dlt(extrinsics, uv[:, redo], weights_redo)
        errors[:, redo] = _view_errors(group, points[redo], pixels[:, redo])
    if rejected.any():
        log.debug("rejected %d of %d detections as outliers (> %.1f px)", int(rejected.sum()),
                  int(valid.sum()), reprojection_threshold_px)  # fmt: skip

    n_used = used.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean_err = np.where(n_used > 0, np.where(used, errors, 0.0).sum(axis=0) / np.maximum(n_used, 1), np.nan)
    points[n_used < min_views] = np.nan
    return Triangulation(
        points=points.reshape(n_frames, n_joints, 3),
        reprojection_error=mean_err.reshape(n_frames, n_joints),
        n_views_used=n_used.reshape(n_frames, n_joints).astype(np.int64),
        used=used.reshape(n_views, n_frames, n_joints),
        rejected=rejected.reshape(n_views, n_frames, n_joints),
    )

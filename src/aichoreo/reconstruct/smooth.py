"""Temporal optimisation of triangulated keypoints (AIST++'s ``keypoints3d_optim``).

One least-squares problem over the whole sequence (google/aistplusplus_api
``processing/run_estimate_keypoints.py`` runs aniposelib's ``CameraGroup.triangulate_optim``;
this is the same objective written for speed)::

    reprojection  soft-L1 of each detection's residual (pixels), threshold c:
                  rho(r) = sign(r) 2c (sqrt(1 + |r| / c) - 1)
    smoothness    smooth_weight / mean|dX| * (X[n+1, j] - X[n, j])      (first differences)
    bone lengths  bone_weight * 100 (|X_a - X_b| - L_ab) / L_ab          (optional; L_ab free,
                                                                         started at the median)

The smoothness scale divides by the mean frame-to-frame motion of the (median-filtered)
start, so ``smooth_weight`` is unit-free; the defaults (4 and 2) are aniposelib 0.8.0's
``optim_points`` defaults, which AIST++ used. The start is the triangulation with gaps
interpolated linearly per joint and coordinate (held at the ends).

Differences from aniposelib, for speed (thousands of frames in seconds; see
``benchmarks/reconstruct_speed.py``): residuals are measured on undistorted detections
(normalised image coordinates times the focal length, so pixels up to lens distortion),
which makes an analytic sparse Jacobian cheap to build; it is assembled with vectorised
index arithmetic and solved by ``scipy.optimize.least_squares`` (trust region, LSMR).
aniposelib's own ``triangulate_optim`` needs jax (not a dependency here) for its start, and
builds its Jacobian pattern element by element.

Joints that were never triangulated in any frame stay NaN (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.optimize import least_squares

from aichoreo.reconstruct.cameras import projection_matrices, undistort
from aichoreo.reconstruct.triangulate import MIN_CONFIDENCE, REPROJECTION_THRESHOLD_PX, valid_detections

__all__ = ["optimize_temporal", "interpolate_gaps", "level_floor", "SMOOTH_WEIGHT", "BONE_WEIGHT"]

log = logging.getLogger(__name__)

SMOOTH_WEIGHT = 4.0  # aniposelib optim_points scale_smooth default
BONE_WEIGHT = 2.0  # aniposelib optim_points scale_length default
_MEDIAN_FRAMES = 7  # aniposelib medfilt size for the smoothness scale
# Inner LSMR iterations per trust-region step: inexact steps converge in as few outer steps
# and halve the time on 2,000 frames (measured with benchmarks/reconstruct_speed.py).
_LSMR_ITERATIONS = 50


def interpolate_gaps(points: np.ndarray) -> np.ndarray:
    """Fill NaN frames of ``(N, J, 3)`` points by linear interpolation over time per joint.

    Frames before the first (after the last) finite frame of a joint take that frame's
    value; a joint with no finite frame stays NaN.
    """
    points = np.array(points, dtype=np.float64)
    frames = np.arange(points.shape[0])
    for j in range(points.shape[1]):
        ok = np.isfinite(points[:, j]).all(axis=1)
        if ok.any() and not ok.all():
            for k in range(3):
                points[~ok, j, k] = np.interp(frames[~ok], frames[ok], points[ok, j, k])
    return points


def level_floor(
    points: np.ndarray,
    *,
    fps: float,
    foot_joints: Sequence[int],
    window_s: float | None = 4.0,
    up_axis: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Put the floor at height 0 under the lowest foot joint, following a drifting capture floor.

    Args:
        points: ``(T, J, 3)`` joints or markers (any unit); NaN = missing.
        fps: frame rate of ``points``.
        foot_joints: joints whose lowest one touches the floor when a foot is down.
        window_s: the floor at frame t is the median, over ``window_s`` seconds around t, of
            the lowest foot joint's height, then averaged over the same window: a dancer has
            a foot down most of the time, so the median ignores steps and rises, and the
            average smooths the median's steps. ``None``: one floor for the whole sequence
            (the median over it).
        up_axis: index of the vertical axis.

    Returns:
        ``(points with the floor subtracted, floor (T,))``, same dtype as ``points``
        (float64 if not floating). Frames without a foot take the interpolated floor.
    """
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points: expected shape (T, J, 3), got {points.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive and finite, got {fps}")
    if len(foot_joints) == 0:
        raise ValueError("foot_joints: name at least one joint")
    feet = points[:, list(foot_joints), up_axis].astype(np.float64)
    seen = np.isfinite(feet).any(axis=1)
    if not seen.any():
        raise ValueError("no foot joint is seen in any frame: cannot find the floor")
    lowest = np.full(len(points), np.nan)
    lowest[seen] = np.nanmin(feet[seen], axis=1)
    frames = np.arange(len(points))
    lowest = np.interp(frames, frames[seen], lowest[seen])
    if window_s is None:
        floor = np.full(len(points), np.median(lowest))
    else:
        size = max(1, int(round(window_s * fps)) | 1)  # odd, centred
        floor = uniform_filter1d(median_filter(lowest, size=size, mode="nearest"), size=size, mode="nearest")
    out = points.astype(points.dtype if points.dtype.kind == "f" else np.float64, copy=True)
    out[..., up_axis] -= floor[:, None].astype(out.dtype)
    return out, floor


def _soft_l1(r: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed soft-L1 residual and its derivative: ~r for |r| << c, ~sqrt(|r|) growth beyond."""
    s = np.sqrt(1.0 + np.abs(r) / c)
    return np.sign(r) * 2.0 * c * (s - 1.0), 1.0 / s


class _Problem:
    """Residuals and their sparse Jacobian for the free points (and bone lengths)."""

    def __init__(self, extrinsics, focal, uv, obs_view, obs_point, n_points, smooth_pairs, smooth_scale,
                 bones_a, bones_b, bone_frames_count, bone_weight, threshold):
        self.rot = extrinsics[:, :, :3]
        self.trans = extrinsics[:, :, 3]
        self.focal = focal  # (V,) pixels per normalised unit
        self.uv = uv  # (O, 2) observed normalised coordinates
        self.obs_view, self.obs_point = obs_view, obs_point  # (O,) indices
        self.n_points = n_points
        self.pair_a, self.pair_b = smooth_pairs  # (S,) point indices, consecutive frames
        self.smooth_scale = smooth_scale
        self.bones_a, self.bones_b = bones_a, bones_b  # (Q,) point indices, Q = frames x bones
        self.bone_id = np.repeat(np.arange(len(bones_a) // max(bone_frames_count, 1)), bone_frames_count) \
            if len(bones_a) else np.zeros(0, dtype=np.int64)
        self.bone_weight = bone_weight
        self.threshold = threshold

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[: 3 * self.n_points].reshape(self.n_points, 3), x[3 * self.n_points:]

    def _camera_points(self, pts):
        r = self.rot[self.obs_view]  # (O, 3, 3)
        return np.einsum("oij,oj->oi", r, pts[self.obs_point]) + self.trans[self.obs_view], r

    def residuals(self, x: np.ndarray) -> np.ndarray:
        pts, lengths = self.split(x)
        cam, _ = self._camera_points(pts)
        raw = self.focal[self.obs_view, None] * (cam[:, :2] / cam[:, 2:3] - self.uv)  # (O, 2) px
        reproj, _ = _soft_l1(raw, self.threshold)
        smooth = self.smooth_scale * (pts[self.pair_b] - pts[self.pair_a])
        parts = [reproj.ravel(), smooth.ravel()]
        if len(self.bones_a):
            length = np.linalg.norm(pts[self.bones_a] - pts[self.bones_b], axis=1)
            expected = lengths[self.bone_id]
            parts.append(self.bone_weight * 100.0 * (length - expected) / expected)
        return np.concatenate(parts)

    def jacobian(self, x: np.ndarray) -> sparse.csr_matrix:
        pts, lengths = self.split(x)
        n_obs, n_pairs = len(self.obs_point), len(self.pair_a)
        cam, r = self._camera_points(pts)
        inv_z = 1.0 / cam[:, 2]
        proj = cam[:, :2] * inv_z[:, None]
        raw = self.focal[self.obs_view, None] * (proj - self.uv)
        _, slope = _soft_l1(raw, self.threshold)
        # d(x/z)/dX = (R_0 - (x/z) R_2) / z, likewise y; times focal and the soft-L1 slope.
        d = (r[:, :2, :] - proj[:, :, None] * r[:, 2:3, :]) * inv_z[:, None, None]  # (O, 2, 3)
        d *= (self.focal[self.obs_view, None] * slope)[:, :, None]
        rows = [np.repeat(np.arange(2 * n_obs), 3)]
        cols = [(3 * np.repeat(self.obs_point, 2)[:, None] + np.arange(3)).ravel()]
        vals = [d.ravel()]
        # Smoothness: +scale on frame n+1, -scale on frame n, per coordinate.
        base = 2 * n_obs + np.arange(3 * n_pairs)
        coord = np.tile(np.arange(3), n_pairs)
        rows += [base, base]
        cols += [3 * np.repeat(self.pair_b, 3) + coord, 3 * np.repeat(self.pair_a, 3) + coord]
        vals += [np.full(3 * n_pairs, self.smooth_scale), np.full(3 * n_pairs, -self.smooth_scale)]
        n_res = 2 * n_obs + 3 * n_pairs
        if len(self.bones_a):
            q = len(self.bones_a)
            diff = pts[self.bones_a] - pts[self.bones_b]
            length = np.linalg.norm(diff, axis=1)
            expected = lengths[self.bone_id]
            k = self.bone_weight * 100.0 / expected
            g = (k / np.maximum(length, 1e-12))[:, None] * diff  # d residual / d X_a
            brow = n_res + np.arange(q)
            rows += [np.repeat(brow, 3), np.repeat(brow, 3), brow]
            cols += [(3 * self.bones_a[:, None] + np.arange(3)).ravel(),
                     (3 * self.bones_b[:, None] + np.arange(3)).ravel(),
                     3 * self.n_points + self.bone_id]  # fmt: skip
            vals += [g.ravel(), -g.ravel(), -self.bone_weight * 100.0 * length / expected**2]
            n_res += q
        n_par = 3 * self.n_points + len(lengths)
        return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(n_res, n_par))  # fmt: skip


def optimize_temporal(
    group,
    keypoints2d: np.ndarray,
    initial_points: np.ndarray,
    *,
    smooth_weight: float = SMOOTH_WEIGHT,
    bone_pairs: Sequence[tuple[int, int]] = (),
    bone_weight: float = BONE_WEIGHT,
    min_confidence: float = MIN_CONFIDENCE,
    reprojection_threshold_px: float = REPROJECTION_THRESHOLD_PX,
    mask: np.ndarray | None = None,
    max_iterations: int = 50,
) -> np.ndarray:
    """Jointly refine 3D keypoints over a sequence: reprojection + smoothness (+ bone lengths).

    Args:
        group: aniposelib ``CameraGroup`` with V cameras.
        keypoints2d: ``(V, N, J, 3)`` x, y pixels and confidence (or ``(V, N, J, 2)``).
        initial_points: ``(N, J, 3)`` start in world units (usually
            :func:`~aichoreo.reconstruct.triangulate.triangulate`'s points; NaN gaps are
            interpolated).
        smooth_weight: weight of first differences, relative to the mean frame-to-frame
            motion of the start (aniposelib's ``scale_smooth``).
        bone_pairs: joint pairs of constant length over the sequence (e.g.
            :data:`~aichoreo.reconstruct.layouts.COCO17_BONES`); empty: no bone term.
        bone_weight: weight of the relative bone-length error, in percent (``scale_length``).
        min_confidence: detections below it are ignored.
        reprojection_threshold_px: soft-L1 scale (pixels): larger residuals count less.
        mask: optional ``(V, N, J)`` bool of detections to use, e.g. ``Triangulation.used``
            to leave out the views triangulation rejected as outliers.
        max_iterations: most function evaluations of the solver.

    Returns:
        ``(N, J, 3)`` float64 optimised points in world units; NaN for joints never triangulated.
    """
    kp = np.asarray(keypoints2d, dtype=np.float64)
    start = np.asarray(initial_points, dtype=np.float64)
    n_cams = len(group.cameras)
    if kp.ndim != 4 or kp.shape[0] != n_cams or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints2d: expected shape ({n_cams}, frames, joints, 3), got {kp.shape}")
    n_views, n_frames, n_joints = kp.shape[:3]
    if start.shape != (n_frames, n_joints, 3):
        raise ValueError(f"initial_points: expected shape ({n_frames}, {n_joints}, 3), got {start.shape}")

    filled = interpolate_gaps(start)
    seen = np.isfinite(filled).all(axis=(0, 2))  # joints triangulated at least once
    if not seen.any():
        raise ValueError("no joint was triangulated in any frame: nothing to optimise")
    if not seen.all():
        log.warning("joints %s were never triangulated; they stay NaN", np.flatnonzero(~seen).tolist())
    free_joints = np.flatnonzero(seen)
    x_points = filled[:, free_joints]  # (N, Jf, 3)
    n_free = len(free_joints)
    point_index = np.arange(n_frames * n_free).reshape(n_frames, n_free)

    valid = valid_detections(kp, min_confidence)[:, :, free_joints]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n_views, n_frames, n_joints):
            raise ValueError(f"mask: expected shape ({n_views}, {n_frames}, {n_joints}), got {mask.shape}")
        valid &= mask[:, :, free_joints]
    uv_all = undistort(group, kp[:, :, free_joints, :2])
    obs_view, obs_frame, obs_joint = np.nonzero(valid)
    uv = uv_all[obs_view, obs_frame, obs_joint]
    focal = np.array([np.mean(np.diag(np.asarray(c.get_camera_matrix()))[:2]) for c in group.cameras])

    if n_frames > 1:
        med = median_filter(x_points, size=(_MEDIAN_FRAMES, 1, 1), mode="nearest")
        step = float(np.mean(np.abs(np.diff(med, axis=0))))
        smooth_scale = smooth_weight / step if step > 0 else smooth_weight
        pairs = (point_index[:-1].ravel(), point_index[1:].ravel())
    else:  # one frame: nothing to smooth
        smooth_scale, pairs = 0.0, (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    remap = {int(j): i for i, j in enumerate(free_joints)}
    bones = [(remap[a], remap[b]) for a, b in bone_pairs if a in remap and b in remap]
    if len(bones) < len(bone_pairs):
        log.warning("bones touching never-triangulated joints are left out")
    if bones:
        ba = np.concatenate([point_index[:, a] for a, _ in bones])
        bb = np.concatenate([point_index[:, b] for _, b in bones])
        lengths0 = np.array([np.median(np.linalg.norm(x_points[:, a] - x_points[:, b], axis=1)) for a, b in bones])
        lengths0 = np.where(lengths0 > 0, lengths0, np.median(lengths0[lengths0 > 0]) if (lengths0 > 0).any() else 1.0)
    else:
        ba = bb = np.zeros(0, dtype=np.int64)
        lengths0 = np.zeros(0)

    problem = _Problem(projection_matrices(group), focal, uv, obs_view, point_index[obs_frame, obs_joint],
                       n_frames * n_free, pairs, smooth_scale, ba, bb, n_frames, bone_weight,
                       reprojection_threshold_px)  # fmt: skip
    x0 = np.concatenate([x_points.ravel(), lengths0])
    result = least_squares(problem.residuals, x0, jac=problem.jacobian, method="trf", tr_solver="lsmr",
                           x_scale="jac", ftol=1e-6, xtol=1e-8, max_nfev=max_iterations,
                           tr_options={"maxiter": _LSMR_ITERATIONS})  # fmt: skip
    log.debug("temporal optimisation: %d evaluations, cost %.4g -> %.4g (%s)", result.nfev,
              0.5 * float(np.sum(problem.residuals(x0) ** 2)), result.cost, result.message)  # fmt: skip
    out = np.full((n_frames, n_joints, 3), np.nan)
    out[:, free_joints] = problem.split(result.x)[0].reshape(n_frames, n_free, 3)
    return out

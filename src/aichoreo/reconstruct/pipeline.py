"""End-to-end reconstruction from files, for the ``aichoreo reconstruct`` and ``aichoreo fit`` commands.

* :func:`reconstruct`: AIST++ ``keypoints2d`` pickle + camera JSON -> ``<name>_keypoints3d.pkl``
  (``keypoints3d``, ``keypoints3d_optim``, in the cameras' units) and ``<name>_motion.pkl``
  (an AIST++ motion pickle), as google/aistplusplus_api ``processing/run_estimate_keypoints.py``
  and ``run_estimate_smpl.py`` do.
* :func:`fit_joints_file`: a joints file (``.npy`` ``(T, J, 3)``, or ``.npz`` with ``joints``
  and optionally ``fps``, which includes the Dance-with-Melody files) -> AIST++ motion pickle.

Both write atomically, print nothing (progress bars go to stderr through tqdm when asked)
and return the written paths with a summary. Bad input raises
:class:`~aichoreo.errors.InputError` naming the file: cameras that disagree with the keypoint
views, fewer than two views with detections, infinite values, wrong shapes, all-NaN data.
Documented fallbacks instead of errors: a view with no detections is left out (logged);
NaN detections are missing data; a one-frame sequence is triangulated and fitted without
the temporal terms (``keypoints3d_optim`` then equals the triangulation).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import read_array_pickle, read_npy, read_npz, write_array_pickle
from aichoreo.reconstruct.cameras import load_camera_group
from aichoreo.reconstruct.fit import fit_smpl, fit_to_aistpp_dict, place_on_floor
from aichoreo.reconstruct.layouts import COCO17, Layout, get_layout
from aichoreo.reconstruct.smooth import level_floor, optimize_temporal
from aichoreo.reconstruct.triangulate import MIN_CONFIDENCE, REPROJECTION_THRESHOLD_PX, triangulate
from aichoreo.skeleton import MAX_DISTANCE_M, check_body_size, check_motion_fps, check_y_up

__all__ = ["reconstruct", "fit_joints_file", "load_joints_file", "UNITS_PER_METRE", "FLOOR_MODES"]

log = logging.getLogger(__name__)

UNITS_PER_METRE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}
FLOOR_MODES = ("drift", "constant", "none")
_OUT_FPS = 60.0  # the project's motion rate (AIST++, FACT)


# --------------------------------------------------------------------------------------------
# Reading


def _keypoints2d(path: Path) -> np.ndarray:
    """``(V, N, J, 3)`` float64 from an AIST++ keypoints2d pickle (``keypoints2d`` key)."""
    data = read_array_pickle(path)
    if "keypoints2d" not in data:
        raise InputError(path, f"missing key 'keypoints2d' (keys present: {', '.join(map(str, data)) or 'none'})")
    try:
        kp = np.asarray(data["keypoints2d"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(path, "keypoints2d is not a numeric array") from None
    if kp.ndim != 4 or kp.shape[-1] != 3 or kp.shape[1] < 1:
        raise InputError(path, f"keypoints2d has shape {kp.shape}, expected (views, frames, joints, 3)")
    if kp.shape[2] != COCO17.n_joints:
        raise InputError(path, f"keypoints2d has {kp.shape[2]} joints per frame, expected the "
                               f"{COCO17.n_joints} COCO keypoints")  # fmt: skip
    if np.isinf(kp).any():
        raise InputError(path, "keypoints2d has infinite values")
    return kp


def load_joints_file(path: str | os.PathLike, *, fps: float | None = None) -> tuple[np.ndarray, float]:
    """Joints ``(T, J, 3)`` float64 and their frame rate from a ``.npy`` or ``.npz`` file.

    ``.npz`` files need a ``joints`` array and may carry ``fps`` (Dance-with-Melody files do);
    ``fps`` given here must agree with the file's. A ``.npy`` file needs ``fps`` given.
    """
    path = Path(path)
    file_fps = None
    if path.suffix == ".npz":
        data = read_npz(path)
        if "joints" not in data:
            raise InputError(path, f"no 'joints' array (arrays present: {', '.join(data) or 'none'})")
        joints = data["joints"]
        if "fps" in data:
            fps_value = np.asarray(data["fps"])
            if fps_value.size != 1 or fps_value.dtype.kind not in "fiu":
                raise InputError(path, f"'fps' should be one number, got {fps_value.dtype} of shape {fps_value.shape}")
            file_fps = float(fps_value.reshape(()))
    elif path.suffix == ".npy":
        joints = read_npy(path)
    else:
        raise InputError(path, f"unknown joints format {path.suffix!r}: expected .npy or .npz")
    if joints.dtype.kind not in "fiu" or joints.ndim != 3 or joints.shape[-1] != 3:
        raise InputError(path, f"joints have shape {joints.shape} ({joints.dtype}), expected numbers (T, J, 3)")
    if fps is None:
        if file_fps is None:
            raise InputError(path, "the file does not say its frame rate: give fps")
        fps = file_fps
    elif file_fps is not None and not math.isclose(fps, file_fps, rel_tol=1e-6):
        raise InputError(path, f"the file says {file_fps:g} fps but {fps:g} fps was given")
    return joints.astype(np.float64), check_motion_fps(fps, path)  # 1e-9 asked the resampler for 17 TiB


# --------------------------------------------------------------------------------------------
# Writing


def _motion_dict(result, *, units_per_metre: float, out_fps: float | None) -> dict[str, Any]:
    motion = result.motion if out_fps is None else result.motion.resample(out_fps)
    data = fit_to_aistpp_dict(replace(result, motion=motion), units_per_metre=units_per_metre)
    data["fps"] = float(motion.fps)  # AIST++ readers ignore it; the rate is 60 unless said otherwise
    return data


# --------------------------------------------------------------------------------------------
# Commands


def reconstruct(
    keypoints2d_path: str | os.PathLike,
    cameras_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    fps: float = _OUT_FPS,
    units_per_metre: float = 100.0,
    min_confidence: float = MIN_CONFIDENCE,
    reprojection_threshold_px: float = REPROJECTION_THRESHOLD_PX,
    fit_iterations: int = 400,
    progress: bool = True,
) -> dict[str, Any]:
    """Multi-view COCO-17 keypoints -> 3D keypoints -> SMPL motion, in AIST++ formats.

    Args:
        keypoints2d_path: AIST++ ``keypoints2d`` pickle: ``keypoints2d`` ``(V, N, 17, 3)``
            x, y px and confidence (``det_scores``, ``timestamps`` are not needed).
        cameras_path: AIST++ camera JSON with V cameras, in the views' order.
        out_dir: output folder (created).
        fps: frame rate of the keypoints (AIST++: 60).
        units_per_metre: the cameras' world units (AIST++: cm, 100).
        min_confidence: detections below it are missing (AIST++: 0.15).
        reprojection_threshold_px: outlier threshold of triangulation and soft-L1 scale of
            the temporal optimisation.
        fit_iterations: Adam steps of the SMPL fit.
        progress: progress bars on stderr.

    Returns:
        ``{"keypoints3d": path, "motion": path, "summary": {...}}``: frames, views, views
        without detections, share of points triangulated, reprojection error (px, mean and
        median), share of detections rejected, SMPL fit error (metres) and ``smpl_scaling``.
    """
    kp_path, cam_path, out_dir = Path(keypoints2d_path), Path(cameras_path), Path(out_dir)
    group = load_camera_group(cam_path)
    kp = _keypoints2d(kp_path)
    n_views, n_frames = kp.shape[:2]
    if n_views != len(group.cameras):
        raise InputError(kp_path, f"has {n_views} views but {cam_path} has {len(group.cameras)} cameras")
    if not (math.isfinite(units_per_metre) and units_per_metre > 0):
        raise ValueError(f"units_per_metre must be positive, got {units_per_metre}")

    detected = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) >= min_confidence)
    empty = [group.cameras[v].get_name() for v in range(n_views) if not detected[v].any()]
    if empty:
        log.warning("%s: no usable detections in view(s) %s; they are left out", kp_path, ", ".join(empty))
    if n_views - len(empty) < 2:
        raise InputError(kp_path, f"only {n_views - len(empty)} view(s) have detections; triangulation needs 2")

    stages = _Stages(4, progress)
    tri = triangulate(group, kp, min_confidence=min_confidence, reprojection_threshold_px=reprojection_threshold_px)
    stages.step("triangulated")
    if not np.isfinite(tri.points).any():
        raise InputError(kp_path, "no keypoint is seen by two views in any frame: nothing to triangulate")
    if n_frames > 1:
        optim = optimize_temporal(group, kp, tri.points, bone_pairs=COCO17.bones, mask=tri.used,
                                  min_confidence=min_confidence,
                                  reprojection_threshold_px=reprojection_threshold_px)  # fmt: skip
    else:
        log.info("%s: one frame, no temporal optimisation", kp_path)
        optim = tri.points.copy()
    stages.step("optimised over time")
    result = fit_smpl(optim / units_per_metre, COCO17, fps=fps, iterations=fit_iterations, progress=progress)
    _check_body_scale(result.scale, cameras_path, "--units-per-metre or the cameras' units")
    stages.step("fitted SMPL")

    name = kp_path.stem
    kp3d_path = write_array_pickle({
        "keypoints3d": tri.points.astype(np.float32),
        "keypoints3d_optim": optim.astype(np.float32),
    }, out_dir / f"{name}_keypoints3d.pkl")  # fmt: skip
    motion = _motion_dict(result, units_per_metre=units_per_metre, out_fps=None)
    motion_path = write_array_pickle(motion, out_dir / f"{name}_motion.pkl")
    stages.step("written")
    stages.close()
    n_valid = int((tri.used | tri.rejected).sum())
    summary = {
        "frames": int(n_frames),
        "views": int(n_views),
        "views_without_detections": empty,
        "triangulated_fraction": float(np.isfinite(tri.points).all(-1).mean()),
        "reprojection_error_px_mean": float(np.nanmean(tri.reprojection_error)),
        "reprojection_error_px_median": float(np.nanmedian(tri.reprojection_error)),
        "rejected_fraction": float(tri.rejected.sum() / max(n_valid, 1)),
        "fit_error_m": result.mean_error,
        "smpl_scaling": float(motion["smpl_scaling"][0]),
    }
    log.info("reconstructed %s: %s", name, summary)
    return {"keypoints3d": kp3d_path, "motion": motion_path, "summary": summary}


def fit_joints_file(
    path: str | os.PathLike,
    layout: Layout | str,
    fps: float | None,
    out_pkl: str | os.PathLike,
    *,
    units: str = "m",
    floor: str = "drift",
    out_fps: float | None = _OUT_FPS,
    iterations: int = 400,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit SMPL to a joints file and write an AIST++ motion pickle.

    Args:
        path: ``.npy`` ``(T, J, 3)`` or ``.npz`` with ``joints`` (and ``fps``), y up.
        layout: a :class:`Layout` or its name (``coco17``, ``dwm23``, ``smpl24``).
        fps: the joints' frame rate; None takes it from the ``.npz``.
        out_pkl: the motion pickle to write.
        units: the joints' unit, ``m``, ``cm`` or ``mm``; ``smpl_trans`` is written in it
            (``smpl_scaling = body scale x units per metre``, the AIST++ convention).
        floor: ``drift`` levels a drifting capture floor under the layout's foot joints
            (:func:`~aichoreo.reconstruct.smooth.level_floor`) and stands the fit on y = 0;
            ``constant`` only stands the fit on y = 0; ``none`` keeps the data's frame.
        out_fps: resample the motion to this rate before writing (60, the project's rate);
            None keeps ``fps``. The pickle's ``fps`` key says which.
        iterations: Adam steps of the fit.
        progress: progress bar on stderr.

    Returns:
        summary dict: frames, fps, out_fps, scale, smpl_scaling, mean error (m), per-joint
        error (m, by input joint name), the written path.
    """
    path = Path(path)
    if isinstance(layout, str):
        try:
            layout = get_layout(layout)
        except ValueError as exc:
            raise InputError(None, str(exc)) from None
    if units not in UNITS_PER_METRE:
        raise InputError(None, f"unknown unit {units!r}; choose one of {', '.join(UNITS_PER_METRE)}")
    if floor not in FLOOR_MODES:
        raise InputError(None, f"unknown floor mode {floor!r}; choose one of {', '.join(FLOOR_MODES)}")
    joints, fps = load_joints_file(path, fps=fps)
    if joints.shape[1] != layout.n_joints:
        raise InputError(path, f"joints have {joints.shape[1]} points per frame; layout {layout.name} "
                               f"has {layout.n_joints}")  # fmt: skip
    if np.isinf(joints).any():
        raise InputError(path, "joints have infinite values")
    if not np.isfinite(joints).all(-1).any():
        raise InputError(path, "joints are all NaN: nothing to fit")
    if len(joints) == 1:
        log.info("%s: one frame, fitted without the temporal term", path)
    metres = joints / UNITS_PER_METRE[units]
    check_y_up(metres, layout.feet, path)
    reach = float(np.nanmax(np.abs(metres)))
    if reach > MAX_DISTANCE_M:
        raise InputError(path, f"joints reach {reach:.3g} m from the origin in units {units!r}; a dance stays "
                               f"within {MAX_DISTANCE_M:g} m (wrong units?)")
    check_body_size(metres, path, f"read in units {units!r}: wrong units? (check --units)")
    if floor == "drift":
        if not layout.feet:
            raise InputError(None, f"layout {layout.name} names no foot joints; use floor 'constant' or 'none'")
        try:
            metres, _ = level_floor(metres, fps=fps, foot_joints=layout.feet)
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
    result = fit_smpl(metres, layout, fps=fps, iterations=iterations, progress=progress)
    _check_body_scale(result.scale, path, "--units")
    if floor != "none":
        result = place_on_floor(result)
    motion = _motion_dict(result, units_per_metre=UNITS_PER_METRE[units], out_fps=out_fps)
    out_pkl = write_array_pickle(motion, Path(out_pkl))
    summary = {
        "path": str(out_pkl),
        "frames": int(len(joints)),
        "fps": fps,
        "out_fps": float(motion["fps"]),
        "scale": result.scale,
        "smpl_scaling": float(motion["smpl_scaling"][0]),
        "mean_error_m": result.mean_error,
        "per_joint_error_m": {n: float(e) for n, e in zip(layout.joint_names, result.per_joint_error)
                              if np.isfinite(e)},  # fmt: skip
    }
    log.info("fitted %s: mean error %.1f mm, scale %.3f", path, 1000 * result.mean_error, result.scale)
    return summary


# Body scales (the fitted SMPL body over SMPL's own) a person can have: real captures fit at 0.94-1.02,
# a child is about 0.6. Centimetres read as metres fitted at 22 (a 38 m dancer), metres read as
# centimetres at 0.09, and both were written with exit 0.
BODY_SCALE_RANGE = (0.4, 2.5)


def _check_body_scale(scale: float, path: str | os.PathLike, units: str) -> None:
    low, high = BODY_SCALE_RANGE
    if not low <= scale <= high:
        raise InputError(path, f"the fitted body is {scale:.3g} times SMPL's size ({1.7 * scale:.3g} m tall): "
                               f"wrong units? (check {units})")


class _Stages:
    """A small stage-level progress bar (tqdm on stderr), or nothing."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="reconstruct", unit="stage")

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

"""Input checks and coordinate helpers shared by the metric modules.

Metric inputs are joint arrays ``(T, J, 3)`` in metres (the project convention is
``J = 24`` SMPL joints, y up, 60 fps). Array-level problems raise ``ValueError``
with one line saying what is wrong; the caller that knows the file wraps it in
:class:`aichoreo.errors.InputError`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_joints", "check_fps", "check_up_axis", "to_y_up", "zero_start"]


def as_joints(joints: np.ndarray, *, min_frames: int, n_joints: int | None = None,
              what: str = "joints") -> np.ndarray:
    """Validate a ``(T, J, 3)`` array and return it as float64 (a copy only when needed).

    Raises ``ValueError`` for a wrong rank, a last axis other than 3, fewer than
    ``min_frames`` frames, a joint count other than ``n_joints`` (when given) or
    non-finite values.
    """
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{what}: expected shape (T, J, 3), got {arr.shape}")
    if n_joints is not None and arr.shape[1] != n_joints:
        raise ValueError(f"{what}: expected {n_joints} joints (SMPL order), got {arr.shape[1]}")
    if arr.shape[0] < min_frames:
        raise ValueError(f"{what}: {arr.shape[0]} frames, at least {min_frames} are needed")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    return arr


def check_fps(fps: float) -> float:
    """Return ``fps`` as a float after checking that it is a positive finite number."""
    value = float(fps)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return value


def check_up_axis(up_axis: int) -> int:
    """Return ``up_axis`` (0 x, 1 y, 2 z) after checking it."""
    if up_axis not in (0, 1, 2):
        raise ValueError(f"up_axis must be 0 (x), 1 (y) or 2 (z), got {up_axis!r}")
    return int(up_axis)


def to_y_up(joints: np.ndarray, *, up_axis: int) -> np.ndarray:
    """Rotate ``(..., 3)`` points so that ``up_axis`` becomes +y, by a proper rotation.

    A proper rotation (det +1) keeps cross products, hence the sign of every
    plane test of the geometric features: z up ``(x, y, z)`` becomes ``(x, z, -y)``
    (-90 degrees about x); x up becomes ``(-y, x, z)`` (+90 degrees about z).
    """
    up_axis = check_up_axis(up_axis)
    if up_axis == 1:
        return joints
    x, y, z = joints[..., 0], joints[..., 1], joints[..., 2]
    if up_axis == 2:
        return np.stack([x, z, -y], axis=-1)
    return np.stack([-y, x, z], axis=-1)


def zero_start(joints: np.ndarray) -> np.ndarray:
    """Subtract the first frame's root position from every joint of every frame.

    ``(T, J, 3)`` -> ``(T, J, 3)``. This is Bailando's "zero start" coordinate
    protocol (lisiyao21/Bailando ``utils/metrics_new.py``, ``calc_and_save_feats``:
    all three root coordinates of frame 0, height included). It matters for the
    kinetic features, whose reference ``E_exp`` grows with the distance from the
    origin (see :func:`aichoreo.metrics.kinetic_features`).
    """
    arr = as_joints(joints, min_frames=1)
    return arr - arr[:1, :1, :]

"""Kinetic features (72-d): per joint, horizontal and vertical kinetic energy and "energy expenditure".

A vectorised re-implementation of google/aistplusplus_api ``aist_plusplus/features/kinetic.py``
and ``features/utils.py`` (commit 2dd7b3e; the same code is in lisiyao21/Bailando
``utils/features``), which loop over joints, frames and window offsets in Python.

For joint positions ``p_t`` (T frames), frame time ``dt`` and window ``w = 2``, for every
frame ``i = 1 .. T-1``:

* velocity ``v_i`` = sum of ``p_m - p_{m-1}`` over ``m in [i-w, i+w] ∩ [1, T-1]``,
  divided by (number of terms x dt);
* ``E_h`` = mean over i of ``|v_i|^2`` in the two horizontal axes, ``E_v`` = mean of the
  vertical component squared;
* ``E_exp`` = mean over i of ``|a_i|``, where ``a_i`` averages ``(v2 - v1) / dt`` over
  ``m in [i-w, i+w] ∩ [1, T-2]`` with ``v2 = (p_{m+1} - p_m) / dt`` and

  - ``variant="reference"``: ``v1 = p_m - p_{m-1} / dt`` -- the operator-precedence slip of
    every copy of the reference (only ``p_{m-1}`` is divided by dt). ``E_exp`` then grows
    with the joint's distance from the world origin (about 3540 x |p| at 60 fps), not with
    its acceleration. Kept because the published FID_k numbers were computed with it.
  - ``variant="corrected"``: ``v1 = (p_m - p_{m-1}) / dt``, a true second difference
    (google/aistplusplus_api later versions of ``utils.py``; Bailando pull request #28).

Features are computed in float64. The reference returns ``np.float32``; the
``"reference"`` variant rounds its result to float32 precision the same way (returned as
float64), so that FID on these features matches the reference scripts to ~1e-9.
"""

from __future__ import annotations

import numpy as np

from aichoreo.metrics._common import as_joints, check_fps, check_up_axis

__all__ = ["KINETIC_WINDOW", "VARIANTS", "kinetic_features"]

KINETIC_WINDOW = 2  # frames each side: ``sliding_window=2`` in aistplusplus kinetic.py
VARIANTS = ("reference", "corrected")


def _windowed_sum(terms: np.ndarray, first: int, n_frames: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``terms`` over a window of ``±window`` around each output frame ``i = 1 .. n_frames-1``.

    ``terms`` ``(M, ...)`` holds the values for ``m = first .. first+M-1`` (the valid
    range); out-of-range ``m`` contribute nothing. Terms are added in increasing ``m``,
    as the reference loop does (adding an exact 0.0 for a missing term changes no bit).
    Returns the sums ``(n_frames-1, ...)`` and the number of valid terms ``(n_frames-1,)``.
    """
    n_out = n_frames - 1
    lo = 1 - window  # smallest m any output frame looks at
    padded = np.zeros((n_out + 2 * window,) + terms.shape[1:], dtype=terms.dtype)
    padded[first - lo:first - lo + len(terms)] = terms
    total = padded[0:n_out].copy()
    for k in range(1, 2 * window + 1):
        total += padded[k:k + n_out]
    frames = np.arange(1, n_frames)
    last = first + len(terms) - 1
    count = np.minimum(frames + window, last) - np.maximum(frames - window, first) + 1
    return total, count


def kinetic_features(joints: np.ndarray, *, fps: float = 60.0, up_axis: int = 1,
                     variant: str = "reference") -> np.ndarray:
    """Kinetic features of one motion: ``(T, J, 3)`` metres -> ``(3J,)`` float64 (72 for SMPL-24).

    Per joint in input order: ``[E_h, E_v, E_exp]`` (m²/s², m²/s², see module docstring).
    ``fps`` sets the frame time ``1/fps`` (the reference default is 1/60); ``up_axis``
    picks the vertical axis (reference: y). ``T >= 3`` is required.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    pos = as_joints(joints, min_frames=3)
    dt = 1.0 / check_fps(fps)
    up = check_up_axis(up_axis)
    horizontal = [a for a in range(3) if a != up]
    n_frames = len(pos)

    # Velocity: windowed mean of first differences, frames 1 .. T-1.
    step = pos[1:] - pos[:-1]  # (T-1, J, 3): p_m - p_{m-1}, m = 1 .. T-1
    vel_sum, vel_count = _windowed_sum(step, 1, n_frames, KINETIC_WINDOW)
    vel = vel_sum / (vel_count * dt)[:, None, None]
    h0, h1 = vel[..., horizontal[0]], vel[..., horizontal[1]]
    # sqrt then square, as np.linalg.norm(...) ** 2 in the reference (last-bit fidelity).
    e_h = np.sqrt(h0 * h0 + h1 * h1) ** 2  # (T-1, J)
    vy = vel[..., up]
    e_v = np.sqrt(vy * vy) ** 2

    # Acceleration terms for m = 1 .. T-2.
    v2 = (pos[2:] - pos[1:-1]) / dt
    if variant == "reference":
        v1 = pos[1:-1] - pos[:-2] / dt  # the reference's operator precedence
    else:
        v1 = (pos[1:-1] - pos[:-2]) / dt
    acc_sum, acc_count = _windowed_sum((v2 - v1) / dt, 1, n_frames, KINETIC_WINDOW)
    acc = acc_sum / acc_count[:, None, None]
    e_exp = np.sqrt(np.einsum("tjc,tjc->tj", acc, acc))

    # Sequential sums over frames (axis 0), then / (T - 1), as the reference accumulates.
    n = n_frames - 1.0
    feats = np.stack([e_h.sum(axis=0) / n, e_v.sum(axis=0) / n, e_exp.sum(axis=0) / n], axis=1)
    feats = feats.reshape(-1)
    if variant == "reference":
        feats = feats.astype(np.float32).astype(np.float64)  # np.array(..., dtype=np.float32)
    return feats

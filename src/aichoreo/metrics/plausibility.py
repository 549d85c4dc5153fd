"""Physical plausibility: PFC (EDGE) and a foot-skating ratio (GMD).

Both take SMPL-24 joints ``(T, 24, 3)`` in metres; feet are SMPL joints 7/8 (ankles) and
10/11 (``left_foot``/``right_foot``, the ball of the foot; ``ltoes``/``rtoes`` in the
AIST++ feature names).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from aichoreo.metrics._common import as_joints, check_fps, check_up_axis

__all__ = ["PFC_FPS", "PFC_SCALE", "FootSkating", "pfc", "foot_skating", "resample_joints"]

PFC_FPS = 30.0  # EDGE eval_pfc.py: DT = 1 / 30 (EDGE generates at 30 fps)
PFC_SCALE = 1e4  # EDGE prints np.mean(scores) * 10000
_ROOT = 0
_PFC_FEET = (7, 10, 8, 11)  # left ankle, left foot, right ankle, right foot (eval_pfc.py foot_idx)
_SKATE_FEET = (10, 11)  # GMD calculate_skating_ratio: "10 left, 11 right foot"


def resample_joints(joints: np.ndarray, *, fps: float, target_fps: float) -> np.ndarray:
    """Resample ``(T, J, 3)`` from ``fps`` to ``target_fps``, starting at frame 0.

    An integer ratio ``fps / target_fps`` keeps every k-th frame (60 -> 30 fps: frames 0, 2,
    4, ...); any other ratio interpolates linearly at ``n / target_fps`` s up to the last
    original frame.
    """
    pos = as_joints(joints, min_frames=1)
    fps, target_fps = check_fps(fps), check_fps(target_fps)
    ratio = fps / target_fps
    if abs(ratio - round(ratio)) < 1e-9 and round(ratio) >= 1:
        return pos[::round(ratio)]
    times = np.arange(0.0, (len(pos) - 1) / fps + 1e-12, 1.0 / target_fps) * fps  # in source frames
    lo = np.clip(np.floor(times).astype(np.int64), 0, len(pos) - 1)
    hi = np.clip(lo + 1, 0, len(pos) - 1)
    w = (times - lo)[:, None, None]
    return pos[lo] * (1.0 - w) + pos[hi] * w


def pfc(joints: np.ndarray, *, fps: float = 60.0, up_axis: int = 1) -> float:
    """Physical Foot Contact score of one motion (lower is better), as Stanford-TML/EDGE ``eval/eval_pfc.py``.

    ``(T, 24, 3)`` metres at ``fps`` with ``up_axis`` up. EDGE scores 30 fps, z-up joints;
    here the motion is first resampled to 30 fps (:func:`resample_joints`: every 2nd frame
    of 60 fps), and the up axis is taken as given (only which axis is vertical matters).
    With ``dt = 1/30``:

    * root acceleration = second difference of joint 0 / dt², its upward component clamped
      at >= 0, its norm divided by the sequence maximum (dt cancels);
    * per foot, horizontal displacement per frame (not / dt) of ankle and foot joint, aligned
      with the acceleration (frames 2 .. S-1); left = min of the two, right likewise;
    * score = mean over frames of left x right x acceleration, times 1e4.

    EDGE reports the mean of the per-sequence score (x 1e4) over at most 1,000 sequences,
    so the PFC of a set is the mean of this function's values. A sequence whose root never
    accelerates scores 0 (EDGE would divide 0 by 0). Needs >= 3 frames at 30 fps.
    """
    up = check_up_axis(up_axis)
    pos = resample_joints(as_joints(joints, min_frames=1, n_joints=24), fps=fps, target_fps=PFC_FPS)
    if len(pos) < 3:
        raise ValueError(f"pfc: {len(pos)} frames at {PFC_FPS:g} fps, at least 3 are needed")
    flat = [a for a in range(3) if a != up]
    dt = 1.0 / PFC_FPS
    root_v = (pos[1:, _ROOT] - pos[:-1, _ROOT]) / dt  # (S-1, 3)
    root_a = (root_v[1:] - root_v[:-1]) / dt  # (S-2, 3)
    root_a[:, up] = np.maximum(root_a[:, up], 0.0)
    root_a = np.linalg.norm(root_a, axis=-1)
    peak = root_a.max()
    if peak == 0.0:
        return 0.0
    root_a = root_a / peak
    feet = pos[:, list(_PFC_FEET)][..., flat]  # (S, 4, 2)
    foot_v = np.linalg.norm(feet[2:] - feet[1:-1], axis=-1)  # (S-2, 4)
    left = np.minimum(foot_v[:, 0], foot_v[:, 1])
    right = np.minimum(foot_v[:, 2], foot_v[:, 3])
    return float(np.mean(left * right * root_a) * PFC_SCALE)


@dataclass(frozen=True)
class FootSkating:
    """Foot-skating summary of one motion.

    ``ratio``: fraction of frame steps in which at least one foot skates (GMD's skating ratio);
    ``contact_fraction``: fraction of (foot, step) pairs in contact;
    ``skate_speed``: mean horizontal foot speed over (foot, step) pairs in contact, m/s (0 without contact).
    """

    ratio: float
    contact_fraction: float
    skate_speed: float


def foot_skating(joints: np.ndarray, *, fps: float, up_axis: int, height_threshold: float = 0.05,
                 speed_threshold: float = 0.5, window_s: float = 0.25, floor: float | None = None,
                 vertical_speed_threshold: float | None = None) -> FootSkating:
    """Foot skating of one motion ``(T, 24, 3)`` metres: feet sliding while in contact with the floor.

    Definition of korrawe/guided-motion-diffusion ``data_loaders/humanml/utils/metrics.py``
    ``calculate_skating_ratio`` (GMD, Karunratanakul et al. ICCV 2023; reused by OmniControl
    and later motion-generation papers), with its 20 fps constants turned into seconds:

    * feet: SMPL joints 10 and 11; height above ``floor`` along ``up_axis``; ``floor=None``
      takes the lowest height either foot joint reaches in the sequence (GMD's data have
      their floor at 0; AIST++ world coordinates and generated motion need not);
    * contact in step t -> t+1: the foot is below ``height_threshold`` (m) in both frames
      and, if ``vertical_speed_threshold`` (m/s) is given, moves vertically slower than it
      (GMD has no such test; None reproduces GMD);
    * horizontal speed ``|Δp_horizontal| * fps`` (m/s), and its moving average over
      ``window_s`` (GMD: 5 frames at 20 fps = 0.25 s; zero-padded at the ends);
    * a foot skates in a step if it is in contact and both the speed and its average
      exceed ``speed_threshold`` (m/s); ``ratio`` = fraction of steps where either foot skates.

    Needs ``T >= 2``.
    """
    pos = as_joints(joints, min_frames=2, n_joints=24)
    fps = check_fps(fps)
    up = check_up_axis(up_axis)
    flat = [a for a in range(3) if a != up]
    feet = pos[:, list(_SKATE_FEET)]  # (T, 2, 3)
    height = feet[..., up]
    height = height - (height.min() if floor is None else float(floor))
    speed = np.linalg.norm(feet[1:, :, flat] - feet[:-1, :, flat], axis=-1) * fps  # (T-1, 2)
    window = max(1, round(window_s * fps))
    speed_avg = uniform_filter1d(speed, size=window, axis=0, mode="constant", origin=0)
    contact = (height[:-1] < height_threshold) & (height[1:] < height_threshold)
    if vertical_speed_threshold is not None:
        contact &= np.abs(height[1:] - height[:-1]) * fps < vertical_speed_threshold
    skating = contact & (speed > speed_threshold) & (speed_avg > speed_threshold)
    n_contact = np.count_nonzero(contact)
    return FootSkating(
        ratio=float(np.mean(skating.any(axis=1))),
        contact_fraction=float(n_contact / contact.size),
        skate_speed=float(speed[contact].mean()) if n_contact else 0.0,
    )

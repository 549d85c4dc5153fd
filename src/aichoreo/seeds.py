"""The seed motion a dance starts from when the user gives none: part of the product.

An autoregressive model continues its 2 s context; what that context looks like decides how the
dance begins and whether it drifts (issue 14: a seed far from the training motion is a likely
cause of early drift). Two built-in seeds:

* ``pose``: the pose the model file carries (``meta["seed"]``, written by
  ``scripts/ship_model.py``): the mean pose of the model's training dances, standing still for
  2 s. A statistic of the data, not a piece of anyone's dance; the default when the file has it.
* ``bounce``: a synthetic dancer bouncing on the song's tempo (:func:`dance_pose`), different
  for each random seed; the default of model files without a seed pose.

docs/generation.md ("The seed") compares them on whole songs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix, matrix_to_axis_angle, project_to_so3
from aichoreo.skeleton import FPS, forward_kinematics, forward_kinematics_axis_angle

__all__ = ["dance_pose", "bounce_seed", "pose_seed", "mean_pose", "builtin_seed", "SEED_KINDS"]

SEED_KINDS = ("pose", "bounce")
_UPPER_BODY = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)  # spine to hands


def dance_pose(n_frames: int, bpm: float, rng: np.random.Generator, *, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """A standing dancer bouncing on the beat: SMPL axis-angle poses and translation.

    Returns ``poses`` ``(n_frames, 24, 3)`` float64 radians (local, joint 0 = global
    orientation) and ``transl`` ``(n_frames, 3)`` float64 metres with y = 0 (the caller puts
    the feet on the floor). Knees bend most on every beat (t = k * 60 / bpm), arms sway over two
    beats, the body turns over eight; small smooth random motion on every joint makes each
    sequence different. SMPL's rest body faces +z with its left along +x.
    """
    t = np.arange(n_frames) / fps
    beat = 2.0 * np.pi * bpm / 60.0 * t  # radians of the beat cycle
    bounce = 0.5 * (1.0 + np.cos(beat))  # 1 on the beat, 0 between beats
    sway = np.sin(0.5 * beat + rng.uniform(0, 2 * np.pi))
    poses = np.zeros((n_frames, 24, 3))
    poses[:, 0, 1] = rng.uniform(-0.3, 0.3) + 0.25 * np.sin(beat / 8.0)  # turn; faces camera c01 near 0
    # Knees never straighten (a dancer's stance), so the pelvis height is not flat between beats.
    poses[:, [1, 2], 0] = -(0.15 + 0.3 * bounce[:, None])  # hips: thighs forward
    poses[:, [4, 5], 0] = 0.3 + 0.5 * bounce[:, None]  # knees bend
    poses[:, [7, 8], 0] = -(0.15 + 0.2 * bounce[:, None])  # ankles keep the feet flat
    poses[:, 3, 0] = 0.08 * bounce  # lean forward into the bounce
    poses[:, 6, 1] = 0.15 * sway  # twist the chest with the arms
    poses[:, 15, 0] = 0.12 * bounce  # nod
    poses[:, 16, 2] = -1.15 + 0.3 * sway  # left arm down from the T-pose, swaying
    poses[:, 17, 2] = 1.15 - 0.3 * sway  # right arm likewise (mirrored axis)
    poses[:, 18, 1] = -(0.5 + 0.3 * bounce)  # elbows bend forward
    poses[:, 19, 1] = 0.5 + 0.3 * bounce
    # Smooth individuality in the upper body: two slow sines (0.1-0.8 Hz, 0.04 rad) per joint
    # axis. The legs and the root's tilt stay as set, so the pelvis dips exactly on the beat.
    upper = list(_UPPER_BODY)
    freqs = rng.uniform(0.1, 0.8, (2, len(upper), 3))
    phases = rng.uniform(0, 2 * np.pi, (2, len(upper), 3))
    poses[:, upper] += 0.04 * np.sin(2 * np.pi * freqs[:, None] * t[None, :, None, None] + phases[:, None]).sum(axis=0)

    transl = np.zeros((n_frames, 3))
    transl[:, 0] = 0.08 * np.sin(beat / 4.0 + rng.uniform(0, 2 * np.pi))  # step side to side
    transl[:, 2] = 0.06 * np.sin(beat / 8.0 + rng.uniform(0, 2 * np.pi))  # and back and forth
    return poses, transl


def _on_floor(rotations: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """``transl`` with the lowest joint of the whole motion at height 0."""
    joints = forward_kinematics(rotations, transl)
    transl = transl.copy()
    transl[:, 1] -= joints[..., 1].min()
    return transl


def bounce_seed(n_frames: int, bpm: float, random_seed: int) -> SMPLMotion:
    """A standing dancer bouncing on the beat (``bpm``) for ``n_frames`` at 60 fps, feet on the floor."""
    poses, transl = dance_pose(n_frames, bpm, np.random.default_rng(random_seed), fps=FPS)
    rotations = axis_angle_to_matrix(poses).astype(np.float32)
    return SMPLMotion(rotations=rotations, translation=_on_floor(rotations, transl).astype(np.float32), fps=FPS)


def pose_seed(pose: np.ndarray, n_frames: int) -> SMPLMotion:
    """``pose (24, 3)`` axis-angle radians (local, root facing +z) held still for ``n_frames`` at
    60 fps, at the origin, lowest joint on the floor."""
    rotations = np.repeat(axis_angle_to_matrix(np.asarray(pose, dtype=np.float64))[None], n_frames, axis=0)
    transl = _on_floor(rotations, np.zeros((n_frames, 3)))
    return SMPLMotion(rotations=rotations.astype(np.float32), translation=transl.astype(np.float32), fps=FPS)


def mean_pose(rotations: list[np.ndarray]) -> np.ndarray:
    """The mean pose ``(24, 3)`` axis-angle of dances given as ``(T_i, 24, 3, 3)`` local rotations.

    Per joint the chordal mean (the average matrix projected onto SO(3)). The root's heading is
    removed first (each frame turned about y to face +z): dancers face every way, and the mean
    of their headings is no direction at all; the root keeps its mean tilt.
    """
    total = np.zeros((24, 3, 3))
    count = 0
    for r in rotations:
        r = np.asarray(r, dtype=np.float64)
        forward = r[:, 0, :, 2]  # root's +z in the world, (T, 3)
        angle = np.arctan2(forward[:, 0], forward[:, 2])
        c, s = np.cos(angle), np.sin(angle)
        turn = np.zeros((len(r), 3, 3))
        turn[:, 0, 0], turn[:, 0, 2], turn[:, 1, 1], turn[:, 2, 0], turn[:, 2, 2] = c, -s, 1.0, s, c
        r = r.copy()
        r[:, 0] = turn @ r[:, 0]
        total += r.sum(axis=0)
        count += len(r)
    if count == 0:
        raise ValueError("mean_pose: no frames")
    return matrix_to_axis_angle(project_to_so3(total / count))


def builtin_seed(kind: str, meta: dict[str, Any] | None, *, n_frames: int, bpm: float, random_seed: int) -> SMPLMotion:
    """The built-in seed ``kind`` ("neutral": the model's pose seed if its file has one, else the
    bounce; "pose"; "bounce") for a model whose file meta is ``meta``."""
    pose = ((meta or {}).get("seed") or {}).get("pose_axis_angle")
    if kind == "neutral":
        kind = "pose" if pose is not None else "bounce"
    if kind == "bounce":
        return bounce_seed(n_frames, bpm, random_seed)
    if kind == "pose":
        if pose is None:
            raise ValueError("this model file carries no seed pose (scripts/ship_model.py --seed-data adds one)")
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (24, 3) or not np.isfinite(pose).all():
            raise ValueError(f"the model file's seed pose must be 24 finite axis-angle rows, got shape {pose.shape}")
        return pose_seed(pose, n_frames)
    raise ValueError(f"unknown built-in seed {kind!r}: one of neutral, {', '.join(SEED_KINDS)}")

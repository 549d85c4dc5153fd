"""SMPL motion: AIST++ poses <-> FACT's 219/225-d motion vectors, joints, resampling.

FACT's per-frame motion vector (google-research/mint ``tools/preprocessing.py`` and
``mint/utils/inputs_util.py``; reference.md §3)::

    219 = [translation (3) | R_0 row-major (9) | ... | R_23 row-major (9)]
    225 = [6 zeros | the 219]        (what the FACT network reads and writes)

translation in metres (AIST++: ``smpl_trans / smpl_scaling``), world frame, y up;
``R_j`` local rotation matrices (joint 0 = global orientation). Decoded rotations are
projected onto SO(3) by SVD before use (mint ``tools/preprocessing.py``, reference.md §4.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aichoreo.rotations import axis_angle_to_matrix, matrix_to_axis_angle, project_to_so3, slerp_matrices
from aichoreo.skeleton import FPS, N_JOINTS, forward_kinematics

__all__ = ["FACT_DIM", "FACT_PADDED_DIM", "FACT_PAD", "FACT_TRANSLATION", "FACT_ROTATIONS", "SMPLMotion",
           "fact_vector_to_joints", "rotation_exp", "rotation_log"]

FACT_DIM = 3 + N_JOINTS * 9  # 219: translation + 24 row-major rotation matrices
FACT_PAD = 6  # zeros prepended at the model's input and output (mint inputs_util.py)
FACT_PADDED_DIM = FACT_PAD + FACT_DIM  # 225
FACT_TRANSLATION = slice(FACT_PAD, FACT_PAD + 3)  # 6:9 of the 225-d vector
FACT_ROTATIONS = slice(FACT_PAD + 3, FACT_PADDED_DIM)  # 9:225, 24 row-major 3x3 matrices

# Largest |R^T R - I| entry accepted as a rotation: float32 round-off passes, an
# unprojected network output does not.
_ORTHONORMAL_TOL = 1e-3
_BLOCK = 8192  # frames per block of whole-motion checks and projections: bounds their temporaries


@dataclass(frozen=True, eq=False, repr=False)
class SMPLMotion:
    """A SMPL motion: local joint rotations plus root translation, with its frame rate.

    Attributes:
        rotations: ``(T, 24, 3, 3)`` float32 local rotation matrices (joint 0 = global
            orientation, each joint relative to its parent, column-vector convention).
        translation: ``(T, 3)`` float32 metres, world frame, y up: the smplx ``transl``
            (the root joint is at ``translation + skeleton.J0``).
        fps: frames per second (AIST++ and FACT: 60).

    Both arrays are stored read-only, T >= 1. Invalid input raises ``ValueError``.
    """

    rotations: np.ndarray
    translation: np.ndarray
    fps: float = FPS

    def __post_init__(self) -> None:
        rotations = np.array(self.rotations, dtype=np.float32)  # a private, read-only copy
        translation = np.array(self.translation, dtype=np.float32)
        if rotations.ndim != 4 or rotations.shape[1:] != (N_JOINTS, 3, 3):
            raise ValueError(f"rotations: expected shape (T, {N_JOINTS}, 3, 3), got {rotations.shape}")
        if translation.shape != (len(rotations), 3):
            raise ValueError(f"translation: expected shape ({len(rotations)}, 3), got {translation.shape}")
        if len(rotations) == 0:
            raise ValueError("motion has no frames")
        if not (np.isfinite(rotations).all() and np.isfinite(translation).all()):
            raise ValueError("motion has non-finite values (NaN or inf)")
        fps = float(self.fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive and finite, got {self.fps}")
        # In blocks of frames: whole-motion temporaries of an hour-long dance would be ~0.6 GB.
        gram_err = max(np.abs(np.swapaxes(r, -1, -2) @ r - np.eye(3, dtype=np.float32)).max()
                       for r in np.array_split(rotations, range(_BLOCK, len(rotations), _BLOCK)))
        if gram_err > _ORTHONORMAL_TOL or (np.linalg.det(rotations) <= 0).any():
            raise ValueError(
                f"rotations are not rotation matrices (|R^T R - I| up to {gram_err:.3g}); "
                "project them first (rotations.project_to_so3, or SMPLMotion.from_fact_vector)"
            )
        rotations.setflags(write=False)
        translation.setflags(write=False)
        object.__setattr__(self, "rotations", rotations)
        object.__setattr__(self, "translation", translation)
        object.__setattr__(self, "fps", fps)

    def __repr__(self) -> str:  # the default would print every matrix
        return f"SMPLMotion(frames={len(self)}, fps={self.fps:g}, duration={self.duration:.3f} s)"

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_aistpp(cls, smpl_poses, smpl_trans, smpl_scaling, fps: float = FPS) -> SMPLMotion:
        """From the arrays of an AIST++ ``motions/<seq>.pkl``.

        Args:
            smpl_poses: ``(T, 72)`` or ``(T, 24, 3)`` axis-angle radians.
            smpl_trans: ``(T, 3)`` root translation in capture units (cm scale).
            smpl_scaling: ``(1,)`` or scalar body scale (about 90-100).
            fps: the annotation rate (AIST++: 60).

        ``translation = smpl_trans / smpl_scaling`` (reference.md §1, as mint, Bailando and EDGE do).
        """
        poses = np.asarray(smpl_poses, dtype=np.float64)
        if poses.ndim == 2 and poses.shape[1] == N_JOINTS * 3:
            poses = poses.reshape(len(poses), N_JOINTS, 3)
        if poses.ndim != 3 or poses.shape[1:] != (N_JOINTS, 3):
            raise ValueError(f"smpl_poses: expected shape (T, 72) or (T, 24, 3), got {poses.shape}")
        scaling = np.asarray(smpl_scaling, dtype=np.float64).reshape(-1)
        if scaling.shape != (1,) or not (np.isfinite(scaling[0]) and scaling[0] > 0):
            raise ValueError(f"smpl_scaling: expected one positive number, got {np.asarray(smpl_scaling)!r}")
        translation = np.asarray(smpl_trans, dtype=np.float64) / scaling[0]
        return cls(axis_angle_to_matrix(poses), translation, fps)

    @classmethod
    def from_fact_vector(cls, x, fps: float = FPS, *, project: bool = True) -> SMPLMotion:
        """From FACT motion vectors ``(T, 219)`` or ``(T, 225)`` (the 6 pad dims are dropped).

        Rotations are projected onto SO(3) by SVD (reference.md §4.6), so raw network
        output is accepted. ``project=False`` takes them as they are, for vectors whose every
        rotation was projected already (the generation pipeline's: projecting twice cost 8 % of
        its time).
        """
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] not in (FACT_DIM, FACT_PADDED_DIM):
            raise ValueError(
                f"FACT motion vector: expected shape (T, {FACT_DIM}) or (T, {FACT_PADDED_DIM}), got {x.shape}"
            )
        if x.shape[1] == FACT_PADDED_DIM:
            x = x[:, FACT_PAD:]
        # Projected in float64, in blocks of frames: the SVD's temporaries for a whole hour-long
        # dance would be ~2 GB. Each matrix is projected on its own, so the bits are the same.
        if not project:
            rotations = np.asarray(x[:, 3:], dtype=np.float32).reshape(len(x), N_JOINTS, 3, 3)
            return cls(rotations, np.asarray(x[:, :3], dtype=np.float64), fps)
        rotations = np.empty((len(x), N_JOINTS, 3, 3), dtype=np.float32)
        for first in range(0, len(x), _BLOCK):
            block = np.asarray(x[first:first + _BLOCK, 3:], dtype=np.float64)
            rotations[first:first + _BLOCK] = project_to_so3(block.reshape(len(block), N_JOINTS, 3, 3))
        return cls(rotations, np.asarray(x[:, :3], dtype=np.float64), fps)

    # ------------------------------------------------------------------ conversions

    def to_fact_vector(self, padded: bool = False) -> np.ndarray:
        """``(T, 219)`` float32 ``[t, R_0 row-major, ..., R_23]``; ``padded``: ``(T, 225)`` with 6 leading zeros."""
        t = len(self)
        parts = [self.translation, self.rotations.reshape(t, N_JOINTS * 9)]  # C order = row-major
        if padded:
            parts.insert(0, np.zeros((t, FACT_PAD), dtype=np.float32))
        return np.concatenate(parts, axis=1)

    def to_aistpp(self, scaling: float = 1.0) -> dict[str, np.ndarray]:
        """AIST++ motion arrays: ``smpl_poses`` (T, 72) float32 axis-angle, ``smpl_trans`` (T, 3)
        = translation * scaling, ``smpl_scaling`` (1,) (both float64, as in the release files).

        :meth:`from_aistpp` of the result gives this motion back.
        """
        scaling = float(scaling)
        if not (math.isfinite(scaling) and scaling > 0):
            raise ValueError(f"scaling must be positive and finite, got {scaling}")
        poses = matrix_to_axis_angle(self.rotations.astype(np.float64), orthonormal=True)
        return {
            "smpl_poses": poses.reshape(len(self), N_JOINTS * 3).astype(np.float32),
            "smpl_trans": self.translation.astype(np.float64) * scaling,
            "smpl_scaling": np.array([scaling], dtype=np.float64),
        }

    def joints(self) -> np.ndarray:
        """World joint positions ``(T, 24, 3)`` float32 metres, y up (skeleton FK, computed in float64).

        Computed once per motion and kept (the motion is immutable): every export of a dance
        shares one forward kinematics. The array is read-only; copy it to change it.
        """
        cached = self.__dict__.get("_joints")
        if cached is not None:
            return cached
        # In blocks of frames: FK's float64 copies and 24 world frames of an hour-long dance would
        # be ~0.8 GB. Frames are independent, so the bits are the same.
        joints = np.empty((len(self), N_JOINTS, 3), dtype=np.float32)
        for first in range(0, len(self), _BLOCK):
            block = slice(first, first + _BLOCK)
            joints[block] = forward_kinematics(self.rotations[block].astype(np.float64),
                                               self.translation[block].astype(np.float64))
        joints.setflags(write=False)
        object.__setattr__(self, "_joints", joints)  # frozen dataclass: its one cache
        return joints

    # ------------------------------------------------------------------ time

    def __len__(self) -> int:
        return len(self.rotations)

    @property
    def duration(self) -> float:
        """Seconds covered: ``len / fps`` (each frame lasts ``1 / fps``)."""
        return len(self) / self.fps

    def slice(self, start: int | None = None, stop: int | None = None) -> SMPLMotion:
        """Frames ``[start, stop)`` (Python slice rules, negatives allowed); ValueError if empty."""
        index = slice(start, stop)
        if len(range(*index.indices(len(self)))) == 0:
            raise ValueError(f"slice({start}, {stop}) of a {len(self)}-frame motion is empty")
        return SMPLMotion(self.rotations[index], self.translation[index], self.fps)

    def resample(self, fps: float) -> SMPLMotion:
        """The motion at another frame rate.

        Output frame ``k`` is the pose at time ``k / fps``, for every ``k`` with
        ``k / fps <= (T - 1) / self.fps`` (the last input frame: no extrapolation).
        Rotations are slerped between the two neighbouring input frames, translation
        is interpolated linearly.
        """
        fps = float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive and finite, got {fps}")
        if fps == self.fps:
            return self
        n_out = math.floor((len(self) - 1) * fps / self.fps + 1e-9) + 1
        src = np.arange(n_out, dtype=np.float64) * (self.fps / fps)  # fractional input frame
        src = np.where(np.abs(src - np.round(src)) < 1e-9, np.round(src), src)  # exact hits stay exact
        i0 = np.minimum(np.floor(src).astype(np.int64), len(self) - 1)
        i1 = np.minimum(i0 + 1, len(self) - 1)
        w = src - i0  # (n_out,) in [0, 1)
        rot = self.rotations.astype(np.float64)
        # Frames that fall on an input frame are that frame (all of them from 60 to 30 fps, the EDGE
        # export); the rest are slerped, the rotations being checked orthonormal (rotations.ORTHONORMAL).
        rotations = rot[i0]
        between = w > 0
        if between.any():
            rotations[between] = slerp_matrices(rot[i0[between]], rot[i1[between]], w[between, None],
                                                orthonormal=True)
        trans = self.translation.astype(np.float64)
        translation = (1 - w)[:, None] * trans[i0] + w[:, None] * trans[i1]
        return SMPLMotion(rotations, translation, fps)


def fact_vector_to_joints(x) -> np.ndarray:
    """FACT motion vectors ``(T, 219)`` or ``(T, 225)`` -> joints ``(T, 24, 3)`` float32 metres, y up.

    Rotations are projected onto SO(3) first (reference.md §4.6).
    """
    return SMPLMotion.from_fact_vector(x).joints().copy()  # the caller's own, writable


# --------------------------------------------------------------------------------------------
# Easing generated frames in from the motion before them (seams between chunks, continuations)
# --------------------------------------------------------------------------------------------


def rotation_exp(v: np.ndarray) -> np.ndarray:
    """Axis-angle ``(..., 3)`` -> rotation matrices (Rodrigues). Written out rather than through scipy
    (:mod:`aichoreo.rotations`): generation eases about a hundred rotations a pass, where scipy's
    per-call overhead is most of the time (1.4 ms a pass against 0.1)."""
    angle = np.linalg.norm(v, axis=-1)[..., None, None]
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    small = angle < 1e-8
    a = np.where(small, 1.0, np.sin(angle) / np.where(small, 1.0, angle))
    b = np.where(small, 0.5, (1 - np.cos(angle)) / np.where(small, 1.0, angle) ** 2)
    return np.eye(3) + a * k + b * (k @ k)


_NEAR_PI = 3.0  # radians: from here on the axis comes from scipy (the closed form loses it at pi)


def rotation_log(r: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)``, written out for speed as
    :func:`rotation_exp`; turns of more than ``_NEAR_PI``, where the closed form's axis is ill-defined, are
    taken from :func:`aichoreo.rotations.matrix_to_axis_angle`."""
    cos = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    axis = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    sin = np.sin(angle)
    scale = np.where(sin > 1e-8, angle / (2 * np.where(sin > 1e-8, sin, 1.0)), 0.5)
    out = axis * scale[..., None]
    wide = angle > _NEAR_PI
    if wide.any():
        out[wide] = matrix_to_axis_angle(r[wide])
    return out

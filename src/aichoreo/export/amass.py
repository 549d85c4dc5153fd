"""AMASS-style ``.npz``: the SMPL+H layout of the AMASS release, z up.

Arrays (AMASS "SMPL+H G" files, as read by human_body_prior, aitviewer and HumanML3D):

==================  ==================  ======================================================
key                 shape, dtype        meaning
==================  ==================  ======================================================
``poses``           ``(T, 156)`` f64    axis-angle radians: 22 body joints (66, joint 0 = global
                                        orientation), then 2 x 15 finger joints (90, zero);
                                        ``layout="smpl"``: ``(T, 72)``, the 24 SMPL joints
``trans``           ``(T, 3)`` f64      the smplx ``transl``, metres, z up
``betas``           ``(16,)`` f64       zeros (the neutral shape of our skeleton)
``gender``          ``()`` str          ``"male"`` (AIST++ fits use the male model)
``mocap_framerate`` ``()`` f64          the motion's frame rate (not resampled)
``dmpls``           ``(T, 8)`` f64      zeros (soft-tissue coefficients some loaders expect)
==================  ==================  ======================================================

**z up, done exactly.** AMASS is z up, so the whole body is turned by ``R`` = +90 degrees about
x. smplx rotates the body about the rest pelvis ``J0``, so turning the global orientation alone
would swing the body around ``J0``; the translation that keeps every joint at ``R @ joint`` is
``trans = R @ (transl + J0) - J0`` (our skeleton's ``J0``; SMPL+H has SMPL's body).

SMPL's hand joints 22-23 (``left_hand``, ``right_hand``) have no place in SMPL+H and move no
other joint; ``layout="smplh"`` drops their rotations (read back as identity).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from aichoreo.errors import InputError
from aichoreo.export._common import Z_UP_FROM_Y_UP
from aichoreo.fileio import atomic_path, read_npz
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from aichoreo.skeleton import J0, N_JOINTS

__all__ = ["write_amass", "read_amass"]

_SMPLH_BODY_JOINTS = 22  # SMPL+H keeps SMPL's joints 0-21 and replaces 22-23 by two 15-joint hands
_SMPLH_POSE_DIM = 156
_SMPL_POSE_DIM = N_JOINTS * 3
_N_BETAS = 16  # AMASS's SMPL+H files store 16 shape coefficients
_N_DMPLS = 8


def write_amass(
    motion: SMPLMotion, path: str | os.PathLike, *, layout: Literal["smplh", "smpl"] = "smplh"
) -> Path:
    """Write ``motion`` as an AMASS-style npz (z up, metres, the motion's own fps), atomically.

    ``layout``: ``"smplh"`` for AMASS's 156-d ``poses`` (what AMASS tools read), ``"smpl"``
    for the 72-d SMPL layout.
    """
    if layout not in ("smplh", "smpl"):
        raise ValueError(f"layout must be 'smplh' or 'smpl', got {layout!r}")
    t = len(motion)
    rotations = motion.rotations.astype(np.float64)
    rotations[:, 0] = Z_UP_FROM_Y_UP @ rotations[:, 0]
    trans = (motion.translation.astype(np.float64) + J0) @ Z_UP_FROM_Y_UP.T - J0
    axis_angle = matrix_to_axis_angle(rotations, orthonormal=True)  # (T, 24, 3): an SMPLMotion's
    if layout == "smplh":
        poses = np.zeros((t, _SMPLH_POSE_DIM))
        poses[:, : _SMPLH_BODY_JOINTS * 3] = axis_angle[:, :_SMPLH_BODY_JOINTS].reshape(t, -1)
    else:
        poses = axis_angle.reshape(t, _SMPL_POSE_DIM)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(  # the zero hands and dmpls cost nothing compressed; np.load reads both
            f,
            poses=poses,
            trans=trans,
            betas=np.zeros(_N_BETAS),
            gender=np.array("male"),
            mocap_framerate=np.array(motion.fps),
            dmpls=np.zeros((t, _N_DMPLS)),
        )
    return path


def read_amass(path: str | os.PathLike) -> SMPLMotion:
    """An AMASS-style npz (``poses`` 156 or 72 wide) as a y-up :class:`SMPLMotion` at its ``mocap_framerate``.

    Inverts :func:`write_amass`; an AMASS release file reads as its SMPL body (fingers dropped,
    SMPL's hand joints at identity; the shape ``betas`` are not applied to our skeleton).
    """
    path = Path(path)
    data = read_npz(path)
    for key in ("poses", "trans"):
        if key not in data:
            raise InputError(path, f"missing key {key!r} (keys present: {', '.join(sorted(data)) or 'none'})")
    rate_key = "mocap_framerate" if "mocap_framerate" in data else "mocap_frame_rate"  # SMPL-X files
    if rate_key not in data:
        raise InputError(path, "missing key 'mocap_framerate'")
    if np.asarray(data[rate_key]).size != 1:
        raise InputError(path, f"{rate_key} has shape {np.asarray(data[rate_key]).shape}, expected one number")
    poses, trans = np.asarray(data["poses"], np.float64), np.asarray(data["trans"], np.float64)
    if poses.ndim != 2 or poses.shape[1] not in (_SMPLH_POSE_DIM, _SMPL_POSE_DIM):
        raise InputError(path, f"poses has shape {poses.shape}, expected (N, 156) or (N, 72)")
    if trans.shape != (len(poses), 3):
        raise InputError(path, f"trans has shape {trans.shape}, expected ({len(poses)}, 3)")
    axis_angle = np.zeros((len(poses), N_JOINTS, 3))
    n_body = _SMPLH_BODY_JOINTS if poses.shape[1] == _SMPLH_POSE_DIM else N_JOINTS
    axis_angle[:, :n_body] = poses[:, : n_body * 3].reshape(len(poses), n_body, 3)
    rotations = axis_angle_to_matrix(axis_angle)
    rotations[:, 0] = Z_UP_FROM_Y_UP.T @ rotations[:, 0]
    transl = (trans + J0) @ Z_UP_FROM_Y_UP - J0
    try:
        return SMPLMotion(rotations, transl, float(np.asarray(data[rate_key]).reshape(())))
    except (TypeError, ValueError) as exc:
        raise InputError(path, str(exc)) from None

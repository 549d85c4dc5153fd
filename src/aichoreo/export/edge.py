"""EDGE-style motion pickle: what EDGE's ``test.py`` saves and its SMPL-to-FBX converter reads.

EDGE (Stanford-TML/EDGE) writes one pickle per dance (``model/diffusion.py``,
``render_sample``) with exactly three keys, and we write the same, with EDGE's conventions:

==============  ===================  ============================================================
key             shape, dtype         meaning
==============  ===================  ============================================================
``smpl_poses``  ``(T, 72)`` float32  axis-angle radians, 24 SMPL joints; joint 0 (global
                                     orientation) rotated to **z up**
``smpl_trans``  ``(T, 3)`` float32   the smplx ``transl`` in metres rotated to z up, ``R @ transl``
``full_pose``   ``(T, 24, 3)`` f32   joint positions in metres, z up: EDGE's forward kinematics
                                     of the two arrays above (``vis.py``, ``SMPLSkeleton``)
==============  ===================  ============================================================

* **30 fps**: EDGE trains and generates at 30 fps (``dataset/dance_dataset.py``, ``data_fps``)
  and the FBX converter keys frames at 30 fps (``SMPL-to-FBX/FbxReadWriter.py``); our 60 fps
  motion is resampled (every other frame).
* **z up**: ``R`` = +90 degrees about x, as EDGE rotates AIST++ (``dance_dataset.py``); the
  converter rotates back by -90 degrees for Blender (``FbxReadWriter.py``).
* **EDGE's root quirk, kept**: EDGE's FK puts the root joint *at* ``smpl_trans``, where smplx
  puts it at ``transl + J0``. So ``full_pose = R @ (our joints - J0)``: our joints rotated to
  z up and shifted by ``-R @ J0`` = (0.002, 0.029, 0.241) m (24 cm up). That is what EDGE's own output
  files hold, so tools written for them (its PFC metric, the FBX converter, Blender add-ons)
  treat our files like theirs; :func:`read_edge` undoes it exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.export._common import Z_UP_FROM_Y_UP, get_array
from aichoreo.fileio import read_array_pickle, write_array_pickle
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from aichoreo.skeleton import N_JOINTS, forward_kinematics

__all__ = ["EDGE_FPS", "write_edge", "read_edge", "is_edge_layout", "edge_forward_kinematics"]

EDGE_FPS = 30.0  # Stanford-TML/EDGE dataset/dance_dataset.py: data_fps = 30


def edge_forward_kinematics(smpl_poses: np.ndarray, smpl_trans: np.ndarray) -> np.ndarray:
    """EDGE's FK: joints ``(T, 24, 3)`` metres from ``smpl_poses`` ``(T, 72)`` and ``smpl_trans`` ``(T, 3)``.

    Same skeleton offsets as ours (EDGE ``vis.py`` ``smpl_offsets``), but the root joint sits at
    ``smpl_trans`` itself (no rest-pelvis offset), in whatever up axis the inputs use.
    """
    rotations = axis_angle_to_matrix(np.asarray(smpl_poses, dtype=np.float64).reshape(-1, N_JOINTS, 3))
    return forward_kinematics(rotations, np.asarray(smpl_trans, dtype=np.float64), root_offset=np.zeros(3))


def write_edge(motion: SMPLMotion, path: str | os.PathLike) -> Path:
    """Write ``motion`` as an EDGE-style pickle: 30 fps, z up, EDGE's keys (atomically)."""
    m = motion.resample(EDGE_FPS)
    rotations = m.rotations.astype(np.float64)  # a writable copy
    rotations[:, 0] = Z_UP_FROM_Y_UP @ rotations[:, 0]  # only the global orientation turns
    trans = m.translation.astype(np.float64) @ Z_UP_FROM_Y_UP.T
    poses = matrix_to_axis_angle(rotations, orthonormal=True).reshape(len(m), N_JOINTS * 3)  # an SMPLMotion's
    full_pose = forward_kinematics(rotations, trans, root_offset=np.zeros(3))
    data = {
        "smpl_poses": poses.astype(np.float32),
        "smpl_trans": trans.astype(np.float32),
        "full_pose": full_pose.astype(np.float32),
    }
    return write_array_pickle(data, path)


def is_edge_layout(arrays: dict) -> bool:
    """Whether a motion pickle's arrays (:func:`aichoreo.fileio.read_array_pickle`) are EDGE's:
    ``smpl_poses`` and ``smpl_trans`` without AIST++'s ``smpl_scaling``."""
    return "smpl_scaling" not in arrays and {"smpl_poses", "smpl_trans"} <= arrays.keys()


def read_edge(path: str | os.PathLike, *, fps: float = EDGE_FPS) -> SMPLMotion:
    """An EDGE-style pickle (ours or EDGE's own output) as a y-up :class:`SMPLMotion`.

    Inverts :func:`write_edge`: the global orientation and ``smpl_trans`` are rotated back to
    y up. ``fps``: the file's frame rate (EDGE files have no field for it; EDGE uses 30).
    """
    path = Path(path)
    data = read_array_pickle(path)
    poses = get_array(data, "smpl_poses", path, (None, N_JOINTS * 3))
    trans = get_array(data, "smpl_trans", path, (None, 3))
    if len(poses) != len(trans):
        raise InputError(path, f"frame counts differ: smpl_poses has {len(poses)}, smpl_trans has {len(trans)}")
    rotations = axis_angle_to_matrix(poses.reshape(-1, N_JOINTS, 3))
    rotations[:, 0] = Z_UP_FROM_Y_UP.T @ rotations[:, 0]
    try:
        return SMPLMotion(rotations, trans @ Z_UP_FROM_Y_UP, fps)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None

"""Joint positions as ``.npy``: ``(T, 24, 3)`` float32, metres, y up, SMPL joint order, 60 fps.

The plainest exchange format: ``numpy.load`` gives the array FACT's reference code writes for
its metrics (google-research/mint), in the project's conventions (docs/architecture.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import read_npy, save_npy
from aichoreo.motion import SMPLMotion
from aichoreo.skeleton import FPS, N_JOINTS

__all__ = ["write_joints", "read_joints"]


def write_joints(motion: SMPLMotion, path: str | os.PathLike, *, fps: float = FPS) -> Path:
    """Write the joints ``(T, 24, 3)`` float32 metres, y up, resampled to ``fps`` (default 60), atomically.

    The file has no frame-rate field: readers assume the project's 60 fps.
    """
    return save_npy(path, motion.resample(fps).joints())


def read_joints(path: str | os.PathLike) -> np.ndarray:
    """A joints ``.npy`` as ``(T, 24, 3)`` float32 metres; :class:`InputError` naming the file otherwise."""
    path = Path(path)
    joints = read_npy(path)
    if joints.ndim != 3 or joints.shape[1:] != (N_JOINTS, 3) or len(joints) == 0:
        raise InputError(path, f"joints have shape {joints.shape}, expected (T, {N_JOINTS}, 3) with T >= 1")
    if not np.issubdtype(joints.dtype, np.floating) or not np.isfinite(joints).all():
        raise InputError(path, "joints are not finite floating-point numbers")
    return joints.astype(np.float32, copy=False)

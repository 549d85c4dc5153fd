"""Read a motion from any file the project writes or reads, as SMPL-24 joints.

Accepted: ``.npy`` joints ``(T, 24, 3)`` metres y-up; an AIST++ motion ``.pkl`` (``smpl_poses``,
``smpl_trans``, ``smpl_scaling``; this is also what ``aichoreo`` generation writes), turned into
joints by forward kinematics.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.skeleton import N_JOINTS

MOTION_SUFFIXES = (".npy", ".pkl")


def load_joints(path: str | os.PathLike, *, fps: float = 60.0) -> tuple[np.ndarray, float]:
    """Joints ``(T, 24, 3)`` float32 metres y-up, and their frame rate.

    ``fps`` is the frame rate of a ``.npy`` file (which does not store one); AIST++ pickles are
    60 fps by definition.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            joints = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(path, f"not a readable .npy file: {exc}") from None
        if joints.ndim != 3 or joints.shape[1:] != (N_JOINTS, 3):
            raise InputError(path, f"joints have shape {joints.shape}, expected (T, {N_JOINTS}, 3)")
        if len(joints) == 0:
            raise InputError(path, "has no frames")
        if not np.all(np.isfinite(joints)):
            raise InputError(path, "contains NaN or infinite values")
        return joints.astype(np.float32, copy=False), float(fps)
    if suffix == ".pkl":
        from aichoreo.data.aistpp import load_motion_smpl

        motion = load_motion_smpl(path)
        return motion.joints(), float(motion.fps)
    raise InputError(path, f"unknown motion file type {suffix!r}; expected one of {', '.join(MOTION_SUFFIXES)}")


def list_motion_files(folder: str | os.PathLike) -> list[Path]:
    """Motion files of ``folder``, sorted: its ``.npy``/``.pkl`` files, or else its generation outputs.

    A folder written by ``aichoreo dance`` holds one sub-folder per song; there the joints
    files ``*_joints.npy`` are taken.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES)
    if not files:
        files = sorted(folder.rglob("*_joints.npy"))
    if not files:
        raise InputError(folder, "holds no motion files (.npy joints (T, 24, 3), AIST++ .pkl, or dance outputs)")
    return files

"""Read a motion from any file the project writes or reads, as SMPL-24 joints.

Accepted: ``.npy`` joints ``(T, 24, 3)`` metres y-up; an AIST++ motion ``.pkl`` (``smpl_poses``,
``smpl_trans``, ``smpl_scaling``; this is also what ``aichoreo`` generation writes), turned into
joints by forward kinematics.

Motions a user hands in (a dance seed, a file to render, score or plot) are also checked for
plausible values (:func:`check_joints`, :func:`check_motion`, :func:`check_fact_vectors`), so
that garbage fails with one line naming the file instead of a linear-algebra traceback or a
video of nothing: finite numbers, positions within :data:`MAX_DISTANCE_M` of the origin, a body of
a person's size and a root no faster than a person (what tells centimetres or millimetres read as
metres), and rotation blocks that are rotations (up to the drift of a network's output).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import read_json, read_npy
from aichoreo.motion import FACT_DIM, FACT_PAD, FACT_PADDED_DIM, SMPLMotion
from aichoreo.skeleton import FPS, MAX_DISTANCE_M, N_JOINTS, check_body_size

MOTION_SUFFIXES = (".npy", ".pkl")

# Accepted singular values of a 3x3 rotation block of FACT vectors: a network's output drifts a
# few percent from a rotation and is projected back (SVD); a block this far off is not a rotation.
_ROTATION_SINGULAR_VALUES = (0.5, 1.5)


# Fastest a root may move, metres per second, as the median over a motion's frames: a dancer
# travels at up to about 1 m/s for long (the bundled model's, walking on a breakbeat, 0.84), a
# sprinter at 10. A translation in centimetres read as metres moves 100 times as fast as it did.
MAX_ROOT_SPEED_M_S = 10.0


def check_joints(joints: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """``joints`` ``(T, J, 3)`` metres if finite, within :data:`MAX_DISTANCE_M` of the origin and of a
    person's size (:func:`aichoreo.skeleton.check_body_size`); else :class:`InputError` naming ``path``."""
    if not np.all(np.isfinite(joints)):
        raise InputError(path, "contains NaN or infinite values")
    reach = float(np.abs(joints).max(initial=0.0))
    if reach > MAX_DISTANCE_M:
        raise InputError(path, f"joints reach {reach:.3g} m from the origin; a dance stays within "
                               f"{MAX_DISTANCE_M:g} m (metres expected: centimetres or millimetres?)")
    check_body_size(joints, path)
    return joints


def _check_root(translation: np.ndarray, fps: float, path: str | os.PathLike, what: str) -> None:
    """:class:`InputError` naming ``path`` when the root ``translation (T, 3)`` goes beyond
    :data:`MAX_DISTANCE_M` or moves faster than :data:`MAX_ROOT_SPEED_M_S` (the median over frames)."""
    reach = float(np.abs(translation).max(initial=0.0))
    if reach > MAX_DISTANCE_M:
        raise InputError(path, f"the root moves {reach:.3g} m from the origin; a dance stays within "
                               f"{MAX_DISTANCE_M:g} m ({what})")
    if len(translation) > 1:
        speed = float(np.median(np.linalg.norm(np.diff(translation, axis=0), axis=-1))) * fps
        if speed > MAX_ROOT_SPEED_M_S:
            raise InputError(path, f"the root moves at {speed:.3g} m/s (the median over frames); a dancer moves at "
                                   f"up to a few m/s ({what})")


def check_motion(motion: SMPLMotion, path: str | os.PathLike) -> SMPLMotion:
    """``motion`` if its root stays within :data:`MAX_DISTANCE_M` of the origin and moves no faster than
    :data:`MAX_ROOT_SPEED_M_S`, else :class:`InputError`.

    (:class:`SMPLMotion` itself guarantees finite values and rotation matrices.)
    """
    _check_root(np.asarray(motion.translation, dtype=np.float64), motion.fps, path,
                "a translation in centimetres, or not a motion?")
    return motion


def check_fact_vectors(x: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """FACT motion vectors ``(T, 219)`` or ``(T, 225)`` (translation metres, 24 row-major 3x3
    rotations) as float64, if finite, the translation plausible and every 3x3 block near a
    rotation (singular values in [0.5, 1.5]); :class:`InputError` naming ``path`` otherwise."""
    if x.ndim != 2 or x.shape[1] not in (FACT_DIM, FACT_PADDED_DIM) or x.dtype.kind not in "fiu" or not len(x):
        raise InputError(path, f"has shape {x.shape} ({x.dtype}), expected FACT motion vectors "
                               f"(T, {FACT_DIM}) or (T, {FACT_PADDED_DIM}) of numbers, T >= 1")
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise InputError(path, "contains NaN or infinite values")
    body = x[:, FACT_PAD:] if x.shape[1] == FACT_PADDED_DIM else x
    _check_root(body[:, :3], FPS, path, "translation in metres expected")
    singular = np.linalg.svd(body[:, 3:].reshape(-1, 3, 3), compute_uv=False)
    low, high = _ROTATION_SINGULAR_VALUES
    if len(singular) and not (singular.min() >= low and singular.max() <= high):
        raise InputError(path, f"its 3x3 blocks are not rotations (singular values from {singular.min():.3g} to "
                               f"{singular.max():.3g}, expected near 1): not FACT motion vectors")
    return x


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
        joints = read_npy(path)
        if joints.ndim != 3 or joints.shape[1:] != (N_JOINTS, 3):
            raise InputError(path, f"joints have shape {joints.shape}, expected (T, {N_JOINTS}, 3)")
        if joints.dtype.kind not in "fiu":
            raise InputError(path, f"joints are {joints.dtype}, expected numbers")
        if len(joints) == 0:
            raise InputError(path, "has no frames")
        check_joints(joints, path)
        return joints.astype(np.float32, copy=False), float(fps)
    if suffix == ".pkl":
        from aichoreo.data.aistpp import load_motion_smpl

        motion = check_motion(load_motion_smpl(path), path)
        return motion.joints().copy(), float(motion.fps)  # the caller's own, writable
    raise InputError(path, f"unknown motion file type {suffix!r}; expected one of {', '.join(MOTION_SUFFIXES)}")


def list_motion_files(folder: str | os.PathLike) -> list[Path]:
    """Motion files of ``folder``, sorted: its ``.npy``/``.pkl`` files, or else its generation outputs.

    A folder written by ``aichoreo dance`` holds one sub-folder per song; there the joints
    files ``*_joints.npy`` are taken. Hidden files and folders are skipped: they hold the
    unfinished exports of a run that is still going or was killed, not a dance.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES and not p.name.startswith("."))
    if not files:
        files = sorted(p for p in folder.rglob("*_joints.npy")
                       if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise InputError(folder, "holds no motion files (.npy joints (T, 24, 3), AIST++ .pkl, or dance outputs)")
    return files


def dance_music(path: str | os.PathLike) -> tuple[str, float] | None:
    """``(song stem, start s)`` of a motion file that ``aichoreo dance`` wrote (a ``dance.json``
    beside it names the song and ``--start``: the dance's frame 0 sounds ``start`` s into the
    song), or ``None`` for any other file (or a ``dance.json`` that cannot be read)."""
    settings = Path(path).with_name("dance.json")
    if not settings.is_file():
        return None
    try:
        data = read_json(settings)
        song, start = Path(data["song"]).stem, float(data["options"]["start"])
    except (InputError, KeyError, TypeError, ValueError):
        return None
    return (song, start) if np.isfinite(start) and start >= 0 else None

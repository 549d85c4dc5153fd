"""A dance from any motion file the project writes or reads, as an SMPL motion: what ``aichoreo
retarget`` puts on a character, and what ``aichoreo dance`` continues (``--continue``), keeps parts of
(``--from``), takes keyframe poses from and starts from (``--seed-motion``).

* ``.pkl``: an AIST++ motion pickle (what ``aichoreo dance`` writes as ``dance.pkl``), or an
  EDGE-style pickle (``dance_edge.pkl``, or EDGE's own output: ``smpl_poses`` and ``smpl_trans``
  without ``smpl_scaling``, 30 fps, z up); told apart by their keys and read with the restricted
  unpickler;
* ``.npz``: an AMASS-style npz (``dance_amass.npz``, or an AMASS release file's SMPL body);
* ``.bvh``: a BVH of aichoreo's SMPL-24 skeleton (``dance.bvh``; metres or centimetres, any
  channel order), joints matched by name;
* ``.npy``: SMPL-24 joints ``(T, 24, 3)`` metres y up at 60 fps (``dance_joints.npy``), turned
  into rotations by fitting the SMPL skeleton (:func:`aichoreo.reconstruct.fit.fit_smpl`); or FACT
  motion vectors ``(T, 225)`` / ``(T, 219)`` at 60 fps (what ``aichoreo generate`` writes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from aichoreo.data.aistpp import load_motion_smpl
from aichoreo.data.motion_files import check_fact_vectors, check_joints, check_motion
from aichoreo.errors import InputError
from aichoreo.export.amass import read_amass
from aichoreo.export.edge import is_edge_layout, read_edge
from aichoreo.fileio import read_array_pickle, read_npy
from aichoreo.motion import SMPLMotion
from aichoreo.retarget.bvh_io import read_bvh
from aichoreo.skeleton import FPS, J0, JOINT_NAMES, N_JOINTS, REST_OFFSETS, check_motion_fps, check_y_up

__all__ = ["read_source_motion", "SOURCE_SUFFIXES"]

SOURCE_SUFFIXES = (".pkl", ".npz", ".bvh", ".npy")
_FIT_ITERATIONS = 300
# The fit's smoothness weight for a joints file (fit_smpl's default is 1, for keypoints triangulated
# from video). A file of SMPL-24 joints is a skeleton's own joints, not noisy detections: at the default
# the smoothing pulled the fast limbs of a generated dance off their joints (1.7 cm on average, 7.7 cm
# at worst over its last 2 s); at 0.01, 0.3 and 1.4 cm (0 gains nothing more).
_FIT_SMOOTH = 0.01
# The least spread (m, the diagonal of the box around a frame's joints) of a body: a person crouched
# into a ball still spans 0.5 m.
_MIN_BODY_EXTENT_M = 0.2


def _from_bvh(path: Path) -> SMPLMotion:
    bvh = read_bvh(path)
    names = bvh["names"]
    missing = [n for n in JOINT_NAMES if n not in names]
    if missing:
        raise InputError(path, f"not a BVH of aichoreo's SMPL skeleton (no joint {missing[0]!r}); "
                               "to retarget another skeleton's motion, fit it to SMPL first (aichoreo fit)")
    order = [names.index(n) for n in JOINT_NAMES]
    # Units: the file's thigh length against SMPL's (aichoreo writes metres or centimetres).
    knee = JOINT_NAMES.index("left_knee")
    units = np.linalg.norm(bvh["offsets"][order[knee]]) / np.linalg.norm(REST_OFFSETS[knee])
    if not np.isfinite(units) or units <= 0:
        raise InputError(path, "its left_knee OFFSET is zero: cannot tell the units")
    translation = bvh["positions"][:, order[0]] / units - J0
    return check_motion(SMPLMotion(bvh["rotations"][:, order], translation, bvh["fps"]), path)


def _from_npy(path: Path, progress: bool, span: slice) -> SMPLMotion:
    """Joints ``(T, 24, 3)`` fitted, or FACT vectors ``(T, 225|219)``, told apart by their shape; the
    frames ``span`` alone (both kinds are 60 fps; the joints fitted on those only)."""
    array = read_npy(path)
    if array.ndim >= 1:
        array = array[span]
    if array.ndim == 2:  # FACT vectors, checked (shape, finite, rotations) before they are decoded
        return check_motion(SMPLMotion.from_fact_vector(check_fact_vectors(array, path), fps=FPS), path)
    if array.ndim != 3 or array.shape[1:] != (N_JOINTS, 3) or len(array) < 1:
        raise InputError(path, f"has shape {array.shape}; expected SMPL-24 joints (T, {N_JOINTS}, 3) "
                               "or FACT motion vectors (T, 225)")
    from aichoreo.reconstruct.fit import fit_smpl
    from aichoreo.reconstruct.layouts import SMPL24

    joints = check_joints(array.astype(np.float64), path)
    check_y_up(joints, SMPL24.feet, path)
    # A frame whose joints all but meet is no body (a tracker's zeros for a missed person); the fit
    # would stop on a singular rotation deep inside scipy, naming no file.
    extent = np.linalg.norm(joints.max(axis=1) - joints.min(axis=1), axis=-1)  # (T,) m
    collapsed = np.flatnonzero(extent < _MIN_BODY_EXTENT_M)
    if len(collapsed):
        raise InputError(path, f"the joints of {len(collapsed)} of its {len(joints)} frames (the first: frame "
                               f"{collapsed[0]}) lie within {_MIN_BODY_EXTENT_M * 100:.0f} cm of each other: "
                               "not a body's SMPL-24 joints in metres")
    fit = fit_smpl(joints, SMPL24, fps=FPS, iterations=_FIT_ITERATIONS, smooth_weight=_FIT_SMOOTH,
                   progress=progress)
    # The dancer where its joints are: the fit's motion has the body at SMPL size and its path divided
    # by the body's scale (AIST++'s convention), and a scale of 0.996 put a dancer 10 m from the origin
    # 4 cm away from its own joints, a jump at a continuation's seam. The body is SMPL's size here; the
    # root goes where the file's root is.
    root = fit.scale * (fit.motion.translation + J0)  # (T, 3) metres, the file's pelvis
    return check_motion(SMPLMotion(fit.motion.rotations, root - J0, FPS), path)


def _from_pickle(path: Path) -> SMPLMotion:
    """An AIST++ pickle (it has ``smpl_scaling``) or an EDGE-style one (``smpl_poses`` and
    ``smpl_trans`` without it)."""
    if is_edge_layout(read_array_pickle(path)):
        return check_motion(read_edge(path), path)
    return check_motion(load_motion_smpl(path), path)


def read_source_motion(path: str | os.PathLike, *, progress: bool = False, first_s: float | None = None,
                       last_s: float | None = None) -> SMPLMotion:
    """The motion in ``path`` (``.pkl``, ``.npz``, ``.bvh``, ``.npy``; see the module docstring), at
    the file's own frame rate; with ``first_s`` or ``last_s``, its first or last that many seconds
    alone (what a seed or a continuation needs: a joints file is then fitted on those frames only,
    where the whole of a 3-minute dance took 40 s on the project's 2-core CPU). ``progress``: a bar
    over a joints file's fit.

    Raises :class:`InputError` with one line naming the file when it is missing, of another
    kind, or not a motion.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.is_dir() else "is a folder, expected a motion file")
    for name, value in (("first_s", first_s), ("last_s", last_s)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if first_s is not None and last_s is not None:
        raise ValueError("give first_s or last_s, not both")

    def span(fps: float) -> slice:
        if first_s is not None:
            return slice(0, max(1, math.ceil(first_s * fps)))
        return slice(-max(1, math.ceil(last_s * fps)), None) if last_s is not None else slice(None)

    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _from_npy(path, progress, span(FPS))
    if suffix == ".pkl":
        motion = _from_pickle(path)
    elif suffix == ".npz":
        motion = check_motion(read_amass(path), path)
    elif suffix == ".bvh":
        motion = _from_bvh(path)
    else:
        raise InputError(path, f"unknown motion format {suffix or '(no suffix)'}; expected one of "
                               f"{', '.join(SOURCE_SUFFIXES)}")
    check_motion_fps(motion.fps, path)
    s = span(motion.fps)
    return motion.slice(s.start, s.stop) if s != slice(None) else motion

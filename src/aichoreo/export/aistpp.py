"""AIST++ motion pickle: the layout of the dataset's ``motions/<seq>.pkl``.

Keys (google/aistplusplus_api ``processing/run_estimate_smpl.py``; reference.md §1):
``smpl_poses`` ``(T, 72)`` float32 axis-angle radians (joint 0 = global orientation),
``smpl_trans`` ``(T, 3)`` float64, ``smpl_scaling`` ``(1,)`` float64, ``smpl_loss`` float.
Every reader (mint, Bailando, EDGE, the AIST++ API) takes ``smpl_trans / smpl_scaling`` as the
smplx ``transl`` in metres with a stock male SMPL body, betas 0; y up; 60 fps (the file has no
frame-rate field, so other rates are resampled to 60).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from aichoreo.fileio import write_array_pickle
from aichoreo.motion import SMPLMotion
from aichoreo.skeleton import FPS

__all__ = ["write_aistpp"]

log = logging.getLogger(__name__)


def write_aistpp(motion: SMPLMotion, path: str | os.PathLike, *, scaling: float = 1.0) -> Path:
    """Write ``motion`` as an AIST++ motion pickle at 60 fps (atomically).

    Args:
        motion: the dance; resampled to 60 fps when it has another rate.
        scaling: the ``smpl_scaling`` to store; ``smpl_trans = translation * scaling``. The
            default 1 keeps ``smpl_trans`` in metres (the release files use about 90-100 with
            centimetre-like ``smpl_trans``; every reader divides, so both mean the same motion).

    ``smpl_loss`` is 0.0 (no fit produced this motion). The pickle opens with numpy 1.x and 2.x.
    """
    if not (math.isfinite(scaling) and scaling > 0):
        raise ValueError(f"scaling must be positive and finite, got {scaling}")
    if motion.fps != FPS:
        log.info("AIST++ pickle: resampling %g fps -> %g fps", motion.fps, FPS)
    data = {**motion.resample(FPS).to_aistpp(scaling), "smpl_loss": 0.0}
    return write_array_pickle(data, path)

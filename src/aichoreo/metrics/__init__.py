"""Dance metrics, identical to the reference code: pure numpy/scipy functions.

* :func:`kinetic_features` (72-d) and :func:`manual_features` (32-d geometric), per motion;
  :func:`extract_features` for a set of motions;
* :func:`normalize`, :func:`fid`, :func:`fid_from_features` (FID_k / FID_g),
  :func:`diversity`, :func:`dist_from_features` (Dist_k / Dist_g);
* :func:`beat_align` (FACT or Bailando definition), :func:`kinematic_beats`,
  :func:`motion_envelope`, :func:`music_beat_frames`;
* :func:`pfc` (EDGE) and :func:`foot_skating` (GMD skating ratio);
* whole-song quality of one dance (:mod:`aichoreo.metrics.quality`): :func:`mean_joint_speed`,
  :func:`speed_curve`, :func:`fade`, :func:`mean_joint_acceleration`, :func:`support_foot_speed`,
  :func:`stature`, :func:`spread`, compared with a real dance as ratios;
* :class:`StyleClassifier`: the style of each clip of a dance, fitted on real dances
  (:mod:`aichoreo.metrics.style`, measures ``--style``);
* :func:`plot_beat_alignment` (PNG);
* :func:`zero_start` (Bailando's coordinate protocol).

Inputs are joints ``(T, 24, 3)`` in metres, SMPL order; frame rate and up axis are keyword
arguments (the project convention: 60 fps, y up). See docs/metrics.md.
"""

from __future__ import annotations

from aichoreo.metrics._common import zero_start
from aichoreo.metrics.beats import beat_align, beat_frames_at, kinematic_beats, motion_envelope, music_beat_frames
from aichoreo.metrics.features import extract_features
from aichoreo.metrics.fid import dist_from_features, diversity, fid, fid_from_features, frechet_distance, normalize
from aichoreo.metrics.geometric import manual_features
from aichoreo.metrics.kinetic import kinetic_features
from aichoreo.metrics.plausibility import FootSkating, foot_skating, pfc, resample_joints
from aichoreo.metrics.plot import plot_beat_alignment
from aichoreo.metrics.quality import (
    fade,
    mean_joint_acceleration,
    mean_joint_speed,
    speed_curve,
    spread,
    stature,
    support_foot_speed,
)
from aichoreo.metrics.style import StyleClassifier, style_features

__all__ = [
    "kinetic_features",
    "manual_features",
    "extract_features",
    "normalize",
    "frechet_distance",
    "fid",
    "fid_from_features",
    "diversity",
    "dist_from_features",
    "music_beat_frames",
    "beat_frames_at",
    "motion_envelope",
    "kinematic_beats",
    "beat_align",
    "pfc",
    "foot_skating",
    "FootSkating",
    "resample_joints",
    "plot_beat_alignment",
    "mean_joint_speed",
    "speed_curve",
    "fade",
    "mean_joint_acceleration",
    "support_foot_speed",
    "spread",
    "stature",
    "zero_start",
    "StyleClassifier",
    "style_features",
]

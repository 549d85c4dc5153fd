"""BeatAlign: how close kinematic beats (local minima of motion speed) fall to music beats.

Two incompatible definitions are in use (reference.md §6.5); ``mode`` picks one.

``mode="fact"`` -- the FACT authors (liruilong940607/mint ``tools/calculate_beat_scores.py``):

* envelope ``e_t`` = sum over joints of ``|p_t - p_{t-1}|`` (metres per frame), ``e_0 = 0``;
  the reference stores the velocities in float32, and so does this module;
* kinematic beats = strict local minima within ±10 frames (``scipy.signal.argrelextrema``,
  ``np.less``, ``order=10``, edges clipped: frames 0 and T-1 are never beats);
* score = mean over **kinematic** beats of ``exp(-d² / (2 σ²))``, ``σ = 3`` frames, ``d`` = frames
  to the nearest music beat, in float32 as the reference computes it; 0 when there is no
  kinematic beat.

``mode="bailando"`` -- lisiyao21/Bailando ``utils/beat_align_score.py``:

* envelope = mean over joints of ``|p_{t+1} - p_t|`` (T-1 values), Gaussian-smoothed
  (``scipy.ndimage`` σ = 5 frames, reflect, truncate 4);
* kinematic beats = strict local minima, ``order=1``;
* score = mean over **music** beats of ``exp(-min d² / 18)``; music beats are truncated to
  the T-1 envelope frames. The reference fails without a kinematic beat; here the score is 0.

Frame-based constants (order 10, σ 3, smoothing σ 5) are defined at 60 fps; at another
``fps`` they are scaled to the same durations (order ``round(10 fps/60)``, σ ``3 fps/60``,
smoothing ``5 fps/60``), so 60 fps reproduces the references exactly.

Music beats are given either as a **one-hot column** (bool or float array of 0/1 per music
frame, e.g. column 34 of the 35-d FACT music features) or as **frame indices** (an integer
array). Music frame ``i`` is motion frame ``i`` (both 60 fps, same start).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from aichoreo.metrics._common import as_joints, check_fps

__all__ = [
    "BEAT_MODES",
    "REFERENCE_FPS",
    "music_beat_frames",
    "beat_frames_at",
    "motion_envelope",
    "kinematic_beats",
    "beat_align",
]

BEAT_MODES = ("fact", "bailando")
REFERENCE_FPS = 60.0  # the frame-based constants below are defined at 60 fps
FACT_ORDER = 10  # calculate_beat_scores.py: argrelextrema(..., order=10)  # 10 for 60FPS
FACT_SIGMA = 3  # alignment_score(..., sigma=3), frames
BAILANDO_SMOOTH_SIGMA = 5  # beat_align_score.py: gaussian_filter(kinetic_vel, 5)
BAILANDO_SIGMA = 3  # exp(-d² / 2 / 9)


def _check_mode(mode: str) -> str:
    if mode not in BEAT_MODES:
        raise ValueError(f"mode must be one of {BEAT_MODES}, got {mode!r}")
    return mode


def music_beat_frames(music_beats: np.ndarray) -> np.ndarray:
    """Music beat frame indices ``(B,)`` int64, sorted, from a one-hot column or an index array.

    A bool or floating 1-D array is a one-hot column (values 0 or 1; beats where nonzero);
    an integer 1-D array lists frame indices (>= 0; duplicates removed).
    """
    arr = np.asarray(music_beats)
    if arr.ndim != 1:
        raise ValueError(f"music beats: expected a 1-D one-hot column or index array, got shape {arr.shape} "
                         "(pass column 34 of the 35-d music features)")
    if arr.dtype == bool:
        return np.flatnonzero(arr).astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isin(arr, (0.0, 1.0)).all():
            raise ValueError("music beats: a floating array must be a one-hot 0/1 column; "
                             "pass frame indices as an integer array")
        return np.flatnonzero(arr).astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        if (arr < 0).any():
            raise ValueError("music beats: frame indices must be >= 0")
        return np.unique(arr).astype(np.int64)
    raise ValueError(f"music beats: unsupported dtype {arr.dtype}")


def beat_frames_at(music_beats: np.ndarray, *, music_fps: float, fps: float, offset_s: float = 0.0) -> np.ndarray:
    """Music beats ``music_beats`` (one-hot column or indices, :func:`music_beat_frames`) at
    ``music_fps`` as frame indices ``(B,)`` int64 of a motion at ``fps`` whose frame 0 sounds
    ``offset_s`` seconds into the music: the same times, rounded to the motion's frames (beats
    before its frame 0 dropped). The music features are at 60 fps; a motion at 30 fps compared
    with their indices as they are saw every beat at twice its time."""
    frames = music_beat_frames(music_beats)
    times = frames / float(music_fps) - offset_s
    return np.unique(np.round(times[times >= -0.5 / fps] * fps).astype(np.int64).clip(0))


def _scaled(frames_at_60: float, fps: float) -> float:
    return frames_at_60 * fps / REFERENCE_FPS


def motion_envelope(joints: np.ndarray, *, mode: str = "fact", fps: float = 60.0) -> np.ndarray:
    """The speed curve whose minima are kinematic beats: ``(T, J, 3)`` metres -> float64.

    ``"fact"``: ``(T,)`` sum over joints of per-frame displacement (m/frame), 0 at t = 0,
    at float32 precision. ``"bailando"``: ``(T-1,)`` mean over joints, Gaussian-smoothed.
    """
    _check_mode(mode)
    fps = check_fps(fps)
    pos = as_joints(joints, min_frames=2)
    if mode == "fact":
        velocity = np.zeros(pos.shape, dtype=np.float32)  # np.zeros_like(joints, dtype=np.float32)
        velocity[1:] = pos[1:] - pos[:-1]
        return np.sum(np.linalg.norm(velocity, axis=2), axis=1).astype(np.float64)
    speed = np.mean(np.sqrt(np.sum((pos[1:] - pos[:-1]) ** 2, axis=2)), axis=1)
    return gaussian_filter1d(speed, _scaled(BAILANDO_SMOOTH_SIGMA, fps), mode="reflect", truncate=4.0)


def kinematic_beats(joints: np.ndarray, *, mode: str = "fact", fps: float = 60.0) -> np.ndarray:
    """Frame indices ``(K,)`` int64 of the kinematic beats (strict local minima of :func:`motion_envelope`).

    ``"fact"``: index t = the frame the displacement ends in; ``"bailando"``: index t = the
    step from frame t to t+1 (the references' own conventions, one frame apart).
    """
    envelope = motion_envelope(joints, mode=mode, fps=fps)
    order = max(1, round(_scaled(FACT_ORDER, fps))) if mode == "fact" else 1
    return argrelextrema(envelope, np.less, axis=0, order=order)[0].astype(np.int64)


def _nearest_distance(beats: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each of ``beats`` ``(K,)``, the distance in frames to the nearest of sorted ``targets``."""
    right = np.clip(np.searchsorted(targets, beats), 0, len(targets) - 1)
    left = np.clip(right - 1, 0, len(targets) - 1)
    return np.minimum(np.abs(targets[right] - beats), np.abs(targets[left] - beats))


def beat_align(joints: np.ndarray, music_beats: np.ndarray, *, mode: str = "fact", fps: float = 60.0,
               start_frame: int = 0, truncate_music: bool = True) -> float:
    """BeatAlign score in [0, 1] of one motion ``(T, J, 3)`` metres against its music beats.

    ``music_beats``: one-hot column or frame indices (see :func:`music_beat_frames`).
    ``truncate_music`` drops music beats past the motion (FACT real data and Bailando do;
    the FACT script scores generated motion against the whole song's beats).
    ``start_frame`` scores only beats at or after that frame, both kinds, after detecting
    kinematic beats on the whole motion: the FACT generated protocol uses 120 (the seed).
    Raises ``ValueError`` when no music beat is left.
    """
    _check_mode(mode)
    fps = check_fps(fps)
    n_frames = len(as_joints(joints, min_frames=2))
    music = music_beat_frames(music_beats)
    motion = kinematic_beats(joints, mode=mode, fps=fps)
    if truncate_music:
        music = music[music < (n_frames if mode == "fact" else n_frames - 1)]
    music = music[music >= start_frame]
    motion = motion[motion >= start_frame]
    if len(music) == 0:
        raise ValueError("beat_align: no music beat within the scored frames")
    if len(motion) == 0:
        return 0.0
    sigma = _scaled(FACT_SIGMA if mode == "fact" else BAILANDO_SIGMA, fps)
    if mode == "fact":
        # float32 as in alignment_score: dists.astype(np.float32); exp(-d**2 / 2 / sigma**2);
        # sum(score_all) adds in order; / len.
        d = _nearest_distance(motion, music).astype(np.float32)
        scores = np.exp(-(d * d) / np.float32(2) / np.float32(sigma * sigma))
        return float(np.cumsum(scores, dtype=np.float32)[-1] / np.float32(len(scores)))
    d = _nearest_distance(music, motion).astype(np.float64)
    scores = np.exp(-(d * d) / 2 / (sigma * sigma))
    return float(np.cumsum(scores)[-1] / len(scores))

"""A PNG that shows BeatAlign at work: motion speed, kinematic beats, music beats."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aichoreo.fileio import atomic_path
from aichoreo.metrics._common import check_fps
from aichoreo.metrics.beats import beat_align, kinematic_beats, motion_envelope, music_beat_frames

__all__ = ["plot_beat_alignment"]


def plot_beat_alignment(joints: np.ndarray, music_beats: np.ndarray, path: str | os.PathLike, *,
                        fps: float = 60.0, mode: str = "fact", title: str | None = None) -> Path:
    """Write a PNG of the motion speed curve with kinematic beats (dots) and music beats (lines).

    ``joints`` ``(T, J, 3)`` metres; ``music_beats`` a one-hot column or frame indices (see
    :func:`aichoreo.metrics.beats.music_beat_frames`), drawn up to the motion's end. The speed
    is the ``mode``'s envelope (:func:`aichoreo.metrics.beats.motion_envelope`) times ``fps``
    (m/s: summed over joints for "fact", smoothed mean for "bailando"); the score is in
    the title. The file is written to a temporary name and renamed, so it is never
    half-written. Returns the path.
    """
    from matplotlib.figure import Figure  # optional at import time; Figure needs no pyplot state

    fps = check_fps(fps)
    path = Path(path)
    envelope = motion_envelope(joints, mode=mode, fps=fps) * fps
    beats = kinematic_beats(joints, mode=mode, fps=fps)
    n_frames = len(np.asarray(joints))
    music = music_beat_frames(music_beats)
    music = music[music < n_frames]
    score = beat_align(joints, music, mode=mode, fps=fps) if len(music) else float("nan")

    fig = Figure(figsize=(12, 3.5), dpi=100)
    ax = fig.add_subplot()
    t = np.arange(len(envelope)) / fps
    ax.plot(t, envelope, color="tab:blue", linewidth=1.0, label="motion speed")
    for i, frame in enumerate(music):
        ax.axvline(frame / fps, color="tab:red", alpha=0.4, linewidth=0.8, label="music beat" if i == 0 else None)
    ax.plot(beats / fps, envelope[beats], "o", color="tab:green", markersize=4, label="kinematic beat")
    label = "summed joint speed (m/s)" if mode == "fact" else "mean joint speed, smoothed (m/s)"
    ax.set(xlabel="time (s)", ylabel=label, xlim=(0, max(t[-1], 1.0 / fps)))
    heading = f"BeatAlign ({mode}) = {score:.4f}"
    ax.set_title(heading if title is None else f"{title} — {heading}")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()

    with atomic_path(path) as tmp:  # errors name `path`, never the temporary file
        fig.savefig(tmp, format="png")
    return path

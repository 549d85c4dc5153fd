"""Prepared datasets built for tests: bodies swaying to noise, written in the common format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aichoreo.data.dataset import SequenceEntry, write_index, write_sequence
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix


def swaying_dataset(root: Path, splits: list[str] | tuple[str, ...], *, genres: list[str] | None = None,
                    frames: int = 2760) -> Path:
    """A prepared dataset at ``root`` of one sequence ``d<i>`` per entry of ``splits`` (its split), of
    ``frames`` frames at 60 fps: every joint angle a sinusoid of its own rate (0.5–2 Hz) and phase, the
    root swaying at 0.9 m; music of noise with a non-negative onset envelope and a beat every 0.5 s.
    ``genres`` gives each sequence's genre (default: none)."""
    rng = np.random.default_rng(0)
    entries = []
    t = np.arange(frames)[:, None] / 60.0
    for i, split in enumerate(splits):
        pose = 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0, 72) * t + rng.uniform(0, 6, 72))
        transl = np.concatenate([0.1 * np.sin(t), np.full_like(t, 0.9), 0.05 * np.cos(t)], axis=1)
        motion = SMPLMotion(axis_angle_to_matrix(pose.reshape(frames, 24, 3)), transl).to_fact_vector()
        music = rng.standard_normal((frames, 35)).astype(np.float32)
        music[:, 0] = np.abs(music[:, 0])  # an onset envelope is not negative (the tempo estimate reads it)
        music[:, 34] = (np.arange(frames) % 30 == 0)
        write_sequence(root, f"d{i}", motion, music)
        entries.append(SequenceEntry(name=f"d{i}", split=split, n_frames=frames,
                                     genre="" if genres is None else genres[i]))
    write_index(root, entries, fps=60.0, music_spec={})
    return root

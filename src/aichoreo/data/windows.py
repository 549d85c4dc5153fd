"""Training windows: a random window of motion and music with the same start frame.

mint's sampler (``mint/utils/inputs_util.py``, reference.md §4.3) takes one window of
``window_len = max(motion_len, motion_len + target_len, audio_len)`` frames per visit of a
sequence, its start uniform in ``{0, ..., N - window_len}``; motion and audio windows share the
start. Here window ``i`` of the (virtually endless) stream is a pure function of ``(seed, i)``:
a random sequence, then a random start. That makes the data order independent of workers and
processes, and lets a resumed run continue with exactly the windows an uninterrupted run would
have seen (the sampler starts at ``global_step * batch_size``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from aichoreo.motion import FACT_DIM, FACT_PADDED_DIM

PAD = FACT_PADDED_DIM - FACT_DIM


def pad_motion(motion: np.ndarray) -> np.ndarray:
    """``(T, 219)`` -> ``(T, 225)`` with 6 leading zeros per frame (mint's model input layout)."""
    return np.concatenate([np.zeros((len(motion), PAD), dtype=motion.dtype), motion], axis=1)


class RandomWindows(Dataset):
    """Windows ``{"motion": (motion_frames, 225), "audio": (audio_frames, 35)}`` float32.

    Args:
        sequences: pairs ``(motion (T, 219), music (T_a, 35))`` at 60 fps, aligned at frame 0.
        window_len: frames a sequence must offer from the start (``FACTConfig.window_len``).
        motion_frames, audio_frames: frames returned from the start (model input + targets).
        seed: the stream's seed; window ``i`` depends only on ``(seed, i)``.
        length: the virtual number of windows (a sampler decides which are visited).
    """

    def __init__(self, sequences: Sequence[tuple[np.ndarray, np.ndarray]], *, window_len: int,
                 motion_frames: int, audio_frames: int, seed: int = 0, length: int = 2**40):
        if motion_frames > window_len or audio_frames > window_len:
            raise ValueError("motion_frames and audio_frames must not exceed window_len")
        self.motions = [pad_motion(np.asarray(m, dtype=np.float32)) for m, _ in sequences]
        self.musics = [np.asarray(a, dtype=np.float32) for _, a in sequences]
        # Usable length: both streams must cover the window.
        self.lengths = np.array([min(len(m), len(a)) for m, a in zip(self.motions, self.musics)])
        keep = self.lengths >= window_len
        if not keep.any():
            raise ValueError(f"no sequence has the {window_len} frames a training window needs "
                             f"(longest: {int(self.lengths.max()) if len(self.lengths) else 0})")
        self.motions = [m for m, k in zip(self.motions, keep) if k]
        self.musics = [a for a, k in zip(self.musics, keep) if k]
        self.lengths = self.lengths[keep]
        self.n_dropped = int((~keep).sum())
        self.window_len = window_len
        self.motion_frames = motion_frames
        self.audio_frames = audio_frames
        self.seed = seed
        self.length = length

    def __len__(self) -> int:
        return self.length

    def locate(self, index: int) -> tuple[int, int]:
        """``(sequence, start)`` of window ``index``."""
        rng = np.random.default_rng([self.seed, index])
        seq = int(rng.integers(len(self.motions)))
        start = int(rng.integers(self.lengths[seq] - self.window_len + 1))
        return seq, start

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seq, s = self.locate(index)
        return {
            "motion": torch.from_numpy(self.motions[seq][s: s + self.motion_frames]),
            "audio": torch.from_numpy(self.musics[seq][s: s + self.audio_frames]),
        }


class FixedWindows(Dataset):
    """Evaluation windows: for each sequence, starts every ``stride`` frames (deterministic)."""

    def __init__(self, sequences: Sequence[tuple[np.ndarray, np.ndarray]], *, window_len: int,
                 motion_frames: int, audio_frames: int, stride: int = 120, max_per_sequence: int = 8):
        self.items: list[tuple[np.ndarray, np.ndarray]] = []
        for motion, music in sequences:
            motion = pad_motion(np.asarray(motion, dtype=np.float32))
            music = np.asarray(music, dtype=np.float32)
            usable = min(len(motion), len(music))
            starts = list(range(0, usable - window_len + 1, stride))[:max_per_sequence]
            for s in starts:
                self.items.append((motion[s: s + motion_frames], music[s: s + audio_frames]))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        motion, audio = self.items[index]
        return {"motion": torch.from_numpy(motion.copy()), "audio": torch.from_numpy(audio.copy())}


class StepSampler(Sampler[int]):
    """Indices ``[first, first + count)`` of this process's share of the window stream.

    With ``world_size`` processes, global batch ``b`` of process ``rank`` holds windows
    ``(b * world_size + rank) * batch_size + j``. ``first_step`` is read when iteration starts
    (a callable, so a resumed run starts where the checkpoint stopped).
    """

    def __init__(self, *, batch_size: int, n_steps: int, first_step=lambda: 0, rank: int = 0, world_size: int = 1):
        self.batch_size = batch_size
        self.n_steps = n_steps
        self.first_step = first_step
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return max(0, self.n_steps - int(self.first_step())) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        for step in range(int(self.first_step()), self.n_steps):
            base = (step * self.world_size + self.rank) * self.batch_size
            yield from range(base, base + self.batch_size)

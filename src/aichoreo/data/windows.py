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

from aichoreo.audio import BEATS, ONSET_PEAKS
from aichoreo.motion import FACT_DIM, FACT_PADDED_DIM
from aichoreo.skeleton import JOINT_NAMES

PAD = FACT_PADDED_DIM - FACT_DIM


def pad_motion(motion: np.ndarray) -> np.ndarray:
    """``(T, 219)`` -> ``(T, 225)`` with 6 leading zeros per frame (mint's model input layout)."""
    return np.concatenate([np.zeros((len(motion), PAD), dtype=motion.dtype), motion], axis=1)


class RandomWindows(Dataset):
    """Windows ``{"motion": (motion_frames, 225), "audio": (audio_frames, 35)}`` float32, and
    ``"style"``: the sequence's style label (int64 scalar) when ``styles`` are given.

    Args:
        sequences: pairs ``(motion (T, 219), music (T_a, 35))`` at 60 fps, aligned at frame 0.
        styles: per sequence an integer style label (a model's ``style_label``), or None.
        balance: draw a style first (each as often), then one of its sequences; needs ``styles``.
        window_len: frames a sequence must offer from the start (``FACTConfig.window_len``).
        motion_frames, audio_frames: frames returned from the start (model input + targets).
        seed: the stream's seed; window ``i`` depends only on ``(seed, i)``.
        length: the virtual number of windows (a sampler decides which are visited).
    """

    def __init__(self, sequences: Sequence[tuple[np.ndarray, np.ndarray]], *, window_len: int,
                 motion_frames: int, audio_frames: int, seed: int = 0, length: int = 2**40,
                 mirror: bool = False, tempo_stretch: float = 0.0, styles: Sequence[int] | None = None,
                 balance: bool = False):
        if motion_frames > window_len or audio_frames > window_len:
            raise ValueError("motion_frames and audio_frames must not exceed window_len")
        if styles is not None and len(styles) != len(sequences):
            raise ValueError(f"{len(styles)} style labels for {len(sequences)} sequences")
        if balance and styles is None:
            raise ValueError("balance draws a style first: it needs the sequences' styles")
        if not 0 <= tempo_stretch < 0.5:
            raise ValueError(f"tempo_stretch must be in [0, 0.5), got {tempo_stretch}")
        self.mirror = mirror
        self.tempo_stretch = tempo_stretch
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
        self.styles = None if styles is None else [int(c) for c, k in zip(styles, keep) if k]
        # With balance: per style (sorted) the indices of its sequences.
        self.by_style = None if not balance else [np.flatnonzero(np.array(self.styles) == c)
                                                  for c in sorted(set(self.styles))]
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
        return self._draw(index)[:2]

    def _draw(self, index: int) -> tuple[int, int, float, bool]:
        """``(sequence, start, tempo factor, mirrored)`` of window ``index``: a pure function of
        ``(seed, index)``. A factor ``r`` plays the window ``r`` times as fast: it reads
        ``window_len * r`` source frames (fewer where the sequence is shorter)."""
        rng = np.random.default_rng([self.seed, index])
        if self.by_style is None:
            seq = int(rng.integers(len(self.motions)))
        else:
            members = self.by_style[int(rng.integers(len(self.by_style)))]
            seq = int(members[rng.integers(len(members))])
        rate = 1.0
        if self.tempo_stretch:
            rate = float(rng.uniform(1.0 - self.tempo_stretch, 1.0 + self.tempo_stretch))
            # The source span must fit the sequence: frames 0 .. (window_len - 1) * rate.
            rate = min(rate, (self.lengths[seq] - 1) / (self.window_len - 1)) if self.window_len > 1 else rate
        span = int(np.floor((self.window_len - 1) * rate)) + 1
        start = int(rng.integers(self.lengths[seq] - span + 1))
        flip = bool(self.mirror and rng.random() < 0.5)
        return seq, start, rate, flip

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seq, s, rate, flip = self._draw(index)
        if rate == 1.0:
            motion = self.motions[seq][s: s + self.motion_frames]
            audio = self.musics[seq][s: s + self.audio_frames]
        else:
            motion = retime_motion(self.motions[seq], s, rate, self.motion_frames)
            audio = retime_music(self.musics[seq], s, rate, self.audio_frames)
        if flip:
            motion = mirror_motion(motion)
        item = {"motion": torch.from_numpy(np.ascontiguousarray(motion)),
                "audio": torch.from_numpy(np.ascontiguousarray(audio))}
        if self.styles is not None:
            item["style"] = torch.tensor(self.styles[seq], dtype=torch.long)
        return item


# SMPL joints as the mirror sees them: left and right swapped (aichoreo.skeleton.JOINT_NAMES).
MIRROR_JOINTS = np.array([JOINT_NAMES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
                          for n in JOINT_NAMES])
# Reflection x -> -x (the plane x = 0 contains the up axis): positions p -> M p and local rotations
# R -> M R M with M = diag(-1, 1, 1), i.e. entry (a, b) times m_a m_b.
_MIRROR_SIGNS = np.outer([-1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]).reshape(9).astype(np.float32)


def mirror_motion(motion: np.ndarray) -> np.ndarray:
    """The mirror image of ``(T, 225)`` FACT vectors: the same dance with left and right exchanged.

    The rotations are mirrored exactly, so the result is a valid SMPL motion whose movement is
    the mirror image. Its joint positions match the mirror image of the original joints up to the
    asymmetry of SMPL's mean skeleton: a rest offset differs from its mirror by up to 2.7 cm (the
    spine leans slightly), a few cm at the hands in a full pose. Pad dims stay as they are.
    """
    out = np.array(motion, dtype=np.float32, copy=True)
    out[:, PAD] *= -1.0  # translation x
    rot = motion[:, PAD + 3:].reshape(len(motion), 24, 9)
    out[:, PAD + 3:] = (rot[:, MIRROR_JOINTS] * _MIRROR_SIGNS).reshape(len(motion), 24 * 9)
    return out


def _positions(start: int, rate: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = start + rate * np.arange(n)
    i0 = np.floor(t).astype(np.int64)
    return t, i0, (t - i0).astype(np.float32)[:, None]


def retime_motion(motion: np.ndarray, start: int, rate: float, n: int) -> np.ndarray:
    """``n`` frames of ``motion (T, F)`` from frame ``start`` played ``rate`` times as fast.

    Linear interpolation between neighbouring frames. For the rotation blocks this leaves the
    rotation manifold by the square of the angle between two frames at 60 fps (about 1e-4 for a
    fast limb), well inside what the network's own regression error is; no projection needed.
    """
    _, i0, w = _positions(start, rate, n)
    i1 = np.minimum(i0 + 1, len(motion) - 1)
    return (1.0 - w) * motion[i0] + w * motion[i1]


def retime_music(music: np.ndarray, start: int, rate: float, n: int) -> np.ndarray:
    """``n`` frames of the 35-d music features from ``start`` played ``rate`` times as fast.

    Envelope, MFCC and chroma are interpolated; the onset-peak and beat columns (``ONSET_PEAKS``, ``BEATS``) are
    events: each event of the source lands on the output frame nearest its new time, so a
    faster window has more beats per second, as the faster music would. This time-scales the
    feature sequence, which is what a tempo change (time stretch without pitch change) does to
    these frame features, up to the analysis windows' fixed length.
    """
    t, i0, w = _positions(start, rate, n)
    i1 = np.minimum(i0 + 1, len(music) - 1)
    out = (1.0 - w) * music[i0] + w * music[i1]
    events = [ONSET_PEAKS, BEATS]
    out[:, events] = 0.0
    last = min(len(music), int(np.ceil(t[-1])) + 1)
    for col in events:
        src = start + np.flatnonzero(music[start:last, col] > 0.5)
        dst = np.rint((src - start) / rate).astype(np.int64)
        out[dst[(dst >= 0) & (dst < n)], col] = 1.0
    return out.astype(np.float32)


class FixedWindows(Dataset):
    """Evaluation windows: for each sequence, starts every ``stride`` frames (deterministic); with
    ``styles`` (one label per sequence) each window also has its ``"style"``."""

    def __init__(self, sequences: Sequence[tuple[np.ndarray, np.ndarray]], *, window_len: int,
                 motion_frames: int, audio_frames: int, stride: int = 120, max_per_sequence: int = 8,
                 styles: Sequence[int] | None = None):
        if styles is not None and len(styles) != len(sequences):
            raise ValueError(f"{len(styles)} style labels for {len(sequences)} sequences")
        self.items: list[tuple[np.ndarray, np.ndarray]] = []
        self.styles: list[int] | None = None if styles is None else []
        for i, (motion, music) in enumerate(sequences):
            motion = pad_motion(np.asarray(motion, dtype=np.float32))
            music = np.asarray(music, dtype=np.float32)
            usable = min(len(motion), len(music))
            starts = list(range(0, usable - window_len + 1, stride))[:max_per_sequence]
            for s in starts:
                self.items.append((motion[s: s + motion_frames], music[s: s + audio_frames]))
                if self.styles is not None:
                    self.styles.append(int(styles[i]))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        motion, audio = self.items[index]
        item = {"motion": torch.from_numpy(motion.copy()), "audio": torch.from_numpy(audio.copy())}
        if self.styles is not None:
            item["style"] = torch.tensor(self.styles[index], dtype=torch.long)
        return item


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

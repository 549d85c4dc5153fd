"""Evaluation protocols: which frames, which coordinates, which real set -> FID, Dist, BeatAlign, PFC.

The metric functions (:mod:`aichoreo.metrics`) are the reference definitions; what published
numbers also depend on is the protocol (reference.md §6.1, §6.7), made explicit here:

=================  ====================================  =====================================
                   ``fact`` (FACT authors, mint fork)     ``bailando`` (Bailando metrics_new.py)
=================  ====================================  =====================================
generated frames   drop the seed (``seed_frames`` = 120),  first ``max_frames`` (1,200) frames
                   then at most 1,200 generated frames    (``seed_frames`` = 0)
coordinates        world                                  zero start: the first frame's root
                                                          subtracted from all frames (both sets)
real set           every real file, full length           every real file, full length
FID fallback       eps 1e-6, raise on imaginary parts     eps 1e-5, real part
BeatAlign          summed speed, minima within +-10,      smoothed mean speed, minima of
                   mean over kinematic beats, from        order 1, mean over music beats,
                   frame 120 on                           whole sequence
=================  ====================================  =====================================

Both protocols use the fixed geometric features. The returned report states every choice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo import metrics
from aichoreo.audio import BEATS, FEATURE_DIM, FeatureCache, features_for_files
from aichoreo.audio import FPS as MUSIC_FPS
from aichoreo.data.motion_files import check_motion, dance_music, load_joints
from aichoreo.errors import InputError
from aichoreo.fileio import read_array_pickle, read_npy, save_npy
from aichoreo.motion import FACT_DIM, fact_vector_to_joints
from aichoreo.skeleton import FPS as SKELETON_FPS

log = logging.getLogger(__name__)

SEED_FRAMES = 120  # 2 s at 60 fps: the seed of every model here (the FACT protocol's seed_frames)
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".opus")


@dataclass(frozen=True)
class Protocol:
    """Every choice that changes the numbers (see the module docstring)."""

    name: str  # "fact" or "bailando": metric definitions (FID fallback, BeatAlign)
    seed_frames: int  # frames at the start of each generated file that are the given seed, excluded
    max_frames: int | None  # generated frames kept after the seed (None: all)
    coordinates: str  # "world" or "zero_start"
    fps: float = 60.0  # frame rate of the joints

    def __post_init__(self) -> None:
        if self.name not in ("fact", "bailando"):
            raise ValueError(f"protocol must be 'fact' or 'bailando', got {self.name!r}")
        if self.coordinates not in ("world", "zero_start"):
            raise ValueError(f"coordinates must be 'world' or 'zero_start', got {self.coordinates!r}")
        if self.seed_frames < 0 or (self.max_frames is not None and self.max_frames < 3):
            raise ValueError("seed_frames must be >= 0 and max_frames >= 3")


PROTOCOLS = {
    "fact": Protocol(name="fact", seed_frames=120, max_frames=1200, coordinates="world"),
    "bailando": Protocol(name="bailando", seed_frames=0, max_frames=1200, coordinates="zero_start"),
}


def get_protocol(name: str, **overrides: Any) -> Protocol:
    """The protocol ``name`` with ``overrides`` of its fields; ``max_frames=None`` keeps every
    generated frame (it was dropped as "not given", so the default 1,200 stood)."""
    if name not in PROTOCOLS:
        raise InputError(None, f"unknown protocol {name!r}; choose {' or '.join(PROTOCOLS)}")
    return dataclasses.replace(PROTOCOLS[name], **overrides)


class _FeatureStore:
    """Kinetic + geometric features per motion file, cached on disk by content and protocol."""

    # 2: motions read at the protocol's frame rate (EDGE pickles, AIST++ ones under --fps);
    # 3: keyed by inode and change time too: a file replaced by one of the same size and
    # modification time (cp -p, rsync -a, tar) read the features of the one before.
    VERSION = "3"

    def __init__(self, cache_dir: str | os.PathLike | None):
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    def _key(self, path: Path, frames: tuple[int, int | None], protocol: Protocol) -> str:
        stat = path.stat()
        text = "|".join(map(str, (self.VERSION, path.resolve(), stat.st_size, stat.st_mtime_ns, stat.st_ino,
                                  stat.st_ctime_ns, frames, protocol.coordinates, protocol.fps)))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def features(self, path: Path, joints: np.ndarray | None, frames: tuple[int, int | None],
                 protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
        entry = None
        if self.cache_dir is not None:
            entry = self.cache_dir / f"{self._key(path, frames, protocol)}.npy"
            if entry.is_file():
                try:
                    both = np.load(entry, allow_pickle=False)
                except (OSError, ValueError, EOFError) as exc:  # a damaged entry is recomputed, not fatal
                    log.warning("ignoring unreadable metric-feature cache entry %s: %s", entry, exc)
                else:
                    if both.shape == (72 + 32,) and np.isfinite(both).all():
                        return both[:72], both[72:]
                    log.warning("ignoring metric-feature cache entry %s of shape %s", entry, both.shape)
        if joints is None:
            joints = load_protocol_joints(path, protocol)
        clip = _clip(joints, frames, protocol, path)
        kinetic = metrics.kinetic_features(clip, fps=protocol.fps, up_axis=1)
        manual = metrics.manual_features(clip, fps=protocol.fps, up_axis=1)
        if entry is not None:
            save_npy(entry, np.concatenate([kinetic, manual]))
        return kinetic, manual


def load_protocol_joints(path: Path, protocol: Protocol) -> np.ndarray:
    """Joints ``(T, 24, 3)`` metres y-up of a motion file at ``protocol.fps``.

    A ``.npy`` is taken to be at ``protocol.fps`` (``--fps``). A pickle is AIST++'s (it has
    ``smpl_scaling``; 60 fps) or EDGE's (``smpl_poses`` and ``smpl_trans`` without it: what EDGE's
    ``test.py`` saves and ``aichoreo dance`` exports, 30 fps, Stanford-TML/EDGE
    ``dataset/dance_dataset.py``); a pickle at another frame rate than the protocol's is resampled
    to it (rotations slerped, :meth:`SMPLMotion.resample`), so that EDGE's dances are scored as the
    60 fps AIST++ dances they are compared with.
    """
    if path.suffix.lower() == ".pkl":
        from aichoreo.export.edge import is_edge_layout, read_edge

        if is_edge_layout(read_array_pickle(path)):
            motion = check_motion(read_edge(path), path)
        else:
            from aichoreo.data.aistpp import load_motion_smpl

            motion = check_motion(load_motion_smpl(path), path)
        return motion.resample(protocol.fps).joints().copy()  # the caller's own, writable
    return load_joints(path, fps=protocol.fps)[0]


def _clip(joints: np.ndarray, frames: tuple[int, int | None], protocol: Protocol, path: Path) -> np.ndarray:
    start, count = frames
    clip = joints[start: None if count is None else start + count]
    if len(clip) < 3:
        raise InputError(path, f"has {len(joints)} frames; the protocol keeps frames from {start} on, "
                               f"which leaves {len(clip)} (3 needed)")
    if protocol.coordinates == "zero_start":
        clip = metrics.zero_start(clip)
    return clip.astype(np.float64)


def _music_key(name: str, music: dict[str, Path]) -> str | None:
    """The music file for motion ``name``: same stem, a ``_<music>`` suffix (mint naming), or its AIST++ id."""
    if name in music:
        return name
    for stem in sorted(music, key=len, reverse=True):
        if name.endswith("_" + stem):
            return stem
    parts = name.split("_")
    if len(parts) >= 5 and parts[4] in music:  # gBR_sBM_cAll_d04_mBR0_ch01
        return parts[4]
    return None


def _music_beats(folder: Path, workers: int, cache_dir: Path | None) -> dict[str, np.ndarray]:
    """Beat columns of every song in ``folder``: ``.npy`` features (T, 35) or audio files."""
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".npy",) + AUDIO_SUFFIXES}
    if not files:
        raise InputError(folder, "holds no music: expected audio files or .npy music features (T, 35)")
    beats: dict[str, np.ndarray] = {}
    audio = {k: p for k, p in files.items() if p.suffix.lower() != ".npy"}
    for stem, path in files.items():
        if path.suffix.lower() == ".npy":
            feats = read_npy(path)  # a user's file: empty or truncated ones are named, never unpickled
            if feats.ndim != 2 or feats.shape[1] != FEATURE_DIM:
                raise InputError(path, f"music features have shape {feats.shape}, expected (T, {FEATURE_DIM})")
            if not np.isin(feats[:, BEATS], (0, 1)).all():
                raise InputError(path, f"its beat column ({BEATS}) holds other values than 0 and 1")
            beats[stem] = feats[:, BEATS] != 0  # a column, also where the file is of integers
    if audio:
        cache = None if cache_dir is None else FeatureCache(cache_dir / "music")
        for stem, feats in zip(audio, features_for_files(list(audio.values()), cache=cache, workers=workers,
                                                         progress=False)):
            beats.setdefault(stem, feats[:, BEATS])
    return beats


def _music_of(path: Path, beats: dict[str, np.ndarray], protocol: Protocol) -> np.ndarray | None:
    """The music beats of motion ``path`` as frame indices at the protocol's rate, or ``None``
    where no song matches. A file of ``aichoreo dance`` is matched by its song (its folder; its
    own name is ``dance_joints``), and its beats start at its ``--start``."""
    made = dance_music(path)
    key = _music_key(made[0] if made else path.stem, beats)
    if key is None:
        return None
    return metrics.beat_frames_at(beats[key], music_fps=MUSIC_FPS, fps=protocol.fps,
                                  offset_s=made[1] if made else 0.0)


def _beat_align(path: Path, scores: list[float], beatless: list[str], *args: Any, **kwargs: Any) -> None:
    """:func:`metrics.beat_align` appended to ``scores``; where the song has no beat in the scored
    frames (silence is a valid song; one ended the whole evaluation), ``path`` goes to ``beatless``."""
    try:
        scores.append(metrics.beat_align(*args, **kwargs))
    except ValueError:
        beatless.append(path.name)


def evaluate(pred: Sequence[Path], real: Sequence[Path], *, protocol: Protocol,
             music_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
             workers: int = 2, progress: bool = False) -> dict[str, Any]:
    """Scores of the generated files ``pred`` against the real files ``real`` under ``protocol``.

    Returns a JSON-able dict: ``fid_k, fid_g, dist_k, dist_g`` (generated), ``dist_k_real,
    dist_g_real`` (the real set scored as if generated), ``pfc`` (mean over generated files)
    and, with ``music_dir``, ``beat_align`` (mean over generated files with matching music) and
    ``beat_align_real``; plus ``protocol`` with every choice and the file counts. Where a feature is
    constant over the real set, ``fid_k_varying`` / ``fid_g_varying`` give FID without those features
    (the protocol lists them), next to the reference numbers.
    """
    from tqdm.auto import tqdm

    if len(pred) < 2 or len(real) < 2:
        raise InputError(None, f"FID needs at least 2 generated and 2 real motions (got {len(pred)} and {len(real)})")
    store = _FeatureStore(None if cache_dir is None else Path(cache_dir) / "motion_features")
    gen_frames = (protocol.seed_frames, protocol.max_frames)
    beats = None
    if music_dir is not None:
        beats = _music_beats(Path(music_dir), workers, None if cache_dir is None else Path(cache_dir))

    real_k, real_g, real_align, beatless = [], [], [], []
    for path in tqdm(real, desc="real motions", unit="file", disable=not progress):
        music = None if beats is None else _music_of(path, beats, protocol)
        joints = load_protocol_joints(path, protocol) if music is not None else None
        k, g = store.features(path, joints, (0, None), protocol)
        real_k.append(k)
        real_g.append(g)
        if music is not None:
            # Real data: full length, music beats truncated to the motion (both definitions).
            _beat_align(path, real_align, beatless, joints, music, mode=protocol.name, fps=protocol.fps)

    gen_k, gen_g, align, pfcs, unmatched = [], [], [], [], []
    for path in tqdm(pred, desc="generated motions", unit="file", disable=not progress):
        joints = load_protocol_joints(path, protocol)
        k, g = store.features(path, joints, gen_frames, protocol)
        gen_k.append(k)
        gen_g.append(g)
        clip = _clip(joints, gen_frames, protocol, path)
        try:
            pfcs.append(metrics.pfc(clip, fps=protocol.fps, up_axis=1))
        except ValueError as error:  # too short a clip once resampled to PFC's 30 fps
            raise InputError(path, f"{len(clip)} frames scored: {error}") from None
        if beats is not None:
            music = _music_of(path, beats, protocol)
            if music is None:
                unmatched.append(path.name)
                continue
            if protocol.name == "fact":
                # mint fork: both arrays from frame 120 on (after the seed), kinematic beats found
                # on the whole motion; generated motion is scored against the song's beats.
                end = None if protocol.max_frames is None else protocol.seed_frames + protocol.max_frames
                _beat_align(path, align, beatless, joints[:end], music, mode="fact", fps=protocol.fps,
                            start_frame=protocol.seed_frames, truncate_music=False)
            else:
                _beat_align(path, align, beatless, clip, music[music >= protocol.seed_frames] - protocol.seed_frames,
                            mode="bailando", fps=protocol.fps)
    if unmatched:
        log.warning("no music for %d generated files (e.g. %s): not in BeatAlign", len(unmatched), unmatched[0])
    if beatless:
        log.warning("no music beat in the scored frames of %d files' songs (e.g. %s: silent, or shorter than the "
                    "motion): not in BeatAlign", len(beatless), beatless[0])

    real_k, real_g, gen_k, gen_g = map(np.stack, (real_k, real_g, gen_k, gen_g))
    constant = {"kinetic": np.flatnonzero(real_k.std(axis=0) == 0).tolist(),
                "geometric": np.flatnonzero(real_g.std(axis=0) == 0).tolist()}
    report: dict[str, Any] = {
        "fid_k": metrics.fid_from_features(real_k, gen_k, mode=protocol.name),
        "fid_g": metrics.fid_from_features(real_g, gen_g, mode=protocol.name),
        "dist_k": metrics.dist_from_features(real_k, gen_k),
        "dist_g": metrics.dist_from_features(real_g, gen_g),
        "dist_k_real": metrics.dist_from_features(real_k, real_k),
        "dist_g_real": metrics.dist_from_features(real_g, real_g),
        "pfc": float(np.mean(pfcs)),
    }
    # A feature constant over the real set turns any generated difference into ~1e10 after the
    # 1e-10 normalisation (reference.md §6.4). The reference numbers above keep it; these leave
    # such features out, so a small or uniform real set still gives a readable number.
    for kind, real_f, gen_f, key in (("kinetic", real_k, gen_k, "fid_k"), ("geometric", real_g, gen_g, "fid_g")):
        if constant[kind]:
            keep = real_f.std(axis=0) > 0
            report[f"{key}_varying"] = metrics.fid_from_features(real_f[:, keep], gen_f[:, keep], mode=protocol.name)
    if beats is not None:
        report["beat_align"] = float(np.mean(align)) if align else None
        report["beat_align_real"] = float(np.mean(real_align)) if real_align else None
    report["protocol"] = {
        **dataclasses.asdict(protocol),
        "generated_frames": f"[{protocol.seed_frames}, "
                            f"{'end' if protocol.max_frames is None else protocol.seed_frames + protocol.max_frames})",
        "real_frames": "all",
        "geometric_features": "fixed (aistplusplus_api after 2021-08-31)",
        "features_constant_in_real_set": constant,
        "n_generated": len(pred), "n_real": len(real),
        "n_beat_align": len(align) if beats is not None else 0,
        "n_beat_align_real": len(real_align) if beats is not None else 0,
    }
    return report


def format_report(report: dict[str, Any]) -> str:
    """A readable table of a report from :func:`evaluate`."""
    p = report["protocol"]
    lines = [f"protocol {p['name']}: generated frames {p['generated_frames']}, {p['coordinates']} coordinates, "
             f"{p['n_generated']} generated vs {p['n_real']} real files",
             f"{'metric':<14}{'value':>12}"]
    for key in ("fid_k", "fid_g", "fid_k_varying", "fid_g_varying", "dist_k", "dist_g", "dist_k_real",
                "dist_g_real", "beat_align", "beat_align_real", "pfc"):
        if key in report:
            value = report[key]
            lines.append(f"{key:<14}{'n/a' if value is None else f'{value:12.4f}':>12}")
    return "\n".join(lines)


def joints_of(x: np.ndarray) -> np.ndarray:
    """FACT vectors ``(T, 219|225)`` -> joints ``(T, 24, 3)`` float32 metres."""
    return fact_vector_to_joints(x[:, -FACT_DIM:]).astype(np.float32)


def real_clips(data, out: Path, clip: int) -> list[Path]:
    """Every sequence of ``data`` (a :class:`~aichoreo.data.dataset.PreparedDataset`) cut into consecutive ``clip``-frame joint clips under ``out/real``."""
    files = []
    for name in data.names():
        joints = joints_of(data.load(name).motion)
        for i, start in enumerate(range(0, len(joints) - clip + 1, clip)):
            files.append(save_npy(out / "real" / f"{name}_{i:02d}.npy", joints[start: start + clip]))
    if len(files) < 2:
        raise InputError(data.root, f"fewer than two {clip / SKELETON_FPS:.0f} s clips in the whole dataset: "
                                    "no real set")
    return files


def random_clips(sequences: Sequence, count: int, clip: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` joint clips ``(clip, 24, 3)`` of the ``sequences`` (prepared dataset sequences) at least
    ``clip`` frames long, each from a random sequence at a random start (in that order of draws from
    ``rng``); ``[]`` when no sequence is that long. The "random clip" reference: real motion that
    ignores the music."""
    pool = [joints_of(s.motion) for s in sequences if len(s.motion) >= clip]
    clips = []
    for _ in range(count if pool else 0):
        src = pool[rng.integers(len(pool))]
        start = rng.integers(len(src) - clip + 1)
        clips.append(src[start: start + clip])
    return clips

"""The Dance-with-Melody motion-capture data (Tang, Jia, Mao, ACM MM 2018), as converted in
``../shared/data/dance_with_melody`` (see the README there).

Per dance ``<ID>`` (``DANCE_W_12`` ...) the folder holds ``<ID>.npz`` and the music ``<ID>.mp3``.
The npz has ``joints`` ``(T, 23, 3)`` float32 absolute marker positions in metres, y up;
``fps`` 25; ``music_offset_s``, the music time of motion frame 0 (frame ``i`` sounds at
``music_offset_s + i / fps``); ``genre`` (cha-cha, rumba, tango, waltz). Marker order and
names: :data:`aichoreo.reconstruct.layouts.DWM23_NAMES`; their correspondence to SMPL:
:data:`aichoreo.reconstruct.layouts.DWM23`.

The capture's floor is not at y = 0 and drifts upwards over many dances (the lowest foot
marker rises by up to 0.5 m from start to end, see docs/reconstruction.md):
:func:`normalise_floor` removes it. The data have no license: research use, cite the paper,
never redistribute them with the project.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aichoreo.errors import InputError
from aichoreo.reconstruct.layouts import DWM23
from aichoreo.reconstruct.smooth import level_floor

__all__ = ["DWMDance", "load_dwm", "list_dwm", "normalise_floor", "N_MARKERS", "FPS", "GENRES", "FOOT_MARKERS"]

N_MARKERS = DWM23.n_joints  # 23
FPS = 25.0  # the source's frame rate
GENRES = ("cha-cha", "rumba", "tango", "waltz")
FOOT_MARKERS = DWM23.feet  # right ankle, heel, toe; left ankle, heel, toe
_KEYS = ("joints", "fps", "music_offset_s", "genre")


@dataclass(frozen=True, eq=False)
class DWMDance:
    """One dance.

    Attributes:
        name: the dance id (file stem), e.g. ``DANCE_W_12``.
        joints: ``(T, 23, 3)`` float32 marker positions, metres, y up (as captured: floor
            not normalised).
        fps: frames per second (25).
        music_offset_s: music time (s) of motion frame 0.
        genre: ``cha-cha``, ``rumba``, ``tango`` or ``waltz``.
        path: the npz file.
        music_path: the mp3 beside it, or None when absent.
    """

    name: str
    joints: np.ndarray
    fps: float
    music_offset_s: float
    genre: str
    path: Path
    music_path: Path | None

    def __repr__(self) -> str:
        return f"DWMDance({self.name}, {self.genre}, frames={len(self.joints)}, fps={self.fps:g})"

    @property
    def duration(self) -> float:
        """Seconds of motion: ``T / fps``."""
        return len(self.joints) / self.fps


def _scalar(data, key: str, path: Path) -> np.ndarray:
    value = np.asarray(data[key])
    if value.size != 1:
        raise InputError(path, f"{key!r} should be one value, got shape {value.shape}")
    return value.reshape(())


def load_dwm(path: str | os.PathLike) -> DWMDance:
    """Read and validate one Dance-with-Melody ``<ID>.npz`` (see :class:`DWMDance`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _KEYS if k not in data.files]
            if missing:
                raise InputError(path, f"missing array(s) {', '.join(missing)}; a Dance-with-Melody npz has "
                                       f"{', '.join(_KEYS)}")  # fmt: skip
            joints = np.asarray(data["joints"])
            fps, offset, genre = (_scalar(data, k, path) for k in ("fps", "music_offset_s", "genre"))
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"not a readable npz file ({exc})") from None

    if joints.ndim != 3 or joints.shape[1:] != (N_MARKERS, 3):
        raise InputError(path, f"'joints' has shape {joints.shape}, expected (T, {N_MARKERS}, 3)")
    if len(joints) < 2:
        raise InputError(path, f"'joints' has {len(joints)} frame(s); a dance needs at least 2")
    if joints.dtype.kind != "f" or not np.isfinite(joints).all():
        raise InputError(path, "'joints' must be finite floats (NaN or inf found)")
    if fps.dtype.kind not in "fiu" or not (math.isfinite(float(fps)) and float(fps) > 0):
        raise InputError(path, f"'fps' must be a positive number, got {fps!r}")
    if offset.dtype.kind not in "fiu" or not math.isfinite(float(offset)):
        raise InputError(path, f"'music_offset_s' must be a finite number, got {offset!r}")
    if genre.dtype.kind != "U" or str(genre) not in GENRES:
        raise InputError(path, f"'genre' is {genre!r}, expected one of {', '.join(GENRES)}")
    music = path.with_suffix(".mp3")
    joints = joints.astype(np.float32)
    joints.setflags(write=False)
    return DWMDance(name=path.stem, joints=joints, fps=float(fps), music_offset_s=float(offset),
                    genre=str(genre), path=path, music_path=music if music.is_file() else None)  # fmt: skip


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem)]


def list_dwm(folder: str | os.PathLike) -> list[Path]:
    """The dances' npz files in ``folder``, in natural order (``DANCE_W_2`` before ``DANCE_W_10``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    files = sorted((p for p in folder.glob("*.npz") if p.is_file()), key=_natural_key)
    if not files:
        raise InputError(folder, "no Dance-with-Melody .npz files here")
    return files


def normalise_floor(
    joints: np.ndarray,
    *,
    fps: float = FPS,
    window_s: float | None = 4.0,
    up_axis: int = 1,
) -> np.ndarray:
    """The markers with the floor at height 0 under the lowest foot marker, drift removed.

    The floor at frame t is the median of the lowest foot marker's height (ankles, heels,
    toes: :data:`FOOT_MARKERS`) over ``window_s`` seconds around t, smoothed by a moving
    average of the same length (:func:`aichoreo.reconstruct.smooth.level_floor`);
    ``window_s=None`` subtracts one constant floor instead. Returns ``(T, 23, 3)`` float32.
    """
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (N_MARKERS, 3):
        raise ValueError(f"joints: expected shape (T, {N_MARKERS}, 3), got {joints.shape}")
    levelled, _ = level_floor(joints.astype(np.float32), fps=fps, foot_joints=FOOT_MARKERS,
                              window_s=window_s, up_axis=up_axis)  # fmt: skip
    return levelled

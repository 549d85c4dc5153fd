"""The project's common dataset format: paired motion + music, one file per sequence.

Whatever the source (AIST++, Dance with Melody, a user's own captures), preparation writes::

    DIR/
      index.json              format, version, fps, music feature spec, and one entry per sequence:
                              {"name", "split" (train|val|test), "n_frames", "genre", "music", "source"}
      sequences/<name>.npz    motion: (T, 219) float32 FACT vector (translation in metres, y up,
                                      24 row-major rotation matrices), 60 fps;
                              music:  (T_a, 35) float32 FACT music features, 60 fps, aligned so
                                      that music[i] sounds at motion frame i.

Training and evaluation read only this format, so they never care which dataset it came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path, read_npz
from aichoreo.motion import FACT_DIM

FORMAT_NAME = "aichoreo-dataset"
FORMAT_VERSION = 1
INDEX_FILE = "index.json"
SPLITS = ("train", "val", "test")
MUSIC_DIM = 35


@dataclass(frozen=True)
class SequenceEntry:
    """One sequence of a prepared dataset (a line of ``index.json``)."""

    name: str
    split: str
    n_frames: int
    genre: str = ""
    music: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"name": self.name, "split": self.split, "n_frames": self.n_frames, "genre": self.genre,
             "music": self.music, "source": self.source}
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class Sequence:
    """A loaded sequence: FACT motion vectors ``(T, 219)`` and music features ``(T_a, 35)``, 60 fps."""

    entry: SequenceEntry
    motion: np.ndarray
    music: np.ndarray

    @property
    def name(self) -> str:
        return self.entry.name


def write_sequence(root: str | os.PathLike, name: str, motion: np.ndarray, music: np.ndarray) -> Path:
    """Write ``sequences/<name>.npz`` atomically. ``motion`` (T, 219), ``music`` (T_a, 35)."""
    motion = np.asarray(motion, dtype=np.float32)
    music = np.asarray(music, dtype=np.float32)
    if motion.ndim != 2 or motion.shape[1] != FACT_DIM:
        raise ValueError(f"{name}: motion has shape {motion.shape}, expected (T, {FACT_DIM})")
    if music.ndim != 2 or music.shape[1] != MUSIC_DIM:
        raise ValueError(f"{name}: music features have shape {music.shape}, expected (T, {MUSIC_DIM})")
    path = Path(root) / "sequences" / f"{name}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, motion=motion, music=music)
    return path


def write_index(root: str | os.PathLike, entries: Iterable[SequenceEntry], *, fps: float, music_spec: dict,
                description: str = "") -> Path:
    """Write ``index.json`` atomically; call after every sequence file is written."""
    entries = list(entries)
    for e in entries:
        if e.split not in SPLITS:
            raise ValueError(f"{e.name}: split {e.split!r} is not one of {SPLITS}")
    index = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": fps, "music_feature_spec": music_spec,
             "description": description, "sequences": [e.to_dict() for e in entries]}
    path = Path(root) / INDEX_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(index, indent=1))
    return path


def is_prepared_dataset(root: str | os.PathLike) -> bool:
    return (Path(root) / INDEX_FILE).is_file()


class PreparedDataset:
    """Read access to a folder in the common format."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        index_path = self.root / INDEX_FILE
        if not index_path.is_file():
            raise InputError(self.root, f"not a prepared dataset: {INDEX_FILE} is missing")
        try:
            index = json.loads(index_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(index_path, f"not valid JSON: {exc}") from None
        if not isinstance(index, dict):
            raise InputError(index_path, f"not a dataset index: holds a JSON {type(index).__name__}, not an object")
        if index.get("format") != FORMAT_NAME:
            raise InputError(index_path, f"format is {index.get('format')!r}, expected {FORMAT_NAME!r}")
        if index.get("version") != FORMAT_VERSION:
            raise InputError(index_path, f"version {index.get('version')} is not supported ({FORMAT_VERSION})")
        try:
            self.fps = float(index["fps"])
        except (KeyError, TypeError, ValueError):
            raise InputError(index_path, f"no valid 'fps' (frame rate) entry: {index.get('fps')!r}") from None
        if not (self.fps > 0 and self.fps != float("inf")):
            raise InputError(index_path, f"fps must be a positive frame rate, got {self.fps}")
        self.music_spec = index.get("music_feature_spec", {})
        self.description = index.get("description", "")
        known = {"name", "split", "n_frames", "genre", "music", "source"}
        try:
            self.entries = [
                SequenceEntry(name=e["name"], split=e["split"], n_frames=int(e["n_frames"]),
                              genre=e.get("genre", ""), music=e.get("music", ""), source=e.get("source", ""),
                              extra={k: v for k, v in e.items() if k not in known})
                for e in index["sequences"]
            ]
        except KeyError as exc:
            raise InputError(index_path, f"malformed sequence entry: missing {exc}") from None
        except (TypeError, ValueError):  # "sequences": null, an entry that is no object, n_frames "many"
            raise InputError(index_path, "malformed 'sequences': expected a list of objects with name, split "
                                         "and n_frames") from None
        seen = set()
        # a sequence of an unknown split was left out of training, one listed twice counted twice
        for e in self.entries:
            if e.split not in SPLITS:
                raise InputError(index_path, f"sequence {e.name!r} has split {e.split!r}, "
                                             f"not one of {', '.join(SPLITS)}")
            if e.name in seen:
                raise InputError(index_path, f"sequence {e.name!r} is listed twice")
            seen.add(e.name)

    def names(self, split: str | None = None) -> list[str]:
        if split is not None and split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {SPLITS}")
        return [e.name for e in self.entries if split is None or e.split == split]

    def entry(self, name: str) -> SequenceEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def load(self, name: str) -> Sequence:
        entry = self.entry(name)
        path = self.root / "sequences" / f"{name}.npz"
        if not path.is_file():
            raise InputError(path, "sequence file listed in index.json is missing")
        # read_npz reads every member eagerly, so a truncated or damaged file fails here, naming it.
        arrays = read_npz(path)
        missing = [key for key in ("motion", "music") if key not in arrays]
        if missing:
            raise InputError(path, f"not a sequence file: no {' or '.join(repr(k) for k in missing)} array")
        loaded = {}
        for key, dim in (("motion", FACT_DIM), ("music", MUSIC_DIM)):
            array = arrays[key]
            if array.ndim != 2 or array.shape[1] != dim:
                raise InputError(path, f"{key} has shape {array.shape}, expected (T, {dim})")
            if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
                raise InputError(path, f"{key} has dtype {array.dtype}, expected real numbers")
            with np.errstate(over="ignore"):  # values beyond float32 become inf, reported just below
                loaded[key] = array = array.astype(np.float32)
            # Checked in float32 (what training sees): one NaN in a training window turns the loss,
            # then every weight, into NaN.
            bad = ~np.isfinite(array)
            if bad.any():
                frame = int(np.argmax(bad.any(axis=1)))
                raise InputError(path, f"{key} holds {int(bad.sum())} non-finite values (NaN or inf, in float32), "
                                       f"the first at frame {frame}")
        return Sequence(entry=entry, motion=loaded["motion"], music=loaded["music"])

    def load_split(self, split: str) -> list[Sequence]:
        return [self.load(n) for n in self.names(split)]

"""aichoreo: music-conditioned 3D dance generation (FACT, AIST++, metrics, baselines).

The public API, imported lazily so that light users (music-feature workers, the CLI's --help)
do not pay for torch:

- :func:`dance` (song files to a folder of exports: what ``aichoreo dance`` runs);
- :func:`load_model` (``"default"`` or a model file, its data conventions checked), :func:`generate_dances`
  (the generation pipeline: songs' features and seeds to :class:`SMPLMotion`), :func:`generate_motion`;
- :func:`music_features`, :func:`song_features`, :func:`load_audio`;
- :func:`forward_kinematics`, :class:`SMPLMotion`;
- the modules :mod:`aichoreo.generate` (the autoregressive loop), :mod:`aichoreo.evaluate`
  (protocols over files) and :mod:`aichoreo.metrics` (the metric functions).
"""

from __future__ import annotations

import importlib

from aichoreo import config as _config, jitcache as _jitcache

__version__ = "0.1.0"

# Before librosa compiles anything: numba's cache outside the environment, under a lock
# (aichoreo.jitcache explains the crash this prevents).
_jitcache.configure(_config.default_cache_dir() / "numba")

_API = {
    "dance": "aichoreo.pipeline",
    "generate_motion": "aichoreo.generate",
    "generate_dances": "aichoreo.generate",
    "music_features": "aichoreo.audio",
    "song_features": "aichoreo.audio",
    "load_audio": "aichoreo.audio",
    "forward_kinematics": "aichoreo.skeleton",
    "SMPLMotion": "aichoreo.motion",
}

__all__ = sorted([*_API, "load_model"])


def load_model(name_or_path="default", map_location="cpu"):
    """``(model, config, meta)`` of the bundled model ``"default"`` or of a model file.

    The file's data conventions (fps, joints, motion layout, music features) must be this
    aichoreo's (:func:`aichoreo.conventions.check_conventions`), its weights fit the config and
    are finite; else :class:`aichoreo.errors.InputError` names the file and the problem.
    """
    from aichoreo.conventions import check_conventions
    from aichoreo.models import load_model as load

    return load(name_or_path, map_location, check_conventions=check_conventions)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'aichoreo' has no attribute {name!r}")

"""The data conventions a model file records, and the check made when it is loaded.

A model is right only on data laid out as in its training: the frame rate, the joint set, the
motion vector and the music features. Each is defined once in a lower module (frame rate and
joints in :mod:`aichoreo.skeleton`, the 225-d vector in :mod:`aichoreo.motion`, the feature
spec in :mod:`aichoreo.audio`); this module gathers them into the plain dict stored under
``"conventions"`` in every model file (:mod:`aichoreo.models` stores it without reading it)::

    {"fps": 60.0,                                  # motion and music frames per second
     "joints": {"set": "smpl24", "names": [...]},  # the 24 SMPL joints in SMPL order
     "motion": "fact-225",                         # 6 zeros + translation (m, y up) + 24 row-major rotations
     "music_features": {...MusicFeatureSpec.to_dict()...}}

:func:`check_conventions` compares a file's dict with what this aichoreo computes and refuses a
mismatch with one line naming the file, so a model trained on other features never runs
silently wrong.
"""

from __future__ import annotations

import os
from typing import Any

from aichoreo.audio import DEFAULT_SPEC, STREAM_SPEC, MusicFeatureSpec
from aichoreo.errors import InputError
from aichoreo.motion import FACT_PADDED_DIM
from aichoreo.skeleton import FPS, JOINT_NAMES, N_JOINTS

__all__ = ["JOINT_SET", "MOTION_LAYOUT", "conventions_of", "current_conventions", "version1_conventions",
           "check_conventions"]

JOINT_SET = f"smpl{N_JOINTS}"  # "smpl24": the SMPL body joints in SMPL order
MOTION_LAYOUT = f"fact-{FACT_PADDED_DIM}"  # "fact-225": 6 zeros + 3 translation (m, y up) + 24 x 9 rotations

_KEYS = ("fps", "joints", "motion", "music_features")


def conventions_of(*, fps: float, music_spec: MusicFeatureSpec | dict[str, Any]) -> dict[str, Any]:
    """The conventions dict of a model trained on ``fps`` frames per second SMPL-24 motion in the
    225-d FACT layout and music features of ``music_spec`` (a spec or its ``to_dict()``)."""
    spec = music_spec.to_dict() if isinstance(music_spec, MusicFeatureSpec) else dict(music_spec)
    return {"fps": float(fps), "joints": {"set": JOINT_SET, "names": list(JOINT_NAMES)},
            "motion": MOTION_LAYOUT, "music_features": spec}


def current_conventions() -> dict[str, Any]:
    """What this aichoreo generates at and computes: 60 fps, SMPL-24, FACT 225-d, the default spec."""
    return conventions_of(fps=FPS, music_spec=DEFAULT_SPEC)


def model_spec(meta: dict[str, Any] | None) -> MusicFeatureSpec:
    """The music-feature spec a model file's ``meta`` records (the default spec when it records none:
    format-1 files, or a model given as an object)."""
    conventions = (meta or {}).get("conventions")
    if not isinstance(conventions, dict) or not isinstance(conventions.get("music_features"), dict):
        return DEFAULT_SPEC
    return MusicFeatureSpec.from_dict(conventions["music_features"])


def version1_conventions() -> dict[str, Any]:
    """The conventions of every model file of format version 1, which did not record them.

    Those files were written by the aichoreo of FACT's conventions only: 60 fps, SMPL-24, the
    225-d FACT motion vector and mint's 35-d music features (``MusicFeatureSpec()``'s defaults,
    mint ``tools/preprocessing.py``); they are read as such.
    """
    return conventions_of(fps=60.0, music_spec=MusicFeatureSpec())


def _differences(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """One phrase per convention ``found`` differs in from ``expected``."""
    problems = []
    unknown = sorted(set(found) - set(_KEYS))
    if unknown:
        problems.append(f"records conventions this aichoreo does not know ({', '.join(map(str, unknown))}); "
                        "upgrade aichoreo")
    missing = [k for k in _KEYS if k not in found]
    if missing:
        problems.append(f"does not record its {', '.join(missing)}")
    if "fps" in found and found["fps"] != expected["fps"]:
        fps = found["fps"]
        fps = f"{fps:g}" if isinstance(fps, (int, float)) else repr(fps)
        problems.append(f"the model was trained at {fps} fps, this aichoreo generates at "
                        f"{expected['fps']:g} fps")
    if "joints" in found and found["joints"] != expected["joints"]:
        joints = found["joints"] if isinstance(found["joints"], dict) else {}
        names = joints.get("names")
        count = f" ({len(names)} joints)" if isinstance(names, list) else ""
        problems.append(f"the model's skeleton is {joints.get('set', found['joints'])!r}{count}, this aichoreo "
                        f"uses {expected['joints']['set']} ({len(expected['joints']['names'])} joints in SMPL order)")
    if "motion" in found and found["motion"] != expected["motion"]:
        problems.append(f"the model reads and writes {found['motion']!r} motion vectors, this aichoreo uses "
                        f"{expected['motion']}")
    if "music_features" in found and found["music_features"] != expected["music_features"]:
        spec, ours = found["music_features"], expected["music_features"]
        if not isinstance(spec, dict):
            problems.append(f"its music-feature spec is a {type(spec).__name__}, not a dict")
        else:
            keys = [k for k in ours if spec.get(k) != ours[k]] + sorted(set(spec) - set(ours))
            theirs = ", ".join(f"{k}={spec.get(k, 'absent')}" for k in keys)
            mine = ", ".join(f"{k}={ours.get(k, 'absent')}" for k in keys)
            problems.append(f"the model was trained on music features with {theirs}; this aichoreo computes {mine}")
    return problems


def check_conventions(found: dict[str, Any] | None, path: str | os.PathLike, *,
                      expected: dict[str, Any] | None = None, what: str = "cannot be used here",
                      advice: str = "retrain on data prepared by this aichoreo") -> None:
    """Refuse a model file whose conventions differ from ``expected`` (default: this aichoreo's).

    ``found`` is the file's ``"conventions"`` dict, or None for a format-1 file (read as
    :func:`version1_conventions`). Raises :class:`~aichoreo.errors.InputError` naming ``path``
    and every difference, on one line.
    """
    found = version1_conventions() if found is None else found
    if expected is None:
        expected = current_conventions()
        if isinstance(found, dict) and found.get("music_features") == STREAM_SPEC.to_dict():
            # A model trained on the features a live run streams (fact-small-stream): they are
            # computed here too, whole song or live.
            expected = conventions_of(fps=FPS, music_spec=STREAM_SPEC)
    if not isinstance(found, dict):
        raise InputError(path, f"its conventions entry is a {type(found).__name__}, not a dict: the file is damaged")
    problems = _differences(found, expected)
    if problems:
        raise InputError(path, f"{what}: " + "; ".join(problems) + f" ({advice})")

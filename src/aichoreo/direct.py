"""Directing a dance: poses pinned to moments (keyframes), and dances continued from their end.

**Keyframes** (:func:`keyframe_warp`) bend the generated dance through each pose at its time by
motion warping: the rotation from the dance's own pose to the keyframe's is added around it,
weighted by a smoothstep over ``ramp_s`` before and after (or up to a nearer keyframe), so the
dance keeps moving through the pose and every pose is exact at its frame. (Bending the model's
predictions towards the pose as they are generated, and feeding the bent frames back, was
measured first: the dance slows to a stop at the keyframe and hitches after it, 1.1-2.0x the
jitter of the rest of the dance against 0.75-1.19x warped; ``benchmarks/directed_dance.py``.)

A keyframes file is JSON, either a list of keyframes or ``{"keyframes": [...], "ramp_s": 0.5}``.
A keyframe is ``{"time_s": 12.5, ...}`` (seconds into the dance, as the video's clock shows
them) and one pose:

* ``"pose"``: SMPL axis-angle, 72 numbers (an AIST++ ``smpl_poses`` row) or 24 triples;
* ``"from": "take.pkl"`` with ``"frame": 120`` or ``"at_s": 2.0``: a frame of a motion file
  (``frame`` counts the file's own frames). Which files: those the ``read`` function given to
  :func:`read_keyframes` reads; ``aichoreo dance`` reads every motion file the project writes
  (:func:`aichoreo.retarget.read_source_motion`: AIST++ and EDGE ``.pkl``, AMASS ``.npz``, the
  SMPL skeleton's ``.bvh``, joints or FACT vectors ``.npy``), the default here AIST++ ``.pkl``.

Optional per keyframe: ``"root": true`` pins the root too (its orientation, and its position:
``"position": [x, y, z]`` metres, or the frame's own for ``"from"``); otherwise the dancer keeps
its own place and facing, and the pose is the body's. ``"ramp_s"``: this keyframe's blend time.

**Keep parts** (:func:`keep_edit`, :func:`keep_parts`): chosen joints follow a given motion
frame for frame (``upper``: the spine, neck, head and arms; ``lower``: the root, hips and legs, and
the root's path on the floor; or joint names). After every forward pass the kept joints of the
predicted frames are replaced by the source's, so the model generates the rest around them; after
the foot lock they are set again, so they equal the source exactly.

**Continue** (:func:`continuation_seed`): the last 2 s of a dance, in its own place on the floor,
become the seed, so the new dance starts where the old one ends. Generation joins every chunk to
the frames before it (:class:`aichoreo.generate.SeamEaser`); the first one is joined to the given
dance's end over ``CONTINUE_JOIN_S`` instead of one chunk, and the model goes on from the joined
frames.

The motion files of keyframes, ``--from`` and ``--continue`` are read by a ``read(path) ->
SMPLMotion`` passed in (:data:`MotionReader`): the reader of every format lives in
:mod:`aichoreo.retarget.source`, a module of this one's layer, so the caller (the pipeline) hands
it over.

**Style** (:func:`style_label`): a model trained with styles (``fact-small-style``) dances the one
named; the label and its guidance go to :func:`aichoreo.generate.generate_dances`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from aichoreo.data.aistpp import load_motion_smpl
from aichoreo.data.motion_files import check_motion
from aichoreo.errors import InputError
from aichoreo.fileio import read_json
from aichoreo.motion import FACT_ROTATIONS, FACT_TRANSLATION, SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from aichoreo.skeleton import FPS, MAX_DISTANCE_M, N_JOINTS, forward_kinematics

__all__ = ["Keyframe", "read_keyframes", "keyframe_warp", "keyframe_errors", "continuation_seed",
           "kept_joints", "keep_source", "keep_edit", "keep_parts", "style_label", "DEFAULT_RAMP_S", "CONTINUE_JOIN_S",
           "BODY_PARTS", "MotionReader", "read_aistpp_motion"]

#: ``read(path) -> SMPLMotion``: a motion file as an :class:`SMPLMotion` at its own frame rate, or
#: :class:`InputError` naming the file (:func:`aichoreo.retarget.read_source_motion` reads them all).
MotionReader = Callable[[Path], SMPLMotion]


def read_aistpp_motion(path: Path) -> SMPLMotion:
    """The default :data:`MotionReader`: an AIST++ motion ``.pkl`` (what ``aichoreo dance`` writes as
    ``dance.pkl``), checked."""
    path = Path(path)
    if path.suffix.lower() != ".pkl":
        raise InputError(path, "expected an AIST++ motion .pkl (aichoreo dance reads every motion format: "
                               "AIST++ or EDGE .pkl, AMASS .npz, .bvh, .npy)")
    return check_motion(load_motion_smpl(path), path)


DEFAULT_RAMP_S = 1.0  # seconds over which the dance bends into a keyframe and out of it
# Seconds over which a continuation's first chunk is joined to the given dance's end (SeamEaser's
# ``first``). Chosen on the 4 validation songs of benchmarks/directed_dance.py among one chunk
# (20 frames, as every other seam), 40 and 60 frames: 60 gave the lowest acceleration at the seam
# (39-84 m/s^2, one chunk's 61-90) and in the first second after it. Most of that was the foot
# clean-up moving the given dance's end, which it no longer does (generate.feet_locked's
# ``given_seed``): now 60 frames give 1-13 m/s^2 at the seam and one chunk 4-13, with 21-36 and
# 19-32 at worst in the first second (docs/generation.md). It replaced an ease that blended the given
# dance carried on at its velocities into the first second, which made its own jerks inside that
# second: up to 209-270 m/s^2 there.
CONTINUE_JOIN_S = 1.0


@dataclass(frozen=True)
class Keyframe:
    """A pose pinned to a moment of the dance.

    Attributes:
        time_s: seconds into the dance (its frame 0 = 0 s).
        rotations: ``(24, 3, 3)`` local rotations (joint 0: the root's orientation).
        position: ``(3,)`` root translation (metres, as :class:`SMPLMotion`'s) or ``None``.
        root: whether the root's orientation and position are pinned too.
        ramp_s: seconds of blending into and out of the pose.
    """

    time_s: float
    rotations: np.ndarray
    position: np.ndarray | None
    root: bool
    ramp_s: float = DEFAULT_RAMP_S


# The largest time (s) a keyframes file may name: 11 days. 1e308 s overflowed into a traceback where
# it was turned into frames, and a JSON integer of 400 digits where it was turned into a float.
MAX_KEY_SECONDS = 1e6


def _shown(value: Any) -> str:
    """``value`` as an error message shows it: at most 40 characters (a 400-digit number is not read)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any, what: str, path: Path, limit: float = MAX_KEY_SECONDS) -> float:
    """``value`` as a float when it is a JSON number within ``±limit``, else :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"{what} must be a number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not (math.isfinite(number) and abs(number) <= limit):
        raise InputError(path, f"{what} must be a finite number of at most {limit:g}, got {_shown(value)}")
    return number


def _position(entry: dict, n: int, path: Path) -> np.ndarray | None:
    """The keyframe's ``"position"`` ``(3,)`` metres, or None where it gives none."""
    position = entry.get("position")
    if position is None:
        return None
    if not isinstance(position, list) or len(position) != 3:
        raise InputError(path, f"keyframe {n}: position must be [x, y, z] metres")
    position = np.asarray([_number(v, f"keyframe {n}: position", path, math.inf) for v in position])
    if np.abs(position).max() > MAX_DISTANCE_M:
        raise InputError(path, f"keyframe {n}: position {position.tolist()} is more than "
                               f"{MAX_DISTANCE_M:g} m from the origin (metres expected)")
    return position


def _pose(entry: dict, n: int, path: Path, read: MotionReader) -> tuple[np.ndarray, np.ndarray | None]:
    """The keyframe's ``(24, 3, 3)`` rotations and the root position it carries (or None)."""
    if "pose" in entry:
        try:
            pose = np.asarray(entry["pose"], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(path, f"keyframe {n}: pose must be numbers, 72 (24 joints x 3 axis-angle)") from None
        if pose.shape != (3 * N_JOINTS,) or not np.all(np.isfinite(pose)):
            raise InputError(path, f"keyframe {n}: pose has {pose.size} numbers; expected {3 * N_JOINTS} finite "
                                   "SMPL axis-angle values (24 joints x 3)")
        position = _position(entry, n, path)
        # Angles too large for a precise rotation (1e300 rad made NaN matrices) are no pose.
        rotations = axis_angle_to_matrix(pose.reshape(N_JOINTS, 3))
        if not np.isfinite(rotations).all():
            raise InputError(path, f"keyframe {n}: pose angles up to {np.abs(pose).max():.3g} rad are not "
                                   "rotations (SMPL axis-angle radians expected)")
        return rotations, position
    if "from" in entry:
        if not isinstance(entry["from"], str) or not entry["from"]:
            raise InputError(path, f"keyframe {n}: from must be a motion file's path, got {_shown(entry['from'])}")
        source = Path(entry["from"])
        if not source.is_absolute():
            source = path.parent / source  # relative to the keyframes file
        if not source.is_file():
            raise InputError(source, f"keyframe {n}: no such motion file")
        motion = read(source)
        if "frame" in entry:
            frame = entry["frame"]
            if isinstance(frame, bool) or not isinstance(frame, int):
                raise InputError(path, f"keyframe {n}: frame must be an integer, got {_shown(frame)}")
        else:
            frame = round(_number(entry.get("at_s", 0.0), f"keyframe {n}: at_s", path) * motion.fps)
        if not 0 <= frame < len(motion):
            raise InputError(source, f"keyframe {n}: frame {_shown(frame)} is outside the motion's "
                                     f"{len(motion)} frames")
        position = _position(entry, n, path)  # a position given wins over the frame's own
        return (motion.rotations[frame].astype(np.float64),
                motion.translation[frame].astype(np.float64) if position is None else position)
    raise InputError(path, f"keyframe {n}: give a pose (\"pose\": 72 axis-angle numbers) or \"from\": a motion file")


def read_keyframes(path: str | os.PathLike, *, read: MotionReader = read_aistpp_motion) -> list[Keyframe]:
    """The keyframes of a JSON file (see the module docstring), sorted by time.

    Raises :class:`InputError` naming the file for a malformed file or keyframe. Times are checked
    against a dance by :func:`keyframe_warp`.
    """
    path = Path(path)
    data = read_json(path)
    ramp = DEFAULT_RAMP_S
    if isinstance(data, dict):
        ramp = _number(data.get("ramp_s", DEFAULT_RAMP_S), "ramp_s", path)
        data = data.get("keyframes")
    if not isinstance(data, list) or not data:
        raise InputError(path, 'expected a list of keyframes [{"time_s": ..., "pose": [...]}, ...] '
                               'or {"keyframes": [...]}')
    keys = []
    for n, entry in enumerate(data):
        if not isinstance(entry, dict) or "time_s" not in entry:
            raise InputError(path, f"keyframe {n}: expected an object with time_s and a pose")
        time_s = _number(entry["time_s"], f"keyframe {n}: time_s", path)
        rotations, position = _pose(entry, n, path, read)
        root = entry.get("root", False)
        if not isinstance(root, bool):
            raise InputError(path, f"keyframe {n}: root must be true or false, got {_shown(root)}")
        if root and position is None:
            raise InputError(path, f"keyframe {n}: root: true needs a position [x, y, z] (or a pose from a file)")
        key_ramp = _number(entry.get("ramp_s", ramp), f"keyframe {n}: ramp_s", path)
        if key_ramp <= 0:
            raise InputError(path, f"keyframe {n}: ramp_s must be > 0 s")
        keys.append(Keyframe(time_s, rotations, position if root else None, root, key_ramp))
    return sorted(keys, key=lambda k: k.time_s)


def _weight(offset: np.ndarray, before: int, after: int) -> np.ndarray:
    """Smoothstep blend weight of frames ``offset`` (frames from the keyframe): 1 at the keyframe,
    0 from ``before`` frames before it and from ``after`` frames after it on."""
    x = np.clip(1.0 - np.abs(offset) / np.where(offset < 0, before, after), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def keyframe_warp(keys: list[Keyframe], *, dance_start: int, n_frames: int, first_editable: int,
                  fps: float = FPS, source: str | os.PathLike | None = None):
    """The function ``warp(motion) -> motion`` that bends a generated dance through ``keys``.

    Motion warping (Witkin and Popovic, "Motion Warping", SIGGRAPH 1995): for each keyframe, the
    rotation that takes each joint from the dance's pose at the keyframe's frame to the keyframe's
    is added to the dance around it, scaled by a smoothstep weight that is 1 at the frame and 0
    ``ramp_s`` before and after, or up to the neighbouring keyframe where that is nearer. The dance
    keeps its own motion through the keyframe (a pose hit in passing, not a stop), and every pose
    is exact at its frame.

    Args:
        dance_start: the generator's frame index of the dance's time 0 (0 for a dance that
            includes its seed; the seed's length for a continuation, whose seed is not output).
        n_frames: the generator's frames in all (seed included).
        first_editable: the first generated frame (the seed's length): a keyframe must be far
            enough after it for its ramp, and before the last frame.
        source: the keyframes file, for errors.

    Raises :class:`InputError` for a keyframe before the dance can reach it or after it ends, and
    for two keyframes on the same frame.
    """
    placed = []
    for n, key in enumerate(keys):
        frame = dance_start + round(key.time_s * fps)
        ramp = max(1, round(key.ramp_s * fps))
        end_s = (n_frames - 1 - dance_start) / fps
        if frame > n_frames - 1:
            raise InputError(source, f"keyframe {n} at {key.time_s:g} s is after the dance ends ({end_s:.2f} s)")
        if frame - ramp < first_editable:
            earliest = (first_editable + ramp - dance_start) / fps
            # A continuation's seed is the given dance, not part of the new one: only the ramp counts.
            after = (f"the {first_editable / fps:g} s seed and the {key.ramp_s:g} s ramp"
                     if dance_start < first_editable else f"its {key.ramp_s:g} s ramp from the continuation's start")
            raise InputError(source, f"keyframe {n} at {key.time_s:g} s is too early: the dance can reach a pose "
                                     f"from {earliest:.2f} s on (after {after})")
        placed.append((frame, ramp, key, n))
    placed.sort(key=lambda p: p[0])
    for (frame, _, key, n), (other, _, other_key, m) in zip(placed, placed[1:]):
        if frame == other:
            raise InputError(source, f"keyframes {min(n, m)} and {max(n, m)} fall on the same frame "
                                     f"({key.time_s:g} and {other_key.time_s:g} s): one pose per moment")
    # A ramp ends at the neighbouring keyframes, where its weight is 0, so that no keyframe's bend
    # moves another's pose (two keyframes 0.3 s apart with 1 s ramps missed the first pose by 16 cm).
    frames = [p[0] for p in placed]
    spans = [(min(ramp, frame - frames[i - 1]) if i else ramp,
              min(ramp, frames[i + 1] - frame) if i + 1 < len(frames) else ramp)
             for i, (frame, ramp, _, _) in enumerate(placed)]

    def warp(motion: SMPLMotion) -> SMPLMotion:
        rot = motion.rotations.astype(np.float64).copy()
        trans = motion.translation.astype(np.float64).copy()
        for (frame, _, key, _), (before, after) in zip(placed, spans):
            joints = slice(0, N_JOINTS) if key.root else slice(1, N_JOINTS)
            # (J, 3): per joint the local rotation from the dance's pose to the keyframe's, as axis-angle
            delta = matrix_to_axis_angle(np.swapaxes(rot[frame, joints], -1, -2) @ key.rotations[joints])
            near = np.arange(max(0, frame - before), min(len(rot), frame + after + 1))
            w = _weight(near - frame, before, after)  # (F,)
            rot[near, joints] = rot[near, joints] @ axis_angle_to_matrix(w[:, None, None] * delta[None])
            if key.root:
                trans[near] += w[:, None] * (key.position - trans[frame])[None]
        return SMPLMotion(rot, trans, motion.fps)

    return warp


def keyframe_errors(motion: SMPLMotion, keys: list[Keyframe]) -> np.ndarray:
    """``(K,)`` mean joint distance (m) between ``motion`` at each keyframe's time and the keyframe's
    pose there: the pose placed with the motion's own root (its root's too, where ``root``)."""
    out = []
    for key in keys:
        frame = min(round(key.time_s * motion.fps), len(motion) - 1)
        rot = motion.rotations[frame].astype(np.float64).copy()
        trans = motion.translation[frame].astype(np.float64)
        joints = slice(0, N_JOINTS) if key.root else slice(1, N_JOINTS)
        rot[joints] = key.rotations[joints]
        if key.root:
            trans = key.position
        target = forward_kinematics(rot[None], trans[None])[0]
        out.append(float(np.linalg.norm(motion.joints()[frame] - target, axis=-1).mean()))
    return np.asarray(out)


def continuation_seed(path: str | os.PathLike, n_frames: int, fps: float = FPS, *,
                      read: MotionReader = read_aistpp_motion) -> SMPLMotion:
    """The last ``n_frames`` of the dance in ``path`` (e.g. ``dance.pkl``; any file ``read`` reads) at
    ``fps``, in its own place and facing: the seed that continues it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.is_dir() else "is a folder, expected a dance file")
    motion = read(path).resample(fps)
    if len(motion) < n_frames:
        raise InputError(path, f"has {len(motion)} frames at {fps:g} fps; continuing needs its last {n_frames} "
                               f"({n_frames / fps:g} s)")
    return motion.slice(len(motion) - n_frames)


# SMPL joints of each body part (aichoreo.skeleton.JOINT_NAMES); "lower" also keeps the root's path.
BODY_PARTS: dict[str, tuple[str, ...]] = {
    "upper": ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar", "head", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"),
    "lower": ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
              "left_foot", "right_foot"),
}


def kept_joints(spec: str) -> tuple[list[int], bool]:
    """``--keep`` as joint indices and whether the root's path is kept: ``"upper"``, ``"lower"`` or
    comma-separated SMPL joint names (``"pelvis"`` among them keeps the root's path)."""
    from aichoreo.skeleton import JOINT_NAMES

    names = BODY_PARTS.get(spec)
    if names is None:
        names = tuple(n.strip() for n in spec.split(",") if n.strip())
        unknown = [n for n in names if n not in JOINT_NAMES]
        if unknown or not names:
            raise InputError(None, f"--keep {spec!r}: use upper, lower, or SMPL joint names separated by commas "
                                   f"({', '.join(JOINT_NAMES)})")
    if len(set(names)) == N_JOINTS:
        raise InputError(None, f"--keep {spec!r} keeps every joint: nothing is left to generate")
    return sorted(JOINT_NAMES.index(n) for n in set(names)), "pelvis" in names


def keep_source(path: str | os.PathLike, fps: float = FPS, *, read: MotionReader = read_aistpp_motion) -> SMPLMotion:
    """The motion whose kept joints a dance follows (any file ``read`` reads), at ``fps``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.is_dir() else "is a folder, expected a motion file")
    return read(path).resample(fps)


def keep_edit(source: SMPLMotion, joints: list[int], root: bool):
    """The ``edit`` that puts ``source``'s rotations of ``joints`` (and its root translation with
    ``root``) into each predicted frame, dance frame ``f`` taking the source's frame ``f``."""
    rot = source.rotations.astype(np.float32)
    trans = source.translation.astype(np.float32)

    def edit(first: int, x: np.ndarray) -> np.ndarray:
        frames = np.minimum(first + np.arange(len(x)), len(rot) - 1)
        x = np.array(x, dtype=np.float32)
        r = x[:, FACT_ROTATIONS].reshape(len(x), N_JOINTS, 3, 3)
        r[:, joints] = rot[frames][:, joints]
        x[:, FACT_ROTATIONS] = r.reshape(len(x), -1)
        if root:
            x[:, FACT_TRANSLATION] = trans[frames]
        return x

    return edit


def keep_parts(motion: SMPLMotion, source: SMPLMotion, joints: list[int], root: bool) -> SMPLMotion:
    """``motion`` with ``source``'s rotations of ``joints`` (and root translation with ``root``),
    frame for frame: after the foot lock, so that the kept joints equal the source exactly."""
    n = min(len(motion), len(source))
    rot = motion.rotations.copy()
    trans = motion.translation.copy()
    rot[:n, joints] = source.rotations[:n, joints]
    if root:
        trans[:n] = source.translation[:n]
    return SMPLMotion(rot, trans, motion.fps)


def style_label(config: Any, style: str, model_file: str | os.PathLike | None = None) -> int:
    """The label of style ``style`` for a model of ``config`` (0 for ``"auto"``: none), checked once
    at the edge: an unknown style, or a style for a model without styles (the baselines, a FACT
    trained without them), is an :class:`InputError` naming ``model_file``."""
    if style == "auto":
        return 0
    label = getattr(config, "style_label", None)
    try:
        if label is None:
            raise ValueError(f"this model has no styles (a {type(config).__name__.removesuffix('Config')} model), "
                             f"so it cannot dance {style!r}")
        return label(style)
    except ValueError as exc:
        raise InputError(model_file, str(exc)) from None

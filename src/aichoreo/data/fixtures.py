"""Small synthetic AIST++ trees in exactly the release layout, for tests and examples.

:func:`write_aistpp_fixture` writes what :mod:`aichoreo.data.aistpp` reads: motion, 2D and 3D
keypoint pickles with the release's keys, shapes and dtypes, one camera setting with its
``mapping.txt``, the split and ignore lists, and (optionally) one click track per music id.

The dancer is plausible, not random: a standing SMPL body (male, betas 0) that bounces on the
beat of its music id's tempo (knees most bent on every beat), sways its arms every two beats
and turns slowly, feet kept on the floor (y = 0), body scale ≈ 93-97, translation in cm. The
3D keypoints are COCO-17 points taken from that body (face points placed on the head), the 2D
keypoints their projections into the 9 cameras (OpenCV model) with pixel noise, one missed
detection and a few NaN triangulations, as in the release. Deterministic for a given ``seed``;
a sequence's data depend only on its name and the seed.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.data.aistpp import (
    FPS,
    N_KEYPOINTS,
    SPLITS,
    VIEWS,
    load_ignore_list,
    load_split,
    parse_sequence_name,
)
from aichoreo.errors import InputError
from aichoreo.seeds import dance_pose  # the test sequences dance like the built-in bounce seed

__all__ = [
    "DEFAULT_SEQUENCES",
    "DEFAULT_N_FRAMES",
    "CAMERA_SETTING",
    "IMAGE_SIZE",
    "MUSIC_SAMPLE_RATE",
    "AISTPPFixture",
    "write_aistpp_fixture",
    "dance_pose",
    "coco17_from_smpl",
    "rig_cameras",
    "project_points",
    "click_track",
]

log = logging.getLogger(__name__)

# Real names from several genres; split as in the official lists (val: reportedly the test
# pairs with ch01, reference.md §1). The Waack one is on the official ignore list.
DEFAULT_SEQUENCES: dict[str, str | None] = {
    "gHO_sBM_cAll_d19_mHO3_ch09": "train",  # House: tempo 110 + 5k = 125 BPM
    "gJB_sFM_cAll_d07_mJB1_ch02": "train",  # advanced (sFM)
    "gLO_sBM_cAll_d13_mLO3_ch06": "train",
    "gWA_sBM_cAll_d25_mWA1_ch04": "train",  # on the ignore list
    "gBR_sBM_cAll_d04_mBR0_ch01": "val",
    "gKR_sBM_cAll_d28_mKR2_ch02": "test",
}
DEFAULT_N_FRAMES = 360  # 6 s at 60 fps: longer than FACT's 240-frame training window
CAMERA_SETTING = "setting1"
IMAGE_SIZE = (1920, 1080)  # width, height in pixels
MUSIC_SAMPLE_RATE = 30_720  # FACT's feature rate (60 fps x hop 512), so tests need no resampling

# Camera rig: the initial guess of google/aistplusplus_api processing/run_estimate_camera.py
# (focal 1600 px, centred principal point; c01-c08 every 45 degrees around y at radius 500 cm and
# height 180 cm, c09 beside c01 at 170 cm). Here each camera is also pitched down to look at the
# dancer's middle, so the whole body is in frame (the rig guess looks level and crops the feet).
_FOCAL_PX = 1600.0
_RADIUS_CM = 500.0
_HEIGHTS_CM = (180.0,) * 8 + (170.0,)
_LOOK_AT_CM = np.array([0.0, 90.0, 0.0])

_FOOT_CLEARANCE_M = 0.03  # height of SMPL's lowest foot joint above the floor
_MUSIC_TAIL_S = 1.0  # the song runs on after the dance, as AIST++ songs do
_SMPL_FEET = (7, 8, 10, 11)  # ankles and feet
# COCO-17 body points that are SMPL joints: shoulders, elbows, wrists, hips, knees, ankles.
_COCO_FROM_SMPL = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}
# Face points relative to SMPL's head joint, metres along (left, up, forward) of the head.
_FACE_OFFSETS_M = np.array([
    [0.0, 0.02, 0.10],  # nose
    [0.032, 0.055, 0.085], [-0.032, 0.055, 0.085],  # left, right eye
    [0.075, 0.03, 0.0], [-0.075, 0.03, 0.0],  # left, right ear
])  # fmt: skip


@dataclass(frozen=True)
class AISTPPFixture:
    """What :func:`write_aistpp_fixture` wrote."""

    root: Path  # the annotation folder
    music_dir: Path | None  # the music folder, or None
    names: tuple[str, ...]  # every sequence written, in the order given
    splits: Mapping[str, tuple[str, ...]]  # "train" / "val" / "test" -> names in that split
    ignored: tuple[str, ...]  # names written to ignore_list.txt
    n_frames: int


def write_aistpp_fixture(
    root: str | os.PathLike,
    *,
    sequences: Mapping[str, str | None] | Sequence[str] | None = None,
    n_frames: int = DEFAULT_N_FRAMES,
    music_dir: str | os.PathLike | None = None,
    seed: int = 0,
    music_sample_rate: int = MUSIC_SAMPLE_RATE,
) -> AISTPPFixture:
    """Write a small AIST++ annotation tree under ``root`` (and click tracks under ``music_dir``).

    Args:
        root: annotation folder to create (existing files of the same names are overwritten).
        sequences: annotation names (camera ``cAll``) mapped to their split (``"train"``,
            ``"val"``, ``"test"`` or None), or a list of names, whose splits are then those of
            the shipped official lists (None where a name is in neither). Default
            :data:`DEFAULT_SEQUENCES`. Names on the official ignore list go to ``ignore_list.txt``.
        n_frames: frames per sequence (60 fps).
        music_dir: if given, one mono 16-bit ``<music id>.wav`` click track per music id, at the
            id's tempo, beats at 0, 60/bpm, ... s, running 1 s past the dance.
        seed: the same seed writes the same bytes.
        music_sample_rate: Hz of the click tracks.
    """
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
        raise ValueError(f"n_frames must be an integer >= 2, got {n_frames!r}")
    if music_sample_rate < 8000:
        raise ValueError(f"music_sample_rate must be at least 8000 Hz, got {music_sample_rate}")
    assignment = _assign_splits(DEFAULT_SEQUENCES if sequences is None else sequences)
    shipped_ignore = set(load_ignore_list())
    ignored = tuple(n for n in assignment if n in shipped_ignore)

    root = Path(root)
    for sub in ("motions", "keypoints2d", "keypoints3d", "cameras", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cameras = rig_cameras(rng=np.random.default_rng([seed, 0]))
    (root / "cameras" / f"{CAMERA_SETTING}.json").write_text(json.dumps(_json_cameras(cameras)))
    _write_lines(root / "cameras" / "mapping.txt", [f"{n} {CAMERA_SETTING}" for n in sorted(assignment)])
    splits = {s: tuple(n for n, split in assignment.items() if split == s) for s in SPLITS}
    for split, names in splits.items():
        _write_lines(root / "splits" / f"crossmodal_{split}.txt", list(names))
    _write_lines(root / "ignore_list.txt", list(ignored))

    tempos: dict[str, float] = {}
    for name in assignment:
        seq = parse_sequence_name(name)
        tempos[seq.music_id] = seq.tempo_bpm
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        _write_sequence(root, name, int(n_frames), seq.tempo_bpm, cameras, rng)

    music = None if music_dir is None else Path(music_dir)
    if music is not None:
        import soundfile

        music.mkdir(parents=True, exist_ok=True)
        duration = n_frames / FPS + _MUSIC_TAIL_S
        for music_id, bpm in sorted(tempos.items()):
            soundfile.write(music / f"{music_id}.wav", click_track(duration, bpm, music_sample_rate),
                            music_sample_rate, subtype="PCM_16")  # fmt: skip
    log.info("wrote an AIST++ fixture of %d sequences to %s", len(assignment), root)
    return AISTPPFixture(root=root, music_dir=music, names=tuple(assignment), splits=splits,
                         ignored=ignored, n_frames=int(n_frames))  # fmt: skip


def _assign_splits(sequences: Mapping[str, str | None] | Sequence[str]) -> dict[str, str | None]:
    if isinstance(sequences, str):
        raise TypeError("sequences must be a list of names or a mapping name -> split, not one string")
    if isinstance(sequences, Mapping):
        assignment = dict(sequences)
    else:
        official = {n: s for s in ("train", "test") for n in load_split(s)}
        assignment = {n: official.get(n) for n in sequences}
    if not assignment:
        raise ValueError("sequences is empty")
    for name, split in assignment.items():
        if parse_sequence_name(name).camera != "cAll":
            raise InputError(None, f"{name!r} is a video name; fixture sequences need camera cAll")
        if split is not None and split not in SPLITS:
            raise ValueError(f"split of {name} must be one of {', '.join(SPLITS)} or None, got {split!r}")
    return assignment


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def _write_pickle(path: Path, data: dict[str, Any], protocol: int) -> None:
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)


def _write_sequence(
    root: Path, name: str, n_frames: int, bpm: float, cameras: list[dict[str, Any]], rng: np.random.Generator
) -> None:
    """Motion, keypoints3d and keypoints2d pickles of one sequence."""
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    poses, transl = dance_pose(n_frames, bpm, rng, fps=FPS)
    rotations = axis_angle_to_matrix(poses)
    joints = SMPLMotion(rotations, transl, FPS).joints().astype(np.float64)
    # Stand on the floor: lift each frame so the lowest foot joint sits just above y = 0.
    lift = _FOOT_CLEARANCE_M - joints[:, _SMPL_FEET, 1].min(axis=1)
    transl[:, 1] += lift
    joints[..., 1] += lift[:, None]

    scaling = float(rng.uniform(93.0, 97.0))
    motion = SMPLMotion(rotations, transl, FPS).to_aistpp(scaling)
    motion["smpl_loss"] = float(rng.uniform(20.0, 80.0))
    # Protocol 4 here, 5 (HIGHEST on Python >= 3.8) for keypoints: the release mixes protocols.
    _write_pickle(root / "motions" / f"{name}.pkl", motion, protocol=4)

    clean_cm = coco17_from_smpl(joints) * scaling  # metres at SMPL scale -> capture cm
    raw = clean_cm + rng.normal(0.0, 0.8, clean_cm.shape)  # per-frame triangulation noise
    n_nan = max(1, n_frames * N_KEYPOINTS // 200)
    raw[rng.integers(0, n_frames, n_nan), rng.integers(0, N_KEYPOINTS, n_nan)] = np.nan
    _write_pickle(root / "keypoints3d" / f"{name}.pkl",
                  {"keypoints3d": raw, "keypoints3d_optim": clean_cm}, protocol=5)  # fmt: skip

    keypoints2d = np.empty((len(cameras), n_frames, N_KEYPOINTS, 3), dtype=np.float32)
    width, height = IMAGE_SIZE
    for v, camera in enumerate(cameras):
        uv = project_points(clean_cm, camera) + rng.normal(0.0, 1.0, (n_frames, N_KEYPOINTS, 2))
        inside = (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height)
        keypoints2d[v, ..., :2] = uv
        keypoints2d[v, ..., 2] = np.where(inside, rng.uniform(0.7, 0.98, inside.shape), 0.05)
    det_scores = rng.uniform(0.9, 0.99, (len(cameras), n_frames)).astype(np.float32)
    # A frame where one view found nobody: NaN keypoints and score 0, as run_preprocessing.py writes.
    lost_view, lost_frame = 4 % len(cameras), n_frames // 3
    keypoints2d[lost_view, lost_frame] = np.nan
    det_scores[lost_view, lost_frame] = 0.0
    timestamps = np.round(np.arange(n_frames) * 1000.0 / FPS).astype(np.int64)  # ms
    detections = {"keypoints2d": keypoints2d, "det_scores": det_scores, "timestamps": timestamps}
    _write_pickle(root / "keypoints2d" / f"{name}.pkl", detections, protocol=5)


def coco17_from_smpl(joints: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints ``(..., 17, 3)`` from SMPL-24 joints ``(..., 24, 3)`` (same units, y up).

    Body points are the matching SMPL joints; nose, eyes and ears are fixed offsets from the head
    joint in a head frame (up: neck to head, left: right to left shoulder). An approximation for
    fixtures: AIST++'s own fit maps COCO face points to SMPL surface vertices.
    """
    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty(joints.shape[:-2] + (N_KEYPOINTS, 3))
    for coco, smpl in _COCO_FROM_SMPL.items():
        out[..., coco, :] = joints[..., smpl, :]
    head, neck = joints[..., 15, :], joints[..., 12, :]
    up = _unit(head - neck)
    left = joints[..., 16, :] - joints[..., 17, :]
    left = _unit(left - np.sum(left * up, axis=-1, keepdims=True) * up)
    forward = np.cross(left, up)
    frame = np.stack([left, up, forward], axis=-2)  # rows: head axes in world coordinates
    scale = np.linalg.norm(head - neck, axis=-1, keepdims=True)[..., None] / 0.2  # offsets are for a 0.2 m neck
    out[..., :5, :] = head[..., None, :] + scale * (_FACE_OFFSETS_M @ frame)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rig_cameras(*, rng: np.random.Generator | None = None) -> list[dict[str, Any]]:
    """The 9 AIST++-style cameras c01-c09, as :func:`aichoreo.data.aistpp.load_cameras` returns them.

    Camera c0k (k = 1..8) stands at 45° steps around the y axis, 500 cm from the origin at 180 cm
    height (c01 on +z, facing the dancer's front), c09 beside c01 at 170 cm; each looks at
    (0, 90, 0) cm with image y pointing down. Intrinsics: focal 1600 px, principal point at the
    centre of a 1920×1080 image. With ``rng``, small OpenCV distortions (|k1| ≤ 0.03); without,
    none.
    """
    from aichoreo.rotations import matrix_to_axis_angle

    cameras = []
    for i, name in enumerate(VIEWS):
        # The rig's rotation y(180 - 45 i) * z(180) puts camera i at this angle around y.
        angle = np.deg2rad(-45.0 * (i % 8))
        centre = np.array([_RADIUS_CM * np.sin(angle), _HEIGHTS_CM[i], _RADIUS_CM * np.cos(angle)])
        z = _unit(_LOOK_AT_CM - centre)  # optical axis
        x = _unit(np.cross(z, [0.0, 1.0, 0.0]))  # image right
        y = np.cross(z, x)  # image down
        rotation = np.stack([x, y, z])  # world -> camera
        dist = np.zeros(5)
        if rng is not None:
            dist[:4] = rng.uniform([-0.03, -0.01, -5e-4, -5e-4], [0.03, 0.01, 5e-4, 5e-4])
        width, height = IMAGE_SIZE
        cameras.append({
            "name": name,
            "size": np.array(IMAGE_SIZE, dtype=np.int64),
            "matrix": np.array([[_FOCAL_PX, 0.0, width / 2], [0.0, _FOCAL_PX, height / 2], [0.0, 0.0, 1.0]]),
            "rotation": np.asarray(matrix_to_axis_angle(rotation), dtype=np.float64),
            "translation": -rotation @ centre,
            "distortions": dist,
        })  # fmt: skip
    return cameras


def _json_cameras(cameras: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Camera dicts as aniposelib ``Camera.get_dict`` writes them (lists of numbers)."""
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()} for c in cameras]


def project_points(points: np.ndarray, camera: Mapping[str, Any]) -> np.ndarray:
    """Pixel coordinates ``(..., 2)`` of world points ``(..., 3)`` (cm) through one camera dict.

    The OpenCV pinhole model with radial (k1, k2, k3) and tangential (p1, p2) distortion, as
    aniposelib and ``cv2.projectPoints`` apply it: x_cam = R·X + t, normalise by depth, distort,
    then the intrinsics matrix.
    """
    from aichoreo.rotations import axis_angle_to_matrix

    rotation = np.asarray(axis_angle_to_matrix(np.asarray(camera["rotation"], dtype=np.float64)))
    cam = np.asarray(points, dtype=np.float64) @ rotation.T + np.asarray(camera["translation"], dtype=np.float64)
    a, b = cam[..., 0] / cam[..., 2], cam[..., 1] / cam[..., 2]
    k1, k2, p1, p2, k3 = (list(np.ravel(camera["distortions"])) + [0.0] * 5)[:5]
    r2 = a * a + b * b
    radial = 1.0 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    ad = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
    bd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
    k = np.asarray(camera["matrix"], dtype=np.float64)
    return np.stack([k[0, 0] * ad + k[0, 1] * bd + k[0, 2], k[1, 1] * bd + k[1, 2]], axis=-1)


def click_track(duration_s: float, bpm: float, sample_rate: int) -> np.ndarray:
    """Mono float32 clicks on every beat (t = k * 60 / bpm s), louder on every fourth.

    Each click is a 1 kHz tone burst decaying in 6 ms: a sharp onset for onset detection and
    beat tracking. ``duration_s * sample_rate`` samples (rounded).
    """
    n = int(round(duration_s * sample_rate))
    y = np.zeros(n, dtype=np.float64)
    burst_t = np.arange(int(0.04 * sample_rate)) / sample_rate
    burst = np.sin(2 * np.pi * 1000.0 * burst_t) * np.exp(-burst_t / 0.006)
    period = 60.0 / bpm
    for k in range(int(duration_s / period) + 1):
        start = int(round(k * period * sample_rate))
        if start >= n:
            break
        piece = burst[: n - start] * (0.9 if k % 4 == 0 else 0.6)
        y[start : start + len(piece)] += piece
    return y.astype(np.float32)

"""AIST++ annotations in their release layout: names, motions, keypoints, cameras, splits.

The annotation download (google.github.io/aistplusplus_dataset) unpacks to one folder::

    <root>/
      motions/<seq>.pkl        smpl_poses (N, 72), smpl_trans (N, 3) cm, smpl_scaling (1,), smpl_loss
      keypoints2d/<seq>.pkl    keypoints2d (9, N, 17, 3) px, det_scores (9, N), timestamps (N,)
      keypoints3d/<seq>.pkl    keypoints3d (N, 17, 3) cm (NaN possible), keypoints3d_optim (N, 17, 3) cm
      cameras/<setting>.json   9 cameras: name, size, matrix, rotation, translation, distortions
      cameras/mapping.txt      "<seq> <setting>" per line
      splits/crossmodal_{train,val,test}.txt
      ignore_list.txt

The music is a separate download (one ``<music id>.wav`` per piece, ``mBR0.wav`` ...).
Everything is 60 fps, y up; files are in centimetres, :meth:`AISTPP.joints` in metres
(``transl = smpl_trans / smpl_scaling``, reference.md §1). The file formats follow the writers in
google/aistplusplus_api ``processing/run_preprocessing.py``, ``run_estimate_keypoints.py``,
``run_estimate_smpl.py``, ``run_estimate_camera.py`` and the reader ``aist_plusplus/loader.py``.

Every reader validates what it returns and raises :class:`~aichoreo.errors.InputError` naming
the file and the problem. Pickles are read with a restricted unpickler that only rebuilds numpy
arrays and plain Python values, so a tampered file cannot run code.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import read_array_pickle, read_json
from aichoreo.skeleton import FPS  # every AIST++ annotation is at exactly 60 fps (dataset website)

if TYPE_CHECKING:
    from aichoreo.motion import SMPLMotion

__all__ = [
    "FPS",
    "GENRES",
    "DANCER_GENRES",
    "SITUATIONS",
    "VIEWS",
    "COCO_JOINT_NAMES",
    "N_KEYPOINTS",
    "SPLITS",
    "SequenceName",
    "SequenceNameError",
    "parse_sequence_name",
    "Keypoints2D",
    "load_motion",
    "load_motion_smpl",
    "load_keypoints2d",
    "load_keypoints3d",
    "load_cameras",
    "load_camera_mapping",
    "load_split",
    "load_ignore_list",
    "shipped_split_path",
    "AISTPP",
]

log = logging.getLogger(__name__)


# Genre code -> full name (reference.md §1). The first four are "old school", the rest "new school".
GENRES: dict[str, str] = {
    "BR": "Break", "PO": "Pop", "LO": "Lock", "WA": "Waack",
    "MH": "Middle Hip-hop", "LH": "LA-style Hip-hop", "HO": "House", "KR": "Krump",
    "JS": "Street Jazz", "JB": "Ballet Jazz",
}  # fmt: skip

# Three dancers per genre (reference.md §1): dancer id -> genre code.
_DANCER_RANGES = {
    "JS": (1, 3), "BR": (4, 6), "JB": (7, 9), "PO": (10, 12), "LO": (13, 15),
    "LH": (16, 18), "HO": (19, 21), "MH": (22, 24), "WA": (25, 27), "KR": (28, 30),
}  # fmt: skip
DANCER_GENRES: dict[str, str] = {
    f"d{i:02d}": code for code, (lo, hi) in _DANCER_RANGES.items() for i in range(lo, hi + 1)
}

# Situation code -> level. AIST++ annotates only these two of the AIST Dance DB situations.
SITUATIONS: dict[str, str] = {"sBM": "basic", "sFM": "advanced"}

VIEWS: tuple[str, ...] = tuple(f"c{i:02d}" for i in range(1, 10))  # camera names in video names

# COCO-17 order of keypoints2d / keypoints3d (left before right).
COCO_JOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
N_KEYPOINTS = len(COCO_JOINT_NAMES)

SPLITS: tuple[str, ...] = ("train", "val", "test")
_SPLIT_FILES = {s: f"crossmodal_{s}.txt" for s in SPLITS}
_IGNORE_FILE = "ignore_list.txt"
_MUSIC_SUFFIXES = (".wav", ".mp3", ".flac")
_LAYOUT = "motions/, keypoints2d/, keypoints3d/, cameras/, splits/, ignore_list.txt"
_NAME_FORMAT = "g<GG>_s<BM|FM>_c<All|01-09>_d<01-30>_m<GG><0-5>_ch<NN>, e.g. gBR_sBM_cAll_d04_mBR0_ch01"


# --------------------------------------------------------------------------------------------
# Sequence names


class SequenceNameError(InputError, ValueError):
    """A string that is not an AIST++ sequence (or video) name; both an InputError and a ValueError."""


@dataclass(frozen=True)
class SequenceName:
    """The fields of an AIST++ name ``g{GG}_s{SS}_c{CC}_d{DD}_m{GG}{k}_ch{NN}``.

    ``camera`` is ``"cAll"`` in annotation names and ``"c01"`` ... ``"c09"`` in the names of the
    AIST Dance DB videos.
    """

    name: str  # the full name as given
    genre_code: str  # "BR"
    genre: str  # "Break"
    situation: str  # "sBM" (basic) or "sFM" (advanced)
    level: str  # "basic" or "advanced"
    camera: str  # "cAll" or "c01" ... "c09"
    dancer: str  # "d01" ... "d30"
    music_id: str  # "mBR0": also the stem of the music file
    choreography: str  # "ch01"

    @property
    def tempo_bpm(self) -> float:
        """Tempo of the music in beats per minute, from its id (mint ``tools/preprocessing.py``)."""
        from aichoreo.audio import tempo_from_music_id

        bpm = tempo_from_music_id(self.music_id)
        if bpm is None:  # parse_sequence_name admits only ids that the rule covers
            raise ValueError(f"no tempo rule for music id {self.music_id!r}")
        return float(bpm)

    @property
    def annotation_name(self) -> str:
        """The name with camera ``cAll``, as used for every annotation file."""
        return self._with_camera("cAll")

    def video_name(self, view: str) -> str:
        """The AIST Dance DB video name of one view ``"c01"`` ... ``"c09"``."""
        if view not in VIEWS:
            raise ValueError(f"view {view!r} is not one of {', '.join(VIEWS)}")
        return self._with_camera(view)

    def _with_camera(self, camera: str) -> str:
        fields = self.name.split("_")
        fields[2] = camera
        return "_".join(fields)


def _bad_name(name: str, problem: str) -> SequenceNameError:
    return SequenceNameError(None, f"{name!r} is not an AIST++ sequence name: {problem} (expected {_NAME_FORMAT})")


def parse_sequence_name(name: str) -> SequenceName:
    """Split an AIST++ name into its fields, checking each one.

    Raises :class:`SequenceNameError` (an ``InputError`` and a ``ValueError``) saying which field
    is wrong: unknown genre, situation, camera, dancer or music id, a dancer of another genre, or
    music of another genre (in AIST++ both always match the dance genre).
    """
    if not isinstance(name, str):
        raise _bad_name(repr(name), f"expected a string, got {type(name).__name__}")
    fields = name.split("_")
    if len(fields) != 6:
        raise _bad_name(name, f"{len(fields)} fields separated by '_', expected 6")
    g, s, c, d, m, ch = fields
    if not (g.startswith("g") and g[1:] in GENRES):
        raise _bad_name(name, f"unknown genre {g!r} (known: {', '.join('g' + k for k in GENRES)})")
    code = g[1:]
    if s not in SITUATIONS:
        raise _bad_name(name, f"unknown situation {s!r} (AIST++ has sBM basic and sFM advanced)")
    if c != "cAll" and c not in VIEWS:
        raise _bad_name(name, f"unknown camera {c!r} (cAll, or c01 ... c09 in video names)")
    if d not in DANCER_GENRES:
        raise _bad_name(name, f"unknown dancer {d!r} (d01 ... d30)")
    if DANCER_GENRES[d] != code:
        raise _bad_name(name, f"dancer {d} dances {GENRES[DANCER_GENRES[d]]}, not {GENRES[code]}")
    if not re.fullmatch(r"m[A-Z]{2}[0-5]", m):
        raise _bad_name(name, f"unknown music id {m!r} (m<genre><0-5>)")
    if m[1:3] != code:
        raise _bad_name(name, f"music {m} is not {GENRES[code]} music (expected m{code}0 ... m{code}5)")
    if not re.fullmatch(r"ch\d{2}", ch):
        raise _bad_name(name, f"unknown choreography {ch!r} (ch01, ch02, ...)")
    return SequenceName(
        name=name, genre_code=code, genre=GENRES[code], situation=s, level=SITUATIONS[s],
        camera=c, dancer=d, music_id=m, choreography=ch,
    )  # fmt: skip


def _annotation_name(name: str) -> SequenceName:
    """Parse ``name`` and insist on camera ``cAll``: annotation files exist only for those."""
    seq = parse_sequence_name(name)
    if seq.camera != "cAll":
        raise SequenceNameError(
            None, f"{name!r} is a video name; annotations are named with cAll: {seq.annotation_name!r}"
        )
    return seq


# --------------------------------------------------------------------------------------------
# Validated file readers


def _get(data: Mapping, key: str, path: Path) -> Any:
    if key not in data:
        have = ", ".join(sorted(map(str, data))) or "none"
        raise InputError(path, f"missing key {key!r} (keys present: {have})")
    return data[key]


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _array(
    data: Mapping,
    key: str,
    path: Path,
    shape: tuple[int | str, ...],
    *,
    dtype: type = np.float32,
    nan_ok: bool = False,
) -> np.ndarray:
    """``data[key]`` as an array of ``shape`` (ints are exact, strings name free sizes ≥ 1).

    Float arrays must be finite (NaN tolerated with ``nan_ok``, infinity never).
    """
    value = _get(data, key, path)
    try:
        arr = np.asarray(value)
    except Exception:  # ragged lists and odd objects: report the type, not numpy's message
        raise InputError(path, f"{key} is not an array ({type(value).__name__})") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(path, f"{key} is not a numeric array (dtype {arr.dtype})")
    ok = arr.ndim == len(shape) and all(
        n == want if isinstance(want, int) else n >= 1 for n, want in zip(arr.shape, shape)
    )
    if not ok:
        raise InputError(path, f"{key} has shape {_fmt_shape(arr.shape)}, expected {_fmt_shape(shape)}")
    arr = arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        bad = ~finite & ~np.isnan(arr) if nan_ok else ~finite
        if bad.any():
            what = "infinite" if nan_ok else "non-finite (NaN or infinite)"
            where = np.argwhere(bad)[0]
            raise InputError(path, f"{key} has {what} values (first at index {tuple(int(i) for i in where)})")
    return arr


def _same_frames(path: Path, **frames: int) -> None:
    counts = set(frames.values())
    if len(counts) > 1:
        listed = ", ".join(f"{k} has {v}" for k, v in frames.items())
        raise InputError(path, f"frame counts differ: {listed}")


def load_motion(path: str | os.PathLike) -> dict[str, Any]:
    """One ``motions/<seq>.pkl``, validated.

    Returns a dict:
        ``smpl_poses`` ``(N, 72)`` float32 axis-angle radians, 24 SMPL joints × 3, joint 0 = global
        orientation (files with ``(N, 24, 3)`` are accepted and reshaped);
        ``smpl_trans`` ``(N, 3)`` float64 root translation in capture units (cm);
        ``smpl_scaling`` ``(1,)`` float64 body scale (≈ 90-100 in AIST++), positive;
        ``smpl_loss`` float, the fit's final MSE (NaN when the file has none, e.g. generated motion);
        ``fps`` float: 60 (every AIST++ file), or the file's own ``fps`` key where it has one
        (``aichoreo fit --fps`` may write another rate).
    """
    path = Path(path)
    data = read_array_pickle(path)
    poses_raw = _get(data, "smpl_poses", path)
    if np.ndim(poses_raw) == 3:  # aistplusplus_api loader.py documents (N, 24, 3)
        poses = _array(data, "smpl_poses", path, ("N", 24, 3)).reshape(-1, 72)
    else:
        poses = _array(data, "smpl_poses", path, ("N", 72))
    trans = _array(data, "smpl_trans", path, ("N", 3), dtype=np.float64)
    scaling_raw = _get(data, "smpl_scaling", path)
    if np.size(scaling_raw) != 1:
        raise InputError(path, f"smpl_scaling has shape {_fmt_shape(np.shape(scaling_raw))}, expected (1,)")
    scaling = _array({"smpl_scaling": np.reshape(scaling_raw, (1,))}, "smpl_scaling", path, (1,), dtype=np.float64)
    if not scaling[0] > 0:
        raise InputError(path, f"smpl_scaling is {float(scaling[0])}, expected a positive body scale")
    _same_frames(path, smpl_poses=len(poses), smpl_trans=len(trans))
    loss = data.get("smpl_loss")
    try:
        loss = float("nan") if loss is None else float(np.asarray(loss).reshape(()))
    except (TypeError, ValueError):
        raise InputError(path, f"smpl_loss is not a number ({type(loss).__name__})") from None
    fps = data.get("fps", FPS)
    try:
        fps = float(np.asarray(fps).reshape(()))
    except (TypeError, ValueError):
        raise InputError(path, f"fps is not a number ({type(fps).__name__})") from None
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(path, f"fps is {fps}, expected a positive frame rate")
    return {"smpl_poses": poses, "smpl_trans": trans, "smpl_scaling": scaling, "smpl_loss": loss, "fps": fps}


def load_motion_smpl(path: str | os.PathLike, *, fps: float | None = None) -> SMPLMotion:
    """One ``motions/<seq>.pkl`` as an :class:`~aichoreo.motion.SMPLMotion` (metres, y up).

    The translation becomes ``smpl_trans / smpl_scaling`` (stock SMPL scale, reference.md §1).
    ``fps`` overrides the file's frame rate (default: its ``fps`` key, else 60).
    """
    from aichoreo.motion import SMPLMotion

    m = load_motion(path)
    return SMPLMotion.from_aistpp(m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"], fps=fps or m["fps"])


@dataclass(frozen=True)
class Keypoints2D:
    """2D COCO-17 detections of one sequence in every view.

    ``keypoints`` ``(V, N, 17, 3)`` float32: x, y in pixels of the 1920×1080 frames and the
    detector's confidence; NaN where no person was detected. ``det_scores`` ``(V, N)`` float32
    person-detection scores (0 where none). ``timestamps`` ``(N,)``: the frame stamps of the
    detector's output files (integers in the release). V = 9 views in AIST++.
    """

    keypoints: np.ndarray
    det_scores: np.ndarray
    timestamps: np.ndarray

    @property
    def n_views(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.keypoints.shape[1])


def load_keypoints2d(path: str | os.PathLike) -> Keypoints2D:
    """One ``keypoints2d/<seq>.pkl``, validated (see :class:`Keypoints2D`)."""
    path = Path(path)
    data = read_array_pickle(path)
    if "det_scores" not in data and "bboxes" in data:
        raise InputError(path, "whole-body keypoints (133 points with bboxes) are not supported; "
                               "expected the COCO-17 release (keypoints2d, det_scores, timestamps)")  # fmt: skip
    kp = _array(data, "keypoints2d", path, ("V", "N", N_KEYPOINTS, 3), nan_ok=True)
    scores = _array(data, "det_scores", path, ("V", "N"))
    stamps_raw = np.asarray(_get(data, "timestamps", path))
    stamp_dtype = np.int64 if stamps_raw.dtype.kind in "iu" else np.float64
    stamps = _array(data, "timestamps", path, ("N",), dtype=stamp_dtype)
    if scores.shape[0] != kp.shape[0]:
        raise InputError(path, f"view counts differ: keypoints2d has {kp.shape[0]}, det_scores has {scores.shape[0]}")
    _same_frames(path, keypoints2d=kp.shape[1], det_scores=scores.shape[1], timestamps=len(stamps))
    return Keypoints2D(keypoints=kp, det_scores=scores, timestamps=stamps)


def load_keypoints3d(path: str | os.PathLike, *, optimized: bool = True) -> np.ndarray:
    """One ``keypoints3d/<seq>.pkl``: COCO-17 keypoints ``(N, 17, 3)`` float32, centimetres, y up.

    ``optimized=True`` reads ``keypoints3d_optim`` (temporally optimised, finite everywhere);
    ``False`` reads ``keypoints3d`` (per-frame triangulation, NaN where a joint was not seen).
    """
    path = Path(path)
    data = read_array_pickle(path)
    key = "keypoints3d_optim" if optimized else "keypoints3d"
    points = _array(data, key, path, ("N", N_KEYPOINTS, 3), nan_ok=not optimized)
    other = "keypoints3d" if optimized else "keypoints3d_optim"
    if other in data and np.ndim(data[other]) >= 1:  # both come from one 2D track: same length
        _same_frames(path, **{key: len(points), other: int(np.shape(data[other])[0])})
    return points


_CAMERA_FIELDS = ("name", "size", "matrix", "rotation", "translation", "distortions")
_DISTORTION_SIZES = (4, 5, 8, 12, 14)  # the coefficient counts OpenCV accepts


def _camera(entry: Any, index: int, path: Path) -> dict[str, Any]:
    """One validated camera dict of a ``cameras/<setting>.json`` file."""
    named = isinstance(entry, dict) and isinstance(entry.get("name"), str)
    label = f"camera {entry['name']}" if named else f"camera entry {index + 1}"
    if not isinstance(entry, dict):
        fields = ", ".join(_CAMERA_FIELDS)
        raise InputError(path, f"{label} is a {type(entry).__name__}, expected an object with fields {fields}")
    for field in _CAMERA_FIELDS:
        if field not in entry:
            raise InputError(path, f"{label} is missing field {field!r}")

    def numbers(field: str, shape: tuple[int, ...]) -> np.ndarray:
        try:
            arr = np.asarray(entry[field], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(path, f"{label} field {field!r} is not numeric") from None
        if len(shape) == 1 and arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)  # OpenCV writes vectors as (3, 1) or (1, 5)
        if field == "distortions":
            if arr.ndim != 1 or arr.size not in _DISTORTION_SIZES:
                raise InputError(path, f"{label} field 'distortions' has shape {_fmt_shape(arr.shape)}, expected (5,) "
                                       f"(OpenCV accepts {', '.join(map(str, _DISTORTION_SIZES))} values)")  # fmt: skip
        elif arr.shape != shape:
            got, want = _fmt_shape(arr.shape), _fmt_shape(shape)
            raise InputError(path, f"{label} field {field!r} has shape {got}, expected {want}")
        if not np.all(np.isfinite(arr)):
            raise InputError(path, f"{label} field {field!r} has non-finite values")
        return arr

    name = entry["name"]
    if not isinstance(name, str) or not name:
        raise InputError(path, f"{label} field 'name' is not a camera name")
    size = numbers("size", (2,))
    if np.any(size <= 0) or np.any(size != np.round(size)):
        raise InputError(path, f"{label} field 'size' is {size.tolist()}, expected [width, height] in pixels")
    matrix = numbers("matrix", (3, 3))
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise InputError(path, f"{label} field 'matrix' has non-positive focal lengths")
    return {
        "name": name,
        "size": size.astype(np.int64),  # (2,) width, height in pixels
        "matrix": matrix,  # (3, 3) intrinsics K, pixels
        "rotation": numbers("rotation", (3,)),  # (3,) Rodrigues vector, world -> camera
        "translation": numbers("translation", (3,)),  # (3,) cm: x_cam = R @ X + t
        "distortions": numbers("distortions", (5,)),  # OpenCV k1, k2, p1, p2, k3
    }


def load_cameras(path: str | os.PathLike) -> list[dict[str, Any]]:
    """One ``cameras/<setting>.json``: the list of camera dicts, validated, as numpy arrays.

    Each dict: ``name`` str (``c01`` ...), ``size`` ``(2,)`` int64 width, height px, ``matrix``
    ``(3, 3)`` intrinsics, ``rotation`` ``(3,)`` Rodrigues world → camera, ``translation`` ``(3,)``
    cm, ``distortions`` ``(5,)`` OpenCV coefficients; a world point X (cm, y up) maps to
    ``x_cam = R(rotation) @ X + translation``, then OpenCV distortion, then ``matrix``
    (aniposelib ``Camera``, as aistplusplus_api ``loader.py`` builds it).
    """
    path = Path(path)
    entries = read_json(path)
    if not isinstance(entries, list) or not entries:
        raise InputError(path, "expected a non-empty JSON list of cameras")
    cameras = [_camera(entry, i, path) for i, entry in enumerate(entries)]
    names = [c["name"] for c in cameras]
    if len(set(names)) != len(names):
        raise InputError(path, f"camera names repeat: {names}")
    return cameras


def _text_lines(path: Path) -> list[str]:
    """Stripped, non-blank lines: circulating copies have blank lines, trailing spaces, CRLF."""
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_camera_mapping(path: str | os.PathLike) -> dict[str, str]:
    """``cameras/mapping.txt``: sequence name -> camera setting (the stem of its JSON file)."""
    path = Path(path)
    mapping: dict[str, str] = {}
    for number, line in enumerate(_text_lines(path), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise InputError(path, f"line {number} has {len(fields)} fields, expected '<sequence> <setting>': {line!r}")
        mapping[fields[0]] = fields[1]
    if not mapping:
        raise InputError(path, "is empty")
    return mapping


def _name_list(path: Path) -> list[str]:
    names = _text_lines(path)
    for number, name in enumerate(names, start=1):
        try:
            parse_sequence_name(name)
        except SequenceNameError as exc:
            raise InputError(path, f"entry {number}: {exc.problem}") from None
    if len(set(names)) != len(names):
        log.warning("%s lists some names more than once; keeping the first of each", path)
        names = list(dict.fromkeys(names))
    return names


def shipped_split_path(filename: str) -> Path:
    """Path of a list shipped in the package (``assets/splits/``): the split and ignore lists."""
    return Path(str(resources.files("aichoreo").joinpath("assets", "splits", filename)))


def load_split(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """Sequence names of the cross-modal split ``"train"`` (980), ``"val"`` (20) or ``"test"`` (20).

    From ``root/splits/crossmodal_<name>.txt`` when ``root`` (the annotation folder) is given,
    else from the copy shipped with aichoreo (Stanford-TML/EDGE ``data/splits/``, MIT). The
    official validation list ships only with the AIST++ annotations, so ``"val"`` needs ``root``.
    Names keep the file's order.
    """
    if name not in _SPLIT_FILES:
        raise InputError(None, f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
    filename = _SPLIT_FILES[name]
    if root is not None:
        return _name_list(Path(root) / "splits" / filename)
    if name == "val":
        raise InputError(filename, "not shipped with aichoreo: the official validation list comes only with the "
                                   "AIST++ annotations download (splits/); pass root=<annotation folder>")  # fmt: skip
    return _name_list(shipped_split_path(filename))


def load_ignore_list(root: str | os.PathLike | None = None) -> list[str]:
    """The 45 sequences whose SMPL fits are flagged as bad: ``root/ignore_list.txt``, else the shipped copy."""
    path = Path(root) / _IGNORE_FILE if root is not None else shipped_split_path(_IGNORE_FILE)
    return _name_list(path)


# --------------------------------------------------------------------------------------------
# The annotation folder


class AISTPP:
    """An AIST++ annotation folder (and optionally the music folder), read on demand.

    ``root`` needs ``motions/``; the other folders are read when asked for. ``music_dir`` holds
    ``<music id>.wav`` (or ``.mp3`` / ``.flac``). Names are annotation names (camera ``cAll``).
    """

    def __init__(self, root: str | os.PathLike, music_dir: str | os.PathLike | None = None):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise InputError(self.root, "no such folder (expected the AIST++ annotation folder)")
        if not (self.root / "motions").is_dir():
            problem = f"not an AIST++ annotation folder: it has no motions/ (expected {_LAYOUT})"
            if any(self.root.glob("*.pkl")):
                problem += "; it holds .pkl files itself, so pass the folder above it"
            raise InputError(self.root, problem)
        self.music_dir = None if music_dir is None else Path(music_dir).expanduser()
        if self.music_dir is not None and not self.music_dir.is_dir():
            raise InputError(self.music_dir, "no such folder (expected the AIST++ music folder)")

    def __repr__(self) -> str:
        return f"AISTPP(root={str(self.root)!r}, music_dir={None if self.music_dir is None else str(self.music_dir)!r})"

    # -- lists

    def _folder(self, sub: str) -> Path:
        folder = self.root / sub
        if not folder.is_dir():
            raise InputError(folder, f"no such folder: this AIST++ download lacks {sub}/ (expected {_LAYOUT})")
        return folder

    @cached_property
    def ignored(self) -> frozenset[str]:
        """The ignore list: ``root/ignore_list.txt``, or the shipped copy where the root has none."""
        if (self.root / _IGNORE_FILE).is_file():
            return frozenset(load_ignore_list(self.root))
        log.info("%s has no %s; using the copy shipped with aichoreo", self.root, _IGNORE_FILE)
        return frozenset(load_ignore_list())

    def sequence_names(
        self, split: str | None = None, *, exclude_ignored: bool = True, on_missing: str = "error"
    ) -> list[str]:
        """Names of the sequences in ``split`` (``None``: every motion file), minus the ignore list.

        Split lists come from ``root/splits/`` where it exists, else from the shipped copies.
        ``on_missing``: what to do with split names whose motion file is absent: ``"error"``
        (an InputError naming them) or ``"skip"`` (dropped, with a warning).
        """
        if on_missing not in ("error", "skip"):
            raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
        motions = self._folder("motions")
        present = {p.stem for p in motions.glob("*.pkl")}
        if split is None:
            names = sorted(n for n in present if _is_sequence_name(n))
        else:
            has_splits = (self.root / "splits").is_dir()
            names = load_split(split, self.root if has_splits else None)
            missing = [n for n in names if n not in present]
            if missing and on_missing == "error":
                example = ", ".join(missing[:3])
                raise InputError(motions, f"lacks {len(missing)} of the {len(names)} {split!r} sequences "
                                          f"(e.g. {example}); pass on_missing='skip' to use the rest")  # fmt: skip
            if missing:
                log.warning("%s lacks %d of the %d %r sequences; skipping them",
                            motions, len(missing), len(names), split)  # fmt: skip
                names = [n for n in names if n in present]
        if exclude_ignored:
            names = [n for n in names if n not in self.ignored]
        return names

    # -- per-sequence files

    def _file(self, sub: str, name: str) -> Path:
        seq = _annotation_name(name)
        return self._folder(sub) / f"{seq.name}.pkl"

    def motion(self, name: str) -> SMPLMotion:
        """The SMPL motion of ``name`` (metres, y up, 60 fps)."""
        return load_motion_smpl(self._file("motions", name), fps=FPS)

    def joints(self, name: str) -> np.ndarray:
        """SMPL-24 joints ``(T, 24, 3)`` float32, metres, y up, 60 fps (forward kinematics, no SMPL file)."""
        return self.motion(name).joints().copy()  # the caller's own, writable

    def keypoints2d(self, name: str) -> Keypoints2D:
        """2D COCO-17 keypoints of the 9 views (see :class:`Keypoints2D`)."""
        return load_keypoints2d(self._file("keypoints2d", name))

    def keypoints3d(self, name: str, *, optimized: bool = True) -> np.ndarray:
        """3D COCO-17 keypoints ``(N, 17, 3)`` float32 cm (see :func:`load_keypoints3d`)."""
        return load_keypoints3d(self._file("keypoints3d", name), optimized=optimized)

    @cached_property
    def camera_mapping(self) -> dict[str, str]:
        """``cameras/mapping.txt``: sequence -> camera setting."""
        return load_camera_mapping(self._folder("cameras") / "mapping.txt")

    def cameras(self, name: str) -> list[dict[str, Any]]:
        """The 9 cameras that filmed ``name`` (see :func:`load_cameras`), via ``cameras/mapping.txt``."""
        seq = _annotation_name(name)
        mapping_path = self.root / "cameras" / "mapping.txt"
        setting = self.camera_mapping.get(seq.name)
        if setting is None:
            raise InputError(mapping_path, f"has no camera setting for {seq.name}")
        return load_cameras(self.root / "cameras" / f"{setting}.json")

    def music_path(self, name: str) -> Path:
        """The music file of ``name``: ``music_dir/<music id>.wav`` (or ``.mp3`` / ``.flac``)."""
        music_id = parse_sequence_name(name).music_id
        if self.music_dir is None:
            raise InputError(f"{music_id}.wav", "no music folder given: pass AISTPP(root, music_dir=...)")
        for suffix in _MUSIC_SUFFIXES:
            path = self.music_dir / f"{music_id}{suffix}"
            if path.is_file():
                return path
        problem = "no such file (nor .mp3 or .flac); the music comes from the AIST Dance Video Database site"
        raise InputError(self.music_dir / f"{music_id}.wav", problem)


def _is_sequence_name(stem: str) -> bool:
    try:
        _annotation_name(stem)
    except SequenceNameError:
        log.warning("ignoring motions/%s.pkl: not an AIST++ sequence name", stem)
        return False
    return True

"""Calibrated cameras: AIST++ camera JSON <-> aniposelib ``CameraGroup``, and projection.

An AIST++ camera setting (``cameras/<setting>.json``) is a JSON list with one object per
camera (google/aistplusplus_api ``aist_plusplus/loader.py`` ``load_camera_group`` builds an
aniposelib ``Camera`` from each)::

    name          "c01"
    size          [width, height] pixels
    matrix        3x3 intrinsics K (pixels)
    rotation      Rodrigues vector, world -> camera
    translation   3 numbers, world units (AIST++: cm)
    distortions   OpenCV coefficients k1, k2, p1, p2, k3

A world point X maps to ``x_cam = R(rotation) X + translation``, then to normalised image
coordinates ``x_cam[:2] / x_cam[2]``, then OpenCV's radial and tangential distortion, then
K. World units are whatever the cameras' translations use (AIST++: centimetres, y up).

aniposelib (and through it OpenCV) is an optional dependency (``pip install aichoreo[recon]``)
imported inside the functions that need it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path, read_json
from aichoreo.rotations import axis_angle_to_matrix

if TYPE_CHECKING:
    from aniposelib.cameras import CameraGroup

__all__ = [
    "CAMERA_FIELDS",
    "cameras_from_aistpp",
    "cameras_to_aistpp",
    "load_camera_group",
    "save_camera_group",
    "project",
    "projection_matrices",
    "undistort",
]

CAMERA_FIELDS = ("name", "size", "matrix", "rotation", "translation", "distortions")
_DISTORTION_SIZES = (4, 5, 8, 12, 14)  # the coefficient counts OpenCV accepts


def _require_aniposelib():
    try:
        from aniposelib import cameras
    except ImportError as exc:  # optional dependency
        raise ImportError(
            "multi-view reconstruction needs aniposelib and opencv: pip install 'aichoreo[recon]'"
        ) from exc
    return cameras


def _numbers(entry: Mapping[str, Any], field: str, shape: tuple[int, ...] | None, label: str,
             path: str | os.PathLike | None) -> np.ndarray:
    try:
        arr = np.asarray(entry[field], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(path, f"{label} field {field!r} is not numeric") from None
    if shape is None:  # distortions: a vector of one of OpenCV's lengths
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
        if arr.ndim != 1 or arr.size not in _DISTORTION_SIZES:
            raise InputError(path, f"{label} field {field!r} has shape {arr.shape}, expected (5,) "
                                   f"(OpenCV accepts {', '.join(map(str, _DISTORTION_SIZES))} values)")  # fmt: skip
    else:
        if len(shape) == 1 and arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)  # OpenCV writes vectors as (3, 1)
        if arr.shape != shape:
            raise InputError(path, f"{label} field {field!r} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(path, f"{label} field {field!r} has non-finite values")
    return arr


def _validated(entry: Any, index: int, path: str | os.PathLike | None) -> dict[str, Any]:
    """One camera dict checked and converted to numpy (float64, size int)."""
    label = f"camera {index}" + (f" ({entry['name']})" if isinstance(entry, Mapping) and "name" in entry else "")
    if not isinstance(entry, Mapping):
        raise InputError(path, f"{label} is a {type(entry).__name__}, expected an object with fields "
                               f"{', '.join(CAMERA_FIELDS)}")  # fmt: skip
    missing = [f for f in CAMERA_FIELDS if f not in entry]
    if missing:
        raise InputError(path, f"{label} is missing field(s) {', '.join(map(repr, missing))}")
    name = entry["name"]
    if not isinstance(name, str) or not name:
        raise InputError(path, f"{label} field 'name' is not a camera name")
    size = _numbers(entry, "size", (2,), label, path)
    if np.any(size <= 0) or np.any(size != np.round(size)):
        raise InputError(path, f"{label} field 'size' is {size.tolist()}, expected [width, height] in pixels")
    matrix = _numbers(entry, "matrix", (3, 3), label, path)
    # OpenCV's projection reads fx, fy, cx, cy alone: a matrix scaled as a whole (2 K), with another
    # last row or with skew was read as another camera, silently, and one such view spoiled the
    # whole triangulation (metres off).
    if matrix[2, 2] <= 0 or abs(matrix[2, 0]) > 1e-9 * matrix[2, 2] or abs(matrix[2, 1]) > 1e-9 * matrix[2, 2]:
        raise InputError(path, f"{label} field 'matrix' has last row {matrix[2].tolist()}, expected [0, 0, 1]")
    matrix = matrix / matrix[2, 2]
    matrix[2] = (0.0, 0.0, 1.0)
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise InputError(path, f"{label} field 'matrix' has non-positive focal lengths")
    if abs(matrix[1, 0]) > 1e-3 * matrix[1, 1] or abs(matrix[0, 1]) > 1e-3 * matrix[0, 0]:  # rounding, not skew
        raise InputError(path, f"{label} field 'matrix' has skew ({matrix[0, 1]:g}), which OpenCV's camera model "
                               "does not have: expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]")
    if min(matrix[0, 0], matrix[1, 1]) < 0.05 * max(size):
        raise InputError(path, f"{label} field 'matrix' has focal lengths of {matrix[0, 0]:.3g} and "
                               f"{matrix[1, 1]:.3g} pixels for an image {int(size[0])} wide: normalised by the "
                               "image size? (expected pixels)")
    return {
        "name": name,
        "size": [int(v) for v in size],
        "matrix": matrix,
        "rotation": _numbers(entry, "rotation", (3,), label, path),
        "translation": _numbers(entry, "translation", (3,), label, path),
        "distortions": _numbers(entry, "distortions", None, label, path),
    }


def cameras_from_aistpp(cameras: Sequence[Mapping[str, Any]], *,
                        path: str | os.PathLike | None = None) -> CameraGroup:
    """An aniposelib ``CameraGroup`` from AIST++ camera dicts (validated).

    Accepts the dicts of a camera JSON or of :func:`aichoreo.data.aistpp.load_cameras`.
    Bad entries raise :class:`InputError` naming ``path`` (the file they came from).
    """
    anipose = _require_aniposelib()
    if isinstance(cameras, (str, bytes)) or not isinstance(cameras, Sequence) or len(cameras) == 0:
        raise InputError(path, "expected a non-empty list of cameras")
    checked = [_validated(entry, i, path) for i, entry in enumerate(cameras)]
    names = [c["name"] for c in checked]
    if len(set(names)) != len(names):
        raise InputError(path, f"camera names repeat: {names}")
    return anipose.CameraGroup([
        anipose.Camera(name=c["name"], size=c["size"], matrix=c["matrix"], rvec=c["rotation"],
                       tvec=c["translation"], dist=c["distortions"])
        for c in checked
    ])  # fmt: skip


def cameras_to_aistpp(group: CameraGroup) -> list[dict[str, Any]]:
    """AIST++ camera dicts (plain lists and floats, JSON-ready) from a ``CameraGroup``."""
    out = []
    for cam in group.cameras:
        size = cam.get_size()
        out.append({
            "name": str(cam.get_name()),
            "size": None if size is None else [int(v) for v in size],
            "matrix": np.asarray(cam.get_camera_matrix(), dtype=np.float64).tolist(),
            "rotation": np.asarray(cam.get_rotation(), dtype=np.float64).reshape(3).tolist(),
            "translation": np.asarray(cam.get_translation(), dtype=np.float64).reshape(3).tolist(),
            "distortions": np.asarray(cam.get_distortions(), dtype=np.float64).reshape(-1).tolist(),
        })  # fmt: skip
    return out


def load_camera_group(path: str | os.PathLike) -> CameraGroup:
    """Read an AIST++ camera JSON (list of camera objects) into a validated ``CameraGroup``."""
    path = Path(path)
    entries = read_json(path)
    if not isinstance(entries, list):
        raise InputError(path, f"expected a JSON list of cameras, got a {type(entries).__name__}")
    return cameras_from_aistpp(entries, path=path)


def save_camera_group(path: str | os.PathLike, group: CameraGroup) -> Path:
    """Write ``group`` as an AIST++ camera JSON, atomically.

    Floats are written with Python's shortest round-tripping repr, so
    :func:`load_camera_group` gives back exactly the same numbers.
    """
    path = Path(path)
    dicts = cameras_to_aistpp(group)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(dicts, indent=1) + "\n", encoding="utf-8")
    return path


def projection_matrices(group: CameraGroup) -> np.ndarray:
    """``(V, 3, 4)`` float64 extrinsic matrices ``[R | t]`` (world -> camera, world units)."""
    rot = np.stack([np.asarray(axis_angle_to_matrix(np.asarray(c.get_rotation(), dtype=np.float64)))
                    for c in group.cameras])  # fmt: skip
    trans = np.stack([np.asarray(c.get_translation(), dtype=np.float64).reshape(3) for c in group.cameras])
    return np.concatenate([rot, trans[:, :, None]], axis=2)


def project(group: CameraGroup, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates of world points in every view, with lens distortion.

    Args:
        group: ``V`` cameras.
        points: ``(..., 3)`` world points in the cameras' units (AIST++: cm), e.g. ``(N, J, 3)``;
            NaN points give NaN pixels.

    Returns:
        ``(V, ..., 2)`` float64 pixels (x right, y down), OpenCV's camera model.
    """
    import cv2  # optional dependency, with aniposelib

    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"points: expected shape (..., 3), got {points.shape}")
    flat = points.reshape(-1, 3)
    finite = np.all(np.isfinite(flat), axis=1)
    out = np.full((len(group.cameras), len(flat), 2), np.nan)
    if finite.any():
        pts = np.ascontiguousarray(flat[finite])
        for v, cam in enumerate(group.cameras):
            px, _ = cv2.projectPoints(pts, np.asarray(cam.get_rotation(), dtype=np.float64),
                                      np.asarray(cam.get_translation(), dtype=np.float64),
                                      np.asarray(cam.get_camera_matrix(), dtype=np.float64),
                                      np.asarray(cam.get_distortions(), dtype=np.float64))  # fmt: skip
            out[v, finite] = px.reshape(-1, 2)
    return out.reshape((len(group.cameras),) + points.shape[:-1] + (2,))


def undistort(group: CameraGroup, pixels: np.ndarray) -> np.ndarray:
    """Normalised image coordinates ``(V, ..., 2)`` (x_cam/z, y_cam/z) from pixels ``(V, ..., 2)``.

    Removes each view's intrinsics and lens distortion (OpenCV ``undistortPoints``); NaN stays NaN.
    """
    import cv2

    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.shape[0] != len(group.cameras) or pixels.shape[-1] != 2:
        raise ValueError(f"pixels: expected shape ({len(group.cameras)}, ..., 2), got {pixels.shape}")
    out = np.full(pixels.shape, np.nan)
    for v, cam in enumerate(group.cameras):
        flat = pixels[v].reshape(-1, 2)
        finite = np.all(np.isfinite(flat), axis=1)
        if finite.any():
            und = cv2.undistortPoints(np.ascontiguousarray(flat[finite]).reshape(-1, 1, 2),
                                      np.asarray(cam.get_camera_matrix(), dtype=np.float64),
                                      np.asarray(cam.get_distortions(), dtype=np.float64))  # fmt: skip
            view = np.full(flat.shape, np.nan)
            view[finite] = und.reshape(-1, 2)
            out[v] = view.reshape(pixels.shape[1:])
    return out

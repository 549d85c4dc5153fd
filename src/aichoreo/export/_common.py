"""Helpers shared by the exporters: the y-up -> z-up rotation and validated arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.errors import InputError

# (3, 3) rotation of +90 degrees about x, acting on column vectors: takes our y-up world to the
# z-up world of AMASS and EDGE ((x, y, z) -> (x, -z, y): up y becomes up z, the dancer's rest
# facing +z becomes -y). EDGE applies the same rotation to AIST++ (Stanford-TML/EDGE
# ``dataset/dance_dataset.py``, "rotate to z-up to standardize against the pretrain dataset").
Z_UP_FROM_Y_UP: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
Z_UP_FROM_Y_UP.setflags(write=False)


def get_array(data: dict[str, Any], key: str, path: Path, shape: tuple) -> np.ndarray:
    """``data[key]`` as a finite float64 array of ``shape`` (``None`` = any length), else :class:`InputError`."""
    if key not in data:
        have = ", ".join(sorted(map(str, data))) or "none"
        raise InputError(path, f"missing key {key!r} (keys present: {have})")
    try:
        array = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(path, f"{key} is not numeric") from None
    if array.ndim != len(shape) or any(s is not None and a != s for a, s in zip(array.shape, shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise InputError(path, f"{key} has shape {array.shape}, expected {want}")
    if not np.isfinite(array).all():
        raise InputError(path, f"{key} has non-finite values (NaN or inf)")
    return array

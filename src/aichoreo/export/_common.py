"""Helpers shared by the exporters: the y-up -> z-up rotation and portable, safe pickles."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path

# (3, 3) rotation of +90 degrees about x, acting on column vectors: takes our y-up world to the
# z-up world of AMASS and EDGE ((x, y, z) -> (x, -z, y): up y becomes up z, the dancer's rest
# facing +z becomes -y). EDGE applies the same rotation to AIST++ (Stanford-TML/EDGE
# ``dataset/dance_dataset.py``, "rotate to z-up to standardize against the pretrain dataset").
Z_UP_FROM_Y_UP: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
Z_UP_FROM_Y_UP.setflags(write=False)


def _numpy_reconstruct():
    from numpy._core.multiarray import _reconstruct

    return _reconstruct


class _PortablePickler(pickle._Pickler):
    """Pickles numpy arrays under the module name that numpy 1.x and 2.x both import.

    numpy 2 pickles name ``numpy._core.multiarray._reconstruct``, which numpy < 1.26 (the
    environments of mint, EDGE and the AIST++ API) cannot import; ``numpy.core.multiarray``
    is what the AIST++ release files use and what numpy 2 still reads without a warning.
    """

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is _numpy_reconstruct():
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def dump_pickle(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``data`` (numpy arrays and plain numbers) as a pickle readable by numpy 1.x and 2.x, atomically."""
    buffer = io.BytesIO()
    _PortablePickler(buffer, protocol=4).dump(data)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain values only, so a tampered file cannot run code."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }  # fmt: skip

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}; a motion file holds only arrays and numbers")


def load_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """Read a dict-of-arrays pickle safely; :class:`InputError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f).load()
    except Exception as exc:  # pickle raises many types on garbage input; all mean the same to a user
        raise InputError(path, f"not a readable pickle: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, f"holds a {type(data).__name__}, expected a dict of arrays")
    return data


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

"""Atomic file writes: outputs appear whole or not at all.

Every file the project writes for a user (features, motions, videos, checkpoints, plots) goes
through :func:`atomic_path`: the writer fills a temporary file in the destination folder, which
is renamed over the destination only when writing succeeded, so a crash or a bad input never
leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    ``suffix`` defaults to the destination's own suffix, for writers that pick a format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix,
                               dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600; outputs get the usual permissions of a new file (umask applied).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` to exactly ``path`` (no ``.npy`` appended), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
    return path

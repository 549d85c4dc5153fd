"""numba's on-disk cache of compiled functions, made safe for processes that start at once.

librosa compiles several functions with ``numba.jit(cache=True)`` (the beat tracker's dynamic
programme, onset peak picking, the tuning estimate). numba keeps those caches beside librosa's
own source, inside the environment, and several processes that compile at once can write
index and data files that do not belong together (each picks the next free overload number):
from then on every process that loads the cache gets machine code for another signature and
dies with a segmentation fault, until the files are deleted by hand. Three ``aichoreo
features`` started together on a fresh install did exactly that.

So aichoreo

1. points numba at a cache folder of its own (``$AICHOREO_CACHE/numba`` unless the user set
   ``NUMBA_CACHE_DIR``; :func:`configure`, called when ``aichoreo`` is imported, before librosa
   decorates anything), outside the environment, and
2. loads or compiles those functions inside :func:`compile_lock`, an exclusive ``flock`` on a
   file in that folder: one process at a time compiles and writes the cache, the others wait
   and then only read it. The lock is released by the kernel when its holder dies, so a killed
   process never blocks the next one.

3. caches the one function librosa declares uncached: ``librosa.beat``'s ``__beat_local_score``
   (``numba.guvectorize(..., cache=False)`` in librosa 0.11) was compiled again by every process
   that imports the beat tracker, 1-3 s of each command that computes music features (measured).
   While librosa's modules are imported inside :func:`librosa_cached`, its ``guvectorize``
   functions are cached like its others.

When the folder cannot be written, the cache goes to one folder of the user's in the temporary
folder (``aichoreo-numba-<uid>``, locked the same way), or, where even that fails, to a fresh
temporary folder per process. This module imports nothing from aichoreo.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "NUMBA_CACHE_DIR"
LOCK_NAME = ".aichoreo-compile.lock"

_held = threading.local()  # how deep this thread is inside compile_lock (the lock is re-entrant)


def configure(folder: str | os.PathLike) -> Path:
    """Use ``folder`` as numba's cache for this process and its children, unless ``NUMBA_CACHE_DIR``
    is already set (then that folder is used, and locked the same way). Returns the folder in use."""
    chosen = os.environ.get(ENV) or os.fspath(folder)
    try:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        with open(Path(chosen) / LOCK_NAME, "a"):
            pass
    except OSError as exc:
        private = _private_folder()
        log.warning("numba cache folder %s is not writable (%s); using %s", chosen, exc, private)
        chosen = private
    os.environ[ENV] = chosen
    if "numba" in sys.modules:  # numba read its settings at import: make it read them again
        from numba.core import config

        config.reload_config()
    return Path(chosen)


def _private_folder() -> str:
    """One fallback folder per user in the temporary folder (locked like any other), so that
    processes do not each leave a folder behind; a fresh one only where even that fails."""
    folder = Path(tempfile.gettempdir()) / f"aichoreo-numba-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.is_symlink() or folder.stat().st_uid != os.getuid():
            raise OSError("not the user's own folder")
        with open(folder / LOCK_NAME, "a"):
            pass
        return os.fspath(folder)
    except OSError:
        return tempfile.mkdtemp(prefix="aichoreo-numba-")


def cache_folder() -> Path | None:
    """The numba cache folder in use, or None before :func:`configure`."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


@contextlib.contextmanager
def compile_lock() -> Iterator[None]:
    """Hold the cache folder's exclusive lock (waits for another process that compiles).

    Re-entrant within a thread: ``flock`` on a second open file description of the same file
    would wait for this very process, so nested calls only count their depth.
    """
    folder = cache_folder()
    depth = getattr(_held, "depth", 0)
    if folder is None or depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth = depth
        return
    try:
        handle = open(folder / LOCK_NAME, "a")
    except OSError as exc:
        log.warning("cannot open numba's cache lock in %s (%s); compiling without it", folder, exc)
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def librosa_cached() -> Iterator[None]:
    """While the block runs, ``numba.guvectorize`` caches the functions of librosa's modules that it
    compiles, also those declared ``cache=False`` (see the module docstring); other code's are left
    as declared. For imports of librosa's modules, inside :func:`compile_lock`."""
    import numba

    original = numba.guvectorize

    def guvectorize(*args, **kwargs):
        cached = original(*args, **{**kwargs, "cache": True})
        declared = original(*args, **kwargs)
        return lambda func: (cached if func.__module__.startswith("librosa") else declared)(func)

    numba.guvectorize = guvectorize
    try:
        yield
    finally:
        numba.guvectorize = original

"""File I/O shared by every layer: atomic writes, safe array pickles, JSON.

Every file the project writes for a user (features, motions, videos, checkpoints, plots) goes
through :func:`atomic_path`: the writer fills a temporary file in the destination folder, which
is renamed over the destination only when writing succeeded, so a crash or a bad input never
leaves a half-written file behind; errors name the destination, never the temporary file
(:func:`naming`), and folders created for a write that failed are removed again
(:func:`output_folder` does the same for a command's output folder). Several files that must
appear together are written into a :func:`staging_folder`, locked while its writer lives, so
that :func:`clean_stale_staging` removes what a killed run left and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from aichoreo.errors import AichoreoError, InputError

log = logging.getLogger(__name__)


def _flush_to_disk(path: str) -> None:
    """fsync ``path``: without it a power cut after the rename can leave a renamed empty file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    ``suffix`` defaults to the destination's own suffix, for writers that pick a format from it.
    If the block fails, the temporary file and the folders created for ``path`` (when still
    empty) are removed, and an error that names the temporary file names ``path`` instead.
    """
    path = Path(path)
    if path.is_dir():  # refused before the writer's work, not when its file cannot replace the folder
        raise InputError(path, "is a folder; a file is to be written there")
    created = _missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{_name_part(path.name)}.",
                                   suffix=path.suffix if suffix is None else suffix, dir=path.parent)
    except OSError as exc:  # its message would name the temporary file, or no file at all
        _remove_empty(created)
        raise InputError(path, f"cannot be written: {exc.strerror or exc}") from None
    try:  # from the file's first instant: an interrupt (Ctrl-C, SIGTERM) here removes it too
        os.close(fd)
        # mkstemp creates 0600; outputs get the usual permissions of a new file (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with naming(path, tmp):
            yield Path(tmp)
            _flush_to_disk(tmp)
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _remove_empty(created)
        raise


@contextlib.contextmanager
def naming(final: str | os.PathLike, temporary: str | os.PathLike) -> Iterator[None]:
    """Errors raised in the block (:class:`AichoreoError`, ``OSError``) name ``final`` where they named
    ``temporary``: a user reads the path they asked for, never one of our temporary names."""
    try:
        yield
    except (AichoreoError, OSError) as exc:
        text = str(exc)
        if os.fspath(temporary) not in text:
            raise
        raise InputError(None, text.replace(os.fspath(temporary), os.fspath(final))) from exc


# Bytes a hidden temporary name may take from the file name it is made of: NAME_MAX (255 bytes on
# Linux's and macOS's file systems) less what is added around it (a dot, ".staging~init-", mkdtemp's
# 8 random characters, a suffix). A song named with 240 bytes, a legal name, made its staging folder's
# name 263 bytes long, refused by the disk after the whole dance was generated.
NAME_PART_BYTES = 200


def _name_part(name: str) -> str:
    """``name`` where its UTF-8 fits :data:`NAME_PART_BYTES`, else its start and a hash of the whole
    (the same for the same name: :func:`clean_stale_staging` finds what :func:`staging_folder` made)."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= NAME_PART_BYTES:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:12]
    start = raw[:NAME_PART_BYTES - 13].decode("utf-8", "ignore")  # a character cut in two is dropped
    return f"{start}~{digest}"


def check_writable(folder: str | os.PathLike) -> None:
    """:class:`InputError` naming ``folder`` unless a file can be made in it, or, where it does not
    exist yet, in its nearest existing parent: tried for real (a hidden folder made and removed),
    as permission bits do not tell (root passes ``os.access`` where a read-only mount refuses)."""
    folder = Path(folder)
    missing = _missing_folders(folder)
    existing = missing[-1].parent if missing else folder
    if not existing.is_dir():
        raise InputError(folder, f"cannot be made: {existing} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".aichoreo-probe-", dir=existing))
    except OSError as exc:
        where = "" if existing == folder else f" (in {existing})"
        raise InputError(folder, f"cannot be written{where}: {exc.strerror or exc}") from None


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its ancestors that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; never a file or a folder with content."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): keep it and its parents
            return


@contextlib.contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Create the output folder ``path`` (and its parents) for the block; if the block fails, remove
    the folders this created that are still empty, so that a failed command leaves no empty folder.

    :class:`InputError` when ``path`` is a file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, "the output path exists and is a file, not a folder")
    created = _missing_folders(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise InputError(path, f"cannot be made: {exc.strerror or exc}") from None
    try:
        yield path
    except BaseException:
        _remove_empty(created)
        raise


# --------------------------------------------------------------------------------------------
# Staging folders: several files written aside, then moved into place together
# --------------------------------------------------------------------------------------------

STAGING_LOCK = ".aichoreo-staging.lock"  # held (flock) by the process writing into a staging folder
_UNLOCKED = "~init-"  # in a staging folder's name until its lock is held (staging_folder)


def check_distinct_stems(paths: list, collision: str) -> None:
    """Refuse two of ``paths`` whose file names without suffix are equal, also as a disk that
    ignores case compares them (their outputs would be one file or folder), naming both;
    ``collision`` says what would collide."""
    seen: dict[str, int] = {}
    for i, path in enumerate(paths):
        first = seen.setdefault(Path(path).stem.casefold(), i)
        if first != i:
            raise InputError(None, f"{paths[first]} and {path} share a file name; {collision}")


@contextlib.contextmanager
def staging_folder(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A new hidden folder ``parent/.<prefix>-XXXXXXXX`` for files that the block moves into place;
    removed with whatever is left in it when the block ends.

    While the block runs, an exclusive ``flock`` on a file inside marks the folder as in use; the
    kernel releases it when the process ends, however it ends (killed, out of memory), so
    :func:`clean_stale_staging` of a later run can tell a dead run's folder from a live one's.
    """
    # Made under a name clean_stale_staging does not match, locked, and only then renamed into its
    # pattern: a concurrent cleaner never sees the folder without its held lock.
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{_name_part(prefix)}{_UNLOCKED}", dir=parent))
    except OSError as exc:  # its message names the hidden folder, which the user never asked for
        raise InputError(parent, f"cannot be written: {exc.strerror or exc}") from None
    try:
        with open(folder / STAGING_LOCK, "w") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            cut = folder.name.rindex(_UNLOCKED)  # the last: a song's own name may hold the text too
            named = folder.with_name(f"{folder.name[:cut]}-{folder.name[cut + len(_UNLOCKED):]}")
            os.rename(folder, named)  # mkdtemp's random part keeps the name unique
            folder = named
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clean_stale_staging(parent: str | os.PathLike, prefix: str, *, unlocked_age_s: float = 60.0) -> list[Path]:
    """Remove the folders ``parent/.<prefix>-*`` that :func:`staging_folder` left behind in a run
    that died (their lock is free); folders of a live run are kept. A folder without a lock file
    (left by an older aichoreo, or by a run killed while it made the folder) is removed once it is
    ``unlocked_age_s`` old: staging_folder locks its folders within microseconds. Returns the
    removed folders."""
    parent = Path(parent)
    removed = []
    if not parent.is_dir():
        return removed
    prefix = glob.escape(_name_part(prefix))
    candidates = [*parent.glob(f".{prefix}-*"), *parent.glob(f".{prefix}{_UNLOCKED}*")]
    for folder in sorted(candidates):
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            # "r+", not "a": the lock file is never created here, so a folder that staging_folder
            # is about to lock cannot be locked by the cleaner first.
            with open(folder / STAGING_LOCK, "r+") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
        except BlockingIOError:  # a run that is writing into it now
            continue
        except FileNotFoundError:
            try:
                if time.time() - folder.stat().st_mtime < unlocked_age_s:
                    continue
            except OSError:  # removed meanwhile
                continue
            shutil.rmtree(folder, ignore_errors=True)
        except OSError as exc:  # not ours to open: leave it
            log.debug("leaving %s: %s", folder, exc)
            continue
        removed.append(folder)
        log.info("removed %s, left by an earlier run that did not finish", folder)
    return removed


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` to exactly ``path`` (no ``.npy`` appended), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
    return path


# --------------------------------------------------------------------------------------------
# Pickles of numpy arrays (AIST++ motions and keypoints, EDGE outputs) and JSON files
# --------------------------------------------------------------------------------------------


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain Python values only, so a tampered file cannot run code.

    AIST++ pickles (and every motion pickle of this field) hold nothing else.
    """

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # protocol-2 pickles store array bytes through it
    }  # fmt: skip

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}; such files hold only numpy arrays and numbers, "
                                     "so it is not loaded")


def read_array_pickle(path: str | os.PathLike) -> dict:
    """A pickled dict of numpy arrays and numbers, read safely; :class:`InputError` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f).load()
    except Exception as exc:  # pickle raises many types on garbage input; all mean the same to a user
        if isinstance(exc, EOFError) or "truncated" in str(exc):
            raise InputError(path, "not a readable pickle: the file ends early (truncated download?)") from None
        raise InputError(path, f"not a readable pickle: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, f"holds a {type(data).__name__}, expected a dict of arrays")
    return data


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


def write_array_pickle(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``data`` (numpy arrays and plain numbers) as a pickle readable by numpy 1.x and 2.x, atomically."""
    buffer = io.BytesIO()
    _PortablePickler(buffer, protocol=4).dump(data)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content; :class:`InputError` naming the file when missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid JSON: {exc}") from None
    except RecursionError:  # Python's decoder recurses once per level of nested lists or objects
        raise InputError(path, "not a JSON file aichoreo reads: its lists or objects are nested too deeply") from None


# --------------------------------------------------------------------------------------------
# .npy / .npz files a user hands us
# --------------------------------------------------------------------------------------------


def _numpy_read_error(path: Path, kind: str, exc: Exception) -> InputError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, EOFError) or path.stat().st_size == 0:
        return InputError(path, f"not a readable {kind} file: it is empty or ends early (truncated?)")
    with open(path, "rb") as f:
        head = f.read(6)
    if head != b"\x93NUMPY" and not head.startswith(b"PK"):  # numpy would say "pickled data" of any other file
        return InputError(path, f"not a {kind} file: it does not begin as one (another format renamed?)")
    return InputError(path, f"not a readable {kind} file ({text})")


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` array, never unpickled; :class:`InputError` naming the file when it is missing,
    empty, truncated, holds Python objects or is not a ``.npy`` at all."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises EOFError, ValueError, OSError, UnpicklingError... for one bad file
        raise _numpy_read_error(path, ".npy", exc) from None
    if not isinstance(array, np.ndarray):  # np.load reads a zip (.npz content) whatever the name
        array.close()
        raise InputError(path, "holds named arrays (.npz content), not a single .npy array")
    return array


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read eagerly (so a damaged member fails here, not later),
    never unpickled; :class:`InputError` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("holds a single array (.npy content), not named arrays")
            return {key: data[key] for key in data.files}
    except Exception as exc:  # zipfile, zlib, EOF and format errors all mean one thing to a user
        raise _numpy_read_error(path, ".npz", exc) from None

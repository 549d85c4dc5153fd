"""Motion exports for Blender, the browser, video and other research code (docs/exports.md).

Every writer takes an :class:`~aichoreo.motion.SMPLMotion` and a path, writes atomically and
returns the path. :func:`export_all` writes several formats into one folder as
``<name><suffix>``:

=========  ===================  =========================================================
format     file                 what
=========  ===================  =========================================================
aistpp     ``<name>.pkl``       AIST++ motion pickle (60 fps, y up, metres / scaling)
edge       ``<name>_edge.pkl``  EDGE-style pickle with ``full_pose`` joints (30 fps, z up)
amass      ``<name>_amass.npz`` AMASS-style SMPL+H npz (z up, the motion's fps)
joints     ``<name>_joints.npy`` joints ``(T, 24, 3)`` float32 metres, y up, 60 fps
bvh        ``<name>.bvh``       BVH of the SMPL skeleton (y up, metres)
glb        ``<name>.glb``       glTF binary: skinned skeleton mesh with its animation
mp4        ``<name>.mp4``       skeleton video from a fixed camera, music muxed in
html       ``<name>.html``      self-contained WebGL viewer page, music embedded
=========  ===================  =========================================================
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aichoreo.errors import InputError
from aichoreo.export.aistpp import write_aistpp
from aichoreo.export.amass import read_amass, write_amass
from aichoreo.export.bvh import write_bvh
from aichoreo.export.edge import read_edge, write_edge
from aichoreo.export.gltf import require_pygltflib, write_glb
from aichoreo.export.html import needs_aac, write_character_html, write_html
from aichoreo.export.joints import read_joints, write_joints
from aichoreo.export.music import SongAAC, aac_of, maybe_aac
from aichoreo.export.video import write_mp4
from aichoreo.fileio import clean_stale_staging, naming, output_folder, staging_folder
from aichoreo.motion import SMPLMotion
from aichoreo.render import FIGURES, copies_audio, ffmpeg_exe

__all__ = [
    "FORMATS",
    "FILE_SUFFIXES",
    "export_all",
    "write_aistpp",
    "write_edge",
    "read_edge",
    "write_amass",
    "read_amass",
    "write_joints",
    "read_joints",
    "write_bvh",
    "write_glb",
    "write_mp4",
    "write_html",
    "write_character_html",
    "SongAAC",
    "aac_wanted",
]

log = logging.getLogger(__name__)

# Every format, in the order export_all writes them (the slow video last).
FORMATS: tuple[str, ...] = ("aistpp", "edge", "amass", "joints", "bvh", "glb", "html", "mp4")

# Format -> what follows <name> in its file name.
FILE_SUFFIXES: dict[str, str] = {
    "aistpp": ".pkl", "edge": "_edge.pkl", "amass": "_amass.npz", "joints": "_joints.npy",
    "bvh": ".bvh", "glb": ".glb", "html": ".html", "mp4": ".mp4",
}  # fmt: skip

_NAME = re.compile(r"^[^/\\\x00]+$")


def _check_request(out_dir: Path, name: str, formats: Iterable[str], audio_path: Path | None,
                   audio_offset_s: float) -> list[str]:
    """Validate everything before any file is written; the formats in :data:`FORMATS` order."""
    requested = list(dict.fromkeys(formats))
    unknown = [f for f in requested if f not in FILE_SUFFIXES]
    if unknown:
        raise InputError(None, f"unknown export format {', '.join(map(repr, unknown))}; "
                               f"choose from {', '.join(FORMATS)}")
    if not requested:
        raise InputError(None, "no export format requested")
    if not _NAME.match(name) or name in (".", ".."):
        raise InputError(None, f"export name {name!r} is not a plain file name")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "is a file, expected an output folder")
    if audio_path is not None and not audio_path.is_file():
        raise InputError(audio_path, "no such file" if not audio_path.exists() else "not a file")
    if not (math.isfinite(audio_offset_s) and audio_offset_s >= 0):
        raise InputError(audio_path, f"audio offset must be a time >= 0 s in the song, got {audio_offset_s}")
    # Optional dependencies: missing ones fail here, before any file is written.
    if "glb" in requested:
        require_pygltflib()
    if "mp4" in requested or aac_wanted(requested, audio_path, audio_offset_s):
        ffmpeg_exe()
    return [f for f in FORMATS if f in requested]


def aac_wanted(formats: Iterable[str], audio_path: str | os.PathLike | None, audio_offset_s: float = 0.0) -> bool:
    """Whether :func:`export_all` of ``formats`` uses the song as AAC (:class:`SongAAC`): the video
    copies it in (where ``audio_offset_s`` is 0 and the song's own stream is not an mp3 or AAC, which
    the video copies as it is: :func:`aichoreo.render.copies_audio`), and the page embeds it when
    browsers cannot play the file or it is a large wav or flac. A caller that starts the
    :class:`SongAAC` early hands it to :func:`export_all`, so that it is encoded while other work runs."""
    if audio_path is None or not Path(audio_path).is_file():
        return False
    formats = set(formats)
    return (("mp4" in formats and audio_offset_s == 0 and not copies_audio(audio_path))
            or ("html" in formats and needs_aac(Path(audio_path))))


def _write(fmt: str, motion: SMPLMotion, path: Path, title: str, audio_path: Path | None,
           audio_offset_s: float, progress: bool, figure: str, aac: SongAAC | None) -> Path:
    if fmt == "aistpp":
        return write_aistpp(motion, path)
    if fmt == "edge":
        return write_edge(motion, path)
    if fmt == "amass":
        return write_amass(motion, path)
    if fmt == "joints":
        return write_joints(motion, path)
    if fmt == "bvh":
        return write_bvh(motion, path)
    if fmt == "glb":
        return write_glb(motion, path)
    if fmt == "html":
        return write_html(motion, path, audio_path=audio_path, audio_offset_s=audio_offset_s, title=title,
                          figure=figure, aac=aac)
    return write_mp4(motion, path, audio_path=audio_path, audio_offset_s=audio_offset_s, title=title,
                     progress=progress, figure=figure, aac=aac)


def export_all(
    motion: SMPLMotion,
    out_dir: str | os.PathLike,
    *,
    name: str,
    formats: Iterable[str] = FORMATS,
    audio_path: str | os.PathLike | None = None,
    audio_offset_s: float = 0.0,
    progress: bool = False,
    timings: dict[str, float] | None = None,
    figure: str = "body",
    aac: SongAAC | None = None,
    title: str | None = None,
) -> dict[str, Path]:
    """Write ``motion`` in each of ``formats`` into ``out_dir`` as ``<name><suffix>`` (:data:`FILE_SUFFIXES`).

    Args:
        formats: any of :data:`FORMATS` (default: all).
        audio_path: the music, muxed into the mp4 and embedded in the html page.
        audio_offset_s: seconds into the audio at which motion frame 0 sounds.
        progress: a progress bar while the video renders.
        timings: if given, each format's writing wall seconds are stored in it under the format's name.
        figure: how the video and the viewer draw the dancer: ``"body"`` (capsules as thick as a
            body) or ``"stick"`` (the skeleton's lines); the viewer can switch (its b key).
        aac: ``audio_path`` being encoded as AAC already (:func:`aac_wanted`); else the export starts
            its own where it needs one.
        title: shown in the video's corner and on the page (its tab too); default ``name``.

    The video is drawn while the other formats are written in a second thread (drawing and
    encoding leave part of two cores idle, and most of the others' work runs outside Python's lock),
    so the timings of the formats overlap.

    Returns ``{format: path}`` in :data:`FORMATS` order. All or nothing: the request is checked
    first (:class:`InputError` for an unknown format, a bad name, an ``out_dir`` that is a file,
    a missing audio file, a missing optional package: ``pygltflib`` for glb, ``imageio-ffmpeg``
    for mp4), the files are written into a hidden folder ``out_dir/.<name>.exporting-*`` and moved
    into place only when every one succeeded. That folder is removed when the export ends, and one
    left by a killed export is removed by the next export of ``name`` into ``out_dir``. Errors name
    the files in ``out_dir``, never the hidden folder; a failed export into a new ``out_dir``
    removes the folder again.
    """
    out_dir = Path(out_dir)
    audio = None if audio_path is None else Path(audio_path)
    chosen = _check_request(out_dir, name, formats, audio, audio_offset_s)
    if figure not in FIGURES:
        raise InputError(None, f"figure must be one of {', '.join(FIGURES)}, got {figure!r}")
    with output_folder(out_dir):
        # A killed export leaves its hidden folder behind: the next export of this name removes it.
        clean_stale_staging(out_dir, f"{name}.exporting")
        # The song's AAC, for the video and a page that embeds AAC, is encoded once, by ffmpeg on
        # the other core while the first formats are written (unless the caller started it earlier).
        given = aac_of(aac, audio)
        with (staging_folder(out_dir, f"{name}.exporting") as staging, naming(out_dir, staging),
              maybe_aac(audio, given is None and aac_wanted(chosen, audio, audio_offset_s)) as started):
            aac = given or started
            spent = {} if timings is None else timings

            def write(formats: list[str], stop: threading.Event | None = None) -> dict[str, Path]:
                written = {}
                for fmt in formats:
                    if stop is not None and stop.is_set():
                        break
                    log.info("writing %s (%s)", name + FILE_SUFFIXES[fmt], fmt)
                    t0 = time.perf_counter()
                    written[fmt] = _write(fmt, motion, staging / (name + FILE_SUFFIXES[fmt]), title or name, audio,
                                          audio_offset_s, progress, figure, aac)
                    spent[fmt] = time.perf_counter() - t0
                return written

            others = [f for f in chosen if f != "mp4"]
            if "mp4" in chosen and others:
                # The video here (its progress bar and Ctrl-C in the main thread), the rest beside it.
                stop = threading.Event()
                with ThreadPoolExecutor(1, thread_name_prefix="aichoreo-export") as pool:
                    rest = pool.submit(write, others, stop)
                    try:
                        staged = write(["mp4"])
                    except BaseException:
                        stop.set()  # the formats not started yet are skipped; the one being written finishes
                        raise
                    staged.update(rest.result())
            else:
                staged = write(chosen)
            staged = {fmt: staged[fmt] for fmt in chosen}
            paths = {}
            for fmt, path in staged.items():
                paths[fmt] = out_dir / path.name
                os.replace(path, paths[fmt])
            return paths

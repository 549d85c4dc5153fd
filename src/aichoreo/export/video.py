"""mp4 of the skeleton from a camera in front of the dancer, with the music muxed in:
:func:`aichoreo.render.render_video` (docs/exports.md, Video)."""

from __future__ import annotations

import os
from pathlib import Path

from aichoreo.export.music import SongAAC, aac_of
from aichoreo.motion import SMPLMotion
from aichoreo.render import render_video

__all__ = ["write_mp4"]


def write_mp4(
    motion: SMPLMotion,
    path: str | os.PathLike,
    *,
    audio_path: str | os.PathLike | None = None,
    audio_offset_s: float = 0.0,
    video_fps: float = 30.0,
    width: int = 640,
    height: int = 480,
    title: str | None = None,
    progress: bool = False,
    figure: str = "body",
    aac: SongAAC | None = None,
) -> Path:
    """Write an H.264 mp4 of ``motion`` (atomically), AAC music when ``audio_path`` is given.

    ``audio_offset_s``: seconds into the audio at which motion frame 0 sounds. The video lasts
    the motion's duration (the audio is cut to it). ``figure``: ``"body"`` (capsules as thick as a
    body) or ``"stick"`` (the skeleton's lines). ``aac``: ``audio_path`` being encoded already
    (:class:`aichoreo.export.music.SongAAC`): copied in where ``audio_offset_s`` is 0. Needs
    ``imageio-ffmpeg``.
    """
    aac = aac_of(aac, audio_path) if audio_offset_s == 0 else None
    return render_video(
        motion.joints(), path, fps=motion.fps, video_fps=video_fps, audio_path=audio_path,
        audio_offset_s=audio_offset_s, width=width, height=height, title=title, progress=progress, figure=figure,
        audio_aac=None if aac is None else aac.path(),
    )

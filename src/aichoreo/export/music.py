"""The song as AAC, encoded once for every export that needs it, in the background.

The video carries its music as AAC, and the viewer page embeds a large wav or flac as AAC
(:data:`aichoreo.export.html.LOSSLESS_EMBED_MAX`). Encoding a 3-minute song takes ffmpeg about 3 s
of one core. :func:`aichoreo.export.export_all` starts :class:`SongAAC` before it writes the first
format, so that the encoder runs on the second core while the motion files are written, and then
hands the one file to both writers; ``aichoreo dance`` starts it earlier still, with the song's
music features, and hands it to the export.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

from aichoreo.errors import InputError
from aichoreo.fileio import clean_stale_staging, staging_folder
from aichoreo.render import ffmpeg_exe

AAC_BITRATE = "160k"  # the video's and the page's music
STAGING = "aichoreo-audio"  # the temporary folders' prefix (hidden: .aichoreo-audio-XXXXXXXX)


class SongAAC:
    """``song`` encoded as an AAC ``.m4a`` by ffmpeg in its own process, started at construction.

    :meth:`path` waits for it and returns the file (:class:`InputError` naming ``song`` when ffmpeg
    fails); :meth:`close` (or leaving the ``with`` block) stops ffmpeg if it still runs and removes
    the file.

    The file is written in a locked staging folder of the temporary folder
    (:func:`aichoreo.fileio.staging_folder`): the folder of a process that was killed is removed by
    the next :class:`SongAAC` (an ffmpeg it leaves behind finishes its few seconds of work, or fails
    when its folder goes).
    """

    def __init__(self, song: str | os.PathLike) -> None:
        self.song = Path(song)
        temporary = Path(tempfile.gettempdir())
        clean_stale_staging(temporary, STAGING)
        self._stack = contextlib.ExitStack()
        self._folder = self._stack.enter_context(staging_folder(temporary, STAGING))
        self._out = self._folder / "music.m4a"
        cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", os.fspath(self.song), "-vn",
               "-c:a", "aac", "-b:a", AAC_BITRATE, "-f", "mp4", str(self._out)]
        try:
            # a file, not a pipe: ffmpeg never blocks on it
            self._log = self._stack.enter_context(open(self._folder / "ffmpeg.log", "w+b"))
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=self._log)
        except BaseException:
            self._stack.close()
            raise

    def path(self) -> Path:
        """The encoded file, once ffmpeg has finished it."""
        if self._proc.wait() != 0:
            self._log.seek(0)
            reason = self._log.read().decode(errors="replace").strip()[-500:] or f"status {self._proc.returncode}"
            raise InputError(self.song, f"ffmpeg could not convert the audio: {reason}")
        return self._out

    def done(self) -> bool:
        """Whether ffmpeg has ended (without waiting)."""
        return self._proc.poll() is not None

    def close(self) -> None:
        if not self.done():
            self._proc.kill()
            self._proc.wait()
        self._stack.close()  # the log closed, the folder removed

    def __enter__(self) -> SongAAC:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def aac_of(aac: SongAAC | None, song: str | os.PathLike | None) -> SongAAC | None:
    """``aac`` where it is ``song``'s encoding, else None: what a writer handed an AAC may use."""
    return aac if aac is not None and song is not None and aac.song == Path(song) else None


@contextlib.contextmanager
def maybe_aac(song: Path | None, wanted: bool):
    """A :class:`SongAAC` of ``song`` while the block runs when ``wanted`` (and there is a song), else None."""
    if song is None or not wanted:
        yield None
        return
    with SongAAC(song) as aac:
        yield aac

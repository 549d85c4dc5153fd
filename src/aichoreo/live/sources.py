"""Where live audio comes from: a file played in real time, raw PCM on stdin, an input device.

Each source is an iterator of ``(samples, arrival)``: mono float32 blocks at the features' sample
rate (30,720 Hz) and the wall time (``time.monotonic()``) at which the block was in hand. A source
ends when its audio does (end of file, stdin closed); a device runs until stopped.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soxr

from aichoreo.audio import SAMPLE_RATE, load_audio
from aichoreo.errors import InputError

__all__ = ["file_source", "pcm_source", "device_source", "BLOCK"]

#: Samples per block (512 = one frame at 60 fps, 16.7 ms): what a live run waits for at most before
#: a block's frames can be computed.
BLOCK = 512


def file_source(path: str | os.PathLike, *, realtime: bool = True, block: int = BLOCK,
                clock=time.monotonic, sleep=time.sleep) -> Iterator[tuple[np.ndarray, float]]:
    """The song at ``path`` in blocks, each released when its last sample would have been played
    (``realtime``), or all at once as fast as they are taken (``realtime=False``: tests, quality
    runs). Decoding happens before the first block (the song is checked before anything starts)."""
    audio = load_audio(path, SAMPLE_RATE)
    return _paced(audio, realtime, block, clock, sleep)


def _paced(audio: np.ndarray, realtime: bool, block: int, clock, sleep) -> Iterator[tuple[np.ndarray, float]]:
    start = clock()
    for first in range(0, audio.size, block):
        samples = audio[first:first + block]
        if realtime:
            due = start + (first + samples.size) / SAMPLE_RATE
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        yield samples, clock()


def pcm_source(stream: BinaryIO | None = None, *, rate: int = 44_100, channels: int = 2,
               block: int = BLOCK) -> Iterator[tuple[np.ndarray, float]]:
    """Signed 16-bit little-endian PCM (``ffmpeg -f s16le``) of ``channels`` interleaved channels at
    ``rate`` Hz from ``stream`` (default stdin), mixed to mono and resampled to 30,720 Hz as it
    arrives (soxr's streaming resampler). Ends when the stream closes."""
    if rate <= 0 or channels <= 0:
        raise InputError(None, f"--rate and --channels must be positive, got {rate} Hz and {channels} channels")
    stream = sys.stdin.buffer if stream is None else stream
    frame_bytes = 2 * channels
    want = max(1, int(round(block * rate / SAMPLE_RATE))) * frame_bytes
    resampler = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    left = b""
    while True:
        chunk = stream.read1(want) if hasattr(stream, "read1") else stream.read(want)
        arrival = time.monotonic()
        if not chunk:
            break
        data = left + chunk
        whole = len(data) // frame_bytes * frame_bytes
        data, left = data[:whole], data[whole:]
        if not data:
            continue
        pcm = np.frombuffer(data, dtype="<i2").reshape(-1, channels).astype(np.float32) / 32768.0
        mono = pcm.mean(axis=1)
        out = mono if resampler is None else resampler.resample_chunk(mono)
        if out.size:
            yield out.astype(np.float32), arrival
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if tail.size:
            yield tail.astype(np.float32), time.monotonic()


def device_source(device: str | int | None = None, *, block: int = BLOCK) -> Iterator[tuple[np.ndarray, float]]:
    """An audio input (PortAudio through ``sounddevice``: ``pip install aichoreo[live]``) recorded
    mono at 30,720 Hz (or at the device's rate and resampled), block by block, until stopped."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        raise InputError(None, f"an audio input needs sounddevice and PortAudio ({exc}); "
                               "install them with: pip install 'aichoreo[live]'") from None
    name = int(device) if isinstance(device, str) and device.isdigit() else device
    try:
        info = sounddevice.query_devices(name, kind="input")
    except (ValueError, sounddevice.PortAudioError) as exc:
        raise InputError(None, f"no audio input device {device!r} ({exc}); list them with: "
                               "python -m sounddevice") from None
    rate = int(info["default_samplerate"]) or SAMPLE_RATE
    blocks: queue.Queue = queue.Queue()

    def callback(indata, frames, when, status):  # PortAudio's thread: hand the block over, nothing else
        blocks.put((indata[:, 0].copy(), time.monotonic()))

    resampler = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    try:
        stream = sounddevice.InputStream(device=name, channels=1, samplerate=rate, dtype="float32",
                                         blocksize=max(1, int(block * rate / SAMPLE_RATE)), callback=callback)
    except sounddevice.PortAudioError as exc:
        raise InputError(None, f"cannot open audio input {device!r}: {exc}") from None
    with stream:
        while True:
            samples, arrival = blocks.get()
            out = samples if resampler is None else resampler.resample_chunk(samples)
            if out.size:
                yield out.astype(np.float32), arrival


def check_song(path: str | os.PathLike) -> Path:
    """``path`` as a Path when it is a readable file, else the one-line error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such song file")
    return path

"""Music features of FACT: 35 numbers per 1/60 s, one row per motion frame.

Audio is loaded mono at 30,720 Hz = 60 fps × hop 512, so feature frame ``i`` is motion frame ``i``
and sounds at music time ``i / 60`` s. The steps are those of google-research/mint
``tools/preprocessing.py`` (``cache_audio_features``), with librosa called by keyword:

====  =======================  ===============================================================
cols  name                     how
====  =======================  ===============================================================
0     envelope                 onset strength: mel spectrogram (n_fft 2048, 128 mels) in dB,
                               positive first difference, mean over mels
1-20  MFCC                     20 coefficients of the same dB mel spectrogram (DCT-II, ortho)
21-32 chroma                   ``chroma_cens``: CQT from C1, 7 octaves × 36 bins, 12 chroma,
                               smoothed over 41 frames
33    onset peaks              one-hot of librosa's onset peak picking on the envelope
34    beats                    one-hot of librosa's beat tracker on the envelope,
                               ``start_bpm`` = the tempo prior, ``tightness`` 100
====  =======================  ===============================================================

With the same librosa the numbers are mint's (the shared conformance vectors, librosa 0.11.0):
chroma, onset and beat columns bit for bit, envelope and MFCC to float32 rounding, because we run
the mel projection on one BLAS thread so that results do not depend on the core count (see
``_one_blas_thread``). Two changes in the computation, same bits: a single STFT magnitude feeds
the envelope, the MFCC and the chroma's tuning estimate, which the reference computes three times
(see ``_mel_and_tuning``); and every whole-song spectrum (STFT, CQT, tempogram) is computed a
block of frames at a time, and the audio decoded in blocks, so that the memory a song needs grows
by about 9 bytes per sample at 30,720 Hz, not by the ~70 of whole-song spectra (see
``_mel_and_tuning``, ``_cqt_magnitude``, ``_tempo``, ``load_audio``; docs/music_features.md,
"Memory").

The tempo given to the beat tracker is a *prior*: librosa first estimates the tempo from the
envelope's autocorrelation weighted by a log-normal centred on ``start_bpm`` (one octave wide),
then tracks beats at that estimate. AIST++ music ids carry their tempo (mint
``tools/preprocessing.py``); for other music we estimate it as EDGE does
(Stanford-TML/EDGE ``data/audio_extraction/baseline_features.py``).

This module never imports torch: feature extraction runs in plain worker processes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import librosa
import numpy as np
import soundfile
import soxr

from aichoreo.errors import InputError
from aichoreo.featurestream import stream_features
from aichoreo.fileio import save_npy
from aichoreo.jitcache import compile_lock, librosa_cached

logger = logging.getLogger(__name__)

FPS = 60  # feature frames per second = motion frames per second
HOP_LENGTH = 512  # samples between feature frames
SAMPLE_RATE = FPS * HOP_LENGTH  # Hz, 30,720: one hop is exactly one motion frame
assert SAMPLE_RATE % HOP_LENGTH == 0 and SAMPLE_RATE // HOP_LENGTH == FPS
FEATURE_DIM = 35  # 1 envelope + 20 MFCC + 12 chroma + onset peaks + beats

# Columns of the (T, 35) FACT feature array.
ENVELOPE = 0
MFCC = slice(1, 21)
CHROMA = slice(21, 33)
ONSET_PEAKS = 33
BEATS = 34

SILENCE_DBFS = -80.0  # peak level (dB re full scale) below which audio counts as silent
FEATURES_FORMAT = 1  # bump when this module (or aichoreo.featurestream) changes the numbers it computes: invalidates caches
# Frames per block of STFT, CQT and tempogram columns (68 s at 60 fps): sets the working memory
# (about 200 MB at the default spec), not the numbers.
CHUNK_FRAMES = 4096

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")


@dataclasses.dataclass(frozen=True)
class MusicFeatureSpec:
    """How music features are computed; the defaults are FACT's (mint ``tools/preprocessing.py``).

    Saved with every cache entry and checkpoint, so features of one spec are never mixed with
    another's. Column layout: envelope, ``n_mfcc`` MFCC, ``n_chroma`` chroma, onset peaks, beats.
    """

    sample_rate: int = SAMPLE_RATE  # Hz; audio is resampled to this rate
    hop_length: int = HOP_LENGTH  # samples between feature frames; fps = sample_rate / hop_length
    n_fft: int = 2048  # samples, STFT window of the envelope, MFCC and tuning estimate
    n_mels: int = 128  # mel bands of the envelope and MFCC
    n_mfcc: int = 20  # MFCC coefficients kept
    n_chroma: int = 12  # chroma bins
    bins_per_octave: int = 36  # CQT bins per octave under the chroma
    n_octaves: int = 7  # CQT octaves above C1 (32.7 Hz)
    cens_window: int = 41  # frames, smoothing window of chroma_cens
    tightness: float = 100.0  # beat tracker: how strictly beats follow the tempo
    stream: bool = False  # True: the features a live run computes as the audio arrives, each row final
    # 2 frames after its time (aichoreo.featurestream); False: the reference's whole-song features

    def __post_init__(self) -> None:
        for name in ("sample_rate", "hop_length", "n_fft", "n_mels", "n_mfcc", "n_chroma",
                     "bins_per_octave", "n_octaves", "cens_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"MusicFeatureSpec.{name} must be a positive int, got {value!r}")
        if self.sample_rate % self.hop_length:
            raise ValueError(f"sample_rate {self.sample_rate} Hz is not a whole number of hops of "
                             f"{self.hop_length} samples: the frame rate must be an integer")
        if self.bins_per_octave % self.n_chroma:
            raise ValueError(f"bins_per_octave {self.bins_per_octave} must be a multiple of "
                             f"n_chroma {self.n_chroma}")
        if not self.tightness > 0:
            raise ValueError(f"MusicFeatureSpec.tightness must be > 0, got {self.tightness!r}")
        if not isinstance(self.stream, bool):
            raise ValueError(f"MusicFeatureSpec.stream must be True or False, got {self.stream!r}")

    @property
    def fps(self) -> int:
        """Feature frames per second (60 for FACT)."""
        return self.sample_rate // self.hop_length

    @property
    def feature_dim(self) -> int:
        """Width of one feature row (35 for FACT)."""
        return 1 + self.n_mfcc + self.n_chroma + 2

    @property
    def onset_column(self) -> int:
        return self.feature_dim - 2

    @property
    def beat_column(self) -> int:
        return self.feature_dim - 1

    def n_frames(self, n_samples: int) -> int:
        """Frames of ``n_samples`` of audio: ``1 + n_samples // hop_length`` (centred STFT)."""
        return 1 + n_samples // self.hop_length

    def to_dict(self) -> dict[str, int | float]:
        """The fields; ``stream`` only when True, so that the reference spec's dict, cache keys and
        model files stay those written before streaming features existed."""
        values = dataclasses.asdict(self)
        if not self.stream:
            del values["stream"]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> MusicFeatureSpec:
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown MusicFeatureSpec fields: {sorted(unknown)}")
        return cls(**values)

    def key(self) -> str:
        """A stable string naming this spec (for cache keys): sorted JSON of the fields."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


DEFAULT_SPEC = MusicFeatureSpec()
# EDGE's "baseline" features are the same steps at 30 fps: 15,360 Hz, hop 512
# (Stanford-TML/EDGE data/audio_extraction/baseline_features.py).
EDGE_SPEC = MusicFeatureSpec(sample_rate=15_360)
# The features of a live run (issue 18): the same columns computed as the audio arrives.
STREAM_SPEC = MusicFeatureSpec(stream=True)


# ---------------------------------------------------------------------------------------------
# Loading


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sample_rate`` Hz: ``(n,)``, full scale ±1.

    Reads wav, flac, ogg, opus, aiff and mp3 with soundfile (libsndfile ≥ 1.1 decodes mp3), and
    falls back to audioread for anything libsndfile cannot read. Channels are averaged and the
    result resampled with soxr (``soxr_hq``): the same samples as
    ``librosa.load(path, sr=sample_rate)``, but decoded and resampled in blocks of
    ``DECODE_BLOCK`` frames, so that only the output (4 bytes per sample at ``sample_rate``) is
    ever whole in memory, never the file's own channels and rate.

    Silent audio is valid (a warning). A WAV whose header promises more samples than the file
    holds (cut short by a failed copy or download) warns with both lengths and gives the audio
    that is there. A missing, empty, undecodable or sample-less file raises :class:`InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    _jit_ready()  # librosa compiles some functions when its modules load: under the cache lock
    try:
        with _c_stderr_held_back(path):
            source = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        y = _load_audioread(path, sample_rate, error)
    else:
        try:
            with source:
                y, n_read = _resample_stream(_soundfile_blocks(source, path),
                                             _check_rate(int(source.samplerate), path), sample_rate, source.frames,
                                             path)
        except soundfile.LibsndfileError as error:  # damaged past its header
            raise InputError(path, f"corrupt audio: {error}") from None
        _warn_if_truncated(path, n_read)
    _warn_if_silent(y, path)
    return y


DECODE_BLOCK = 1 << 18  # frames decoded at a time (6 s at 44.1 kHz; 2 MB of stereo float32)


def _soundfile_blocks(source: soundfile.SoundFile, path: Path) -> Iterator[np.ndarray]:
    """Mono float32 blocks ``(k,)`` of an open file, in order; each checked for finite samples."""
    while True:
        block = source.read(DECODE_BLOCK, dtype="float32", always_2d=True)  # (k, channels)
        if not block.shape[0]:
            return
        yield _checked_mono(block.T, path)


# Sample rates (Hz) a song may say it has: telephone speech is 8 kHz and studio masters 768 kHz at
# most. A damaged header outside them made a WAV of 1 Hz allocate 25 GiB to resample 5 s, and one of
# 4294967295 Hz come out as 0 samples, "silent" and "0.00 s long".
NATIVE_RATE_RANGE = (1_000, 1_000_000)

# Largest sample magnitude read as audio (full scale is 1): a float WAV may go past full scale, but
# samples of 1e17 overflowed float32 power spectra into a librosa traceback; 1e6 is 120 dB beyond.
MAX_SAMPLE = 1e6


def _check_rate(native_rate: int, path: Path) -> int:
    """``native_rate`` where it is in :data:`NATIVE_RATE_RANGE`, else :class:`InputError` naming ``path``."""
    low, high = NATIVE_RATE_RANGE
    if not low <= native_rate <= high:
        raise InputError(path, f"says its audio is sampled at {native_rate} Hz, not a rate of audio "
                               f"({low:,}-{high:,} Hz): a damaged header, or not an audio file")
    return native_rate


def _check_samples(y: np.ndarray, path: str | os.PathLike | None) -> None:
    """Refuse NaN or infinite samples, and samples beyond :data:`MAX_SAMPLE`, in one pass over ``y``."""
    peak = float(np.abs(y).max()) if y.size else 0.0
    if not np.isfinite(peak):  # a NaN or an infinity anywhere makes the peak one
        raise InputError(path, "audio contains NaN or infinite samples")
    if peak > MAX_SAMPLE:
        raise InputError(path, f"audio has samples of {peak:.3g}, full scale being 1: not audio as it is")


def _checked_mono(channels: np.ndarray, path: Path) -> np.ndarray:
    y = _to_mono(channels)
    _check_samples(y, path)
    return y


def _resample_stream(blocks: Iterator[np.ndarray], native_rate: int, sample_rate: int,
                     expected: int, path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 ``(n,)`` at ``sample_rate`` from mono blocks at ``native_rate``, and the
    number of input samples read.

    ``librosa.resample(y, res_type="soxr_hq")`` of the whole signal, bit for bit: soxr's stream
    gives the samples of its one-shot call (tests/test_memory_bounds.py checks), and the length
    is fitted to ``ceil(n · sample_rate / native_rate)`` as librosa does. ``expected`` (input
    samples, from the header) sizes the output up front; a file longer than announced grows it.
    """
    ratio = sample_rate / native_rate
    # A little slack: the last block may bring a few samples more than the fitted length.
    out = np.zeros(int(np.ceil(max(expected, 0) * ratio)) + 1024, dtype=np.float32)
    stream = None
    if native_rate != sample_rate:
        stream = soxr.ResampleStream(native_rate, sample_rate, 1, dtype="float32",
                                     quality="soxr_hq")
    n_in = n_out = 0
    for block in itertools.chain(blocks, [None]):
        if block is None:  # end of input: flush the resampler's tail
            if stream is None:
                break
            piece = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        else:
            n_in += block.size
            piece = block if stream is None else stream.resample_chunk(block)
        if n_out + piece.size > out.size:
            grow = max(piece.size, out.size // 2)
            out = np.concatenate([out[:n_out], np.zeros(grow, np.float32)])
        out[n_out:n_out + piece.size] = piece
        n_out += piece.size
    if n_in == 0:
        raise InputError(path, "the file holds no audio samples (zero-length audio)")
    n = int(np.ceil(n_in * ratio))  # librosa.resample's length (fix_length: zero padded or cut)
    if out.size < n:
        out = np.concatenate([out[:n_out], np.zeros(n - n_out, np.float32)])
    out[n_out:n] = 0.0
    # A view keeps the slack alive (negligible); a file much shorter than announced is copied.
    return (out[:n] if out.size - n <= 1024 else out[:n].copy()), n_in


@contextlib.contextmanager
def _c_stderr_held_back(path: Path) -> Iterator[None]:
    """The block's writes to file descriptor 2 go to the debug log instead of the terminal.

    libsndfile's mp3 decoder (libmpg123) prints its own notes there from C ("Note: Illegal
    Audio-MPEG-Header 0x00000000 at offset 2996. Note: Trying to resync...") while it probes a file
    that is not an mp3: three lines beside our one, which says the same. Only the opening is held
    back, a few milliseconds with nothing else of ours writing. Where descriptor 2 cannot be
    redirected (no such descriptor), the block runs as it is.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace").strip()
            if text:
                logger.debug("%s: the decoder said: %s", path, text)


# libsndfile's reason when its mp3 decoder finds no audio in a file that exists: not what happened.
_MISLEADING_REASON = "File does not exist or is not a regular file"


def _open_reason(error: Exception) -> str:
    """libsndfile's reason for not opening a file, with its misleading one for an mp3 that holds
    no audio put as what it is."""
    text = str(error)
    return "no audio found in it" if _MISLEADING_REASON in text else text


def _load_audioread(path: Path, sample_rate: int, first_error: Exception) -> np.ndarray:
    """The fallback decoder (ffmpeg/gstreamer through audioread), streamed like libsndfile's."""
    try:
        import audioread
    except ImportError:
        raise InputError(path, f"not an audio file or corrupt: {_open_reason(first_error)}") from None
    try:
        with audioread.audio_open(os.fspath(path)) as source:
            blocks = _audioread_blocks(source, path)
            native_rate = _check_rate(int(source.samplerate), path)
            expected = int((getattr(source, "duration", 0) or 0) * native_rate)
            return _resample_stream(blocks, native_rate, sample_rate, expected, path)[0]
    except InputError:
        raise
    except Exception as error:  # audioread raises many unrelated types for one bad file
        logger.debug("audioread could not decode %s: %s", path, error)
    raise InputError(path, f"not an audio file or corrupt: {_open_reason(first_error)}")


def _audioread_blocks(source, path: Path) -> Iterator[np.ndarray]:
    """Mono float32 blocks of an audioread source: 16-bit interleaved bytes, split anywhere."""
    frame_bytes = 2 * source.channels
    rest = b""
    for chunk in source:
        chunk = rest + chunk
        whole = len(chunk) - len(chunk) % frame_bytes
        rest = chunk[whole:]
        if whole:
            samples = librosa.util.buf_to_float(chunk[:whole], n_bytes=2, dtype=np.float32)
            yield _checked_mono(samples.reshape(-1, source.channels).T, path)


def _warn_if_truncated(path: Path, n_read: int) -> None:
    """Warn when a WAV header announces more sample frames than the file holds.

    libsndfile quietly shortens its frame count to what the file holds, so the header's own
    count is read here (the RIFF ``fmt `` and ``data`` chunks). Unknown sizes (0 or 0xFFFFFFFF,
    written by streaming recorders and RF64) say nothing and are skipped.
    """
    declared = _wav_declared_frames(path)
    if declared is not None and declared > n_read:
        warnings.warn(f"{os.fspath(path)}: the WAV header announces {declared} sample frames but "
                      f"the file holds {n_read} ({n_read / declared:.0%}); the file is cut short, "
                      "using the audio that is there", stacklevel=3)


def _wav_declared_frames(path: Path) -> int | None:
    """Sample frames the ``data`` chunk of a RIFF/WAVE header announces, or None (no WAV, or no
    known size)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if name == b"fmt ":
                fmt = f.read(size)
                if len(fmt) < 14:
                    return None
                block_align = int.from_bytes(fmt[12:14], "little")  # bytes per sample frame
                if size % 2:
                    f.seek(1, os.SEEK_CUR)
            elif name == b"data":
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                f.seek(size + size % 2, os.SEEK_CUR)  # chunks are padded to an even size


def _to_mono(channels: np.ndarray) -> np.ndarray:
    """Mean of the channels ``(channels, n)`` -> ``(n,)``, bit-identical to ``librosa.to_mono``
    (librosa.load's own step). Stereo takes a fast path: numpy's mean over the strided channel
    axis costs 30x more than ``(left + right) / 2``, which rounds the same way."""
    if channels.shape[0] == 1:
        return channels[0]
    if channels.shape[0] == 2:
        return (channels[0] + channels[1]) / channels.dtype.type(2)
    return librosa.to_mono(channels)


def _warn_if_silent(y: np.ndarray, path: str | os.PathLike | None) -> bool:
    peak = max(float(y.max()), -float(y.min())) if y.size else 0.0  # no |y| copy of the song
    if peak > 10.0 ** (SILENCE_DBFS / 20.0):
        return False
    level = "-inf" if peak == 0.0 else f"{20.0 * np.log10(peak):.1f}"
    where = "audio" if path is None else os.fspath(path)
    warnings.warn(f"{where}: silent (peak {level} dBFS); its music features describe no music",
                  stacklevel=3)
    return True


# ---------------------------------------------------------------------------------------------
# Tempo


_MUSIC_ID = re.compile(r"m(BR|PO|LO|MH|LH|WA|KR|JS|JB|HO)(\d)")


def tempo_from_music_id(music_id_or_sequence_name: str | os.PathLike) -> float | None:
    """The tempo (BPM) AIST++ encodes in a music id, or None when the name has none.

    Accepts a music id (``mBR0``), a sequence name (``gBR_sBM_cAll_d04_mBR3_ch01``) or a file path
    with either as its stem. AIST++ ids ``m{GG}{k}`` play at 80 + 10·k BPM, House (``mHO``) at
    110 + 5·k BPM (google-research/mint ``tools/preprocessing.py``, ``_get_tempo``).
    """
    stem = Path(music_id_or_sequence_name).name.split(".")[0]
    for token in stem.split("_"):
        match = _MUSIC_ID.fullmatch(token)
        if match:
            genre, k = match.group(1), int(match.group(2))
            return float(110 + 5 * k) if genre == "HO" else float(80 + 10 * k)
    return None


def estimate_tempo(envelope: np.ndarray | None = None, *, audio: np.ndarray | None = None,
                   spec: MusicFeatureSpec = DEFAULT_SPEC, start_bpm: float = 120.0) -> float:
    """Global tempo (BPM) of an onset envelope ``(T,)`` at ``spec.fps``, or of ``audio`` ``(n,)``.

    librosa's estimator (``librosa.feature.tempo``): autocorrelation of the envelope over 8 s
    windows, averaged, weighted by a log-normal prior centred on ``start_bpm``. The result lies on
    the lag grid (60·fps/lag BPM: 120 at lag 30, 90 at lag 40). EDGE's port uses librosa's
    estimate for music without an AIST++ id (Stanford-TML/EDGE
    ``data/audio_extraction/baseline_features.py``; it re-reads the song at 22,050 Hz, we use the
    60 fps envelope already computed). A silent envelope gives ``start_bpm``.
    """
    if (envelope is None) == (audio is None):
        raise ValueError("estimate_tempo needs exactly one of envelope or audio")
    _jit_ready()
    if envelope is None:
        y = _check_audio(audio, None)
        with _one_blas_thread():
            envelope = _envelope_and_mfcc(_mel_and_tuning(y, spec, CHUNK_FRAMES, tuning=False)[0],
                                          spec)[0]
    envelope = np.asarray(envelope)
    if envelope.ndim != 1:
        raise ValueError(f"envelope must be 1-D (T,), got shape {envelope.shape}")
    return float(_tempo(envelope, spec, start_bpm)[0])


def _tempo(envelope: np.ndarray, spec: MusicFeatureSpec, start_bpm: float,
           chunk_frames: int = CHUNK_FRAMES, *, mean: np.ndarray | None = None) -> np.ndarray:
    """``librosa.feature.tempo(onset_envelope=envelope, start_bpm=start_bpm, ...)``, the same
    ``(1,)`` array, in bounded memory.

    librosa averages a tempogram over the song: the normalised autocorrelation of each frame's
    8 s window, ``(win, T)`` float64; with its spectra that peaks near 27 KB per frame (6 GB per
    hour of music, once more in the beat tracker, which estimates the tempo again). Here the
    tempogram is computed ``chunk_frames`` columns at a time and summed in numpy's own pairwise
    order (:func:`_pairwise_column_sum`), so its mean has the same bits; librosa's ``tempo``
    then weighs that mean by the prior (``tg=``). ``mean``: that mean, already computed
    (:func:`_tempogram_of`); it does not depend on the prior.
    """
    if mean is None:
        mean = _tempogram_of(envelope, spec, chunk_frames)
    return librosa.feature.tempo(tg=mean, sr=spec.sample_rate, hop_length=spec.hop_length, start_bpm=start_bpm)


def _tempogram_of(envelope: np.ndarray, spec: MusicFeatureSpec, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """The mean tempogram ``(win, 1)`` that :func:`_tempo` weighs, with librosa's 8 s window."""
    win = int(librosa.time_to_frames(8.0, sr=spec.sample_rate, hop_length=spec.hop_length).item())  # ac_size
    return _tempogram_mean(envelope, win, chunk_frames)


def _tempogram_mean(envelope: np.ndarray, win: int, chunk_frames: int) -> np.ndarray:
    """``np.mean(librosa.feature.tempogram(onset_envelope=envelope, win_length=win), axis=-1,
    keepdims=True)`` ``(win, 1)`` float64, the same bits, ``chunk_frames`` columns at a time."""
    n = envelope.shape[-1]
    # librosa.feature.tempogram(center=True): ramp-padded envelope, one window per frame.
    padded = np.pad(envelope, (win // 2,) * 2, mode="linear_ramp", end_values=[0, 0])
    frames = librosa.util.frame(padded, frame_length=win, hop_length=1)[..., :n]  # (win, T) view
    window = librosa.filters.get_window("hann", win, fftbins=True)[:, None]
    block = {"first": 0, "last": 0, "columns": None}

    def columns(first: int, last: int) -> np.ndarray:
        """Tempogram columns ``first .. last - 1``; asked for in increasing order."""
        if first < block["first"] or last > block["last"]:
            end = min(n, max(last, first + chunk_frames))
            autocorrelation = librosa.autocorrelate(frames[:, first:end] * window, axis=-2)
            block.update(first=first, last=end, columns=librosa.util.normalize(
                autocorrelation, norm=np.inf, axis=-2))
        return block["columns"][:, first - block["first"]:last - block["first"]]

    return (_pairwise_column_sum(columns, 0, n) / n)[:, None]  # np.mean: the sum over T


def _pairwise_column_sum(columns, first: int, count: int) -> np.ndarray:
    """``np.add.reduce(a, axis=-1)`` of a C-ordered float64 ``(rows, T)`` array ``a``, in numpy's
    order (``pairwise_sum`` in ``numpy/_core/src/umath/loops_utils.h.src``: halves rounded down
    to a multiple of 8, blocks of at most 128 summed by 8 interleaved accumulators), reading
    columns ``first .. first + count - 1`` through ``columns(first, last)`` in increasing order.
    tests/test_memory_bounds.py checks the bits against numpy."""
    if count > 128:
        half = count // 2
        half -= half % 8
        return (_pairwise_column_sum(columns, first, half)
                + _pairwise_column_sum(columns, first + half, count - half))
    a = columns(first, first + count)
    if count < 8:
        total = np.zeros(a.shape[0])
        for i in range(count):
            total = total + a[:, i]
        return total
    partial = a[:, :8].copy()
    whole = count - count % 8
    for i in range(8, whole, 8):
        partial += a[:, i:i + 8]
    p = [partial[:, j] for j in range(8)]
    total = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
    for i in range(whole, count):
        total = total + a[:, i]
    return total


# ---------------------------------------------------------------------------------------------
# Features


def music_features(audio: np.ndarray, *, bpm: float | None = None,
                   spec: MusicFeatureSpec = DEFAULT_SPEC, path: str | os.PathLike | None = None,
                   warn_silent: bool = True, return_tempo: bool = False,
                   ) -> np.ndarray | tuple[np.ndarray, float]:
    """FACT music features ``(T, 35)`` float32 of mono audio ``(n,)`` at ``spec.sample_rate`` Hz.

    ``T = 1 + n // hop_length`` frames at ``spec.fps`` (60): row ``i`` describes music time
    ``i / fps`` s. ``bpm`` is the beat tracker's tempo prior (``start_bpm``); None estimates it
    from the envelope (:func:`estimate_tempo`). ``path`` only names the source in errors and
    warnings. Silent audio warns (unless ``warn_silent`` is False: a caller that loaded the
    song with :func:`load_audio` was told already); its features are computed all the same.
    ``return_tempo`` also returns the tempo prior used, in BPM (the estimate when ``bpm`` is
    None), so that a caller need not estimate it a second time.
    """
    y = _check_audio(audio, path)
    if warn_silent:
        _warn_if_silent(y, path)
    if bpm is not None:
        bpm = _check_bpm(bpm, path)
    _jit_ready()
    features, tempo = _features_and_tempo(y, bpm, spec, path)
    return (features, tempo) if return_tempo else features


def song_features(path: str | os.PathLike, *, bpm: float | None = None,
                  spec: MusicFeatureSpec = DEFAULT_SPEC) -> np.ndarray:
    """Load a song and compute its ``(T, 35)`` features; ``bpm`` defaults to the AIST++ id tempo.

    When ``bpm`` is None and the file stem is an AIST++ music id (``mBR0.wav``) its tempo is the
    prior, as in mint; otherwise the tempo is estimated.
    """
    bpm = resolve_bpm(path, bpm)
    y = load_audio(path, spec.sample_rate)  # warns itself if silent
    return _compute(y, bpm, spec, path)


def resolve_bpm(path: str | os.PathLike, bpm: float | None) -> float | None:
    """The tempo prior used for ``path``: ``bpm`` if given, else its AIST++ id tempo, else None."""
    return tempo_from_music_id(path) if bpm is None else _check_bpm(bpm, path)


def _check_bpm(bpm: float, path: str | os.PathLike | None) -> float:
    if isinstance(bpm, bool) or not isinstance(bpm, (int, float, np.number)) or not (
            np.isfinite(bpm) and bpm > 0):
        raise InputError(path, f"bpm must be a positive number, got {bpm!r}")
    return float(bpm)


def beat_frames(features: np.ndarray, *, spec: MusicFeatureSpec = DEFAULT_SPEC) -> np.ndarray:
    """Frames ``(k,)`` int64 of the beats in ``features`` ``(T, D)`` (its beat column, 34 for FACT).

    Divide by ``spec.fps`` for seconds.
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != spec.feature_dim:
        raise ValueError(f"features must be (T, {spec.feature_dim}), got shape {features.shape}")
    return np.flatnonzero(features[:, spec.beat_column] == 1)


def _check_audio(audio: np.ndarray, path: str | os.PathLike | None) -> np.ndarray:
    y = np.asarray(audio)
    if y.ndim != 1:
        raise InputError(path, f"audio must be mono (n,) samples, got shape {y.shape}")
    if y.size == 0:
        raise InputError(path, "zero-length audio")
    if not np.issubdtype(y.dtype, np.floating):
        raise InputError(path, f"audio must hold float samples in [-1, 1], got {y.dtype}")
    _check_samples(y, path)
    # The reference computes in float32 (librosa.load's default dtype).
    return np.ascontiguousarray(y, dtype=np.float32)


def _compute(y: np.ndarray, bpm: float | None, spec: MusicFeatureSpec,
             path: str | os.PathLike | None) -> np.ndarray:
    """Steps 2-6 of mint ``cache_audio_features`` on checked float32 audio ``(n,)``."""
    _jit_ready()
    return _features_of(y, bpm, spec, path)


def _features_of(y: np.ndarray, bpm: float | None, spec: MusicFeatureSpec,
                 path: str | os.PathLike | None, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """:func:`_features_and_tempo` without the tempo."""
    return _features_and_tempo(y, bpm, spec, path, chunk_frames)[0]


def _features_and_tempo(y: np.ndarray, bpm: float | None, spec: MusicFeatureSpec,
                        path: str | os.PathLike | None, chunk_frames: int = CHUNK_FRAMES
                        ) -> tuple[np.ndarray, float]:
    """The ``(T, D)`` features of checked audio and the beat tracker's tempo prior (``bpm``, or the
    one estimated from the envelope); spectra and tempograms are computed
    ``chunk_frames`` frames at a time (:func:`_mel_and_tuning`, :func:`_cqt_magnitude`,
    :func:`_tempo`): any chunk size gives the same bits; beyond a fixed ~0.2 GB of blocks the
    working memory grows by about 5 bytes per sample of ``y`` (its mel and CQT magnitudes, the
    halved signals of the CQT's octaves)."""
    if bpm is not None:
        bpm = _check_bpm(bpm, path)
    if spec.stream:
        with _one_blas_thread():
            return stream_features(y, spec, bpm=bpm, return_tempo=True)
    with _one_blas_thread(), warnings.catch_warnings():
        # Short clips make librosa warn once per CQT octave, silence once for the tuning;
        # neither changes the numbers and silence was reported already.
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large")
        warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty")
        mel_power, tuning = _mel_and_tuning(y, spec, chunk_frames)
        # The chroma (the CQT, a third of the work) needs only the tuning: on a second thread while
        # the envelope's steps run here. Both spend most of their time in FFTs and numba code
        # outside Python's lock: 1.8 -> 1.2 s for a 3-minute song on 2 cores, the same numbers.
        with contextlib.ExitStack() as side:
            if _SIDE_THREAD:
                pool = side.enter_context(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chroma"))
                chroma_job = pool.submit(_chroma, y, tuning, spec, chunk_frames)
            envelope, mfcc = _envelope_and_mfcc(mel_power, spec)
            del mel_power
            # The reference estimates the tempo (from 120 BPM), then the beat tracker estimates it
            # again from that prior: the same mean tempogram weighed by two priors, computed once
            # (0.28 s of a 3.7-minute song, the same bits).
            tempogram = _tempogram_of(envelope, spec, chunk_frames) if bpm is None or envelope.any() else None
            if bpm is None:
                bpm = float(_tempo(envelope, spec, 120.0, chunk_frames, mean=tempogram)[0])  # estimate_tempo
            peaks = _onset_peaks(envelope, spec)
            beats = _beats(envelope, bpm, spec, chunk_frames, tempogram=tempogram)
            chroma = chroma_job.result() if _SIDE_THREAD else _chroma(y, tuning, spec, chunk_frames)
    features = np.empty((envelope.size, spec.feature_dim), dtype=np.float32)
    features[:, 0] = envelope
    features[:, 1:1 + spec.n_mfcc] = mfcc.T
    features[:, 1 + spec.n_mfcc:spec.onset_column] = chroma.T
    features[:, spec.onset_column] = _one_hot(peaks, envelope.size)
    features[:, spec.beat_column] = _one_hot(beats, envelope.size)
    assert features.shape == (spec.n_frames(y.size), spec.feature_dim), features.shape
    return features, float(bpm)


# Whether a song's chroma is computed on a second thread (_features_and_tempo); off in the workers
# of features_for_files' pool, which keep one core each busy already.
_SIDE_THREAD = True


def _one_thread_per_worker() -> None:
    """The pool workers' initializer: each computes its song's steps one after another."""
    global _SIDE_THREAD
    _SIDE_THREAD = False


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """Run the matrix products (mel projection) on one BLAS thread.

    OpenBLAS splits a product differently for different thread counts, which moves the envelope
    and MFCC by float32 rounding. With one thread everywhere, features are the same bits in this
    process, in pool workers and on machines with more cores of the same CPU type (cache entries
    agree), and pool workers do not oversubscribe the cores with spinning BLAS threads.
    threadpoolctl comes with librosa (through scikit-learn); without it BLAS keeps its threads.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _frame_span(y: np.ndarray, first: int, last: int, n_fft: int, hop: int) -> np.ndarray:
    """The samples under frames ``first .. last - 1`` of a centred, zero-padded STFT of ``y``
    (frame ``t`` covers ``y[t·hop - n_fft/2 :][:n_fft]``), zeros outside ``y``: an uncentred
    STFT of the span gives exactly those frames."""
    start = first * hop - n_fft // 2
    stop = (last - 1) * hop - n_fft // 2 + n_fft
    if start >= 0 and stop <= y.size:
        return y[start:stop]
    span = np.zeros(stop - start, dtype=y.dtype)
    inside = y[max(start, 0):max(min(stop, y.size), 0)]
    span[max(-start, 0):max(-start, 0) + inside.size] = inside
    return span


def _stft_magnitude(y: np.ndarray, first: int, last: int, spec: MusicFeatureSpec) -> np.ndarray:
    """|STFT| ``(1 + n_fft/2, last - first)`` float32 of frames ``first .. last - 1``: hann
    window, centred, zero padded, as librosa computes them for the whole song (each frame's FFT
    does not depend on its neighbours, so the bits are the same)."""
    stft = librosa.stft(_frame_span(y, first, last, spec.n_fft, spec.hop_length),
                        n_fft=spec.n_fft, hop_length=spec.hop_length, window="hann",
                        center=False)
    return np.abs(stft)


def _mel_and_tuning(y: np.ndarray, spec: MusicFeatureSpec, chunk_frames: int, *,
                    tuning: bool = True) -> tuple[np.ndarray, float | None]:
    """Mel power spectrogram ``(n_mels, T)`` float32 and the chroma's tuning estimate (fraction
    of a CQT bin; None when ``tuning`` is False), from one pass of |STFT| blocks.

    The reference computes the same STFT three times: in the envelope's and the MFCC's mel
    spectrograms (power 2) and in chroma_cens' tuning estimate (piptrack, magnitude). Here each
    block of ``chunk_frames`` frames feeds the mel projection (column by column: the same bits)
    and librosa's piptrack (frame by frame); the pitch candidates of all blocks then go through
    the rest of ``librosa.estimate_tuning`` (median magnitude threshold, ``pitch_tuning``),
    which does not depend on their order. The whole |STFT| (4 bytes × 1025 per frame, 0.9 GB
    per hour of music) is never held.
    """
    n_frames = spec.n_frames(y.size)
    mel = np.empty((spec.n_mels, n_frames), dtype=np.float32)
    pitches, magnitudes = [], []
    for first in range(0, n_frames, chunk_frames):
        last = min(n_frames, first + chunk_frames)
        magnitude = _stft_magnitude(y, first, last, spec)
        mel[:, first:last] = librosa.feature.melspectrogram(
            S=magnitude**2.0, sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels)
        if tuning:
            # librosa.estimate_tuning(S=..., n_fft=...) -> piptrack with its defaults.
            pitch, peak = librosa.piptrack(S=magnitude, sr=spec.sample_rate, n_fft=spec.n_fft)
            found = pitch > 0
            pitches.append(pitch[found])
            magnitudes.append(peak[found])
    if not tuning:
        return mel, None
    pitch, peak = np.concatenate(pitches), np.concatenate(magnitudes)
    threshold = np.median(peak) if peak.size else 0.0
    estimate = librosa.pitch_tuning(pitch[peak >= threshold], resolution=0.01,
                                    bins_per_octave=spec.bins_per_octave)
    return mel, float(estimate)


def _envelope_and_mfcc(mel_power: np.ndarray, spec: MusicFeatureSpec
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Onset envelope ``(T,)`` and MFCC ``(n_mfcc, T)`` from one dB mel spectrogram.

    Both of mint's calls (``onset_strength(y=...)``, ``mfcc(y=...)``) build the same
    ``power_to_db(melspectrogram(y))`` with librosa's defaults; we build it once, for the whole
    song: its ``top_db`` floor is relative to the song's loudest mel bin.
    """
    mel_db = librosa.power_to_db(mel_power)
    envelope = librosa.onset.onset_strength(S=mel_db, sr=spec.sample_rate, n_fft=spec.n_fft,
                                            hop_length=spec.hop_length)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=spec.n_mfcc)
    return envelope, mfcc


def _chroma(y: np.ndarray, tuning: float, spec: MusicFeatureSpec, chunk_frames: int
            ) -> np.ndarray:
    """chroma_cens ``(n_chroma, T)`` of the CQT magnitude computed block by block."""
    cqt = _cqt_magnitude(y, tuning, spec, chunk_frames)
    return librosa.feature.chroma_cens(
        C=cqt, sr=spec.sample_rate, hop_length=spec.hop_length, tuning=tuning,
        n_chroma=spec.n_chroma, n_octaves=spec.n_octaves, bins_per_octave=spec.bins_per_octave,
        win_len_smooth=spec.cens_window)


def _cqt_magnitude(y: np.ndarray, tuning: float, spec: MusicFeatureSpec, chunk_frames: int
                   ) -> np.ndarray:
    """``np.abs(librosa.cqt(y, ...))`` as chroma_cens computes it: ``(n_octaves ·
    bins_per_octave, T)`` float32, Fortran order, the same bits, in bounded memory.

    librosa's CQT (``librosa/core/constantq.py``, ``vqt``) works octave by octave, top first:
    the octave's filters are applied to a centred STFT (window of ones) of the signal, which is
    then halved in rate (soxr_hq, ``scale=True``) for the next octave. The whole-song STFT of the
    top octave alone is 2 KB per frame (0.9 GB per hour). Here each octave's STFT is taken
    ``chunk_frames`` frames at a time (frames are independent), and the halving runs as a soxr
    stream, which gives the one-shot call's samples. The filters are librosa's own (its private
    ``__vqt_filter_fft``), so they cannot drift from the reference.
    """
    from librosa.core import constantq

    sr, hop, bpo = spec.sample_rate, spec.hop_length, spec.bins_per_octave
    n_bins = spec.n_octaves * bpo

    def whole_song() -> np.ndarray:
        return np.abs(librosa.cqt(y, sr=sr, hop_length=hop, n_bins=n_bins, bins_per_octave=bpo, tuning=tuning))

    fmin = librosa.note_to_hz("C1") * 2.0 ** (tuning / bpo)
    freqs = librosa.interval_frequencies(n_bins=n_bins, fmin=fmin, intervals="equal",
                                         bins_per_octave=bpo, sort=True)
    filter_fft = getattr(constantq, "__vqt_filter_fft", None)
    early_count = getattr(constantq, "__early_downsample_count", None)
    relative_bandwidth = getattr(librosa.filters, "_relative_bandwidth", None)
    if filter_fft is None or early_count is None or relative_bandwidth is None:
        # A librosa without these private helpers (other than the pinned 0.11): correct numbers
        # from its own whole-song call, in more memory.
        logger.debug("librosa %s lacks the CQT helpers of 0.11; computing the CQT whole", librosa.__version__)
        return whole_song()
    alpha = relative_bandwidth(freqs=freqs)
    lengths, cutoff = librosa.filters.wavelet_lengths(freqs=freqs, sr=sr, window="hann",
                                                      filter_scale=1, gamma=0, alpha=alpha)
    if cutoff > sr / 2.0 or early_count(sr / 2.0, cutoff, hop, spec.n_octaves) > 0:
        # Specs whose CQT librosa first downsamples (or rejects): its own whole-song call.
        return whole_song()
    n_frames = spec.n_frames(y.size)
    out = np.empty((n_bins, n_frames), dtype=np.float32, order="F")  # as librosa stacks octaves
    norms = np.sqrt(lengths)[:, None]  # (n_bins, 1): librosa's `V /= np.sqrt(lengths)`
    signal, rate, octave_hop = y, sr, hop
    for octave in range(spec.n_octaves):
        rows = slice(n_bins - bpo * (octave + 1), n_bins - bpo * octave)
        basis, n_fft, _ = filter_fft(rate, freqs[rows], 1, 1, 0.01, window="hann", gamma=0,
                                     dtype=np.complex64, alpha=alpha[rows])
        basis[:] *= np.sqrt(sr / rate)  # librosa: compensates the downsampling
        for first in range(0, n_frames, chunk_frames):
            last = min(n_frames, first + chunk_frames)
            stft = librosa.stft(_frame_span(signal, first, last, n_fft, octave_hop), n_fft=n_fft,
                                hop_length=octave_hop, window="ones", center=False,
                                dtype=np.complex64)
            response = basis.dot(stft)  # (bpo, last - first) complex64
            response /= norms[rows]
            out[rows, first:last] = np.abs(response)
        if octave + 1 < spec.n_octaves and octave_hop % 2 == 0:
            signal, rate, octave_hop = _halve(signal), rate / 2.0, octave_hop // 2
    return out


def _halve(x: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """``librosa.resample(x, orig_sr=2, target_sr=1, res_type="soxr_hq", scale=True)`` (the
    CQT's step down an octave) ``(n,)`` -> ``(ceil(n / 2),)`` float32, streamed through soxr in
    blocks of ``block`` samples: the same bits without a second copy of the input."""
    blocks = (x[start:start + block] for start in range(0, x.size, block))
    out, _ = _resample_stream(blocks, 2, 1, x.size, Path("<cqt octave>"))
    out /= np.sqrt(0.5)  # librosa's scale=True: y_hat /= np.sqrt(ratio)
    return out


def _onset_peaks(envelope: np.ndarray, spec: MusicFeatureSpec) -> np.ndarray:
    """Peak frames of librosa's default onset picking (at 60 fps: pre_max 1, post_max 1,
    pre_avg 6, post_avg 7, wait 1 frames, delta 0.07 of the normalised envelope)."""
    return librosa.onset.onset_detect(onset_envelope=envelope, sr=spec.sample_rate,
                                      hop_length=spec.hop_length)


def _beats(envelope: np.ndarray, bpm: float, spec: MusicFeatureSpec,
           chunk_frames: int = CHUNK_FRAMES, *, tempogram: np.ndarray | None = None) -> np.ndarray:
    """Beat frames of ``librosa.beat.beat_track(start_bpm=bpm, tightness=...)``; its tempo
    estimate is computed beforehand in bounded memory (:func:`_tempo`, the same value), from the
    envelope's mean ``tempogram`` where it is given."""
    if not envelope.any():
        return np.zeros(0, dtype=np.int64)  # beat_track finds none (and estimates no tempo)
    tempo = _tempo(envelope, spec, bpm, chunk_frames, mean=tempogram)
    _, frames = librosa.beat.beat_track(onset_envelope=envelope, sr=spec.sample_rate,
                                        hop_length=spec.hop_length, start_bpm=bpm, bpm=tempo,
                                        tightness=spec.tightness)
    return frames


def _one_hot(frames: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    out[np.asarray(frames, dtype=np.int64)] = 1.0
    return out


# ---------------------------------------------------------------------------------------------
# Cache


class FeatureCache:
    """Music features on disk, keyed by what they depend on; a hit reads one small ``.npy``.

    Key = sha256 of (the audio file's bytes, ``spec.key()``, the tempo prior, the librosa and
    soxr versions, this module's ``FEATURES_FORMAT``): renaming or moving a song keeps its entry,
    changing a byte, a setting or a library version makes a new one. Entries are written to a
    temporary file in the cache folder and renamed into place, so readers never see half a file.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._store_failed = False
        if self.directory.exists() and not self.directory.is_dir():
            raise InputError(self.directory, "cache location is a file, not a folder")

    def key(self, path: str | os.PathLike, bpm: float | None,
            spec: MusicFeatureSpec = DEFAULT_SPEC, *, cut: tuple[float, ...] | None = None) -> str:
        """Hex key of ``path``'s features with tempo prior ``bpm`` (None: estimated); ``cut`` =
        ``(start_s, seconds or None)`` for the features of a part of the song (``aichoreo dance
        --start/--seconds``), or ``(start_s, seconds or None, lead_s)`` for a part that begins
        ``lead_s`` earlier (a continuation's seed, silence before the song); the whole song's key
        is the same with or without ``cut=(0, None)``."""
        parts = {
            "audio_sha256": _file_sha256(path),
            "spec": spec.key(),
            "bpm": "estimate" if bpm is None else repr(float(bpm)),
            "librosa": librosa.__version__,
            "soxr": soxr.__version__,
            "format": FEATURES_FORMAT,
        }
        start, seconds, lead = (0.0, None, 0.0) if cut is None else (*cut, 0.0)[:3]
        if (start, seconds, lead) != (0.0, None, 0.0):
            # The lead is in every cut's key: until 2026-12-07 it was left out, and a continuation's
            # features (2 s longer) were stored under, and read from, the key of the same cut without
            # one; cuts keyed without a lead are never read again.
            parts["cut"] = [float(start), None if seconds is None else float(seconds), float(lead)]
        if seconds is not None:
            # Since 2026-12-08 a cut ends before the frame at its end (aichoreo.pipeline.song_inputs);
            # the cuts stored before, one frame longer, are never read again.
            parts["cut_end"] = "before"
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def entry(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def load(self, key: str, spec: MusicFeatureSpec = DEFAULT_SPEC) -> np.ndarray | None:
        """The cached array for ``key``, or None (absent, or unreadable: then it is recomputed)."""
        entry = self.entry(key)
        if not entry.is_file():
            return None
        try:
            features = np.load(entry, allow_pickle=False)
        except Exception as error:  # EOFError, ValueError, OSError...: a damaged entry is recomputed
            logger.warning("ignoring unreadable cache entry %s: %s", entry, error)
            return None
        if (features.ndim != 2 or features.shape[1] != spec.feature_dim
                or features.dtype != np.float32):
            logger.warning("ignoring cache entry %s of shape %s %s", entry, features.shape,
                           features.dtype)
            return None
        return features

    def store(self, key: str, features: np.ndarray) -> Path | None:
        """Write ``features`` for ``key`` atomically (temporary file + ``os.replace``); ``None`` where
        the cache cannot be written (a read-only or full disk): a warning, once per cache, and the
        work goes on without it, as the features are computed and a cache only saves time."""
        try:
            return save_npy(self.entry(key), np.asarray(features, dtype=np.float32))
        except (OSError, InputError) as error:
            if not self._store_failed:
                self._store_failed = True
                reason = (error.problem if isinstance(error, InputError)
                          else f"cannot be written: {error.strerror or error}")
                warnings.warn(f"{self.directory}: the feature cache {reason}; going on without it", stacklevel=2)
            return None

    def get_or_compute(self, path: str | os.PathLike, bpm: float | None = None,
                       spec: MusicFeatureSpec = DEFAULT_SPEC) -> np.ndarray:
        """:func:`song_features` of ``path``, read from the cache when present (no decoding)."""
        bpm = resolve_bpm(path, bpm)
        key = self.key(path, bpm, spec)
        features = self.load(key, spec)
        if features is None:
            features = song_features(path, bpm=bpm, spec=spec)
            self.store(key, features)
        return features


def _file_sha256(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found" if not path.exists() else "not a file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Many files


def features_for_files(paths: Sequence[str | os.PathLike], *,
                       bpm: float | Sequence[float | None] | None = None,
                       spec: MusicFeatureSpec = DEFAULT_SPEC, cache: FeatureCache | None = None,
                       workers: int = 2, progress: bool = True) -> list[np.ndarray]:
    """:func:`song_features` of several files, ``workers`` processes at a time, in order.

    ``bpm``: one tempo prior for all, one per file, or None (AIST++ id tempo, else estimated).
    Cache hits are read in this process; misses are computed by a process pool (one song per
    task: the steps are single-threaded) and written to ``cache`` as they arrive. librosa's
    start-up (imports and numba compilation, ~4 CPU seconds) is paid once per process: here,
    before forking, where workers are forked (Linux); in each worker otherwise. A bad file
    raises :class:`InputError` naming it, after the songs already finished are cached.
    """
    from tqdm import tqdm

    paths = [Path(p) for p in paths]
    priors = list(bpm) if isinstance(bpm, (Sequence, np.ndarray)) else [bpm] * len(paths)
    if len(priors) != len(paths):
        raise ValueError(f"{len(priors)} bpm values for {len(paths)} files")
    priors = [resolve_bpm(p, b) for p, b in zip(paths, priors)]
    results: list[np.ndarray | None] = [None] * len(paths)
    keys: list[str | None] = [None] * len(paths)
    with tqdm(total=len(paths), desc="music features", unit="song", disable=not progress) as bar:
        todo = []
        for i, (path, prior) in enumerate(zip(paths, priors)):
            if cache is not None:
                keys[i] = cache.key(path, prior, spec)
                results[i] = cache.load(keys[i], spec)
            if results[i] is None:
                todo.append(i)
            else:
                bar.update()

        def finish(i: int, features: np.ndarray) -> None:
            results[i] = features
            if cache is not None:
                cache.store(keys[i], features)
            bar.update()

        if workers <= 1 or len(todo) <= 1:
            for i in todo:
                finish(i, song_features(paths[i], bpm=priors[i], spec=spec))
        else:
            _compute_in_pool(todo, paths, priors, spec, min(workers, len(todo)), finish)
    return results  # type: ignore[return-value]


def _compute_in_pool(todo: list[int], paths: list[Path], priors: list[float | None],
                     spec: MusicFeatureSpec, workers: int, finish) -> None:
    if multiprocessing.get_start_method() == "fork":
        # Forked workers inherit this process's imports and compiled code: pay librosa's
        # start-up here once rather than in every worker of every call.
        _jit_ready()
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, initializer=_one_thread_per_worker) as pool:
        futures = {pool.submit(song_features, paths[i], bpm=priors[i], spec=spec): i for i in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                finish(futures[future], future.result())  # an InputError from a worker re-raises here
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


_jit_warm = False  # set by _jit_ready once this process has loaded librosa's compiled parts


def _jit_ready() -> None:
    """Load librosa's numba-compiled parts and run every step once on 1 s of quiet noise, holding
    numba's cache lock (:mod:`aichoreo.jitcache`); once per process, before any librosa call.

    Some of librosa's functions are compiled with explicit signatures, and so are compiled (or
    read from the cache) the moment their module is imported, which librosa does lazily on first
    attribute access; the others compile on first call (cold cache ~10 CPU s, warm ~1 s). Both
    happen here, under the lock: one process at a time writes the shared cache, so processes
    started together cannot corrupt it.
    """
    global _jit_warm
    if _jit_warm:
        return
    import importlib

    # Marked first: the warm-up below goes through functions that call this one.
    _jit_warm = True
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, SAMPLE_RATE).astype(np.float32)
    try:
        with compile_lock():
            with librosa_cached():
                for module in ("librosa.core", "librosa.util", "librosa.beat", "librosa.onset", "librosa.feature"):
                    importlib.import_module(module)
            _features_of(noise, None, DEFAULT_SPEC, None)
    except BaseException:
        _jit_warm = False
        raise

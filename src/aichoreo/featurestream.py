"""FACT's 35 music features computed as the audio arrives (issue 18: dancing live).

The reference features (:mod:`aichoreo.audio`, mint ``tools/preprocessing.py``) need the whole song:
the dB floor and the onset normalisation are relative to the song's loudest moment, the chroma is a
centred CQT smoothed over 41 frames (0.33 s of the future, and about 0.8 s for the CQT's lowest
octave), and the beats come from a dynamic programme run backwards from the song's end. A live
dancer cannot wait for the end, so :class:`StreamFeatures` computes the same 35 columns from the
audio heard so far, each row final :data:`LOOKAHEAD_FRAMES` frames (33 ms) after its music time,
the half window of the centred 2048-sample STFT that every column starts from:

====  ============  ======================================================================
cols  name          as it arrives
====  ============  ======================================================================
0     envelope      the reference's (same STFT, mel, dB, positive difference, same 3-frame
                    alignment), with the 80 dB floor below the loudest bin *so far*
1-20  MFCC          the reference's, with the same running floor
21-32 chroma        CENS steps (L1 norm, quantisation, smoothing, L2 norm) on a chroma of an
                    8192-sample STFT that ends where the centred 2048-sample window ends
                    (C1 to the 7th octave, octaves weighed alike, tuned to A440), smoothed
                    over the last 21 frames (the half of the reference's 41-frame window
                    that is in the past)
33    onset peaks   librosa's peak picking at 60 fps (pre_max 1, post_max 1, pre_avg 6,
                    wait 1, delta 0.07) with post_avg 3 instead of 7 (what 2 frames of
                    lookahead allow) on the envelope normalised by its minimum and maximum
                    *so far*
34    beats         a causal beat tracker after BTrack (Stark, Davies, Plumbley, DAFx 2009):
                    a cumulative beat score, the tempo from the last 8 s of the envelope's
                    autocorrelation weighted towards the tempo prior, and each beat predicted
                    half a period ahead; no lookahead
====  ============  ======================================================================

How close the rows come to the reference's is measured, not assumed (tests/test_featurestream.py,
docs/live.md). A model trained on these features (the ``fact-small-stream`` preset, on a dataset
prepared with ``--music-features stream``) sees in training exactly what it sees live: the same
class computes a whole song when it is fed the whole song (:func:`stream_features`).

Written by hand because no library computes librosa's features incrementally; the steps that are
column by column (STFT, mel, dB, MFCC) call librosa itself.
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np

#: Frames (at 60 fps) between a row's music time and the moment it is final: the half window of
#: the centred STFT (n_fft / 2 = 1024 samples = 2 hops).
LOOKAHEAD_FRAMES = 2
CHROMA_N_FFT = 8192  # samples (0.27 s at 30,720 Hz): 3.75 Hz bins, fine enough for chroma above ~100 Hz
TOP_DB = 80.0  # librosa.power_to_db's floor below the loudest bin
_QUANT_STEPS = (0.4, 0.2, 0.1, 0.05)  # librosa chroma_cens' quantisation (Mueller & Ewert 2011)
# Onset peak picking at 60 fps (librosa.onset.onset_detect's defaults in frames), post_avg cut to 3.
_PRE_MAX, _POST_MAX, _PRE_AVG, _POST_AVG, _WAIT, _DELTA = 1, 1, 6, 3, 1, 0.07
# Beat tracker (BTrack, Stark et al. 2009): weight of the past in the cumulative score, and how
# sharply a predecessor beat is preferred at one period back (log-Gaussian).
_ALPHA, _BEAT_TIGHTNESS = 0.9, 5.0
_TEMPO_WINDOW_S, _TEMPO_EVERY_S, _TEMPO_STD_OCTAVES = 8.0, 1.0, 1.0  # librosa.feature.tempo's prior width
_MIN_BPM, _MAX_BPM = 40.0, 240.0


def _window_weights(n: int) -> np.ndarray:
    """The last ``n`` taps (current frame last) of librosa chroma_cens' smoothing window of
    ``2 n - 1`` frames (hann of ``2 n + 1`` points without its zero ends), renormalised."""
    full = np.hanning(2 * n + 1)[1:-1]
    half = full[:n]
    return (half / half.sum()).astype(np.float64)


def _chroma_basis(sr: int, n_chroma: int, n_octaves: int) -> np.ndarray:
    """``(n_chroma, 1 + CHROMA_N_FFT / 2)`` weights of STFT bins onto chroma: librosa's, tuned to
    A440, every octave weighed alike (``octwidth=None``) and only the reference CQT's range (C1 and
    ``n_octaves`` octaves up) kept, as the CQT under chroma_cens sees it. On three Dance-with-Melody
    songs this raised the correlation with the reference chroma (10 frames earlier: the causal
    smoothing's lag) from 0.58 with librosa's default octave weighting (around C5) to 0.74."""
    basis = librosa.filters.chroma(sr=sr, n_fft=CHROMA_N_FFT, n_chroma=n_chroma, tuning=0.0, octwidth=None)
    freqs = np.fft.rfftfreq(CHROMA_N_FFT, 1.0 / sr)
    c1 = librosa.note_to_hz("C1")
    basis[:, (freqs < c1 * 2 ** (-1 / 24)) | (freqs > c1 * 2 ** (n_octaves - 1 / 24))] = 0.0
    return basis


class StreamFeatures:
    """FACT music features from audio blocks as they arrive: ``push(samples) -> new rows``.

    ``spec`` is a :class:`aichoreo.audio.MusicFeatureSpec` (sample rate, hop, STFT size, mel bands,
    MFCC and chroma counts, smoothing window). ``bpm`` is the beat tracker's tempo prior (the
    reference's ``start_bpm``); 120 when unknown. Row ``t`` describes music time ``t / fps`` and is
    returned by the first ``push`` after sample ``t * hop + n_fft / 2`` arrived; :meth:`finish`
    returns the rest (the audio after the end taken as silence, as the centred STFT pads it), so a
    whole stream gives ``1 + n_samples // hop`` rows, as :func:`aichoreo.audio.music_features` does.
    Samples are mono float at ``spec.sample_rate``. Memory is bounded: a few hundred kB of history,
    whatever the length of the stream.
    """

    def __init__(self, spec: Any, *, bpm: float | None = None):
        self.spec = spec
        self.sr, self.hop, self.n_fft = int(spec.sample_rate), int(spec.hop_length), int(spec.n_fft)
        self.fps = self.sr // self.hop
        if self.n_fft // 2 != LOOKAHEAD_FRAMES * self.hop:
            raise ValueError(f"streaming features need n_fft = {2 * LOOKAHEAD_FRAMES} hops "
                             f"({2 * LOOKAHEAD_FRAMES * self.hop} samples), got n_fft {self.n_fft}")
        self.n_samples = 0  # samples received
        self.rows = 0  # rows returned
        self._keep = CHROMA_N_FFT  # samples of history every row needs (the longer window)
        self._audio = np.zeros(self._keep, dtype=np.float32)  # ends at absolute sample self._end
        self._end = 0  # absolute index after the buffer's last sample (silence before 0)
        self._mel_basis = librosa.filters.mel(sr=self.sr, n_fft=self.n_fft, n_mels=spec.n_mels).astype(np.float32)
        self._chroma_basis = _chroma_basis(self.sr, spec.n_chroma, spec.n_octaves)
        self._hann = librosa.filters.get_window("hann", self.n_fft, fftbins=True).astype(np.float32)
        self._hann_chroma = librosa.filters.get_window("hann", CHROMA_N_FFT, fftbins=True).astype(np.float32)
        self._smooth = _window_weights((spec.cens_window + 1) // 2)  # (n,), current frame last
        self._quant = np.zeros((self._smooth.size, spec.n_chroma))  # the last n quantised chroma frames
        self._db_max = -np.inf  # loudest mel bin so far (dB)
        self._prev_db: np.ndarray | None = None  # the previous row's mel dB
        # Envelope rows t - _PRE_AVG .. t + LOOKAHEAD_FRAMES around the row being finished.
        self._env = np.zeros(0)  # envelope of rows self._env_first ..
        self._env_first = 0
        self._env_max = 0.0  # the envelope's maximum so far (its minimum is 0: rows 0-2 are 0)
        self._last_onset = -10**9
        self._beats = _BeatTracker(self.fps, 120.0 if bpm is None else float(bpm))

    @property
    def tempo(self) -> float:
        """The beat tracker's current tempo estimate, in BPM."""
        return 60.0 * self.fps / self._beats.period

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Take the next mono samples ``(n,)``; return the rows ``(k, 35)`` float32 now final."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._audio = np.concatenate([self._audio, samples])
        self._end += samples.size
        self.n_samples += samples.size
        return self._rows_until(self.n_samples)

    def finish(self) -> np.ndarray:
        """The remaining rows ``(k, 35)``, the audio after the last sample taken as silence."""
        total = 1 + self.n_samples // self.hop
        last_end = (total - 1) * self.hop + self.n_fft // 2
        pad = max(0, last_end - self._end)
        self._audio = np.concatenate([self._audio, np.zeros(pad, dtype=np.float32)])
        self._end += pad
        return self._rows_until(last_end)

    def _rows_until(self, available: int) -> np.ndarray:
        """Every row whose window ends at or before absolute sample ``available``."""
        half = self.n_fft // 2
        n = max(0, (available - half) // self.hop + 1 - self.rows)
        if n == 0:
            return np.zeros((0, self.spec.feature_dim), dtype=np.float32)
        t = self.rows + np.arange(n)
        ends = t * self.hop + half - (self._end - self._audio.size)  # window ends, buffer indices
        out = np.empty((n, self.spec.feature_dim), dtype=np.float32)
        for first in range(0, n, 512):  # bounded working memory for a whole song at once
            sl = slice(first, min(n, first + 512))
            out[sl] = self._columns(ends[sl])
        self._audio = self._audio[-self._keep:]
        return out

    def _columns(self, ends: np.ndarray) -> np.ndarray:
        """Rows ``self.rows ..`` for windows ending at buffer indices ``ends (k,)``."""
        spec, k = self.spec, ends.size
        frames = np.lib.stride_tricks.sliding_window_view(self._audio, self.n_fft)[ends - self.n_fft]
        power = np.abs(np.fft.rfft(frames * self._hann, axis=1)) ** 2  # (k, 1 + n_fft / 2)
        mel = power.astype(np.float32) @ self._mel_basis.T  # (k, n_mels)
        db = 10.0 * np.log10(np.maximum(1e-10, mel))
        running = np.maximum.accumulate(np.maximum(db.max(axis=1), self._db_max))
        self._db_max = float(running[-1])
        db = np.maximum(db, running[:, None] - TOP_DB)  # librosa.power_to_db(top_db=80), floor so far
        mfcc = librosa.feature.mfcc(S=db.T, n_mfcc=spec.n_mfcc).T  # (k, n_mfcc)
        # librosa.onset.onset_strength(S=mel_db, lag=1, center=True) pads lag + n_fft // (2 hop) = 3
        # zeros in front: the mean positive difference from frame t - 1 to t is the envelope of row
        # t + 2, so when row t is finished the envelope is known up to row t + 2 (rows 0-2 are 0).
        previous = np.concatenate([self._prev_db[None] if self._prev_db is not None else db[:1], db[:-1]])
        env_new = np.mean(np.maximum(0.0, db - previous), axis=1)
        if self._prev_db is None:
            env_new = np.concatenate([[0.0, 0.0], env_new])  # rows 0, 1; row 2 is the 0 above
        self._prev_db = db[-1]
        self._env = np.concatenate([self._env, env_new])

        chroma_frames = np.lib.stride_tricks.sliding_window_view(self._audio, CHROMA_N_FFT)[ends - CHROMA_N_FFT]
        magnitude = np.abs(np.fft.rfft(chroma_frames * self._hann_chroma, axis=1))  # (k, 1 + 4096)
        chroma = magnitude @ self._chroma_basis.T  # (k, n_chroma)
        total = chroma.sum(axis=1, keepdims=True)
        chroma = np.divide(chroma, total, out=np.zeros_like(chroma), where=total > 0)
        quant = sum(0.25 * (chroma > step) for step in _QUANT_STEPS)  # (k, n_chroma)
        history = np.concatenate([self._quant, quant])  # (n - 1 + k, n_chroma) after the first n - 1
        windows = np.lib.stride_tricks.sliding_window_view(history, self._smooth.size, axis=0)[1:]
        smoothed = windows @ self._smooth  # (k, n_chroma)
        self._quant = history[-self._smooth.size:]
        norm = np.linalg.norm(smoothed, axis=1, keepdims=True)
        cens = np.divide(smoothed, norm, out=np.zeros_like(smoothed), where=norm > 0)

        out = np.empty((k, spec.feature_dim), dtype=np.float32)
        out[:, 1:1 + spec.n_mfcc] = mfcc
        out[:, 1 + spec.n_mfcc:spec.onset_column] = cens
        for i in range(k):  # sequential: the running normalisation, the wait, the beat tracker
            t = self.rows
            env_t = self._env[t - self._env_first]
            out[i, 0] = env_t
            out[i, spec.onset_column] = self._onset(t)
            out[i, spec.beat_column] = self._beats.step(env_t, t)
            self.rows += 1
        drop = max(0, self.rows - _PRE_AVG - self._env_first)
        self._env, self._env_first = self._env[drop:], self._env_first + drop
        return out

    def _onset(self, t: int) -> float:
        """librosa.util.peak_pick at row ``t`` on the envelope divided by its maximum so far (rows
        up to ``t + LOOKAHEAD_FRAMES`` are known; the minimum is 0, the first rows' value)."""
        env, first = self._env, self._env_first
        self._env_max = max(self._env_max, float(env[t + LOOKAHEAD_FRAMES - first]))
        if self._env_max <= 0:
            return 0.0
        lo, hi = max(0, t - _PRE_AVG), t + _POST_AVG
        window = env[lo - first:hi - first] / self._env_max
        x = window[t - lo]
        if (x == window[max(0, t - _PRE_MAX) - lo:t + _POST_MAX - lo].max() and x >= window.mean() + _DELTA
                and t > self._last_onset + _WAIT):
            self._last_onset = t
            return 1.0
        return 0.0


class _BeatTracker:
    """Causal beat tracking after BTrack (Stark, Davies & Plumbley, "Real-time beat-synchronous
    analysis of musical audio", DAFx 2009), re-written: a cumulative score
    ``C[n] = (1 - a) env[n] + a max_d w(d) C[n - d]`` over predecessors half a period to two
    periods back, the period re-estimated every second from the last 8 s of envelope
    (autocorrelation weighted by a log-normal around the tempo prior, as librosa.feature.tempo
    weighs it), and half a period after each beat the next one predicted by running the score one
    period forward with no new input, weighted by a Gaussian around one period after the last beat."""

    def __init__(self, fps: int, bpm: float):
        self.fps, self.prior_bpm = fps, bpm
        self.period = max(2, int(round(60.0 * fps / bpm)))
        self._cap = 4 * int(60 * fps / _MIN_BPM) + 4  # score history kept (two slowest periods, twice)
        self.score = np.zeros(0)  # scores of the last rows, the newest last
        self.env = np.zeros(0)  # envelope of the last rows (tempo window)
        self.last_beat: int | None = None
        self.next_beat: int | None = None
        self._rows = 0

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        d = np.arange(max(1, self.period // 2), 2 * self.period + 1)
        return d, np.exp(-0.5 * (_BEAT_TIGHTNESS * np.log(d / self.period)) ** 2)

    def _tempo(self) -> None:
        x = self.env[-int(_TEMPO_WINDOW_S * self.fps):]
        if x.size < 2 * self.fps or not x.any():
            return
        x = (x - x.mean()) * np.hanning(x.size)
        ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * x.size)) ** 2)[:x.size]
        lags = np.arange(int(60 * self.fps / _MAX_BPM), min(x.size, int(60 * self.fps / _MIN_BPM) + 1))
        if lags.size == 0 or ac[0] <= 0:
            return
        bpm = 60.0 * self.fps / lags
        prior = np.exp(-0.5 * ((np.log2(bpm) - np.log2(self.prior_bpm)) / _TEMPO_STD_OCTAVES) ** 2)
        self.period = int(lags[np.argmax(ac[lags] * prior)])

    @staticmethod
    def _best_past(score: np.ndarray, d: np.ndarray, w: np.ndarray) -> float:
        back = d[d <= score.size]
        return float(np.max(w[:back.size] * score[score.size - back])) if back.size else 0.0

    def step(self, env: float, t: int) -> float:
        """Take the envelope of row ``t`` (rows in order); 1.0 when ``t`` is a beat, else 0.0."""
        self.env = np.append(self.env[-int(_TEMPO_WINDOW_S * self.fps) + 1:], env)
        self._rows += 1
        if self._rows % int(_TEMPO_EVERY_S * self.fps) == 0:
            self._tempo()
        d, w = self._weights()
        value = (1 - _ALPHA) * env + _ALPHA * self._best_past(self.score, d, w)
        self.score = np.append(self.score[-self._cap + 1:], value)
        beat = 0.0
        if self.next_beat is not None and t >= self.next_beat:
            beat, self.last_beat, self.next_beat = 1.0, t, None
        anchor = self.last_beat if self.last_beat is not None else 0
        if self.next_beat is None and t >= anchor + self.period // 2 and t >= 2 * self.fps:
            self.next_beat = self._predict(t, d, w)
        return beat

    def _predict(self, t: int, d: np.ndarray, w: np.ndarray) -> int:
        future = np.concatenate([self.score, np.zeros(self.period)])
        n = self.score.size
        for i in range(self.period):
            future[n + i] = _ALPHA * self._best_past(future[:n + i], d, w)
        rows = t + 1 + np.arange(self.period)
        expected = self.last_beat + self.period if self.last_beat is not None else t + self.period // 2
        expected = max(expected, t + 1)
        gauss = np.exp(-0.5 * ((rows - expected) / (self.period / 4.0)) ** 2)
        return int(rows[np.argmax(future[n:] * gauss)])


def stream_features(audio: np.ndarray, spec: Any, *, bpm: float | None = None, block: int = 1 << 15,
                    return_tempo: bool = False) -> np.ndarray | tuple[np.ndarray, float]:
    """The ``(1 + n // hop, 35)`` float32 streamed features of a whole song ``(n,)`` (``spec`` as for
    :class:`StreamFeatures`), fed ``block`` samples at a time: what a live run computes (any block
    size gives the same rows to float32 rounding). ``return_tempo`` also returns the beat
    tracker's last tempo in BPM."""
    stream = StreamFeatures(spec, bpm=bpm)
    rows = [stream.push(audio[i:i + block]) for i in range(0, audio.size, block)]
    rows.append(stream.finish())
    features = np.concatenate(rows)
    return (features, stream.tempo) if return_tempo else features


"""Streamed music features (aichoreo.featurestream): causal, block-size free, and how close they come
to the reference's whole-song features (measured on generated music and on real songs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aichoreo.audio import DEFAULT_SPEC, SAMPLE_RATE, STREAM_SPEC, MusicFeatureSpec, load_audio, music_features
from aichoreo.featurestream import LOOKAHEAD_FRAMES, StreamFeatures, stream_features

HOP = DEFAULT_SPEC.hop_length
DATA = Path(os.environ.get("AICHOREO_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def song(seconds: float = 24.0, bpm: float = 120.0, seed: int = 0) -> np.ndarray:
    """Generated music ``(n,)`` at 30,720 Hz: a kick on every beat, a hi-hat between, and a chord
    that changes every two bars (C, A minor, F, G), so that every column has something to follow."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    y = np.zeros(n)
    period = 60.0 / bpm
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    for bar in range(int(seconds / (8 * period)) + 1):
        lo, hi = int(bar * 8 * period * SAMPLE_RATE), int((bar + 1) * 8 * period * SAMPLE_RATE)
        for f in chords[bar % 4]:
            y[lo:hi] += 0.08 * np.sin(2 * np.pi * f * t[lo:hi])
    kick_t = np.arange(int(0.12 * SAMPLE_RATE)) / SAMPLE_RATE
    kick = 0.9 * np.sin(2 * np.pi * (50 + 80 * np.exp(-kick_t / 0.03)) * kick_t) * np.exp(-kick_t / 0.05)
    hat = 0.2 * rng.standard_normal(int(0.03 * SAMPLE_RATE)) * np.exp(-np.arange(int(0.03 * SAMPLE_RATE)) / 200)
    for k in range(int(seconds / period)):
        for start, sound in ((k * period, kick), ((k + 0.5) * period, hat)):
            i = int(start * SAMPLE_RATE)
            piece = y[i:i + sound.size]
            piece += sound[:piece.size]
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def f_measure(reference: np.ndarray, found: np.ndarray, tolerance: int) -> float:
    """F-measure of event frames ``found`` against ``reference`` within ``tolerance`` frames."""
    if reference.size == 0 or found.size == 0:
        return 0.0
    recall = np.mean([np.abs(found - r).min() <= tolerance for r in reference])
    precision = np.mean([np.abs(reference - f).min() <= tolerance for f in found])
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


def closeness(reference: np.ndarray, streamed: np.ndarray, skip_s: float = 5.0) -> dict[str, float]:
    """How close streamed features come to the reference's, after the first ``skip_s`` seconds
    (where the running dB floor and normalisation settle)."""
    a, b = reference[int(skip_s * 60):], streamed[int(skip_s * 60):]
    corr = {name: float(np.corrcoef(a[:, cols].ravel(), b[:, cols].ravel())[0, 1])
            for name, cols in (("envelope", slice(0, 1)), ("mfcc", slice(1, 21)), ("chroma", slice(21, 33)))}
    on_a, on_b = np.flatnonzero(a[:, 33]), np.flatnonzero(b[:, 33])
    beat_a, beat_b = np.flatnonzero(a[:, 34]), np.flatnonzero(b[:, 34])
    return {**corr, "onset_f_2": f_measure(on_a, on_b, 2), "beat_f_4": f_measure(beat_a, beat_b, 4)}


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return song()


@pytest.fixture(scope="module")
def streamed(music) -> np.ndarray:
    return stream_features(music, STREAM_SPEC, block=SAMPLE_RATE)


def test_rows_are_the_reference_rows_in_shape_and_time(music, streamed):
    for n in (100, 1024, 2048, 2049, 30_000):
        assert stream_features(music[:n], STREAM_SPEC).shape == (1 + n // HOP, 35)
    assert streamed.shape == music_features(music).shape
    assert streamed.dtype == np.float32 and np.isfinite(streamed).all()


def test_any_block_size_gives_the_same_rows(music, streamed):
    for block in (1, 333, 512, 4096):
        if block == 1:
            other = stream_features(music[:20_000], STREAM_SPEC, block=1)
            np.testing.assert_allclose(other, stream_features(music[:20_000], STREAM_SPEC), atol=1e-4)
            continue
        other = stream_features(music, STREAM_SPEC, block=block)
        np.testing.assert_allclose(other[:, :33], streamed[:, :33], atol=1e-4)
        np.testing.assert_array_equal(other[:, 33:], streamed[:, 33:])


def test_a_row_is_final_two_frames_after_its_time_and_never_changes(music, streamed):
    """Row t arrives with sample t * hop + n_fft / 2; what comes after never changes it."""
    stream = StreamFeatures(STREAM_SPEC)
    t = 300
    need = t * HOP + DEFAULT_SPEC.n_fft // 2
    got = stream.push(music[:need - 1])
    assert len(got) == t  # rows 0 .. t - 1
    got = stream.push(music[need - 1:need])
    assert len(got) == 1
    np.testing.assert_allclose(got[0], streamed[t], atol=1e-4)
    assert LOOKAHEAD_FRAMES * HOP == DEFAULT_SPEC.n_fft // 2
    # Other audio afterwards (silence, noise) leaves every row up to t as it was.
    noise = np.random.default_rng(1).standard_normal(music.size - need).astype(np.float32) * 0.5
    other = stream_features(np.concatenate([music[:need], noise]), STREAM_SPEC)
    np.testing.assert_allclose(other[:t + 1], streamed[:t + 1], atol=1e-4)
    assert not np.allclose(other[t + 10:], streamed[t + 10:], atol=1e-3)


def test_streamed_features_follow_the_reference_on_generated_music(music, streamed):
    """Measured (docs/live.md): envelope and MFCC as the reference once the running floor has met
    the loud parts; chroma of another transform (the reference's CQT chroma of this song is blurred
    by the kick: correlation 0.51) that names each chord; onsets within 2 frames, beats within 4
    frames (67 ms) and the tempo found."""
    c = closeness(music_features(music), streamed)
    assert c["envelope"] > 0.99 and c["mfcc"] > 0.99, c
    assert c["chroma"] > 0.4, c
    chords = [{0, 4, 7}, {9, 0, 4}, {5, 9, 0}, {7, 11, 2}]  # C, A minor, F, G: pitch classes
    for bar in range(6):
        middle = int((bar + 0.5) * 4.0 * 60)  # two 4/4 bars at 120 BPM = 4 s
        top = set(np.argsort(streamed[middle, 21:33])[-3:].tolist())
        assert top == chords[bar % 4], (bar, top)
    assert c["onset_f_2"] > 0.8, c
    assert c["beat_f_4"] > 0.9, c
    assert abs(StreamFeatures(STREAM_SPEC).tempo - 120.0) < 1e-9  # the prior, before any audio
    _, tempo = stream_features(music, STREAM_SPEC, return_tempo=True)
    assert abs(tempo - 120.0) < 3.0


def test_streamed_features_follow_the_reference_on_real_songs():
    """On three Dance-with-Melody songs, 60 s each: the numbers docs/live.md reports."""
    folder = DATA / "dance_with_melody"
    songs = sorted(folder.rglob("*.mp3"))[::12][:3] if folder.is_dir() else []
    if not songs:
        pytest.skip(f"no Dance-with-Melody songs under {folder} (set AICHOREO_DATA)")
    rows = []
    for path in songs:
        y = load_audio(path)[:60 * SAMPLE_RATE]
        rows.append(closeness(music_features(y), stream_features(y, STREAM_SPEC)))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    assert mean["envelope"] > 0.98 and mean["mfcc"] > 0.98, mean
    assert mean["chroma"] > 0.45, mean
    assert mean["onset_f_2"] > 0.7, mean
    assert mean["beat_f_4"] > 0.5, mean


def test_the_stream_spec_is_recorded_and_the_reference_spec_unchanged():
    assert "stream" not in DEFAULT_SPEC.to_dict()  # cache keys and model files of before stay valid
    assert STREAM_SPEC.to_dict()["stream"] is True
    assert MusicFeatureSpec.from_dict(STREAM_SPEC.to_dict()) == STREAM_SPEC
    assert MusicFeatureSpec.from_dict(DEFAULT_SPEC.to_dict()) == DEFAULT_SPEC
    assert STREAM_SPEC.key() != DEFAULT_SPEC.key()
    with pytest.raises(ValueError, match="stream"):
        MusicFeatureSpec(stream="yes")
    # music_features computes the spec it is given.
    y = song(4.0)
    np.testing.assert_allclose(music_features(y, spec=STREAM_SPEC), stream_features(y, STREAM_SPEC), atol=1e-5)


def test_silence_and_a_spec_without_the_half_window_lookahead():
    quiet = stream_features(np.zeros(20_000, np.float32), STREAM_SPEC)
    assert np.isfinite(quiet).all() and not quiet[:, 33:].any()
    with pytest.raises(ValueError, match="n_fft"):
        StreamFeatures(MusicFeatureSpec(n_fft=4096, stream=True))

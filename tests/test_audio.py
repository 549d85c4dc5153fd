"""Music features (aichoreo.audio): conformance with mint's numbers, beats of click tracks,
loading, errors, tempo ids and the feature cache."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from aichoreo import audio
from aichoreo.audio import (
    BEATS, CHROMA, DEFAULT_SPEC, ENVELOPE, FEATURE_DIM, FPS, HOP_LENGTH, MFCC, ONSET_PEAKS,
    SAMPLE_RATE, FeatureCache, MusicFeatureSpec, beat_frames, estimate_tempo,
    features_for_files, load_audio, music_features, song_features, tempo_from_music_id,
)
from aichoreo.errors import InputError

SR = SAMPLE_RATE


def click_track(bpm: float, seconds: float = 20.0, offset: float = 0.25,
                sample_rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Mono float32 clicks (20 ms decaying 1 kHz bursts) every 60/bpm s from ``offset``;
    returns the audio ``(n,)`` and the click times (s)."""
    y = np.zeros(int(seconds * sample_rate), np.float32)
    t = np.arange(int(0.02 * sample_rate)) / sample_rate
    burst = (0.8 * np.sin(2 * np.pi * 1000.0 * t) * np.exp(-t / 0.004)).astype(np.float32)
    times = np.arange(offset, seconds - 0.05, 60.0 / bpm)
    for start in np.round(times * sample_rate).astype(int):
        piece = y[start:start + burst.size]
        piece += burst[:piece.size]
    return y, times


@pytest.fixture(scope="module")
def short_song(tmp_path_factory) -> Path:
    """A 3 s, 120 BPM click track as a 30,720 Hz wav (no resampling: fast)."""
    path = tmp_path_factory.mktemp("songs") / "clicks.wav"
    soundfile.write(path, click_track(120, seconds=3.0)[0], SR, subtype="FLOAT")
    return path


# --- constants and spec ----------------------------------------------------------------------

def test_constants_and_default_spec():
    assert (SAMPLE_RATE, HOP_LENGTH, FPS, FEATURE_DIM) == (30720, 512, 60, 35)
    assert SAMPLE_RATE / HOP_LENGTH == FPS
    columns = np.arange(FEATURE_DIM)
    assert columns[ENVELOPE] == 0 and list(columns[MFCC]) == list(range(1, 21))
    assert list(columns[CHROMA]) == list(range(21, 33)) and (ONSET_PEAKS, BEATS) == (33, 34)
    assert DEFAULT_SPEC.fps == 60 and DEFAULT_SPEC.feature_dim == 35
    assert (DEFAULT_SPEC.onset_column, DEFAULT_SPEC.beat_column) == (ONSET_PEAKS, BEATS)
    assert audio.EDGE_SPEC.fps == 30


def test_spec_round_trip_key_and_validation():
    spec = MusicFeatureSpec(tightness=50.0)
    assert MusicFeatureSpec.from_dict(spec.to_dict()) == spec
    assert spec.key() != DEFAULT_SPEC.key() and DEFAULT_SPEC.key() == MusicFeatureSpec().key()
    with pytest.raises(ValueError, match="whole number of hops"):
        MusicFeatureSpec(hop_length=500)
    with pytest.raises(ValueError, match="multiple of n_chroma"):
        MusicFeatureSpec(bins_per_octave=30)
    with pytest.raises(ValueError, match="unknown"):
        MusicFeatureSpec.from_dict({"fps": 60})


# --- conformance with the reference ----------------------------------------------------------

@pytest.mark.parametrize("name, bpm", [("loop_amen_full", 140), ("loop_compus", 148)])
def test_conformance_with_mint_features(shared_data, conformance, name, bpm):
    """mint tools/preprocessing.py on the CC0 loops (librosa 0.11): every column."""
    expected = np.load(conformance / f"{name}_bpm{bpm}_features.npy")
    y = load_audio(shared_data / "music" / f"{name}.flac")
    got = music_features(y, bpm=bpm)
    assert got.dtype == np.float32 and got.shape == expected.shape == (1 + y.size // 512, 35)
    for columns in (ENVELOPE, MFCC, CHROMA):
        scale = np.abs(expected[:, columns]).max()
        np.testing.assert_allclose(got[:, columns], expected[:, columns], rtol=1e-5,
                                   atol=1e-5 * scale, err_msg=f"columns {columns}")
    np.testing.assert_array_equal(got[:, ONSET_PEAKS], expected[:, ONSET_PEAKS])
    np.testing.assert_array_equal(got[:, BEATS], expected[:, BEATS])
    assert set(np.unique(got[:, ONSET_PEAKS:])) <= {0.0, 1.0} and beat_frames(got).size >= 10


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # librosa.load imports audioread
def test_load_audio_equals_librosa_load(shared_data, tmp_path):
    """Bit-identical to the reference's loader: stereo 44.1 kHz flac, and a 3-channel wav."""
    path = shared_data / "music" / "loop_breakbeat.flac"
    np.testing.assert_array_equal(load_audio(path), librosa.load(path, sr=SR)[0])
    three = tmp_path / "three.wav"
    soundfile.write(three, np.random.default_rng(3).uniform(-0.5, 0.5, (22050, 3)), 22050,
                    subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(three), librosa.load(three, sr=SR)[0])


# --- beats and tempo on click tracks ---------------------------------------------------------

def test_click_track_120_bpm_beats_every_30_frames():
    y, clicks = click_track(120)
    features = music_features(y, bpm=120)
    beats = beat_frames(features)
    spacing = np.diff(beats)
    assert beats.size >= 35
    assert np.median(spacing) == 30
    assert np.mean(np.abs(spacing - 30) <= 1) >= 0.95
    # Every beat lands on a click: the onset envelope peaks one frame after the click starts.
    click_frames = clicks * FPS
    assert np.abs(beats[:, None] - click_frames[None, :]).min(axis=1).max() <= 2
    peaks = np.flatnonzero(features[:, ONSET_PEAKS])
    assert np.abs(peaks[:, None] - click_frames[None, :]).min(axis=1).max() <= 2


@pytest.mark.parametrize("bpm", [120, 90])
def test_tempo_estimate_of_click_tracks(bpm):
    """The estimate follows the clicks, not the 120 BPM prior, and feeds the beat tracker."""
    y, _ = click_track(bpm)
    features = music_features(y)  # bpm=None: estimated
    assert estimate_tempo(features[:, ENVELOPE]) == pytest.approx(bpm, abs=1.0)
    assert estimate_tempo(audio=y) == pytest.approx(bpm, abs=1.0)
    assert np.median(np.diff(beat_frames(features))) == pytest.approx(60 * FPS / bpm, abs=1)
    np.testing.assert_array_equal(features, music_features(y, bpm=estimate_tempo(audio=y)))


@pytest.mark.parametrize("n", [3000, 5120, SR + 511])
def test_frame_count_formula(n):
    y = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    assert music_features(y, bpm=120).shape == (1 + n // HOP_LENGTH, FEATURE_DIM)


def test_tempo_from_music_id():
    assert tempo_from_music_id("mBR0") == 80
    assert tempo_from_music_id("mHO5") == 135
    assert tempo_from_music_id("gBR_sBM_cAll_d04_mBR3_ch01") == 110
    assert tempo_from_music_id("mKR2") == 100 and tempo_from_music_id("mHO0") == 110
    assert tempo_from_music_id(Path("music") / "mJB5.wav") == 130
    for name in ("song", "mXX1", "gBR_sBM_cAll_d04_ch01", "mBR", "my_mBR0x"):
        assert tempo_from_music_id(name) is None


def test_beat_frames_checks_width():
    with pytest.raises(ValueError, match=r"\(T, 35\)"):
        beat_frames(np.zeros((10, 34)))


# --- loading and errors ----------------------------------------------------------------------

@pytest.mark.parametrize("ext, fmt, subtype, rate", [
    ("wav", "WAV", "PCM_16", 44100), ("flac", "FLAC", "PCM_16", 44100),
    ("ogg", "OGG", "VORBIS", 44100), ("opus", "OGG", "OPUS", 48000),
])
def test_load_audio_formats_resample_and_mono(tmp_path, ext, fmt, subtype, rate):
    seconds = 1.0
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * 440.0 * t)
    path = tmp_path / f"tone.{ext}"
    soundfile.write(path, np.stack([0.6 * tone, 0.2 * tone], axis=1), rate, format=fmt,
                    subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.size == int(np.ceil(soundfile.info(path).frames * SR / rate))
    # Mono is the mean of the channels; the tone keeps its pitch through resampling.
    lossy = subtype in ("VORBIS", "OPUS")
    middle = y[y.size // 4: 3 * y.size // 4]
    rms = float(np.sqrt(np.mean(middle.astype(np.float64) ** 2)))
    assert rms == pytest.approx(0.4 / np.sqrt(2), rel=0.05 if lossy else 0.001)
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(y.size, 1 / SR)[spectrum.argmax()] == pytest.approx(440, abs=2)


def test_load_audio_mp3(tmp_path):
    path = tmp_path / "tone.mp3"
    t = np.arange(44100) / 44100
    try:
        soundfile.write(path, 0.5 * np.sin(2 * np.pi * 440.0 * t), 44100, format="MP3")
    except (soundfile.LibsndfileError, TypeError, ValueError) as error:
        pytest.skip(f"this libsndfile cannot write mp3: {error}")
    y = load_audio(path)
    assert abs(y.size - SR) <= 2048  # mp3 frames pad the ends
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(y.size, 1 / SR)[spectrum.argmax()] == pytest.approx(440, abs=2)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    no_samples = tmp_path / "no_samples.wav"
    soundfile.write(no_samples, np.zeros(0, np.float32), SR)
    return {
        "missing": (tmp_path / "missing.wav", "not found"),
        "empty": (empty, "empty file"),
        "corrupt": (corrupt, "not an audio file or corrupt"),
        "no samples": (no_samples, "zero-length audio"),
        "folder": (tmp_path, "folder"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "no samples", "folder"])
def test_bad_files_raise_input_error_naming_the_file(tmp_path, case):
    path, problem = _bad_files(tmp_path)[case]
    with pytest.raises(InputError, match=problem) as info:
        load_audio(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    assert info.value.path == str(path)


@pytest.mark.parametrize("bad, problem", [
    (np.zeros((2, 1000), np.float32), "mono"), (np.zeros(0, np.float32), "zero-length"),
    (np.array([0.0, np.nan] * 600), "NaN"), (np.zeros(1000, np.int16), "float"),
    (np.array([0.0, 1e17] * 600, np.float32), "samples of 1e\\+17"),
])
def test_bad_arrays_raise_input_error(bad, problem):
    with pytest.raises(InputError, match=problem):
        music_features(bad, path="song.wav")


@pytest.mark.parametrize("bpm", [0, -120, float("nan"), "120"])
def test_bad_bpm_raises_input_error(bpm):
    with pytest.raises(InputError, match="bpm must be a positive number"):
        music_features(np.zeros(4096, np.float32) + 0.1, bpm=bpm)


def test_a_float_wav_far_beyond_full_scale_is_refused(tmp_path):
    """Samples of 1e17 overflowed the float32 spectra: librosa's "Input must be finite" traceback."""
    path = tmp_path / "loud.wav"
    soundfile.write(path, np.sin(np.arange(SR) / 5.0).astype(np.float32) * 1e17, SR, subtype="FLOAT")
    with pytest.raises(InputError, match=r"loud\.wav: audio has samples of 1e\+17"):
        load_audio(path)
    soundfile.write(path, np.sin(np.arange(SR) / 5.0).astype(np.float32) * 4, SR, subtype="FLOAT")
    assert np.abs(load_audio(path)).max() > 3  # past full scale, but audio: read


def test_silence_warns_and_gives_features(tmp_path):
    path = tmp_path / "quiet.wav"
    soundfile.write(path, np.full(SR * 2, 1e-5, np.float32), SR, subtype="FLOAT")  # -100 dBFS
    with pytest.warns(UserWarning, match="silent") as record:
        features = song_features(path, bpm=120)
    assert len(record) == 1 and str(path) in str(record[0].message)
    assert features.shape == (1 + 2 * SR // HOP_LENGTH, FEATURE_DIM)
    assert np.isfinite(features).all()
    with pytest.warns(UserWarning, match="silent"):
        zero = music_features(np.zeros(SR, np.float32))
    assert np.isfinite(zero).all() and zero[:, BEATS].sum() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quiet but audible music must not warn
        music_features(click_track(120, seconds=2.0)[0] * 1e-3, bpm=120)


def test_song_features_takes_tempo_from_aist_music_id(tmp_path):
    """A song named mBR0 gets the 80 BPM prior, not the estimate."""
    y, _ = click_track(80, seconds=12.0)
    path = tmp_path / "mBR0.wav"
    soundfile.write(path, y, SR, subtype="FLOAT")
    np.testing.assert_array_equal(song_features(path), music_features(y, bpm=80))


# --- cache -----------------------------------------------------------------------------------

def test_cache_hit_is_identical_and_does_not_decode(tmp_path, short_song, monkeypatch):
    cache = FeatureCache(tmp_path / "cache")
    real_load = audio.load_audio
    calls = []

    def load_once(*args, **kwargs):
        calls.append(args)
        if len(calls) > 1:
            raise AssertionError("a cache hit decoded the audio")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(audio, "load_audio", load_once)
    first = cache.get_or_compute(short_song, bpm=120)
    second = cache.get_or_compute(short_song, bpm=120)
    assert len(calls) == 1 and second.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, music_features(real_load(short_song), bpm=120))
    # The key follows the bytes, not the name; it changes with the tempo prior and the spec.
    renamed = tmp_path / "renamed.wav"
    renamed.write_bytes(short_song.read_bytes())
    np.testing.assert_array_equal(cache.get_or_compute(renamed, bpm=120), first)
    assert len(calls) == 1
    keys = {cache.key(short_song, 120), cache.key(short_song, 121), cache.key(short_song, None),
            cache.key(short_song, 120, MusicFeatureSpec(tightness=50.0))}
    assert len(keys) == 4 and cache.key(renamed, 120) == cache.key(short_song, 120)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        f"{cache.key(short_song, 120)}.npy"]


def test_cache_writes_atomically(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path / "cache")
    good = np.ones((5, FEATURE_DIM), np.float32)
    cache.store("k", good)

    def broken_save(f, array, *args, **kwargs):
        f.write(b"\x93NUMPY half a header")
        raise OSError("disk full")

    monkeypatch.setattr(audio.np, "save", broken_save)
    # A cache only saves time: a failed write is said once and the work goes on.
    with pytest.warns(UserWarning, match="the feature cache cannot be written: disk full; going on without it"):
        assert cache.store("k", np.zeros((5, FEATURE_DIM), np.float32)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.store("new", good) is None
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path / "cache")) == ["k.npy"]  # no temp file, no partial entry
    np.testing.assert_array_equal(cache.load("k"), good)
    assert cache.load("new") is None


def test_a_cache_that_cannot_be_written_warns_once_and_the_features_are_computed(tmp_path, short_song):
    (tmp_path / "afile").write_text("x")
    cache = FeatureCache(tmp_path / "afile" / "cache")  # no folder can be made there, also for root
    with pytest.warns(UserWarning) as said:
        got = [cache.get_or_compute(short_song, bpm=120) for _ in range(2)]
    assert [str(w.message) for w in said] == [
        f"{tmp_path / 'afile' / 'cache'}: the feature cache cannot be written: Not a directory; going on without it"]
    np.testing.assert_array_equal(got[0], song_features(short_song, bpm=120))
    np.testing.assert_array_equal(got[1], got[0])


def test_a_file_named_mp3_that_holds_no_audio_is_one_line_and_quiet(tmp_path, capfd):
    """libsndfile's mp3 decoder printed three notes of its own on the terminal and gave "File does not
    exist" as the reason for a file that exists."""
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(3).bytes(3000))
    with pytest.raises(InputError) as info:
        load_audio(junk)
    assert str(info.value) == f"{junk}: not an audio file or corrupt: no audio found in it"
    assert capfd.readouterr().err == ""


def test_cache_ignores_a_damaged_entry(tmp_path, short_song):
    cache = FeatureCache(tmp_path)
    key = cache.key(short_song, 120)
    for damaged in (b"not an npy file", b""):  # b"": what a power cut after the rename could leave
        cache.entry(key).write_bytes(damaged)
        features = cache.get_or_compute(short_song, bpm=120)
        np.testing.assert_array_equal(np.load(cache.entry(key)), features)


def test_features_for_files_in_two_processes(tmp_path, short_song, monkeypatch):
    other = tmp_path / "clicks90.wav"
    soundfile.write(other, click_track(90, seconds=4.0)[0], SR, subtype="FLOAT")
    cache = FeatureCache(tmp_path / "cache")
    got = features_for_files([short_song, other], bpm=[120, None], cache=cache, workers=2,
                             progress=False)
    np.testing.assert_array_equal(got[0], song_features(short_song, bpm=120))
    np.testing.assert_array_equal(got[1], song_features(other))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(audio, "load_audio", no_decoding)
    again = features_for_files([other, short_song], bpm=[None, 120], cache=cache, progress=False)
    np.testing.assert_array_equal(again[0], got[1])
    np.testing.assert_array_equal(again[1], got[0])


def test_features_for_files_reports_the_bad_file(tmp_path, short_song):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(1).bytes(2048))
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(InputError, match="not an audio file or corrupt") as info:
        features_for_files([short_song, corrupt], bpm=120, cache=cache, workers=2,
                           progress=False)
    assert info.value.path == str(corrupt)
    with pytest.raises(ValueError, match="2 bpm values for 1 files"):
        features_for_files([short_song], bpm=[120, 130], progress=False)


def test_audio_module_does_not_import_torch():
    """Feature workers stay light: aichoreo.audio imports neither torch nor anything above row 1."""
    import ast

    tree = ast.parse(Path(audio.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in imported if m.split(".")[0] == "torch"}
    assert {m for m in imported if m.startswith("aichoreo")} == {"aichoreo.errors", "aichoreo.fileio",
                                                                     "aichoreo.jitcache", "aichoreo.featurestream"}


def test_the_chroma_on_a_second_thread_gives_the_same_bits(monkeypatch):
    """The chroma is computed beside the envelope's steps (one song at a time); the pool's workers
    compute them one after another. Both give the same features."""
    from aichoreo.data.fixtures import click_track

    y = audio._check_audio(click_track(8.0, 123.0, audio.SAMPLE_RATE) + 0.01, None)
    beside = audio._features_of(y, None, audio.DEFAULT_SPEC, None)
    monkeypatch.setattr(audio, "_SIDE_THREAD", False)
    np.testing.assert_array_equal(audio._features_of(y, None, audio.DEFAULT_SPEC, None), beside)

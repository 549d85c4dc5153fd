"""Long songs in bounded memory (issue 13): block-wise spectra, tempo and decoding give the bits of
librosa's whole-song calls (aichoreo.audio), a long dance is decoded to rotations a block at a time
(aichoreo.motion), the working memory does not grow with whole-song temporaries, and a WAV cut
short says so. The end-to-end peaks of the real commands are measured by
benchmarks/memory_bounds.py."""

from __future__ import annotations

import tracemalloc
import warnings

import librosa
import numpy as np
import pytest
import soundfile

from aichoreo import audio, motion
from aichoreo.audio import DEFAULT_SPEC, SAMPLE_RATE, load_audio
from aichoreo.errors import InputError
from aichoreo.rotations import project_to_so3
from aichoreo.skeleton import forward_kinematics

SR = SAMPLE_RATE


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Mono float32 ``(n,)`` at 30,720 Hz: noise, a gliding tone, a chord and clicks at 120 BPM."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR) + 77  # not a whole number of hops
    t = np.arange(n) / SR
    y = 0.05 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 220.0 * t * (1 + 0.01 * np.sin(t)))
    y += 0.1 * np.sin(2 * np.pi * 261.6 * t) + 0.1 * np.sin(2 * np.pi * 329.6 * t)
    y[(np.arange(n) % (SR // 2)) < 300] += 0.5
    return y.astype(np.float32)


def whole_song_features(y: np.ndarray, bpm: float | None) -> np.ndarray:
    """The steps of mint ``tools/preprocessing.py`` as librosa computes them on the whole song
    (aichoreo.audio before block-wise computing): the reference for the block-wise path."""
    spec = DEFAULT_SPEC
    with audio._one_blas_thread():
        magnitude = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, window="hann", center=True,
                                        pad_mode="constant"))
        mel_db = librosa.power_to_db(librosa.feature.melspectrogram(
            S=magnitude**2.0, sr=SR, n_fft=2048, n_mels=128))
        envelope = librosa.onset.onset_strength(S=mel_db, sr=SR, n_fft=2048, hop_length=512)
        mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
        tuning = librosa.estimate_tuning(S=magnitude, sr=SR, n_fft=2048, bins_per_octave=36)
        chroma = librosa.feature.chroma_cens(y=y, sr=SR, hop_length=512, tuning=tuning,
                                             n_chroma=12, n_octaves=7, bins_per_octave=36,
                                             win_len_smooth=41)
        if bpm is None:
            bpm = float(librosa.feature.tempo(onset_envelope=envelope, sr=SR, hop_length=512,
                                              start_bpm=120.0)[0])
        peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=SR, hop_length=512)
        _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=SR, hop_length=512,
                                           start_bpm=bpm, tightness=spec.tightness)
    return np.concatenate([envelope[:, None], mfcc.T, chroma.T,
                           audio._one_hot(peaks, envelope.size)[:, None],
                           audio._one_hot(beats, envelope.size)[:, None]], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    audio._jit_ready()
    return music(24.0)  # 1,441 frames: six blocks of 256, the last one short


@pytest.fixture(scope="module")
def reference(song) -> np.ndarray:
    return whole_song_features(song, None)


@pytest.mark.parametrize("chunk_frames", [256, 1000, audio.CHUNK_FRAMES])
def test_block_wise_features_are_the_whole_song_bits(song, reference, chunk_frames):
    """Every column, tempo estimated: blocks of STFT, CQT and tempogram columns change no bit."""
    got = audio._features_of(song, None, DEFAULT_SPEC, None, chunk_frames=chunk_frames)
    assert got.dtype == np.float32 and got.shape == reference.shape == (1 + song.size // 512, 35)
    np.testing.assert_array_equal(got, reference)
    assert got[:, audio.BEATS].sum() >= 20  # the clicks are found: the test is not vacuous


def test_cqt_magnitude_is_librosas(song):
    tuning = 0.13
    with audio._one_blas_thread():
        expected = np.abs(librosa.cqt(song, sr=SR, hop_length=512, n_bins=7 * 36,
                                      bins_per_octave=36, tuning=tuning))
        got = audio._cqt_magnitude(song, tuning, DEFAULT_SPEC, chunk_frames=200)
    assert got.flags.f_contiguous  # librosa's layout: the chroma projection then rounds the same
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 128, 129, 1000, 4099])
def test_pairwise_column_sum_is_numpys(n):
    a = np.random.default_rng(n).standard_normal((5, n)) * 10.0 ** np.arange(-2, 3)[:, None]
    got = audio._pairwise_column_sum(lambda first, last: a[:, first:last], 0, n)
    np.testing.assert_array_equal(got, np.add.reduce(a, axis=-1))


@pytest.mark.parametrize("chunk_frames", [97, 4096])
def test_tempogram_mean_and_tempo_are_librosas(chunk_frames):
    envelope = np.random.default_rng(1).gamma(0.5, 1.0, 3001).astype(np.float32)
    tempogram = librosa.feature.tempogram(onset_envelope=envelope, sr=SR, hop_length=512,
                                          win_length=480)
    np.testing.assert_array_equal(audio._tempogram_mean(envelope, 480, chunk_frames),
                                  np.mean(tempogram, axis=-1, keepdims=True))
    for start_bpm in (90.0, 120.0, 150.0):
        np.testing.assert_array_equal(
            audio._tempo(envelope, DEFAULT_SPEC, start_bpm, chunk_frames),
            librosa.feature.tempo(onset_envelope=envelope, sr=SR, hop_length=512,
                                  start_bpm=start_bpm))


def test_features_working_memory_does_not_hold_whole_song_spectra():
    """Traced peak of the 35-d features of 90 s: the whole-song |STFT| alone (1025 × T float32)
    is 22 MB, the whole-song computation peaked at 186 MB; block-wise it is the song, its
    mel and CQT magnitudes and a few blocks (19 MB)."""
    y = music(90.0, seed=2)
    audio._jit_ready()
    tracemalloc.start()
    try:
        audio._features_of(y, 120.0, DEFAULT_SPEC, None, chunk_frames=256)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole_stft_magnitude = 1025 * (1 + y.size // 512) * 4
    assert peak < 2 * whole_stft_magnitude, f"peak {peak / 1e6:.1f} MB"


# --- decoding in blocks ----------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # librosa.load imports audioread
@pytest.mark.parametrize("rate, channels, subtype", [
    (44100, 2, "PCM_16"), (48000, 1, "FLOAT"), (22050, 3, "PCM_24"), (SR, 2, "FLOAT"),
])
def test_streamed_decode_is_librosa_load(tmp_path, monkeypatch, rate, channels, subtype):
    """Decoded and resampled in blocks of 5,000 frames (a dozen or more per file): the samples
    of librosa.load's whole-file decode and one-shot soxr_hq resampling, bit for bit."""
    monkeypatch.setattr(audio, "DECODE_BLOCK", 5000)
    path = tmp_path / "song.wav"
    x = np.random.default_rng(rate).uniform(-0.5, 0.5, (int(1.3 * rate) + 11, channels))
    soundfile.write(path, x, rate, subtype=subtype)
    got = load_audio(path)
    expected = librosa.load(path, sr=SR)[0]
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("expected", [0, 10, 50_000, 10**6])
def test_resample_stream_whatever_length_was_announced(expected):
    """The output is sized from the header's length (0 when unknown, as for audioread); a wrong
    announcement changes neither the samples nor the length."""
    x = np.random.default_rng(5).uniform(-0.5, 0.5, 50_000).astype(np.float32)
    blocks = (x[i:i + 3000] for i in range(0, x.size, 3000))
    got, n_read = audio._resample_stream(blocks, 44100, SR, expected, "x.wav")
    assert n_read == x.size
    np.testing.assert_array_equal(got, librosa.resample(x, orig_sr=44100, target_sr=SR,
                                                        res_type="soxr_hq"))


def test_decoding_never_holds_the_files_own_samples(tmp_path, monkeypatch):
    """Traced peak of decoding 20 s of 48 kHz stereo in blocks of 4,096 frames: the output
    (30,720 Hz float32, 2.5 MB) and little else; the whole-file decode also held the file's
    float32 channels and their mean (11.5 MB, a 14 MB peak)."""
    monkeypatch.setattr(audio, "DECODE_BLOCK", 4096)
    path = tmp_path / "long.wav"
    soundfile.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (20 * 48000, 2)), 48000,
                    subtype="PCM_16")
    audio._jit_ready()
    tracemalloc.start()
    try:
        y = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * y.nbytes, f"peak {peak / 1e6:.1f} MB for {y.nbytes / 1e6:.1f} MB of output"


# --- the WAV that lies about its length ------------------------------------------------------

def _wav(tmp_path, name="song.wav", seconds=2.0, rate=44100):
    path = tmp_path / name
    soundfile.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (int(seconds * rate), 2)),
                    rate, subtype="PCM_16")
    return path


def test_truncated_wav_warns_with_both_lengths(tmp_path):
    """A WAV cut to half its bytes (a failed copy): libsndfile silently reads what is there; the
    warning names the file and both lengths, and the audio that is there is returned."""
    full = _wav(tmp_path)
    cut = tmp_path / "cut.wav"
    data = full.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    held = (len(data) // 2 - 44) // 4  # 44-byte header, 4 bytes per stereo 16-bit frame
    with pytest.warns(UserWarning, match="announces 88200 sample frames") as record:
        y = load_audio(cut)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith(f"{cut}: ") and f"holds {held}" in message and "\n" not in message
    assert y.size == int(np.ceil(held * SR / 44100))
    np.testing.assert_array_equal(y[:1000], load_audio(full)[:1000])


@pytest.mark.parametrize("rate", [1, 4294967295])
def test_a_wav_header_with_no_rate_of_audio_is_refused(tmp_path, rate):
    """A header of 1 Hz made 5 s of audio a 25 GiB resampling (a MemoryError traceback); one of
    4294967295 Hz (libsndfile refuses it, ffmpeg reads it) gave no samples, called silent and 0 s long."""
    bad = tmp_path / f"rate{rate}.wav"
    data = bytearray(_wav(tmp_path).read_bytes())
    data[24:28] = rate.to_bytes(4, "little")  # the fmt chunk's sample rate
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"rate{rate}.wav: says its audio is sampled at {rate} Hz, not a rate"):
        load_audio(bad)


def test_complete_and_unsized_wavs_do_not_warn(tmp_path):
    full = _wav(tmp_path)
    unsized = tmp_path / "unsized.wav"  # a streaming recorder's header: data size 0xFFFFFFFF
    data = bytearray(full.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = (0xFFFFFFFF).to_bytes(4, "little")
    unsized.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_audio(full).size == load_audio(unsized).size == SR * 2
    assert audio._wav_declared_frames(full) == 88200
    assert audio._wav_declared_frames(unsized) is None


# --- a long dance decoded to rotations -------------------------------------------------------

def test_long_motion_is_projected_in_blocks_with_the_same_bits():
    """40,000 frames of noisy FACT vectors (11 minutes): the rotations are the whole-array SVD
    projection's, while the traced peak stays near the result (the whole-array projection peaked
    at 12 times the rotations' size)."""
    n = 40_000
    assert n > 4 * motion._BLOCK  # several blocks, the last one short
    rng = np.random.default_rng(0)
    x = np.zeros((n, 225), np.float32)
    x[:, 9:] = np.tile(np.eye(3).ravel(), 24) + 0.05 * rng.standard_normal((n, 216))
    x[:, 6:9] = rng.standard_normal((n, 3))
    tracemalloc.start()
    try:
        decoded = motion.SMPLMotion.from_fact_vector(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = project_to_so3(x[:, 9:].astype(np.float64).reshape(n, 24, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(decoded.rotations, whole)
    np.testing.assert_array_equal(decoded.translation, x[:, 6:9])
    assert peak < 6 * decoded.rotations.nbytes, f"peak {peak / 1e6:.0f} MB"
    tracemalloc.start()
    try:
        joints = decoded.joints()  # (T, 24, 3): FK a block of frames at a time
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = forward_kinematics(decoded.rotations.astype(np.float64),
                               decoded.translation.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(joints, whole)
    assert peak < 4 * joints.nbytes + 50e6, f"peak {peak / 1e6:.0f} MB"  # whole: 26 joints' worth


def test_rotation_conversions_of_a_long_dance_work_in_blocks():
    """Every export converts all of a dance's joint rotations (288,000 for 200 s here). In one scipy
    call that took about 137 MB of temporaries here (300-400 MB per export for 10 minutes); a
    block at a time it takes the output's size and a little more, with the same numbers."""
    from scipy.spatial.transform import Rotation

    from aichoreo import rotations

    n = 12_000
    rng = np.random.default_rng(0)
    m = Rotation.from_rotvec(rng.normal(0, 0.3, (n * 24, 3))).as_matrix().reshape(n, 24, 3, 3).astype(np.float32)
    for convert in (rotations.matrix_to_axis_angle, rotations.matrix_to_quaternion):
        tracemalloc.start()
        out = convert(m)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert peak < 40, f"{convert.__name__}: {peak:.0f} MB"
        one_call = convert(m[:1000])  # under one block: scipy's single call
        np.testing.assert_array_equal(out[:1000], one_call)

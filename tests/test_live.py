"""aichoreo live: the streamed dance equals the offline loop on the same features, every source and
sink works (a VMC receiver and headless Chromium read what is sent), and bad input gets one line."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from test_featurestream import song

from aichoreo.audio import SAMPLE_RATE, STREAM_SPEC
from aichoreo.cli import main
from aichoreo.conventions import conventions_of, current_conventions
from aichoreo.errors import InputError
from aichoreo.featurestream import LOOKAHEAD_FRAMES, stream_features
from aichoreo.generate import SEAM_EASE_FRAMES, SeamEaser, generate, model_room
from aichoreo.live import live
from aichoreo.live.engine import LiveDancer
from aichoreo.live.sinks import VMC_BONES, parse_address
from aichoreo.live.sources import file_source, pcm_source
from aichoreo.models import build_model, get_preset, save_model_file
from aichoreo.retarget.bvh_io import read_bvh
from aichoreo.seeds import bounce_seed

K, LOOKAHEAD = 4, 3


def tiny_stream_config():
    """fact-small-stream's layout at width 16: K frames kept of the 20 predicted, music up to
    LOOKAHEAD frames past them."""
    cfg = get_preset("tiny")
    return dataclasses.replace(cfg, frames_per_step=K, audio_len=cfg.motion_len + K + LOOKAHEAD)


def test_the_stream_layout_is_checked():
    cfg = tiny_stream_config()
    assert cfg.default_frames_per_step == K and cfg.music_lookahead == LOOKAHEAD and cfg.n_future == 20
    stream = get_preset("fact-small-stream")
    assert stream.music_lookahead == 6 == stream.default_frames_per_step == stream.target_len
    assert get_preset("fact").music_lookahead == 100
    with pytest.raises(ValueError, match="exceeds"):
        dataclasses.replace(cfg, frames_per_step=21)
    with pytest.raises(ValueError, match="no music"):
        dataclasses.replace(cfg, audio_len=cfg.motion_len + K - 1)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = tiny_stream_config()
    path = tmp_path_factory.mktemp("model") / "tiny-stream.pt"
    save_model_file(path, build_model(cfg), cfg, conventions=conventions_of(fps=60.0, music_spec=STREAM_SPEC),
                    preset="tiny")
    return path


@pytest.fixture(scope="module")
def song_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("songs") / "beat.wav"
    soundfile.write(path, song(4.0), SAMPLE_RATE, subtype="FLOAT")
    return path


def test_the_streamed_dance_is_the_offline_loop_on_the_same_features(model_file):
    """Block by block, the live dancer makes the frames generate() makes from the whole song's
    streamed features (same seed, same chunks, same seam easing)."""
    from aichoreo.models import load_model

    model, cfg, _ = load_model(model_file)
    audio = song(5.0)
    seed = bounce_seed(cfg.motion_len, 120.0, 0).to_fact_vector(padded=True)
    dancer = LiveDancer(model, STREAM_SPEC, seed, lock_feet=False, smooth_hz=None)
    assert dancer.latency_frames == K - 1 + LOOKAHEAD + LOOKAHEAD_FRAMES == cfg.music_lookahead + K - 1 + 2
    frames = []
    for first in range(0, audio.size, 700):  # blocks of any size
        frames += dancer.push(audio[first:first + 700])
    frames += dancer.finish()
    live_dance = np.stack([f.vector for f in frames])
    assert [f.index for f in frames] == list(range(len(frames)))

    features = stream_features(audio, STREAM_SPEC)
    easer = SeamEaser(seed, min(SEAM_EASE_FRAMES, K))  # joined over the whole chunk, as generate_dances

    def ease(first, x):
        y = easer.ease(x[0])
        easer.record(y)
        return y[None]

    offline = generate(model, features, seed, frames_per_step=K, edit=ease, threads=1,
                       room_radius=model_room(cfg))
    n = min(len(offline), len(live_dance))
    assert n >= len(features) - cfg.audio_len + cfg.motion_len - K
    np.testing.assert_allclose(live_dance[:n], offline[:n], atol=2e-4)
    # Each frame waited for the music it depends on, and no more; a frame whose own music had not
    # come (past the song's end here) is timed when it would have.
    for f in frames:
        assert f.needed <= f.ready
        assert f.heard <= f.needed if f.index * STREAM_SPEC.hop_length < audio.size else f.heard > f.needed


def test_frames_whose_music_is_still_to_come_are_timed_at_its_own_time(model_file):
    """A pass that hears less music than its chunk (fewer rows than frames kept, as the bundled
    model's default) keeps frames whose music has not arrived: each is timed when its music will
    have (the sender sends at that time plus the delay). They were given the last block's arrival,
    so that a chunk went out in a burst and then nothing (VMC: 8 frames within 1 ms, a 130 ms gap)."""
    from aichoreo.models import load_model

    model, cfg, _ = load_model(model_file)
    seed = bounce_seed(cfg.motion_len, 120.0, 0).to_fact_vector(padded=True)
    dancer = LiveDancer(model, STREAM_SPEC, seed, lock_feet=False, smooth_hz=None, heard_frames=1)
    audio, hop = song(4.0), STREAM_SPEC.hop_length
    frames = []
    for first in range(0, audio.size, hop):  # the music arriving in real time, one row at a time
        frames += dancer.push(audio[first:first + hop], arrival=(first + hop) / STREAM_SPEC.sample_rate)
    generated = [f for f in frames if f.index >= cfg.motion_len]
    assert len(generated) > 3 * K
    heard = np.array([f.heard for f in generated])
    np.testing.assert_allclose(np.diff(heard), 1 / 60, atol=1e-6)  # one frame per 1/60 s of music


def test_a_window_that_reaches_further_hears_twelve_rows_and_the_rest_mirrored(tmp_path):
    """A model of whole-song features with the paper's window (2 s of music past the chunk, like the
    default model) dances live: each pass hears the streamed rows up to HEARD_FRAMES from its chunk's
    first frame, the rest of its window is those rows mirrored (as a song's end offline), K = 20
    frames per pass, and each frame waits for that music only; at the end of the stream the last
    pass hears what there is, and the dance ends with the music."""
    from aichoreo.generate import extend_music
    from aichoreo.live.engine import HEARD_FRAMES
    from aichoreo.models import load_model

    torch.manual_seed(0)
    cfg = get_preset("tiny")  # motion_len 120, audio_len 240: the paper's layout
    path = save_model_file(tmp_path / "whole-song.pt", build_model(cfg), cfg, conventions=current_conventions())
    model, cfg, meta = load_model(path)
    audio = song(4.0)
    seed = bounce_seed(cfg.motion_len, 120.0, 0).to_fact_vector(padded=True)
    windows = []
    forward = model.forward
    model.forward = lambda motion, audio=None, **kw: (windows.append(audio[0].clone()), forward(motion, audio, **kw))[1]
    dancer = LiveDancer(model, STREAM_SPEC, seed, lock_feet=False, smooth_hz=None)
    assert dancer.k == 20 and dancer.heard == HEARD_FRAMES == 12
    for wrong in (0, 121, 2.5):
        with pytest.raises(ValueError, match="heard_frames"):
            LiveDancer(model, STREAM_SPEC, seed, heard_frames=wrong)
    assert dancer.latency_frames == HEARD_FRAMES - 1 + LOOKAHEAD_FRAMES
    frames = []
    for b, first in enumerate(range(0, audio.size, 1000)):  # block b arrives at "time" b
        frames += dancer.push(audio[first:first + 1000], arrival=float(b))
    frames += dancer.finish()
    assert [f.index for f in frames] == list(range(len(frames))) and len(frames) > cfg.motion_len + 40
    features = stream_features(audio, STREAM_SPEC)
    for i, window in enumerate(windows):
        f = cfg.motion_len + 20 * i  # the chunk's first frame
        heard = features[f - cfg.motion_len: f + HEARD_FRAMES]
        np.testing.assert_allclose(window.numpy(), extend_music(heard, cfg.audio_len - len(heard)), atol=1e-5)
    # A warm-up before the music (the first pass is the slowest) times a pass and changes nothing.
    model.forward = forward
    warmed = LiveDancer(model, STREAM_SPEC, seed, lock_feet=False, smooth_hz=None)
    assert warmed.warm_up() > 0 and warmed.passes == 0 and warmed.next_frame == 0
    again = [f for first in range(0, audio.size, 1000) for f in warmed.push(audio[first:first + 1000])]
    again += warmed.finish()
    np.testing.assert_array_equal(np.stack([f.vector for f in again]), np.stack([f.vector for f in frames]))
    # The dance lasts as long as the music: the last pass hears the rows there are, mirrored beyond.
    assert len(frames) == len(features) and len(windows) == -(-(len(frames) - cfg.motion_len) // 20)
    # A frame waits for the block that made its chunk's last heard row final (row r is final once
    # sample r * hop + n_fft / 2 is in), not for the 2 s its window spans.
    hop, n_blocks = STREAM_SPEC.hop_length, -(-audio.size // 1000)
    for f in frames[cfg.motion_len:]:
        last_row = cfg.motion_len + 20 * ((f.index - cfg.motion_len) // 20) + HEARD_FRAMES - 1
        block = (last_row * hop + STREAM_SPEC.n_fft // 2) // 1000
        if block < n_blocks:  # the rest became final when the stream ended
            assert f.needed == block, (f.index, f.needed, block)


def test_the_frames_sent_are_smoothed_as_one_stream(model_file):
    """By default the frames sent pass a 10 Hz low-pass (FrameSmoother): it is the smoother run over
    the unsmoothed live dance whatever the blocks; it keeps slow motion, damps a 15 Hz shake, and
    its rotations stay rotations."""
    from aichoreo.defaults import SMOOTH_HZ
    from aichoreo.live import FrameSmoother
    from aichoreo.models import load_model

    model, cfg, _ = load_model(model_file)
    audio = song(4.0)
    seed = bounce_seed(cfg.motion_len, 120.0, 0).to_fact_vector(padded=True)
    dances = []
    for smooth in (None, SMOOTH_HZ):
        dancer = LiveDancer(model, STREAM_SPEC, seed, lock_feet=False, smooth_hz=smooth)
        frames = []
        for first in range(0, audio.size, 900):
            frames += dancer.push(audio[first:first + 900])
        frames += dancer.finish()
        dances.append(np.stack([f.vector for f in frames]))
    raw, sent = dances
    np.testing.assert_allclose(sent, FrameSmoother(60.0)(raw), atol=1e-5)
    assert not np.allclose(sent, raw, atol=1e-3)

    t = np.arange(240) / 60.0
    x = np.zeros((240, 225))
    x[:, 9:] = np.tile(np.eye(3).ravel(), 24)
    slow, shake = np.sin(2 * np.pi * 0.5 * t), 0.05 * np.sin(2 * np.pi * 15 * t)
    x[:, 6] = slow + shake  # the root's x: a 0.5 Hz sway with a 15 Hz shake on it
    angle = 0.3 * np.sin(2 * np.pi * 15 * t)  # the left hip shaking about z
    x[:, 9 + 9:9 + 18] = np.stack([np.cos(angle), -np.sin(angle), 0 * t, np.sin(angle), np.cos(angle), 0 * t,
                                   0 * t, 0 * t, 1 + 0 * t], axis=1)
    whole = FrameSmoother(60.0)(x)
    pieces = FrameSmoother(60.0)
    np.testing.assert_allclose(np.concatenate([pieces(x[i:i + 7]) for i in range(0, 240, 7)]), whole, atol=1e-6)
    left = whole[60:, 6] - slow[60:]  # after the start: what is left of the shake, and of the sway's lag
    assert np.abs(left).max() < 0.5 * 0.05 + 2 * np.pi * 0.5 / (2 * np.pi * SMOOTH_HZ), np.abs(left).max()
    # a first-order low-pass at 10 Hz passes 0.46 of a 15 Hz shake at 60 fps (alpha 0.51)
    assert np.abs(np.diff(whole[60:, 6], 2)).max() < 0.5 * np.abs(np.diff(x[60:, 6], 2)).max()
    hip = whole[:, 18:27].reshape(-1, 3, 3)
    np.testing.assert_allclose(hip @ np.swapaxes(hip, 1, 2), np.broadcast_to(np.eye(3), hip.shape), atol=1e-5)
    assert np.abs(hip[60:, 1, 0]).max() < 0.5 * np.abs(np.sin(angle)).max()
    with pytest.raises(ValueError, match="positive"):
        FrameSmoother(60.0, 0.0)


def test_cli_smooth_reaches_the_dancer(model_file, song_file, tmp_path):
    """aichoreo live --smooth 0 sends the model's frames unsmoothed; the default smooths them."""
    for name, extra in (("smooth", []), ("raw", ["--smooth", "0"])):
        assert main(["live", str(song_file), "--checkpoint", str(model_file), "--fast",
                     "--record", str(tmp_path / f"{name}.npy"), *extra]) == 0
    smooth, raw = np.load(tmp_path / "smooth.npy"), np.load(tmp_path / "raw.npy")
    assert smooth.shape == raw.shape
    jerk = [np.abs(np.diff(x[:, 3:], 3, axis=0)).mean() for x in (smooth, raw)]  # the rotations' third differences
    assert jerk[0] < 0.8 * jerk[1], jerk


def test_live_from_a_file_writes_the_recording(model_file, song_file, tmp_path):
    stats = tmp_path / "stats.json"
    summary = live(song_file, model=model_file, record=tmp_path / "dance.npy", realtime=False, stats=stats,
                   progress=False)
    n = 1 + soundfile.info(song_file).frames // 512
    assert summary["frames"] == np.load(tmp_path / "dance.npy").shape[0]
    assert n - 10 <= summary["frames"] <= n  # the dance ends with the song
    assert np.load(tmp_path / "dance.npy").shape[1] == 219
    timing = json.loads(stats.read_text())
    assert len(timing["frames_timing"]) == summary["frames"] and timing["late_frames"] == 0
    live(song_file, model=model_file, record=tmp_path / "dance.bvh", realtime=False, progress=False)
    assert len(read_bvh(tmp_path / "dance.bvh")["rotations"]) == summary["frames"]
    assert not list(tmp_path.glob(".*.partial"))  # the frames spooled to disk as they came, then removed



def test_the_recording_ends_with_the_music_whatever_the_lookahead(tmp_path):
    """A pass that keeps 20 frames and hears one row makes frames past the song's end before the end is
    known; they are sent, but the recording ends with the song (it was a chunk longer: 260 for 245)."""
    torch.manual_seed(0)
    cfg = tiny_stream_config()
    cfg = dataclasses.replace(cfg, frames_per_step=20, audio_len=cfg.motion_len + 20 + LOOKAHEAD)
    model = tmp_path / "k20.pt"
    save_model_file(model, build_model(cfg), cfg, conventions=conventions_of(fps=60.0, music_spec=STREAM_SPEC),
                    preset="tiny")
    path = tmp_path / "odd.wav"
    soundfile.write(path, song(4.07), SAMPLE_RATE, subtype="FLOAT")
    n = 1 + soundfile.info(path).frames // 512
    lengths = []
    for lookahead in (None, 1 / 60):
        summary = live(path, model=model, record=tmp_path / "r.npy", realtime=False, progress=False,
                       lookahead_s=lookahead)
        lengths.append(np.load(tmp_path / "r.npy").shape[0])
        assert summary["frames"] >= lengths[-1]
    assert lengths == [n, n], (lengths, n)


def test_the_session_runs_with_the_objects_before_it_frozen(model_file, song_file, tmp_path, monkeypatch):
    """The session's loop runs with everything made before it out of the collector's sight (a full
    collection over torch's objects paused every thread for up to 133 ms), and the process gets them
    back after; the summary counts the full collections and their longest pause."""
    import gc

    import aichoreo.live as live_module

    seen = []
    run = live_module._run

    def spy(*args, **kwargs):
        seen.append(gc.get_freeze_count())
        gc.collect()  # a full collection inside the session is timed
        return run(*args, **kwargs)

    monkeypatch.setattr(live_module, "_run", spy)
    before = gc.get_freeze_count()
    summary = live(song_file, model=model_file, record=tmp_path / "dance.npy", realtime=False, progress=False)
    assert seen[0] > before + 50_000  # torch's and numpy's objects, at least
    assert gc.get_freeze_count() == before
    assert summary["gc"]["full_collections"] >= 1 and 0 < summary["gc"]["longest_ms"] < 100


def test_real_time_frames_reach_a_vmc_receiver_at_60_fps(model_file, tmp_path):
    """A VMC receiver (python-osc on 127.0.0.1) gets one well-formed bundle per frame: every
    humanoid bone SMPL has, each a name, a position and a unit quaternion, at 60 per second."""
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    path = tmp_path / "short.wav"
    soundfile.write(path, song(3.5), SAMPLE_RATE, subtype="FLOAT")
    bones, oks, times = [], [], []
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/Bone/Pos", lambda address, *args: bones.append((time.monotonic(), args)))
    dispatcher.map("/VMC/Ext/OK", lambda address, *args: oks.append(args))
    dispatcher.map("/VMC/Ext/T", lambda address, *args: times.append(args[0]))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        summary = live(path, model=model_file, vmc=f"127.0.0.1:{server.server_address[1]}", progress=False,
                       record=tmp_path / "sent.npy")
        time.sleep(0.3)
    finally:
        server.shutdown()
    assert summary["frames"] == len(oks) == len(times) and len(bones) == len(oks) * len(VMC_BONES)
    assert {args[0] for _, args in bones} == set(VMC_BONES) and "Hips" in VMC_BONES
    for _, args in bones[:200]:
        assert len(args) == 8 and isinstance(args[0], str)
        assert abs(np.linalg.norm(args[4:8]) - 1.0) < 1e-4
    assert np.allclose(np.diff(times), 1 / 60, atol=1e-5)  # OSC floats are float32
    # Hips carries the pelvis (x negated: Unity is left-handed), frame by frame as sent.
    from aichoreo.motion import SMPLMotion

    pelvis = SMPLMotion.from_fact_vector(np.load(tmp_path / "sent.npy")).joints()[:, 0]
    sent = np.array([args[1:4] for _, args in bones if args[0] == "Hips"])
    np.testing.assert_allclose(sent, pelvis * [-1, 1, 1], atol=1e-4)
    hips = np.array([t for t, args in bones if args[0] == "Hips"])
    generated = hips[summary["frames"] // 2:]  # paced: one frame per 1/60 s, not in bursts of K
    assert abs(np.median(np.diff(generated)) - 1 / 60) < 0.004
    assert summary["latency_s"]["p50"] == pytest.approx(summary["delay_s"], abs=0.02)


@pytest.mark.skipif(not any(map(__import__("shutil").which, ("chromium", "chromium-browser", "google-chrome"))),
                    reason="no Chromium to open the live page")
def test_the_browser_page_shows_the_dancer_moving(model_file, tmp_path):
    """Headless Chromium opens the page of a running `aichoreo live --serve` and draws the frames
    that arrive: more arrive while it watches, the dancer's pelvis moves, and the song plays."""
    from test_export_html import evaluate_in_page

    path = tmp_path / "song.wav"
    soundfile.write(path, song(7.0), SAMPLE_RATE, subtype="FLOAT")
    seen = {}

    def watch(url: str | None) -> None:
        def run() -> None:
            expression = ("new Promise(done => setTimeout(() => { const a = JSON.stringify(window.aichoreoViewer.state);"
                          " setTimeout(() => done([a, JSON.stringify(window.aichoreoViewer.state)]), 1500); }, 3500))")
            seen["states"] = evaluate_in_page(url, expression, profile=tmp_path / "profile")
        seen["url"] = url
        seen["thread"] = threading.Thread(target=run)
        seen["thread"].start()

    summary = live(path, model=model_file, serve="127.0.0.1:0", progress=False, on_ready=watch)
    seen["thread"].join()
    assert seen["url"].startswith("http://127.0.0.1:")
    first, second = (json.loads(s) for s in seen["states"])
    assert first["connected"] and 0 < first["frames"] < second["frames"] <= summary["frames"]
    assert second["received"] - first["received"] >= 60  # 1.5 s at 60 fps, give or take the pacing
    assert np.linalg.norm(np.subtract(second["last"], second["first"])) > 1e-3
    assert second["music"] is True


def test_pcm_on_stdin_is_mixed_resampled_and_danced(model_file, tmp_path):
    """s16le stereo at 44.1 kHz, as `ffmpeg -f s16le -` writes it, in odd-sized reads."""
    audio = song(3.0)
    import soxr

    stereo = soxr.resample(audio, SAMPLE_RATE, 44_100)
    pcm = (np.stack([stereo, stereo], axis=1) * 32767).astype("<i2").tobytes()
    blocks = list(pcm_source(io.BufferedReader(io.BytesIO(pcm), buffer_size=1001), rate=44_100, channels=2))
    got = np.concatenate([b for b, _ in blocks])
    assert abs(got.size - audio.size) <= 64
    n = min(got.size, audio.size) - 2000
    assert np.corrcoef(got[1000:n], audio[1000:n])[0, 1] > 0.99
    # The CLI on a pipe: the dance of the stream, recorded.
    out = tmp_path / "stdin.npy"
    proc = subprocess.run([sys.executable, "-m", "aichoreo", "live", "--stdin", "--checkpoint", str(model_file),
                           "--record", str(out)], input=pcm, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert np.load(out).shape[0] >= audio.size // 512 - 10


def test_stopping_with_ctrl_c_keeps_the_recording(model_file, song_file, tmp_path, monkeypatch):
    from aichoreo.live import sources

    def interrupted(path, *, realtime=True, **kwargs):
        for i, block in enumerate(file_source(path, realtime=False, **kwargs)):
            if i == 200:
                raise KeyboardInterrupt
            yield block

    import aichoreo.live as live_module

    monkeypatch.setattr(live_module, "file_source", interrupted)
    summary = live(song_file, model=model_file, record=tmp_path / "cut.npy", realtime=False, progress=False)
    assert summary["interrupted"] and summary["recording"] == str(tmp_path / "cut.npy")
    assert np.load(tmp_path / "cut.npy").shape[0] == summary["frames"] > 150
    assert not list(tmp_path.glob(".*.partial"))
    assert sources.BLOCK == 512


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aichoreo: error:") and len(err.splitlines()) == 1, err
    return err


def test_bad_input_gets_one_line(model_file, song_file, tmp_path, capsys):
    assert "one audio source" in _error(capsys, "live", "--record", str(tmp_path / "x.npy"))
    assert "one audio source" in _error(capsys, "live", str(song_file), "--stdin", "--record", str(tmp_path / "x.npy"))
    assert "somewhere to send" in _error(capsys, "live", str(song_file), "--checkpoint", str(model_file))
    assert "no such song" in _error(capsys, "live", str(tmp_path / "none.wav"), "--record", str(tmp_path / "x.npy"))
    assert "recording is" in _error(capsys, "live", str(song_file), "--checkpoint", str(model_file),
                                    "--record", str(tmp_path / "x.mp4"))
    assert "port must be a number" in _error(capsys, "live", str(song_file), "--checkpoint", str(model_file),
                                             "--serve", "localhost:web")
    # checked before the music: a folder failed after the whole session; one file for both was overwritten
    (tmp_path / "adir.npy").mkdir()
    assert "is a folder" in _error(capsys, "live", str(song_file), "--checkpoint", str(model_file),
                                   "--record", str(tmp_path / "adir.npy"))
    assert "is the recording too" in _error(capsys, "live", str(song_file), "--checkpoint", str(model_file),
                                            "--record", str(tmp_path / "x.npy"), "--stats", str(tmp_path / "x.npy"))
    assert "receiver's port" in _error(capsys, "live", str(song_file), "--checkpoint", str(model_file),
                                       "--vmc", "127.0.0.1:0", "--record", str(tmp_path / "x.npy"))
    assert not (tmp_path / "x.npy").exists()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        err = _error(capsys, "live", str(song_file), "--checkpoint", str(model_file), "--serve",
                     f"127.0.0.1:{busy.getsockname()[1]}")
        assert "in use" in err
    finally:
        busy.close()


def test_a_closed_stdin_and_a_missing_device_get_one_line(model_file, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aichoreo", "live", "--stdin", "--checkpoint", str(model_file),
                           "--record", str(tmp_path / "y.npy")], input=b"", capture_output=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "stdin" in lines[0] and "no audio" in lines[0], lines
    assert not (tmp_path / "y.npy").exists()  # a failed session records nothing (its seed frame was written)
    proc = subprocess.run([sys.executable, "-m", "aichoreo", "live", "--input-device", "no such microphone 42",
                           "--checkpoint", str(model_file), "--record", str(tmp_path / "y.npy")],
                          capture_output=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and ("sounddevice" in lines[0] or "no audio input device" in lines[0]
                                or "PortAudio" in lines[0]), lines


def test_the_cli_offers_every_music_feature_set_prepare_knows():
    from aichoreo.cli import MUSIC_FEATURE_CHOICES
    from aichoreo.data.prepare import MUSIC_FEATURES

    assert set(MUSIC_FEATURE_CHOICES) == set(MUSIC_FEATURES)


def test_addresses():
    assert parse_address("9000", 1, "--vmc") == ("127.0.0.1", 9000)
    assert parse_address(":9000", 1, "--vmc") == ("127.0.0.1", 9000)
    assert parse_address("0.0.0.0:39539", 1, "--vmc") == ("0.0.0.0", 39539)
    assert parse_address("[::1]:8765", 1, "--serve") == ("::1", 8765)
    with pytest.raises(InputError, match="outside"):
        parse_address("70000", 1, "--vmc")


def test_the_quality_report_refuses_features_the_model_does_not_read(model_file, tmp_path):
    """A model of streamed features scored on a dataset of reference features would dance to music
    it never heard; the report says so in one line before generating anything."""
    from synthetic_data import swaying_dataset

    from aichoreo.models import load_model
    from aichoreo.quality_report import quality_report

    data = swaying_dataset(tmp_path / "data", ("train", "test", "test"), frames=1500)
    model, _, meta = load_model(model_file)
    with pytest.raises(InputError, match="--music-features stream"):
        quality_report(model, data, tmp_path / "q", model_meta=meta, progress=False)
    assert not (tmp_path / "q" / "report.json").exists()


def test_the_bundled_models_dance_live(tmp_path):
    """`aichoreo live`'s model is the bundled default one (whole-song features, heard live in their
    streamed form, 20 frames per pass hearing 12 rows); the bundled `stream` model is fact-small-stream,
    trained on streamed features (which its file records), with the built-in seed pose. Both dance,
    and the dancer moves after the seed."""
    import aichoreo
    from aichoreo.conventions import model_spec
    from aichoreo.motion import SMPLMotion
    from aichoreo.train import absolute_paths

    model, cfg, meta = aichoreo.load_model("stream")
    assert meta["preset"] == "fact-small-stream" and cfg.music_lookahead == 6 and cfg.default_frames_per_step == 6
    assert model_spec(meta) == STREAM_SPEC and meta["weights_dtype"] == "float16"
    assert not absolute_paths({k: v for k, v in meta.items() if k != "conventions"})
    assert len(meta["seed"]["pose_axis_angle"]) == 24
    assert inspect.signature(live).parameters["model"].default == "default"
    path = tmp_path / "song.wav"
    soundfile.write(path, song(6.0), SAMPLE_RATE, subtype="FLOAT")
    for name in ("default", "stream"):
        summary = live(path, model=name, record=tmp_path / f"{name}.npy", realtime=False, progress=False)
        joints = SMPLMotion.from_fact_vector(np.load(tmp_path / f"{name}.npy")).joints()
        speed = np.linalg.norm(np.diff(joints[120:], axis=0), axis=-1).mean() * 60
        assert summary["frames"] == len(joints) and 0.1 < speed < 5.0, (name, speed)
        k = 20 if name == "default" else 6
        assert len(joints) == 1 + 6 * SAMPLE_RATE // 512 and summary["passes"] == -(-(len(joints) - 120) // k)
        assert summary["frames_per_pass"] == (20 if name == "default" else 6) and summary["lookahead_s"] == 0.2
    # Less music ahead, less latency: --lookahead in seconds, within the model's window.
    summary = live(path, lookahead_s=1 / 60, record=tmp_path / "near.npy", realtime=False, progress=False)
    assert summary["lookahead_s"] == round(1 / 60, 4) and summary["frames"] == 1 + 6 * SAMPLE_RATE // 512
    for wrong in (0.5, float("inf"), float("nan"), 0.0):
        with pytest.raises(InputError, match="between 0.017 and 0.200 s"):
            live(path, model="stream", lookahead_s=wrong, record=tmp_path / "far.npy", realtime=False, progress=False)
    assert not (tmp_path / "far.npy").exists()


def test_a_killed_sessions_spool_is_removed_by_the_next(tmp_path):
    """A session killed outright (SIGKILL) leaves its hidden spool of frames; the next recording beside
    it removes it, and never the spool of a session still running (its lock is held)."""
    from aichoreo.live.sinks import Recorder

    stale = tmp_path / ".dance.npy.x1y2z3.partial"
    stale.write_bytes(b"\0" * 876)
    running = Recorder(tmp_path / "dance.npy", 60.0)
    assert not stale.exists()
    spool = next(tmp_path.glob(".dance.npy.*.partial"))
    second = Recorder(tmp_path / "dance.npy", 60.0)
    assert spool.exists()  # the running session's spool is kept
    running.discard()
    second.discard()
    assert not list(tmp_path.glob(".*.partial"))

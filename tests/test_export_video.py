"""The mp4 export read back with ffmpeg: frame count, size, duration, the music stream, the limbs' colours
and the time label in decoded frames; failures that leave no file and no ffmpeg behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aichoreo.data.fixtures import dance_pose
from aichoreo.export import write_mp4
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="video export needs imageio-ffmpeg")


def _streams(path) -> str:
    """ffmpeg's description of the file's streams (``ffmpeg -i`` prints it to stderr)."""
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                            capture_output=True, text=True)
    return result.stderr


@pytest.fixture(scope="module")
def motion() -> SMPLMotion:
    poses, transl = dance_pose(60, 120.0, np.random.default_rng(3), fps=60.0)  # 1 s
    return SMPLMotion(axis_angle_to_matrix(poses), transl, 60.0)


def test_mp4_with_music(tmp_path, motion):
    sf = pytest.importorskip("soundfile")
    sr = 22050
    t = np.arange(3 * sr) / sr
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), sr)
    path = write_mp4(motion, tmp_path / "d.mp4", audio_path=tmp_path / "tone.wav", audio_offset_s=0.5)
    n_frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert n_frames == 30 and seconds == pytest.approx(1.0, abs=0.05)  # 1 s at the default 30 fps
    info = _streams(path)
    assert re.search(r"Stream #0:\d.*Video: h264", info)
    assert re.search(r"Stream #0:\d.*Audio: aac", info)
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info)
    assert float(duration.group(3)) == pytest.approx(1.0, abs=0.1)  # the music is cut to the dance


def _mp3_song(tmp_path, seconds: float = 3.0):
    """A song of noise bursts as an mp3 from ffmpeg's LAME encoder, which puts an encoder delay (about
    25 ms of silence) before the music and says so in the file."""
    sf = pytest.importorskip("soundfile")
    sr = 44100
    y = np.zeros(int(seconds * sr), np.float32)
    rng = np.random.default_rng(0)
    for start in np.arange(0.25, seconds - 0.1, 0.37):
        y[int(start * sr): int(start * sr) + 400] = rng.uniform(-0.5, 0.5, 400)
    sf.write(tmp_path / "bursts.wav", y, sr)
    song = tmp_path / "bursts.mp3"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(tmp_path / "bursts.wav"),
                    "-c:a", "libmp3lame", "-b:a", "128k", str(song)], check=True)
    return song


def _audio_of(path) -> np.ndarray:
    """The first audio stream of ``path`` decoded by ffmpeg, mono float32 at 44.1 kHz."""
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
                             "-f", "f32le", "-ac", "1", "-ar", "44100", "-"], capture_output=True, check=True)
    return np.frombuffer(result.stdout, np.float32)


def test_an_mp3_songs_own_stream_goes_into_the_video_in_time(tmp_path, motion):
    """An mp3 (or AAC) song is copied into the video as it is, not encoded again: no AAC to start,
    the song's own samples, and in time with the song as the music features read it."""
    import soundfile as sf

    from aichoreo.export import aac_wanted

    song = _mp3_song(tmp_path)
    assert not aac_wanted(["mp4"], song)  # nothing to encode ahead
    path = write_mp4(motion, tmp_path / "d.mp4", audio_path=song)
    assert re.search(r"Stream #0:\d.*Audio: mp3", _streams(path))
    heard, own = _audio_of(path), _audio_of(song)
    n = int(0.9 * 44100)
    assert heard.size >= n and np.array_equal(heard[:n], own[:n])  # the song's packets, decoded alike
    read = sf.read(song, dtype="float32")[0]  # as the features read it (the encoder delay left out)
    read = read.mean(axis=1) if read.ndim > 1 else read
    lags = np.arange(-1500, 1501)
    window = read[2000: 2000 + 30000]
    match = [float(np.dot(window, heard[2000 + lag: 32000 + lag])) for lag in lags]
    assert lags[int(np.argmax(match))] == 0  # the delay is not heard in the video either
    # From a time inside the song it is encoded, cut at that time: a copy would start on a packet.
    later = write_mp4(motion, tmp_path / "later.mp4", audio_path=song, audio_offset_s=0.5)
    assert re.search(r"Stream #0:\d.*Audio: aac", _streams(later))


def test_chromium_plays_the_video_and_its_copied_mp3(tmp_path, motion):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_export_html import _chromium, evaluate_in_page

    if _chromium() is None:
        pytest.skip("playing the video needs Chromium (Debian: apt-get install chromium)")
    video = write_mp4(motion, tmp_path / "d.mp4", audio_path=_mp3_song(tmp_path))
    page = tmp_path / "play.html"
    page.write_text(f'<video id="v" src="{video.resolve().as_uri()}" muted></video>')
    played = evaluate_in_page(page.resolve().as_uri(), """new Promise(done => {
        const go = () => {
          const v = document.getElementById("v");
          if (!v) { setTimeout(go, 50); return; }
          v.onerror = () => done({error: v.error && v.error.code});
          v.onended = () => done({audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount,
                                  ended: v.currentTime});
          v.play().catch(e => done({error: String(e)}));
        };
        go();
      })""", profile=tmp_path / "profile")
    assert played.get("audio", 0) > 0 and played.get("video", 0) > 0, played
    assert played["ended"] == pytest.approx(1.0, abs=0.1)


def test_mp4_without_music_has_no_audio_stream(tmp_path, motion):
    path = write_mp4(motion.resample(30.0), tmp_path / "silent.mp4", video_fps=15.0)
    n_frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert n_frames == 15  # the 30 frames at 30 fps last 1 s: 15 frames at 15 fps
    assert "Audio:" not in _streams(path)


def test_music_offset_must_be_inside_the_song(tmp_path, motion, caplog):
    from aichoreo.errors import InputError

    sf = pytest.importorskip("soundfile")
    sf.write(tmp_path / "tone.wav", np.zeros(22050 * 2, np.float32) + 0.1, 22050)  # 2 s
    with pytest.raises(InputError, match=r"tone.wav: is 2.00 s long; the music offset 2.5 s is past its end"):
        write_mp4(motion, tmp_path / "out" / "d.mp4", audio_path=tmp_path / "tone.wav", audio_offset_s=2.5)
    assert not (tmp_path / "out").exists()  # refused before any frame: no file, no folder
    # Inside the song but ending before the video: written, with a warning.
    write_mp4(motion, tmp_path / "d.mp4", audio_path=tmp_path / "tone.wav", audio_offset_s=1.5)
    assert "ends 0.50 s before the video does" in caplog.text
    (tmp_path / "noise.wav").write_bytes(b"RIFF but not a wave file at all")
    with pytest.raises(InputError, match="noise.wav: ffmpeg finds no audio in it"):
        write_mp4(motion, tmp_path / "e.mp4", audio_path=tmp_path / "noise.wav")


def _fake_ffmpeg(tmp_path, monkeypatch, *, exit_status: int) -> None:
    """An ffmpeg that reads 100 kB of frames, then says the disk is full (naming the file it was asked
    to write, its last argument) and exits with ``exit_status``."""
    import aichoreo.render

    script = tmp_path.parent / f"{tmp_path.name}-ffmpeg"
    script.write_text("#!/bin/sh\nfor last; do :; done\nhead -c 100000 >/dev/null\n"
                      f"echo \"$last: No space left on device\" >&2\nexit {exit_status}\n")
    script.chmod(0o755)
    monkeypatch.setattr(aichoreo.render, "ffmpeg_exe", lambda: str(script))


@pytest.mark.parametrize("exit_status", [1, 0])
def test_an_encoder_failure_names_the_users_file(tmp_path, motion, monkeypatch, exit_status):
    from aichoreo.errors import InputError

    # Exit status 0 after it stopped reading: still a failure, the video would be cut short.
    _fake_ffmpeg(tmp_path, monkeypatch, exit_status=exit_status)
    with pytest.raises(InputError) as caught:
        write_mp4(motion, tmp_path / "d.mp4")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'd.mp4'}: ffmpeg could not encode the video: ")
    assert message.endswith(f"{tmp_path / 'd.mp4'}: No space left on device") and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left


def test_an_error_while_drawing_stops_ffmpeg_and_leaves_no_file(tmp_path, motion, monkeypatch):
    import subprocess

    import aichoreo.render

    started = []

    class RecordingPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    draw = aichoreo.render.RasterRenderer.draw

    def failing_draw(self, index, label=""):
        if index >= 20:
            raise RuntimeError("drawing failed")
        return draw(self, index, label)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    monkeypatch.setattr(aichoreo.render.RasterRenderer, "draw", failing_draw)
    with pytest.raises(RuntimeError, match="drawing failed"):
        write_mp4(motion, tmp_path / "out" / "d.mp4")
    assert len(started) == 1 and started[0].returncode is not None  # ffmpeg ended and reaped: no zombie
    assert not (tmp_path / "out").exists()  # no half-written video, no temporary file, no folder


def _decoded(path) -> tuple[dict, np.ndarray]:
    """The video's metadata and frames ``(n, height, width, 3)`` uint8, decoded by ffmpeg."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])
    return meta, frames


def test_decoded_video_has_the_size_and_frames_asked_for(tmp_path, motion):
    meta, frames = _decoded(write_mp4(motion, tmp_path / "d.mp4", width=320, height=240, video_fps=20.0))
    assert meta["size"] == (320, 240) and meta["fps"] == pytest.approx(20.0)
    assert frames.shape == (20, 240, 320, 3)
    # Odd sizes are padded to the even ones H.264's 4:2:0 colour needs.
    meta, frames = _decoded(write_mp4(motion, tmp_path / "odd.mp4", width=161, height=121, video_fps=10.0))
    assert meta["size"] == (162, 122) and len(frames) == 10


def test_decoded_frames_show_the_limbs_in_their_colours_and_the_time(tmp_path, motion):
    from aichoreo.render import _LEFT, _RIGHT, follow_cameras
    from aichoreo.skeleton import JOINT_NAMES

    joints = motion.joints()
    _, frames = _decoded(write_mp4(motion, tmp_path / "d.mp4"))  # 30 fps from 60: frame k shows joints[2 k]
    cameras = follow_cameras(joints, fps=60.0)
    rgb = {side: np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for side, c in (("left", _LEFT), ("right", _RIGHT))}
    for k in (0, 15, 29):
        pix = cameras[2 * k].project(joints[2 * k])
        for side in ("left", "right"):
            # The middle of the thigh: a long bone, away from the joint dots.
            hip, knee = JOINT_NAMES.index(f"{side}_hip"), JOINT_NAMES.index(f"{side}_knee")
            x, y = np.round((pix[hip] + pix[knee]) / 2 - 0.5).astype(int)
            colour = frames[k, y, x].astype(int)
            other = rgb["right" if side == "left" else "left"]
            assert np.abs(colour - rgb[side]).max() < 40, (k, side, colour)
            assert np.abs(colour - rgb[side]).sum() < np.abs(colour - other).sum()
    label = frames[:, 5:25, :90].astype(int)  # the time at the top left: dark text on white
    assert (label.min(axis=-1) < 100).any(axis=(1, 2)).all()
    assert np.abs(label[0] - label[15]).max() > 100 and np.abs(label[15] - label[29]).max() > 100


def test_raster_frames_look_like_the_matplotlib_ones(motion):
    from aichoreo.render import RasterRenderer, SkeletonRenderer

    joints = motion.joints()
    raster, figure = RasterRenderer(joints, fps=60.0, title="t"), SkeletonRenderer(joints, fps=60.0, title="t")
    for index in (0, 30, 59):
        a, b = raster.frame(index, "0.50 s").astype(int), figure.frame(index, "0.50 s").astype(int)
        assert a.shape == b.shape == (480, 640, 3)
        ink_a, ink_b = a.min(axis=-1) < 200, b.min(axis=-1) < 200  # bones, joints and text
        assert (ink_a & ink_b).sum() / (ink_a | ink_b).sum() > 0.9  # the same pixels drawn (0.97 measured)
        assert abs(int(ink_a.sum()) - int(ink_b.sum())) < 0.05 * ink_b.sum()  # lines as thick
        assert np.abs(a - b).mean() < 2.0  # (0.4-0.8 measured)


def test_the_matplotlib_renderer_still_writes_videos(tmp_path, motion):
    from aichoreo.render import render_video

    path = render_video(motion.joints()[:30], tmp_path / "m.mp4", fps=60.0, renderer="matplotlib")
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 15


def _arm_across(z: float) -> np.ndarray:
    """One frame of the rest skeleton with its right hand swung across the chest, ``z`` metres in
    front of (+) or behind (-) the torso: the camera stands in front (+z)."""
    from aichoreo.skeleton import JOINT_NAMES, rest_joints

    joints = rest_joints()[None].copy()
    names = {n: i for i, n in enumerate(JOINT_NAMES)}
    chest = joints[0, names["spine2"]]
    for name, x in (("right_elbow", -0.05), ("right_wrist", 0.12), ("right_hand", 0.2)):
        joints[0, names[name]] = chest + np.array([x, 0.02, z])
    return np.repeat(joints, 2, axis=0)


def test_body_figure_draws_capsules_nearest_in_front():
    from aichoreo.render import RasterRenderer
    from aichoreo.skeleton import JOINT_NAMES

    rgb = {"red": np.array([0xD6, 0x27, 0x28]), "grey": np.array([0x55, 0x55, 0x55])}
    colours = {}
    for z in (0.25, -0.25):
        joints = _arm_across(z)
        renderer = RasterRenderer(joints, fps=60.0, camera="fixed", figure="body")
        frame = renderer.frame(0).astype(int)
        camera = renderer._camera(0)
        chest = renderer._project(joints[0, JOINT_NAMES.index("spine2")] + np.array([0.06, 0.02, 0.0]), *camera)
        x, y = np.round(chest - 0.5).astype(int)
        colours[z] = frame[y, x]
        stick = RasterRenderer(joints, fps=60.0, camera="fixed", figure="stick").frame(0)
        # a body, not lines: several times the pixels of the stick figure
        assert (frame.min(axis=-1) < 200).sum() > 4 * (stick.astype(int).min(axis=-1) < 200).sum()
    near = lambda c, name: np.abs(c - rgb[name]).sum() < np.abs(c - rgb["grey" if name == "red" else "red"]).sum()
    assert near(colours[0.25], "red"), colours  # the arm in front of the chest hides it
    assert near(colours[-0.25], "grey"), colours  # behind it, the chest hides the arm


@pytest.mark.parametrize("size", [(640, 480), (161, 121)])
def test_yuv_frames_are_the_ones_ffmpeg_would_convert(motion, size):
    """The renderer's own RGB -> YUV 4:2:0 conversion (which spares the encoder's process its
    converter) against ffmpeg's, on a frame of the body and on an odd size padded with white."""
    from aichoreo.render import RasterRenderer

    width, height = size
    renderer = RasterRenderer(motion.joints(), fps=60.0, figure="body", width=width, height=height, title="t")
    rgb = renderer.draw(30, "0.50 s").copy()
    ours = renderer.draw_yuv420(30, "0.50 s").copy()
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb0",
           "-s", f"{width}x{height}", "-i", "pipe:0", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white",
           "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1"]
    theirs = np.frombuffer(subprocess.run(cmd, input=rgb.tobytes(), capture_output=True, check=True).stdout, np.uint8)
    assert ours.shape == theirs.shape
    n = (width + width % 2) * (height + height % 2)
    luma, chroma = np.abs(ours[:n].astype(int) - theirs[:n]), np.abs(ours[n:].astype(int) - theirs[n:])
    assert luma.max() <= 1  # rounding
    # ffmpeg's chroma filter weighs a 2x2 block's neighbours a little at sharp edges (max 4-5 measured)
    assert chroma.max() <= 8 and (chroma > 1).mean() < 0.01


def test_the_floor_stops_at_the_far_plane():
    """A dance that travels 60 m draws the grid to 20 m behind what the camera looks at, no further:
    farther lines blur into a grey strip at the horizon and cost most of a frame's drawing."""
    from aichoreo.render import _FAR_BEYOND_M, _NEAR_M, RasterRenderer
    from aichoreo.skeleton import rest_joints

    joints = np.repeat(rest_joints()[None], 120, axis=0).astype(np.float64)
    joints[:, :, 2] -= np.linspace(0.0, 60.0, 120)[:, None]  # walking away from the camera
    renderer = RasterRenderer(joints, fps=60.0, figure="body", camera="follow")
    position, axes, _ = renderer._camera(0)
    far = float(renderer._far[0])
    assert _FAR_BEYOND_M < far < _FAR_BEYOND_M + 10  # the camera stands a few metres from the dancer
    start, stop = renderer._floor_cut(position, axes, far)
    depth = np.concatenate([start, stop]) @ axes[2] - position @ axes[2]
    assert len(start) > 10 and depth.min() >= _NEAR_M - 1e-9 and depth.max() <= far + 1e-9
    assert depth.max() > far - 1e-6  # lines reach the far plane and are cut there
    grid = renderer._floor_ends.reshape(-1, 3)
    assert ((grid - position) @ axes[2]).max() > far + 25  # the grid itself reaches much farther
    assert (renderer.frame(0).min(axis=-1) < 250).sum() > 1000  # the floor and the body are drawn


def test_the_floor_kernel_paints_the_pixels_of_the_walk():
    """``raster.grey_lines`` finds and paints a line's pixels in one pass over a narrower band than
    ``raster.walk``; the frames must stay the same to the bit: random lines of every slope and
    width, many off the picture, painted over each other, against the walk's pixels and coverages."""
    from aichoreo.raster import LEVELS, bound, kernels, scratch, walk

    def by_walk(pixels, p0, p1, reach, width, height, shades):
        for k in range(len(p0)):
            index, coverage, distance = scratch(bound(*p0[k], *p1[k], reach[k], width, height))
            for i in range(walk(*p0[k], *p1[k], reach[k], False, width, height, index, coverage, distance)):
                grey = shades[np.int32(coverage[i] * LEVELS + 0.5)]
                pixels[index[i]] = min(grey, pixels[index[i]])

    rng = np.random.default_rng(0)
    width, height = 161, 121
    level = np.round(255 - (255 - 0xDD) * np.arange(LEVELS + 1) / LEVELS).astype(np.uint32)
    shades = 0xFF000000 | level << 16 | level << 8 | level  # white to the floor's grey
    painted = 0
    for trial in range(60):
        p0, p1 = rng.uniform(-60, 220, (2, 20, 2))
        if trial % 3 == 0:  # nearly level, as the far floor lines are
            p1[:, 1] = p0[:, 1] + rng.uniform(-3, 3, 20)
        reach = rng.uniform(0.6, 4.0, 20)
        ours, theirs = (np.full(width * height, 0xFFFFFFFF, np.uint32) for _ in range(2))
        kernels().grey_lines(ours, p0, p1, reach, width, height, shades)
        by_walk(theirs, p0, p1, reach, width, height, shades)
        np.testing.assert_array_equal(ours, theirs)
        painted += int((ours != 0xFFFFFFFF).sum())
    assert painted > 50_000  # the lines crossed the picture


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are Linux's")
def test_the_pipe_to_ffmpeg_holds_two_frames():
    """A frame (450 KiB at 640 x 480) goes to ffmpeg in one write, not in 64 KiB pieces."""
    import fcntl

    from aichoreo.render import PIPE_BYTES, _widen_pipe

    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        _widen_pipe(proc.stdin)
        size = fcntl.fcntl(proc.stdin.fileno(), fcntl.F_GETPIPE_SZ)
    finally:
        proc.stdin.close()
        proc.wait()
    if int(open("/proc/sys/fs/pipe-max-size").read()) >= PIPE_BYTES:
        assert size >= PIPE_BYTES >= 2 * 640 * 480 * 3 // 2

"""The mp4 export read back with ffmpeg: frame count, duration, and the music stream."""

from __future__ import annotations

import re
import subprocess

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


def test_an_encoder_failure_names_the_users_file(tmp_path, motion, monkeypatch):
    from aichoreo.errors import InputError

    def dying_writer(path, *args, **kwargs):
        yield
        raise OSError(f"[Errno 32] Broken pipe\n\nFFMPEG COMMAND:\nffmpeg -y {path}\n\nFFMPEG STDERR OUTPUT:\n"
                      f"{path}: No space left on device\n")

    monkeypatch.setattr(imageio_ffmpeg, "write_frames", dying_writer)
    with pytest.raises(InputError) as caught:
        write_mp4(motion, tmp_path / "d.mp4")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'd.mp4'}: ffmpeg could not encode the video: ")
    assert message.endswith(f"{tmp_path / 'd.mp4'}: No space left on device") and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file or scratch folder left

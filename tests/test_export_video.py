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

"""Video writer speed: frames per second of the whole mp4 writer (drawing + encoding + music), before
and after the raster renderer, on the same motion in one run.

"before" is the matplotlib figure per frame with x264's default preset ("medium"), as the writer was
until issue 15; "after" is :class:`aichoreo.render.RasterRenderer` piped to ffmpeg with the preset the
writer uses now, drawing the stick figure (the video until issue 16) and the body (the default since). Also timed: the raster drawing alone (no ffmpeg), and the writer with each of
x264's fast presets (with the file sizes they give). The motion is the fixtures' dancer walking a
circle of 1.5 m radius, so that the following camera and the floor grid move as in a real dance; a
click track is muxed in as the music. Each writer runs ``--repeats`` times and the fastest call
counts; the machine's load average is printed before and after, since the CPU may be shared.

    python benchmarks/video_speed.py [--seconds 20] [--width 640 --height 480] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

FPS = 60.0  # the motion's frame rate (the model's)
VIDEO_FPS = 30.0  # the video's (render_video's default)


def travelling_dancer(seconds: float) -> np.ndarray:
    """Joints ``(T, 24, 3)`` of the fixtures' dancer walking a circle of 1.5 m radius once."""
    from aichoreo.data.fixtures import dance_pose
    from aichoreo.motion import SMPLMotion
    from aichoreo.rotations import axis_angle_to_matrix

    n = int(round(seconds * FPS))
    poses, transl = dance_pose(n, 120.0, np.random.default_rng(0), fps=FPS)
    angle = 2 * np.pi * np.arange(n) / n
    transl = transl + np.stack([1.5 * np.sin(angle), np.zeros(n), 1.5 * (np.cos(angle) - 1)], axis=1)
    return SMPLMotion(axis_angle_to_matrix(poses), transl, FPS).joints()


def click_track(path: Path, seconds: float) -> None:
    import soundfile

    sr = 22050
    music = np.zeros(int(seconds * sr), np.float32)
    for beat in np.arange(0, seconds, 0.5):
        music[int(beat * sr):int(beat * sr) + 400] = 0.5
    soundfile.write(path, music, sr)


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process and by its finished children (ffmpeg)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def time_writer(joints, out: Path, music: Path, args, **options) -> tuple[float, float, float, int]:
    """render_video's video frames per wall second (the best of ``args.repeats`` calls: on a shared CPU
    the others' work only ever slows a call down), CPU ms per frame in Python and in ffmpeg (the mean
    over the calls: the others' work hardly changes them), and the file's size in bytes."""
    from aichoreo.render import render_video

    walls = []
    cpu_before = cpu_seconds()
    for _ in range(args.repeats):
        start = time.perf_counter()
        render_video(joints, out, fps=FPS, video_fps=VIDEO_FPS, audio_path=music, width=args.width,
                     height=args.height, title="benchmark", **options)
        walls.append(time.perf_counter() - start)
    cpu_after = cpu_seconds()
    n_frames = int(np.floor(len(joints) / FPS * VIDEO_FPS + 1e-9))
    python_ms, ffmpeg_ms = ((b - a) / args.repeats / n_frames * 1e3 for a, b in zip(cpu_before, cpu_after))
    return n_frames / min(walls), python_ms, ffmpeg_ms, out.stat().st_size


def time_drawing(joints, args, figure: str) -> float:
    """Frames per second of the raster drawing alone (the best of ``args.repeats``)."""
    from aichoreo.render import RasterRenderer

    picks = np.arange(0, len(joints), int(FPS / VIDEO_FPS))
    walls = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        renderer = RasterRenderer(joints, fps=FPS, width=args.width, height=args.height, title="benchmark",
                                  figure=figure)
        for i in picks:
            renderer.draw(int(i), f"{i / FPS:6.2f} s")
        walls.append(time.perf_counter() - start)
    return len(picks) / min(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the dance")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=2, help="calls per writer; the fastest counts")
    args = parser.parse_args()

    from aichoreo.render import X264_PRESET

    joints = travelling_dancer(args.seconds)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        click_track(tmp / "music.wav", args.seconds + 1)
        rows = [("before: matplotlib, medium", *time_writer(joints, tmp / "old.mp4", tmp / "music.wav", args,
                                                             renderer="matplotlib", preset="medium", figure="stick"))]
        rows.append(("raster, stick figure, " + X264_PRESET,
                     *time_writer(joints, tmp / "stick.mp4", tmp / "music.wav", args, figure="stick")))
        for preset in ("ultrafast", "superfast", "veryfast"):
            name = f"raster, body, {preset}" + ("  <- the writer's" if preset == X264_PRESET else "")
            rows.append((name, *time_writer(joints, tmp / f"{preset}.mp4", tmp / "music.wav", args, preset=preset)))
        drawing = {figure: time_drawing(joints, args, figure) for figure in ("stick", "body")}
    load_after = os.getloadavg()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average (1 min) {load_before[0]:.2f} "
          f"before, {load_after[0]:.2f} after")
    print(f"{args.seconds:g} s of dance, {args.width}x{args.height} at {VIDEO_FPS:g} fps, music muxed in; "
          f"best of {args.repeats} calls")
    print(f"{'writer':<36}{'frames/s':>10}{'vs before':>11}{'CPU ms/frame: python':>22}{'ffmpeg':>8}{'MB':>7}")
    before = rows[0][1]
    for name, speed, python_ms, ffmpeg_ms, size in rows:
        print(f"{name:<36}{speed:>10.0f}{speed / before:>10.1f}x{python_ms:>22.2f}{ffmpeg_ms:>8.2f}{size / 1e6:>7.2f}")
    for figure, speed in drawing.items():
        print(f"{'raster drawing alone, ' + figure:<36}{speed:>10.0f}")


if __name__ == "__main__":
    main()

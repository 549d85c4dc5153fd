"""Skeleton pictures and videos of SMPL-24 joints, seen from a fixed perspective camera.

Joints are ``(T, 24, 3)`` metres, y up, SMPL order (the dancer faces +z at rest). The camera
stands in front of the dancer (+z side, slightly above): by default it keeps its direction and
distance and follows the dancer's smoothed root, so a dance that travels across a ballroom stays
large in the picture while the floor grid, fixed in the world, shows the travel; ``camera="fixed"``
keeps one camera that sees the whole motion. Drawing is plain 2-D matplotlib (Agg) after
our own projection: an order of magnitude faster than matplotlib's 3-D axes, which matters
for minutes of video. Videos are encoded with the ffmpeg binary that the ``imageio-ffmpeg``
wheel ships (no system install), and written to a temporary file that is renamed at the end.
"""

from __future__ import annotations

import logging
import math
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path
from aichoreo.skeleton import JOINT_NAMES, PARENTS

log = logging.getLogger(__name__)

# Bone colours: the dancer's left in blue, right in red, the spine in grey.
_LEFT, _RIGHT, _CENTRE = "#1f77b4", "#d62728", "#555555"


def _bone_colour(child: int) -> str:
    name = JOINT_NAMES[child]
    if name.startswith("left"):
        return _LEFT
    if name.startswith("right"):
        return _RIGHT
    return _CENTRE


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: ``position`` and ``target`` in metres (y up), focal length in pixels."""

    position: np.ndarray
    target: np.ndarray
    focal: float
    width: int
    height: int

    def project(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` world points -> ``(..., 2)`` pixel coordinates (x right, y down)."""
        forward = self.target - self.position
        forward = forward / np.linalg.norm(forward)
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
        right = right / np.linalg.norm(right)
        up = np.cross(right, forward)
        rel = points - self.position
        depth = np.maximum(rel @ forward, 1e-3)
        u = self.focal * (rel @ right) / depth + self.width / 2
        v = -self.focal * (rel @ up) / depth + self.height / 2
        return np.stack([u, v], axis=-1)


def fit_camera(joints: np.ndarray, width: int = 640, height: int = 480) -> Camera:
    """A fixed camera in front of the dancer (+z) that keeps every frame of ``joints`` in view."""
    joints = np.asarray(joints, dtype=np.float64)
    lo, hi = joints.reshape(-1, 3).min(0), joints.reshape(-1, 3).max(0)
    centre = (lo + hi) / 2
    extent = max(hi[0] - lo[0], hi[1] - lo[1], 1.6)
    distance = 1.6 * extent + (hi[2] - lo[2]) / 2 + 1.5
    position = centre + np.array([0.0, 0.35 * extent, distance])
    focal = 0.8 * min(width, height) * distance / extent
    return Camera(position=position, target=centre, focal=focal, width=width, height=height)


def follow_cameras(joints: np.ndarray, *, fps: float, width: int = 640, height: int = 480,
                   smoothing_s: float = 1.0) -> list[Camera]:
    """One camera per frame at a fixed direction (front, +z, slightly above) and distance, following
    the dancer's root smoothed over ``smoothing_s`` seconds: dances that travel across a ballroom
    stay large in the picture, and the floor grid (fixed in the world) shows the travel."""
    from scipy.ndimage import gaussian_filter1d

    joints = np.asarray(joints, dtype=np.float64)
    root = gaussian_filter1d(joints[:, 0], sigma=max(smoothing_s * fps, 1e-3), axis=0, mode="nearest")
    body = max(float(np.percentile(joints[..., 1].max(1) - joints[..., 1].min(1), 95)), 1.0)
    floor = float(joints[..., 1].min())
    distance = 2.6 * body + 1.0
    focal = 0.8 * min(width, height) * distance / (1.4 * body)
    cameras = []
    for r in root:
        target = np.array([r[0], floor + 0.5 * body, r[2]])
        position = target + np.array([0.0, 0.3 * body, distance])
        cameras.append(Camera(position=position, target=target, focal=focal, width=width, height=height))
    return cameras


class SkeletonRenderer:
    """Draws one frame of a skeleton (and a floor grid) into an RGB array, reusing one figure.

    ``camera``: ``"follow"`` (fixed direction and distance, tracking the smoothed root; the
    default) or ``"fixed"`` (one camera that sees every frame of the motion).
    """

    def __init__(self, joints: np.ndarray, *, fps: float = 60.0, width: int = 640, height: int = 480,
                 title: str | None = None, camera: str = "follow"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        joints = _check_joints(joints)
        if camera not in ("follow", "fixed"):
            raise ValueError(f"camera must be 'follow' or 'fixed', got {camera!r}")
        self.joints = joints
        self.cameras = (follow_cameras(joints, fps=fps, width=width, height=height) if camera == "follow"
                        else [fit_camera(joints, width, height)] * len(joints))
        dpi = 100
        self.figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        self._floor_segments = self._floor(joints)
        self.floor_lines = [ax.plot([], [], color="#dddddd", linewidth=1, zorder=0)[0] for _ in self._floor_segments]
        self.lines = []
        for child in range(1, len(PARENTS)):
            (line,) = ax.plot([], [], color=_bone_colour(child), linewidth=3, solid_capstyle="round")
            self.lines.append(line)
        (self.points,) = ax.plot([], [], "o", color="black", markersize=3)
        self.text = ax.text(8, 20, "", fontsize=10, family="monospace")
        if title:
            ax.text(width - 8, 20, title, fontsize=10, ha="right")
        self.ax = ax

    @staticmethod
    def _floor(joints: np.ndarray) -> list[np.ndarray]:
        """Grid lines of the floor under the whole motion, 0.5 m apart, as (20, 3) point runs."""
        floor = float(joints[..., 1].min())
        lo, hi = joints.reshape(-1, 3).min(0) - 1.0, joints.reshape(-1, 3).max(0) + 1.0
        xs = np.arange(np.floor(lo[0] * 2) / 2, hi[0] + 0.5, 0.5)
        zs = np.arange(np.floor(lo[2] * 2) / 2, hi[2] + 0.5, 0.5)
        segments = [np.linspace((x, floor, zs[0]), (x, floor, zs[-1]), 40) for x in xs]
        segments += [np.linspace((xs[0], floor, z), (xs[-1], floor, z), 40) for z in zs]
        return segments

    def frame(self, index: int, label: str = "") -> np.ndarray:
        """The frame ``index`` as ``(height, width, 3)`` uint8 RGB."""
        camera = self.cameras[index]
        for seg, line in zip(self._floor_segments, self.floor_lines):
            uv = camera.project(seg)
            # Points behind the camera are clamped by project(); hide what falls far off screen.
            uv[(np.abs(uv[:, 0] - camera.width / 2) > 4 * camera.width)] = np.nan
            line.set_data(uv[:, 0], uv[:, 1])
        pix = camera.project(self.joints[index])
        for child, line in zip(range(1, len(PARENTS)), self.lines):
            parent = PARENTS[child]
            line.set_data([pix[parent, 0], pix[child, 0]], [pix[parent, 1], pix[child, 1]])
        self.points.set_data(pix[:, 0], pix[:, 1])
        self.text.set_text(label)
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        return np.ascontiguousarray(rgba[..., :3])


def _check_joints(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (len(PARENTS), 3):
        raise ValueError(f"joints must have shape (T, {len(PARENTS)}, 3), got {joints.shape}")
    if len(joints) == 0:
        raise ValueError("joints have no frames")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain NaN or infinite values")
    return joints


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by the ``imageio-ffmpeg`` wheel."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(None, "video export needs the imageio-ffmpeg package: pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def render_video(
    joints: np.ndarray,
    path: str | os.PathLike,
    *,
    fps: float,
    video_fps: float = 30.0,
    audio_path: str | os.PathLike | None = None,
    audio_offset_s: float = 0.0,
    width: int = 640,
    height: int = 480,
    title: str | None = None,
    progress: bool = False,
    camera: str = "follow",
) -> Path:
    """Write an H.264 mp4 of the skeleton, with the music muxed in when ``audio_path`` is given.

    Args:
        joints: ``(T, 24, 3)`` metres, y up, at ``fps`` frames per second.
        video_fps: the video's frame rate; frames are picked from ``joints`` at that rate.
        audio_offset_s: seconds into the audio file at which joint frame 0 sounds: a time inside the song
            (:class:`InputError` otherwise, the video would be silent; a song that ends before the video
            is logged as a warning).
        camera: ``"follow"`` (fixed direction, tracks the dancer) or ``"fixed"`` (sees the whole motion).
    Returns the path written (atomically: a temporary file renamed at the end).
    """
    ffmpeg = ffmpeg_exe()  # fails with a clear message before any work when the extra is missing
    joints = _check_joints(joints)
    path = Path(path)
    duration = len(joints) / fps
    n_video = max(1, int(np.floor(duration * video_fps + 1e-9)))
    if audio_path is not None:
        _check_audio_offset(Path(audio_path), audio_offset_s, n_video / video_fps)
    picks = np.minimum(np.round(np.arange(n_video) * fps / video_fps).astype(int), len(joints) - 1)
    renderer = SkeletonRenderer(joints, fps=fps, width=width, height=height, title=title, camera=camera)

    # The silent video waits beside the output under a name that says whose it is (removed at the end).
    with atomic_path(path) as out, tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
        import imageio_ffmpeg

        silent = Path(scratch) / "silent.mp4"
        target = silent if audio_path is not None else out
        writer = imageio_ffmpeg.write_frames(
            str(target), (width, height), fps=video_fps, codec="libx264", pix_fmt_out="yuv420p",
            macro_block_size=8, ffmpeg_log_level="error", output_params=["-crf", "23"],
        )
        iterator = range(n_video)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=f"video {path.name}", unit="frame")
        try:
            writer.send(None)
            for k in iterator:
                writer.send(renderer.frame(int(picks[k]), f"{picks[k] / fps:6.2f} s"))
            writer.close()
        except (OSError, RuntimeError) as exc:  # ffmpeg died (disk full, killed): its text names our temporary file
            reason = _ffmpeg_reason(str(exc), target, path)
            raise InputError(path, f"ffmpeg could not encode the video: {reason}") from None
        if audio_path is not None:
            cmd = [
                ffmpeg, "-y", "-loglevel", "error", "-i", str(silent), "-ss", f"{audio_offset_s:.6f}",
                "-i", os.fspath(audio_path), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                "-c:a", "aac", "-b:a", "160k", "-t", f"{n_video / video_fps:.6f}", str(out),
            ]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise InputError(audio_path, f"ffmpeg could not add it to {path}: "
                                             f"{_ffmpeg_reason(result.stderr, out, path)}")
    return path


def _ffmpeg_reason(stderr: str, temporary: Path, final: Path) -> str:
    """The last lines of ffmpeg's error text as one line, naming ``final`` instead of our temporary file."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("FFMPEG")]
    text = "; ".join(lines[-3:]) or "no message"
    return text.replace(os.fspath(temporary), os.fspath(final))


def audio_duration_s(path: Path) -> float | None:
    """The duration of an audio file as ffmpeg reads it (seconds), or None when its container does not
    say; :class:`InputError` naming ``path`` when ffmpeg cannot read it."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", os.fspath(path)], capture_output=True, text=True)
    match = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", result.stderr)
    if match is None:
        if "Audio:" not in result.stderr:
            raise InputError(path, "ffmpeg finds no audio in it")
        return None
    hours, minutes, seconds = match.groups()
    return 3600 * int(hours) + 60 * int(minutes) + float(seconds)


def _check_audio_offset(audio_path: Path, offset_s: float, video_s: float) -> None:
    """:class:`InputError` when ``offset_s`` is not a time inside the song (the video would be silent);
    a warning when the song ends before the video does."""
    if not (math.isfinite(offset_s) and offset_s >= 0):
        raise InputError(audio_path, f"the music offset must be a time >= 0 s in the song, got {offset_s}")
    song_s = audio_duration_s(audio_path)
    if song_s is None:
        log.info("%s does not say its duration; the music offset %.2f s is not checked", audio_path, offset_s)
        return
    if offset_s >= song_s:
        raise InputError(audio_path, f"is {song_s:.2f} s long; the music offset {offset_s:g} s is past its end "
                                     "(the video would be silent)")
    if offset_s + video_s > song_s + 0.05:
        log.warning("%s ends %.2f s before the video does (music offset %g s, video %.2f s)", audio_path,
                    offset_s + video_s - song_s, offset_s, video_s)


def render_frames_png(
    joints: np.ndarray,
    path: str | os.PathLike,
    *,
    fps: float,
    times_s: list[float] | None = None,
    width: int = 320,
    height: int = 400,
    title: str | None = None,
    camera: str = "follow",
) -> Path:
    """Write a PNG strip of skeleton frames at ``times_s`` (default: 6 evenly spaced times)."""
    joints = _check_joints(joints)
    if times_s is None:
        times_s = list(np.linspace(0, (len(joints) - 1) / fps, 6))
    return render_frames_grid({"": joints}, path, fps=fps, times_s=times_s, width=width, height=height,
                              title=title, camera=camera)


def render_frames_grid(
    motions: dict[str, np.ndarray],
    path: str | os.PathLike,
    *,
    fps: float,
    times_s: list[float],
    width: int = 320,
    height: int = 400,
    title: str | None = None,
    camera: str = "follow",
) -> Path:
    """Write a PNG of skeleton frames: one row per motion ``(T, 24, 3)`` (its label written in its
    first frame), one column per time in ``times_s`` (seconds; clipped to each motion's length)."""
    from matplotlib.figure import Figure

    rows = []
    for label, joints in motions.items():
        joints = _check_joints(joints)
        indices = [min(len(joints) - 1, max(0, int(round(t * fps)))) for t in times_s]
        renderer = SkeletonRenderer(joints, fps=fps, width=width, height=height, camera=camera)
        rows.append(np.concatenate([renderer.frame(i, f"{label}  {i / fps:.2f} s" if label and col == 0
                                                   else f"{i / fps:.2f} s")
                                    for col, i in enumerate(indices)], axis=1))
    grid = np.concatenate(rows, axis=0)
    fig = Figure(figsize=(grid.shape[1] / 100, grid.shape[0] / 100 + (0.3 if title else 0)), dpi=100)
    ax = fig.add_axes((0, 0, 1, grid.shape[0] / (grid.shape[0] + (30 if title else 0))))
    ax.imshow(grid)
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10, y=0.99)
    return _save_figure(fig, path)


def _save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)

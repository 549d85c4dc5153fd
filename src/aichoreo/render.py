"""Skeleton pictures and videos of SMPL-24 joints, seen from a fixed perspective camera.

Joints are ``(T, 24, 3)`` metres, y up, SMPL order (the dancer faces +z at rest). The camera
stands in front of the dancer (+z side, slightly above): by default it keeps its direction and
distance and follows the dancer's smoothed root, so a dance that travels across a ballroom stays
large in the picture while the floor grid, fixed in the world, shows the travel; ``camera="fixed"``
keeps one camera that sees the whole motion.

Two renderers draw the same picture after our own projection. :class:`SkeletonRenderer` is plain
2-D matplotlib (Agg), used for the PNG strips (about 40 frames/s). :class:`RasterRenderer` paints
anti-aliased lines, shaded capsules, dots and text straight into a numpy buffer with the compiled
kernels of :mod:`aichoreo.raster` (about 1,400 frames/s for the body on this project's CPU), used
for videos: its frames, converted to YUV 4:2:0 as they are drawn, are piped raw to the ffmpeg binary
that the ``imageio-ffmpeg`` wheel ships (no system install), which encodes them in its own process
while the next frame is drawn. Videos are written to a temporary file that is renamed at the end.
"""

from __future__ import annotations

import contextlib
import functools
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

# The body figure (videos and the HTML viewer): each bone a capsule as thick as that part of an
# adult body, radius in metres by the bone's child joint; the torso one capsule from the pelvis to
# spine3 (SMPL's three spine bones are not drawn on their own), the head a ball above the head
# joint. Rounded from a mid-sized adult's girths (thigh ~55 cm round: 8.5 cm radius, drawn
# slimmer so the legs stay apart; upper arm ~30 cm: 4.8 cm).
BODY_RADII_M: dict[str, float] = {
    "left_hip": 0.07, "right_hip": 0.07, "left_knee": 0.065, "right_knee": 0.065,
    "left_ankle": 0.048, "right_ankle": 0.048, "left_foot": 0.035, "right_foot": 0.035, "neck": 0.05,
    "left_collar": 0.06, "right_collar": 0.06, "head": 0.045, "left_shoulder": 0.055, "right_shoulder": 0.055,
    "left_elbow": 0.045, "right_elbow": 0.045, "left_wrist": 0.035, "right_wrist": 0.035,
    "left_hand": 0.03, "right_hand": 0.03,
}  # fmt: skip
TORSO_RADIUS_M = 0.115
HEAD_RADIUS_M = 0.1
HEAD_LIFT = 0.6  # the head ball's centre: head joint + 0.6 x (head - neck)
FIGURES = ("body", "stick")


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
    """Draws one frame of a skeleton (and a floor grid) into an RGB array, reusing one matplotlib figure.

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


# --------------------------------------------------------------------------------------------
# The raster renderer: frames drawn straight into a numpy buffer, for videos
# --------------------------------------------------------------------------------------------

# Sizes of SkeletonRenderer's figure in pixels (100 dpi: one point is 100/72 px), so that both
# renderers draw the same picture.
_PX_PER_PT = 100 / 72
_BONE_HALF_WIDTH = 3 * _PX_PER_PT / 2  # bones: linewidth=3 pt
_FLOOR_HALF_WIDTH = 1 * _PX_PER_PT / 2  # floor grid: linewidth=1 pt
# Joints: markersize=3 pt plus matplotlib's default 1-pt marker edge (rcParams "lines.markeredgewidth").
_DOT_RADIUS = (3 + 1) * _PX_PER_PT / 2
_FONT_PX = 10 * _PX_PER_PT  # fontsize=10 pt
_TEXT_BASELINE = 20  # px from the top, as the figure's ax.text(..., 20, ...)
_FLOOR, _DOT = "#dddddd", "#000000"  # as in SkeletonRenderer
_NEAR_M = 0.05  # floor lines are cut this far in front of the camera (what lies behind is not drawn)
# ... and this far behind what it looks at: there the grid's 0.5 m squares are about a pixel deep
# and blur to grey, and a dance that travels tens of metres would otherwise draw hundreds of lines a
# frame into that strip (on a 3-minute dance that travelled 115 m, the floor took 1.9 ms of a 2.7 ms
# frame; cut here, 0.9 ms).
_FAR_BEYOND_M = 20.0


def _rgbx(colour: str) -> np.ndarray:
    """``"#rrggbb"`` -> ``(4,)`` float32 R, G, B, 255 (the byte order of ffmpeg's ``rgb0`` frames)."""
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)] + [255], np.float32)


def _packed(colours: list[str]) -> np.ndarray:
    """``"#rrggbb"`` colours -> ``(n,)`` uint32 pixels of the raster buffer (bytes R, G, B, 255)."""
    return np.stack([_rgbx(c) for c in colours]).astype(np.uint8).view(np.uint32)[:, 0]


def _camera_arrays(cameras: list[Camera]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame camera ``positions (T, 3)``, ``axes (T, 3, 3)`` (rows: right, up, forward, as in
    :meth:`Camera.project`) and ``focal (T,)``, computed once for every frame."""
    position = np.stack([c.position for c in cameras]).astype(np.float64)
    forward = np.stack([c.target for c in cameras]) - position
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, forward)
    return position, np.stack([right, up, forward], axis=1), np.array([c.focal for c in cameras], np.float64)


class RasterRenderer:
    """Draws frames of a skeleton and its floor grid straight into a numpy buffer: the picture of
    :class:`SkeletonRenderer` (same cameras, colours, line widths, joint dots and labels, anti-aliased)
    at about ten times its speed, for videos.

    A frame is layers painted over white by the compiled kernels of :mod:`aichoreo.raster`, each
    blended over the frame with its anti-aliased coverage: the floor; then the body's capsules far
    to near, or the stick figure's bones (a pixel two bones touch takes the one that covers it most;
    at equal coverage right over left over the spine) and its joints; the text. The buffer is
    ``(height, width)`` uint32 whose bytes are R, G, B, 255 (ffmpeg's ``rgb0``); :meth:`draw_yuv420`
    converts it to the frames the H.264 encoder takes.
    """

    def __init__(self, joints: np.ndarray, *, fps: float = 60.0, width: int = 640, height: int = 480,
                 title: str | None = None, camera: str = "follow", figure: str = "stick"):
        # numba is imported with the kernels, only when a video is drawn.
        from aichoreo.raster import LEVELS, SHADES, kernels, yuv420_size

        joints = _check_joints(joints)
        if camera not in ("follow", "fixed"):
            raise ValueError(f"camera must be 'follow' or 'fixed', got {camera!r}")
        if figure not in FIGURES:
            raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {figure!r}")
        self._body = figure == "body"
        # The body's capsules: (from joint, to joint, radius m, colour); the head's from its centre to itself.
        names = {n: i for i, n in enumerate(JOINT_NAMES)}
        capsules = [(int(PARENTS[names[n]]), names[n], r, _bone_colour(names[n])) for n, r in BODY_RADII_M.items()]
        capsules.append((0, names["spine3"], TORSO_RADIUS_M, _CENTRE))
        capsules.append((-1, -1, HEAD_RADIUS_M, _CENTRE))  # -1: the head's centre (added as point 24)
        self._capsule_from = np.array([c[0] for c in capsules])
        self._capsule_to = np.array([c[1] for c in capsules])
        self._capsule_radius = np.array([c[2] for c in capsules], np.float64)
        # Per capsule, its colour at SHADES levels of (distance from the axis / radius)^2: darker
        # towards the rim as a lit cylinder is (1 - 0.35 x level, as the HTML viewer shades them).
        rgbx = np.stack([_rgbx(c[3]) for c in capsules])[:, None, :]
        shade = 1.0 - 0.35 * np.linspace(0.0, 1.0, SHADES)[None, :, None] * np.array([1, 1, 1, 0])
        self._capsule_shades = (rgbx * shade + 0.5).astype(np.uint8).view(np.uint32)[..., 0]  # (C, SHADES)
        self._head, self._neck = names["head"], names["neck"]
        self.joints, self.width, self.height = joints, width, height
        cameras = (follow_cameras(joints, fps=fps, width=width, height=height) if camera == "follow"
                   else [fit_camera(joints, width, height)])
        self._position, self._axes, self._focal = _camera_arrays(cameras)
        # per camera, the floor's far plane (depth, m)
        self._far = np.linalg.norm(np.stack([c.target for c in cameras]) - self._position, axis=-1) + _FAR_BEYOND_M
        self._fixed = camera == "fixed"
        self._floor_ends = np.stack([(s[0], s[-1]) for s in SkeletonRenderer._floor(joints)])  # (L, 2, 3) m
        self._parents, self._children = np.array(PARENTS[1:]), np.arange(1, len(PARENTS))
        # Bone colours as a palette index; larger indices win ties (drawn on top).
        self._palette = _packed([_CENTRE, _LEFT, _RIGHT])
        order = {_CENTRE: 0, _LEFT: 1, _RIGHT: 2}
        self._bone_colour = np.array([order[_bone_colour(int(c))] for c in self._children], np.int32)
        self._bone_reach = np.full(len(self._children), _BONE_HALF_WIDTH + 0.5)
        self._dot_palette, self._dot_colour = _packed([_DOT]), np.zeros(len(PARENTS), np.int32)
        self._dot_reach = np.full(len(PARENTS), _DOT_RADIUS + 0.5)
        # The floor's colour over white at each coverage level, as the uint32 pixels of the buffer: a
        # grey, so that the darker of two is the more covered (aichoreo.raster.grey_lines).
        assert _FLOOR[1:3] == _FLOOR[3:5] == _FLOOR[5:7], "the floor must be grey"
        white = np.full(4, 255.0, np.float32)
        alpha = np.arange(LEVELS + 1, dtype=np.float32)[:, None] / LEVELS
        self._floor_on_white = (white + (_rgbx(_FLOOR) - white) * alpha + 0.5).astype(np.uint8).view(np.uint32)[:, 0]
        self._kernels = kernels()
        self._image = np.empty((height, width), np.uint32)
        self._pixels = self._image.reshape(-1)
        self._white = np.full(1, 0xFFFFFFFF, np.uint32)[0]
        self._keys = np.zeros(height * width, np.int32)  # one layer's coverage keys; zero between layers
        self._touched = np.empty(height * width, np.int32)  # the pixels a layer touched
        self._yuv = np.empty(yuv420_size(width, height), np.uint8)
        self._glyphs: dict[tuple[int, str], tuple[int, int, np.ndarray]] = {}
        self._title = None if not title else _text_coverage(title, width - 8, "rs", "DejaVuSans.ttf")

    def _camera(self, index: int) -> tuple[np.ndarray, np.ndarray, float]:
        k = 0 if self._fixed else index
        return self._position[k], self._axes[k], float(self._focal[k])

    def _project(self, points: np.ndarray, position, axes, focal) -> np.ndarray:
        """``(..., 3)`` world points -> ``(..., 2)`` pixels, as :meth:`Camera.project`."""
        rel = (points - position) @ axes.T  # (..., 3): right, up, depth
        depth = np.maximum(rel[..., 2], 1e-3)
        return np.stack([focal * rel[..., 0] / depth + self.width / 2,
                         -focal * rel[..., 1] / depth + self.height / 2], axis=-1)

    def _floor_lines(self, position, axes, focal, far: float) -> tuple[np.ndarray, np.ndarray]:
        """The floor grid's lines in pixels ``(p0, p1)``, cut at the camera's near plane and at the
        depth ``far`` (m)."""
        start, stop = self._floor_cut(position, axes, far)
        return self._project(start, position, axes, focal), self._project(stop, position, axes, focal)

    def _floor_cut(self, position, axes, far: float) -> tuple[np.ndarray, np.ndarray]:
        """The floor grid's lines ``(start, stop)`` ``(L, 3)`` m, the parts between the camera's near
        plane and the depth ``far``."""
        ends = self._floor_ends
        depth = (ends - position) @ axes[2]  # (L, 2)
        visible = (depth > _NEAR_M).any(axis=1) & (depth < far).any(axis=1)
        ends, depth = ends[visible], depth[visible]
        # An end outside the planes moves along its line to the plane.
        change = depth[:, 1] - depth[:, 0]
        change = np.where(change != 0, change, 1.0)
        start, stop = ends[:, 0], ends[:, 1]
        for plane, outside in ((_NEAR_M, depth < _NEAR_M), (far, depth > far)):
            t = np.clip((plane - depth[:, 0]) / change, 0.0, 1.0)[:, None]
            cut = ends[:, 0] + t * (ends[:, 1] - ends[:, 0])
            start = np.where(outside[:, :1], cut, start)
            stop = np.where(outside[:, 1:], cut, stop)
        return start, stop

    def _blend_text(self, placed: tuple[int, int, np.ndarray] | None) -> None:
        """Black text: ``(top, left, coverage (h, w))`` cut to the frame."""
        if placed is None:
            return
        top, left, coverage = placed
        coverage = coverage[max(0, -top):self.height - top, max(0, -left):self.width - left]
        top, left = max(0, top), max(0, left)
        h, w = coverage.shape
        if h == 0 or w == 0:
            return
        region = self._image[top:top + h, left:left + w].view(np.uint8).reshape(h, w, 4)
        region[..., :3] = (region[..., :3] * (1.0 - coverage[..., None]) + 0.5).astype(np.uint8)

    def _label(self, label: str) -> tuple[int, int, np.ndarray] | None:
        """The monospace label at the top left, from a cache of glyphs by position (a label is a new
        string every frame; its glyphs are not)."""
        parts = []
        for i, char in enumerate(label):
            if char == " ":
                continue
            if (i, char) not in self._glyphs:
                # The glyph where it stands in the label: rendered alone behind i spaces of the
                # monospace font, so that the pixels are those of the whole string.
                self._glyphs[i, char] = _text_coverage(" " * i + char, 8, "ls", "DejaVuSansMono.ttf")
            parts.append(self._glyphs[i, char])
        if not parts:
            return None
        top, left = min(p[0] for p in parts), min(p[1] for p in parts)
        bottom = max(p[0] + p[2].shape[0] for p in parts)
        right = max(p[1] + p[2].shape[1] for p in parts)
        coverage = np.zeros((bottom - top, right - left), np.float32)
        for t, lft, c in parts:
            window = coverage[t - top:t - top + c.shape[0], lft - left:lft - left + c.shape[1]]
            np.maximum(window, c, out=window)
        return top, left, coverage

    def draw(self, index: int, label: str = "") -> np.ndarray:
        """Draw frame ``index`` and return the renderer's buffer, ``(height, width)`` uint32 (bytes R, G,
        B, 255), overwritten by the next call."""
        position, axes, focal = self._camera(index)
        w, h, k = self.width, self.height, self._kernels
        self._image.fill(self._white)
        # The floor's lines end outside the picture or at the grid's edge: no round caps needed.
        p0, p1 = self._floor_lines(position, axes, focal, float(self._far[0 if self._fixed else index]))
        k.grey_lines(self._pixels, p0, p1, np.full(len(p0), _FLOOR_HALF_WIDTH + 0.5), w, h, self._floor_on_white)
        if self._body:
            self._draw_body(self.joints[index], position, axes, focal)
        else:
            pix = self._project(self.joints[index], position, axes, focal)  # (24, 2)
            k.strongest(self._pixels, self._keys, self._touched, pix[self._parents], pix[self._children],
                        self._bone_reach, self._bone_colour, True, w, h, self._palette)
            # The joint dots: segments of no length with round caps.
            k.strongest(self._pixels, self._keys, self._touched, pix, pix, self._dot_reach, self._dot_colour, True,
                        w, h, self._dot_palette)
        if label:
            self._blend_text(self._label(label))
        self._blend_text(self._title)
        return self._image

    def _draw_body(self, joints: np.ndarray, position, axes, focal) -> None:
        """The body figure: capsules far to near, each shaded darker towards its rim as a lit
        cylinder is (1 - 0.35 (d / r)^2, as the HTML viewer shades them) and blended with its
        anti-aliased coverage over what is drawn behind it. Inside a shape a pixel is set, not
        blended."""
        head = joints[self._head] + HEAD_LIFT * (joints[self._head] - joints[self._neck])
        points = np.concatenate([joints, head[None]])  # (25, 3): index -1 is the head's centre
        a, b = points[self._capsule_from], points[self._capsule_to]
        depth = np.maximum(((a + b) / 2 - position) @ axes[2], 1e-3)  # (C,) metres in front of the camera
        radius_px = self._capsule_radius * focal / depth
        pa, pb = self._project(a, position, axes, focal), self._project(b, position, axes, focal)
        far_to_near = np.argsort(-depth, kind="stable")
        self._kernels.capsules(self._pixels, pa, pb, radius_px, far_to_near, self._capsule_shades, self.width,
                               self.height)

    def draw_yuv420(self, index: int, label: str = "") -> np.ndarray:
        """Draw frame ``index`` and return it as the planar YUV 4:2:0 bytes H.264 encodes (limited-range
        BT.601, as ffmpeg converts RGB; odd sizes padded with white to even ones): the renderer's
        buffer, overwritten by the next call. Converting here saves ffmpeg's converter, which took
        0.9 ms a frame of the encoder's process (docs/exports.md, Video)."""
        self._kernels.yuv420(self.draw(index, label), self._yuv)
        return self._yuv

    def frame(self, index: int, label: str = "") -> np.ndarray:
        """The frame ``index`` as ``(height, width, 3)`` uint8 RGB (a copy)."""
        return self.draw(index, label).view(np.uint8).reshape(self.height, self.width, 4)[..., :3].copy()


@functools.lru_cache(maxsize=None)
def _font(name: str):
    """A Pillow font of the figure's text size, from the DejaVu files that matplotlib ships (its
    default fonts): labels look as they did."""
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size=_FONT_PX)


def _text_coverage(text: str, x: float, anchor: str, font: str) -> tuple[int, int, np.ndarray]:
    """``(top, left, coverage (h, w) float32)`` of ``text`` drawn with its ``anchor`` (Pillow's: ``"ls"``
    left end of the baseline, ``"rs"`` right end) at ``(x, _TEXT_BASELINE)``."""
    from PIL import Image, ImageDraw

    face = _font(font)
    left, top, right, bottom = face.getbbox(text, anchor=anchor)
    left, top = int(np.floor(left)) - 1, int(np.floor(top)) - 1
    right, bottom = int(np.ceil(right)) + 1, int(np.ceil(bottom)) + 1
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=face, anchor=anchor)
    return _TEXT_BASELINE + top, int(round(x)) + left, np.asarray(mask, dtype=np.float32) / 255


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by the ``imageio-ffmpeg`` wheel."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(None, "video export needs the imageio-ffmpeg package: pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


# x264's speed against file size. ffmpeg's share of a frame of this picture (colour conversion
# included, one thread; docs/exports.md, Video): ultrafast 1.5 ms, superfast 2.8, veryfast 4.3, and
# it is the slower side of the pipe; the files are 12, 4.7 and 2.4 MB per minute at 640x480.
X264_PRESET = "ultrafast"
X264_CRF = 23  # x264's default quality (as imageio-ffmpeg's writer used before)


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
    renderer: str = "raster",
    preset: str = X264_PRESET,
    figure: str | None = None,
    audio_aac: str | os.PathLike | None = None,
) -> Path:
    """Write an H.264 mp4 of the dancer, with the music muxed in when ``audio_path`` is given.

    Args:
        joints: ``(T, 24, 3)`` metres, y up, at ``fps`` frames per second.
        video_fps: the video's frame rate; frames are picked from ``joints`` at that rate.
        audio_offset_s: seconds into the audio file at which joint frame 0 sounds: a time inside the song
            (:class:`InputError` otherwise, the video would be silent; a song that ends before the video
            is logged as a warning).
        camera: ``"follow"`` (fixed direction, tracks the dancer) or ``"fixed"`` (sees the whole motion).
        renderer: ``"raster"`` (:class:`RasterRenderer`, the default) or ``"matplotlib"``
            (:class:`SkeletonRenderer`, the same picture about ten times slower; kept for comparison).
        preset: x264's preset (``"ultrafast"`` ... ``"veryslow"``): speed against file size.
        figure: ``"body"`` (capsules as thick as a body, :data:`BODY_RADII_M`; the raster renderer's
            default) or ``"stick"`` (the skeleton's lines and joint dots; the only figure of the
            matplotlib renderer).
        audio_aac: ``audio_path`` already encoded as AAC (an ``.m4a`` of the whole file): its stream is
            copied into the video instead of encoded again, where ``audio_offset_s`` is 0 and the song's
            own stream cannot be copied (:func:`copies_audio`: an mp3 or AAC song is copied as it is).
    Returns the path written (atomically: a temporary file renamed at the end).

    The frames are drawn (and, by the raster renderer, converted to YUV 4:2:0) in this process and
    piped raw to ffmpeg, which encodes them in its own process, on one x264 thread, while the next
    frame is drawn: the two cores of a small machine are both busy. The music is muxed in the same
    ffmpeg run (copied from the song or ``audio_aac`` where it can be, else encoded there).
    """
    ffmpeg = ffmpeg_exe()  # fails with a clear message before any work when the extra is missing
    joints = _check_joints(joints)
    if renderer not in ("raster", "matplotlib"):
        raise ValueError(f"renderer must be 'raster' or 'matplotlib', got {renderer!r}")
    figure = figure or ("body" if renderer == "raster" else "stick")
    if figure not in FIGURES or (renderer == "matplotlib" and figure != "stick"):
        raise ValueError(f"figure must be one of {', '.join(FIGURES)} ('stick' for the matplotlib renderer), "
                         f"got {figure!r}")
    path = Path(path)
    duration = len(joints) / fps
    n_video = max(1, int(np.floor(duration * video_fps + 1e-9)))
    if audio_path is not None:
        _check_audio_offset(Path(audio_path), audio_offset_s, n_video / video_fps)
    picks = np.minimum(np.round(np.arange(n_video) * fps / video_fps).astype(int), len(joints) - 1)
    if renderer == "raster":
        draw = RasterRenderer(joints, fps=fps, width=width, height=height, title=title, camera=camera,
                              figure=figure).draw_yuv420
        # the frames the encoder takes, converted and padded to even sizes while drawing
        pix_fmt, size = "yuv420p", f"{width + width % 2}x{height + height % 2}"
    else:
        draw = SkeletonRenderer(joints, fps=fps, width=width, height=height, title=title, camera=camera).frame
        pix_fmt, size = "rgb24", f"{width}x{height}"
    frames = (draw(int(i), f"{i / fps:6.2f} s") for i in picks)

    with atomic_path(path) as out:  # a path that cannot be written refuses before the bar is shown
        if progress:
            from tqdm import tqdm

            frames = tqdm(frames, total=n_video, desc=f"video {path.name}", unit="frame")
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", size, "-framerate", f"{video_fps}",
               "-i", "pipe:0"]
        # At offset 0 the music is copied, from the song itself where its codec allows, else from
        # the AAC handed over; a seek into a copied stream would land on a packet, not the frame's time.
        copied = None if audio_path is None or audio_offset_s != 0 else (
            audio_path if copies_audio(audio_path) else audio_aac)
        copy_audio = copied is not None
        if copy_audio:
            cmd += ["-i", os.fspath(copied)]
        elif audio_path is not None:
            cmd += ["-ss", f"{audio_offset_s:.6f}", "-i", os.fspath(audio_path)]
        # One encoder thread: this process draws on one core and x264 keeps pace on another; its
        # frame threads cost 40 % more CPU per frame (1.8 against 1.3 ms, measured on a 3-minute dance),
        # which the other exports, written meanwhile, need.
        cmd += ["-map", "0:v:0", "-c:v", "libx264", "-preset", preset, "-crf", str(X264_CRF), "-threads", "1",
                "-pix_fmt", "yuv420p"]
        if pix_fmt != "yuv420p" and (width % 2 or height % 2):  # yuv420p needs even sizes: one white column or row more
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white"]
        if audio_path is not None:
            cmd += ["-map", "1:a:0"] + (["-c:a", "copy"] if copy_audio else ["-c:a", "aac", "-b:a", "160k"])
        cmd += ["-t", f"{n_video / video_fps:.6f}", "-f", "mp4", str(out)]
        stderr = _pipe_frames(cmd, frames)
        if stderr is not None:
            reason = _ffmpeg_reason(stderr, out, path)
            if audio_path is not None and os.fspath(audio_path) in stderr:
                raise InputError(audio_path, f"ffmpeg could not add it to {path}: {reason}")
            raise InputError(path, f"ffmpeg could not encode the video: {reason}")
    return path


def _pipe_frames(cmd: list[str], frames) -> str | None:
    """Run ``cmd`` (ffmpeg reading raw frames from its stdin) and write ``frames`` (arrays) to it.

    Returns None when ffmpeg wrote the file, else its error text. ffmpeg never outlives this call:
    on any exception here (a drawing error, Ctrl-C) it is killed and reaped before the exception goes
    on, so the caller's temporary file can be removed.
    """
    with tempfile.TemporaryFile() as log_file:  # a file, not a pipe: ffmpeg can never block on it
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log_file)
        _widen_pipe(proc.stdin)
        try:
            stopped = False
            try:
                for frame in frames:
                    proc.stdin.write(frame)
                proc.stdin.close()
            except BrokenPipeError:  # ffmpeg stopped reading: its exit status and message say why
                stopped = True
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            raise
        if returncode == 0 and not stopped:
            return None
        log_file.seek(0)
        return log_file.read().decode(errors="replace") or f"ffmpeg exited with status {returncode}"


# Bytes of the pipe to ffmpeg: a 640 x 480 frame in YUV 4:2:0 is 450 KiB, and through Linux's
# default 64 KiB pipe this process waited for ffmpeg to take each frame piece by piece instead of
# drawing the next (1 MiB, the default most a user may ask: 660-760 -> 785-857 frames/s for the
# whole writer on 100 s of dance, measured on this project's 2-core CPU).
PIPE_BYTES = 1 << 20


def _widen_pipe(stream) -> None:
    """Ask for :data:`PIPE_BYTES` of pipe buffer (Linux); elsewhere, or where refused, nothing changes."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _ffmpeg_reason(stderr: str, temporary: Path, final: Path) -> str:
    """The last lines of ffmpeg's error text as one line, naming ``final`` instead of our temporary file."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("FFMPEG")]
    text = "; ".join(lines[-3:]) or "no message"
    return text.replace(os.fspath(temporary), os.fspath(final))


# The song's own audio stream goes into the video as it is (a stream copy, no encoding) when it is
# one of these: the MP4 players people use (browsers, QuickTime, Windows' player, VLC) and editors
# play both in an .mp4. Others (opus, vorbis, flac, pcm, alac) are encoded as AAC: MP4 can hold
# several of them, but browsers or QuickTime do not play them there. Copying is lossless, and the
# 3 s of one core that encoding a 3-minute song takes go to the dance (issue 15). ffmpeg's stream copy
# keeps an mp3's encoder delay out of the picture (checked in tests/test_export_video.py).
COPIED_AUDIO_CODECS = ("aac", "mp3")


@dataclass(frozen=True)
class AudioProbe:
    """What ffmpeg reads from an audio file's header: its duration (seconds, None where the container
    does not say) and the codec of its first audio stream (ffmpeg's name, e.g. ``"mp3"``)."""

    duration_s: float | None
    codec: str | None


def probe_audio(path: str | os.PathLike) -> AudioProbe:
    """:class:`AudioProbe` of ``path``; :class:`InputError` naming it when ffmpeg finds no audio.

    One ffmpeg run per file and version of it (its size and modification time): the command asks it
    when it starts the music's encoding and again when it writes the video."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(path, exc.strerror or "cannot be read") from None
    return _probe_audio(os.fspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _probe_audio(path: str, size: int, mtime_ns: int) -> AudioProbe:
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", path], capture_output=True, text=True,
                            errors="replace")
    stream = re.search(r"Stream #\S+: Audio: (\w+)", result.stderr)
    if stream is None:
        raise InputError(path, "ffmpeg finds no audio in it")
    match = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", result.stderr)
    duration = None if match is None else 3600 * int(match[1]) + 60 * int(match[2]) + float(match[3])
    return AudioProbe(duration, stream[1])


def audio_duration_s(path: Path) -> float | None:
    """The duration of an audio file as ffmpeg reads it (seconds), or None when its container does not
    say; :class:`InputError` naming ``path`` when ffmpeg cannot read it."""
    return probe_audio(path).duration_s


def copies_audio(path: str | os.PathLike) -> bool:
    """Whether :func:`render_video` copies the music of ``path`` as it is (:data:`COPIED_AUDIO_CODECS`)
    at music offset 0, rather than encoding it."""
    return probe_audio(path).codec in COPIED_AUDIO_CODECS


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

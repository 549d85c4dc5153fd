"""Skeleton pictures and videos of SMPL-24 joints, seen from a fixed perspective camera.

Joints are ``(T, 24, 3)`` metres, y up, SMPL order (the dancer faces +z at rest). The camera
stands in front of the dancer (+z side, slightly above): by default it keeps its direction and
distance and follows the dancer's smoothed root, so a dance that travels across a ballroom stays
large in the picture while the floor grid, fixed in the world, shows the travel; ``camera="fixed"``
keeps one camera that sees the whole motion.

Two renderers draw the same picture after our own projection. :class:`SkeletonRenderer` is plain
2-D matplotlib (Agg), used for the PNG strips (about 40 frames/s). :class:`RasterRenderer` draws
anti-aliased lines, dots and text straight into a numpy buffer (about 500 frames/s), used for
videos: its frames are piped raw to the ffmpeg binary that the ``imageio-ffmpeg`` wheel ships (no
system install), which encodes them in its own process while the next frame is drawn. Videos are
written to a temporary file that is renamed at the end.
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
_LEVELS = 255  # coverage is kept in 1/255 steps, the resolution of an 8-bit pixel
_SHADES = 64  # shading levels across a body capsule


def _rgbx(colour: str) -> np.ndarray:
    """``"#rrggbb"`` -> ``(4,)`` float32 R, G, B, 255 (the byte order of ffmpeg's ``rgb0`` frames)."""
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)] + [255], np.float32)


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


def _clip_segments(p0: np.ndarray, p1: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Liang-Barsky clipping of 2-D segments ``(N, 2)`` to the box ``[lo, hi]``: ``(p0, p1, kept)``,
    the parts inside and the indices of the segments that have one."""
    inside = (p0 >= lo).all() and (p0 <= hi).all() and (p1 >= lo).all() and (p1 <= hi).all()
    if inside:  # the usual case for the bones
        return p0, p1, np.arange(len(p0))
    d = p1 - p0
    q = np.concatenate([p0 - lo, hi - p0], axis=1)  # (N, 4): >= 0 where p0 is inside that edge
    p = np.concatenate([-d, d], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = q / p
    t0 = np.where(p < 0, t, 0.0).max(axis=1)  # entering the box
    t1 = np.where(p > 0, t, 1.0).min(axis=1)  # leaving it
    kept = np.flatnonzero((t0 <= t1) & ~((p == 0) & (q < 0)).any(axis=1))
    d = d[kept]
    return p0[kept] + t0[kept, None] * d, p0[kept] + t1[kept, None] * d, kept


def _segment_pixels(p0: np.ndarray, p1: np.ndarray, half_width, width: int, height: int, *,
                    caps: bool = True, distance: bool = False) -> tuple[np.ndarray, ...]:
    """The pixels that lines ``half_width`` px wide either side of the segments ``p0 -> p1`` touch.

    ``half_width``: one width for all, or ``(N,)`` one per segment. With ``distance``, a fourth
    array: each pixel centre's distance from the segment, in px.

    ``p0, p1``: ``(N, 2)`` pixel coordinates (x right, y down; pixel ``(i, j)`` covers ``[i, i+1] x
    [j, j+1]``, as in the matplotlib figure). ``caps``: round ends (matplotlib's
    ``solid_capstyle="round"``), else the line stops where the segment does. Returns ``(index,
    coverage, segment)``, each ``(n,)``: flat pixel indices into a ``(height, width)`` image, coverage
    in ``(0, 1]`` (one minus the distance from the pixel's centre to the line's edge, the usual
    anti-aliasing estimate) and the segment that touches it. A pixel may appear more than once.

    All segments are done at once: one pixel column (a row, for steep segments) per step along the
    longer axis, and a few pixels across it. Arrays are ``(k, m)``, k pixels across m columns (numpy
    is quick along the long axis only), in int32 and float32 (half the memory traffic).
    """
    # beyond this distance from the centre line a pixel is not touched
    reach_all = np.broadcast_to(np.asarray(half_width, np.float64) + 0.5, (len(p0),))
    margin = float(reach_all.max(initial=0.5)) + 1.0
    p0, p1, kept = _clip_segments(p0, p1, np.array([-margin, -margin]), np.array([width + margin, height + margin]))
    if len(kept) == 0:
        empty = (np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int32))
        return (*empty, np.zeros(0, np.float32)) if distance else empty
    reach = reach_all[kept]
    steep = np.abs(p1[:, 1] - p0[:, 1]) > np.abs(p1[:, 0] - p0[:, 0])
    # (a, b): coordinates along the major (longer) axis and across it, with a0 <= a1.
    a0, b0 = np.where(steep, p0[:, 1], p0[:, 0]), np.where(steep, p0[:, 0], p0[:, 1])
    a1, b1 = np.where(steep, p1[:, 1], p1[:, 0]), np.where(steep, p1[:, 0], p1[:, 1])
    flip = a1 < a0
    a0, a1 = np.where(flip, a1, a0), np.where(flip, a0, a1)
    b0, b1 = np.where(flip, b1, b0), np.where(flip, b0, b1)
    extend = reach if caps else np.zeros_like(reach)
    start = np.maximum(np.ceil(a0 - extend - 0.5), 0).astype(np.int32)  # first pixel centre in range
    stop = np.minimum(np.floor(a1 + extend - 0.5), np.where(steep, height, width) - 1).astype(np.int32)
    counts = np.maximum(stop - start + 1, 0)
    seg = np.repeat(np.arange(len(a0), dtype=np.int32), counts)  # (m,) the segment of each column
    major = (start - (np.cumsum(counts) - counts)).astype(np.int32)[seg] + np.arange(counts.sum(), dtype=np.int32)
    da, db = a1 - a0, b1 - b0
    length = np.maximum(np.hypot(da, db), 1e-9)
    a0s, b0s, das, dbs = (x.astype(np.float32)[seg] for x in (a0, b0, da, db))
    u = major.astype(np.float32) + (np.float32(0.5) - a0s)  # the pixel centre along the major axis, from p0
    # The centre line's minor coordinate at this column (held at the ends). A line at 45 degrees
    # touches pixel centres up to reach * sqrt(2) from it along the minor axis.
    centre = b0s + (db / np.maximum(da, 1e-9)).astype(np.float32)[seg] * np.clip(u, 0, das)
    span = reach * np.sqrt(2)
    across = np.arange(int(np.floor(2 * span.max())) + 1, dtype=np.int32)[:, None]
    minor = (np.floor(centre - (0.5 + span.astype(np.float32)[seg])).astype(np.int32) + 1)[None, :] + across  # (k, m)
    v = minor.astype(np.float32) + (np.float32(0.5) - b0s)
    if caps:  # distance to the segment: the nearest point clamped to its ends
        s = np.clip((u * das + v * dbs) * (1 / length**2).astype(np.float32)[seg], 0, 1)
        du, dv = u - s * das, v - s * dbs
        dist = np.sqrt(du * du + dv * dv)
    else:  # distance to the line through it
        dist = np.abs(v * das - u * dbs) * (1 / length).astype(np.float32)[seg]
    coverage = np.minimum(reach.astype(np.float32)[seg] - dist, 1.0)
    keep = (coverage > 0) & (minor >= 0) & (minor < np.where(steep, width, height).astype(np.int32)[seg])
    # Flat index y * width + x, where (x, y) is (major, minor), or (minor, major) when steep.
    major_stride, minor_stride = (np.where(steep, if_steep, if_not).astype(np.int32)[seg]
                                  for if_steep, if_not in ((width, 1), (1, width)))
    index = major * major_stride + minor * minor_stride
    found = (index[keep], coverage[keep], kept[np.broadcast_to(seg, keep.shape)[keep]].astype(np.int32))
    return (*found, np.broadcast_to(dist, keep.shape)[keep]) if distance else found


def _disc_pixels(centres: np.ndarray, radius: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices and coverage ``(n,)`` of filled discs of ``radius`` px at ``centres (N, 2)``."""
    offsets = np.arange(-int(np.ceil(radius + 0.5)), int(np.ceil(radius + 0.5)) + 1)
    x = np.floor(centres[:, 0]).astype(np.int32)[:, None, None] + offsets[None, None, :]
    y = np.floor(centres[:, 1]).astype(np.int32)[:, None, None] + offsets[None, :, None]
    dist = np.hypot(x + 0.5 - centres[:, 0, None, None], y + 0.5 - centres[:, 1, None, None])
    coverage = np.minimum(radius + 0.5 - dist, 1.0)
    keep = (coverage > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return (y * width + x)[keep], coverage[keep].astype(np.float32)


class RasterRenderer:
    """Draws frames of a skeleton and its floor grid straight into a numpy buffer: the picture of
    :class:`SkeletonRenderer` (same cameras, colours, line widths, joint dots and labels, anti-aliased)
    at about ten times its speed, for videos.

    A frame is four layers, each drawn in one vectorised pass over the pixels it touches and blended
    over the frame with its coverage: the floor, the bones (a pixel two bones touch takes the one
    that covers it most; at equal coverage right over left over the spine), the joints, the text.
    The buffer is ``(height, width)`` uint32 whose bytes are R, G, B, 255: ffmpeg's ``rgb0`` frames,
    written to its pipe without a copy.
    """

    def __init__(self, joints: np.ndarray, *, fps: float = 60.0, width: int = 640, height: int = 480,
                 title: str | None = None, camera: str = "follow", figure: str = "stick"):
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
        self._capsule_radius = np.array([c[2] for c in capsules])
        # Per capsule, its colour at _SHADES levels of (distance from the axis / radius)^2: darker
        # towards the rim as a lit cylinder is (1 - 0.35 x level, as the HTML viewer shades them).
        rgbx = np.stack([_rgbx(c[3]) for c in capsules])[:, None, :]
        shade = 1.0 - 0.35 * np.linspace(0.0, 1.0, _SHADES)[None, :, None] * np.array([1, 1, 1, 0])
        self._capsule_shades = (rgbx * shade + 0.5).astype(np.uint8).view(np.uint32)[..., 0]  # (C, _SHADES)
        self._head, self._neck = names["head"], names["neck"]
        self.joints, self.width, self.height = joints, width, height
        cameras = (follow_cameras(joints, fps=fps, width=width, height=height) if camera == "follow"
                   else [fit_camera(joints, width, height)])
        self._position, self._axes, self._focal = _camera_arrays(cameras)
        self._fixed = camera == "fixed"
        self._floor_ends = np.stack([(s[0], s[-1]) for s in SkeletonRenderer._floor(joints)])  # (L, 2, 3) m
        self._parents, self._children = np.array(PARENTS[1:]), np.arange(1, len(PARENTS))
        # Bone colours as a palette index; larger indices win ties (drawn on top).
        self._palette = np.stack([_rgbx(c) for c in (_CENTRE, _LEFT, _RIGHT)])
        order = {_CENTRE: 0, _LEFT: 1, _RIGHT: 2}
        self._bone_colour = np.array([order[_bone_colour(int(c))] for c in self._children], np.int32)
        self._dot_colour = _rgbx(_DOT)[None]
        # The floor's colour over white at each coverage level, as the uint32 pixels of the buffer.
        white = np.full(4, 255.0, np.float32)
        alpha = np.arange(_LEVELS + 1, dtype=np.float32)[:, None] / _LEVELS
        self._floor_on_white = (white + (_rgbx(_FLOOR) - white) * alpha + 0.5).astype(np.uint8).view(np.uint32)[:, 0]
        # Each frame allocates and frees a few hundred kB of numpy temporaries. At its start-up
        # setting, glibc gives that memory back to the system after every frame and takes it again
        # (page faults: half the drawing time, measured). Freeing one large block raises its trim
        # threshold (glibc's own dynamic adjustment, malloc(3) M_MMAP_THRESHOLD), once per process.
        scratch = np.empty(8 << 20, np.uint8)
        del scratch
        self._image = np.empty((height, width), np.uint32)
        self._pixels = self._image.reshape(-1)
        self._white = np.full(1, 0xFFFFFFFF, np.uint32)[0]
        self._keys = np.zeros(height * width, np.int32)  # one layer's coverage keys; zero between layers
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

    def _floor_lines(self, position, axes, focal) -> tuple[np.ndarray, np.ndarray]:
        """The floor grid's lines in pixels ``(p0, p1)``, cut at the camera's near plane."""
        ends = self._floor_ends
        depth = (ends - position) @ axes[2]  # (L, 2)
        visible = (depth > _NEAR_M).any(axis=1)
        ends, depth = ends[visible], depth[visible]
        # An end behind the near plane moves along its line to the plane.
        change = depth[:, 1] - depth[:, 0]
        t = np.clip((_NEAR_M - depth[:, 0]) / np.where(change != 0, change, 1.0), 0.0, 1.0)[:, None]
        cut = ends[:, 0] + t * (ends[:, 1] - ends[:, 0])
        start = np.where((depth[:, 0] < _NEAR_M)[:, None], cut, ends[:, 0])
        stop = np.where((depth[:, 1] < _NEAR_M)[:, None], cut, ends[:, 1])
        return self._project(start, position, axes, focal), self._project(stop, position, axes, focal)

    def _blend(self, index: np.ndarray, coverage: np.ndarray, colour: np.ndarray, palette: np.ndarray) -> None:
        """Paint ``palette[colour]`` over the pixels ``index (n,)`` with ``coverage (n,)``; a pixel listed
        more than once takes its highest coverage (and of equal ones, the larger ``colour``)."""
        if len(index) == 0:
            return
        # One int32 key per pixel: coverage in 1/255 steps, then the colour in the low bits.
        key = (coverage * _LEVELS + 0.5).astype(np.int32) * 4 + colour
        np.maximum.at(self._keys, index, key)
        key = self._keys[index]
        self._keys[index] = 0
        alpha = ((key >> 2).astype(np.float32) * (1 / _LEVELS))[:, None]
        old = self._pixels[index].view(np.uint8).reshape(-1, 4).astype(np.float32)
        new = old + (palette[key & 3] - old) * alpha + 0.5
        self._pixels[index] = new.astype(np.uint8).view(np.uint32).reshape(-1)

    def _paint_on_white(self, index: np.ndarray, coverage: np.ndarray) -> None:
        """The floor, first on the white frame: each pixel's colour is looked up from its coverage alone
        (the floor's lines are most of a frame's pixels: this is 4x quicker than :meth:`_blend`)."""
        key = (coverage * _LEVELS + 0.5).astype(np.int32)
        np.maximum.at(self._keys, index, key)
        self._pixels[index] = self._floor_on_white[self._keys[index]]
        self._keys[index] = 0

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
        w, h = self.width, self.height
        self._image.fill(self._white)
        # The floor's lines end outside the picture or at the grid's edge: no round caps needed.
        index_, coverage, _ = _segment_pixels(*self._floor_lines(position, axes, focal), _FLOOR_HALF_WIDTH, w, h,
                                              caps=False)
        self._paint_on_white(index_, coverage)
        if self._body:
            self._draw_body(self.joints[index], position, axes, focal)
        else:
            pix = self._project(self.joints[index], position, axes, focal)  # (24, 2)
            index_, coverage, bone = _segment_pixels(pix[self._parents], pix[self._children], _BONE_HALF_WIDTH, w, h)
            self._blend(index_, coverage, self._bone_colour[bone], self._palette)
            index_, coverage = _disc_pixels(pix, _DOT_RADIUS, w, h)
            self._blend(index_, coverage, 0, self._dot_colour)
        if label:
            self._blend_text(self._label(label))
        self._blend_text(self._title)
        return self._image

    def _draw_body(self, joints: np.ndarray, position, axes, focal) -> None:
        """The body figure: capsules far to near, each shaded darker towards its rim as a lit
        cylinder is (1 - 0.35 (d / r)^2, as the HTML viewer shades them) and blended with its
        anti-aliased coverage over what is drawn behind it. Inside a shape a pixel is set, not
        blended (most pixels: half the drawing time)."""
        head = joints[self._head] + HEAD_LIFT * (joints[self._head] - joints[self._neck])
        points = np.concatenate([joints, head[None]])  # (25, 3): index -1 is the head's centre
        a, b = points[self._capsule_from], points[self._capsule_to]
        depth = np.maximum(((a + b) / 2 - position) @ axes[2], 1e-3)  # (C,) metres in front of the camera
        radius_px = self._capsule_radius * focal / depth
        pa, pb = self._project(a, position, axes, focal), self._project(b, position, axes, focal)
        index_, coverage, capsule, dist = _segment_pixels(pa, pb, radius_px - 0.5, self.width, self.height,
                                                          distance=True)
        rank = np.empty(len(depth), np.uint8)
        rank[np.argsort(-depth, kind="stable")] = np.arange(len(depth))  # 0: the farthest capsule
        # Each pixel's shaded colour, from the capsule's table of _SHADES levels (packed R, G, B, 255).
        level = np.minimum(dist / radius_px[capsule].astype(np.float32), 1.0)
        level = (level * level * (_SHADES - 1) + 0.5).astype(np.int32)
        packed = self._capsule_shades[capsule, level]
        # Most pixels lie in one capsule: painted in one pass. Where capsules overlap, each pixel's
        # entries are painted far to near in layers: the farthest entry of every pixel, then the
        # next, ... (a pixel at most once per layer).
        alone = np.bincount(index_, minlength=self._pixels.size)[index_] == 1
        self._paint(index_[alone], packed[alone], coverage[alone])
        shared = np.flatnonzero(~alone)
        if len(shared):
            key = index_[shared].astype(np.int64) * 32 + rank[capsule[shared]]
            order = np.argsort(key)
            shared, key = shared[order], key[order]
            pixel = key >> 5
            first = np.flatnonzero(np.concatenate([[True], pixel[1:] != pixel[:-1]]))
            layer = np.arange(len(pixel)) - np.repeat(first, np.diff(np.append(first, len(pixel))))
            for k in range(int(layer.max()) + 1):
                part = shared[layer == k]
                self._paint(index_[part], packed[part], coverage[part])

    def _paint(self, pixels: np.ndarray, packed: np.ndarray, coverage: np.ndarray) -> None:
        """Paint ``packed (n,)`` colours over the buffer's ``pixels (n,)`` (each listed once): set where
        ``coverage`` is 1 (the inside of a shape), blended by it at the anti-aliased edges."""
        inside = coverage >= 1.0
        self._pixels[pixels[inside]] = packed[inside]
        edge = ~inside
        pixels, alpha = pixels[edge], coverage[edge][:, None]
        old = self._pixels[pixels].view(np.uint8).reshape(-1, 4).astype(np.float32)
        new = packed[edge].view(np.uint8).reshape(-1, 4).astype(np.float32)
        self._pixels[pixels] = (old + (new - old) * alpha + 0.5).astype(np.uint8).view(np.uint32).reshape(-1)

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
    Returns the path written (atomically: a temporary file renamed at the end).

    The frames are drawn in this process and piped raw to ffmpeg, which converts and encodes them in
    its own process (x264 threads included) while the next frame is drawn: the two cores of a small
    machine are both busy. The music is muxed in the same ffmpeg run.
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
                              figure=figure).draw
        pix_fmt = "rgb0"  # the raster buffer's bytes: R, G, B, 255
    else:
        draw = SkeletonRenderer(joints, fps=fps, width=width, height=height, title=title, camera=camera).frame
        pix_fmt = "rgb24"
    frames = (draw(int(i), f"{i / fps:6.2f} s") for i in picks)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, total=n_video, desc=f"video {path.name}", unit="frame")

    with atomic_path(path) as out:
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-framerate", f"{video_fps}",
               "-i", "pipe:0"]
        if audio_path is not None:
            cmd += ["-ss", f"{audio_offset_s:.6f}", "-i", os.fspath(audio_path)]
        cmd += ["-map", "0:v:0", "-c:v", "libx264", "-preset", preset, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p"]
        if width % 2 or height % 2:  # yuv420p needs even sizes: one white column or row more
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white"]
        if audio_path is not None:
            cmd += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "160k"]
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

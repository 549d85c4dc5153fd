"""Geometric ("manual") features (32-d): the fraction of frames in which each of 32 boolean pose tests holds.

A vectorised re-implementation of google/aistplusplus_api ``aist_plusplus/features/manual.py``
and ``features/utils.py`` (commit 2dd7b3e, the fixed extractor; Bailando's
``utils/features/manual_new.py`` is the same), which loops over frames and tests in Python.
The tests follow Müller et al.'s relational features as ported by fairmotion.

For frames ``f = 1 .. T-1`` (current ``p``, previous ``p'``), y up. Pseudo-joints: ``zero``,
``y_unit`` (0, 1, 0), ``minus_y_unit`` (0, -1, 0), ``y_min`` = (0, lowest y of all joints in
the current frame, 0). Primitives (``tpf`` = time per frame):

* ``move(j1, j2, j3, _, t)``: ``v = (p3 - p1) - (p3' - p1')``, ``d = p2 - p1``; ``(v·d / |d|) / tpf > t``
* ``nmove(j1, j2, j3, j4, t)``: ``v = (p4 - p1) - (p4' - p1')``, ``n = (p3 - p1) x (p2 - p1)``;
  ``(v·n / |n|) / tpf > t``
* ``plane(j1, j2, j3, j4, t)``: ``n = (p3 - p1) x (p2 - p1)``; ``n·(p4 - p1) / |n| > t``
* ``nplane(j1, j2, j3, j4, t)``: ``n = p2 - p1``; ``n·(p4 - p3) / |n| > t``
* ``angle(j1, j2, j3, j4, (lo, hi))``: angle in degrees between ``p2 - p1`` and ``p4 - p3`` in ``(lo, hi)``
* ``fast(j, t)``: ``|p - p'| / tpf > t``

Quirks kept by ``variant="reference"``:

* ``tpf = 1/120`` s -- a default of the reference utilities that was never changed, although
  AIST++ is 60 fps: every "velocity" is twice the true one. ``variant="corrected"`` uses
  ``tpf = 1/fps``.
* Thresholds scale with three lengths taken from hard-coded SMPL rest positions (male,
  betas 0): humerus ``HL``, shoulder width ``SW``, hip width ``HW``, not from the dancer.
* The reference averages in float32; the ``"reference"`` variant returns the same
  float32-rounded fractions (as float64). A degenerate test (zero-length direction,
  ``arccos`` of a value past ±1 through rounding) gives NaN in the reference, which compares
  False; so it does here.
"""

from __future__ import annotations

import logging

import numpy as np

from aichoreo.metrics._common import as_joints, check_fps, to_y_up
from aichoreo.skeleton import AIST_FEATURE_NAMES

__all__ = ["HL", "SW", "HW", "MANUAL_FEATURES", "REFERENCE_TIME_PER_FRAME", "manual_features"]

log = logging.getLogger(__name__)

REFERENCE_TIME_PER_FRAME = 1 / 120  # features/utils.py default ``time_per_frame=1 / 120``

# SMPL rest positions (metres) hard-coded in aistplusplus ``features/manual.py``.
_REST_LSHOULDER = np.array([1.99113488e-01, 2.36807942e-01, -1.80702247e-02])
_REST_LELBOW = np.array([4.54445392e-01, 2.21158922e-01, -4.10167128e-02])
_REST_RSHOULDER = np.array([-1.91692337e-01, 2.36928746e-01, -1.23055102e-02])
_REST_LHIP = np.array([5.64076714e-02, -3.23069185e-01, 1.09197125e-02])
_REST_RHIP = np.array([-6.24834076e-02, -3.31302464e-01, 1.50412619e-02])
HL = float(np.linalg.norm(_REST_LSHOULDER - _REST_LELBOW))  # humerus length, 0.2568381 m
SW = float(np.linalg.norm(_REST_LSHOULDER - _REST_RSHOULDER))  # shoulder width, 0.3908484 m
HW = float(np.linalg.norm(_REST_LHIP - _REST_RHIP))  # hip width, 0.1192471 m

# The 32 tests in the reference order: (primitive, joints, threshold or (lo, hi) degrees).
MANUAL_FEATURES: tuple[tuple[str, tuple[str, ...], float | tuple[float, float]], ...] = (
    ("nmove", ("neck", "rhip", "lhip", "rwrist"), 1.8 * HL),
    ("nmove", ("neck", "lhip", "rhip", "lwrist"), 1.8 * HL),
    ("nplane", ("chest", "neck", "neck", "rwrist"), 0.2 * HL),
    ("nplane", ("chest", "neck", "neck", "lwrist"), 0.2 * HL),
    ("move", ("belly", "chest", "chest", "rwrist"), 1.8 * HL),
    ("move", ("belly", "chest", "chest", "lwrist"), 1.8 * HL),
    ("angle", ("relbow", "rshoulder", "relbow", "rwrist"), (0, 110)),
    ("angle", ("lelbow", "lshoulder", "lelbow", "lwrist"), (0, 110)),
    ("nplane", ("lshoulder", "rshoulder", "lwrist", "rwrist"), 2.5 * SW),
    ("move", ("lwrist", "rwrist", "rwrist", "lwrist"), 1.4 * HL),
    ("move", ("rwrist", "root", "lwrist", "root"), 1.4 * HL),
    ("move", ("lwrist", "root", "rwrist", "root"), 1.4 * HL),
    ("fast", ("rwrist",), 2.5 * HL),
    ("fast", ("lwrist",), 2.5 * HL),
    ("plane", ("root", "lhip", "ltoes", "rankle"), 0.38 * HL),
    ("plane", ("root", "rhip", "rtoes", "lankle"), 0.38 * HL),
    ("nplane", ("zero", "y_unit", "y_min", "rankle"), 1.2 * HL),
    ("nplane", ("zero", "y_unit", "y_min", "lankle"), 1.2 * HL),
    ("nplane", ("lhip", "rhip", "lankle", "rankle"), 2.1 * HW),
    ("angle", ("rknee", "rhip", "rknee", "rankle"), (0, 110)),
    ("angle", ("lknee", "lhip", "lknee", "lankle"), (0, 110)),
    ("fast", ("rankle",), 2.5 * HL),
    ("fast", ("lankle",), 2.5 * HL),
    ("angle", ("neck", "root", "rshoulder", "relbow"), (25, 180)),
    ("angle", ("neck", "root", "lshoulder", "lelbow"), (25, 180)),
    ("angle", ("neck", "root", "rhip", "rknee"), (50, 180)),
    ("angle", ("neck", "root", "lhip", "lknee"), (50, 180)),
    ("plane", ("rankle", "neck", "lankle", "root"), 0.5 * HL),
    ("angle", ("neck", "root", "zero", "y_unit"), (70, 110)),
    ("nplane", ("zero", "minus_y_unit", "y_min", "rwrist"), -1.2 * HL),
    ("nplane", ("zero", "minus_y_unit", "y_min", "lwrist"), -1.2 * HL),
    ("fast", ("root",), 2.3 * HL),
)

_INDEX = {name: i for i, name in enumerate(AIST_FEATURE_NAMES)}
_CONSTANT_POINTS = {
    "zero": np.array([0.0, 0.0, 0.0]),
    "y_unit": np.array([0.0, 1.0, 0.0]),
    "minus_y_unit": np.array([0.0, -1.0, 0.0]),
}


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot product over the last axis of broadcastable ``(..., 3)`` arrays."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt(_dot(a, a))


class _Frames:
    """Current and previous positions of every named point, vectorised over frames 1 .. T-1."""

    def __init__(self, pos: np.ndarray):
        self.cur = pos[1:]  # (F, J, 3)
        self.prev = pos[:-1]
        lowest = self.cur[:, :, 1].min(axis=1)  # y_min of the current frame
        self.y_min = np.stack([np.zeros_like(lowest), lowest, np.zeros_like(lowest)], axis=-1)

    def now(self, name: str) -> np.ndarray:
        if name in _CONSTANT_POINTS:
            return _CONSTANT_POINTS[name]
        if name == "y_min":
            return self.y_min
        return self.cur[:, _INDEX[name]]

    def before(self, name: str) -> np.ndarray:
        return self.prev[:, _INDEX[name]]


def _test(frames: _Frames, kind: str, names: tuple[str, ...], arg: float | tuple[float, float],
          tpf: float) -> np.ndarray:
    """One boolean test for every frame ``(F,)``; operation order follows features/utils.py."""
    p = [frames.now(n) for n in names]
    if kind == "move":
        velocity = (p[2] - p[0]) - (frames.before(names[2]) - frames.before(names[0]))
        direction = p[1] - p[0]
        return (_dot(velocity, direction) / _norm(direction)) / tpf > arg
    if kind == "nmove":
        velocity = (p[3] - p[0]) - (frames.before(names[3]) - frames.before(names[0]))
        direction = np.cross(p[2] - p[0], p[1] - p[0])
        return (_dot(velocity, direction) / _norm(direction)) / tpf > arg
    if kind == "plane":
        normal = np.cross(p[2] - p[0], p[1] - p[0])
        return _dot(normal, p[3] - p[0]) / _norm(normal) > arg
    if kind == "nplane":
        normal = p[1] - p[0]
        return _dot(normal, p[3] - p[2]) / _norm(normal) > arg
    if kind == "angle":
        j, k = p[1] - p[0], p[3] - p[2]
        angle = np.degrees(np.arccos(_dot(j, k) / (_norm(j) * _norm(k))))
        return (angle > arg[0]) & (angle < arg[1])
    if kind == "fast":
        return _norm(p[0] - frames.before(names[0])) / tpf > arg
    raise AssertionError(f"unknown test kind {kind}")


def manual_features(joints: np.ndarray, *, fps: float = 60.0, up_axis: int = 1,
                    variant: str = "reference") -> np.ndarray:
    """Geometric features of one motion: ``(T, 24, 3)`` metres, SMPL order -> ``(32,)`` float64 in [0, 1].

    ``variant="reference"`` reproduces the reference extractor (frame time 1/120 whatever
    ``fps`` is, float32 fractions); ``"corrected"`` uses the real frame time ``1/fps`` and
    float64 fractions. ``up_axis`` is rotated to +y first (the tests assume y up).
    ``T >= 2`` is required.
    """
    if variant not in ("reference", "corrected"):
        raise ValueError(f"variant must be 'reference' or 'corrected', got {variant!r}")
    pos = to_y_up(as_joints(joints, min_frames=2, n_joints=len(AIST_FEATURE_NAMES)), up_axis=up_axis)
    fps = check_fps(fps)
    if variant == "reference":
        tpf = REFERENCE_TIME_PER_FRAME
        if fps != 60.0:
            log.warning("reference manual features assume 60 fps data (frame time fixed at 1/120); "
                        "got fps=%g: resample to 60 fps for comparable numbers", fps)
    else:
        tpf = 1.0 / fps
    frames = _Frames(pos)
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate tests give NaN -> False
        counts = np.array([np.count_nonzero(_test(frames, kind, names, arg, tpf))
                           for kind, names, arg in MANUAL_FEATURES])
    n = len(pos) - 1
    if variant == "reference":
        # np.array(features, dtype=np.float32).mean(axis=0): exact float32 counts, one float32 division.
        return (counts.astype(np.float32) / np.float32(n)).astype(np.float64)
    return counts / n

"""BVH of the SMPL-24 skeleton: opens in Blender (File > Import > Motion Capture), MotionBuilder, Maya.

Layout of the file we write:

* **Axes and units**: y up (BVH's usual convention, and Blender's importer default: forward
  -Z, up Y), the dancer facing +z at rest; **metres** by default, so Blender's importer at its
  default scale 1.0 gives a life-size dancer (``units="cm"`` for tools that expect centimetres).
* **Hierarchy**: the 24 SMPL joints under their SMPL names (``pelvis`` ... ``right_hand``),
  depth first, children in SMPL index order. Each joint's ``OFFSET`` is its rest offset from
  its parent (:data:`aichoreo.skeleton.REST_OFFSETS`: SMPL male, betas 0, no rest rotations).
  The root's ``OFFSET`` is zero and its position channels carry the root joint's absolute
  position (``translation + J0``): readers that add the root offset to the channels and readers
  that do not then agree. Leaf joints (feet, head, hands) end in an ``End Site`` half as long
  as their own bone, continuing it, so Blender draws bones of sensible length.
* **Channels**: root ``Xposition Yposition Zposition`` then three rotations; other joints three
  rotations, in degrees. The default order ``ZYX`` means ``Zrotation Yrotation Xrotation``:
  the local rotation is ``Rz @ Ry @ Rx`` (intrinsic, as BVH defines it). Of the equivalent angle
  triples, each frame keeps the one nearest the previous frame's (no 180- or 360-degree flips
  between frames, which interpolating players would show as spins).
* **Motion**: one line per frame at the motion's own rate, ``Frame Time: 1 / fps``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from aichoreo.fileio import atomic_path
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import scipy_from_matrix, scipy_in_blocks
from aichoreo.skeleton import J0, JOINT_NAMES, N_JOINTS, PARENTS, REST_OFFSETS

__all__ = ["write_bvh", "bvh_joint_order", "euler_degrees"]

_UNIT_SCALE = {"m": 1.0, "cm": 100.0}
_END_SITE_FRACTION = 0.5  # End Site length as a fraction of the leaf's own bone


def _children(joint: int) -> list[int]:
    return [c for c in range(N_JOINTS) if PARENTS[c] == joint]


def bvh_joint_order() -> list[int]:
    """SMPL joint indices in the order a BVH lists them (depth first, children by index): 24 ints."""
    order: list[int] = []

    def visit(joint: int) -> None:
        order.append(joint)
        for child in _children(joint):
            visit(child)

    visit(0)
    return order


def _hierarchy(channels: str, scale: float) -> str:
    rotation_channels = " ".join(f"{axis}rotation" for axis in channels)
    lines = ["HIERARCHY"]

    def fmt(v: np.ndarray) -> str:
        return " ".join(f"{x * scale:.6f}" for x in v)

    def visit(joint: int, depth: int) -> None:
        pad = "\t" * depth
        if joint == 0:
            lines.append(f"ROOT {JOINT_NAMES[0]}")
            lines.extend(["{", f"\tOFFSET {fmt(np.zeros(3))}",
                          f"\tCHANNELS 6 Xposition Yposition Zposition {rotation_channels}"])
        else:
            lines.extend([f"{pad}JOINT {JOINT_NAMES[joint]}", f"{pad}{{",
                          f"{pad}\tOFFSET {fmt(REST_OFFSETS[joint])}", f"{pad}\tCHANNELS 3 {rotation_channels}"])
        children = _children(joint)
        for child in children:
            visit(child, depth + 1)
        if not children:
            end = REST_OFFSETS[joint] * _END_SITE_FRACTION
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {fmt(end)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    visit(0, 0)
    return "\n".join(lines) + "\n"


def _wrap_near(angles: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``angles`` plus the multiples of 360 degrees that bring each nearest ``reference``."""
    return reference + (angles - reference + 180.0) % 360.0 - 180.0


def euler_degrees(rotations: np.ndarray, channels: str, *, orthonormal: bool = False) -> np.ndarray:
    """``(T, J, 3, 3)`` local rotations -> ``(T, J, 3)`` intrinsic Euler angles in degrees, continuous in time.
    ``orthonormal``: as :data:`aichoreo.rotations.ORTHONORMAL`.

    Every rotation has two Euler triples, ``(a, b, c)`` and ``(a + 180, 180 - b, c + 180)``
    (any order of three distinct axes), each up to multiples of 360 degrees. scipy keeps the
    middle angle within +-90, so a joint turning past 90 degrees would jump by 180 in two
    channels; frame by frame we keep whichever equivalent triple is nearest the previous one,
    so players that interpolate between keys (or resample) see the motion, not a flip.
    """
    t = len(rotations)
    with warnings.catch_warnings():
        # At gimbal lock scipy picks one of many equivalent angle triples; any of them is exact.
        warnings.filterwarnings("ignore", message="Gimbal lock", category=UserWarning)
        # A block at a time: scipy's temporaries for a whole 10-minute dance were about 300 MB.
        angles = scipy_in_blocks(rotations, 2, (3,),
                                 lambda b: scipy_from_matrix(b, orthonormal).as_euler(channels, degrees=True))
    alternative = angles * np.array([1.0, -1.0, 1.0]) + np.array([180.0, 180.0, 180.0])
    out = np.empty_like(angles)
    out[0] = angles[0]
    for k in range(1, t):
        first = _wrap_near(angles[k], out[k - 1])
        second = _wrap_near(alternative[k], out[k - 1])
        closer = np.abs(second - out[k - 1]).sum(-1) < np.abs(first - out[k - 1]).sum(-1)
        out[k] = np.where(closer[:, None], second, first)
    return out


def write_bvh(
    motion: SMPLMotion,
    path: str | os.PathLike,
    *,
    units: Literal["m", "cm"] = "m",
    euler_order: str = "ZYX",
) -> Path:
    """Write ``motion`` as a BVH file (atomically); see the module docstring for the layout.

    Args:
        units: ``"m"`` (Blender at import scale 1) or ``"cm"``.
        euler_order: the rotation channels' order, a permutation of ``"XYZ"`` (intrinsic).
    """
    if units not in _UNIT_SCALE:
        raise ValueError(f"units must be 'm' or 'cm', got {units!r}")
    if sorted(euler_order) != ["X", "Y", "Z"]:
        raise ValueError(f"euler_order must be a permutation of 'XYZ', got {euler_order!r}")
    scale = _UNIT_SCALE[units]
    order = bvh_joint_order()
    angles = euler_degrees(motion.rotations, euler_order, orthonormal=True)  # (T, 24, 3)
    root = (motion.translation.astype(np.float64) + J0) * scale  # root OFFSET is 0: absolute position
    frames = np.concatenate([root, angles[:, order].reshape(len(motion), -1)], axis=1)

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(_hierarchy(euler_order, scale))
        f.write(f"MOTION\nFrames: {len(motion)}\nFrame Time: {1.0 / motion.fps:.8f}\n")
        np.savetxt(f, frames, fmt="%.6f", delimiter=" ")  # straight to the file: 27 MB of text per 10 minutes
    return path

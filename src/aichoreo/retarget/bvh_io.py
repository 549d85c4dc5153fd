"""BVH of any skeleton: read a hierarchy and its motion, write a motion on a given hierarchy.

aichoreo's own SMPL BVH writer (:mod:`aichoreo.export.bvh`) knows one skeleton; retargeting reads
the skeletons users bring and writes their motion back with their own names, offsets and
channel orders. The BVH format (Biovision; as Blender's importer reads it): a ``HIERARCHY`` of
``ROOT``/``JOINT`` blocks with ``OFFSET`` and ``CHANNELS``, ``End Site`` blocks, then ``MOTION``
with one line of channel values per frame. Rotation channels are intrinsic Euler angles in
degrees applied in the order listed (``Zrotation Yrotation Xrotation`` means ``Rz @ Ry @ Rx``).
Hand-written: no maintained Python package reads and writes arbitrary BVH skeletons.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from aichoreo.errors import InputError
from aichoreo.export.bvh import euler_degrees
from aichoreo.fileio import atomic_path

__all__ = ["read_bvh_hierarchy", "read_bvh", "write_bvh_motion"]

_MAX_BYTES = 512 * 2**20  # a BVH larger than this is not a dance (10 minutes of a 100-joint rig: ~150 MB)
_ROTATIONS = ("Xrotation", "Yrotation", "Zrotation")
_POSITIONS = ("Xposition", "Yposition", "Zposition")


def _tokens(path: Path) -> tuple[list[str], str]:
    if path.stat().st_size > _MAX_BYTES:
        raise InputError(path, f"is larger than {_MAX_BYTES // 2**20} MB; not a BVH motion")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    head, sep, motion = text.partition("MOTION")
    if not head.lstrip().startswith("HIERARCHY"):
        raise InputError(path, "not a BVH file (it does not start with HIERARCHY)")
    return head.split(), motion if sep else ""


def read_bvh_hierarchy(path: str | os.PathLike) -> tuple[list[str], list[int], np.ndarray, list[list[str]]]:
    """Joint names, parent indices (-1 for the root), ``(J, 3)`` offsets and channel names.

    Only ``ROOT`` and ``JOINT`` blocks are joints; ``End Site`` blocks are skipped.
    Raises :class:`InputError` naming ``path`` on malformed input.
    """
    path = Path(path)
    tokens, _ = _tokens(path)
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []  # joint index of each open block, -2 for an End Site
    i = 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                if tok == "ROOT" and names:
                    raise InputError(path, "has more than one ROOT; one skeleton per file is read")
                names.append(tokens[i + 1])
                parents.append(next((s for s in reversed(stack) if s >= 0), -1))
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
                if tokens[i] != "{":
                    raise InputError(path, f"joint {names[-1]!r}: expected '{{'")
                stack.append(len(names) - 1)
                i += 1
            elif tok == "End":
                i += 2  # "End Site"
                if tokens[i] != "{":
                    raise InputError(path, "End Site: expected '{'")
                stack.append(-2)
                i += 1
            elif tok == "OFFSET":
                if stack and stack[-1] >= 0:
                    offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                chans = tokens[i + 2:i + 2 + n]
                bad = [c for c in chans if c not in _ROTATIONS + _POSITIONS]
                if bad or not stack or stack[-1] < 0:
                    raise InputError(path, f"unknown channel {bad[0] if bad else 'outside a joint'}")
                channels[stack[-1]] = chans
                i += 2 + n
            elif tok == "}":
                if not stack:
                    raise InputError(path, "unbalanced '}'")
                stack.pop()
                i += 1
            else:
                raise InputError(path, f"unexpected {tok!r} in the HIERARCHY")
    except (IndexError, ValueError):
        raise InputError(path, "the HIERARCHY is cut off or has a malformed number") from None
    if not names:
        raise InputError(path, "has no ROOT joint")
    if stack:
        raise InputError(path, "the HIERARCHY is cut off (a block is not closed)")
    offsets_arr = np.asarray(offsets, dtype=np.float64)
    if not np.all(np.isfinite(offsets_arr)):
        raise InputError(path, "an OFFSET is not a finite number")
    return names, parents, offsets_arr, channels


def read_bvh(path: str | os.PathLike) -> dict:
    """A BVH motion: ``names``, ``parents``, ``offsets`` ``(J, 3)``, ``fps``, and per frame
    ``rotations`` ``(T, J, 3, 3)`` local (identity for joints without rotation channels) and
    ``positions`` ``(T, J, 3)`` local (the OFFSET where a joint has no position channels)."""
    path = Path(path)
    names, parents, offsets, channels = read_bvh_hierarchy(path)
    _, motion = _tokens(path)
    lines = motion.strip().splitlines()
    try:
        frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
        values = np.array([[float(v) for v in line.split()] for line in lines[2:2 + frames]], dtype=np.float64)
    except (IndexError, ValueError):
        raise InputError(path, "the MOTION section is missing, cut off or malformed") from None
    width = sum(len(c) for c in channels)
    if frames < 1 or values.shape != (frames, width):
        raise InputError(path, f"MOTION: expected {frames} frames of {width} channels, got "
                               f"{values.shape[0]} of {values.shape[1] if values.ndim == 2 else 0}")
    if not (np.all(np.isfinite(values)) and np.isfinite(frame_time) and frame_time > 0):
        raise InputError(path, "MOTION has a non-finite value or a Frame Time that is not positive")
    t, j = frames, len(names)
    rotations = np.tile(np.eye(3), (t, j, 1, 1))
    positions = np.tile(offsets[None], (t, 1, 1))
    column = 0
    for k, chans in enumerate(channels):
        cols = values[:, column:column + len(chans)]
        column += len(chans)
        rot = [n for n in chans if n in _ROTATIONS]
        if rot:
            order = "".join(n[0] for n in rot)
            angles = cols[:, [chans.index(n) for n in rot]]
            rotations[:, k] = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()
        for axis, n in enumerate(_POSITIONS):
            if n in chans:
                positions[:, k, axis] = cols[:, chans.index(n)]
    return {"names": names, "parents": parents, "offsets": offsets, "fps": 1.0 / frame_time,
            "rotations": rotations, "positions": positions}


def _depth_first(parents: list[int]) -> list[int]:
    """Joint indices in the order a BVH file lists them (and its MOTION columns follow)."""
    children = [[c for c in range(len(parents)) if parents[c] == k] for k in range(len(parents))]
    order: list[int] = []
    stack = [0]
    while stack:
        k = stack.pop()
        order.append(k)
        stack.extend(reversed(children[k]))
    return order


def _hierarchy(names: list[str], parents: list[int], offsets: np.ndarray, channels: list[list[str]]) -> str:
    lines: list[str] = ["HIERARCHY"]
    children = [[c for c in range(len(names)) if parents[c] == k] for k in range(len(names))]

    def visit(k: int, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parents[k] < 0 else 'JOINT'} {names[k]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offsets[k, 0]:.6f} {offsets[k, 1]:.6f} {offsets[k, 2]:.6f}")
        lines.append(f"{pad}  CHANNELS {len(channels[k])} {' '.join(channels[k])}")
        for c in children[k]:
            visit(c, depth + 1)
        if not children[k]:  # a leaf: an End Site continuing nothing, a few units long
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0.000000 0.000000 0.000000", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    visit(0, 0)
    return "\n".join(lines) + "\n"


def write_bvh_motion(path: str | os.PathLike, *, names: list[str], parents: list[int], offsets: np.ndarray,
                     rotations: np.ndarray, root_position: np.ndarray, fps: float, euler_order: str = "ZYX") -> Path:
    """Write a motion on a skeleton (atomically).

    Args:
        names, parents, offsets: the hierarchy, parents before children; ``offsets`` ``(J, 3)``.
        rotations: ``(T, J, 3, 3)`` local rotations (the rest pose is all identities).
        root_position: ``(T, 3)`` the root joint's position, in the offsets' units (the root's
            channels carry it whole; its OFFSET is written as zero).
        euler_order: the rotation channels, intrinsic, e.g. ``"ZYX"``.
    """
    offsets = np.array(offsets, dtype=np.float64)
    offsets[0] = 0.0
    rot_channels = [f"{a}rotation" for a in euler_order]
    channels = [([*_POSITIONS] if k == 0 else []) + rot_channels for k in range(len(names))]
    if sum(p < 0 for p in parents) != 1 or parents[0] >= 0:
        raise ValueError("a BVH skeleton has one root, joint 0")
    angles = euler_degrees(np.asarray(rotations, dtype=np.float64), euler_order)[:, _depth_first(parents)]
    frames = np.concatenate([root_position, angles.reshape(len(angles), -1)], axis=1)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(_hierarchy(names, parents, offsets, channels))
        f.write(f"MOTION\nFrames: {len(frames)}\nFrame Time: {1.0 / fps:.8f}\n")
        np.savetxt(f, frames, fmt="%.6f", delimiter=" ")
    return path

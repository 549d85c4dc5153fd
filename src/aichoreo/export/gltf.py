"""glTF 2.0 binary (``.glb``): the SMPL-24 skeleton as a skinned, animated mesh.

Opens in Blender (File > Import > glTF 2.0), three.js / Babylon.js viewers, Windows 3D Viewer,
Godot and Unity importers. What the file holds:

* **Axes, units, time**: glTF's own, which are ours: y up, metres, the dancer facing +z at
  rest; keyframe ``k`` at time ``k / fps`` seconds (the motion's own rate).
* **Joints**: nodes 0-23 are the SMPL joints (SMPL names and index order, so node ``i`` is
  joint ``i``), each a child of its SMPL parent, with its rest offset as ``translation``
  (:data:`aichoreo.skeleton.REST_OFFSETS`; the root node at the rest pelvis ``J0``) and no rest
  rotation. A skin lists them as its joints; its inverse bind matrices undo each joint's rest
  position.
* **Mesh**: node 24, a box along every bone (the head a cube), each box rigidly bound (weight 1)
  to the bone's parent joint, coloured like the project's videos (left blue, right red, centre
  grey), so viewers show a moving figure. A skinned mesh node's own transform is ignored by
  the glTF rules, so it has none.
* **Animation** ``"dance"``: per joint a ``rotation`` channel (unit quaternions x, y, z, w, as
  glTF orders them; each the sign nearest the previous frame's, so interpolation takes the short
  way) and for the root a ``translation`` channel (``translation + J0``: the root joint's
  position), all LINEAR.

Needs ``pygltflib`` (pure Python), imported when a file is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.fileio import atomic_path
from aichoreo.motion import SMPLMotion
from aichoreo.rotations import matrix_to_quaternion
from aichoreo.skeleton import J0, JOINT_NAMES, N_JOINTS, PARENTS, REST_OFFSETS, rest_joints

__all__ = ["write_glb", "skeleton_mesh", "require_pygltflib", "gltf_quaternions", "BlobBuilder"]

_BONE_HALF_WIDTH = 0.025  # metres: a 5 cm thick box along each bone
_HEAD_JOINT = JOINT_NAMES.index("head")
_HEAD_HALF_SIZE = 0.09  # metres: the head is an 18 cm cube, its centre 8 cm above the head joint
_HEAD_LIFT = 0.08
# Linear RGBA colours (glTF vertex colours are linear): render.py's left blue, right red, centre grey.
_LEFT, _RIGHT, _CENTRE = (0.013, 0.184, 0.456, 1.0), (0.680, 0.019, 0.021, 1.0), (0.091, 0.091, 0.091, 1.0)

# glTF constants (spec 3.6.2 accessor component types, 3.6.1 buffer view targets)
_FLOAT, _UNSIGNED_BYTE, _UNSIGNED_SHORT = 5126, 5121, 5123
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TRIANGLES = 4


def _colour(joint: int) -> tuple[float, ...]:
    name = JOINT_NAMES[joint]
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def _box(centre_start: np.ndarray, axis: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """A box from ``centre_start`` along ``axis`` (its full length), square section of ``2 * half_width``.

    Returns positions ``(24, 3)`` and outward normals ``(24, 3)``: 4 vertices per face so that
    faces shade flat; triangles are counter-clockwise seen from outside (glTF front faces).
    """
    length = np.linalg.norm(axis)
    u = axis / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    v = np.cross(u, helper)
    v /= np.linalg.norm(v)
    w = np.cross(u, v)  # (u, v, w) right-handed
    positions, normals = [], []
    for normal, a, b in ((u, v, w), (-u, w, v), (v, w, u), (-v, u, w), (w, u, v), (-w, v, u)):
        # Face with outward ``normal``, spanned by a x b = normal (so a, b, -a, -b turns counter-clockwise).
        centre = centre_start + 0.5 * axis + normal * (0.5 * length if abs(normal @ u) > 0.5 else half_width)
        ha = 0.5 * length if abs(a @ u) > 0.5 else half_width
        hb = 0.5 * length if abs(b @ u) > 0.5 else half_width
        for sa, sb in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            positions.append(centre + sa * ha * a + sb * hb * b)
            normals.append(normal)
    return np.array(positions), np.array(normals)


def skeleton_mesh() -> dict[str, np.ndarray]:
    """The rest-pose figure: boxes along the bones plus a head cube, each bound to one joint.

    Returns ``positions`` ``(V, 3)`` float32 metres (rest pose, y up), ``normals`` ``(V, 3)``
    float32, ``colours`` ``(V, 4)`` float32 linear RGBA, ``joints`` ``(V,)`` uint8 (the joint
    each vertex follows) and ``indices`` ``(F * 3,)`` uint16 triangles.
    """
    rest = rest_joints()
    boxes = []  # (positions, normals, joint, colour) per box
    for child in range(1, N_JOINTS):
        parent = int(PARENTS[child])
        boxes.append((*_box(rest[parent], rest[child] - rest[parent], _BONE_HALF_WIDTH), parent, _colour(child)))
    head_start = rest[_HEAD_JOINT] + np.array([0.0, _HEAD_LIFT - _HEAD_HALF_SIZE, 0.0])
    head = _box(head_start, np.array([0.0, 2 * _HEAD_HALF_SIZE, 0.0]), _HEAD_HALF_SIZE)
    boxes.append((*head, _HEAD_JOINT, _CENTRE))
    n_per_box = len(boxes[0][0])
    quad = np.array([0, 1, 2, 0, 2, 3])
    indices = (np.arange(len(boxes) * 6)[:, None] * 4 + quad).reshape(-1)  # 6 faces per box, 4 vertices each
    return {
        "positions": np.concatenate([b[0] for b in boxes]).astype(np.float32),
        "normals": np.concatenate([b[1] for b in boxes]).astype(np.float32),
        "colours": np.repeat(np.array([b[3] for b in boxes]), n_per_box, axis=0).astype(np.float32),
        "joints": np.repeat([b[2] for b in boxes], n_per_box).astype(np.uint8),
        "indices": indices.astype(np.uint16),
    }


def gltf_quaternions(rotations: np.ndarray, *, orthonormal: bool = False) -> np.ndarray:
    """Rotation matrices -> glTF's quaternions, float32 x, y, z, w: ``(T, J, 3, 3)`` -> ``(T, J, 4)``
    with each frame's sign nearest the previous frame's (so LINEAR interpolation takes the short
    way); any other ``(..., 3, 3)`` -> ``(..., 4)`` as they come. ``orthonormal``: as
    :data:`aichoreo.rotations.ORTHONORMAL`."""
    wxyz = matrix_to_quaternion(np.asarray(rotations, dtype=np.float64), orthonormal=orthonormal)
    if wxyz.ndim == 3:
        wxyz = _continuous_quaternions(wxyz)
    return np.concatenate([wxyz[..., 1:], wxyz[..., :1]], axis=-1).astype(np.float32)


def _continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """``(T, J, 4)`` quaternions, each frame's sign chosen nearest the previous frame's (same rotations).

    Flipping frame k when it points away from frame k-1 flips every later frame too, so the
    sign of frame k is the running product of those comparisons.
    """
    step = np.where((q[1:] * q[:-1]).sum(-1) < 0, -1.0, 1.0)  # (T-1, J)
    signs = np.concatenate([np.ones((1, q.shape[1])), np.cumprod(step, axis=0)])
    return q * signs[..., None]


class BlobBuilder:
    """Packs arrays into one binary buffer, one 4-byte-aligned buffer view and accessor each, after
    the bytes already in it (``start``: a document's own binary chunk, which keeps its views)."""

    def __init__(self, gltf, start: bytes = b"") -> None:
        self.gltf = gltf
        self.chunks: list[bytes] = [start + b"\0" * (-len(start) % 4)] if start else []
        self.offset = sum(len(c) for c in self.chunks)

    def add(self, array: np.ndarray, kind: str, component: int, target: int | None = None,
            bounds: bool = False) -> int:
        import pygltflib

        data = np.ascontiguousarray(array).tobytes()
        self.gltf.bufferViews.append(
            pygltflib.BufferView(buffer=0, byteOffset=self.offset, byteLength=len(data), target=target)
        )
        pad = -len(data) % 4
        self.chunks.append(data + b"\0" * pad)
        self.offset += len(data) + pad
        flat = array.reshape(len(array), -1)
        accessor = pygltflib.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1, componentType=component, count=len(array), type=kind,
            min=flat.min(0).tolist() if bounds else None, max=flat.max(0).tolist() if bounds else None,
        )
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1

    def blob(self) -> bytes:
        return b"".join(self.chunks)


def require_pygltflib():
    """The ``pygltflib`` module, or an :class:`InputError` saying how to install it."""
    try:
        import pygltflib
    except ImportError:
        raise InputError(None, "glb export needs pygltflib: pip install pygltflib") from None
    return pygltflib


def write_glb(motion: SMPLMotion, path: str | os.PathLike) -> Path:
    """Write ``motion`` as a binary glTF with a skinned skeleton animation (atomically)."""
    pygltflib = require_pygltflib()

    t = len(motion)
    gltf = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0", generator="aichoreo"))
    blob = BlobBuilder(gltf)

    # Joint nodes 0-23 (node i = SMPL joint i), then the mesh node 24.
    for j in range(N_JOINTS):
        offset = J0 if j == 0 else REST_OFFSETS[j]
        children = [int(c) for c in range(N_JOINTS) if PARENTS[c] == j]
        gltf.nodes.append(pygltflib.Node(name=JOINT_NAMES[j], translation=offset.tolist(), children=children))
    rest = rest_joints()
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (N_JOINTS, 1, 1))
    inverse_bind[:, :3, 3] = -rest  # joints have no rest rotation: the inverse is a translation
    ibm = blob.add(inverse_bind.transpose(0, 2, 1), "MAT4", _FLOAT)  # glTF matrices are column-major
    gltf.skins.append(pygltflib.Skin(name="smpl24", joints=list(range(N_JOINTS)), skeleton=0, inverseBindMatrices=ibm))

    mesh = skeleton_mesh()
    n_vertices = len(mesh["positions"])
    joints4 = np.zeros((n_vertices, 4), dtype=np.uint8)
    joints4[:, 0] = mesh["joints"]
    weights4 = np.zeros((n_vertices, 4), dtype=np.float32)
    weights4[:, 0] = 1.0
    attributes = pygltflib.Attributes(
        POSITION=blob.add(mesh["positions"], "VEC3", _FLOAT, _ARRAY_BUFFER, bounds=True),
        NORMAL=blob.add(mesh["normals"], "VEC3", _FLOAT, _ARRAY_BUFFER),
        COLOR_0=blob.add(mesh["colours"], "VEC4", _FLOAT, _ARRAY_BUFFER),
        JOINTS_0=blob.add(joints4, "VEC4", _UNSIGNED_BYTE, _ARRAY_BUFFER),
        WEIGHTS_0=blob.add(weights4, "VEC4", _FLOAT, _ARRAY_BUFFER),
    )
    indices = blob.add(mesh["indices"], "SCALAR", _UNSIGNED_SHORT, _ELEMENT_ARRAY_BUFFER)
    gltf.materials.append(pygltflib.Material(
        name="skeleton", pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.7),
    ))
    gltf.meshes.append(pygltflib.Mesh(name="skeleton", primitives=[
        pygltflib.Primitive(attributes=attributes, indices=indices, material=0, mode=_TRIANGLES)
    ]))
    gltf.nodes.append(pygltflib.Node(name="skeleton_mesh", mesh=0, skin=0))
    gltf.scenes.append(pygltflib.Scene(name="dance", nodes=[0, N_JOINTS]))
    gltf.scene = 0

    # Animation: one shared time input, a rotation sampler per joint, a translation sampler for the root.
    times = (np.arange(t, dtype=np.float64) / motion.fps).astype(np.float32)
    time_accessor = blob.add(times, "SCALAR", _FLOAT, bounds=True)
    xyzw = gltf_quaternions(motion.rotations, orthonormal=True)  # (T, 24, 4)
    animation = pygltflib.Animation(name="dance")
    for j in range(N_JOINTS):
        output = blob.add(xyzw[:, j], "VEC4", _FLOAT)
        animation.samplers.append(
            pygltflib.AnimationSampler(input=time_accessor, output=output, interpolation="LINEAR"))
        animation.channels.append(pygltflib.AnimationChannel(
            sampler=len(animation.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=j, path="rotation")))
    root = (motion.translation.astype(np.float64) + J0).astype(np.float32)
    animation.samplers.append(pygltflib.AnimationSampler(
        input=time_accessor, output=blob.add(root, "VEC3", _FLOAT), interpolation="LINEAR"))
    animation.channels.append(pygltflib.AnimationChannel(
        sampler=len(animation.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=0, path="translation")))
    gltf.animations.append(animation)

    data = blob.blob()
    gltf.buffers.append(pygltflib.Buffer(byteLength=len(data)))
    gltf.set_binary_blob(data)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"".join(gltf.save_to_bytes()))
    return path

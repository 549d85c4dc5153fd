"""Write a retargeted motion into the character's own file format.

* ``.glb`` / ``.vrm``: the character's glTF document, unchanged but for two things: every skin
  joint's node transform is set to its bind pose (read from the inverse bind matrices; a VRM's
  node pose may differ from it), and an animation ``"dance"`` is added as the first animation
  (``rotation`` channels for the humanoid bones, a ``translation`` channel for the hips,
  LINEAR, keyframe ``k`` at ``k / fps`` s). Mesh, skin, materials, textures, extensions (the
  VRM humanoid and meta) and the file's other animations are kept. A ``.vrm`` stays a VRM.
* ``.bvh``: the character's hierarchy with its own joint names, offsets and units; the root
  joint carries the position channels (its OFFSET written as zero, as
  :mod:`aichoreo.export.bvh` does, so readers that add the root offset and readers that do
  not agree), every joint ``Zrotation Yrotation Xrotation``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.export.gltf import BlobBuilder, gltf_quaternions, require_pygltflib
from aichoreo.fileio import atomic_path
from aichoreo.retarget.bvh_io import read_bvh_hierarchy, write_bvh_motion
from aichoreo.retarget.character import Character
from aichoreo.retarget.solve import CharacterMotion
from aichoreo.rotations import project_to_so3

__all__ = ["write_character_motion", "check_output", "OUTPUT_SUFFIX"]

_FLOAT = 5126
OUTPUT_SUFFIX = {"gltf": ".glb", "vrm0": ".vrm", "vrm1": ".vrm", "bvh": ".bvh"}


def _bind_local(cm: CharacterMotion) -> list[tuple[list[float], list[float], list[float]]]:
    """Each joint's bind transform relative to its parent: (translation, rotation xyzw, scale)."""
    ch = cm.character
    out = []
    for k in range(len(ch.names)):
        parent = ch.bind_world[ch.parents[k]] if ch.parents[k] >= 0 else ch.above[k]
        m = np.linalg.inv(parent) @ ch.bind_world[k]
        scale = np.linalg.norm(m[:3, :3], axis=0)
        rot = project_to_so3(m[:3, :3] / scale)
        out.append((m[:3, 3].tolist(), gltf_quaternions(rot).tolist(), scale.tolist()))
    return out


def _write_gltf(cm: CharacterMotion, path: Path) -> Path:
    pygltflib = require_pygltflib()
    ch = cm.character
    gltf = copy.deepcopy(ch.gltf)
    for k, (t, r, s) in enumerate(_bind_local(cm)):
        node = gltf.nodes[ch.nodes[k]]
        node.matrix = None
        node.translation, node.rotation = t, r
        node.scale = None if np.allclose(s, 1.0, atol=1e-6) else s

    blob = BlobBuilder(gltf, start=gltf.binary_blob() or b"")

    def add(array: np.ndarray, kind: str, bounds: bool = False) -> int:
        return blob.add(np.asarray(array, dtype=np.float32), kind, _FLOAT, bounds=bounds)

    times = add(np.arange(len(cm.local_rotations)) / cm.fps, "SCALAR", bounds=True)
    animation = pygltflib.Animation(name="dance")

    def channel(node: int, path_: str, values: np.ndarray, kind: str) -> None:
        animation.samplers.append(pygltflib.AnimationSampler(input=times, output=add(values, kind),
                                                             interpolation="LINEAR"))
        animation.channels.append(pygltflib.AnimationChannel(
            sampler=len(animation.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=node, path=path_)))

    quats = gltf_quaternions(cm.local_rotations[:, cm.animated])
    for i, k in enumerate(cm.animated):
        channel(ch.nodes[k], "rotation", quats[:, i], "VEC4")
    channel(ch.nodes[ch.index(ch.bone_map["hips"])], "translation", cm.hips_translation, "VEC3")
    gltf.animations.insert(0, animation)

    if not gltf.buffers:
        gltf.buffers.append(pygltflib.Buffer())
    data = blob.blob()
    gltf.buffers[0].uri = None
    gltf.buffers[0].byteLength = len(data)
    gltf.set_binary_blob(data)
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"".join(gltf.save_to_bytes()))
    return path


def _write_bvh(cm: CharacterMotion, path: Path) -> Path:
    ch = cm.character
    names, parents, offsets, _ = read_bvh_hierarchy(ch.path)
    # Static joints above the hips keep their rest pose (BVH rest rotations are identities), so
    # the root moves the hips by moving itself: root = hips - (the hips' rest offset from the root).
    hips = ch.index(ch.bone_map["hips"])
    root_position = cm.world_positions[:, hips] - (ch.bind_position[hips] - ch.bind_position[0])
    return write_bvh_motion(path, names=names, parents=parents, offsets=offsets, rotations=cm.local_rotations,
                            root_position=root_position, fps=cm.fps)


def check_output(character: Character, path: str | os.PathLike) -> Path:
    """``path`` where ``character``'s dance can be written (its suffix the one of what the character
    file holds, not a folder), checked before any work; else :class:`InputError` naming it."""
    path = Path(path)
    want = OUTPUT_SUFFIX[character.kind]
    if path.suffix.lower() != want:
        held = {"gltf": "a glTF character without a VRM humanoid", "vrm0": "a VRM character",
                "vrm1": "a VRM character", "bvh": "a BVH skeleton"}[character.kind]
        raise InputError(path, f"{character.path.name} holds {held}, written as {want}; name the output *{want}")
    if path.is_dir():
        raise InputError(path, "is a folder; name the file to write")
    return path


def write_character_motion(cm: CharacterMotion, path: str | os.PathLike) -> Path:
    """Write ``cm`` as the character's own format (``.glb`` for glTF, ``.vrm``, ``.bvh``), atomically."""
    path = check_output(cm.character, path)
    if cm.character.kind == "bvh":
        return _write_bvh(cm, path)
    return _write_gltf(cm, path)

"""A rigged character read from a file: its joints, their bind pose, and its humanoid bone map.

Readers: glTF 2.0 (``.glb``, ``.gltf`` with its buffers), VRM 0.x and 1.0 (``.vrm``: a glb with
the ``VRM`` or ``VRMC_vrm`` extension, whose humanoid map names the bones), and BVH skeletons.

The rest pose is the **bind pose**: a glTF joint's world matrix at bind is the inverse of its
inverse bind matrix (glTF 2.0 spec §3.7.3.3: a vertex is skinned by ``jointWorld · IBM``), which
is what the mesh was modelled in. A node's own TRS may differ from it (VRM exporters leave
small residual rotations there; ``../shared/data/characters/NOTICE.md``), so it is not used for
the skin's joints. A BVH skeleton's rest pose is its ``OFFSET`` s with every rotation zero.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aichoreo.errors import InputError
from aichoreo.retarget.humanoid import CANONICAL, check_bone_map, find_bone_map, read_bone_map
from aichoreo.rotations import project_to_so3, quaternion_to_matrix

__all__ = ["Character", "load_character", "CHARACTER_SUFFIXES"]

CHARACTER_SUFFIXES = (".glb", ".gltf", ".vrm", ".bvh")


@dataclass(eq=False)
class Character:
    """A humanoid rig in its bind pose.

    Attributes:
        path: the file it was read from.
        kind: ``"gltf"``, ``"vrm0"``, ``"vrm1"`` or ``"bvh"``.
        names: ``(J,)`` joint names, parents before children.
        parents: ``(J,)`` index of each joint's parent joint, -1 for a joint whose parent is not
            a joint (the static part above the skeleton).
        bind_world: ``(J, 4, 4)`` float64 world matrices at bind, in the file's units and axes
            (y up for glTF and BVH).
        above: ``(J, 4, 4)`` world matrix of the static node above each joint with parent -1
            (identity for BVH and for a joint at the scene root).
        bone_map: canonical humanoid bone -> joint name.
        scheme: the naming scheme the map was found by (``"vrm"``, ``"mixamo"``, ``"map"``...).
        nodes: ``(J,)`` glTF node index of each joint (empty for BVH).
        gltf: the parsed glTF document (``pygltflib.GLTF2``), ``None`` for BVH.
        bvh_channels: per joint the BVH channel names (BVH only).
        units_per_metre: the file's length unit: 1 for glTF (metres by the spec); for BVH,
            which does not say, 1, 100 or 1000 as the hips stand under 3, 300 or above.
    """

    path: Path
    kind: str
    names: list[str]
    parents: np.ndarray
    bind_world: np.ndarray
    above: np.ndarray
    bone_map: dict[str, str]
    scheme: str
    nodes: list[int] = field(default_factory=list)
    gltf: object = None
    bvh_channels: list[list[str]] = field(default_factory=list)
    units_per_metre: float = 1.0

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def bind_rotation(self) -> np.ndarray:
        """``(J, 3, 3)`` world rotations at bind (the matrices' scale removed)."""
        return project_to_so3(self.bind_world[:, :3, :3])

    @property
    def bind_position(self) -> np.ndarray:
        """``(J, 3)`` world joint positions at bind."""
        return self.bind_world[:, :3, 3]


# ------------------------------------------------------------------------------------------ glTF


def _node_matrix(node) -> np.ndarray:
    if node.matrix is not None:
        return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # glTF stores column-major
    m = np.eye(4)
    if node.rotation is not None:
        x, y, z, w = node.rotation
        m[:3, :3] = quaternion_to_matrix(np.array([w, x, y, z], dtype=np.float64))
    if node.scale is not None:
        m[:3, :3] = m[:3, :3] * np.asarray(node.scale, dtype=np.float64)[None, :]
    if node.translation is not None:
        m[:3, 3] = node.translation
    return m


def _read_accessor(gltf, index: int) -> np.ndarray:
    """A float accessor's data as ``(count, n)`` float64 (only what inverse bind matrices need)."""
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    data = gltf.get_data_from_buffer_uri(gltf.buffers[view.buffer].uri) if gltf.buffers[view.buffer].uri \
        else gltf.binary_blob()
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[accessor.type]
    if accessor.componentType != 5126:
        raise ValueError(f"accessor {index}: expected float32 data")
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    stride = view.byteStride or 4 * width
    raw = np.frombuffer(data, dtype=np.uint8, count=stride * (accessor.count - 1) + 4 * width, offset=start)
    rows = np.lib.stride_tricks.as_strided(raw, shape=(accessor.count, 4 * width), strides=(stride, 1))
    return np.ascontiguousarray(rows).view(np.float32).reshape(accessor.count, width).astype(np.float64)


def _load_gltf_document(path: Path):
    import pygltflib

    with open(path, "rb") as f:
        magic = f.read(4)
    gltf = pygltflib.GLTF2().load_binary(str(path)) if magic == b"glTF" else pygltflib.GLTF2().load_json(str(path))
    if gltf is None:
        raise ValueError("not a glTF file")
    if magic != b"glTF":
        _check_buffer_files(gltf, path)
        # External .bin files are read relative to the .gltf (pygltflib's own convert); its
        # warning that the .bin is "left orphaned" concerns writing the .gltf back, which we never do.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Conversion will leave", category=UserWarning)
            gltf.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
    _check_buffer_sizes(gltf, path)
    return gltf


def _check_buffer_files(gltf, path: Path) -> None:
    """A ``.gltf``'s one buffer file is there (pygltflib only warns, and reads nothing, when it is
    not; it cannot join several buffers into the one blob that the writer extends)."""
    from urllib.parse import unquote

    if len(gltf.buffers) > 1:
        raise InputError(path, f"has {len(gltf.buffers)} buffers; a .gltf character is read with one "
                               "(export it as .glb, or with one .bin)")
    for buffer in gltf.buffers:
        if buffer.uri and not buffer.uri.startswith("data:") and not (path.parent / unquote(buffer.uri)).is_file():
            raise InputError(path, f"its buffer file {buffer.uri} is missing (it belongs beside the .gltf)")


def _check_buffer_sizes(gltf, path: Path) -> None:
    """The binary data holds what the buffer and its views say: a file cut short (a failed copy or
    download) was read without complaint, as only the first views are read, and the dance written
    after it made a file whose meshes and textures point at the animation or past the end."""
    if not gltf.buffers:
        return
    declared = gltf.buffers[0].byteLength or 0
    held = len(gltf.binary_blob() or b"")
    if held < declared:
        raise InputError(path, f"its binary data holds {held} bytes but its buffer declares {declared}: "
                               "the file is cut short")
    for i, view in enumerate(gltf.bufferViews or []):
        end = (view.byteOffset or 0) + (view.byteLength or 0)
        if view.buffer != 0 or end > declared:
            raise InputError(path, f"buffer view {i} reaches past its buffer (byte {end} of {declared})")


def _vrm_map(gltf, path: Path) -> tuple[str, dict[str, int] | None]:
    ext = gltf.extensions or {}
    if "VRMC_vrm" in ext:
        bones = ext["VRMC_vrm"].get("humanoid", {}).get("humanBones", {})
        return "vrm1", {b: int(v["node"]) for b, v in bones.items() if isinstance(v, dict) and "node" in v}
    if "VRM" in ext:
        bones = ext["VRM"].get("humanoid", {}).get("humanBones", [])
        return "vrm0", {b["bone"]: int(b["node"]) for b in bones if isinstance(b, dict) and "bone" in b
                        and isinstance(b.get("node"), int) and b["node"] >= 0}
    return "gltf", None


def _load_gltf(path: Path, bone_map: dict[str, str] | None, map_source: Path | None = None) -> Character:
    try:
        gltf = _load_gltf_document(path)
    except InputError:
        raise
    except Exception as exc:  # pygltflib raises whatever json / struct raise on a damaged file
        raise InputError(path, f"cannot read as glTF: {' '.join(str(exc).split()) or type(exc).__name__}") from None
    try:
        return _character_from_gltf(gltf, path, bone_map, map_source)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:  # indices, buffers out of range
        raise InputError(path, f"malformed glTF: {' '.join(str(exc).split()) or type(exc).__name__}") from None


def _character_from_gltf(gltf, path: Path, bone_map: dict[str, str] | None, map_source: Path | None = None
                         ) -> Character:
    if not gltf.skins:
        raise InputError(path, "has no skin: the character must be a rigged (skinned) mesh")
    skin = max(gltf.skins, key=lambda s: len(s.joints or []))
    n_nodes = len(gltf.nodes)
    parent_of = np.full(n_nodes, -1)
    for i, node in enumerate(gltf.nodes):
        for c in node.children or []:
            parent_of[c] = i
    local = [_node_matrix(n) for n in gltf.nodes]

    def world(i: int) -> np.ndarray:
        m = local[i]
        while parent_of[i] >= 0:
            i = parent_of[i]
            m = local[i] @ m
        return m

    joints = list(skin.joints)
    if skin.inverseBindMatrices is not None:
        ibm = _read_accessor(gltf, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
        if len(ibm) != len(joints):
            raise InputError(path, f"the skin has {len(joints)} joints but {len(ibm)} inverse bind matrices")
        if not np.all(np.isfinite(ibm)) or np.any(np.abs(np.linalg.det(ibm[:, :3, :3])) < 1e-12):
            raise InputError(path, "an inverse bind matrix is not finite or not invertible")
        bind = np.linalg.inv(ibm)
    else:
        bind = np.stack([world(j) for j in joints])  # spec: absent IBMs are identities
    # Parents before children, as retargeting walks them.
    depth = {j: 0 for j in joints}
    for j in joints:
        i = j
        while parent_of[i] >= 0:
            i = parent_of[i]
            depth[j] += 1
    order = sorted(range(len(joints)), key=lambda k: depth[joints[k]])
    nodes = [joints[k] for k in order]
    bind = bind[order]
    position = {node: k for k, node in enumerate(nodes)}
    parents = np.array([position.get(int(parent_of[n]), -1) for n in nodes])
    for k, node in enumerate(nodes):
        if parents[k] < 0 and parent_of[node] >= 0 and _ancestor_in(node, position, parent_of):
            raise InputError(path, f"joint {gltf.nodes[node].name!r} hangs below a node that is not a joint")
    above = np.stack([world(int(parent_of[n])) if parents[k] < 0 and parent_of[n] >= 0 else np.eye(4)
                      for k, n in enumerate(nodes)])
    names = [gltf.nodes[n].name or f"node{n}" for n in nodes]
    if len(set(names)) != len(names):
        twice = sorted({x for x in names if names.count(x) > 1})
        raise InputError(path, f"two joints are named {twice[0]!r}; give each joint its own name")
    kind, vrm_nodes = _vrm_map(gltf, path)
    vrm_map = None
    if vrm_nodes is not None:
        # VRM also maps fingers, eyes and the jaw; retargeting drives the body's bones.
        vrm_map = {b: gltf.nodes[n].name for b, n in vrm_nodes.items() if n in position and b in CANONICAL}
    if bone_map is not None:
        scheme, mapping = "map", check_bone_map(bone_map, names, source=map_source or path, rig=path)
    else:
        scheme, mapping = find_bone_map(names, source=path, vrm_map=vrm_map)
    return Character(path=path, kind=kind, names=names, parents=parents, bind_world=bind, above=above,
                     bone_map=mapping, scheme=scheme, nodes=nodes, gltf=gltf)


def _ancestor_in(node: int, joints: dict[int, int], parent_of: np.ndarray) -> bool:
    i = parent_of[node]
    while i >= 0:
        if i in joints:
            return True
        i = parent_of[i]
    return False


# ------------------------------------------------------------------------------------------- BVH


def _load_bvh(path: Path, bone_map: dict[str, str] | None, map_source: Path | None = None) -> Character:
    from aichoreo.retarget.bvh_io import read_bvh_hierarchy

    names, parents, offsets, channels = read_bvh_hierarchy(path)
    bind = np.tile(np.eye(4), (len(names), 1, 1))
    for k in range(len(names)):
        bind[k, :3, 3] = offsets[k] + (bind[parents[k], :3, 3] if parents[k] >= 0 else 0.0)
    if bone_map is not None:
        scheme, mapping = "map", check_bone_map(bone_map, names, source=map_source or path, rig=path)
    else:
        scheme, mapping = find_bone_map(names, source=path)
    hips = np.abs(bind[names.index(mapping["hips"]), :3, 3] - bind[names.index(mapping["leftFoot"]), :3, 3]).max()
    units = 1.0 if hips < 3 else 100.0 if hips < 300 else 1000.0
    return Character(path=path, kind="bvh", names=names, parents=np.asarray(parents), bind_world=bind,
                     above=np.tile(np.eye(4), (len(names), 1, 1)), bone_map=mapping, scheme=scheme,
                     bvh_channels=channels, units_per_metre=units)


def load_character(path: str | os.PathLike, bone_map: dict[str, str] | str | os.PathLike | None = None) -> Character:
    """Read a rigged humanoid (``.glb``, ``.gltf``, ``.vrm``, ``.bvh``) and find its bone map.

    ``bone_map``: a dict canonical -> joint name, or a JSON file of one; default: the VRM
    humanoid map, else found from the joint names. Raises :class:`InputError` with one line
    naming the file for a missing file, an unknown suffix, no skin, or a bone that cannot be
    mapped.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.is_dir() else "is a folder, expected a character file")
    suffix = path.suffix.lower()
    if suffix not in CHARACTER_SUFFIXES:
        raise InputError(path, f"unknown character format {suffix or '(no suffix)'}; "
                               f"expected one of {', '.join(CHARACTER_SUFFIXES)}")
    map_source = None
    if bone_map is not None and not isinstance(bone_map, dict):
        map_source = Path(bone_map)  # its mistakes are named by the map's file, not the rig's
        bone_map = read_bone_map(bone_map)
    if suffix == ".bvh":
        return _load_bvh(path, bone_map, map_source)
    return _load_gltf(path, bone_map, map_source)

"""Synthetic rigged humanoids for the retargeting tests, in every naming scheme users bring.

No openly licensed Mixamo-named character could be found (../shared/data/characters/NOTICE.md),
so the naming schemes are built here as small rigs: a box per bone, skinned rigidly, written as
a valid glb (or VRM 1.0, or BVH). Each rig is SMPL's rest skeleton reshaped: limb proportions
changed, arms in a T-pose or lowered into an A-pose, facing +z or -z, in metres or in
centimetres under a 0.01-scaled armature, with extra bones (a twist bone, two finger bones, a
head end), a ``root`` bone at the floor (Unreal), and one to four spine segments. Joints get
random bind rotations (as exporters leave them: bone axes along the bone, or anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from aichoreo.skeleton import JOINT_NAMES, rest_joints

_S = {n: i for i, n in enumerate(JOINT_NAMES)}

# Names per scheme for the rig's joints; "{L}" / "{l}" are filled per side.
NAMES = {
    "mixamo": {"hips": "mixamorig:Hips", "spine": "mixamorig:Spine", "chest": "mixamorig:Spine1",
               "upperChest": "mixamorig:Spine2", "extraSpine": "mixamorig:Spine3", "neck": "mixamorig:Neck",
               "head": "mixamorig:Head", "headEnd": "mixamorig:HeadTop_End",
               "Shoulder": "mixamorig:{L}Shoulder", "UpperArm": "mixamorig:{L}Arm",
               "Twist": "mixamorig:{L}ArmTwist", "LowerArm": "mixamorig:{L}ForeArm", "Hand": "mixamorig:{L}Hand",
               "Index1": "mixamorig:{L}HandIndex1", "Index2": "mixamorig:{L}HandIndex2",
               "UpperLeg": "mixamorig:{L}UpLeg", "LowerLeg": "mixamorig:{L}Leg", "Foot": "mixamorig:{L}Foot",
               "Toes": "mixamorig:{L}ToeBase"},
    "unreal": {"root": "root", "hips": "pelvis", "spine": "spine_01", "chest": "spine_02", "upperChest": "spine_03",
               "extraSpine": "spine_04", "neck": "neck_01", "head": "head", "headEnd": "head_leaf",
               "Shoulder": "clavicle_{l}", "UpperArm": "upperarm_{l}", "Twist": "upperarm_twist_01_{l}",
               "LowerArm": "lowerarm_{l}", "Hand": "hand_{l}", "Index1": "index_01_{l}", "Index2": "index_02_{l}",
               "UpperLeg": "thigh_{l}", "LowerLeg": "calf_{l}", "Foot": "foot_{l}", "Toes": "ball_{l}"},
    "unity": {"hips": "Hips", "spine": "Spine", "chest": "Chest", "upperChest": "UpperChest",
              "extraSpine": "SpineExtra", "neck": "Neck", "head": "Head", "headEnd": "HeadEnd",
              "Shoulder": "{L}Shoulder", "UpperArm": "{L}UpperArm", "Twist": "{L}UpperArmTwist",
              "LowerArm": "{L}LowerArm", "Hand": "{L}Hand", "Index1": "{L}IndexProximal",
              "Index2": "{L}IndexIntermediate", "UpperLeg": "{L}UpperLeg", "LowerLeg": "{L}LowerLeg",
              "Foot": "{L}Foot", "Toes": "{L}Toes"},
    "rigify": {"hips": "DEF-spine", "spine": "DEF-spine.001", "chest": "DEF-spine.002", "upperChest": "DEF-spine.003",
               "extraSpine": "DEF-spine.003.001", "neck": "DEF-spine.004", "head": "DEF-spine.006",
               "headEnd": "DEF-spine.006.end", "Shoulder": "DEF-shoulder.{S}", "UpperArm": "DEF-upper_arm.{S}",
               "Twist": "DEF-upper_arm.{S}.001", "LowerArm": "DEF-forearm.{S}", "Hand": "DEF-hand.{S}",
               "Index1": "DEF-f_index.01.{S}", "Index2": "DEF-f_index.02.{S}", "UpperLeg": "DEF-thigh.{S}",
               "LowerLeg": "DEF-shin.{S}", "Foot": "DEF-foot.{S}", "Toes": "DEF-toe.{S}"},
    # VRoid Studio's names: found through the VRM humanoid map, not by name.
    "vrm": {"hips": "J_Bip_C_Hips", "spine": "J_Bip_C_Spine", "chest": "J_Bip_C_Chest",
            "upperChest": "J_Bip_C_UpperChest", "extraSpine": "J_Sec_C_Spine", "neck": "J_Bip_C_Neck",
            "head": "J_Bip_C_Head", "headEnd": "J_Adj_C_HeadEnd", "Shoulder": "J_Bip_{C}_Shoulder",
            "UpperArm": "J_Bip_{C}_UpperArm", "Twist": "J_Sec_{C}_UpperArmTwist", "LowerArm": "J_Bip_{C}_LowerArm",
            "Hand": "J_Bip_{C}_Hand", "Index1": "J_Bip_{C}_Index1", "Index2": "J_Bip_{C}_Index2",
            "UpperLeg": "J_Bip_{C}_UpperLeg", "LowerLeg": "J_Bip_{C}_LowerLeg", "Foot": "J_Bip_{C}_Foot",
            "Toes": "J_Bip_{C}_ToeBase"},
}
_SIDE = {"left": {"L": "Left", "l": "l", "S": "L", "C": "L"}, "right": {"L": "Right", "l": "r", "S": "R", "C": "R"}}
_HUMANOID = ("hips", "spine", "chest", "upperChest", "neck", "head", "Shoulder", "UpperArm", "LowerArm", "Hand",
             "UpperLeg", "LowerLeg", "Foot", "Toes")


@dataclass
class Rig:
    names: list[str]
    parents: list[int]
    positions: np.ndarray  # (J, 3) world bind positions, in the rig's units
    rotations: np.ndarray  # (J, 3, 3) world bind rotations
    humanoid: dict[str, str]  # canonical bone -> name (what retargeting should find)
    units: float  # units per metre


def build_rig(scheme: str, *, pose: str = "T", facing: str = "+z", spine: int = 3, arm: float = 1.0,
              leg: float = 1.0, thigh_share: float = 0.5, height: float = 1.0, units: str = "m",
              random_rest: bool = True, seed: int = 0) -> Rig:
    """A humanoid rig (see the module docstring). ``arm``/``leg`` scale the limbs, ``thigh_share``
    is the thigh's part of the leg (SMPL: ~0.48), ``height`` scales everything, ``spine`` is the
    number of spine segments between hips and neck (1-4; the fourth is an extra, unmapped one)."""
    smpl = rest_joints()
    smpl = smpl - np.array([0.0, min(smpl[_S["left_foot"], 1], smpl[_S["right_foot"], 1]) - 0.02, 0.0])
    table = NAMES[scheme]
    joints: list[tuple[str, str | None, np.ndarray]] = []  # (id, parent id, position)

    def add(key: str, parent: str | None, p: np.ndarray) -> None:
        joints.append((key, parent, np.asarray(p, dtype=np.float64)))

    pelvis = smpl[_S["pelvis"]]
    if "root" in table:
        add("root", None, [0.0, 0.0, 0.0])
    add("hips", "root" if "root" in table else None, pelvis)
    neck = smpl[_S["neck"]]
    keys = ["spine", "chest", "upperChest", "extraSpine"][:spine] if spine < 4 else \
        ["spine", "extraSpine", "chest", "upperChest"]
    parent = "hips"
    for i, key in enumerate(keys):  # evenly up the line from the pelvis to the neck
        add(key, parent, pelvis + (neck - pelvis) * (0.15 + 0.85 * i / len(keys)))
        parent = key
    add("neck", parent, neck)
    add("head", "neck", smpl[_S["head"]])
    add("headEnd", "head", smpl[_S["head"]] + [0.0, 0.15, 0.0])
    for side in ("left", "right"):
        def j(name: str) -> np.ndarray:
            return smpl[_S[f"{side}_{name}"]]

        shoulder = j("shoulder")
        lower = "A" == pose
        angle = np.radians(45.0 if lower else 0.0) * (1 if side == "left" else -1)
        down = Rotation.from_rotvec([0.0, 0.0, -angle]).as_matrix()  # arms lowered about the front axis

        def arm_point(p: np.ndarray) -> np.ndarray:
            return shoulder + down @ ((p - shoulder) * arm)

        add(f"{side}Shoulder", keys[-1], j("collar"))
        add(f"{side}UpperArm", f"{side}Shoulder", shoulder)
        add(f"{side}Twist", f"{side}UpperArm", arm_point((shoulder + j("elbow")) / 2))
        add(f"{side}LowerArm", f"{side}UpperArm", arm_point(j("elbow")))
        add(f"{side}Hand", f"{side}LowerArm", arm_point(j("wrist")))
        add(f"{side}Index1", f"{side}Hand", arm_point(j("hand")))
        add(f"{side}Index2", f"{side}Index1", arm_point(j("hand") + (j("hand") - j("wrist")) * 0.4))
        hip, knee, ankle = j("hip"), j("knee"), j("ankle")
        length = np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee)
        axis = (ankle - hip) / np.linalg.norm(ankle - hip)
        add(f"{side}UpperLeg", "hips", hip)
        new_knee = hip + axis * length * leg * thigh_share + (knee - (hip + axis @ (knee - hip) * axis))
        add(f"{side}LowerLeg", f"{side}UpperLeg", new_knee)
        new_ankle = hip + axis * length * leg
        add(f"{side}Foot", f"{side}LowerLeg", new_ankle)
        add(f"{side}Toes", f"{side}Foot", new_ankle + (j("foot") - ankle))

    ids = [k for k, _, _ in joints]
    positions = np.stack([p for _, _, p in joints])
    # Stand on the floor (the lowest toe at 2 cm), then scale, turn and change units.
    positions[:, 1] -= positions[ids.index("leftToes"), 1] - 0.02
    if "root" in table:
        positions[0] = 0.0
    positions *= height
    if facing == "-z":
        positions = positions * np.array([-1.0, 1.0, -1.0])
    scale = {"m": 1.0, "cm": 100.0}[units]
    positions *= scale
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(len(ids), random_state=rng).as_matrix() if random_rest else np.tile(np.eye(3), (len(ids), 1, 1))

    def name(key: str) -> str:
        for side in ("left", "right"):
            if key.startswith(side) and key[len(side):] in table:
                return table[key[len(side):]].format(**_SIDE[side])
        return table[key]

    names = [name(k) for k in ids]
    parents = [ids.index(p) if p is not None else -1 for _, p, _ in joints]
    humanoid = {}
    for k in ids:
        for side in ("left", "right"):
            if k.startswith(side) and k[len(side):] in _HUMANOID:
                humanoid[k] = name(k)
        if k in _HUMANOID:
            humanoid[k] = name(k)
    return Rig(names, parents, positions, rotations, humanoid, scale)


def write_rig_glb(rig: Rig, path: Path, *, vrm: bool = False, skin: bool = True, armature_scale: float | None = None) -> Path:
    """The rig as a glb: a box per joint skinned to it; VRM 1.0 (``VRMC_vrm`` humanoid) if ``vrm``;
    the joints under an ``Armature`` node scaled by ``armature_scale`` where given (then the
    positions are read as the armature's units, as a Mixamo FBX converted to glTF has them)."""
    import pygltflib

    n = len(rig.names)
    a = np.eye(4) * (armature_scale or 1.0)
    a[3, 3] = 1.0
    world = np.tile(np.eye(4), (n, 1, 1))
    world[:, :3, :3] = rig.rotations
    world[:, :3, 3] = rig.positions
    world = a @ world  # scene space
    gltf = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0", generator="aichoreo tests"))
    nodes = []
    for k in range(n):
        parent = world[rig.parents[k]] if rig.parents[k] >= 0 else a
        local = np.linalg.inv(parent) @ world[k]
        r = Rotation.from_matrix(local[:3, :3] / np.linalg.norm(local[:3, :3], axis=0)).as_quat()  # x y z w
        nodes.append(pygltflib.Node(name=rig.names[k], translation=local[:3, 3].tolist(), rotation=r.tolist(),
                                    children=[c for c in range(n) if rig.parents[c] == k]))
    gltf.nodes = nodes
    roots = [k for k in range(n) if rig.parents[k] < 0]
    armature = len(gltf.nodes)
    gltf.nodes.append(pygltflib.Node(name="Armature", children=roots,
                                     scale=[armature_scale] * 3 if armature_scale else None))
    # A 4 cm box at each joint, rigidly bound to it (scene space at bind).
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64) * 0.02
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],
                      [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    positions = np.concatenate([world[k, :3, 3] + corners for k in range(n)]).astype(np.float32)
    indices = np.concatenate([faces + 8 * k for k in range(n)]).astype(np.uint16).reshape(-1)
    joints4 = np.zeros((8 * n, 4), dtype=np.uint8)
    joints4[:, 0] = np.repeat(np.arange(n), 8)
    weights4 = np.zeros((8 * n, 4), dtype=np.float32)
    weights4[:, 0] = 1.0
    ibm = np.linalg.inv(world).transpose(0, 2, 1).astype(np.float32)  # column-major
    blob = bytearray()

    def add(arr: np.ndarray, kind: str, comp: int, target: int | None = None, bounds: bool = False) -> int:
        data = np.ascontiguousarray(arr).tobytes()
        gltf.bufferViews.append(pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data),
                                                     target=target))
        blob.extend(data + b"\0" * (-len(data) % 4))
        flat = arr.reshape(len(arr), -1)
        gltf.accessors.append(pygltflib.Accessor(bufferView=len(gltf.bufferViews) - 1, componentType=comp,
                                                 count=len(arr), type=kind,
                                                 min=flat.min(0).tolist() if bounds else None,
                                                 max=flat.max(0).tolist() if bounds else None))
        return len(gltf.accessors) - 1

    attributes = pygltflib.Attributes(POSITION=add(positions, "VEC3", 5126, 34962, bounds=True))
    if skin:
        attributes.JOINTS_0 = add(joints4, "VEC4", 5121, 34962)
        attributes.WEIGHTS_0 = add(weights4, "VEC4", 5126, 34962)
        gltf.skins.append(pygltflib.Skin(joints=list(range(n)), inverseBindMatrices=add(ibm, "MAT4", 5126)))
    gltf.meshes.append(pygltflib.Mesh(primitives=[pygltflib.Primitive(
        attributes=attributes, indices=add(indices, "SCALAR", 5123, 34963))]))
    gltf.nodes.append(pygltflib.Node(name="body", mesh=0, skin=0 if skin else None))
    gltf.scenes.append(pygltflib.Scene(nodes=[armature, len(gltf.nodes) - 1]))
    gltf.scene = 0
    if vrm:
        bones = {b: {"node": rig.names.index(name)} for b, name in rig.humanoid.items()}
        gltf.extensionsUsed = ["VRMC_vrm"]
        gltf.extensions = {"VRMC_vrm": {"specVersion": "1.0", "meta": {"name": "test", "authors": ["aichoreo"],
                                                                        "licenseUrl": "https://vrm.dev/licenses/1.0/"},
                                        "humanoid": {"humanBones": bones}}}
    gltf.buffers.append(pygltflib.Buffer(byteLength=len(blob)))
    gltf.set_binary_blob(bytes(blob))
    path.write_bytes(b"".join(gltf.save_to_bytes()))
    return path


def write_rig_bvh(rig: Rig, path: Path) -> Path:
    """The rig as a BVH skeleton (identity rest rotations, as BVH defines) with one frame of rest."""
    lines = ["HIERARCHY"]
    children = [[c for c in range(len(rig.names)) if rig.parents[c] == k] for k in range(len(rig.names))]
    count = 0

    def visit(k: int, depth: int) -> None:
        nonlocal count
        pad = "\t" * depth
        off = rig.positions[k] - (rig.positions[rig.parents[k]] if rig.parents[k] >= 0 else 0)
        lines.append(f"{pad}{'ROOT' if rig.parents[k] < 0 else 'JOINT'} {rig.names[k]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        chans = (["Xposition", "Yposition", "Zposition"] if rig.parents[k] < 0 else []) + \
            ["Zrotation", "Xrotation", "Yrotation"]
        count += len(chans)
        lines.append(f"{pad}\tCHANNELS {len(chans)} {' '.join(chans)}")
        for c in children[k]:
            visit(c, depth + 1)
        if not children[k]:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET 0 1 0", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    visit(0, 0)
    root = rig.positions[0]
    frame = [f"{root[0]:.6f}", f"{root[1]:.6f}", f"{root[2]:.6f}"] + ["0"] * (count - 3)
    lines += ["MOTION", "Frames: 1", "Frame Time: 0.0333333", " ".join(frame)]
    path.write_text("\n".join(lines) + "\n")
    return path

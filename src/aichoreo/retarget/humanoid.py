"""Humanoid bones: the canonical set, their SMPL joints, and bone maps found from a rig's names.

The canonical bone names are the VRM 1.0 humanoid's (``hips``, ``leftUpperArm``, ...; VRM
specification ``VRMC_vrm-1.0/humanoid.md``), the one open standard for humanoid rigs; Unity's
Humanoid uses the same set. Each canonical bone is driven by one SMPL joint
(:data:`SMPL_OF`). A *bone map* is a dict canonical name -> the rig's joint name.

:func:`find_bone_map` tries every naming scheme users bring (Mixamo, VRM, Unreal Mannequin,
Unity Humanoid, Blender Rigify and metarig, plain ``Hips``/``LeftUpLeg`` names, aichoreo's SMPL
names) and keeps the one that maps every required bone. Names compare case-insensitively and
without a namespace prefix (``mixamorig:``, ``mixamorig1_``, ``Armature|``), the forms
exporters and Blender's importers leave on them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from aichoreo.errors import InputError
from aichoreo.fileio import read_json

__all__ = ["CANONICAL", "REQUIRED", "SMPL_OF", "SCHEMES", "find_bone_map", "read_bone_map", "check_bone_map"]

_SIDED = ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot", "Toes")
CANONICAL: tuple[str, ...] = (
    "hips", "spine", "chest", "upperChest", "neck", "head",
    *(f"{side}{b}" for side in ("left", "right") for b in _SIDED),
)  # fmt: skip

# VRM 1.0's required humanoid bones (the others may be absent from a rig).
REQUIRED: tuple[str, ...] = (
    "hips", "spine", "head",
    *(f"{side}{b}" for side in ("left", "right") for b in ("UpperArm", "LowerArm", "Hand", "UpperLeg",
                                                            "LowerLeg", "Foot")),
)  # fmt: skip

# The SMPL joint (aichoreo.skeleton.JOINT_NAMES) that drives each canonical bone.
SMPL_OF: dict[str, str] = {
    "hips": "pelvis", "spine": "spine1", "chest": "spine2", "upperChest": "spine3", "neck": "neck",
    "head": "head",
    **{f"{s}{b}": f"{s}_{j}" for s in ("left", "right") for b, j in (
        ("Shoulder", "collar"), ("UpperArm", "shoulder"), ("LowerArm", "elbow"), ("Hand", "wrist"),
        ("UpperLeg", "hip"), ("LowerLeg", "knee"), ("Foot", "ankle"), ("Toes", "foot"))},
}  # fmt: skip


def _sided(left: Mapping[str, tuple[str, ...]], l: str, r: str) -> dict[str, tuple[str, ...]]:
    """Both sides from the left side's candidates, written with the placeholder ``{s}``."""
    out = {}
    for bone, names in left.items():
        out[f"left{bone}"] = tuple(n.format(s=l) for n in names)
        out[f"right{bone}"] = tuple(n.format(s=r) for n in names)
    return out


# Candidate joint names per canonical bone, scheme by scheme, in order of preference.
SCHEMES: dict[str, dict[str, tuple[str, ...]]] = {
    # Mixamo (and the many rigs that copy it: CMU BVH, Daz exports, Ready Player Me); the
    # "mixamorig:" prefix is removed before comparing.
    "mixamo": {
        "hips": ("Hips",), "spine": ("Spine",), "chest": ("Spine1",), "upperChest": ("Spine2",),
        "neck": ("Neck",), "head": ("Head",),
        **_sided({"Shoulder": ("{s}Shoulder",), "UpperArm": ("{s}Arm",), "LowerArm": ("{s}ForeArm",),
                  "Hand": ("{s}Hand",), "UpperLeg": ("{s}UpLeg",), "LowerLeg": ("{s}Leg",),
                  "Foot": ("{s}Foot",), "Toes": ("{s}ToeBase", "{s}Toe")}, "Left", "Right"),
    },
    # Unity Humanoid bone names (also the names VRM tools give bones, in PascalCase).
    "unity": {
        "hips": ("Hips",), "spine": ("Spine",), "chest": ("Chest",), "upperChest": ("UpperChest",),
        "neck": ("Neck",), "head": ("Head",),
        **_sided({"Shoulder": ("{s}Shoulder",), "UpperArm": ("{s}UpperArm",), "LowerArm": ("{s}LowerArm",),
                  "Hand": ("{s}Hand",), "UpperLeg": ("{s}UpperLeg",), "LowerLeg": ("{s}LowerLeg",),
                  "Foot": ("{s}Foot",), "Toes": ("{s}Toes",)}, "Left", "Right"),
    },
    # Unreal Engine Mannequin (UE4 and UE5; UE5 has spine_04/05 and neck_02, left to follow).
    "unreal": {
        "hips": ("pelvis",), "spine": ("spine_01",), "chest": ("spine_02",), "upperChest": ("spine_03",),
        "neck": ("neck_01",), "head": ("head",),
        **_sided({"Shoulder": ("clavicle_{s}",), "UpperArm": ("upperarm_{s}",), "LowerArm": ("lowerarm_{s}",),
                  "Hand": ("hand_{s}",), "UpperLeg": ("thigh_{s}",), "LowerLeg": ("calf_{s}",),
                  "Foot": ("foot_{s}",), "Toes": ("ball_{s}",)}, "l", "r"),
    },
    # Blender Rigify: its deform bones (DEF-...) and the metarig's own names. In the standard
    # metarig "spine" is the hips bone and spine.001-.003 the spine; some rigs name a "hips" bone.
    "rigify": {
        "hips": ("DEF-hips", "hips", "DEF-spine", "spine"),
        "spine": ("DEF-spine.001", "spine.001"), "chest": ("DEF-spine.002", "spine.002"),
        "upperChest": ("DEF-spine.003", "spine.003"), "neck": ("DEF-neck", "DEF-spine.004", "neck", "spine.004"),
        "head": ("DEF-head", "DEF-spine.006", "head", "spine.006"),
        **_sided({"Shoulder": ("DEF-shoulder.{s}", "shoulder.{s}"), "UpperArm": ("DEF-upper_arm.{s}", "upper_arm.{s}"),
                  "LowerArm": ("DEF-forearm.{s}", "forearm.{s}"), "Hand": ("DEF-hand.{s}", "hand.{s}"),
                  "UpperLeg": ("DEF-thigh.{s}", "thigh.{s}"), "LowerLeg": ("DEF-shin.{s}", "shin.{s}"),
                  "Foot": ("DEF-foot.{s}", "foot.{s}"), "Toes": ("DEF-toe.{s}", "toe.{s}")}, "L", "R"),
    },
    # aichoreo's own SMPL names (its BVH and glb exports).
    "smpl": {canonical: (smpl,) for canonical, smpl in SMPL_OF.items()},
}

_NAMESPACE = re.compile(r"^(?:.*[:|])|^mixamorig\d*_", re.IGNORECASE)


def _key(name: str) -> str:
    """How names compare: without a namespace prefix (``mixamorig:``, ``Armature|``), case-insensitive."""
    return _NAMESPACE.sub("", name).lower()


def _scheme_map(scheme: Mapping[str, tuple[str, ...]], names: Iterable[str]) -> dict[str, str]:
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(_key(name), name)  # the first of two names that compare equal wins
    found: dict[str, str] = {}
    used: set[str] = set()
    for canonical in CANONICAL:
        for candidate in scheme.get(canonical, ()):
            name = by_key.get(candidate.lower())
            if name is not None and name not in used:
                found[canonical] = name
                used.add(name)
                break
    return found


def find_bone_map(names: Iterable[str], *, source: str | os.PathLike | None = None,
                  vrm_map: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The naming scheme and bone map (canonical -> joint name) of a rig with joints ``names``.

    ``vrm_map`` (a VRM file's own humanoid map) wins where given. Otherwise every scheme is
    tried and the one mapping every :data:`REQUIRED` bone (and, among those, the most bones)
    is kept. Raises :class:`InputError` naming ``source`` and the required bones the closest
    scheme misses when none maps them all.
    """
    names = list(names)
    if vrm_map is not None:
        return "vrm", check_bone_map(dict(vrm_map), names, source=source)
    results = {scheme: _scheme_map(candidates, names) for scheme, candidates in SCHEMES.items()}
    complete = {s: m for s, m in results.items() if all(b in m for b in REQUIRED)}
    if complete:
        scheme = max(complete, key=lambda s: len(complete[s]))
        return scheme, complete[scheme]
    closest = max(results, key=lambda s: sum(b in results[s] for b in REQUIRED))
    missing = [b for b in REQUIRED if b not in results[closest]]
    if len(missing) > len(REQUIRED) // 2:
        raise InputError(source, "not a humanoid rig this tool recognises: its joint names follow none of the "
                                 f"schemes {', '.join(SCHEMES)} (give a bone map with --map)")
    wanted = ", ".join(f"{b} ({'/'.join(SCHEMES[closest][b])})" for b in missing)
    raise InputError(source, f"no bone for {wanted}: the rig's names look like the {closest} scheme but these "
                             "required bones are missing (give a bone map with --map)")


def check_bone_map(bone_map: Mapping[str, str], names: Iterable[str], *,
                   source: str | os.PathLike | None = None, rig: str | os.PathLike | None = None) -> dict[str, str]:
    """``bone_map`` if its keys are canonical bones, it names every required bone, and each named
    joint is in ``names`` (a name that differs only in case, and matches one joint alone, is that
    joint, as names are found without case); else :class:`InputError` naming ``source`` (the map's
    file, or the rig's) and the first problem. ``rig``: the rig's file, named in the message."""
    names = list(names)
    by_case = {}
    for name in names:
        by_case.setdefault(name.casefold(), []).append(name)
    unknown = [k for k in bone_map if k not in CANONICAL]
    if unknown:
        raise InputError(source, f"bone map: {unknown[0]!r} is not a humanoid bone (one of {', '.join(CANONICAL)})")
    missing = [b for b in REQUIRED if b not in bone_map]
    if missing:
        raise InputError(source, f"bone map names no {', '.join(missing)} (required humanoid bones)")
    bone_map = dict(bone_map)
    for canonical, joint in bone_map.items():
        if isinstance(joint, str) and joint not in names and len(by_case.get(joint.casefold(), [])) == 1:
            bone_map[canonical] = joint = by_case[joint.casefold()][0]
        if not isinstance(joint, str) or joint not in names:
            where = f"{Path(rig).name} has" if rig is not None else "the rig has"
            raise InputError(source, f"bone map: {canonical} -> {joint!r}, but {where} no joint of that name")
    joints = list(bone_map.values())
    twice = sorted({j for j in joints if joints.count(j) > 1})
    if twice:
        raise InputError(source, f"bone map: joint {twice[0]!r} is given to two humanoid bones")
    return {b: bone_map[b] for b in CANONICAL if b in bone_map}


def read_bone_map(path: str | os.PathLike) -> dict[str, str]:
    """A bone map from a JSON file: ``{"hips": "Pelvis", "leftUpperArm": "L_UpperArm", ...}``
    (canonical VRM 1.0 names as keys). The keys are checked against the rig by :func:`check_bone_map`."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InputError(path, 'a bone map is a JSON object {"hips": "JointName", ...} of humanoid bone -> joint name')
    return data

"""Retargeting: put a dance on the character a user brings (Mixamo, VRM, Unreal, Rigify, BVH rigs).

``retarget(MOTION, CHARACTER, OUT)`` is the one job (``aichoreo retarget`` wraps it):
read the dance (:mod:`~aichoreo.retarget.source`), read the rig and find its humanoid bones
(:mod:`~aichoreo.retarget.character`, :mod:`~aichoreo.retarget.humanoid`), solve the motion on
its skeleton (:mod:`~aichoreo.retarget.solve`) and write it in the character's own format
(:mod:`~aichoreo.retarget.write`).
"""

from __future__ import annotations

import os
from typing import Any

from aichoreo.motion import SMPLMotion
from aichoreo.retarget.character import CHARACTER_SUFFIXES, Character, load_character
from aichoreo.retarget.humanoid import CANONICAL, REQUIRED, find_bone_map
from aichoreo.retarget.solve import CharacterMotion, retarget_motion
from aichoreo.retarget.source import SOURCE_SUFFIXES, read_source_motion
from aichoreo.retarget.write import OUTPUT_SUFFIX, check_output, write_character_motion

__all__ = ["retarget", "retarget_motion", "load_character", "read_source_motion", "write_character_motion",
           "Character", "CharacterMotion", "find_bone_map", "CANONICAL", "REQUIRED", "CHARACTER_SUFFIXES",
           "SOURCE_SUFFIXES", "OUTPUT_SUFFIX", "output_name"]


def output_name(character: Character) -> str:
    """The file name a character's dance is written under: ``<character stem>_dance<suffix>``, the
    suffix of what the file holds (:data:`OUTPUT_SUFFIX`), not of its name: a VRM named ``.glb`` is
    written as ``.vrm``."""
    return f"{character.path.stem}_dance{OUTPUT_SUFFIX[character.kind]}"


def retarget(motion: SMPLMotion | str | os.PathLike, character: Character | str | os.PathLike,
             out: str | os.PathLike, *, bone_map: dict[str, str] | str | os.PathLike | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Put ``motion`` on ``character`` and write ``out`` (``.glb`` for a glTF character, ``.vrm``,
    ``.bvh``; atomically).

    Args:
        motion: an :class:`SMPLMotion` or a motion file (``.pkl``, ``.bvh``, ``.npy``).
        character: a :class:`Character` or a rigged humanoid file (``.glb``, ``.gltf``, ``.vrm``, ``.bvh``).
        out: the output file.
        bone_map: canonical humanoid bone -> the rig's joint name, as a dict or a JSON file;
            default: found from the VRM humanoid or the joint names.
        progress: show a progress bar where a joints file is fitted.

    Returns:
        a summary: ``out``, ``frames``, ``fps``, ``scheme`` (how the bones were found), ``bone_map``, ``scale``.
    """
    if not isinstance(character, Character):
        character = load_character(character, bone_map)
    check_output(character, out)  # before the motion is read (a joints file is fitted: seconds) and solved
    if not isinstance(motion, SMPLMotion):
        motion = read_source_motion(motion, progress=progress)
    cm = retarget_motion(motion, character)
    path = write_character_motion(cm, out)
    return {"out": str(path), "frames": len(motion), "fps": motion.fps, "scheme": character.scheme,
            "bone_map": character.bone_map, "scale": cm.scale}

"""How faithfully a character plays a dance: bone directions and planted feet against the SMPL dance.

Issue 16's acceptance measures: every bone of the character points where the SMPL bone points
(degrees), and where SMPL's foot is planted the character's stays on the floor and in place.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import label

from aichoreo.footlock import foot_contacts
from aichoreo.motion import SMPLMotion
from aichoreo.retarget.humanoid import SMPL_OF
from aichoreo.retarget.solve import PLANTED_PERCENTILE, CharacterMotion, bone_pairs
from aichoreo.skeleton import JOINT_NAMES

__all__ = ["bone_direction_errors", "planted_foot_errors"]

_S = {n: i for i, n in enumerate(JOINT_NAMES)}


def bone_direction_errors(motion: SMPLMotion, cm: CharacterMotion) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The character's bones (humanoid bone, the next one below it) and ``(T, bones)`` degrees
    between each and the same SMPL bone, frame by frame, in the character's canonical frame."""
    ch = cm.character
    world = cm.world_positions @ cm.canonical  # the canonical frame has SMPL's axes
    smpl = motion.joints().astype(np.float64)
    pairs = bone_pairs(ch)
    out = []
    for b, c in pairs:
        mine = world[:, ch.index(ch.bone_map[c])] - world[:, ch.index(ch.bone_map[b])]
        theirs = smpl[:, _S[SMPL_OF[c]]] - smpl[:, _S[SMPL_OF[b]]]
        cos = np.sum(mine * theirs, -1) / (np.linalg.norm(mine, axis=-1) * np.linalg.norm(theirs, axis=-1))
        out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return pairs, np.stack(out, axis=1)


def planted_foot_errors(motion: SMPLMotion, cm: CharacterMotion) -> tuple[np.ndarray, np.ndarray]:
    """Where SMPL's foot is planted (:func:`aichoreo.footlock.foot_contacts`), in metres of the scene:

    * ``height`` ``(N,)``, one per planted foot-frame: the character's ankle height above its
      planted height (its bind height, lifted by ``cm.floor_lift``), minus SMPL's ankle height
      above its floor scaled to the character (a planted foot may have its heel raised; the
      character's should be raised as much, no more);
    * ``slide`` ``(runs,)``, one per contact: how far the character's ankle moves horizontally
      from where the contact began, beyond SMPL's own ankle's movement scaled to the character
      (a dancer's planted foot may pivot or glide; the character's should do no more).
    """
    ch = cm.character
    smpl = motion.joints().astype(np.float64)
    contacts = foot_contacts(smpl, fps=motion.fps)
    units = ch.units_per_metre
    world = cm.world_positions @ cm.canonical / units
    bind = ch.bind_position @ cm.canonical / units
    ankles = smpl[:, [_S["left_ankle"], _S["right_ankle"]], 1]
    floor = np.percentile(ankles, PLANTED_PERCENTILE)
    height, slide = [], []
    for side, bone in enumerate(("leftFoot", "rightFoot")):
        k = ch.index(ch.bone_map[bone])
        planted = contacts[:, side]
        want = (ankles[:, side] - floor) * cm.scale / units
        height.append(np.abs(world[planted, k, 1] - bind[k, 1] - cm.floor_lift / units - want[planted]))
        runs, n = label(planted)
        for r in range(1, n + 1):
            xz = world[runs == r][:, k][:, [0, 2]]
            own = smpl[runs == r][:, _S[("left_ankle", "right_ankle")[side]]][:, [0, 2]] * cm.scale / units
            slide.append(np.linalg.norm((xz - xz[0]) - (own - own[0]), axis=-1).max())
    return np.concatenate(height), np.asarray(slide)

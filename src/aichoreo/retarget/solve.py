"""Retarget SMPL motion onto a character's skeleton: bone directions, proportions, planted feet.

The method, per frame (frames are independent; the whole motion is done in blocks):

1. **Frames.** The character's *canonical frame* has its left on +x, up on +y and its front on
   +z, as SMPL's rest pose; it is found from the bind pose (feet to head is up, right to left
   thigh and arm is left, each snapped to the nearest world axis so that a head ahead of the
   feet does not tilt the floor), so a rig facing -z (VRM 0.x), lying on its back (z up) or in
   centimetres needs no setting. The dance is played in the character's own frame: a character facing
   -z dances facing -z where the SMPL dancer faced +z.
2. **Rest alignment.** For each mapped bone ``b`` driven by SMPL joint ``s`` the rotation
   ``A_b`` turns the character's rest direction of the bone (``b`` to the next mapped bone
   below it) onto SMPL's rest direction of the same bone, by the shortest arc. Its world
   rotation at time t is then ``G_b(t) = S_b(t) · R_s(t) · A_b · B_b`` with ``R_s(t)`` SMPL's
   world rotation of ``s`` (SMPL's rest rotations are identities), ``B_b`` the bone's bind
   rotation and ``S_b(t)`` the shortest arc that corrects the direction where the character
   has fewer spine bones than SMPL (its one bone spans several of SMPL's: the bend of all of
   them goes into it); for a bone that matches one SMPL bone ``S_b`` is the identity. So the
   character's bone points where SMPL's points, in every frame, whatever its bind pose
   (T-pose, A-pose): an A-posed arm is not left 45 degrees off. A bone with no mapped bone
   below it (head, hands, toes) turns with ``R_s`` and its parent's alignment.
3. **Extra bones.** Fingers, twist bones, leaf bones and anything else not in the bone map keep
   their bind rotation relative to their parent. Bones above the hips (a ``root`` at the
   floor) stay at their bind pose. SMPL's three spine joints drive the rig's ``spine``,
   ``chest`` and ``upperChest``: a rig with fewer spine bones gets the bend of the missing ones
   through ``S_b``; in a rig with more, each extra, unmapped segment between two mapped spine
   bones turns by the slerp of their turns, in proportion to its height between them.
4. **Proportions.** ``scale`` = the character's leg length (thigh + shin, both legs, at bind)
   over SMPL's: the hips follow SMPL's pelvis path times ``scale``, and heights are measured
   from the planted ankle height (SMPL's: the 5th percentile of its ankle heights over the
   motion; the character's: its ankles at bind), so a dancer on a floor at any level lands on
   the character's floor. A rig whose bind pose hangs below its origin (ankles under y = 0: a
   CMU-style BVH) stands on y = 0 instead, its planted ankles at SMPL's height above its floor.
   The body is then moved so that the middle of the character's two hip joints follows SMPL's
   (scaled): rigs put the hips joint higher or lower above the thighs.
5. **Feet.** Each leg is bent by two-bone IK (in the plane its knee bends in) to put the ankle
   at a target. Swinging, the target keeps SMPL's hip-to-ankle vector (scaled) from the
   character's own hip joint. Planted (SMPL's foot contacts, :func:`aichoreo.footlock.foot_contacts`,
   eased in and out over 0.1 s), it follows SMPL's own ankle, scaled, from one offset per contact:
   still where SMPL's foot is still, pivoting or gliding only as SMPL's does. Heights are always
   SMPL's ankle height above its floor, scaled. Where a leg cannot reach (a straight SMPL leg,
   a rig with shorter legs against its hips), the hips come down just enough, smoothly.

Measured on the shared characters against real dances in docs/retarget.md
(``benchmarks/retarget_characters.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter1d, label, maximum_filter1d, minimum_filter1d

from aichoreo.errors import InputError
from aichoreo.footlock import foot_contacts
from aichoreo.motion import SMPLMotion
from aichoreo.retarget.character import Character
from aichoreo.retarget.humanoid import SMPL_OF
from aichoreo.rotations import shortest_arc, slerp_matrices
from aichoreo.skeleton import JOINT_NAMES, PARENTS

__all__ = ["CharacterMotion", "retarget_motion", "bone_pairs", "canonical_frame", "PLANTED_PERCENTILE"]

PLANTED_PERCENTILE = 5.0  # percentile of SMPL ankle heights taken as "on the floor"
_EASE_S = 0.1  # seconds over which a foot's target moves between planted and swinging
_BLOCK = 4096  # frames per block: bounds the (T, J, 3, 3) temporaries of a long dance
_SMPL = {name: i for i, name in enumerate(JOINT_NAMES)}

# The chains a bone's direction runs down: the next mapped bone in the chain is its child.
_CHAINS = (
    ("spine", "chest", "upperChest", "neck", "head"),
    *((f"{s}Shoulder", f"{s}UpperArm", f"{s}LowerArm", f"{s}Hand") for s in ("left", "right")),
    *((f"{s}UpperLeg", f"{s}LowerLeg", f"{s}Foot", f"{s}Toes") for s in ("left", "right")),
)
# Bones that keep SMPL's orientation with no direction alignment: the hips (their "direction" to
# the spine differs between rigs by design) and the head (its end is not a joint in SMPL).
_ORIENTATION_ONLY = ("hips", "head")


@dataclass
class CharacterMotion:
    """A motion on a character's skeleton.

    Attributes:
        character: the rig.
        local_rotations: ``(T, J, 3, 3)`` float32 each joint's rotation relative to its parent
            (for a joint under a static node: relative to that node), as the file stores it.
        hips_translation: ``(T, 3)`` the hips joint's local translation, in the file's units.
        world_positions: ``(T, J, 3)`` float32 joint world positions, in the file's axes and units.
        canonical: ``(3, 3)`` the character's canonical frame (columns: left, up, front, world axes).
        scale: character leg length / SMPL leg length (units of the file per metre).
        fps: frames per second.
        animated: indices of the joints whose rotation changes (the mapped bones).
        floor_lift: how far above their bind height the planted ankles stand, in the file's
            units (0 but for a rig whose bind pose hangs below its origin: step 4).
    """

    character: Character
    local_rotations: np.ndarray
    hips_translation: np.ndarray
    world_positions: np.ndarray
    canonical: np.ndarray
    scale: float
    fps: float
    animated: list[int]
    floor_lift: float = 0.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _nearest_axis(v: np.ndarray) -> np.ndarray:
    axis = np.zeros(3)
    k = int(np.argmax(np.abs(v)))
    axis[k] = np.sign(v[k])
    return axis


def canonical_frame(character: Character) -> np.ndarray:
    """``(3, 3)`` columns: the character's left, up and front as world directions (orthonormal)."""
    p = character.bind_position
    m = character.bone_map
    at = {b: p[character.index(j)] for b, j in m.items()}
    feet = (at["leftFoot"] + at["rightFoot"]) / 2
    # Rigs are built along the axes; a head ahead of the feet or a crooked hip must not tilt the
    # floor, so up and left are the world axes nearest the bind pose's.
    up = _nearest_axis(at["head"] - feet)
    left = (at["leftUpperLeg"] - at["rightUpperLeg"]) + (at["leftUpperArm"] - at["rightUpperArm"])
    left = _nearest_axis(left - np.dot(left, up) * up)
    front = np.cross(left, up)
    return np.stack([left, up, front], axis=1)


def bone_pairs(character: Character) -> list[tuple[str, str]]:
    """(bone, the next mapped bone below it) for every mapped bone with one: the bone directions."""
    pairs = []
    for chain in _CHAINS:
        present = [b for b in chain if b in character.bone_map]
        pairs += list(zip(present, present[1:]))
    return pairs


def _smpl_world_rotations(rot: np.ndarray) -> np.ndarray:
    g = np.empty_like(rot)
    g[:, 0] = rot[:, 0]
    for j in range(1, len(JOINT_NAMES)):
        g[:, j] = g[:, PARENTS[j]] @ rot[:, j]
    return g


def _two_bone_ik(a, b, c, target, fallback_normal):
    """World rotations ``(T, 3, 3)`` for the upper and lower bone that put the end ``c`` at ``target``.

    ``a, b, c``: ``(T, 3)`` hip, knee, ankle. The knee stays in the plane it bends in now (its
    normal; ``fallback_normal`` where the leg is straight). Returns the two delta rotations.
    """
    l1 = np.linalg.norm(b - a, axis=-1)
    l2 = np.linalg.norm(c - b, axis=-1)
    to = target - a
    d = np.clip(np.linalg.norm(to, axis=-1), np.abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6))
    u = _unit(to)
    n = np.cross(b - a, c - a)
    bent = np.linalg.norm(n, axis=-1) > 1e-6 * l1 * l2
    n = np.where(bent[:, None], n, fallback_normal)
    n = _unit(n - np.sum(n * u, axis=-1, keepdims=True) * u)
    cos_a = np.clip((l1**2 + d**2 - l2**2) / (2 * l1 * d), -1.0, 1.0)
    thigh = cos_a[:, None] * u + np.sqrt(1 - cos_a**2)[:, None] * np.cross(u, n)
    knee = a + l1[:, None] * thigh
    delta_upper = shortest_arc(b - a, thigh)
    end = a + d[:, None] * u
    shin_now = np.einsum("tij,tj->ti", delta_upper, c - b)
    delta_lower = shortest_arc(shin_now, end - knee) @ delta_upper
    return delta_upper, delta_lower


def retarget_motion(motion: SMPLMotion, character: Character) -> CharacterMotion:
    """Play ``motion`` on ``character``'s skeleton; see the module docstring for the method."""
    ch = character
    n = len(ch.names)
    frame = canonical_frame(ch)
    bind_rot = frame.T @ ch.bind_rotation  # (J, 3, 3) bind rotations seen in the canonical frame
    bind_pos = ch.bind_position @ frame  # (J, 3) canonical coordinates
    joint_of = {b: ch.index(j) for b, j in ch.bone_map.items()}
    bone_of = {k: b for b, k in joint_of.items()}
    hips = joint_of["hips"]

    # Which joints move: the hips and everything below them; others keep their bind pose.
    below_hips = np.zeros(n, dtype=bool)
    below_hips[hips] = True
    for k in range(n):
        if ch.parents[k] >= 0 and below_hips[ch.parents[k]]:
            below_hips[k] = True

    # Rest alignment A_b (canonical frame): the bone's rest direction onto SMPL's.
    smpl_rest = _smpl_rest()
    child_of = dict(bone_pairs(ch))
    align = {}
    for chain in _CHAINS:
        for b in chain:
            if b not in joint_of or b in _ORIENTATION_ONLY:
                continue
            if b in child_of:
                c = child_of[b]
                mine = bind_pos[joint_of[c]] - bind_pos[joint_of[b]]
                smpl = smpl_rest[_SMPL[SMPL_OF[c]]] - smpl_rest[_SMPL[SMPL_OF[b]]]
                align[b] = shortest_arc(mine, smpl)
            else:  # a last bone (hand, toes, a foot without toes): its parent bone's alignment
                parent_bone = chain[chain.index(b) - 1] if chain.index(b) > 0 else None
                align[b] = align.get(parent_bone, np.eye(3))

    # Proportions: one scale, the character's leg length (thigh + shin, both legs) over SMPL's,
    # for the hips' path and for heights alike, so that a leg pointing where SMPL's points
    # ends where the scaled SMPL ankle is.
    ankles_c = (bind_pos[joint_of["leftFoot"]][1] + bind_pos[joint_of["rightFoot"]][1]) / 2
    if bind_pos[hips][1] - ankles_c <= 0:
        raise InputError(ch.path, "its hips are not above its feet in the bind pose; not a standing humanoid")
    lengths = []
    for s in ("left", "right"):
        mine = sum(np.linalg.norm(bind_pos[joint_of[f"{s}{b}"]] - bind_pos[joint_of[f"{s}{a}"]])
                   for a, b in (("UpperLeg", "LowerLeg"), ("LowerLeg", "Foot")))
        smpl = sum(np.linalg.norm(smpl_rest[_SMPL[f"{s}_{b}"]] - smpl_rest[_SMPL[f"{s}_{a}"]])
                   for a, b in (("hip", "knee"), ("knee", "ankle")))
        lengths.append((mine, smpl))
    scale = float(sum(m for m, _ in lengths) / sum(s for _, s in lengths))
    reach = [m * (1 - 1e-3) for m, _ in lengths]  # a leg's longest hip-to-ankle distance, straight
    joints_all = motion.joints()
    planted_s = float(np.percentile(joints_all[:, [_SMPL["left_ankle"], _SMPL["right_ankle"]], 1],
                                    PLANTED_PERCENTILE))
    # A rig whose bind pose hangs below its origin (a CMU-style BVH, whose root OFFSET is 0 and
    # whose motion lifts it; aichoreo's own dance.glb and dance.bvh) says nothing of its floor by
    # its ankles: its world's floor, y = 0, is. Its planted ankles stand at SMPL's planted ankle
    # height above SMPL's floor (y = 0 for aichoreo's dances: 0.07-0.08 m), scaled; a motion on
    # another floor is taken at an ankle's height, at most 0.15 m. Before, such rigs danced with
    # their ankles on their bind height: about a metre under the floor.
    bind_ankles = ankles_c
    if ankles_c < 0:
        ankles_c = float(np.clip(planted_s, 0.0, 0.15)) * scale

    # How much each foot is planted, 0..1: SMPL's contacts widened and eased in and out over
    # _EASE_S, so that the ankle target glides between the planted spot and the swinging leg.
    contacts = foot_contacts(joints_all, fps=motion.fps)
    ease = max(1, round(_EASE_S * motion.fps))
    on_floor = np.clip(gaussian_filter1d(maximum_filter1d(contacts.astype(np.float64), 2 * ease + 1, axis=0),
                                         ease / 2, axis=0, mode="nearest"), 0.0, 1.0)

    def place(p: np.ndarray) -> np.ndarray:
        """SMPL world points ``(..., 3)`` -> the character's canonical frame, scaled, on its floor."""
        q = p * scale
        q[..., 1] = ankles_c + (p[..., 1] - planted_s) * scale
        return q

    offsets = np.zeros((n, 3))
    for k in range(n):
        if ch.parents[k] >= 0:
            p = ch.parents[k]
            offsets[k] = bind_rot[p].T @ (bind_pos[k] - bind_pos[p])
    rest_local = np.stack([bind_rot[ch.parents[k]].T @ bind_rot[k] if ch.parents[k] >= 0 else bind_rot[k]
                           for k in range(n)])
    above_rot = np.stack([frame.T @ _rotation_of(ch.above[k]) for k in range(n)])

    legs = [(joint_of[f"{s}UpperLeg"], joint_of[f"{s}LowerLeg"], joint_of[f"{s}Foot"],
             _SMPL[f"{s}_hip"], _SMPL[f"{s}_ankle"]) for s in ("left", "right")]

    def pose_block(block: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Steps 2-4 for frames ``block``: world rotations and positions (canonical frame) before
        the leg IK, with SMPL's world rotations and joints of the same frames."""
        rot_s = _smpl_world_rotations(motion.rotations[block].astype(np.float64))
        pos_s = joints_all[block].astype(np.float64)
        t = len(rot_s)
        g = np.broadcast_to(bind_rot, (t, n, 3, 3)).copy()
        for b, k in joint_of.items():
            if not mapped[k]:
                continue
            s = _SMPL[SMPL_OF[b]]
            r = rot_s[:, s] @ align.get(b, np.eye(3))
            if b in child_of:  # the direction correction S_b (identity when one SMPL bone spans it)
                c = _SMPL[SMPL_OF[child_of[b]]]
                now = np.einsum("tij,j->ti", rot_s[:, s], smpl_rest[c] - smpl_rest[s])
                r = shortest_arc(now, pos_s[:, c] - pos_s[:, s]) @ r
            g[:, k] = r @ bind_rot[k]
        for lower, upper, path in spread:  # extra spine segments: part of each neighbour's turn
            turn_lower = g[:, lower] @ bind_rot[lower].T
            turn_upper = g[:, upper] @ bind_rot[upper].T
            end = np.zeros((t, 3))  # the chain from the lower bone's joint to the upper's, bent
            for k, f in path:
                end = end + np.einsum("tij,j->ti", g[:, ch.parents[k]], offsets[k])
                g[:, k] = slerp_matrices(turn_lower, turn_upper, f) @ bind_rot[k]
            end = end + np.einsum("tij,j->ti", g[:, path[-1][0]], offsets[upper])
            # ... turned as a whole so that it still ends where the rigid chain would: the lower
            # bone's direction to the upper one stays SMPL's.
            fix = shortest_arc(end, np.einsum("tij,j->ti", turn_lower, bind_pos[upper] - bind_pos[lower]))
            for k in [lower, *(k for k, _ in path)]:
                g[:, k] = fix @ g[:, k]
        return (*_pose(g, place(pos_s[:, 0].copy())), rot_s, pos_s)

    def _pose(g: np.ndarray, hips_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unmapped joints below the hips follow their parent; then world positions."""
        pos = np.broadcast_to(bind_pos, (len(g), n, 3)).copy()
        for k in range(n):
            p = ch.parents[k]
            if below_hips[k] and not mapped[k] and p >= 0:
                g[:, k] = g[:, p] @ rest_local[k]
            if k == hips:
                pos[:, k] = hips_pos
            elif below_hips[k]:
                pos[:, k] = pos[:, p] + np.einsum("tij,j->ti", g[:, p], offsets[k])
        return g, pos

    mapped = np.zeros(n, dtype=bool)
    mapped[[k for k in joint_of.values() if below_hips[k]]] = True
    # A spine with more segments than the map names: each unmapped joint on the chain between two
    # mapped spine bones turns by the slerp of their turns (world rotation from bind), in
    # proportion to its height between them, so the bend is spread over every segment.
    spread: list[tuple[int, int, list[tuple[int, float]]]] = []  # (lower, upper, [(joint, fraction)] upwards)
    spine = [joint_of[b] for b in ("hips", "spine", "chest", "upperChest", "neck", "head") if b in joint_of]
    for lower, upper in zip(spine, spine[1:]):
        path, k = [], ch.parents[upper]
        while k >= 0 and k != lower:
            path.append(k)
            k = ch.parents[k]
        if k != lower or not path:
            continue  # not one chain, or no extra segment
        span = max(float(np.linalg.norm(bind_pos[upper] - bind_pos[lower])), 1e-9)
        spread.append((lower, upper, [(k, float(np.linalg.norm(bind_pos[k] - bind_pos[lower])) / span)
                                      for k in reversed(path)]))
        mapped[path] = True
    t_total = len(motion)
    blocks = [slice(f, min(f + _BLOCK, t_total)) for f in range(0, t_total, _BLOCK)]

    # Ankle targets (step 5). Swinging, a leg keeps SMPL's hip-to-ankle direction from the
    # character's own hip joint (hip widths and thigh/shin ratios differ between rigs); planted,
    # the foot holds one spot on the floor for the whole contact: where that direction puts it on
    # average over the contact. Heights always come from SMPL's ankle height above its floor.
    hip_joints = np.concatenate([pose_block(b)[1][:, [legs[0][0], legs[1][0]]] for b in blocks])  # (T, 2, 3)
    ankle_s = joints_all[:, [legs[0][4], legs[1][4]]].astype(np.float64)
    hip_s = joints_all[:, [legs[0][3], legs[1][3]]].astype(np.float64)
    # The hips joint sits higher or lower above the thighs in one rig than in another: move the
    # body so that the middle of the character's hip joints follows SMPL's (scaled), and the
    # legs hang from where SMPL's hang.
    shift = place(hip_s.mean(1)) - hip_joints.mean(1)  # (T, 3)
    hip_joints = hip_joints + shift[:, None]
    swinging = hip_joints + scale * (ankle_s - hip_s)
    targets = swinging.copy()
    for side in range(2):
        runs, n_runs = label(contacts[:, side])
        if n_runs == 0:
            continue
        # Planted, the ankle follows SMPL's own ankle, scaled (still where SMPL's is still; a pivot
        # or a slide where SMPL's pivots or slides), from the spot the legs' proportions put it
        # at on average over the contact.
        offset = hip_joints[:, side] - scale * hip_s[:, side]  # (T, 3) how far the rig's hip is off
        spot = np.stack([offset[runs == r].mean(0) for r in range(1, n_runs + 1)])  # (runs, 3)
        _, nearest = distance_transform_edt(runs == 0, return_indices=True)
        held = scale * ankle_s[:, side] + spot[runs[nearest[0]] - 1]  # offset of the nearest contact
        w = on_floor[:, side][:, None]
        targets[:, side] = w * held + (1 - w) * swinging[:, side]
    # Heights: always SMPL's ankle above its floor, scaled (a planted foot may rise onto its toes).
    targets[..., 1] = place(ankle_s.copy())[..., 1]

    # Where a leg cannot reach its target (the character's legs are shorter against its hips' path
    # than SMPL's, or SMPL's own leg is straighter than the rig allows), the hips come down just
    # enough, smoothly over _EASE_S, rather than the foot leaving the floor.
    drop = np.zeros(t_total)
    for side in range(2):
        to = targets[:, side] - hip_joints[:, side]
        flat = np.minimum(np.linalg.norm(to[:, [0, 2]], axis=-1), reach[side])
        drop = np.minimum(drop, to[:, 1] + np.sqrt(reach[side] ** 2 - flat**2))  # (T,) <= 0
    drop = gaussian_filter1d(minimum_filter1d(drop, 2 * ease + 1), ease / 2, mode="nearest")
    shift[:, 1] += drop

    # Stored as float32 (computed in float64): a 10-minute dance on a 65-joint rig is 84 MB, not 168.
    local_out = np.empty((t_total, n, 3, 3), np.float32)
    world_out = np.empty((t_total, n, 3), np.float32)
    hips_out = np.empty((t_total, 3))
    for block in blocks:
        g, pos, rot_s, _ = pose_block(block)
        pos += below_hips[None, :, None] * shift[block, None, :]
        for side, (up, low, foot, _, _) in enumerate(legs):
            d_up, d_low = _two_bone_ik(pos[:, up], pos[:, low], pos[:, foot], targets[block, side],
                                       rot_s[:, 0][:, :, 0])  # straight leg: bend in the pelvis's left axis
            g[:, up] = d_up @ g[:, up]
            g[:, low] = d_low @ g[:, low]
        g, pos = _pose(g, pos[:, hips].copy())
        t = len(g)
        parent_rot = np.stack([g[:, ch.parents[k]] if ch.parents[k] >= 0 else
                               np.broadcast_to(above_rot[k], (t, 3, 3)) for k in range(n)], axis=1)
        local_out[block] = np.swapaxes(parent_rot, -1, -2) @ g
        world_out[block] = pos @ frame.T
        hips_out[block] = pos[:, hips] @ frame.T
    # The hips' local translation: its world position seen from its (static) parent.
    parent = ch.parents[hips]
    parent_world = ch.bind_world[parent] if parent >= 0 else ch.above[hips]
    inv = np.linalg.inv(parent_world)
    hips_local = hips_out @ inv[:3, :3].T + inv[:3, 3]
    animated = [k for k in range(n) if below_hips[k] and k in bone_of]
    return CharacterMotion(character=ch, local_rotations=local_out, hips_translation=hips_local,
                           world_positions=world_out, canonical=frame, scale=scale, fps=motion.fps,
                           animated=animated, floor_lift=ankles_c - bind_ankles)


def _rotation_of(m: np.ndarray) -> np.ndarray:
    from aichoreo.rotations import project_to_so3

    return project_to_so3(m[:3, :3])


def _smpl_rest() -> np.ndarray:
    from aichoreo.skeleton import rest_joints

    return rest_joints()


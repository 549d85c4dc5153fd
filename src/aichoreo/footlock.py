"""Planted feet in generated dances: foot-contact labels and a foot-skate clean-up.

Axes: ``T`` frames, ``24`` SMPL joints (:data:`aichoreo.skeleton.JOINT_NAMES`), ``2`` feet
(0 left, 1 right), ``3`` coordinates in metres. A foot is its ankle (SMPL 7 left, 8 right)
and its ``left_foot`` / ``right_foot`` joint (10, 11: the ball of the foot, "toes" in the
AIST++ names); a leg is hip, knee, ankle (1, 4, 7 left; 2, 5, 8 right).

* :func:`foot_contacts` labels, per frame and foot, whether the foot is planted: both of
  its joints low and slow. A pure function of the joints, so the same labels serve to
  annotate training data (EDGE, Tseng et al. CVPR 2023, trains with such labels:
  Stanford-TML/EDGE ``dataset/dance_dataset.py``, ``feetv < 0.01``) and to clean up.
* :func:`lock_feet` removes foot skate: during each contact run the ankle is held at one
  place, reached by analytic two-bone IK on the leg (hip and knee rotations only, the
  foot's world orientation kept), blended back to the original path around the run,
  with the root moved smoothly where a leg cannot reach.

docs/feet.md explains the thresholds and what the clean-up cannot fix.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_closing, binary_opening, distance_transform_edt, gaussian_filter1d

from aichoreo.motion import SMPLMotion
from aichoreo.rotations import axis_angle_to_matrix
from aichoreo.skeleton import J0, N_JOINTS, REST_OFFSETS, UP_AXIS

__all__ = ["foot_contacts", "lock_feet", "keep_on_floor", "lowest_foot", "FootLocker"]

ANKLES = (7, 8)  # left, right
FOOT_JOINTS = (10, 11)  # left_foot, right_foot (ball of the foot)
_LEGS = np.array([[1, 4, 7], [2, 5, 8]])  # (2 legs, hip/knee/ankle) SMPL joint indices
# (2,) metres: hip -> ankle distance of the straight rest leg (|knee offset + ankle offset|;
# left 0.814, right 0.805). A knee straighter than rest would bend backwards.
_STRAIGHT_LEG_M = np.linalg.norm(REST_OFFSETS[_LEGS[:, 1]] + REST_OFFSETS[_LEGS[:, 2]], axis=-1)
_MIN_REACH_M = 0.1  # closest hip -> ankle distance asked of the IK (a knee folded past ~165 degrees)
_ROOT_ITERATIONS = 12  # passes of "move the root by the smoothed shortfall"
_REACH_TOL_M = 1e-4  # shortfall below which the root is left where it is


# --------------------------------------------------------------------------- contact labels


def foot_contacts(
    joints: np.ndarray,
    *,
    fps: float,
    up_axis: int = UP_AXIS,
    height_m: float = 0.06,
    ankle_height_m: float = 0.12,
    speed_m_s: float = 0.3,
    floor_m: float | None = None,
    floor_percentile: float = 5.0,
    min_contact_s: float = 0.05,
    max_gap_s: float = 0.035,
) -> np.ndarray:
    """Which foot is planted in each frame: ``(T, 2)`` bool, columns (left, right).

    A foot is in contact in a frame when both its joints are low and slow:

    * height above the floor along ``up_axis``: the foot joint (10 / 11) within ``height_m``
      (6 cm: room for a foot that hovers or sinks a few cm, below the clearance of a foot
      lifted in a step) and the ankle (7 / 8) within ``ankle_height_m`` (12 cm: the SMPL
      ankle sits 6 cm above the foot joint on a flat foot, plus the same 6 cm margin);
    * horizontal speed (central differences, times ``fps``) of both joints below
      ``speed_m_s`` (0.3 m/s: EDGE's contact label, a displacement under 1 cm per frame at
      30 fps, Stanford-TML/EDGE ``dataset/dance_dataset.py``). A swinging foot moves at
      metres per second. A foot skating faster than this is not labelled (GMD's skating
      ratio, :func:`aichoreo.metrics.foot_skating`, counts grounded feet above 0.5 m/s):
      to lock such skates, raise ``speed_m_s`` or pass your own contacts to :func:`lock_feet`.

    The floor is ``floor_m`` if given, else estimated from the motion itself: the
    ``floor_percentile``-th percentile over frames of the lowest of the four foot joints
    (5 %: robust to a few frames sunk through the floor, and still the floor when the
    dancer is airborne most of the time). One floor serves the whole motion.

    Contact runs shorter than ``min_contact_s`` are dropped, then gaps of at most
    ``max_gap_s`` between runs are filled (60 fps: runs under 3 frames, gaps of 1-2
    frames), by binary opening and closing; a run touching either end of the motion is
    treated as continuing past it. Every run of the result is at least that long.

    Args:
        joints: ``(T, 24, 3)`` SMPL joints in metres (``SMPLMotion.joints()``), T >= 1.
        fps: frames per second of ``joints``.
        up_axis: the vertical axis (0 x, 1 y, 2 z; SMPL/AIST++: 1).

    Returns:
        ``(T, 2)`` bool, left foot then right foot.
    """
    pos = np.asarray(joints)
    if pos.ndim != 3 or pos.shape[1:] != (N_JOINTS, 3):
        raise ValueError(f"joints: expected shape (T, {N_JOINTS}, 3), got {pos.shape}")
    if len(pos) == 0:
        raise ValueError("joints: no frames")
    pos = pos.astype(np.float64, copy=False)
    if not np.isfinite(pos).all():
        raise ValueError("joints: contains NaN or infinite values")
    fps = _positive("fps", fps)
    if up_axis not in (0, 1, 2):
        raise ValueError(f"up_axis must be 0 (x), 1 (y) or 2 (z), got {up_axis!r}")
    for name, value in (("height_m", height_m), ("ankle_height_m", ankle_height_m), ("speed_m_s", speed_m_s)):
        _positive(name, value)
    if not 0.0 <= floor_percentile <= 100.0:
        raise ValueError(f"floor_percentile must be in [0, 100], got {floor_percentile!r}")

    feet = pos[:, list(ANKLES + FOOT_JOINTS)]  # (T, 4, 3): left ankle, right ankle, left foot, right foot
    height = feet[..., up_axis]  # (T, 4)
    if floor_m is None:
        floor_m = float(np.percentile(lowest_foot(pos, up_axis), floor_percentile))
    height = height - float(floor_m)
    low = (height[:, :2] < ankle_height_m) & (height[:, 2:] < height_m)  # (T, 2)

    flat = [a for a in range(3) if a != up_axis]
    if len(pos) > 1:
        velocity = np.gradient(feet[..., flat], axis=0) * fps  # (T, 4, 2) m/s
        speed = np.linalg.norm(velocity, axis=-1)  # (T, 4)
    else:
        speed = np.zeros((1, 4))
    slow = (speed[:, :2] < speed_m_s) & (speed[:, 2:] < speed_m_s)  # (T, 2)

    min_frames = max(1, round(min_contact_s * fps))
    gap_frames = max(0, round(max_gap_s * fps))
    return np.stack([_clean_runs(column, min_frames, gap_frames) for column in (low & slow).T], axis=1)


def _clean_runs(flags: np.ndarray, min_frames: int, gap_frames: int) -> np.ndarray:
    """``(T,)`` bool: runs shorter than ``min_frames`` removed, then gaps <= ``gap_frames`` filled."""
    pad = min_frames + gap_frames + 1
    padded = np.pad(flags, pad, mode="edge")  # a run at an end continues past it
    if min_frames > 1:
        padded = binary_opening(padded, structure=np.ones(min_frames, dtype=bool))
    if gap_frames > 0:
        padded = binary_closing(padded, structure=np.ones(gap_frames + 1, dtype=bool))
    return padded[pad:-pad]


# --------------------------------------------------------------------------- the clean-up


def lock_feet(
    motion: SMPLMotion,
    contacts: np.ndarray | None = None,
    *,
    blend_frames: int = 8,
    anchor_frames: int = 3,
    max_slip_m: float = 0.15,
    reach_margin_m: float = 0.005,
    reach_slack_m: float = 0.005,
    root_sigma_frames: float = 4.0,
) -> SMPLMotion:
    """Remove foot skate: hold each planted ankle still, by leg IK and a smooth root shift.

    1. Contacts: ``contacts`` ``(T, 2)`` bool (left, right), or ``None`` for
       :func:`foot_contacts` of the motion's joints with its defaults.
    2. Targets: in each contact run of a foot, its ankle target is one point, the mean
       ankle position over the run's first ``anchor_frames`` frames (where the foot landed;
       height included, so the foot neither slides nor drifts up or down). Where the motion's
       own ankle gets farther than ``max_slip_m`` from it (a body that glides on for seconds
       over a "planted" foot), the target follows on a leash of that length. Outside
       the runs the correction (target minus ankle, interpolated between the neighbouring
       runs' ends) fades with a smoothstep over ``blend_frames`` frames on each side, so
       the foot eases back onto its own path; farther away the target is the ankle itself.
    3. Root: a leg reaches as far as the straight rest leg minus ``reach_margin_m``, or as
       far as the motion's own leg at that frame if that is farther. Where a target lies more
       than ``reach_slack_m`` beyond, the root translation moves toward it by the excess,
       low-passed over time (a gaussian of ``root_sigma_frames`` frames, repeated until the
       excess is gone), so it never pops. The slack spares the root a dip of a few mm
       (which would bend both nearly straight knees: see docs/feet.md); the ankle then
       stops that short of its target. The root's rotation never changes.
    4. IK, per leg and frame that needs it: the knee bends about its own flexion axis (its
       local x axis; the bend keeps its side, so the knee cannot flip) until hip -> ankle has
       the target's distance, then the whole leg swings about the hip by the smallest rotation
       that points it at the target. Only the hip, knee and ankle local rotations change; the
       ankle's is set so that the foot keeps its world orientation.

    Frames that need nothing (no target, no root shift) keep their exact rotations.

    Args:
        motion: the dance (60 fps SMPL, y up); it is not modified.
        contacts: ``(T, 2)`` bool, or ``None`` to detect them.
        blend_frames: frames over which the correction fades in before and out after a run.
        anchor_frames: frames at the start of a run whose mean ankle position is its target.
        max_slip_m: farthest a held ankle is kept from the motion's own ankle; beyond, the target
            follows (the foot slides then, but the root is never dragged metres back).
        reach_margin_m: metres kept short of the straight rest leg (0.814 m left, 0.805 m right).
        reach_slack_m: metres an ankle may stay short of an unreachable target before the root moves.
        root_sigma_frames: gaussian sigma, in frames, of the root shift's low-pass (0: none).

    Returns:
        a new :class:`SMPLMotion` with the same frames and fps, or ``motion`` itself when no
        foot is ever in contact.
    """
    if not isinstance(motion, SMPLMotion):
        raise TypeError(f"motion: expected an SMPLMotion, got {type(motion).__name__}")
    n = len(motion)
    if contacts is None:
        contacts = foot_contacts(motion.joints(), fps=motion.fps, up_axis=UP_AXIS)
    contacts = np.asarray(contacts)
    if contacts.shape != (n, 2) or contacts.dtype != bool:
        raise ValueError(f"contacts: expected a bool array of shape ({n}, 2), got {contacts.dtype} {contacts.shape}")
    if int(blend_frames) != blend_frames or blend_frames < 0:
        raise ValueError(f"blend_frames must be a whole number >= 0, got {blend_frames!r}")
    if int(anchor_frames) != anchor_frames or anchor_frames < 1:
        raise ValueError(f"anchor_frames must be a whole number >= 1, got {anchor_frames!r}")
    if not (np.isfinite(reach_margin_m) and reach_margin_m >= 0):
        raise ValueError(f"reach_margin_m must be >= 0, got {reach_margin_m!r}")
    if not (np.isfinite(reach_slack_m) and reach_slack_m >= 0):
        raise ValueError(f"reach_slack_m must be >= 0, got {reach_slack_m!r}")
    if not (np.isfinite(root_sigma_frames) and root_sigma_frames >= 0):
        raise ValueError(f"root_sigma_frames must be >= 0, got {root_sigma_frames!r}")
    if not contacts.any():
        return motion

    rot = motion.rotations.astype(np.float64)  # (T, 24, 3, 3)
    trans = motion.translation.astype(np.float64)  # (T, 3)
    legs = _leg_chain(rot, trans)
    target, weight = _ankle_targets(legs["ankle"], contacts, int(blend_frames), int(anchor_frames),
                                    _positive("max_slip_m", max_slip_m))
    cap = _STRAIGHT_LEG_M - float(reach_margin_m)  # (2,)
    reach = np.maximum(cap, np.linalg.norm(legs["ankle"] - legs["hip"], axis=-1))  # (T, 2)
    shift = _root_shift(legs["hip"], target, reach + float(reach_slack_m), float(root_sigma_frames))  # (T, 3)

    rotations = _solve_legs(motion.rotations, rot, legs, target, weight, reach, shift)
    return SMPLMotion(rotations, trans + shift, motion.fps)


def _solve_legs(rotations: np.ndarray, rot: np.ndarray, legs: dict[str, np.ndarray], target: np.ndarray,
                weight: np.ndarray, reach: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """``rotations (T, 24, 3, 3)`` (float32, not modified) with each leg's hip, knee and ankle solved
    by :func:`_two_bone_ik` toward ``target (T, 2, 3)`` in the frames where its ``weight (T, 2)`` is
    above 0 or the root moves by ``shift (T, 3)`` (None: it does not); ``rot`` the float64 rotations,
    ``legs`` their :func:`_leg_chain`, ``reach (T, 2)`` metres. Other frames keep their bits."""
    shift = np.zeros((len(rot), 3)) if shift is None else shift
    moved = np.any(shift != 0.0, axis=1)  # (T,)
    rotations = rotations.copy()
    for leg in range(2):
        frames = np.flatnonzero((weight[:, leg] > 0.0) | moved)
        if len(frames) == 0:
            continue
        hip_j, knee_j, ankle_j = _LEGS[leg]
        delta = shift[frames]  # the leg rides along with the root before the IK
        r_hip, r_knee, r_ankle = _two_bone_ik(
            hip=legs["hip"][frames, leg] + delta,
            knee=legs["knee"][frames, leg] + delta,
            ankle=legs["ankle"][frames, leg] + delta,
            g_root=rot[frames, 0],
            g_hip=legs["g_hip"][frames, leg],
            g_knee=legs["g_knee"][frames, leg],
            r_knee=rot[frames, knee_j],
            g_ankle=legs["g_ankle"][frames, leg],
            target=target[frames, leg],
            max_reach=reach[frames, leg],
        )
        rotations[frames, hip_j] = r_hip
        rotations[frames, knee_j] = r_knee
        rotations[frames, ankle_j] = r_ankle
    return rotations


def _leg_chain(rot: np.ndarray, trans: np.ndarray) -> dict[str, np.ndarray]:
    """Forward kinematics of the two legs only (skeleton.forward_kinematics, cut to 7 joints).

    ``rot`` (T, 24, 3, 3), ``trans`` (T, 3) -> positions ``hip``, ``knee``, ``ankle`` (T, 2, 3)
    metres and world rotations ``g_hip``, ``g_knee``, ``g_ankle`` (T, 2, 3, 3).
    """
    hip_j, knee_j, ankle_j = _LEGS.T  # each (2,): left, right
    g_root = rot[:, None, 0]  # (T, 1, 3, 3)
    hip = (trans + J0)[:, None] + np.einsum("tij,kj->tki", rot[:, 0], REST_OFFSETS[hip_j])
    g_hip = g_root @ rot[:, hip_j]
    knee = hip + np.einsum("tkij,kj->tki", g_hip, REST_OFFSETS[knee_j])
    g_knee = g_hip @ rot[:, knee_j]
    ankle = knee + np.einsum("tkij,kj->tki", g_knee, REST_OFFSETS[ankle_j])
    g_ankle = g_knee @ rot[:, ankle_j]
    return {"hip": hip, "knee": knee, "ankle": ankle, "g_hip": g_hip, "g_knee": g_knee, "g_ankle": g_ankle}


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _ankle_targets(ankle: np.ndarray, contacts: np.ndarray, blend_frames: int,
                   anchor_frames: int, max_slip_m: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Ankle targets ``(T, 2, 3)`` metres and correction weights ``(T, 2)`` in [0, 1].

    Weight 1 in contact (target = the run's anchor), fading by a smoothstep to 0 at
    ``blend_frames + 1`` frames from the nearest contact frame (target = the ankle).
    """
    n = len(ankle)
    target = ankle.copy()
    weight = np.zeros((n, 2))
    frames = np.arange(n)
    for foot in range(2):
        planted = contacts[:, foot]
        if not planted.any():
            continue
        path = ankle[:, foot]  # (T, 3)
        edges = np.diff(np.concatenate([[0], planted.astype(np.int8), [0]]))  # (T + 1,)
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs [start, stop)
        count = np.minimum(anchor_frames, stops - starts)  # (R,)
        cumulative = np.concatenate([np.zeros((1, 3)), np.cumsum(path, axis=0)])  # (T + 1, 3)
        anchors = (cumulative[starts + count] - cumulative[starts]) / count[:, None]  # (R, 3)
        run = np.cumsum(edges[:-1] == 1) - 1  # (T,) latest run started at or before each frame
        held = np.flatnonzero(planted)
        held_target = _leashed(path, starts, stops, anchors, max_slip_m)  # (H, 3), in the order of held
        correction_held = held_target - path[held]  # (H, 3)
        # Between runs, the correction goes linearly from one run's last to the next run's first;
        # before the first and after the last run it stays at that run's end value.
        correction = np.stack([np.interp(frames, held, correction_held[:, k]) for k in range(3)], axis=-1)
        distance = distance_transform_edt(~planted)  # (T,) frames to the nearest contact frame
        w = _smoothstep(1.0 - distance / (blend_frames + 1))
        weight[:, foot] = w
        target[:, foot] = path + w[:, None] * correction
        target[held, foot] = held_target  # exactly the anchor, not path + (anchor - path)
    return target, weight


def _leashed(path: np.ndarray, starts: np.ndarray, stops: np.ndarray, anchors: np.ndarray,
             max_slip_m: float) -> np.ndarray:
    """Targets ``(H, 3)`` of the held frames of every run ``[start, stop)``: the run's anchor, until
    the motion's own ankle ``path (T, 3)`` gets farther than ``max_slip_m`` from it; from there the
    target follows on a leash of that length (it moves just enough, never jumps).

    Without the leash a run in which the generated body keeps travelling (a foot labelled as
    planted while the dancer glides for seconds) would hold the foot metres behind and drag the
    root back by as much (measured: 2 m on a 7 s run), then snap at the run's end. Sequential per
    frame because each step depends on the last; plain floats keep it at ~1 us per frame.
    """
    out = []
    for start, stop, anchor in zip(starts, stops, anchors):
        seg = path[start:stop]
        if not np.isfinite(max_slip_m) or np.linalg.norm(seg - anchor, axis=-1).max() <= max_slip_m:
            out.append(np.broadcast_to(anchor, seg.shape))
            continue
        x, y, z = (float(v) for v in anchor)
        rows = np.empty_like(seg)
        for i, (px, py, pz) in enumerate(seg.tolist()):
            dx, dy, dz = px - x, py - y, pz - z
            d = (dx * dx + dy * dy + dz * dz) ** 0.5
            if d > max_slip_m:
                f = 1.0 - max_slip_m / d
                x, y, z = x + f * dx, y + f * dy, z + f * dz
            rows[i] = (x, y, z)
        out.append(rows)
    return np.concatenate(out) if out else np.zeros((0, 3))


def _root_shift(hip: np.ndarray, target: np.ndarray, reach: np.ndarray, sigma: float) -> np.ndarray:
    """Root translation offset ``(T, 3)`` metres that brings each target within its leg's reach.

    ``hip``, ``target`` (T, 2, 3); ``reach`` (T, 2) metres. Each pass moves the root toward
    the targets by the shortfall (summed over the legs), low-passed by a gaussian of
    ``sigma`` frames; the gaussian flattens peaks, so passes repeat until it is gone.
    Exactly zero where no leg ever falls short nearby.
    """
    shift = np.zeros((len(hip), 3))
    for _ in range(_ROOT_ITERATIONS):
        to_target = target - (hip + shift[:, None])  # (T, 2, 3)
        distance = np.linalg.norm(to_target, axis=-1)  # (T, 2)
        short = distance - reach
        if short.max() <= _REACH_TOL_M:
            break
        scale = np.where(short > 0.0, short / np.maximum(distance, 1e-9), 0.0)  # (T, 2)
        need = np.einsum("tk,tki->ti", scale, to_target)  # (T, 3)
        shift += gaussian_filter1d(need, sigma, axis=0, mode="nearest") if sigma > 0 else need
    return shift


def _two_bone_ik(*, hip, knee, ankle, g_root, g_hip, g_knee, r_knee, g_ankle, target, max_reach):
    """Analytic two-bone IK of one leg over ``N`` frames; returns local (hip, knee, ankle) rotations.

    Positions ``(N, 3)`` metres, world rotations ``(N, 3, 3)``, ``r_knee`` the knee's local
    rotation, ``max_reach`` ``(N,)`` metres. Returns three ``(N, 3, 3)`` local rotations.

    1. Knee: rotate the shin about the knee's flexion axis ``n`` (its local x, in world
       coordinates) by the angle ``phi`` that makes |ankle - hip| the target distance ``L``
       (clamped to ``[_MIN_REACH_M, max_reach]``). With the shin ``s`` split along ``n``,
       ``s(phi) = s_par + cos(phi) s_perp + sin(phi) n x s_perp`` (Rodrigues), and with the
       thigh ``h``, ``|h + s(phi)|^2 = L^2`` reads ``A cos(phi) + B sin(phi) = C``. Of its two
       roots, on either side of the straightest pose ``atan2(B, A)``, a flexed knee takes the
       flexion root, its own side: no flip, and ``phi = 0`` when the target is the ankle itself.
       A knee bent backwards keeps its side while the leg lengthens and turns over to flexion
       while it shortens: continuously, exact again once the angle asked for exceeds twice its
       backward bend (a few mm of length error in between for a bend of a few degrees).
    2. Hip: the smallest rotation about the hip taking the new hip -> ankle direction onto
       hip -> target.
    3. Ankle: local rotation chosen so that the ankle's world rotation stays ``g_ankle``.
    """
    thigh, shin = knee - hip, ankle - knee  # (N, 3)
    to_target = target - hip
    distance = np.linalg.norm(to_target, axis=-1)  # (N,)
    length = np.clip(distance, _MIN_REACH_M, max_reach)

    # 1. knee flexion about n
    n = g_knee[:, :, 0]  # (N, 3) the knee's local x axis in world coordinates
    s_par = np.sum(shin * n, axis=-1, keepdims=True) * n
    s_perp = shin - s_par
    s_side = np.cross(n, s_perp)
    a = np.sum(thigh * s_perp, axis=-1)
    b = np.sum(thigh * s_side, axis=-1)
    c = (length**2 - np.sum(thigh**2, axis=-1) - np.sum(shin**2, axis=-1)) / 2 - np.sum(thigh * s_par, axis=-1)
    straightest = np.arctan2(b, a)  # (N,) phi of the longest leg; > 0: the knee bends backwards now
    half_width = np.arccos(np.clip(c / np.maximum(np.hypot(a, b), 1e-12), -1.0, 1.0))  # roots: straightest +- it
    # A flexed knee (straightest <= 0) takes the flexion root. A knee bent backwards keeps its own
    # side while the leg lengthens, and turns over to the flexion root while it shortens, over a band
    # of half_width as wide as its backward bend: phi is continuous in the pose and the target.
    backwards = np.maximum(straightest, 0.0)
    turn = _smoothstep((half_width - backwards) / np.maximum(backwards, 1e-12))
    phi = np.where(straightest <= 0.0, straightest + half_width,
                   straightest - half_width + 2.0 * half_width * turn)
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    flex = axis_angle_to_matrix(phi[:, None] * np.array([1.0, 0.0, 0.0]))  # (N, 3, 3) about local x
    new_shin = s_par + np.cos(phi)[:, None] * s_perp + np.sin(phi)[:, None] * s_side

    # 2. swing the leg about the hip onto the target direction
    u = thigh + new_shin  # (N, 3) hip -> new ankle
    axis = np.cross(u, to_target)
    sin_norm = np.linalg.norm(axis, axis=-1)  # |u||v| sin(angle)
    angle = np.arctan2(sin_norm, np.sum(u * to_target, axis=-1))
    rotvec = np.where(sin_norm[:, None] > 1e-12, axis / np.maximum(sin_norm, 1e-300)[:, None], 0.0) * angle[:, None]
    swing = axis_angle_to_matrix(rotvec)  # (N, 3, 3) world

    # 3. back to local rotations
    g_hip_new = swing @ g_hip
    g_knee_new = g_hip_new @ r_knee @ flex
    r_hip = np.swapaxes(g_root, -1, -2) @ g_hip_new
    r_ankle = np.swapaxes(g_knee_new, -1, -2) @ g_ankle
    return r_hip, r_knee @ flex, r_ankle


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def lowest_foot(joints: np.ndarray, up_axis: int = UP_AXIS) -> np.ndarray:
    """``(T,)`` per frame the height of the lowest of the four foot joints (ankles, balls of the
    feet) of ``joints (T, 24, 3)``, metres along ``up_axis``."""
    return joints[:, list(ANKLES + FOOT_JOINTS), up_axis].min(axis=1)


def keep_on_floor(motion: SMPLMotion, floor_m: float, *, sigma_s: float = 1.0) -> SMPLMotion:
    """The motion with its slow vertical drift removed: feet back on the floor at height ``floor_m``.

    Per frame the lowest of the four foot joints (ankles, balls of the feet) is taken, low-passed by
    a gaussian of ``sigma_s`` seconds, and the root is moved up or down by the difference to
    ``floor_m`` (metres, along y). A generated dancer can float off the floor over a song (measured
    on the first ``fact-small-v2`` outputs: the lowest joint 1-1.7 m up after a minute), which no
    per-contact lock repairs, since a foot in the air is never labelled planted; movements faster
    than about ``sigma_s`` (a bounce, a jump, a lifted foot) are kept. Only the translation changes.
    """
    if not (np.isfinite(floor_m) and np.isfinite(sigma_s) and sigma_s > 0):
        raise ValueError(f"floor_m must be finite and sigma_s > 0, got {floor_m!r}, {sigma_s!r}")
    lowest = lowest_foot(motion.joints()).astype(np.float64)  # (T,)
    drift = gaussian_filter1d(lowest, sigma=sigma_s * motion.fps, mode="nearest") - float(floor_m)
    translation = motion.translation.astype(np.float64).copy()
    translation[:, UP_AXIS] -= drift
    return SMPLMotion(motion.rotations, translation.astype(motion.translation.dtype), motion.fps)


class FootLocker:
    """:func:`lock_feet` for a dance that arrives a few frames at a time (``aichoreo live``).

    ``locker(chunk)`` returns the chunk (an :class:`SMPLMotion` of the next frames) with planted
    ankles held, deciding from the frames so far only: the offline clean-up looks at whole contact
    runs, their neighbours and a whole song's floor, which a live dance does not have yet. Per frame
    and foot, as :func:`foot_contacts` labels it (both joints within ``height_m`` / ``ankle_height_m``
    of the floor and slower than ``speed_m_s``; the floor the 5th percentile of the lowest foot
    joint over the last ``floor_window_s``; speeds from the frame before): a contact holds the ankle
    where it landed (on a leash of ``max_slip_m``, as :func:`lock_feet`), a contact ends after two
    frames without one (a one-frame gap is filled), and the hold's last offset fades out over
    ``blend_frames`` frames. The legs reach the targets by the same two-bone IK; the root is never
    moved (its smoothing would need the frames ahead), so a target beyond the leg's reach is met as
    far as the leg goes. Any split of a dance into chunks gives the same frames.
    """

    def __init__(self, fps: float, *, height_m: float = 0.06, ankle_height_m: float = 0.12,
                 speed_m_s: float = 0.3, blend_frames: int = 8, max_slip_m: float = 0.15,
                 reach_margin_m: float = 0.005, floor_window_s: float = 10.0):
        self.fps = _positive("fps", fps)
        self.height_m, self.ankle_height_m = _positive("height_m", height_m), _positive("ankle_height_m", ankle_height_m)
        self.speed_m_s, self.max_slip_m = _positive("speed_m_s", speed_m_s), _positive("max_slip_m", max_slip_m)
        if int(blend_frames) != blend_frames or blend_frames < 0:
            raise ValueError(f"blend_frames must be a whole number >= 0, got {blend_frames!r}")
        self.blend_frames = int(blend_frames)
        self.cap = _STRAIGHT_LEG_M - float(reach_margin_m)  # (2,)
        self._lows = np.full(max(1, int(round(floor_window_s * self.fps))), np.nan)  # ring of lowest-foot heights
        self._seen = 0
        self._previous: np.ndarray | None = None  # (4, 3) the last frame's foot joints
        self._planted = [False, False]
        self._missed = [0, 0]  # frames without contact while planted
        self._anchor = np.zeros((2, 3))
        self._fade = np.zeros((2, 3))  # the offset being faded out after a hold
        self._since = [self.blend_frames + 1] * 2  # frames since a hold ended

    def _fade_weight(self, since: int) -> float:
        """How much of a released hold's offset is left ``since`` frames after its release."""
        return float(_smoothstep(np.array(1.0 - since / (self.blend_frames + 1))))

    def __call__(self, motion: SMPLMotion) -> SMPLMotion:
        joints = motion.joints().astype(np.float64)  # (k, 24, 3)
        rot = motion.rotations.astype(np.float64)
        trans = motion.translation.astype(np.float64)
        legs = _leg_chain(rot, trans)
        k = len(motion)
        target, weight = legs["ankle"].copy(), np.zeros((k, 2))  # (k, 2, 3), (k, 2)
        flat = [a for a in range(3) if a != UP_AXIS]
        for i in range(k):
            feet = joints[i, list(ANKLES + FOOT_JOINTS)]  # (4, 3)
            self._lows[self._seen % len(self._lows)] = feet[:, UP_AXIS].min()
            self._seen += 1
            height = feet[:, UP_AXIS] - np.nanpercentile(self._lows, 5.0)
            low = (height[:2] < self.ankle_height_m) & (height[2:] < self.height_m)
            if self._previous is None:  # no speed yet: no contact decided on the first frame
                slow = np.zeros(2, dtype=bool)
            else:
                speed = np.linalg.norm((feet - self._previous)[:, flat], axis=-1) * self.fps  # (4,)
                slow = (speed[:2] < self.speed_m_s) & (speed[2:] < self.speed_m_s)
            self._previous = feet
            for foot in range(2):
                ankle = legs["ankle"][i, foot]
                contact = bool(low[foot] and slow[foot])
                if self._planted[foot]:
                    self._missed[foot] = 0 if contact else self._missed[foot] + 1
                    if self._missed[foot] >= 2:  # released: fade out the hold's offset from here
                        self._planted[foot] = False
                        self._fade[foot] = self._anchor[foot] - ankle
                        self._since[foot] = 0
                elif contact:  # landed: hold it here, where it is shown
                    self._planted[foot], self._missed[foot] = True, 0
                    self._anchor[foot] = ankle
                    if self._since[foot] <= self.blend_frames:
                        # while the last hold's offset fades: from the raw ankle, the foot popped
                        # by what was left of the offset (2-3 cm in one frame)
                        self._anchor[foot] = ankle + self._fade_weight(self._since[foot] + 1) * self._fade[foot]
                        self._since[foot] = self.blend_frames + 1
                if self._planted[foot]:
                    slip = ankle - self._anchor[foot]
                    distance = float(np.linalg.norm(slip))
                    if distance > self.max_slip_m:  # the leash of lock_feet: follow, never drag far
                        self._anchor[foot] += (1.0 - self.max_slip_m / distance) * slip
                    target[i, foot], weight[i, foot] = self._anchor[foot], 1.0
                elif self._since[foot] <= self.blend_frames:
                    self._since[foot] += 1
                    w = self._fade_weight(self._since[foot])
                    target[i, foot], weight[i, foot] = ankle + w * self._fade[foot], w
        if not weight.any():
            return motion
        reach = np.maximum(self.cap, np.linalg.norm(legs["ankle"] - legs["hip"], axis=-1))  # (k, 2)
        return SMPLMotion(_solve_legs(motion.rotations, rot, legs, target, weight, reach), motion.translation,
                          motion.fps)

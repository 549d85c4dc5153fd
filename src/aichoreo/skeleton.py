"""The SMPL-24 skeleton (male, betas 0) and forward kinematics.

Joints are in metres, y up, in SMPL order (:data:`JOINT_NAMES`). The rest offsets are
child minus parent of the SMPL rest joints (Stanford-TML/EDGE ``vis.py``,
``smpl_offsets``; reference.md §5), and :data:`J0` is SMPL's rest pelvis, so that

    stock smplx ``joints[:, :24]`` = ``forward_kinematics(R, transl)``  (betas 0, male)

with no licensed SMPL file. Anchored at ``J0`` these offsets reproduce the rest
positions hard-coded in google/aistplusplus_api ``aist_plusplus/features/manual.py``.

Forward kinematics takes local rotation matrices (each joint relative to its parent,
joint 0 = global orientation, matrices act on column vectors)::

    p_0 = translation + root_offset          G_0 = R_0
    p_i = p_parent + G_parent @ offset_i     G_i = G_parent @ R_i
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from aichoreo.errors import InputError
from aichoreo.rotations import axis_angle_to_matrix

__all__ = [
    "N_JOINTS",
    "JOINT_NAMES",
    "AIST_FEATURE_NAMES",
    "PARENTS",
    "REST_OFFSETS",
    "J0",
    "UP_AXIS",
    "FPS",
    "rest_joints",
    "forward_kinematics",
    "forward_kinematics_axis_angle",
]

N_JOINTS = 24
UP_AXIS = 1  # y up
FPS = 60.0  # AIST++ annotations and FACT run at 60 frames per second
# Farthest a joint or the root may be from the origin in a motion a user hands in, metres: beyond
# it, garbage (or 1e30). Captured dance stays on a floor (AIST++ roots within about 3 m, Dance with
# Melody within 10 m), but a generated one may travel: on a breakbeat loop the bundled model's dancer
# walked 0.84 m/s, 250 m in 5 minutes (2026-12-08), and at the 500 m this bound was, a 10-minute
# dance of ours was refused by our own render and retarget. 20 km is 5.5 hours at 1 m/s. Wrong units
# are told by the body's size instead (MAX_BODY_M), which does not grow with the dance's length.
MAX_DISTANCE_M = 20_000.0
# Largest size of a body, metres: its joints' median distance (over frames) from their centre, at
# the farthest joint. A person measures about 0.9 m (head or a raised hand to the centre); in
# centimetres or millimetres read as metres, 90 or 900.
MAX_BODY_M = 4.0
# Frame rates a motion a user hands in may have, frames per second: capture runs at 24-480 (AIST++
# 60, EDGE 30, AMASS 60-250); a rate of 1e-9 (a damaged header) asked a video of 224 GiB of frames.
MOTION_FPS_RANGE = (1.0, 1000.0)


def check_y_up(points: np.ndarray, feet: tuple[int, ...] | list[int], path) -> None:
    """:class:`~aichoreo.errors.InputError` naming ``path`` when a body's points ``(T, J, 3)`` (NaN =
    missing) do not stand along +y: the direction from the mean of its ``feet`` to the mean of all its
    points, taken over the frames (its median), points along another axis or down. Data of z-up tools
    (Blender, many capture systems) read as y up fitted a body lying on its back."""
    if not len(feet):
        return
    with warnings.catch_warnings():  # frames without any foot (or point): NaN, left out below
        warnings.simplefilter("ignore", RuntimeWarning)
        up = np.nanmean(points, axis=1) - np.nanmean(points[:, list(feet)], axis=1)  # (T, 3)
    up = up[np.isfinite(up).all(axis=1)]
    norm = np.linalg.norm(up, axis=1)
    up = up[norm > 1e-9] / norm[norm > 1e-9, None]
    if not len(up):
        return
    axis = np.median(up, axis=0)
    if axis[UP_AXIS] < 0.5:
        main = int(np.argmax(np.abs(axis)))
        side = f"{'-' if axis[main] < 0 else '+'}{'xyz'[main]}"
        raise InputError(path, f"the body stands along {side}, not +y: its points are read with y up "
                               "(for z-up data, (x, y, z) -> (x, z, -y))")


def check_body_size(points: np.ndarray, path, hint: str = "metres expected: centimetres or millimetres?") -> None:
    """:class:`~aichoreo.errors.InputError` naming ``path`` when a body's points ``(T, J, 3)`` metres
    (NaN = missing) measure more than :data:`MAX_BODY_M` from their centre to the farthest one (the
    median over frames): a file in centimetres or millimetres read as metres. ``hint``: what the
    message suggests."""
    if points.shape[1] < 2:
        return
    with warnings.catch_warnings():  # frames without any point: NaN, left out below
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(points, axis=1, keepdims=True)  # (T, 1, 3)
        size = np.nanmax(np.linalg.norm(points - centre, axis=-1), axis=1)  # (T,)
    size = size[np.isfinite(size)]
    measured = float(np.median(size)) if len(size) else 0.0
    if measured > MAX_BODY_M:
        raise InputError(path, f"the body measures {measured:.3g} m from its centre to its farthest "
                               f"joint, a person about 1 m ({hint})")


def check_motion_fps(fps: float, path) -> float:
    """``fps`` of the motion file ``path`` when it lies in :data:`MOTION_FPS_RANGE`, else
    :class:`~aichoreo.errors.InputError` naming the file."""
    low, high = MOTION_FPS_RANGE
    if not (np.isfinite(fps) and low <= fps <= high):
        raise InputError(path, f"its frame rate is {fps:g} fps; a motion is read at {low:g} to {high:g} fps")
    return float(fps)

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip

# The names google/aistplusplus_api ``features/manual.py`` uses for the same 24 joints.
AIST_FEATURE_NAMES: tuple[str, ...] = (
    "root", "lhip", "rhip", "belly", "lknee", "rknee", "spine", "lankle", "rankle",
    "chest", "ltoes", "rtoes", "neck", "linshoulder", "rinshoulder", "head",
    "lshoulder", "rshoulder", "lelbow", "relbow", "lwrist", "rwrist", "lhand", "rhand",
)  # fmt: skip


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)  # module constants: a caller's in-place edit would change everyone's skeleton
    return a


# SMPL kinematic tree; every parent index is smaller than its child's.
PARENTS: np.ndarray = _frozen(
    np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], dtype=np.int64)
)

# (24, 3) float64 metres, y up: rest position of each joint minus its parent's
# (Stanford-TML/EDGE ``vis.py`` ``smpl_offsets``; row 0 unused, the root is placed by J0).
REST_OFFSETS: np.ndarray = _frozen(
    np.array(
        [
            [0.0, 0.0, 0.0],
            [0.05858135, -0.08228004, -0.01766408],
            [-0.06030973, -0.09051332, -0.01354254],
            [0.00443945, 0.12440352, -0.03838522],
            [0.04345142, -0.38646945, 0.008037],
            [-0.04325663, -0.38368791, -0.00484304],
            [0.00448844, 0.1379564, 0.02682033],
            [-0.01479032, -0.42687458, -0.037428],
            [0.01905555, -0.4200455, -0.03456167],
            [-0.00226458, 0.05603239, 0.00285505],
            [0.04105436, -0.06028581, 0.12204243],
            [-0.03483987, -0.06210566, 0.13032329],
            [-0.0133902, 0.21163553, -0.03346758],
            [0.07170245, 0.11399969, -0.01889817],
            [-0.08295366, 0.11247234, -0.02370739],
            [0.01011321, 0.08893734, 0.05040987],
            [0.12292141, 0.04520509, -0.019046],
            [-0.11322832, 0.04685326, -0.00847207],
            [0.2553319, -0.01564902, -0.02294649],
            [-0.26012748, -0.01436928, -0.03126873],
            [0.26570925, 0.01269811, -0.00737473],
            [-0.26910836, 0.00679372, -0.00602676],
            [0.08669055, -0.01063603, -0.01559429],
            [-0.0887537, -0.00865157, -0.01010708],
        ],
        dtype=np.float64,
    )
)

# (3,) float64 metres: SMPL's rest pelvis (male, betas 0). smplx rotates the body about
# the rest joints, so its root joint sits at transl + J0, not at transl (reference.md §5).
J0: np.ndarray = _frozen(np.array([-0.00217368, -0.24078914, 0.02858379], dtype=np.float64))


def _check_skeleton(offsets: np.ndarray, root_offset: np.ndarray) -> None:
    if offsets.shape != (N_JOINTS, 3):
        raise ValueError(f"offsets: expected shape ({N_JOINTS}, 3), got {offsets.shape}")
    if root_offset.shape != (3,):
        raise ValueError(f"root_offset: expected shape (3,), got {root_offset.shape}")


def rest_joints(*, offsets: np.ndarray | None = None, root_offset: np.ndarray | None = None) -> np.ndarray:
    """Rest-pose joint positions ``(24, 3)`` float64 metres, y up: ``root_offset`` + accumulated offsets.

    Defaults: :data:`REST_OFFSETS` and :data:`J0` (SMPL male, betas 0).
    """
    offsets = np.asarray(REST_OFFSETS if offsets is None else offsets, dtype=np.float64)
    root_offset = np.asarray(J0 if root_offset is None else root_offset, dtype=np.float64)
    _check_skeleton(offsets, root_offset)
    joints = np.empty((N_JOINTS, 3), dtype=np.float64)
    joints[0] = root_offset
    for i in range(1, N_JOINTS):
        joints[i] = joints[PARENTS[i]] + offsets[i]
    return joints


def forward_kinematics(
    rotations,
    translation,
    *,
    offsets: np.ndarray | None = None,
    root_offset: np.ndarray | None = None,
):
    """World joint positions from local joint rotations and the root translation.

    Args:
        rotations: ``(..., 24, 3, 3)`` local rotation matrices (joint 0 = global
            orientation), numpy array or torch tensor.
        translation: ``(..., 3)`` metres, the smplx ``transl`` (for AIST++ files,
            ``smpl_trans / smpl_scaling``); broadcasts with the leading dims of ``rotations``.
        offsets: ``(24, 3)`` rest offsets, child minus parent (default :data:`REST_OFFSETS`).
        root_offset: ``(3,)`` rest root position added to ``translation`` (default :data:`J0`).

    Returns:
        joints ``(..., 24, 3)`` in metres, same type (and, for torch, dtype and device)
        as ``rotations``; differentiable for torch. Vectorised over the leading dims, the
        loop runs over the 24 joints only.
    """
    # Writable copies: torch warns on (and must not alias) the read-only module constants.
    offsets = np.array(REST_OFFSETS if offsets is None else offsets, dtype=np.float64)
    root_offset = np.array(J0 if root_offset is None else root_offset, dtype=np.float64)
    _check_skeleton(offsets, root_offset)
    torch_mode = _is_tensor(rotations)
    if torch_mode:
        import torch

        to = {"dtype": rotations.dtype, "device": rotations.device}
        translation = torch.as_tensor(translation, **to)
        off, root = torch.as_tensor(offsets, **to), torch.as_tensor(root_offset, **to)
        stack = torch.stack
    else:
        rotations, translation = np.asarray(rotations), np.asarray(translation)
        dtype = np.result_type(rotations.dtype, translation.dtype, np.float32)
        rotations, translation = rotations.astype(dtype, copy=False), translation.astype(dtype, copy=False)
        off, root = offsets.astype(dtype), root_offset.astype(dtype)
        stack = np.stack
    if tuple(rotations.shape[-3:]) != (N_JOINTS, 3, 3):
        raise ValueError(f"rotations: expected shape (..., {N_JOINTS}, 3, 3), got {tuple(rotations.shape)}")
    if tuple(translation.shape[-1:]) != (3,):
        raise ValueError(f"translation: expected shape (..., 3), got {tuple(translation.shape)}")

    # Broadcast the leading dims of both inputs so the joint loop sees one batch shape.
    lead = _broadcast_shapes(tuple(rotations.shape[:-3]), tuple(translation.shape[:-1]))
    if torch_mode:
        rotations = rotations.expand(lead + (N_JOINTS, 3, 3))
        translation = translation.expand(lead + (3,))
    else:
        rotations = np.broadcast_to(rotations, lead + (N_JOINTS, 3, 3))
        translation = np.broadcast_to(translation, lead + (3,))

    positions = [translation + root]
    frames = [rotations[..., 0, :, :]]  # G_i: joint i's frame in world coordinates
    for i in range(1, N_JOINTS):
        p = PARENTS[i]
        positions.append(positions[p] + (frames[p] @ off[i][:, None])[..., 0])
        frames.append(frames[p] @ rotations[..., i, :, :])
    return stack(positions, -2)


def forward_kinematics_axis_angle(
    poses,
    translation,
    *,
    offsets: np.ndarray | None = None,
    root_offset: np.ndarray | None = None,
):
    """:func:`forward_kinematics` from axis-angle poses ``(..., 72)`` or ``(..., 24, 3)`` radians.

    ``(..., 72)`` is AIST++'s ``smpl_poses`` layout: joint-major, 3 numbers per joint.
    Returns joints ``(..., 24, 3)`` metres, same type as ``poses``.
    """
    if not _is_tensor(poses):
        poses = np.asarray(poses)
    shape = tuple(poses.shape)
    if shape[-1:] == (N_JOINTS * 3,):
        poses = poses.reshape(shape[:-1] + (N_JOINTS, 3))
    elif shape[-2:] != (N_JOINTS, 3):
        raise ValueError(f"poses: expected shape (..., {N_JOINTS * 3}) or (..., {N_JOINTS}, 3), got {shape}")
    return forward_kinematics(
        axis_angle_to_matrix(poses), translation, offsets=offsets, root_offset=root_offset
    )


def _is_tensor(x) -> bool:
    # torch is looked up, not imported: a tensor cannot exist unless torch was imported.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ValueError(f"rotations leading dims {a} and translation leading dims {b} do not broadcast") from None

"""Fit the SMPL-24 skeleton (betas 0, one global scale) to 3D keypoints or markers, in torch.

Model. For frame t, local joint rotations ``R_t`` (24, 6D-parameterised, Zhou et al. 2019),
a root position ``r_t`` (metres, world) and one body scale ``s`` for the sequence, target k
of a :class:`~aichoreo.reconstruct.layouts.Layout` sits at::

    x_tk = r_t + s (p_j(R_t) + G_j(R_t) o_k)        j = joint of target k

where ``p_j`` and ``G_j`` are joint j's position relative to the root and its world frame
from forward kinematics of the SMPL rest skeleton (:mod:`aichoreo.skeleton`), and ``o_k`` the
target's offset in that frame (metres at SMPL size; learned once per sequence for targets
with ``learn_offset``). The smplx ``transl`` of the result is ``r_t / s - J0``, so
``s * forward_kinematics(R, transl)`` reproduces the fitted joints in the data's frame:
AIST++'s convention with ``smpl_scaling = s`` (metres) or ``100 s`` (centimetres).

Objective (all terms are means, so weights do not depend on the sequence length)::

    data        sum_tk w_k |x_tk - y_tk|^2 / sum_tk w_k                  (m^2; missing y skipped)
    smooth      smooth_weight * mean |(fps/60)^2 D2 R|^2 + |(fps/60)^2 D2 r|^2
                (second differences per 60 fps frame, so one weight fits any frame rate)
    pose        pose_prior_weight * mean_{t, j>0} |R_tj - I|_F^2          (weak pull to rest)
    hinge       hinge_weight * knees and elbows: off-axis part of the rotation, and bending
                the wrong way (SMPL knees flex about +x, left elbow about -y, right about +y)
    offsets     offset_prior_weight * mean over learned targets of |o_k - o_k^0|^2

Joints without a target (spine, collars, wrists' twist, ...) are set by the priors.

Initialisation (per frame, vectorised, no optimisation): body scale from the lengths of
target pairs that are rigid in the model (e.g. knee-ankle), root orientation and position
by weighted Kabsch on the torso targets, then each limb joint in tree order turned by the
smallest rotation that points its bone at the data (hips and shoulders also get the twist
that puts a bent knee's or elbow's hinge across the bend, so limbs start unflipped). Every
frame starts near its answer, which stands in for frame-to-frame warm starting; Adam then
refines all frames at once (one batched forward kinematics per step), with the learning
rate decaying over the last 40 % of iterations.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from aichoreo.motion import SMPLMotion
from aichoreo.reconstruct.layouts import Layout
from aichoreo.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix, shortest_arc, slerp_matrices
from aichoreo.skeleton import J0, N_JOINTS, PARENTS, REST_OFFSETS, rest_joints

__all__ = [
    "FitResult",
    "fit_smpl",
    "fit_to_aistpp_dict",
    "place_on_floor",
    "initial_pose",
    "HINGES",
    "FOOT_CLEARANCE_M",
]

log = logging.getLogger(__name__)

# Hinge joints: SMPL joint -> (axis index in its local frame, flexion sign about it).
HINGES: dict[int, tuple[int, float]] = {4: (0, 1.0), 5: (0, 1.0), 18: (1, -1.0), 19: (1, 1.0)}
_ADAM_SHARE = 0.25  # of the iterations, before L-BFGS takes over
FOOT_CLEARANCE_M = 0.03  # lowest SMPL foot joint above the floor at rest contact (SMPL size)
_FEET = (7, 8, 10, 11)  # ankles and feet
_TORSO = (0, 1, 2, 3, 6, 9, 12, 13, 14, 16, 17)  # joints rigid with the pelvis when the spine is straight
_REST_REL = rest_joints() - J0  # (24, 3) rest joints relative to the root


@dataclass(frozen=True, eq=False)
class FitResult:
    """Result of :func:`fit_smpl`.

    Attributes:
        motion: the fitted motion at SMPL size (translation = root / scale - J0), at ``fps``.
        scale: body scale ``s``; the data's joints are ``s * motion.joints()``.
        per_joint_error: ``(J,)`` metres, per input joint: mean distance between it and its
            target's model point (NaN for inputs that are not the sole source of a target).
        per_frame_error: ``(T,)`` metres: weighted mean target distance per frame.
        target_names: ``(K,)`` names of the layout's targets.
        per_target_error: ``(K,)`` metres: mean distance per target over the frames it has data.
        offsets: ``(K, 3)`` final target offsets (metres at SMPL size, joint frames).
        fitted_targets: ``(T, K, 3)`` model points of the targets, metres, data frame.
        loss: final value of the objective.
    """

    motion: SMPLMotion
    scale: float
    per_joint_error: np.ndarray
    per_frame_error: np.ndarray
    target_names: tuple[str, ...]
    per_target_error: np.ndarray
    offsets: np.ndarray
    fitted_targets: np.ndarray
    loss: float

    def world_joints(self) -> np.ndarray:
        """``(T, 24, 3)`` float64 SMPL joints in the data's frame and size (metres)."""
        return self.scale * self.motion.joints().astype(np.float64)

    @property
    def mean_error(self) -> float:
        """Weighted mean target distance over the sequence (metres)."""
        return float(np.nanmean(self.per_frame_error))


# --------------------------------------------------------------------------------------------
# Forward kinematics with joint frames (numpy and torch share the loop)


def _fk_frames(rot, xp):
    """Root-relative joint positions ``(T, 24, 3)`` and world frames ``(T, 24, 3, 3)`` at SMPL size.

    ``rot`` local rotations ``(T, 24, 3, 3)``; ``xp`` the array module (numpy or torch).
    Same recursion as :func:`aichoreo.skeleton.forward_kinematics` with the root at the origin.
    """
    if xp is np:
        offsets, local = _REST_OFFSETS_NP, [rot[:, i] for i in range(N_JOINTS)]
    else:  # unbind once: slicing per joint would make backward fill 24 full-size zero tensors
        offsets, local = xp.as_tensor(_REST_OFFSETS_NP, dtype=rot.dtype, device=rot.device), rot.unbind(1)
    frames = [local[0]]
    positions = [local[0][:, :, 0] * 0.0]
    for i in range(1, N_JOINTS):
        p = PARENTS[i]
        positions.append(positions[p] + (frames[p] @ offsets[i][:, None])[..., 0])
        frames.append(frames[p] @ local[i])
    return xp.stack(positions, 1), xp.stack(frames, 1)


_REST_OFFSETS_NP = np.array(REST_OFFSETS, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Initialisation


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 1e-12, n, 1.0)


def _frame_from(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthonormal frames ``(T, 3, 3)`` with columns a, b (made orthogonal to a), a x b."""
    a = _unit(a)
    b = _unit(b - np.sum(a * b, axis=-1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def _kabsch(model: np.ndarray, data: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame rotation R and translation c with ``R m + c ≈ d`` (weighted least squares).

    ``model`` ``(K, 3)``, ``data`` ``(T, K, 3)``, ``weights`` ``(T, K)`` (0 = missing).
    Frames with fewer than 3 weighted points get the identity rotation.
    """
    w = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    data0 = np.where(weights[..., None] > 0, data, 0.0)
    mc = w @ model  # (T, 3)
    dc = np.einsum("tk,tki->ti", w, data0)
    h = np.einsum("tk,tki,tkj->tij", w, model[None] - mc[:, None], data0 - dc[:, None])  # sum w m d^T
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)))
    d = np.where(d == 0, 1.0, d)
    fix = np.stack([np.ones_like(d), np.ones_like(d), d], axis=-1)
    rot = np.swapaxes(vt, 1, 2) @ (fix[:, :, None] * np.swapaxes(u, 1, 2))
    few = np.count_nonzero(weights > 0, axis=1) < 3
    rot[few] = np.eye(3)
    return rot, dc - np.einsum("tij,tj->ti", rot, mc)


def _initial_scale(layout: Layout, data: np.ndarray) -> float:
    """Body scale from target pairs whose model distance does not depend on the pose."""
    joints, offsets = layout.target_joints(), layout.target_offsets()
    rest = _REST_REL[joints] + offsets  # rest positions (joint frames = world at rest)
    at_origin = np.all(offsets == 0, axis=1)
    weights = layout.target_weights()
    ratios, trust = [], []
    for a in range(len(joints)):
        for b in range(a + 1, len(joints)):
            frames_a = {joints[a]} | ({PARENTS[joints[a]]} if at_origin[a] else set())
            frames_b = {joints[b]} | ({PARENTS[joints[b]]} if at_origin[b] else set())
            model = np.linalg.norm(rest[a] - rest[b])
            if frames_a & frames_b and model > 0.05:
                dist = np.linalg.norm(data[:, a] - data[:, b], axis=-1)
                dist = dist[np.isfinite(dist)]
                if dist.size:
                    ratios.append(np.median(dist) / model)
                    # long bones between trusted targets decide; face-sized pairs barely count
                    trust.append(weights[a] * weights[b] * model)
    if not ratios:
        return 1.0
    order = np.argsort(ratios)
    cumulative = np.cumsum(np.asarray(trust)[order])
    median = np.asarray(ratios)[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]
    return float(np.clip(median, 0.2, 5.0))


def _direction_targets(layout: Layout) -> dict[int, tuple[int, np.ndarray]]:
    """For each joint with one child: (target, vector in the joint's frame) to aim its bone at."""
    joints, offsets, weights = layout.target_joints(), layout.target_offsets(), layout.target_weights()
    children = {p: [c for c in range(1, N_JOINTS) if PARENTS[c] == p] for p in range(N_JOINTS)}
    out = {}
    for p in range(N_JOINTS):
        if len(children[p]) != 1:
            continue  # pelvis and spine3 branch: oriented by the torso fit
        candidates = []
        for k in range(len(joints)):
            if joints[k] == children[p][0]:
                vec = REST_OFFSETS[joints[k]] + offsets[k]
                candidates.append((not np.all(offsets[k] == 0), -weights[k], k, vec))
            elif joints[k] == p and np.linalg.norm(offsets[k]) > 0.03:
                candidates.append((True, -weights[k] + 1.0, k, offsets[k]))
        if candidates:
            _, _, k, vec = min(candidates, key=lambda c: c[:3])
            out[p] = (k, np.asarray(vec, dtype=np.float64))
    return out


def initial_pose(layout: Layout, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame starting pose from target positions.

    Args:
        layout: the correspondence.
        targets: ``(T, K, 3)`` target positions, metres, y up; NaN = missing.

    Returns:
        local rotations ``(T, 24, 3, 3)``, root positions ``(T, 3)`` metres, scale.
    """
    n_frames = len(targets)
    data = np.array(targets, dtype=np.float64)
    present = np.isfinite(data).all(axis=-1)
    scale = _initial_scale(layout, data)
    joints, offsets, weights = layout.target_joints(), layout.target_offsets(), layout.target_weights()

    torso = np.isin(joints, _TORSO)
    w = np.where(present & torso, weights, 0.0)
    root_rot, root_pos = _kabsch(scale * (_REST_REL[joints] + offsets), data, w)
    no_torso = (w > 0).sum(axis=1) == 0
    if no_torso.any():  # keep the root near whatever is seen
        count = present.sum(axis=1, keepdims=True)
        centre = np.where(present[..., None], data, 0.0).sum(axis=1) / np.maximum(count, 1)
        root_pos[no_torso] = centre[no_torso]

    rot = np.tile(np.eye(3), (n_frames, N_JOINTS, 1, 1))
    rot[:, 0] = root_rot
    aims = _direction_targets(layout)
    hinge_child = {1: 4, 2: 5, 16: 18, 17: 19}
    for p in range(1, N_JOINTS):
        if p not in aims:
            continue
        k, vec = aims[p]
        pos, frames = _fk_frames(rot, np)
        here = root_pos + scale * pos[:, p]
        want = _unit(data[:, k] - here)
        have = _unit(frames[:, p] @ vec)
        ok = present[:, k] & (np.linalg.norm(data[:, k] - here, axis=-1) > 1e-6)
        q = shortest_arc(have, np.where(ok[:, None], want, have))
        c = hinge_child.get(p)
        if c is not None and c in aims and np.all(offsets[aims[p][0]] == 0):
            q = _with_hinge(q, frames[:, p], have, want, data[:, aims[c][0]] - data[:, k], c, ok & present[:, aims[c][0]])
        new_global = q @ frames[:, p]
        parent_frame = frames[:, PARENTS[p]]
        rot[:, p] = np.swapaxes(parent_frame, 1, 2) @ new_global
    seen = present.any(axis=1)
    if seen.any() and not seen.all():
        _fill_unseen(rot, root_pos, seen)
    return rot, root_pos, scale


def _fill_unseen(rot: np.ndarray, root_pos: np.ndarray, seen: np.ndarray) -> None:
    """Start the frames where nothing is seen (a missed detection, an occlusion) between the nearest
    seen frames, in place: the root linearly, every rotation by slerp; before the first seen frame and
    after the last, as that frame. They started at the origin in the rest pose, and the fit, which
    has only its priors there, left half a second unseen of a dancer 10 m from the origin 10 m off
    and under the floor."""
    idx = np.flatnonzero(seen)
    miss = np.flatnonzero(~seen)
    after = np.searchsorted(idx, miss)  # the next seen frame's place in idx
    before, later = idx[np.clip(after - 1, 0, len(idx) - 1)], idx[np.clip(after, 0, len(idx) - 1)]
    w = np.where(later > before, (miss - before) / np.maximum(later - before, 1), 0.0)
    root_pos[miss] = (1 - w)[:, None] * root_pos[before] + w[:, None] * root_pos[later]
    n_joints = rot.shape[1]
    rot[miss] = slerp_matrices(rot[before], rot[later], np.repeat(w[:, None], n_joints, axis=1))


def _with_hinge(q_swing, frame, have, want, lower, child, ok):
    """Add to a hip's or shoulder's swing the twist that puts the child's hinge across the bend."""
    axis_index, sign = HINGES[child]
    hinge_local = np.zeros(3)
    hinge_local[axis_index] = sign
    lower = _unit(lower)
    normal = np.cross(want, lower)
    bend = np.linalg.norm(normal, axis=-1)
    hinge_world = frame @ hinge_local
    q_hinge = _frame_from(want, normal) @ np.swapaxes(_frame_from(have, hinge_world), 1, 2)
    # Straight limbs have no bend plane: keep the plain swing there, blend in between.
    blend = np.clip((bend - math.sin(math.radians(15))) / (math.sin(math.radians(40)) - math.sin(math.radians(15))), 0, 1)
    ok = ok & np.isfinite(q_hinge).all(axis=(1, 2))
    blend = np.where(ok, blend, 0.0)
    q_hinge = np.where(ok[:, None, None], q_hinge, q_swing)  # missing data: no hinge information
    return slerp_matrices(q_swing, q_hinge, blend)


# --------------------------------------------------------------------------------------------
# Fitting


def _validate(points, layout: Layout, fps: float) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (layout.n_joints, 3):
        raise ValueError(f"points: expected shape (T, {layout.n_joints}, 3) for layout {layout.name}, "
                         f"got {points.shape}")  # fmt: skip
    if len(points) == 0:
        raise ValueError("points: no frames")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive and finite, got {fps}")
    if np.isinf(points).any():
        raise ValueError("points contain infinite values")
    if not np.isfinite(points).all(axis=-1).any():
        raise ValueError("points are all NaN: nothing to fit")
    return points


def fit_smpl(
    points: np.ndarray,
    layout: Layout,
    *,
    fps: float,
    iterations: int = 400,
    smooth_weight: float = 1.0,
    pose_prior_weight: float = 1e-5,
    hinge_weight: float = 1e-2,
    offset_prior_weight: float = 0.3,
    learning_rate: float = 0.01,
    optimizer: str = "adam",
    device: str = "cpu",
    progress: bool = False,
) -> FitResult:
    """Fit SMPL-24 (betas 0, one scale) to a sequence of 3D keypoints.

    Args:
        points: ``(T, J, 3)`` metres, y up, in ``layout``'s joint order; NaN = missing.
        layout: the correspondence (:data:`~aichoreo.reconstruct.layouts.COCO17`,
            :data:`~aichoreo.reconstruct.layouts.DWM23`, :data:`~aichoreo.reconstruct.layouts.SMPL24`).
        fps: frame rate of ``points`` (kept in the motion; scales the smoothness term).
        iterations: Adam steps over the whole sequence.
        smooth_weight: weight of squared second differences of rotations and root position
            (per 60 fps frame); 0 disables.
        pose_prior_weight: weight of the pull of local rotations towards the rest pose.
        hinge_weight: weight of the knee and elbow hinge prior.
        offset_prior_weight: weight keeping learned target offsets near the layout's values.
        learning_rate: Adam's step size (6D entries, metres, log-scale).
        optimizer: ``"adam"``, or ``"adam+lbfgs"``: Adam for the first quarter of
            ``iterations``, then L-BFGS for the rest (counted in objective evaluations);
            better on exact synthetic joints, worse on the real marker data (float32 line
            searches stop early), hence not the default.
        device: torch device for the optimisation.
        progress: show a progress bar.

    Returns:
        :class:`FitResult`.
    """
    import torch

    points = _validate(points, layout, fps)
    if optimizer not in ("adam", "adam+lbfgs"):
        raise ValueError(f"optimizer must be 'adam' or 'adam+lbfgs', got {optimizer!r}")
    n_frames = len(points)
    targets = layout.target_positions(points)
    present = np.isfinite(targets).all(axis=-1)
    missing_targets = [layout.targets[k].name for k in np.flatnonzero(~present.any(axis=0))]
    if missing_targets:
        log.warning("targets without data in any frame (left to the priors): %s", ", ".join(missing_targets))

    rot0, root0, scale0 = initial_pose(layout, targets)
    dtype = torch.float32
    to = {"dtype": dtype, "device": torch.device(device)}
    d6 = torch.tensor(matrix_to_rotation_6d(rot0), **to).requires_grad_(True)
    root = torch.tensor(root0, **to).requires_grad_(True)
    log_scale = torch.tensor(math.log(scale0), **to).requires_grad_(True)
    offsets0 = torch.tensor(layout.target_offsets(), **to)
    learn = torch.tensor([t.learn_offset for t in layout.targets], device=to["device"])
    n_learn = max(int(learn.sum()), 1)
    delta = torch.zeros_like(offsets0, requires_grad=True)
    joints = torch.as_tensor(layout.target_joints(), device=to["device"])
    weights_np = layout.target_weights()
    y = torch.tensor(np.nan_to_num(targets), **to)
    w = torch.tensor(present * weights_np, **to)  # (T, K)
    w_sum = w.sum().clamp_min(1e-12)
    eye = torch.eye(3, **to)
    time_scale = (fps / 60.0) ** 2  # second differences per 60 fps frame

    def model_points(rot, scale):
        pos, frames = _fk_frames(rot, torch)
        offs = offsets0 + delta * learn[:, None]
        local = pos[:, joints] + (frames[:, joints] @ offs[:, :, None])[..., 0]
        return root[:, None] + scale * local

    def objective():
        rot = rotation_6d_to_matrix(d6)
        scale = log_scale.exp()
        x = model_points(rot, scale)
        data = (w * ((x - y) ** 2).sum(-1)).sum() / w_sum
        loss = data
        if n_frames >= 3 and smooth_weight > 0:
            acc_r = (rot[2:] - 2 * rot[1:-1] + rot[:-2]) * time_scale
            acc_t = (root[2:] - 2 * root[1:-1] + root[:-2]) * time_scale
            loss = loss + smooth_weight * ((acc_r**2).sum((-1, -2)).mean() + (acc_t**2).sum(-1).mean())
        if pose_prior_weight > 0:
            loss = loss + pose_prior_weight * ((rot[:, 1:] - eye) ** 2).sum((-1, -2)).mean()
        if hinge_weight > 0:
            loss = loss + hinge_weight * _hinge_penalty(rot)
        if offset_prior_weight > 0:
            loss = loss + offset_prior_weight * (delta * learn[:, None]).pow(2).sum(-1).sum() / n_learn
        return loss, x

    params = [d6, root, log_scale, delta]
    # Phase 1, Adam: robust far from the answer. Phase 2, L-BFGS: converges along the flat
    # directions (limb twists held only by the priors) where Adam crawls.
    n_adam = iterations if optimizer == "adam" else int(round(_ADAM_SHARE * iterations))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=iterations, desc="fit SMPL", unit="step")
    adam = torch.optim.Adam(params, lr=learning_rate)
    decay_from = int(0.6 * n_adam)
    for step in range(n_adam):
        if step >= decay_from:  # linear decay to 5 % of the step size
            frac = (step - decay_from) / max(n_adam - decay_from, 1)
            for group in adam.param_groups:
                group["lr"] = learning_rate * (1.0 - 0.95 * frac)
        adam.zero_grad(set_to_none=True)
        loss, _ = objective()
        loss.backward()
        adam.step()
        if bar is not None:
            bar.update(1)
    if iterations > n_adam:
        lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations - n_adam, history_size=20,
                                  tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")  # fmt: skip

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            value, _ = objective()
            value.backward()
            if bar is not None and bar.n < bar.total:
                bar.update(1)
            return value

        lbfgs.step(closure)
    if bar is not None:
        bar.close()

    with torch.no_grad():
        loss, x = objective()
        rot = rotation_6d_to_matrix(d6).double().cpu().numpy()
        scale = float(log_scale.exp())
        fitted = x.double().cpu().numpy()
        offsets = (offsets0 + delta * learn[:, None]).double().cpu().numpy()
        root_np = root.double().cpu().numpy()
    translation = root_np / scale - J0
    motion = SMPLMotion(rot, translation, fps)
    return _result(motion, scale, layout, targets, present, fitted, offsets, float(loss))


def _hinge_penalty(rot):
    """Knees and elbows: rotation away from the hinge axis, plus flexion the wrong way."""
    total = 0.0
    for joint, (axis, sign) in HINGES.items():
        r = rot[:, joint]
        e = rot.new_zeros(3)
        e[axis] = 1.0
        off_axis = ((r[:, :, axis] - e) ** 2).sum(-1)  # the hinge axis must stay put
        # sin(angle) about the axis: R[2,1] for x, R[0,2] for y.
        sin = r[:, 2, 1] if axis == 0 else r[:, 0, 2]
        wrong_way = (-sign * sin).clamp_min(0.0) ** 2
        total = total + (off_axis + wrong_way).mean()
    return total / len(HINGES)


def _result(motion, scale, layout, targets, present, fitted, offsets, loss) -> FitResult:
    dist = np.linalg.norm(fitted - np.nan_to_num(targets), axis=-1)
    dist = np.where(present, dist, np.nan)  # (T, K)
    weights = layout.target_weights()
    w = present * weights
    with np.errstate(invalid="ignore", divide="ignore"):
        per_frame = np.where(w.sum(1) > 0, np.nansum(dist * weights, axis=1) / w.sum(1), np.nan)
        per_target = np.where(present.any(0), np.nansum(dist, axis=0) / np.maximum(present.sum(0), 1), np.nan)
    index = layout.single_source_target()
    per_joint = np.where(index >= 0, per_target[np.maximum(index, 0)], np.nan)
    return FitResult(
        motion=motion,
        scale=scale,
        per_joint_error=per_joint,
        per_frame_error=per_frame,
        target_names=layout.target_names,
        per_target_error=per_target,
        offsets=offsets,
        fitted_targets=fitted,
        loss=loss,
    )


# --------------------------------------------------------------------------------------------
# Output


def place_on_floor(result: FitResult, *, clearance: float = FOOT_CLEARANCE_M, up_axis: int = 1) -> FitResult:
    """Shift a fit vertically so its feet stand on the plane ``up = 0``.

    The floor is the median over frames of the lowest SMPL ankle or foot joint (a foot is
    down most of the time in dance); it is moved to ``clearance`` metres (SMPL size, as
    AIST++-style data have the lowest foot joint a few cm above y = 0). A constant shift:
    drift of the floor over time is the data reader's business (e.g.
    :func:`aichoreo.data.dwm.normalise_floor`).
    """
    joints = result.motion.joints().astype(np.float64)
    floor = float(np.median(joints[:, _FEET, up_axis].min(axis=1)))
    shift = np.zeros(3)
    shift[up_axis] = clearance - floor
    motion = SMPLMotion(result.motion.rotations, result.motion.translation + shift, result.motion.fps)
    fitted = result.fitted_targets + result.scale * shift
    return FitResult(motion=motion, scale=result.scale, per_joint_error=result.per_joint_error,
                     per_frame_error=result.per_frame_error, target_names=result.target_names,
                     per_target_error=result.per_target_error, offsets=result.offsets,
                     fitted_targets=fitted, loss=result.loss)  # fmt: skip


def fit_to_aistpp_dict(result: FitResult, *, units_per_metre: float = 1.0) -> dict[str, np.ndarray]:
    """An AIST++ motion-pickle dict from a fit.

    ``smpl_scaling = scale * units_per_metre`` and ``smpl_trans = translation * smpl_scaling``,
    so that, as in AIST++ (reference.md §1), ``forward_kinematics(poses, smpl_trans /
    smpl_scaling) * smpl_scaling`` gives the fitted joints in the input's units: use
    ``units_per_metre=100`` for keypoints that were in centimetres (AIST++, smpl_scaling
    ≈ 90-100) and 1 for metric data (smpl_scaling ≈ 1). Readers that follow the AIST++
    convention (``transl = smpl_trans / smpl_scaling``) get the motion at SMPL size either way.

    Returns ``smpl_poses`` ``(T, 72)`` float32, ``smpl_trans`` ``(T, 3)`` and ``smpl_scaling``
    ``(1,)`` float64, ``smpl_loss`` float (the final objective).
    """
    if not (math.isfinite(units_per_metre) and units_per_metre > 0):
        raise ValueError(f"units_per_metre must be positive, got {units_per_metre}")
    out = result.motion.to_aistpp(scaling=result.scale * units_per_metre)
    out["smpl_loss"] = float(result.loss)
    return out

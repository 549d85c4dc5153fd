"""SMPL fitting: recover a known motion from its joints (SMPL-24, COCO-17), output conventions, layouts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from aichoreo.data.fixtures import coco17_from_smpl
from aichoreo.motion import SMPLMotion
from aichoreo.reconstruct.fit import _fk_frames, fit_smpl, fit_to_aistpp_dict, initial_pose, place_on_floor
from aichoreo.reconstruct.layouts import COCO17, DWM23, SMPL24, Layout, at_joint, get_layout, on_bone
from aichoreo.rotations import axis_angle_to_matrix
from aichoreo.skeleton import J0, N_JOINTS, forward_kinematics, forward_kinematics_axis_angle

FPS = 60.0


def known_motion(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random SMPL motion: axis-angle poses ``(T, 24, 3)`` and translation ``(T, 3)`` metres.

    Knees and elbows bend only about their hinge axes, the anatomical way (as a dancer's do).
    """
    rng = np.random.default_rng(seed)
    smooth = lambda shape, sigma: gaussian_filter1d(rng.normal(0, 1, shape), sigma, axis=0) * np.sqrt(sigma)  # noqa: E731
    poses = 0.25 * smooth((n_frames, 24, 3), 10)
    poses[:, 0] = [0.1, 0.0, 0.05] * smooth((n_frames, 3), 15) + [0.0, 1.0, 0.0] * np.linspace(0, 2.5, n_frames)[:, None]
    bend = np.abs(smooth((n_frames, 4), 10))
    poses[:, [4, 5]] = 0.0
    poses[:, [4, 5], 0] = 0.2 + 0.6 * bend[:, :2]
    poses[:, [18, 19]] = 0.0
    poses[:, 18, 1] = -(0.3 + 0.6 * bend[:, 2])
    poses[:, 19, 1] = 0.3 + 0.6 * bend[:, 3]
    poses[:, [16, 17], 2] += [-1.0, 1.0]  # arms down from the T-pose
    trans = np.cumsum(0.004 * smooth((n_frames, 3), 10), axis=0) + [0.3, 0.0, -0.2]
    return poses, trans


@pytest.fixture(scope="module")
def truth():
    poses, trans = known_motion(90)
    scale = 0.92
    return poses, trans, scale, scale * forward_kinematics_axis_angle(poses, trans)


@pytest.fixture(scope="module")
def smpl24_fit(truth):
    return fit_smpl(truth[3], SMPL24, fps=FPS, iterations=300)


def test_fit_to_all_24_joints_recovers_the_motion(truth, smpl24_fit):
    poses, trans, scale, joints = truth
    result = smpl24_fit
    error = np.linalg.norm(result.world_joints() - joints, axis=-1)  # metres
    assert error.mean() < 0.01 and error.max() < 0.03
    assert np.nanmax(result.per_joint_error) < 0.02
    assert result.per_frame_error.shape == (90,) and result.per_joint_error.shape == (24,)
    assert abs(result.scale - scale) < 0.01
    # The fitted local rotations are the true ones where the joints pin them down: knees and
    # elbows (hinges); the root within the spine's trade-off with the pose prior. Twists of
    # end segments (feet, hands, head) move no joint and are left to the priors.
    true_rot = axis_angle_to_matrix(poses)
    relative = np.swapaxes(true_rot, -1, -2) @ result.motion.rotations
    angle = np.degrees(np.median(np.arccos(np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2, -1, 1)), axis=0))
    assert angle[[4, 5, 18, 19]].max() < 8.0
    assert angle[0] < 15.0
    # The motion is at SMPL size: translation = root / scale - J0.
    np.testing.assert_allclose(result.motion.translation, trans, atol=0.02)
    assert result.motion.fps == FPS


def test_fit_to_the_coco17_subset(truth):
    poses, trans, scale, joints = truth
    coco = coco17_from_smpl(joints)
    result = fit_smpl(coco, COCO17, fps=FPS, iterations=300)
    error = np.linalg.norm(result.world_joints() - joints, axis=-1).mean(axis=0)  # (24,) metres
    body = [1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21]  # the joints COCO sees
    assert error[body].mean() < 0.02
    assert error[[0, 3, 6, 9, 12, 15]].mean() < 0.05  # pelvis, spine, neck, head: from the priors and face
    assert abs(result.scale - scale) < 0.03
    assert np.isnan(result.per_joint_error).sum() == 0  # every COCO point is a target of its own
    assert result.per_joint_error[:5].max() < 0.05  # face points: approximate offsets, partly learned


def test_aistpp_dict_follows_the_aistpp_scaling_convention(truth, smpl24_fit):
    joints_cm = truth[3] * 100.0
    data = fit_to_aistpp_dict(smpl24_fit, units_per_metre=100.0)
    assert set(data) == {"smpl_poses", "smpl_trans", "smpl_scaling", "smpl_loss"}
    assert data["smpl_poses"].shape == (90, 72) and data["smpl_trans"].shape == (90, 3)
    scaling = data["smpl_scaling"][0]
    assert 85 < scaling < 100  # AIST++-like
    # joints_cm = FK(poses, smpl_trans / smpl_scaling) * smpl_scaling
    rebuilt = forward_kinematics_axis_angle(data["smpl_poses"].astype(np.float64), data["smpl_trans"] / scaling) * scaling
    assert np.linalg.norm(rebuilt - joints_cm, axis=-1).mean() < 1.0
    # Loaded the AIST++ way, the motion is the fitted one at SMPL size.
    again = SMPLMotion.from_aistpp(data["smpl_poses"], data["smpl_trans"], data["smpl_scaling"])
    np.testing.assert_allclose(again.joints(), smpl24_fit.motion.joints(), atol=1e-4)
    metric = fit_to_aistpp_dict(smpl24_fit)
    assert metric["smpl_scaling"][0] == pytest.approx(smpl24_fit.scale)
    with pytest.raises(ValueError):
        fit_to_aistpp_dict(smpl24_fit, units_per_metre=0.0)


def test_place_on_floor(smpl24_fit):
    lifted = place_on_floor(smpl24_fit, clearance=0.05)
    feet = lifted.motion.joints()[:, [7, 8, 10, 11], 1].min(axis=1)
    assert np.median(feet) == pytest.approx(0.05, abs=1e-5)
    shift = lifted.motion.translation - smpl24_fit.motion.translation
    assert np.ptp(shift, axis=0).max() < 1e-6 and np.abs(shift[:, [0, 2]]).max() < 1e-6
    np.testing.assert_allclose(lifted.world_joints() - smpl24_fit.world_joints(),
                               lifted.scale * np.broadcast_to(shift[:, None], (90, 24, 3)), atol=1e-5)  # fmt: skip


def test_missing_data_single_frames_and_bad_input(truth):
    joints = truth[3].copy()
    joints[10:30, 20] = np.nan  # the left wrist lost for 20 frames
    joints[:, 23] = np.nan  # the right hand never seen
    result = fit_smpl(joints[:60], SMPL24, fps=FPS, iterations=200)
    world = result.world_joints()
    assert np.isnan(result.per_joint_error[23]) and np.isfinite(result.per_joint_error[:23]).all()
    # The gap is bridged by the smoothness prior: near the truth, no jumps.
    assert np.linalg.norm(world[10:30, 20] - truth[3][10:30, 20], axis=-1).mean() < 0.1
    assert np.linalg.norm(np.diff(world[8:32, 20], axis=0), axis=-1).max() < 0.02
    seen = np.delete(np.arange(60), np.arange(10, 30))
    assert np.linalg.norm(world[seen, :23] - truth[3][seen, :23], axis=-1).mean() < 0.01
    one = fit_smpl(truth[3][:1], SMPL24, fps=FPS, iterations=200)
    assert len(one.motion) == 1 and one.mean_error < 0.02
    with pytest.raises(ValueError, match="expected shape"):
        fit_smpl(truth[3][:, :17], SMPL24, fps=FPS)
    with pytest.raises(ValueError, match="all NaN"):
        fit_smpl(np.full((4, 24, 3), np.nan), SMPL24, fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        fit_smpl(truth[3], SMPL24, fps=0.0)


def test_frames_where_nothing_is_seen_start_between_their_neighbours():
    """A dancer 8 m from the origin, unseen for 0.3 s (an occlusion): those frames used to start at
    the origin in the rest pose, and the fit left them there, metres off and under the floor."""
    poses, trans = known_motion(80, seed=3)
    joints = forward_kinematics_axis_angle(poses, trans + [8.0, 0.0, -3.0])
    seen = joints.copy()
    seen[30:48] = np.nan
    world = fit_smpl(seen, SMPL24, fps=FPS, iterations=150).world_joints()
    gap = np.linalg.norm(world[30:48] - joints[30:48], axis=-1)
    assert gap.mean() < 0.15, gap.mean()
    assert world[30:48, 0, 1].min() > joints[:, 0, 1].min() - 0.15  # the pelvis stays at its height
    # at the ends: as the nearest seen frame
    ends = joints.copy()
    ends[:10] = np.nan
    ends[-10:] = np.nan
    world = fit_smpl(ends, SMPL24, fps=FPS, iterations=150).world_joints()
    assert np.linalg.norm(world[:10, 0] - joints[10, 0], axis=-1).max() < 0.3
    assert np.linalg.norm(world[-10:, 0] - joints[-11, 0], axis=-1).max() < 0.3


def test_initial_pose_is_close_and_unflipped(truth):
    poses, trans, scale, joints = truth
    rot, root, s0 = initial_pose(SMPL24, joints)
    assert abs(s0 - scale) < 1e-6  # bone lengths give the scale exactly
    pos, frames = _fk_frames(rot, np)
    start = root[:, None] + s0 * pos
    assert np.linalg.norm(start - joints, axis=-1).mean() < 0.02
    # Knees and elbows start bending the anatomical way (no flipped hinges).
    assert (rot[:, [4, 5], 2, 1] > -0.05).all()  # sin of knee flexion about +x
    assert (rot[:, 18, 0, 2] < 0.05).all() and (rot[:, 19, 0, 2] > -0.05).all()
    # The frames of the helper agree with the project's forward kinematics.
    np.testing.assert_allclose(pos + J0 + 0.0, forward_kinematics(rot, np.zeros(3)), atol=1e-9)
    assert frames.shape == (90, N_JOINTS, 3, 3)


def test_layouts_are_consistent():
    assert get_layout("DWM23") is DWM23 and get_layout("coco17") is COCO17
    with pytest.raises(ValueError, match="unknown layout"):
        get_layout("h36m")
    assert DWM23.n_joints == 23 and COCO17.n_joints == 17 and SMPL24.n_joints == 24
    # Every DWM marker is used, each by one target, except markers 3 and 12, which also make the neck.
    used = [s for t in DWM23.targets for s in t.sources]
    assert sorted(set(used)) == list(range(23))
    assert DWM23.single_source_target().min() >= 0
    np.testing.assert_allclose(DWM23.source_matrix().sum(axis=1), 1.0)
    points = np.arange(23 * 3, dtype=float).reshape(1, 23, 3)
    neck = DWM23.target_positions(points)[0, DWM23.target_names.index("neck")]
    np.testing.assert_allclose(neck, (points[0, 3] + points[0, 12]) / 2)
    t = on_bone("mid-forearm", 0, 18, 20, 0.5)
    assert t.joint == 18 and np.allclose(t.offset, 0.5 * np.array([0.26570925, 0.01269811, -0.00737473]))
    with pytest.raises(ValueError, match="not a child"):
        on_bone("x", 0, 18, 21, 0.5)
    with pytest.raises(ValueError, match="outside"):
        Layout("bad", ("a", "b"), (at_joint("c", 2, 0),))

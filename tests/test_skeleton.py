"""aichoreo.skeleton: SMPL-24 constants, rest pose, forward kinematics (numpy and torch)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from aichoreo import skeleton as sk

# Rest positions hard-coded in google/aistplusplus_api features/manual.py (reference.md §6.3).
MANUAL_REST = {
    "lshoulder": (0.199113488, 0.236807942, -0.0180702247),
    "lelbow": (0.454445392, 0.221158922, -0.0410167128),
    "rshoulder": (-0.191692337, 0.236928746, -0.0123055102),
    "lhip": (0.0564076714, -0.323069185, 0.0109197125),
    "rhip": (-0.0624834076, -0.331302464, 0.0150412619),
}


def _random_rotations(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    aa = scale * rng.standard_normal(shape + (sk.N_JOINTS, 3))
    return Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(shape + (sk.N_JOINTS, 3, 3))


def _descendants(joint: int) -> set[int]:
    out = {joint}
    for i in range(sk.N_JOINTS):  # parents come before children
        if sk.PARENTS[i] in out:
            out.add(i)
    return out


def test_constants():
    assert sk.N_JOINTS == len(sk.JOINT_NAMES) == len(sk.AIST_FEATURE_NAMES) == 24
    assert sk.JOINT_NAMES[0] == "pelvis" and sk.JOINT_NAMES[15] == "head" and sk.JOINT_NAMES[23] == "right_hand"
    assert sk.AIST_FEATURE_NAMES[:4] == ("root", "lhip", "rhip", "belly")
    assert sk.AIST_FEATURE_NAMES[13] == "linshoulder" and sk.AIST_FEATURE_NAMES[10] == "ltoes"
    assert sk.PARENTS.shape == (24,) and sk.PARENTS[0] == -1
    assert all(0 <= sk.PARENTS[i] < i for i in range(1, 24))
    assert sk.PARENTS[15] == 12 and sk.PARENTS[13] == sk.PARENTS[14] == sk.PARENTS[12] == 9
    assert sk.REST_OFFSETS.shape == (24, 3) and sk.REST_OFFSETS.dtype == np.float64
    np.testing.assert_array_equal(sk.REST_OFFSETS[0], 0.0)
    np.testing.assert_array_equal(sk.REST_OFFSETS[18], [0.2553319, -0.01564902, -0.02294649])
    np.testing.assert_array_equal(sk.J0, [-0.00217368, -0.24078914, 0.02858379])
    assert sk.UP_AXIS == 1 and sk.FPS == 60
    with pytest.raises(ValueError):
        sk.REST_OFFSETS[1, 0] = 1.0  # read-only: nobody changes everyone's skeleton


def test_rest_joints_accumulate_offsets_from_j0():
    rest = sk.rest_joints()
    assert rest.shape == (24, 3) and rest.dtype == np.float64
    np.testing.assert_array_equal(rest[0], sk.J0)
    # left_hand hangs off the spine: spine1, spine2, spine3, collar, shoulder, elbow, wrist, hand.
    chain = [3, 6, 9, 13, 16, 18, 20, 22]
    np.testing.assert_allclose(rest[22], sk.J0 + sk.REST_OFFSETS[chain].sum(0), atol=1e-15)
    np.testing.assert_allclose(rest[7], sk.J0 + sk.REST_OFFSETS[[1, 4, 7]].sum(0), atol=1e-15)
    # The body stands y up: head above pelvis above ankles; left joints on +x.
    assert rest[15, 1] > rest[0, 1] > rest[7, 1]
    assert rest[16, 0] > 0 > rest[17, 0]


@pytest.mark.parametrize("name", sorted(MANUAL_REST))
def test_rest_joints_reproduce_aistpp_manual_constants(name):
    rest = sk.rest_joints()
    np.testing.assert_allclose(rest[sk.AIST_FEATURE_NAMES.index(name)], MANUAL_REST[name], atol=1e-6)


def test_rest_joints_with_another_skeleton():
    rest = sk.rest_joints(offsets=2 * sk.REST_OFFSETS, root_offset=np.zeros(3))
    np.testing.assert_allclose(rest, 2 * (sk.rest_joints() - sk.J0), atol=1e-15)
    with pytest.raises(ValueError, match="offsets"):
        sk.rest_joints(offsets=np.zeros((23, 3)))


def test_fk_of_rest_pose_is_rest_joints_plus_translation():
    eye = np.broadcast_to(np.eye(3), (2, 5, 24, 3, 3))
    trans = np.random.default_rng(0).standard_normal((2, 5, 3))
    joints = sk.forward_kinematics(eye, trans)
    assert joints.shape == (2, 5, 24, 3)
    np.testing.assert_allclose(joints, sk.rest_joints() + trans[..., None, :], atol=1e-15)


def test_fk_root_rotation_rotates_every_offset_from_the_root():
    r_y = Rotation.from_rotvec([0.0, np.pi / 2, 0.0]).as_matrix()
    rotations = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    rotations[0] = r_y
    trans = np.array([0.3, 0.1, -2.0])
    joints = sk.forward_kinematics(rotations, trans)
    rest = sk.rest_joints()
    np.testing.assert_allclose(joints[0], trans + sk.J0, atol=1e-15)  # the root turns in place
    np.testing.assert_allclose(joints - joints[0], (rest - rest[0]) @ r_y.T, atol=1e-15)
    # 90 deg about y maps +x to -z: the left hip (rest +x of the pelvis) ends up at -z.
    assert joints[1, 2] - joints[0, 2] < -0.05


def test_fk_local_rotation_moves_only_descendants():
    rest = sk.rest_joints()
    r_z = Rotation.from_rotvec([0.0, 0.0, 1.0]).as_matrix()
    rotations = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    rotations[18] = r_z  # left elbow
    joints = sk.forward_kinematics(rotations, np.zeros(3))
    moved = _descendants(18) - {18}
    assert moved == {20, 22}
    still = [i for i in range(24) if i not in moved]
    np.testing.assert_allclose(joints[still], rest[still], atol=1e-15)
    elbow = rest[18]
    np.testing.assert_allclose(joints[sorted(moved)] - elbow, (rest[sorted(moved)] - elbow) @ r_z.T, atol=1e-15)


def test_fk_chain_of_rotations_composes():
    # Rotating the left hip and the left knee: the ankle's offset turns by both.
    rotations = _random_rotations((), seed=1)
    joints = sk.forward_kinematics(rotations, np.zeros(3))
    g_hip = rotations[0] @ rotations[1]
    g_knee = g_hip @ rotations[4]
    np.testing.assert_allclose(joints[4], joints[1] + g_hip @ sk.REST_OFFSETS[4], atol=1e-15)
    np.testing.assert_allclose(joints[7], joints[4] + g_knee @ sk.REST_OFFSETS[7], atol=1e-15)
    # Rigid links: every bone keeps its rest length.
    bones = np.linalg.norm(joints[1:] - joints[sk.PARENTS[1:]], axis=-1)
    np.testing.assert_allclose(bones, np.linalg.norm(sk.REST_OFFSETS[1:], axis=-1), atol=1e-14)


def test_fk_axis_angle_layouts_and_torch_agree():
    rng = np.random.default_rng(2)
    poses = rng.standard_normal((7, 72))
    trans = rng.standard_normal((7, 3))
    a = sk.forward_kinematics_axis_angle(poses, trans)
    b = sk.forward_kinematics_axis_angle(poses.reshape(7, 24, 3), trans)
    np.testing.assert_array_equal(a, b)
    c = sk.forward_kinematics_axis_angle(torch.from_numpy(poses), torch.from_numpy(trans))
    assert isinstance(c, torch.Tensor) and c.dtype == torch.float64
    np.testing.assert_allclose(c.numpy(), a, atol=1e-13)
    d = sk.forward_kinematics(torch.from_numpy(_random_rotations((3,))).float(), torch.zeros(3))
    assert d.dtype == torch.float32 and d.shape == (3, 24, 3)


def test_fk_gradients_flow():
    poses = (0.3 * torch.randn(2, 24, 3, dtype=torch.float64)).requires_grad_()
    trans = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sk.forward_kinematics_axis_angle, (poses, trans))


def test_fk_bad_shapes_raise():
    with pytest.raises(ValueError, match="rotations"):
        sk.forward_kinematics(np.zeros((5, 23, 3, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="translation"):
        sk.forward_kinematics(np.zeros((5, 24, 3, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="broadcast"):
        sk.forward_kinematics(np.zeros((5, 24, 3, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="poses"):
        sk.forward_kinematics_axis_angle(np.zeros((5, 70)), np.zeros((5, 3)))


@pytest.mark.parametrize("name", ["real_000", "gen_000"])
def test_fk_reproduces_conformance_joints(conformance, name):
    with open(conformance / "motions" / f"{name}.pkl", "rb") as f:
        motion = pickle.load(f)
    want = np.load(conformance / "motions" / f"{name}.npy")
    transl = motion["smpl_trans"] / motion["smpl_scaling"]
    joints = sk.forward_kinematics_axis_angle(motion["smpl_poses"], transl)
    assert joints.shape == want.shape == (len(motion["smpl_poses"]), 24, 3)
    np.testing.assert_allclose(joints, want, atol=1e-5)

"""aichoreo.motion: SMPLMotion, FACT 219/225 vectors, AIST++ arrays, joints, resampling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aichoreo import skeleton as sk
from aichoreo.motion import FACT_DIM, FACT_PADDED_DIM, SMPLMotion, fact_vector_to_joints


def _random_motion(t: int = 10, seed: int = 0, fps: float = 60.0) -> SMPLMotion:
    rng = np.random.default_rng(seed)
    aa = rng.standard_normal((t, 24, 3))
    rotations = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(t, 24, 3, 3)
    return SMPLMotion(rotations, rng.standard_normal((t, 3)), fps)


def _smooth_motion(t: int, fps: float = 60.0) -> SMPLMotion:
    """Every joint swings about its own fixed axis at about 1 Hz (0.4 rad), the root walks a circle."""
    rng = np.random.default_rng(1)
    time = np.arange(t) / fps
    axes = rng.standard_normal((24, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    phase = rng.uniform(0, 2 * np.pi, 24)
    angle = 0.4 * np.sin(2 * np.pi * 1.0 * time[:, None] + phase)  # (T, 24)
    rotations = Rotation.from_rotvec((angle[..., None] * axes).reshape(-1, 3)).as_matrix().reshape(t, 24, 3, 3)
    translation = np.stack([np.cos(time), 0.9 + 0.05 * np.sin(3 * time), np.sin(time)], axis=1)
    return SMPLMotion(rotations, translation, fps)


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (rad) of a^T b for rotation stacks (..., 3, 3)."""
    rel = np.swapaxes(a, -1, -2).astype(np.float64) @ b.astype(np.float64)
    return Rotation.from_matrix(rel.reshape(-1, 3, 3)).magnitude().reshape(rel.shape[:-2])


def test_dims():
    assert (FACT_DIM, FACT_PADDED_DIM) == (219, 225)


def test_fact_vector_layout_is_translation_then_row_major_matrices():
    m = _random_motion(4)
    x = m.to_fact_vector()
    assert x.shape == (4, 219) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, :3], m.translation)
    for j in (0, 5, 23):
        for r in range(3):
            for c in range(3):
                np.testing.assert_array_equal(x[:, 3 + 9 * j + 3 * r + c], m.rotations[:, j, r, c])


def test_fact_vector_round_trip():
    m = _random_motion(12)
    back = SMPLMotion.from_fact_vector(m.to_fact_vector(), fps=30.0)
    assert back.fps == 30.0 and len(back) == 12
    np.testing.assert_array_equal(back.translation, m.translation)
    # The SVD projection of an (almost exact, float32) rotation changes it by round-off only.
    np.testing.assert_allclose(back.rotations, m.rotations, atol=2e-7)


def test_padded_fact_vector():
    m = _random_motion(5)
    x = m.to_fact_vector(padded=True)
    assert x.shape == (5, 225) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, :6], 0.0)
    np.testing.assert_array_equal(x[:, 6:9], m.translation)  # reference.md §3: 6-8 translation
    np.testing.assert_array_equal(x[:, 6:], m.to_fact_vector())
    # The network regresses the pad dims too: whatever it puts there is dropped.
    x[:, :6] = 0.3
    np.testing.assert_allclose(SMPLMotion.from_fact_vector(x).rotations, m.rotations, atol=2e-7)


def test_noisy_fact_rotations_are_projected():
    m = _random_motion(20, seed=3)
    x = m.to_fact_vector().astype(np.float64)
    x[:, 3:] += 0.02 * np.random.default_rng(4).standard_normal((20, 216))
    with pytest.raises(ValueError, match="not rotation matrices"):
        SMPLMotion(x[:, 3:].reshape(20, 24, 3, 3), x[:, :3])
    back = SMPLMotion.from_fact_vector(x)
    r = back.rotations.astype(np.float64)
    np.testing.assert_allclose(np.swapaxes(r, -1, -2) @ r, np.broadcast_to(np.eye(3), r.shape), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-6)
    assert _angle_between(back.rotations, m.rotations).max() < 0.1


def test_aistpp_round_trip():
    rng = np.random.default_rng(5)
    # Angles below pi so the axis-angle comes back unchanged (at pi its sign is free).
    axes = rng.standard_normal((8, 24, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    poses = (axes * rng.uniform(0, 3.0, (8, 24, 1))).reshape(8, 72)
    trans = rng.uniform(-200, 200, (8, 3))
    m = SMPLMotion.from_aistpp(poses, trans, np.array([93.0]))
    np.testing.assert_allclose(m.translation, trans / 93.0, rtol=1e-6)
    want = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(8, 24, 3, 3)
    np.testing.assert_allclose(m.rotations, want, atol=1e-6)
    out = m.to_aistpp(scaling=93.0)
    assert set(out) == {"smpl_poses", "smpl_trans", "smpl_scaling"}
    assert out["smpl_poses"].shape == (8, 72) and out["smpl_poses"].dtype == np.float32
    np.testing.assert_allclose(out["smpl_poses"], poses, atol=2e-5)
    np.testing.assert_allclose(out["smpl_trans"], trans, rtol=1e-6)
    np.testing.assert_array_equal(out["smpl_scaling"], [93.0])
    # (T, 24, 3) poses and a scalar scale are accepted too.
    m2 = SMPLMotion.from_aistpp(poses.reshape(8, 24, 3), trans, 93.0)
    np.testing.assert_array_equal(m2.rotations, m.rotations)
    np.testing.assert_array_equal(m2.translation, m.translation)


def test_joints_match_forward_kinematics():
    m = _random_motion(6)
    joints = m.joints()
    assert joints.shape == (6, 24, 3) and joints.dtype == np.float32
    want = sk.forward_kinematics(m.rotations.astype(np.float64), m.translation.astype(np.float64))
    np.testing.assert_allclose(joints, want, atol=1e-6)
    np.testing.assert_allclose(fact_vector_to_joints(m.to_fact_vector(padded=True)), joints, atol=1e-5)


def test_conformance_motion_joints(conformance):
    with open(conformance / "motions" / "real_001.pkl", "rb") as f:
        d = pickle.load(f)
    m = SMPLMotion.from_aistpp(d["smpl_poses"], d["smpl_trans"], d["smpl_scaling"])
    np.testing.assert_allclose(m.joints(), np.load(conformance / "motions" / "real_001.npy"), atol=1e-5)
    # Through the 225-d FACT vector, as a generated motion would arrive.
    x = m.to_fact_vector(padded=True)
    np.testing.assert_allclose(fact_vector_to_joints(x), np.load(conformance / "motions" / "real_001.npy"), atol=1e-5)


def test_len_duration_slice():
    m = _random_motion(30, fps=60.0)
    assert len(m) == 30 and m.duration == pytest.approx(0.5)
    assert repr(m) == "SMPLMotion(frames=30, fps=60, duration=0.500 s)"
    s = m.slice(10, 20)
    assert len(s) == 10 and s.fps == 60.0
    np.testing.assert_array_equal(s.rotations, m.rotations[10:20])
    np.testing.assert_array_equal(m.slice(-5).translation, m.translation[-5:])
    with pytest.raises(ValueError, match="empty"):
        m.slice(20, 10)


def test_arrays_are_read_only_copies():
    rotations = np.broadcast_to(np.eye(3), (3, 24, 3, 3)).copy()
    m = SMPLMotion(rotations, np.zeros((3, 3)))
    rotations[0, 0] = np.diag([1.0, -1.0, -1.0])  # the caller's array is not the motion's
    np.testing.assert_array_equal(m.rotations[0, 0], np.eye(3))
    assert m.rotations.dtype == np.float32 and m.translation.dtype == np.float32
    with pytest.raises(ValueError):
        m.translation[0, 0] = 1.0


def test_resample_60_30_60_of_smooth_motion_is_close():
    m = _smooth_motion(121)
    down = m.resample(30.0)
    assert down.fps == 30.0 and len(down) == 61
    # 30 fps frame k is 60 fps frame 2k, exactly (no slerp where a frame falls on one).
    np.testing.assert_array_equal(down.rotations, m.rotations[::2])
    np.testing.assert_allclose(down.translation, m.translation[::2], atol=1e-6)
    up = down.resample(60.0)
    assert len(up) == 121
    err = _angle_between(up.rotations, m.rotations)
    assert err[::2].max() < 1e-5  # original samples come back
    # In-between frames: slerp error ~ (dt^2 / 8) * angular acceleration = 2.2e-3 rad here.
    assert 1e-4 < err[1::2].max() < 3e-3
    np.testing.assert_allclose(up.translation, m.translation, atol=1e-3)
    np.testing.assert_allclose(up.joints(), m.joints(), atol=1e-2)  # 4e-3 at the hands


def test_resample_constant_angular_velocity_to_25_fps():
    omega = 2.0  # rad/s about y for the root, and -3 rad/s about a tilted axis for the left knee
    axis = np.array([1.0, 2.0, -2.0]) / 3.0
    t = np.arange(120) / 60.0
    rotations = np.broadcast_to(np.eye(3), (120, 24, 3, 3)).copy()
    rotations[:, 0] = Rotation.from_rotvec(np.outer(omega * t, [0.0, 1.0, 0.0])).as_matrix()
    rotations[:, 4] = Rotation.from_rotvec(np.outer(-3.0 * t, axis)).as_matrix()
    translation = np.outer(t, [0.5, 0.0, -1.0])  # constant velocity
    m = SMPLMotion(rotations, translation, 60.0)
    r = m.resample(25.0)
    # Frames k / 25 s up to the last input frame 119 / 60 s: k = 0..49.
    assert len(r) == 50 and r.fps == 25.0
    tk = np.arange(50) / 25.0
    want_root = Rotation.from_rotvec(np.outer(omega * tk, [0.0, 1.0, 0.0])).as_matrix()
    want_knee = Rotation.from_rotvec(np.outer(-3.0 * tk, axis)).as_matrix()
    assert _angle_between(r.rotations[:, 0], want_root).max() < 1e-6
    assert _angle_between(r.rotations[:, 4], want_knee).max() < 1e-6
    np.testing.assert_allclose(r.translation, np.outer(tk, [0.5, 0.0, -1.0]), atol=1e-6)
    assert m.resample(60.0) is m


def test_bad_input_raises():
    eye = np.broadcast_to(np.eye(3), (4, 24, 3, 3))
    with pytest.raises(ValueError, match="rotations"):
        SMPLMotion(eye[:, :23], np.zeros((4, 3)))
    with pytest.raises(ValueError, match="translation"):
        SMPLMotion(eye, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="no frames"):
        SMPLMotion(eye[:0], np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        SMPLMotion(eye, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="not rotation"):
        SMPLMotion(eye * np.diag([1.0, 1.0, -1.0]), np.zeros((4, 3)))  # reflections
    with pytest.raises(ValueError, match="fps"):
        SMPLMotion(eye, np.zeros((4, 3)), fps=0.0)
    with pytest.raises(ValueError, match="FACT"):
        SMPLMotion.from_fact_vector(np.zeros((4, 220)))
    with pytest.raises(ValueError, match="smpl_poses"):
        SMPLMotion.from_aistpp(np.zeros((4, 69)), np.zeros((4, 3)), 90.0)
    with pytest.raises(ValueError, match="smpl_scaling"):
        SMPLMotion.from_aistpp(np.zeros((4, 72)), np.zeros((4, 3)), 0.0)
    with pytest.raises(ValueError, match="fps"):
        SMPLMotion(eye, np.zeros((4, 3))).resample(-1)


def test_joints_are_computed_once_and_shared_read_only(monkeypatch):
    """Every export of a dance shares one forward kinematics (before: 3-4 per dance)."""
    import aichoreo.motion as motion_module

    n = 30
    motion = SMPLMotion(np.tile(np.eye(3, dtype=np.float32), (n, 24, 1, 1)), np.zeros((n, 3), np.float32))
    calls = []
    fk = motion_module.forward_kinematics
    monkeypatch.setattr(motion_module, "forward_kinematics", lambda *a, **k: calls.append(1) or fk(*a, **k))
    first = motion.joints()
    assert motion.joints() is first and len(calls) == 1
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 1.0


def test_a_dance_that_travelled_far_is_read_and_one_in_other_units_is_not(tmp_path):
    """A generated dance may walk 0.84 m/s for minutes (the bundled model on a breakbeat loop): 750 m in
    15 minutes, refused by our own readers while they bounded the distance from the origin by 500 m.
    Units are told by the body's size and the root's speed, which do not grow with the dance."""
    from aichoreo.data.motion_files import load_joints
    from aichoreo.errors import InputError
    from aichoreo.export.aistpp import write_aistpp

    n = 15 * 60 * 60
    walk = np.zeros((n, 3))
    walk[:, 0] = np.arange(n) * 0.84 / 60
    walk[:, 1] = 0.9
    rotations = np.broadcast_to(np.eye(3), (n, 24, 3, 3))
    write_aistpp(SMPLMotion(rotations, walk, 60.0), tmp_path / "far.pkl")
    joints, fps = load_joints(tmp_path / "far.pkl")
    assert fps == 60.0 and joints[-1, 0, 0] > 750
    np.save(tmp_path / "far.npy", joints)
    assert load_joints(tmp_path / "far.npy")[0].shape == (n, 24, 3)

    np.save(tmp_path / "mm.npy", joints[:600] * 1000)
    with pytest.raises(InputError, match=r"mm\.npy: the body measures .* m from its centre to its farthest joint"):
        load_joints(tmp_path / "mm.npy")
    write_aistpp(SMPLMotion(rotations[:600], walk[:600] * 100, 60.0), tmp_path / "cm.pkl")
    with pytest.raises(InputError, match=r"cm\.pkl: the root moves at 84 m/s \(the median over frames\)"):
        load_joints(tmp_path / "cm.pkl")

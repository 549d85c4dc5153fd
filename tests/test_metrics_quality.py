"""Whole-song quality measures (aichoreo.metrics.quality) on motions built to have a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from aichoreo.metrics import kinetic_features
from aichoreo.metrics.quality import (
    fade,
    mean_joint_acceleration,
    mean_joint_speed,
    ratio,
    speed_curve,
    spread,
    support_foot_speed,
)
from aichoreo.skeleton import forward_kinematics_axis_angle

FPS = 60.0


def standing(n: int) -> np.ndarray:
    """``(n, 24, 3)`` joints of the SMPL rest pose standing still, feet near y = 0."""
    poses = np.zeros((n, 24, 3))
    transl = np.tile([0.0, 0.95, 0.0], (n, 1))
    return forward_kinematics_axis_angle(poses, transl)


def swaying(n: int, amplitude, freq: float = 1.0) -> np.ndarray:
    """The body moved sideways as a rigid whole by ``amplitude * sin(2 pi f t)`` (amplitude may vary)."""
    t = np.arange(n) / FPS
    x = np.asarray(amplitude) * np.sin(2 * np.pi * freq * t)
    out = standing(n).copy()
    out[..., 0] += x[:, None]
    return out


def test_mean_joint_speed_of_a_rigid_slide_is_its_speed():
    n = 121
    joints = standing(n).copy()
    joints[..., 2] += 0.5 * np.arange(n)[:, None] / FPS  # 0.5 m/s forward
    assert mean_joint_speed(joints, fps=FPS) == pytest.approx(0.5)
    assert mean_joint_speed(standing(10), fps=FPS) == 0.0


def test_fade_of_a_slowing_dance_and_of_a_steady_one():
    n = 60 * int(FPS) + 1
    steady = swaying(n, 0.2)
    assert fade(steady, fps=FPS, window_s=20) == pytest.approx(1.0, abs=0.01)
    slowing = swaying(n, np.linspace(0.2, 0.05, n))  # amplitude falls to a quarter
    value = fade(slowing, fps=FPS, window_s=20)
    # mean amplitude of the last 20 s (0.05..0.1) over the first 20 s (0.15..0.2): 0.075 / 0.175
    assert value == pytest.approx(0.075 / 0.175, rel=0.03)
    # the seed is left out: a frozen 2 s seed before a steady dance does not count as the start
    seeded = np.concatenate([standing(120), steady], axis=0)
    assert fade(seeded, fps=FPS, seed_frames=120, window_s=20) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="more than window_s"):
        fade(steady[: 10 * int(FPS)], fps=FPS, window_s=20)


def test_jitter_of_a_shaking_pose_dwarfs_a_smooth_motion():
    n = 30 * int(FPS)
    smooth = swaying(n, 0.2, freq=0.5)
    shaking = standing(n) + np.random.default_rng(0).normal(0, 0.01, (n, 24, 3))  # 1 cm of noise per frame
    smooth_acc = mean_joint_acceleration(smooth, fps=FPS, sample_fps=25)
    # a 0.2 m sine at 0.5 Hz: |a| = 0.2 (2 pi 0.5)^2 |sin| -> mean 0.2 pi^2 2/pi = 1.26 m/s^2
    assert smooth_acc == pytest.approx(0.2 * np.pi**2 * 2 / np.pi, rel=0.02)
    shaking_acc = mean_joint_acceleration(shaking, fps=FPS, sample_fps=25)
    assert shaking_acc > 10 * smooth_acc
    # the same noise looks several times larger at 60 fps than at 25 fps (about (60/25)^2, less
    # what the interpolation to 25 fps averages out): motions are compared at one rate
    assert mean_joint_acceleration(shaking, fps=FPS) / shaking_acc > 4


def test_support_foot_speed_sees_a_sliding_foot_and_not_a_swinging_one():
    n = 121
    walking = standing(n).copy()
    # the right ankle swings forward at 1 m/s while the left one stays planted: no skate
    walking[:, 8, 2] += 1.0 * np.arange(n) / FPS
    assert support_foot_speed(walking, fps=FPS) == pytest.approx(0.0, abs=1e-12)
    # both ankles slide sideways at 0.3 m/s (the right one also swings): the support foot skates
    sliding = walking.copy()
    sliding[:, (7, 8), 0] += 0.3 * np.arange(n)[:, None] / FPS
    assert support_foot_speed(sliding, fps=FPS) == pytest.approx(0.3)
    # vertical motion is not skating
    hopping = standing(n).copy()
    hopping[..., 1] += 0.1 * np.abs(np.sin(np.arange(n) / FPS * 2 * np.pi))[:, None]
    assert support_foot_speed(hopping, fps=FPS) == pytest.approx(0.0, abs=1e-12)


def test_spread_is_one_for_the_real_set_and_small_for_one_dance_repeated():
    rng = np.random.default_rng(1)
    real = [swaying(600, rng.uniform(0.05, 0.3), freq=rng.uniform(0.5, 2.0)) for _ in range(5)]
    real_f = np.stack([kinetic_features(j, fps=FPS) for j in real])
    assert spread(real_f, real_f) == pytest.approx(1.0)
    same = np.stack([real_f[0]] * 4) + rng.normal(0, 1e-6, (4, real_f.shape[1]))
    assert spread(same, real_f) < 0.01


def test_speed_curve_and_ratio():
    times, speeds = speed_curve(swaying(10 * int(FPS) + 1, 0.2), fps=FPS, window_s=1.0)
    assert times.shape == speeds.shape == (10,)
    assert times[0] == pytest.approx(0.5) and times[-1] == pytest.approx(9.5)
    # one 1 Hz period per window: every window moves the same
    np.testing.assert_allclose(speeds, speeds[0], rtol=1e-6)
    assert ratio(2.0, 1.0) == 2.0 and ratio(0.0, 0.0) == 1.0 and ratio(1.0, 0.0) == float("inf")


def test_stature_sees_a_dancer_collapse():
    from scipy.spatial.transform import Rotation

    from aichoreo.metrics import stature
    from aichoreo.motion import SMPLMotion

    standing = SMPLMotion(np.tile(np.eye(3, dtype=np.float32), (10, 24, 1, 1)), np.zeros((10, 3), np.float32))
    lying = standing.rotations.copy()
    lying[:, 0] = Rotation.from_euler("x", 90, degrees=True).as_matrix()  # the whole body on its back
    fallen = SMPLMotion(lying, np.zeros((10, 3), np.float32))
    up = stature(standing.joints())
    assert 1.3 < up < 1.8  # SMPL's rest body: head about 1.5 m above the feet
    assert stature(fallen.joints()) < 0.3 * up
    assert stature(np.concatenate([standing.joints()[:6], fallen.joints()[:4]])) == pytest.approx(up)  # median

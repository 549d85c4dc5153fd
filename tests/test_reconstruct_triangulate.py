"""Triangulation and temporal optimisation on a known motion seen by synthetic calibrated cameras."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("aniposelib")
pytest.importorskip("cv2")

from scipy.ndimage import gaussian_filter1d  # noqa: E402

from aichoreo.data.fixtures import rig_cameras  # noqa: E402
from aichoreo.reconstruct.cameras import cameras_from_aistpp, project  # noqa: E402
from aichoreo.reconstruct.layouts import SMPL24  # noqa: E402
from aichoreo.reconstruct.smooth import interpolate_gaps, level_floor, optimize_temporal  # noqa: E402
from aichoreo.reconstruct.triangulate import dlt, triangulate  # noqa: E402
from aichoreo.skeleton import forward_kinematics_axis_angle  # noqa: E402

FPS = 60.0


def known_joints(n_frames: int, seed: int = 0) -> np.ndarray:
    """SMPL joints ``(T, 24, 3)`` in cm of a smooth random motion near the origin, feet near y = 0."""
    rng = np.random.default_rng(seed)
    poses = 0.35 * gaussian_filter1d(rng.normal(0, 1, (n_frames, 24, 3)), 8, axis=0) * 6
    poses[:, 0] = [0.0, 1.0, 0.0] * np.linspace(0, 2.0, n_frames)[:, None]  # turning around y
    trans = np.cumsum(gaussian_filter1d(rng.normal(0, 0.01, (n_frames, 3)), 5, axis=0), axis=0)
    trans[:, 1] = 0.0
    joints = forward_kinematics_axis_angle(poses, trans)
    joints[..., 1] -= joints[..., 1].min() - 0.03
    return joints * 100.0


@pytest.fixture(scope="module")
def rig8():
    """Eight AIST++-rig cameras every 45° around y at 500 cm, 180 cm high, focal 1600, small distortion."""
    return cameras_from_aistpp(rig_cameras(rng=np.random.default_rng(1))[:8])


def observe(group, joints: np.ndarray, noise_px: float, seed: int = 0) -> np.ndarray:
    """``(V, T, J, 3)`` detections: projections + Gaussian pixel noise, confidence 0.9."""
    rng = np.random.default_rng(seed)
    pixels = project(group, joints) + rng.normal(0, noise_px, (len(group.cameras),) + joints.shape[:-1] + (2,))
    return np.concatenate([pixels, np.full(pixels.shape[:-1] + (1,), 0.9)], axis=-1)


def test_triangulation_recovers_points_and_rejects_the_wrong_view(rig8):
    truth = known_joints(120)
    kp = observe(rig8, truth, noise_px=1.0)
    wrong_view, wrong_joint = 3, 20  # a detector confusing the left wrist with something else
    kp[wrong_view, :, wrong_joint, :2] += [70.0, -45.0]
    tri = triangulate(rig8, kp)

    error = np.linalg.norm(tri.points - truth, axis=-1)  # cm
    assert error.mean() < 0.5 and error.max() < 1.0
    assert tri.rejected[wrong_view, :, wrong_joint].mean() > 0.98
    others = tri.rejected.sum() - tri.rejected[wrong_view, :, wrong_joint].sum()
    assert others < 0.005 * tri.rejected.size
    assert 0.5 < np.nanmean(tri.reprojection_error) < 2.0  # ~1 px noise
    assert (tri.n_views_used[:, wrong_joint] == 7).mean() > 0.98
    assert tri.used.sum() + tri.rejected.sum() == 8 * 120 * 24

    # Without rejection the same wrong view pulls the wrist off by several cm.
    naive = triangulate(rig8, kp, reprojection_threshold_px=np.inf)
    assert np.linalg.norm(naive.points[:, wrong_joint] - truth[:, wrong_joint], axis=-1).mean() > 2.0


def test_vectorised_dlt_equals_a_per_point_solution(rig8):
    truth = known_joints(4)
    kp = observe(rig8, truth, noise_px=0.5, seed=2)
    tri = triangulate(rig8, kp, reprojection_threshold_px=np.inf, weighted=False)
    from aichoreo.reconstruct.cameras import projection_matrices, undistort

    uv = undistort(rig8, kp[..., :2])
    ext = projection_matrices(rig8)
    for n, j in [(0, 0), (1, 7), (3, 23)]:
        rows = []
        for v in range(8):
            rows += [uv[v, n, j, 0] * ext[v, 2] - ext[v, 0], uv[v, n, j, 1] * ext[v, 2] - ext[v, 1]]
        h = np.linalg.svd(np.array(rows))[2][-1]
        # the same least-squares problem up to Hartley normalisation: equal within 0.1 mm
        np.testing.assert_allclose(tri.points[n, j], h[:3] / h[3], atol=0.01)
    # Two views with weight are the minimum; one gives NaN.
    one = dlt(ext[:2], uv[:2, 0, :3], np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert np.isfinite(one[0]).all() and np.isnan(one[1:]).all()


def test_missing_detections_low_confidence_and_empty_views(rig8):
    truth = known_joints(30)
    kp = observe(rig8, truth, noise_px=1.0)
    kp[5] = np.nan  # a view that found nobody, all sequence long
    kp[:, 10, 4, :2] = np.nan  # knee lost everywhere at frame 10
    kp[:7, 11, 4, :2] = np.nan  # seen by one view only at frame 11
    kp[:, 12, 6, 2] = 0.05  # everyone unsure of spine2 at frame 12
    kp[2:, 13, 9, 2] = 0.1  # only views 0 and 1 confident at frame 13
    tri = triangulate(rig8, kp)
    assert np.isnan(tri.points[10, 4]).all() and np.isnan(tri.points[11, 4]).all()
    assert np.isnan(tri.points[12, 6]).all() and tri.n_views_used[12, 6] == 0
    assert np.isnan(tri.reprojection_error[10, 4])
    assert tri.n_views_used[13, 9] == 2
    assert np.linalg.norm(tri.points[13, 9] - truth[13, 9]) < 2.0
    assert not tri.used[5].any()
    ok = np.isfinite(tri.points).all(-1)
    assert ok.sum() == 30 * 24 - 3
    assert np.linalg.norm(tri.points[ok] - truth[ok], axis=-1).mean() < 0.5


def test_views_must_match_the_cameras(rig8):
    kp = observe(rig8, known_joints(3), 1.0)
    with pytest.raises(ValueError, match="7 views but there are 8 cameras"):
        triangulate(rig8, kp[:7])
    with pytest.raises(ValueError, match="min_views"):
        triangulate(rig8, kp, min_views=1)


def test_temporal_optimisation_denoises_fills_gaps_and_keeps_bones(rig8):
    truth = known_joints(150, seed=4)
    kp = observe(rig8, truth, noise_px=3.0, seed=5)
    kp[:, 60:70, 20, :2] = np.nan  # a 10-frame gap of the left wrist in every view
    tri = triangulate(rig8, kp)
    assert np.isnan(tri.points[60:70, 20]).all()
    opt = optimize_temporal(rig8, kp, tri.points, bone_pairs=SMPL24.bones, mask=tri.used)
    assert np.isfinite(opt).all()

    seen = np.isfinite(tri.points).all(-1)
    err_tri = np.linalg.norm(tri.points - truth, axis=-1)[seen].mean()
    err_opt = np.linalg.norm(opt - truth, axis=-1)[seen].mean()
    assert err_opt < 0.9 * err_tri
    gap = np.linalg.norm(opt[60:70, 20] - truth[60:70, 20], axis=-1)
    assert gap.max() < 5.0  # interpolated through the gap, pulled by the bone to the elbow
    # Bone lengths vary less over time than in the raw triangulation.
    bone = lambda p: np.linalg.norm(p[:, 18] - p[:, 16], axis=-1)  # noqa: E731
    assert np.nanstd(bone(opt)) < np.nanstd(bone(tri.points))
    # Jitter (frame-to-frame acceleration) drops towards the truth's.
    acc = lambda p: np.nanmean(np.abs(np.diff(p, 2, axis=0)))  # noqa: E731
    assert acc(opt) < 0.7 * acc(tri.points)


def test_temporal_optimisation_of_one_frame_and_of_never_seen_joints(rig8):
    truth = known_joints(5)
    kp = observe(rig8, truth, noise_px=1.0)
    kp[:, :, 3] = np.nan  # spine1 never detected
    tri = triangulate(rig8, kp)
    opt = optimize_temporal(rig8, kp, tri.points)
    assert np.isnan(opt[:, 3]).all() and np.isfinite(np.delete(opt, 3, axis=1)).all()
    one = optimize_temporal(rig8, kp[:, :1], tri.points[:1])
    assert np.linalg.norm(one[0, 0] - truth[0, 0]) < 1.0
    with pytest.raises(ValueError, match="initial_points"):
        optimize_temporal(rig8, kp, tri.points[:2])


def test_interpolate_gaps_and_level_floor():
    points = np.zeros((6, 2, 3))
    points[:, 0, 0] = np.arange(6.0)
    points[[0, 2, 3], 0] = np.nan
    points[:, 1] = np.nan
    filled = interpolate_gaps(points)
    np.testing.assert_allclose(filled[:, 0, 0], [1, 1, 2, 3, 4, 5])  # held at the start, linear inside
    assert np.isnan(filled[:, 1]).all()

    # A floor drifting up by 30 cm over 20 s with steps lifting one foot now and then.
    t = np.arange(500) / 25.0
    drift = 0.015 * t
    feet = np.stack([drift + 0.02 + 0.15 * (np.sin(2 * np.pi * t) > 0.6), drift + 0.02], axis=1)
    joints = np.zeros((500, 3, 3))
    joints[:, :2, 1] = feet
    joints[:, 2, 1] = drift + 1.0  # a head
    level, floor = level_floor(joints, fps=25.0, foot_joints=(0, 1))
    np.testing.assert_allclose(floor[50:-50], drift[50:-50] + 0.02, atol=0.01)
    np.testing.assert_allclose(level[50:-50, 2, 1], 0.98, atol=0.01)
    constant, floor_c = level_floor(joints, fps=25.0, foot_joints=(0, 1), window_s=None)
    assert np.ptp(floor_c) == 0 and np.ptp(constant[:, 2, 1]) > 0.25

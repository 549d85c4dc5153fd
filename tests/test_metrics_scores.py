"""FID, Dist, BeatAlign, PFC, foot skating and the beat plot: known answers and conformance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from aichoreo.metrics import (
    beat_align,
    diversity,
    dist_from_features,
    extract_features,
    fid,
    fid_from_features,
    foot_skating,
    frechet_distance,
    kinematic_beats,
    motion_envelope,
    music_beat_frames,
    normalize,
    pfc,
    plot_beat_alignment,
    resample_joints,
)
from aichoreo.skeleton import rest_joints

# ------------------------------------------------------------------------------ FID and Dist


def gaussian_sample(n: int, mean: np.ndarray, scales: np.ndarray, seed: int) -> np.ndarray:
    """n points whose sample mean is exactly ``mean`` and sample covariance (ddof 1) exactly diag(scales²)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(mean)))
    x -= x.mean(axis=0)
    # Whiten to identity sample covariance, then scale.
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    x = x @ evecs @ np.diag(evals ** -0.5) @ evecs.T
    return mean + x * scales


def test_fid_of_gaussian_samples_equals_closed_form():
    a = gaussian_sample(400, np.zeros(5), np.array([1.0, 2.0, 0.5, 1.0, 3.0]), seed=0)
    b = gaussian_sample(300, np.array([1.0, -1.0, 0.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5, 0.2, 1.0]), seed=1)
    # Diagonal covariances commute: FID = |mu_a - mu_b|² + sum (s_a - s_b)².
    expected = (1 + 1 + 0 + 4 + 0.25) + (1 + 1 + 0 + 0.64 + 4)
    assert fid(a, b) == pytest.approx(expected, rel=1e-9)
    assert fid(a, b, mode="bailando") == pytest.approx(expected, rel=1e-9)


def test_fid_matches_eigen_closed_form_for_general_covariances():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(150, 4)) @ rng.normal(size=(4, 4)) + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    diff = a.mean(axis=0) - b.mean(axis=0)
    expected = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * cross
    assert fid(a, b) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(3).normal(size=(50, 8))
    assert fid(feats, feats) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-9)


def test_fid_imaginary_policy():
    mu = np.zeros(2)
    bad = np.diag([1.0, -1.0])  # sqrtm(diag(1, -1)) has an imaginary diagonal entry
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(mu, bad, mu, np.eye(2), on_imaginary="raise")
    # real part of sqrtm = diag(1, 0): 0 + (1 - 1) + 2 - 2 * 1
    assert frechet_distance(mu, bad, mu, np.eye(2), on_imaginary="real") == pytest.approx(0.0, abs=1e-12)


def test_normalize_uses_real_population_statistics():
    rng = np.random.default_rng(4)
    real, gen = rng.normal(3.0, 2.0, size=(30, 6)), rng.normal(size=(10, 6))
    real_n, gen_n = normalize(real, gen)
    np.testing.assert_allclose(real_n.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(real_n.std(axis=0), 1.0, rtol=1e-8)
    np.testing.assert_allclose(gen_n, (gen - real.mean(0)) / (real.std(0) + 1e-10))
    with pytest.raises(ValueError, match="widths differ"):
        normalize(real, gen[:, :5])


def test_diversity_on_a_known_grid():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert diversity(square) == pytest.approx((4 + 2 * np.sqrt(2)) / 6, rel=1e-12)
    line = np.arange(5.0)[:, None]  # pairwise distances 1,2,3,4 (4,3,2,1 times)
    assert diversity(line) == pytest.approx((4 * 1 + 3 * 2 + 2 * 3 + 1 * 4) / 10, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        diversity(square[:1])


def test_dist_from_features_normalises_by_the_real_set():
    rng = np.random.default_rng(5)
    real, gen = rng.normal(0, 5, size=(40, 3)), rng.normal(size=(8, 3))
    assert dist_from_features(real, gen) == pytest.approx(pdist(normalize(real, gen)[1]).mean(), rel=1e-12)


def test_conformance_fid_and_dist(conformance):
    ref = json.loads((conformance / "metrics_reference.json").read_text())["fid_dist"]
    real = [np.load(conformance / "motions" / n) for n in ref["real"]]
    gen = [np.load(conformance / "motions" / n) for n in ref["generated"]]
    for kind, fid_key, dist_key in (("kinetic", "fid_k", "dist_k"), ("manual", "fid_g", "dist_g")):
        r, g = extract_features(real, kind), extract_features(gen, kind)
        assert fid_from_features(r, g) == pytest.approx(ref[fid_key], rel=1e-9)
        assert dist_from_features(r, g) == pytest.approx(ref[dist_key], rel=1e-9)
        # Bailando's fallbacks and product order change nothing on well-posed sets.
        assert fid_from_features(r, g, mode="bailando") == pytest.approx(ref[fid_key], rel=1e-6)


# ------------------------------------------------------------------------------ BeatAlign


def periodic_motion(n_frames: int, period: int, seed: int = 0) -> np.ndarray:
    """All joints translate along x with per-frame step 1.5 - cos(2 pi t / period) cm: speed minima at t = k*period."""
    t = np.arange(1, n_frames)
    x = np.concatenate([[0.0], np.cumsum(1.5 - np.cos(2 * np.pi * t / period))]) * 0.01
    joints = np.zeros((n_frames, 24, 3))
    joints[..., 0] = x[:, None]
    return joints + np.random.default_rng(seed).normal(size=(1, 24, 3))


def test_fact_beats_on_music_beats_score_one():
    joints = periodic_motion(200, 30)
    np.testing.assert_array_equal(kinematic_beats(joints, mode="fact"), [30, 60, 90, 120, 150, 180])
    onehot = np.zeros(200, dtype=np.float32)
    onehot[::30] = 1
    assert beat_align(joints, onehot, mode="fact") == 1.0
    assert beat_align(joints, np.arange(0, 200, 30), mode="fact") == 1.0


def test_fact_score_with_offset_beats():
    joints = periodic_motion(200, 30)
    # Music beats 3 frames late: every kinematic beat is 3 frames off -> exp(-9 / 18), in float32.
    assert beat_align(joints, np.arange(3, 200, 30)) == float(np.exp(np.float32(-0.5)))
    # Beats 0, 30 and 2 frames before 60: kinematic beats 30 -> 0, 60 -> 2, the rest -> nearest 58.
    d = np.array([0, 2, 32, 62, 92, 122], dtype=np.float32)
    expected = np.exp(-(d * d) / np.float32(18)).mean(dtype=np.float32)
    assert beat_align(joints, np.array([0, 30, 58])) == pytest.approx(float(expected), rel=1e-6)


def test_fact_truncation_and_start_frame():
    short = periodic_motion(185, 30)  # kinematic beats 30 .. 180
    # A music beat past the motion's end is dropped unless truncate_music=False.
    beats = np.array([40, 186])  # kinematic beat 180 is 6 frames from 186, 140 from 40
    assert kinematic_beats(short)[-1] == 180
    assert beat_align(short, beats) < beat_align(short, beats, truncate_music=False)
    joints = periodic_motion(200, 30)
    # start_frame=100 keeps kinematic beats 120, 150, 180 and music beats from 100 on.
    late = np.array([10, 120, 150, 180])
    assert beat_align(joints, late, start_frame=100) == 1.0
    assert beat_align(joints, late) < 1.0


def test_fact_no_motion_beat_scores_zero_and_no_music_beat_raises():
    still = np.zeros((100, 24, 3))
    assert beat_align(still, np.arange(0, 100, 30)) == 0.0
    with pytest.raises(ValueError, match="no music beat"):
        beat_align(periodic_motion(100, 30), np.zeros(100, dtype=bool))


def test_bailando_hand_built_case():
    joints = periodic_motion(200, 30)
    # Bailando's envelope index t is the step t -> t+1: smoothed minima at 29, 59, ..., 179.
    np.testing.assert_array_equal(kinematic_beats(joints, mode="bailando"), [29, 59, 89, 119, 149, 179])
    assert beat_align(joints, np.arange(29, 200, 30), mode="bailando") == pytest.approx(1.0)
    # Mean over MUSIC beats: 29 (d 0), 62 (d 3), 95 (d 6), 199 (past T-1 = 199: dropped).
    expected = (1 + np.exp(-9 / 18) + np.exp(-36 / 18)) / 3
    assert beat_align(joints, np.array([29, 62, 95, 199]), mode="bailando") == pytest.approx(expected, rel=1e-12)
    assert motion_envelope(joints, mode="bailando").shape == (199,)


def test_music_beat_frames_formats():
    onehot = np.zeros(10, dtype=np.float32)
    onehot[[2, 7]] = 1
    np.testing.assert_array_equal(music_beat_frames(onehot), [2, 7])
    np.testing.assert_array_equal(music_beat_frames(onehot.astype(bool)), [2, 7])
    np.testing.assert_array_equal(music_beat_frames(np.array([7, 2, 2])), [2, 7])
    with pytest.raises(ValueError, match="one-hot"):
        music_beat_frames(np.array([0.0, 30.0, 60.0]))
    with pytest.raises(ValueError, match="1-D"):
        music_beat_frames(np.zeros((10, 35)))


def test_conformance_beat_align(conformance):
    ref = json.loads((conformance / "metrics_reference.json").read_text())["beat_align_fact"]
    for name, expected in ref["scores"].items():
        joints = np.load(conformance / "motions" / f"{name}.npy")
        onehot = np.zeros(len(joints), dtype=np.float32)
        onehot[::30] = 1  # "a beat every 30th frame, from frame 0"
        assert beat_align(joints, onehot, mode="fact") == pytest.approx(expected, rel=1e-9)


def test_plot_beat_alignment_writes_png(tmp_path):
    out = plot_beat_alignment(periodic_motion(120, 30), np.arange(0, 120, 30), tmp_path / "sub" / "beats.png",
                              title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["beats.png"]  # no temporary left behind


# ------------------------------------------------------------------------------ PFC and foot skating


def edge_pfc_transcription(joint3d: np.ndarray) -> float:
    """Stanford-TML/EDGE eval/eval_pfc.py for one sequence: 30 fps, z up, x 1e4."""
    dt = 1 / 30
    root_v = (joint3d[1:, 0, :] - joint3d[:-1, 0, :]) / dt
    root_a = (root_v[1:] - root_v[:-1]) / dt
    root_a[:, 2] = np.maximum(root_a[:, 2], 0)
    root_a = np.linalg.norm(root_a, axis=-1)
    root_a /= root_a.max()
    feet = joint3d[:, [7, 10, 8, 11]]
    foot_v = np.linalg.norm(feet[2:, :, [0, 1]] - feet[1:-1, :, [0, 1]], axis=-1)
    left = np.minimum(foot_v[:, 0], foot_v[:, 1])
    right = np.minimum(foot_v[:, 2], foot_v[:, 3])
    return float((left * right * root_a).mean() * 1e4)


def test_pfc_equals_edge_on_every_second_frame_of_60fps_y_up():
    rng = np.random.default_rng(6)
    at30_zup = rest_joints()[None] + np.cumsum(rng.normal(scale=0.02, size=(40, 24, 3)), axis=0)
    at60_yup = np.empty((79, 24, 3))
    at60_yup[::2] = np.stack([at30_zup[..., 0], at30_zup[..., 2], -at30_zup[..., 1]], axis=-1)
    at60_yup[1::2] = rng.normal(size=(39, 24, 3))  # frames PFC must ignore
    expected = edge_pfc_transcription(at30_zup)
    assert expected > 0
    assert pfc(at60_yup, fps=60.0, up_axis=1) == pytest.approx(expected, rel=1e-12)
    assert pfc(at30_zup, fps=30.0, up_axis=2) == pytest.approx(expected, rel=1e-12)


def test_pfc_zero_cases_and_short_input():
    still = np.tile(rest_joints(), (20, 1, 1))
    assert pfc(still, fps=60.0, up_axis=1) == 0.0
    with pytest.raises(ValueError, match="at least 3"):
        pfc(still[:4], fps=60.0, up_axis=1)  # 2 frames at 30 fps


def test_resample_joints_interpolates_non_integer_ratios():
    ramp = np.arange(51, dtype=float)[:, None, None] * np.ones((1, 2, 3))  # value = frame index at 50 fps
    out = resample_joints(ramp, fps=50.0, target_fps=30.0)
    np.testing.assert_allclose(out[:, 0, 0], np.arange(31) * 50 / 30)


def sliding_feet(speed: float, height: float, n_frames: int = 120, fps: float = 60.0) -> np.ndarray:
    """Rest skeleton, lowered so its lowest foot joint is at ``height``, gliding along x at ``speed`` m/s."""
    joints = rest_joints()
    joints = joints - np.array([0.0, joints[[10, 11], 1].min() - height, 0.0])
    t = np.arange(n_frames)[:, None, None] / fps
    return joints[None] + t * np.array([speed, 0.0, 0.0])


def test_foot_skating_known_cases():
    gliding = foot_skating(sliding_feet(1.0, 0.0), fps=60.0, up_axis=1, floor=0.0)
    assert gliding.ratio == 1.0 and gliding.contact_fraction == 1.0
    assert gliding.skate_speed == pytest.approx(1.0, rel=1e-9)
    slow = foot_skating(sliding_feet(0.3, 0.0), fps=60.0, up_axis=1, floor=0.0)
    assert slow.ratio == 0.0 and slow.skate_speed == pytest.approx(0.3, rel=1e-9)
    airborne = foot_skating(sliding_feet(1.0, 0.2), fps=60.0, up_axis=1, floor=0.0)
    assert airborne.ratio == 0.0 and airborne.contact_fraction == 0.0 and airborne.skate_speed == 0.0
    # floor=None finds the floor under the lifted feet.
    assert foot_skating(sliding_feet(1.0, 0.2), fps=60.0, up_axis=1).ratio == 1.0


def test_foot_skating_contact_needs_low_vertical_speed_when_asked():
    joints = sliding_feet(1.0, 0.0)
    joints[:, :, 1] += 0.02 * np.sin(np.arange(len(joints)) / 2.0)[:, None]  # +-2 cm bounce, ~0.6 m/s peak
    plain = foot_skating(joints, fps=60.0, up_axis=1)
    strict = foot_skating(joints, fps=60.0, up_axis=1, vertical_speed_threshold=0.3)
    assert strict.contact_fraction < plain.contact_fraction
    assert strict.ratio < plain.ratio

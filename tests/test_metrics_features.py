"""Kinetic and geometric features: vectorised code vs. a loop transcription of the reference, and conformance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aichoreo.metrics import extract_features, kinetic_features, manual_features, zero_start
from aichoreo.metrics.geometric import HL, HW, MANUAL_FEATURES, SW
from aichoreo.skeleton import AIST_FEATURE_NAMES, rest_joints


def smooth_motion(n_frames: int, seed: int, *, fps: float = 60.0) -> np.ndarray:
    """A plausible-ish dance: rest skeleton + smooth per-joint wiggles + a wandering root, (T, 24, 3)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None, None] / fps
    freq = rng.uniform(0.3, 3.0, size=(1, 24, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 24, 3))
    amp = rng.uniform(0.02, 0.25, size=(1, 24, 3))
    root = np.cumsum(rng.normal(scale=0.01, size=(n_frames, 1, 3)), axis=0)
    return rest_joints()[None] + amp * np.sin(2 * np.pi * freq * t + phase) + root + rng.uniform(-2, 2, size=3)


# ---------------------------------------------------------------------------------------------
# A slow, literal transcription of the reference definitions (google/aistplusplus_api
# features/kinetic.py, manual.py, utils.py), frame by frame, to check the vectorised code.
# ---------------------------------------------------------------------------------------------

def loop_kinetic(pos: np.ndarray, *, dt: float, up: int, variant: str) -> np.ndarray:
    n_frames, n_joints = pos.shape[:2]
    horizontal = [a for a in range(3) if a != up]
    out = []
    for j in range(n_joints):
        e_h = e_v = e_exp = 0.0
        for i in range(1, n_frames):
            total, n = np.zeros(3), 0
            for k in range(-2, 3):
                if i + k - 1 < 0 or i + k >= n_frames:
                    continue
                total += pos[i + k, j] - pos[i + k - 1, j]
                n += 1
            e_h += np.linalg.norm(total[horizontal] / (n * dt)) ** 2
            e_v += np.linalg.norm(total[[up]] / (n * dt)) ** 2
            acc, n = np.zeros(3), 0
            for k in range(-2, 3):
                if i + k - 1 < 0 or i + k + 1 >= n_frames:
                    continue
                v2 = (pos[i + k + 1, j] - pos[i + k, j]) / dt
                if variant == "reference":
                    v1 = pos[i + k, j] - pos[i + k - 1, j] / dt
                else:
                    v1 = (pos[i + k, j] - pos[i + k - 1, j]) / dt
                acc += (v2 - v1) / dt
                n += 1
            e_exp += np.linalg.norm(acc / n)
        out += [e_h / (n_frames - 1.0), e_v / (n_frames - 1.0), e_exp / (n_frames - 1.0)]
    out = np.array(out)
    return out.astype(np.float32).astype(np.float64) if variant == "reference" else out


def loop_manual(pos: np.ndarray, *, tpf: float, float32_mean: bool) -> np.ndarray:
    index = {name: i for i, name in enumerate(AIST_FEATURE_NAMES)}
    rows = []
    for f in range(1, len(pos)):
        cur, prev = pos[f], pos[f - 1]

        def at(name: str, frame: np.ndarray = cur) -> np.ndarray:
            fixed = {"zero": [0, 0, 0], "y_unit": [0, 1, 0], "minus_y_unit": [0, -1, 0]}
            if name in fixed:
                return np.array(fixed[name], dtype=float)
            if name == "y_min":
                return np.array([0.0, min(frame[:, 1]), 0.0])
            return frame[index[name]]

        row = []
        for kind, names, arg in MANUAL_FEATURES:
            p = [at(n) for n in names]
            with np.errstate(divide="ignore", invalid="ignore"):
                if kind == "move":
                    vel = p[2] - p[0] - (at(names[2], prev) - at(names[0], prev))
                    d = p[1] - p[0]
                    row.append(np.dot(vel, d) / np.linalg.norm(d) / tpf > arg)
                elif kind == "nmove":
                    vel = p[3] - p[0] - (at(names[3], prev) - at(names[0], prev))
                    n = np.cross(p[2] - p[0], p[1] - p[0])
                    row.append(np.dot(vel, n) / np.linalg.norm(n) / tpf > arg)
                elif kind == "plane":
                    n = np.cross(p[2] - p[0], p[1] - p[0])
                    row.append(np.dot(n, p[3] - p[0]) / np.linalg.norm(n) > arg)
                elif kind == "nplane":
                    n = p[1] - p[0]
                    row.append(np.dot(n, p[3] - p[2]) / np.linalg.norm(n) > arg)
                elif kind == "angle":
                    a, b = p[1] - p[0], p[3] - p[2]
                    deg = np.degrees(np.arccos(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
                    row.append(arg[0] < deg < arg[1])
                else:
                    row.append(np.linalg.norm(p[0] - at(names[0], prev)) / tpf > arg)
        rows.append(row)
    return np.array(rows, dtype=np.float32 if float32_mean else np.float64).mean(axis=0).astype(np.float64)


# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_frames, seed", [(3, 0), (4, 1), (7, 2), (45, 3)])
@pytest.mark.parametrize("up_axis", [1, 2])
def test_kinetic_equals_loop_transcription(n_frames, seed, up_axis):
    pos = smooth_motion(n_frames, seed)
    ref = kinetic_features(pos, fps=60.0, up_axis=up_axis, variant="reference")
    np.testing.assert_allclose(ref, loop_kinetic(pos, dt=1 / 60, up=up_axis, variant="reference"), rtol=2e-7)
    cor = kinetic_features(pos, fps=30.0, up_axis=up_axis, variant="corrected")
    np.testing.assert_allclose(cor, loop_kinetic(pos, dt=1 / 30, up=up_axis, variant="corrected"), rtol=1e-10)
    assert ref.shape == (72,) and ref.dtype == np.float64


@pytest.mark.parametrize("n_frames, seed", [(2, 0), (5, 1), (90, 2), (90, 3)])
def test_manual_equals_loop_transcription(n_frames, seed):
    pos = smooth_motion(n_frames, seed)
    ref = manual_features(pos, fps=60.0, variant="reference")
    np.testing.assert_array_equal(ref, loop_manual(pos, tpf=1 / 120, float32_mean=True))
    cor = manual_features(pos, fps=60.0, variant="corrected")
    np.testing.assert_array_equal(cor, loop_manual(pos, tpf=1 / 60, float32_mean=False))
    assert ref.shape == (32,)


def test_manual_features_vary_on_the_test_motions():
    # Guard against a transcription that agrees because every test is constantly 0 or 1.
    feats = extract_features([smooth_motion(90, s) for s in range(4)], "manual")
    assert 0.0 < feats.mean() < 1.0
    assert np.count_nonzero((feats > 0) & (feats < 1)) >= 5


def test_reference_constants():
    assert HL == pytest.approx(0.2568381, abs=1e-7)
    assert SW == pytest.approx(0.3908484, abs=1e-7)
    assert HW == pytest.approx(0.1192471, abs=1e-7)
    assert len(MANUAL_FEATURES) == 32


def test_kinetic_reference_quirk_measures_distance_from_origin():
    # A motionless joint at p: reference E_exp = |(0 - (p - 60 p)) * 60| = 3540 |p|; corrected = 0.
    pos = np.tile(np.array([[1.0, 2.0, 2.0]]), (10, 24, 1))
    ref = kinetic_features(pos, fps=60.0, variant="reference").reshape(24, 3)
    np.testing.assert_allclose(ref[:, 2], 3540.0 * 3.0, rtol=1e-6)
    np.testing.assert_array_equal(ref[:, :2], 0.0)
    np.testing.assert_allclose(kinetic_features(pos, fps=60.0, variant="corrected"), 0.0, atol=1e-9)


def test_kinetic_energy_of_uniform_motion():
    # Every joint moves at (3, 4, 0) m/s with y up: E_h = 9 m²/s², E_v = 16 m²/s², no acceleration.
    t = np.arange(20)[:, None, None] / 60.0
    pos = rest_joints()[None] + t * np.array([3.0, 4.0, 0.0])
    feats = kinetic_features(pos, fps=60.0, up_axis=1, variant="corrected").reshape(24, 3)
    np.testing.assert_allclose(feats[:, 0], 9.0, rtol=1e-9)
    np.testing.assert_allclose(feats[:, 1], 16.0, rtol=1e-9)
    np.testing.assert_allclose(feats[:, 2], 0.0, atol=1e-6)
    zup = kinetic_features(pos, fps=60.0, up_axis=2, variant="corrected").reshape(24, 3)
    np.testing.assert_allclose(zup[:, 0], 25.0, rtol=1e-9)  # x and y now both horizontal


def test_manual_features_are_rotation_consistent_across_up_axes():
    pos = smooth_motion(60, 7)
    z_up = np.stack([pos[..., 0], -pos[..., 2], pos[..., 1]], axis=-1)  # y-up -> z-up, det +1
    np.testing.assert_array_equal(manual_features(z_up, up_axis=2), manual_features(pos, up_axis=1))


def test_zero_start_moves_the_first_root_to_the_origin():
    pos = smooth_motion(30, 4)
    out = zero_start(pos)
    np.testing.assert_allclose(out[0, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(out - out[:, :1], pos - pos[:, :1], atol=1e-12)
    # Translation-invariant features do not change; the reference E_exp does.
    np.testing.assert_array_equal(manual_features(out), manual_features(pos))
    assert not np.allclose(kinetic_features(out)[2::3], kinetic_features(pos)[2::3])


def test_short_or_malformed_motions_raise():
    with pytest.raises(ValueError, match="at least 3"):
        kinetic_features(np.zeros((2, 24, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        manual_features(np.zeros((1, 24, 3)))
    with pytest.raises(ValueError, match=r"\(T, J, 3\)"):
        kinetic_features(np.zeros((10, 72)))
    with pytest.raises(ValueError, match="24 joints"):
        manual_features(np.zeros((10, 22, 3)))
    with pytest.raises(ValueError, match="NaN"):
        kinetic_features(np.full((10, 24, 3), np.nan))
    with pytest.raises(ValueError, match="variant"):
        kinetic_features(np.zeros((10, 24, 3)), variant="fixed")
    with pytest.raises(ValueError, match="kind"):
        extract_features([np.zeros((10, 24, 3))], "geometric")


def test_extract_features_stacks_rows():
    motions = [smooth_motion(40, s) for s in range(3)]
    k = extract_features(motions, "kinetic")
    g = extract_features(motions, "manual")
    assert k.shape == (3, 72) and g.shape == (3, 32)
    np.testing.assert_array_equal(k[1], kinetic_features(motions[1]))


def test_conformance_features(conformance):
    ref = json.loads((conformance / "metrics_reference.json").read_text())
    for name, expected in ref["features"].items():
        joints = np.load(conformance / "motions" / f"{name}.npy").astype(np.float64)
        np.testing.assert_allclose(kinetic_features(joints), expected["kinetic"], rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(manual_features(joints), expected["manual"], rtol=1e-9, atol=0, err_msg=name)

"""The Dance-with-Melody reader (synthetic malformed files; the real data where present) and its SMPL fit."""

from __future__ import annotations

import numpy as np
import pytest

from aichoreo.data.dwm import FOOT_MARKERS, FPS, GENRES, N_MARKERS, list_dwm, load_dwm, normalise_floor
from aichoreo.errors import InputError
from aichoreo.reconstruct.fit import fit_smpl, place_on_floor
from aichoreo.reconstruct.layouts import DWM23


def _write(path, **arrays):
    base = {"joints": np.zeros((10, 23, 3), np.float32), "fps": np.float32(25.0),
            "music_offset_s": np.float32(1.5), "genre": np.array("rumba")}  # fmt: skip
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def test_load_a_valid_file(tmp_path):
    joints = np.random.default_rng(0).normal(0, 1, (10, 23, 3)).astype(np.float32)
    path = _write(tmp_path / "DANCE_R_9.npz", joints=joints)
    (tmp_path / "DANCE_R_9.mp3").write_bytes(b"")
    dance = load_dwm(path)
    assert dance.name == "DANCE_R_9" and dance.genre == "rumba"
    assert dance.fps == 25.0 and dance.music_offset_s == 1.5 and dance.duration == 0.4
    np.testing.assert_array_equal(dance.joints, joints)
    assert not dance.joints.flags.writeable
    assert dance.music_path == tmp_path / "DANCE_R_9.mp3"
    assert load_dwm(_write(tmp_path / "alone.npz")).music_path is None


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"joints": None}, "missing array"),
        ({"joints": np.zeros((10, 17, 3), np.float32)}, r"expected \(T, 23, 3\)"),
        ({"joints": np.zeros((1, 23, 3), np.float32)}, "at least 2"),
        ({"joints": np.full((10, 23, 3), np.nan, np.float32)}, "finite"),
        ({"fps": np.float32(0.0)}, "fps"),
        ({"fps": np.zeros(2)}, "one value"),
        ({"music_offset_s": np.float32(np.inf)}, "music_offset_s"),
        ({"genre": np.array("hip-hop")}, "genre"),
    ],
)
def test_malformed_files_raise_input_error(tmp_path, arrays, message):
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message) as info:
        load_dwm(path)
    assert str(path) in str(info.value)


def test_unreadable_files_and_folders(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable npz"):
        load_dwm(tmp_path / "junk.npz")
    with pytest.raises(InputError, match="no such file"):
        load_dwm(tmp_path / "missing.npz")
    with pytest.raises(InputError, match="no such folder"):
        list_dwm(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Dance-with-Melody"):
        list_dwm(tmp_path / "empty")
    for name in ("DANCE_W_10", "DANCE_W_2", "DANCE_C_7"):
        _write(tmp_path / f"{name}.npz")
    assert [p.stem for p in list_dwm(tmp_path)] == ["DANCE_C_7", "DANCE_W_2", "DANCE_W_10", "junk"]


def test_normalise_floor_removes_a_drifting_floor():
    t = np.arange(750) / FPS  # 30 s
    joints = np.zeros((750, 23, 3), np.float32)
    drift = 0.01 * t  # 30 cm over the dance, as in the real captures
    joints[..., 1] = 1.0 + drift[:, None]
    joints[:, list(FOOT_MARKERS), 1] = (0.05 + drift)[:, None]
    joints[:, 10, 1] += 0.12 * (np.sin(2 * np.pi * 0.7 * t) > 0.5)  # a heel lifting now and then
    level = normalise_floor(joints)
    assert level.dtype == np.float32 and level.shape == joints.shape
    np.testing.assert_allclose(level[100:-100, 0, 1], 0.95, atol=0.01)
    assert np.abs(level[100:-100, list(FOOT_MARKERS), 1].min(axis=1)).max() < 0.01
    constant = normalise_floor(joints, window_s=None)
    assert np.ptp(constant[:, 0, 1]) == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="23"):
        normalise_floor(joints[:, :17])


# ----------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def dwm_dir(shared_data):
    folder = shared_data / "dance_with_melody"
    if not folder.is_dir():
        pytest.skip(f"no dance_with_melody folder under {shared_data}")
    return folder


def test_the_real_files_load(dwm_dir):
    files = list_dwm(dwm_dir)
    assert len(files) == 38
    genres = set()
    for path in files[::6]:
        dance = load_dwm(path)
        assert dance.joints.shape[1:] == (N_MARKERS, 3) and dance.fps == 25.0
        assert 35.0 < dance.duration < 120.0
        genres.add(dance.genre)
    assert genres <= set(GENRES) and len(genres) >= 2


def test_fit_of_a_real_dance_segment(dwm_dir):
    """200 frames (8 s) of a waltz: small marker error, an upright body on the floor, no flipped knees."""
    dance = load_dwm(dwm_dir / "DANCE_W_12.npz")
    markers = normalise_floor(dance.joints, fps=dance.fps)[300:500].astype(np.float64)
    result = place_on_floor(fit_smpl(markers, DWM23, fps=dance.fps, iterations=250))
    reliable = [DWM23.target_names.index(n) for n in (
        "pelvis", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_toe", "right_toe",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")]  # fmt: skip
    assert result.per_target_error[reliable].mean() < 0.03  # metres
    assert np.nanmax(result.per_joint_error) < 0.06
    assert 0.85 < result.scale < 1.1
    world = result.world_joints()
    # Upright (head well above the pelvis in every frame; this segment ends with a high kick,
    # so the ankles are not always below it) and on the floor.
    assert (world[:, 15, 1] > world[:, 0, 1] + 0.3).all()
    feet = world[:, [7, 8, 10, 11], 1].min(axis=1)
    assert np.median(feet) == pytest.approx(0.03 * result.scale, abs=0.005) and feet.min() > -0.03
    # Knees never bend backwards by more than a little; no frame-to-frame jumps of any joint.
    rot = result.motion.rotations.astype(np.float64)
    assert (rot[:, [4, 5], 2, 1] > -0.2).all()
    step = np.linalg.norm(np.diff(world, axis=0), axis=-1).max()
    marker_step = np.linalg.norm(np.diff(markers, axis=0), axis=-1).max()
    assert step < 1.5 * marker_step

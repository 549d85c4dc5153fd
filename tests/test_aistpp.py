"""AIST++ release layout: names, shipped splits, the fixture round trip, and every bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from aichoreo.data import aistpp
from aichoreo.data.aistpp import (
    AISTPP,
    COCO_JOINT_NAMES,
    DANCER_GENRES,
    GENRES,
    SequenceNameError,
    load_camera_mapping,
    load_cameras,
    load_ignore_list,
    load_keypoints2d,
    load_keypoints3d,
    load_motion,
    load_split,
    parse_sequence_name,
    shipped_split_path,
)
from aichoreo.data.fixtures import (
    DEFAULT_SEQUENCES,
    click_track,
    coco17_from_smpl,
    project_points,
    rig_cameras,
    write_aistpp_fixture,
)
from aichoreo.errors import InputError
from aichoreo.rotations import axis_angle_to_matrix
from aichoreo.skeleton import forward_kinematics_axis_angle

# The 10 music pieces of val and test, disjoint from train's 50 (reference.md §1).
VAL_TEST_MUSIC = {"mBR0", "mHO5", "mJB5", "mJS3", "mKR2", "mLH4", "mLO2", "mMH3", "mPO1", "mWA0"}
TRAIN_NAME = "gHO_sBM_cAll_d19_mHO3_ch09"
IGNORED_NAME = "gWA_sBM_cAll_d25_mWA1_ch04"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("aistpp")
    return write_aistpp_fixture(base / "annotations", music_dir=base / "music", seed=0)


@pytest.fixture(scope="module")
def dataset(tree):
    return AISTPP(tree.root, music_dir=tree.music_dir)


# ------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name, genre, level, music, bpm",
    [
        ("gBR_sBM_cAll_d04_mBR0_ch01", "Break", "basic", "mBR0", 80.0),
        ("gHO_sBM_cAll_d19_mHO3_ch09", "House", "basic", "mHO3", 125.0),  # House: 110 + 5k
        ("gHO_sFM_cAll_d20_mHO5_ch13", "House", "advanced", "mHO5", 135.0),
        ("gJB_sFM_cAll_d07_mJB1_ch02", "Ballet Jazz", "advanced", "mJB1", 90.0),
        ("gKR_sBM_cAll_d28_mKR2_ch02", "Krump", "basic", "mKR2", 100.0),
        ("gLH_sBM_cAll_d17_mLH4_ch02", "LA-style Hip-hop", "basic", "mLH4", 120.0),
        ("gWA_sBM_cAll_d27_mWA5_ch08", "Waack", "basic", "mWA5", 130.0),
    ],
)
def test_parse_real_names(name, genre, level, music, bpm):
    seq = parse_sequence_name(name)
    assert (seq.genre, seq.level, seq.music_id, seq.camera) == (genre, level, music, "cAll")
    assert seq.tempo_bpm == bpm
    assert seq.genre_code == name[1:3] and seq.dancer == name.split("_")[3]
    assert seq.choreography == name.split("_")[5]


def test_video_names_round_trip():
    seq = parse_sequence_name("gBR_sBM_c01_d04_mBR0_ch01")
    assert seq.camera == "c01" and seq.situation == "sBM"
    assert seq.annotation_name == "gBR_sBM_cAll_d04_mBR0_ch01"
    assert parse_sequence_name(seq.annotation_name).video_name("c09") == "gBR_sBM_c09_d04_mBR0_ch01"


def test_dancer_table_has_three_dancers_per_genre():
    assert len(DANCER_GENRES) == 30 and set(DANCER_GENRES.values()) == set(GENRES)
    assert all(list(DANCER_GENRES.values()).count(g) == 3 for g in GENRES)
    assert DANCER_GENRES["d04"] == "BR" and DANCER_GENRES["d01"] == "JS" and DANCER_GENRES["d30"] == "KR"


@pytest.mark.parametrize(
    "name, problem",
    [
        ("gBR_sBM_cAll_d04_mBR0", "5 fields"),
        ("gXX_sBM_cAll_d04_mBR0_ch01", "unknown genre 'gXX'"),
        ("gBR_sGR_cAll_d04_mBR0_ch01", "unknown situation 'sGR'"),
        ("gBR_sBM_c10_d04_mBR0_ch01", "unknown camera 'c10'"),
        ("gBR_sBM_cAll_d31_mBR0_ch01", "unknown dancer 'd31'"),
        ("gBR_sBM_cAll_d07_mBR0_ch01", "dancer d07 dances Ballet Jazz"),
        ("gBR_sBM_cAll_d04_mBR6_ch01", "unknown music id 'mBR6'"),
        ("gBR_sBM_cAll_d04_mPO0_ch01", "music mPO0 is not Break music"),
        ("gBR_sBM_cAll_d04_mBR0_c01", "unknown choreography 'c01'"),
    ],
)
def test_bad_names(name, problem):
    with pytest.raises(SequenceNameError) as info:
        parse_sequence_name(name)
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert name in str(info.value) and problem in str(info.value)


# ------------------------------------------------------------------------------ shipped lists


def test_shipped_splits_match_the_paper():
    train, test, ignored = load_split("train"), load_split("test"), load_ignore_list()
    assert (len(train), len(set(train)), len(test), len(ignored)) == (980, 980, 20, 45)
    assert sum(n in set(train) for n in ignored) == 28
    assert not set(ignored) & set(test)
    assert len(set(train) - set(ignored)) == 952  # mint #51: the effective train set
    seqs = [parse_sequence_name(n) for n in train]
    assert sum(s.situation == "sBM" for s in seqs) == 800 and sum(s.situation == "sFM" for s in seqs) == 180
    assert len({s.music_id for s in seqs}) == 50 and not {s.music_id for s in seqs} & VAL_TEST_MUSIC
    test_seqs = [parse_sequence_name(n) for n in test]
    assert {s.music_id for s in test_seqs} == VAL_TEST_MUSIC
    assert {(s.situation, s.choreography) for s in test_seqs} == {("sBM", "ch02")}


def test_shipped_lists_are_the_shared_copies(shared_data):
    for name in ("crossmodal_train.txt", "crossmodal_test.txt", "ignore_list.txt", "LICENSE", "NOTICE.md"):
        assert shipped_split_path(name).read_bytes() == (shared_data / "aistpp_splits" / name).read_bytes(), name


def test_val_is_not_shipped():
    with pytest.raises(InputError, match="crossmodal_val.txt: not shipped"):
        load_split("val")
    with pytest.raises(InputError, match="unknown split 'valid'"):
        load_split("valid")


def test_split_files_are_parsed_defensively(tmp_path):
    (tmp_path / "splits").mkdir()
    text = "\r\n  gBR_sBM_cAll_d04_mBR0_ch01 \r\n\r\ngKR_sBM_cAll_d28_mKR2_ch02\n\ngKR_sBM_cAll_d28_mKR2_ch02\t"
    (tmp_path / "splits" / "crossmodal_val.txt").write_text(text)  # no final newline, a repeat
    assert load_split("val", tmp_path) == ["gBR_sBM_cAll_d04_mBR0_ch01", "gKR_sBM_cAll_d28_mKR2_ch02"]
    (tmp_path / "splits" / "crossmodal_test.txt").write_text("gBR_sBM_cAll_d04_mBR0_ch01\nnot_a_name\n")
    with pytest.raises(InputError, match=r"crossmodal_test.txt: entry 2: 'not_a_name' is not an AIST\+\+"):
        load_split("test", tmp_path)


# ------------------------------------------------------------------------------ fixture round trip


def test_fixture_lists(tree, dataset):
    assert set(tree.names) == set(DEFAULT_SEQUENCES) and tree.ignored == (IGNORED_NAME,)
    assert dataset.sequence_names() == sorted(set(DEFAULT_SEQUENCES) - {IGNORED_NAME})
    assert IGNORED_NAME in dataset.sequence_names(exclude_ignored=False)
    train = dataset.sequence_names("train")
    assert len(train) == 3 and TRAIN_NAME in train and IGNORED_NAME not in train
    assert dataset.sequence_names("val") == ["gBR_sBM_cAll_d04_mBR0_ch01"]
    assert dataset.sequence_names("test") == ["gKR_sBM_cAll_d28_mKR2_ch02"]
    assert load_camera_mapping(tree.root / "cameras" / "mapping.txt") == {n: "setting1" for n in tree.names}


def test_fixture_motion_files(tree):
    m = load_motion(tree.root / "motions" / f"{TRAIN_NAME}.pkl")
    assert m["smpl_poses"].shape == (360, 72) and m["smpl_poses"].dtype == np.float32
    assert m["smpl_trans"].shape == (360, 3) and m["smpl_scaling"].shape == (1,)
    assert 93 <= m["smpl_scaling"][0] <= 97 and np.isfinite(m["smpl_loss"])
    assert np.abs(m["smpl_poses"]).max() < 1.6  # small joint rotations around a standing pose
    # Centimetres in the file: transl = trans / scaling stands about 1.2 m above SMPL's pelvis offset.
    assert 100 < m["smpl_trans"][:, 1].mean() < 130
    with open(tree.root / "motions" / f"{TRAIN_NAME}.pkl", "rb") as f:
        raw = pickle.load(f)
    assert set(raw) == {"smpl_poses", "smpl_trans", "smpl_scaling", "smpl_loss"}


def test_fixture_joints_stand_on_the_floor(dataset):
    for name in dataset.sequence_names():
        joints = dataset.joints(name)
        assert joints.shape == (360, 24, 3) and joints.dtype == np.float32 and np.isfinite(joints).all()
        lowest, highest = joints[..., 1].argmin(axis=1), joints[..., 1].argmax(axis=1)
        assert set(lowest.tolist()) <= {7, 8, 10, 11}, name  # ankles or feet
        assert set(highest.tolist()) == {15}, name  # the head
        assert np.allclose(joints[..., 1].min(axis=1), 0.03, atol=1e-4)  # feet on the floor
        assert 1.45 < joints[:, 15, 1].mean() < 1.7  # an adult's head height, metres
        assert dataset.motion(name).fps == 60.0


def test_fixture_bounces_on_the_beat(dataset):
    seq = parse_sequence_name(TRAIN_NAME)
    pelvis = dataset.joints(TRAIN_NAME)[:, 0, 1]
    minima = [i for i in range(1, len(pelvis) - 1) if pelvis[i] < pelvis[i - 1] and pelvis[i] <= pelvis[i + 1]]
    assert all(pelvis[i] < pelvis.mean() for i in minima)  # no shallow dips between beats
    period = 60.0 * 60.0 / seq.tempo_bpm  # frames per beat: 28.8 at 125 BPM
    assert len(minima) == pytest.approx(len(pelvis) / period, abs=1.5)
    off_beat = [abs(i / period - round(i / period)) * period for i in minima]
    assert max(off_beat) <= 2.0  # lowest pelvis within 2 frames of every beat


def test_fixture_keypoints_follow_the_body(tree, dataset):
    m = load_motion(tree.root / "motions" / f"{TRAIN_NAME}.pkl")
    joints = forward_kinematics_axis_angle(m["smpl_poses"].astype(np.float64), m["smpl_trans"] / m["smpl_scaling"])
    optim = dataset.keypoints3d(TRAIN_NAME)
    raw = dataset.keypoints3d(TRAIN_NAME, optimized=False)
    assert optim.shape == raw.shape == (360, 17, 3) and optim.dtype == np.float32 and np.isfinite(optim).all()
    assert 0 < np.isnan(raw).any(axis=-1).sum() < 60  # a few failed triangulations
    assert np.allclose(optim, coco17_from_smpl(joints) * m["smpl_scaling"][0], atol=1e-2)  # cm
    assert np.nanmax(np.abs(raw - optim)) < 6.0  # triangulation noise, cm
    # COCO order: the nose in front of and above the shoulders' midpoint, left of the body at +x.
    nose, l_sh, r_sh = optim[0, 0], optim[0, COCO_JOINT_NAMES.index("left_shoulder")], optim[0, 6]
    assert nose[1] > (l_sh[1] + r_sh[1]) / 2


def test_fixture_keypoints2d_are_projections(dataset):
    cv2 = pytest.importorskip("cv2")
    kp = dataset.keypoints2d(TRAIN_NAME)
    assert kp.keypoints.shape == (9, 360, 17, 3) and kp.keypoints.dtype == np.float32
    assert kp.det_scores.shape == (9, 360) and kp.timestamps.shape == (360,) and kp.timestamps.dtype == np.int64
    assert np.isnan(kp.keypoints).any() and (kp.det_scores == 0).sum() == 1  # one missed detection
    points = dataset.keypoints3d(TRAIN_NAME).reshape(-1, 3).astype(np.float64)
    cameras = dataset.cameras(TRAIN_NAME)
    for v, cam in enumerate(cameras):
        expected, _ = cv2.projectPoints(points, cam["rotation"], cam["translation"], cam["matrix"], cam["distortions"])
        expected = expected.reshape(360, 17, 2)
        assert np.allclose(project_points(points.reshape(360, 17, 3), cam), expected, atol=1e-6)
        err = np.linalg.norm(kp.keypoints[v, ..., :2] - expected, axis=-1)
        assert np.nanmedian(err) < 2.0 and np.nanmax(err) < 8.0, cam["name"]
        seen = kp.keypoints[v, ..., 2]
        assert np.nanmin(seen) >= 0.7  # the whole body is in every frame


def test_fixture_cameras_form_the_rig(dataset):
    cameras = dataset.cameras(TRAIN_NAME)
    assert [c["name"] for c in cameras] == [f"c{i:02d}" for i in range(1, 10)]
    centres = []
    for c in cameras:
        assert c["size"].tolist() == [1920, 1080] and c["matrix"][0, 0] == 1600 and c["distortions"].shape == (5,)
        r = axis_angle_to_matrix(c["rotation"])  # world -> camera
        centre = -r.T @ c["translation"]
        centres.append(centre)
        axis = r[2]  # optical axis in world coordinates passes through the dancer's middle
        to_target = np.array([0.0, 90.0, 0.0]) - centre
        assert np.allclose(np.cross(axis, to_target), 0, atol=1e-6) and axis @ to_target > 0
        assert r[1] @ np.array([0.0, 1.0, 0.0]) < 0  # image y points down
    centres = np.array(centres)
    assert np.allclose(np.hypot(centres[:, 0], centres[:, 2]), 500.0)
    assert np.allclose(centres[:, 1], [180.0] * 8 + [170.0])
    angles = np.degrees(np.arctan2(centres[:8, 0], centres[:8, 2]))
    assert np.allclose(np.diff(np.unwrap(np.radians(angles))), np.radians(-45.0))
    assert np.allclose(centres[0], [0, 180, 500])  # c01 in front of the dancer (+z)


def test_fixture_music_is_a_click_track_at_the_tempo(tree, dataset):
    soundfile = pytest.importorskip("soundfile")
    y, sr = soundfile.read(dataset.music_path(TRAIN_NAME))
    assert sr == 30720 and y.ndim == 1 and len(y) == round((360 / 60 + 1.0) * sr)
    loud = np.flatnonzero(np.abs(y) > 0.2)
    onsets = loud[np.concatenate([[True], np.diff(loud) > 0.1 * sr])]
    beats = np.arange(len(onsets)) * 60.0 / 125.0 * sr
    assert len(onsets) == int(7.0 / (60 / 125)) + 1 and np.abs(onsets - beats).max() < 0.0005 * sr


def test_fixture_is_deterministic(tmp_path, tree):
    again = write_aistpp_fixture(tmp_path / "a", sequences=[TRAIN_NAME], seed=0)
    other = write_aistpp_fixture(tmp_path / "b", sequences=[TRAIN_NAME], seed=1)
    same = (tree.root / "motions" / f"{TRAIN_NAME}.pkl").read_bytes()
    assert (again.root / "motions" / f"{TRAIN_NAME}.pkl").read_bytes() == same
    assert (other.root / "motions" / f"{TRAIN_NAME}.pkl").read_bytes() != same
    assert again.splits["train"] == (TRAIN_NAME,)  # a plain list takes the official split


def test_click_track_length_and_peaks():
    y = click_track(2.0, 120.0, 8000)
    assert y.shape == (16000,) and y.dtype == np.float32
    assert 0.85 < np.abs(y[:400]).max() <= 0.9 and 0.55 < np.abs(y[4000:4400]).max() <= 0.6


def test_rig_without_rng_has_no_distortion():
    assert all(not c["distortions"].any() for c in rig_cameras())


# ------------------------------------------------------------------------------ bad input


def _motion(n=10, **override):
    data = {
        "smpl_poses": np.zeros((n, 72), np.float32),
        "smpl_trans": np.zeros((n, 3)),
        "smpl_scaling": np.array([95.0]),
        "smpl_loss": 1.0,
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def _dump(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize(
    "data, problem",
    [
        (_motion(smpl_trans=None), "missing key 'smpl_trans'"),
        (_motion(smpl_poses=np.zeros((10, 71))), "smpl_poses has shape (10, 71), expected (N, 72)"),
        (_motion(smpl_trans=np.zeros((9, 3))), "frame counts differ: smpl_poses has 10, smpl_trans has 9"),
        (_motion(smpl_trans=np.full((10, 3), np.nan)), "smpl_trans has non-finite"),
        (_motion(smpl_scaling=np.array([0.0])), "smpl_scaling is 0.0"),
        (_motion(smpl_scaling=np.ones(3)), "smpl_scaling has shape (3,), expected (1,)"),
        (_motion(smpl_poses=np.array([["a"] * 72] * 10)), "smpl_poses is not a numeric array"),
        ([1, 2, 3], "holds a list, expected a dict"),
    ],
)
def test_bad_motion_files(tmp_path, data, problem):
    path = _dump(tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", data)
    with pytest.raises(InputError) as info:
        load_motion(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_motion_accepts_24x3_poses_and_scalar_scaling(tmp_path):
    path = _dump(tmp_path / "m.pkl", _motion(smpl_poses=np.zeros((10, 24, 3)), smpl_scaling=95.0, smpl_loss=None))
    m = load_motion(path)
    assert m["smpl_poses"].shape == (10, 72) and m["smpl_scaling"].tolist() == [95.0] and np.isnan(m["smpl_loss"])


def test_unreadable_pickles(tmp_path, tree):
    good = (tree.root / "motions" / f"{TRAIN_NAME}.pkl").read_bytes()
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(good[: len(good) // 2])
    text = tmp_path / "text.pkl"
    text.write_text("smpl_poses: not a pickle")
    cases = [(truncated, "ends early"), (text, "not a readable pickle"), (tmp_path / "gone.pkl", "no such file")]
    for path, problem in cases:
        with pytest.raises(InputError) as info:
            load_motion(path)
        assert str(path) in str(info.value) and problem in str(info.value)


def test_pickles_that_run_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = _dump(tmp_path / "evil.pkl", {"smpl_poses": Evil()})
    with pytest.raises(InputError, match="refers to builtins.print"):
        load_motion(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_every_pickle_protocol_loads(tmp_path, protocol):
    path = _dump(tmp_path / "m.pkl", _motion(smpl_poses=np.full((10, 72), 0.1, np.float32)), protocol)
    assert np.allclose(load_motion(path)["smpl_poses"], 0.1)


def test_bad_keypoint_files(tmp_path):
    n = 8
    good2d = {"keypoints2d": np.zeros((9, n, 17, 3)), "det_scores": np.ones((9, n)), "timestamps": np.arange(n)}
    cases = [
        (dict(good2d, det_scores=np.ones((8, n))), "view counts differ: keypoints2d has 9, det_scores has 8"),
        (dict(good2d, timestamps=np.arange(n + 1)), "timestamps has 9"),
        (dict(good2d, keypoints2d=np.zeros((9, n, 25, 3))), "has shape (9, 8, 25, 3), expected (V, N, 17, 3)"),
        (dict(good2d, keypoints2d=np.full((9, n, 17, 3), np.inf)), "keypoints2d has infinite values"),
        ({"keypoints2d": [], "bboxes": [], "timestamps": []}, "whole-body keypoints"),
    ]
    for data, problem in cases:
        path = _dump(tmp_path / "k2d.pkl", data)
        with pytest.raises(InputError) as info:
            load_keypoints2d(path)
        assert str(path) in str(info.value) and problem in str(info.value)
    nan_ok = dict(good2d, keypoints2d=np.full((9, n, 17, 3), np.nan))
    assert np.isnan(load_keypoints2d(_dump(tmp_path / "k2d.pkl", nan_ok)).keypoints).all()

    with_nan = np.zeros((n, 17, 3))
    with_nan[3, 4] = np.nan
    path = _dump(tmp_path / "k3d.pkl", {"keypoints3d": with_nan, "keypoints3d_optim": with_nan})
    assert np.isnan(load_keypoints3d(path, optimized=False)).sum() == 3  # raw triangulation: NaN allowed
    with pytest.raises(InputError, match=r"k3d.pkl: keypoints3d_optim has non-finite .* index \(3, 4, 0\)"):
        load_keypoints3d(path)
    short = {"keypoints3d": np.zeros((n, 17, 3)), "keypoints3d_optim": np.zeros((n - 1, 17, 3))}
    path = _dump(tmp_path / "k3d.pkl", short)
    with pytest.raises(InputError, match="frame counts differ"):
        load_keypoints3d(path)
    path = _dump(tmp_path / "k3d.pkl", {"keypoints3d": np.zeros((n, 17, 3))})
    with pytest.raises(InputError, match="k3d.pkl: missing key 'keypoints3d_optim'"):
        load_keypoints3d(path)


def _camera_json(tmp_path, mutate):
    cameras = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()} for c in rig_cameras()]
    mutate(cameras)
    path = tmp_path / "setting1.json"
    path.write_text(json.dumps(cameras))
    return path


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda cams: cams[2].pop("rotation"), "camera c03 is missing field 'rotation'"),
        (lambda cams: cams[0].update(matrix=[[1, 0, 9], [0, 1, 5]]), "'matrix' has shape (2, 3), expected (3, 3)"),
        (lambda cams: cams[1].update(translation=[0, 1]), "c02 field 'translation' has shape (2,), expected (3,)"),
        (lambda cams: cams[3].pop("name"), "camera entry 4 is missing field 'name'"),
        (lambda cams: cams[1].update(distortions=[0, 0, 0]), "field 'distortions' has shape (3,), expected (5,)"),
        (lambda cams: cams[4].update(size=[1920, -1]), "field 'size' is [1920.0, -1.0]"),
        (lambda cams: cams[5].update(name="c01"), "camera names repeat"),
        (lambda cams: cams.clear(), "expected a non-empty JSON list"),
    ],
)
def test_bad_camera_files(tmp_path, mutate, problem):
    path = _camera_json(tmp_path, mutate)
    with pytest.raises(InputError) as info:
        load_cameras(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_camera_json_and_mapping_syntax(tmp_path):
    path = tmp_path / "setting1.json"
    path.write_text('[{"name": "c01",')
    with pytest.raises(InputError, match="setting1.json: not valid JSON"):
        load_cameras(path)
    with pytest.raises(InputError, match="setting9.json: no such file"):
        load_cameras(tmp_path / "setting9.json")
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("gBR_sBM_cAll_d04_mBR0_ch01 setting1\ngBR_sBM_cAll_d04_mBR0_ch02\n")
    with pytest.raises(InputError, match="mapping.txt: line 2 has 1 fields"):
        load_camera_mapping(mapping)


def test_not_an_aistpp_folder(tmp_path, tree):
    with pytest.raises(InputError, match="no motions/"):
        AISTPP(tmp_path)
    with pytest.raises(InputError, match="holds .pkl files itself, so pass the folder above it"):
        AISTPP(tree.root / "motions")
    with pytest.raises(InputError, match="no such folder"):
        AISTPP(tmp_path / "nowhere")
    with pytest.raises(InputError, match="music.*no such folder"):
        AISTPP(tree.root, music_dir=tmp_path / "music")


def test_missing_parts_of_a_download(tmp_path, tree):
    write_aistpp_fixture(tmp_path, sequences={TRAIN_NAME: "train"}, n_frames=4)
    for sub in ("keypoints2d", "splits"):
        for f in (tmp_path / sub).iterdir():
            f.unlink()
        (tmp_path / sub).rmdir()
    (tmp_path / "ignore_list.txt").unlink()
    data = AISTPP(tmp_path)  # no music folder
    with pytest.raises(InputError, match="keypoints2d: no such folder: this AIST\\+\\+ download lacks keypoints2d/"):
        data.keypoints2d(TRAIN_NAME)
    with pytest.raises(InputError, match=r"mHO3.wav: no music folder given"):
        data.music_path(TRAIN_NAME)
    with pytest.raises(InputError, match=r"gBR_sBM_cAll_d04_mBR0_ch01.pkl: no such file"):
        data.motion("gBR_sBM_cAll_d04_mBR0_ch01")
    with pytest.raises(InputError, match="video name; annotations are named with cAll"):
        data.motion("gHO_sBM_c01_d19_mHO3_ch09")
    with pytest.raises(InputError, match=r"mapping.txt: has no camera setting for gBR_sBM"):
        data.cameras("gBR_sBM_cAll_d04_mBR0_ch01")
    # Without splits/ the shipped lists apply: 979 of 980 train names are absent here.
    with pytest.raises(InputError, match="lacks 979 of the 980 'train' sequences"):
        data.sequence_names("train")
    assert data.sequence_names("train", on_missing="skip") == [TRAIN_NAME]
    with pytest.raises(InputError, match="crossmodal_val.txt: not shipped"):
        data.sequence_names("val")
    assert len(data.ignored) == 45  # the shipped ignore list stands in
    music = AISTPP(tree.root, music_dir=tmp_path)
    with pytest.raises(InputError, match=r"mHO3.wav: no such file \(nor .mp3 or .flac\)"):
        music.music_path(TRAIN_NAME)


def test_music_found_in_other_formats(tmp_path, tree):
    (tmp_path / "mHO3.flac").write_bytes(b"")
    assert AISTPP(tree.root, music_dir=tmp_path).music_path(TRAIN_NAME) == tmp_path / "mHO3.flac"


def test_module_exports_exist():
    assert all(hasattr(aistpp, name) for name in aistpp.__all__)


def test_docs_example_runs_on_the_fixture(tree):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "aistpp.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    example = example.replace('"~/data/aist_plusplus_final"', repr(str(tree.root)))
    example = example.replace('"~/data/aist_music"', repr(str(tree.music_dir)))
    scope: dict = {}
    exec(compile(example, "docs/aistpp.md", "exec"), scope)
    assert scope["joints"].shape == (tree.n_frames, 24, 3) and scope["seq"].tempo_bpm > 0


def test_motion_pickle_with_its_own_frame_rate(tmp_path):
    # `aichoreo fit` may write an 'fps' key; AIST++ files have none and are 60 fps.
    from aichoreo.data.aistpp import load_motion_smpl

    data = {"smpl_poses": np.zeros((5, 72), np.float32), "smpl_trans": np.zeros((5, 3)),
            "smpl_scaling": np.ones(1), "fps": 25.0}
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(data))
    assert load_motion_smpl(tmp_path / "a.pkl").fps == 25.0
    del data["fps"]
    (tmp_path / "b.pkl").write_bytes(pickle.dumps(data))
    assert load_motion_smpl(tmp_path / "b.pkl").fps == 60.0
    data["fps"] = -1
    (tmp_path / "c.pkl").write_bytes(pickle.dumps(data))
    with pytest.raises(InputError, match="positive frame rate"):
        load_motion_smpl(tmp_path / "c.pkl")

"""File-to-file reconstruction (AIST++ layouts in and out) and fitting of joints files; bad input."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("aniposelib")
pytest.importorskip("cv2")

from aichoreo.data.aistpp import load_keypoints3d, load_motion, load_motion_smpl  # noqa: E402
from aichoreo.data.fixtures import coco17_from_smpl, write_aistpp_fixture  # noqa: E402
from aichoreo.errors import InputError  # noqa: E402
from aichoreo.reconstruct.pipeline import fit_joints_file, reconstruct  # noqa: E402
from aichoreo.skeleton import forward_kinematics_axis_angle  # noqa: E402

NAME = "gBR_sBM_cAll_d04_mBR0_ch01"
FIT_STEPS = 150  # enough for a 48-frame clip that starts near its answer


@pytest.fixture(scope="module")
def aist(tmp_path_factory):
    """A one-sequence AIST++ tree (48 frames, 9 cameras, 1 px noise, a lost view in one frame)."""
    root = tmp_path_factory.mktemp("aist")
    write_aistpp_fixture(root, sequences={NAME: "val"}, n_frames=48, seed=3)
    return root


@pytest.fixture(scope="module")
def reconstructed(aist, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    written = reconstruct(aist / "keypoints2d" / f"{NAME}.pkl", aist / "cameras" / "setting1.json", out,
                          fit_iterations=FIT_STEPS, progress=False)  # fmt: skip
    return out, written


def _motion_joints_cm(path):
    m = load_motion(path)
    return forward_kinematics_axis_angle(m["smpl_poses"].astype(np.float64),
                                         m["smpl_trans"] / m["smpl_scaling"][0]) * m["smpl_scaling"][0]  # fmt: skip


def test_reconstruct_writes_aistpp_files_close_to_the_truth(aist, reconstructed):
    out, written = reconstructed
    assert written["keypoints3d"] == out / f"{NAME}_keypoints3d.pkl"
    assert written["motion"] == out / f"{NAME}_motion.pkl"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{NAME}_keypoints3d.pkl", f"{NAME}_motion.pkl"])

    truth = load_keypoints3d(aist / "keypoints3d" / f"{NAME}.pkl", optimized=True)  # clean COCO, cm
    optim = load_keypoints3d(written["keypoints3d"], optimized=True)
    raw = load_keypoints3d(written["keypoints3d"], optimized=False)
    assert optim.shape == raw.shape == (48, 17, 3)
    assert np.linalg.norm(raw - truth, axis=-1)[np.isfinite(raw).all(-1)].mean() < 1.0  # cm
    assert np.linalg.norm(optim - truth, axis=-1).mean() < 1.0

    # The motion: AIST++ units (cm) and scale convention, body joints within a few cm.
    motion = load_motion(written["motion"])
    assert 85.0 < motion["smpl_scaling"][0] < 105.0
    fitted = _motion_joints_cm(written["motion"])
    true = _motion_joints_cm(aist / "motions" / f"{NAME}.pkl")
    body = [1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21]
    assert np.linalg.norm(fitted[:, body] - true[:, body], axis=-1).mean() < 3.0
    assert np.linalg.norm(coco17_from_smpl(fitted)[:, 5:] - truth[:, 5:], axis=-1).mean() < 3.0
    assert len(load_motion_smpl(written["motion"])) == 48

    summary = written["summary"]
    assert summary["frames"] == 48 and summary["views"] == 9
    assert 0.5 < summary["reprojection_error_px_mean"] < 3.0
    assert summary["triangulated_fraction"] > 0.99
    assert summary["fit_error_m"] < 0.03
    json.dumps(summary)  # plain types, ready for a report


def test_camera_view_mismatch_and_bad_keypoint_files(aist, tmp_path):
    kp_path, cam_path = aist / "keypoints2d" / f"{NAME}.pkl", aist / "cameras" / "setting1.json"
    eight = tmp_path / "eight.json"
    eight.write_text(json.dumps(json.loads(cam_path.read_text())[:8]))
    with pytest.raises(InputError, match="has 9 views but .*eight.json has 8 cameras"):
        reconstruct(kp_path, eight, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    data = pickle.loads(kp_path.read_bytes())

    def write(name, **changes):
        path = tmp_path / name
        path.write_bytes(pickle.dumps({**data, **changes}))
        return path

    lonely = data["keypoints2d"].copy()
    lonely[1:] = np.nan  # only the first view sees anything
    with pytest.raises(InputError, match="only 1 view"):
        reconstruct(write("lonely.pkl", keypoints2d=lonely), cam_path, tmp_path / "o", progress=False)
    broken = data["keypoints2d"].copy()
    broken[0, 0, 0, 0] = np.inf
    with pytest.raises(InputError, match="infinite"):
        reconstruct(write("inf.pkl", keypoints2d=broken), cam_path, tmp_path / "o", progress=False)
    with pytest.raises(InputError, match="joints per frame"):
        reconstruct(write("body25.pkl", keypoints2d=np.zeros((9, 4, 25, 3))), cam_path, tmp_path / "o",
                    progress=False)  # fmt: skip
    missing = tmp_path / "nokey.pkl"
    missing.write_bytes(pickle.dumps({"det_scores": data["det_scores"]}))
    with pytest.raises(InputError, match="missing key 'keypoints2d'"):
        reconstruct(missing, cam_path, tmp_path / "o", progress=False)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"keypoints2d": print}))
    with pytest.raises(InputError, match="not a readable pickle"):
        reconstruct(tmp_path / "evil.pkl", cam_path, tmp_path / "o", progress=False)


def test_empty_view_and_one_frame_fall_back(aist, tmp_path, caplog):
    kp_path, cam_path = aist / "keypoints2d" / f"{NAME}.pkl", aist / "cameras" / "setting1.json"
    data = pickle.loads(kp_path.read_bytes())
    kp = data["keypoints2d"].copy()
    kp[2] = np.nan  # c03 detected nobody
    path = tmp_path / "one.pkl"
    path.write_bytes(pickle.dumps({**data, "keypoints2d": kp[:, :1]}))
    with caplog.at_level("WARNING"):
        written = reconstruct(path, cam_path, tmp_path / "out", fit_iterations=FIT_STEPS, progress=False)
    assert "c03" in caplog.text
    assert written["summary"]["views_without_detections"] == ["c03"]
    out = pickle.loads(written["keypoints3d"].read_bytes())
    assert out["keypoints3d"].shape == (1, 17, 3)
    np.testing.assert_array_equal(out["keypoints3d"], out["keypoints3d_optim"])  # nothing to smooth
    truth = load_keypoints3d(aist / "keypoints3d" / f"{NAME}.pkl")[:1]
    assert np.linalg.norm(out["keypoints3d"] - truth, axis=-1).mean() < 1.5
    assert load_motion(written["motion"])["smpl_poses"].shape == (1, 72)


def _smpl_sequence(n_frames: int, fps: float):
    t = np.arange(n_frames) / fps
    poses = np.zeros((n_frames, 24, 3))
    poses[:, 0, 1] = 0.5 * t
    poses[:, [16, 17], 2] = [-1.2, 1.2]
    poses[:, [4, 5], 0] = 0.3 + 0.2 * np.sin(2 * np.pi * t)[:, None]
    poses[:, 18, 1] = -0.6
    trans = np.stack([0.2 * t, np.zeros_like(t), np.zeros_like(t)], axis=1)
    joints = forward_kinematics_axis_angle(poses, trans)
    return joints - [0.0, joints[..., 1].min() - 0.03, 0.0]


def test_fit_joints_file_npy_in_centimetres(tmp_path):
    joints = _smpl_sequence(40, 30.0)
    np.save(tmp_path / "j.npy", joints * 100.0)
    summary = fit_joints_file(tmp_path / "j.npy", "smpl24", 30.0, tmp_path / "m.pkl", units="cm", floor="none",
                              iterations=200, progress=False)  # fmt: skip
    assert summary["frames"] == 40 and summary["fps"] == 30.0 and summary["out_fps"] == 60.0
    assert summary["mean_error_m"] < 0.01 and 95 < summary["smpl_scaling"] < 105
    assert set(summary["per_joint_error_m"]) == {"pelvis", *summary["per_joint_error_m"]}
    motion = load_motion(tmp_path / "m.pkl")
    assert motion["smpl_poses"].shape == (79, 72)  # 40 frames at 30 fps -> 79 at 60 fps
    data = pickle.loads((tmp_path / "m.pkl").read_bytes())
    assert data["fps"] == 60.0
    fitted = _motion_joints_cm(tmp_path / "m.pkl")[::2]
    assert np.linalg.norm(fitted - joints * 100.0, axis=-1).mean() < 1.0
    # the same centimetres read as metres, or metres as centimetres: a 38 m or a 9 cm dancer was
    # written with exit 0
    # (the dancer too large is refused before the fit, by its size)
    for units, data, said in (("m", joints * 100.0, r"the body measures .* m from its centre .* wrong units\?"),
                              ("cm", joints, r"the fitted body is .* times SMPL's size .* wrong units\?")):
        np.save(tmp_path / "w.npy", data)
        with pytest.raises(InputError, match=r"w\.npy: " + said):
            fit_joints_file(tmp_path / "w.npy", "smpl24", 30.0, tmp_path / "w.pkl", units=units, floor="none",
                            iterations=200, progress=False)
        assert not (tmp_path / "w.pkl").exists()


def test_fit_joints_file_refuses_a_body_that_does_not_stand_along_y(tmp_path):
    """z-up data (Blender's, many capture systems') read as y up was fitted as a body lying down."""
    joints = _smpl_sequence(40, 30.0)
    z_up = np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)
    upside_down = joints * [1.0, -1.0, 1.0]
    for name, data, side in (("zup", z_up, "+z"), ("down", upside_down, "-y")):
        np.save(tmp_path / f"{name}.npy", data)
        with pytest.raises(InputError, match=rf"{name}\.npy: the body stands along \{side}, not \+y"):
            fit_joints_file(tmp_path / f"{name}.npy", "smpl24", 30.0, tmp_path / "m.pkl", floor="none",
                            iterations=10, progress=False)
    assert not (tmp_path / "m.pkl").exists()


def test_fit_joints_file_npz_with_floor_drift(tmp_path):
    """A DWM-shaped file (23 markers, fps inside) whose floor drifts up: the fit stands on y = 0."""
    from aichoreo.reconstruct.layouts import DWM23

    smpl = _smpl_sequence(250, 25.0)
    markers = np.zeros((250, 23, 3))
    for t in DWM23.targets:  # markers at the layout's nominal points, enough for a fit
        if len(t.sources) == 1:
            markers[:, t.sources[0]] = smpl[:, t.joint]
    markers[:, [3, 12]] = smpl[:, [17, 16]]
    markers[..., 1] += np.linspace(0.0, 0.2, 250)[:, None]  # capture floor drifting up 20 cm in 10 s
    np.savez(tmp_path / "DANCE_X_1.npz", joints=markers.astype(np.float32), fps=np.float32(25.0),
             music_offset_s=np.float32(0.0), genre=np.array("waltz"))  # fmt: skip
    summary = fit_joints_file(tmp_path / "DANCE_X_1.npz", "dwm23", None, tmp_path / "m.pkl", iterations=150,
                              out_fps=None, progress=False)  # fmt: skip
    assert summary["fps"] == 25.0 and summary["out_fps"] == 25.0
    joints = load_motion_smpl(tmp_path / "m.pkl", fps=25.0).joints()
    feet = joints[:, [7, 8, 10, 11], 1].min(axis=1)
    true_feet = smpl[:, [7, 8, 10, 11], 1].min(axis=1)
    assert np.median(feet) == pytest.approx(0.03, abs=1e-3)  # stood on the floor
    assert np.ptp((feet - true_feet)[25:-25]) < 0.04  # and the 20 cm drift is gone
    with pytest.raises(InputError, match="says 25 fps but 60 fps"):
        fit_joints_file(tmp_path / "DANCE_X_1.npz", "dwm23", 60.0, tmp_path / "n.pkl", progress=False)


def test_fit_joints_file_bad_input(tmp_path):
    np.save(tmp_path / "j.npy", np.zeros((5, 17, 3)))
    with pytest.raises(InputError, match="give fps"):
        fit_joints_file(tmp_path / "j.npy", "coco17", None, tmp_path / "m.pkl", progress=False)
    with pytest.raises(InputError, match="layout smpl24 has 24"):
        fit_joints_file(tmp_path / "j.npy", "smpl24", 30.0, tmp_path / "m.pkl", progress=False)
    with pytest.raises(InputError, match="unknown layout"):
        fit_joints_file(tmp_path / "j.npy", "body25", 30.0, tmp_path / "m.pkl", progress=False)
    with pytest.raises(InputError, match="unknown unit"):
        fit_joints_file(tmp_path / "j.npy", "coco17", 30.0, tmp_path / "m.pkl", units="inch", progress=False)
    np.save(tmp_path / "nan.npy", np.full((5, 17, 3), np.nan))
    with pytest.raises(InputError, match="all NaN"):
        fit_joints_file(tmp_path / "nan.npy", "coco17", 30.0, tmp_path / "m.pkl", progress=False)
    np.save(tmp_path / "flat.npy", np.zeros((5, 51)))
    with pytest.raises(InputError, match=r"expected numbers \(T, J, 3\)"):
        fit_joints_file(tmp_path / "flat.npy", "coco17", 30.0, tmp_path / "m.pkl", progress=False)
    (tmp_path / "j.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="expected .npy or .npz"):
        fit_joints_file(tmp_path / "j.txt", "coco17", 30.0, tmp_path / "m.pkl", progress=False)
    assert not (tmp_path / "m.pkl").exists()

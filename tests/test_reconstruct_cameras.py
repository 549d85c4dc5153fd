"""Cameras: AIST++ JSON <-> aniposelib CameraGroup, projection with distortion, bad camera files."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("aniposelib")
pytest.importorskip("cv2")

from aichoreo.data.aistpp import load_cameras  # noqa: E402
from aichoreo.data.fixtures import project_points, rig_cameras  # noqa: E402
from aichoreo.errors import InputError  # noqa: E402
from aichoreo.reconstruct.cameras import (  # noqa: E402
    cameras_from_aistpp,
    cameras_to_aistpp,
    load_camera_group,
    project,
    projection_matrices,
    save_camera_group,
    undistort,
)


@pytest.fixture()
def rig():
    """The AIST++-style rig (focal 1600 px, 1920x1080, 45° steps at 5 m) with small distortions."""
    return rig_cameras(rng=np.random.default_rng(3))


def _awkward_floats(cameras):
    """Numbers that only survive a round trip if every digit is written."""
    rng = np.random.default_rng(11)
    out = []
    for cam in cameras:
        cam = dict(cam)
        cam["rotation"] = cam["rotation"] + rng.normal(0, 1e-9, 3)
        cam["translation"] = cam["translation"] + rng.normal(0, 1e-7, 3) + 1 / 3
        cam["distortions"] = cam["distortions"] + rng.normal(0, 1e-12, 5)
        out.append(cam)
    return out


def test_json_round_trip_is_exact(tmp_path, rig):
    cameras = _awkward_floats(rig)
    group = cameras_from_aistpp(cameras)
    path = save_camera_group(tmp_path / "setting1.json", group)
    again = load_camera_group(path)
    before, after = cameras_to_aistpp(group), cameras_to_aistpp(again)
    assert before == after  # exact equality of every float, name and size
    for cam, d in zip(cameras, after):
        assert d["name"] == cam["name"]
        assert d["size"] == [1920, 1080]
        np.testing.assert_array_equal(d["rotation"], cam["rotation"])
        np.testing.assert_array_equal(d["translation"], cam["translation"])
        np.testing.assert_array_equal(d["distortions"], cam["distortions"])
    # The project's AIST++ reader reads our file back to the same numbers.
    for theirs, ours in zip(load_cameras(path), after):
        np.testing.assert_array_equal(theirs["matrix"], ours["matrix"])
        np.testing.assert_array_equal(theirs["translation"], ours["translation"])


def test_save_is_atomic_and_leaves_no_temporary(tmp_path, rig):
    save_camera_group(tmp_path / "cams.json", cameras_from_aistpp(rig))
    assert [p.name for p in tmp_path.iterdir()] == ["cams.json"]
    assert isinstance(json.loads((tmp_path / "cams.json").read_text()), list)


def test_project_matches_an_independent_opencv_model(rig):
    group = cameras_from_aistpp(rig)
    rng = np.random.default_rng(0)
    points = rng.uniform([-100, 0, -100], [100, 180, 100], (7, 5, 3))  # (N, J, 3) cm around the dancer
    pixels = project(group, points)
    assert pixels.shape == (9, 7, 5, 2)
    for v, cam in enumerate(rig):
        np.testing.assert_allclose(pixels[v], project_points(points, cam), atol=1e-6)
    # Without distortion it is the plain pinhole K [R | t] X.
    plain = [dict(c, distortions=np.zeros(5)) for c in rig]
    pix0 = project(cameras_from_aistpp(plain), points)
    ext = projection_matrices(cameras_from_aistpp(plain))
    cam = np.einsum("vij,nkj->vnki", ext[:, :, :3], points) + ext[:, None, None, :, 3]
    expected = 1600.0 * cam[..., :2] / cam[..., 2:3] + np.array([960.0, 540.0])
    np.testing.assert_allclose(pix0, expected, atol=1e-6)
    # The distortions are not negligible: the distorted projection differs.
    assert np.abs(pix0 - pixels).max() > 1.0


def test_nan_points_project_to_nan_and_undistort_inverts_project(rig):
    group = cameras_from_aistpp(rig)
    points = np.array([[[0.0, 100.0, 0.0], [np.nan, 1.0, 2.0], [30.0, 150.0, -20.0]]])
    pixels = project(group, points)
    assert np.isnan(pixels[:, 0, 1]).all() and np.isfinite(pixels[:, 0, [0, 2]]).all()
    uv = undistort(group, pixels)
    ext = projection_matrices(group)
    cam = np.einsum("vij,nkj->vnki", ext[:, :, :3], points) + ext[:, None, None, :, 3]
    np.testing.assert_allclose(uv[:, 0, [0, 2]], (cam[..., :2] / cam[..., 2:3])[:, 0, [0, 2]], atol=1e-7)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c[0].pop("matrix"), "missing field"),
        (lambda c: c[1].update(rotation=[1.0, 2.0]), "rotation"),
        (lambda c: c[2].update(translation=[0.0, float("nan"), 1.0]), "non-finite"),
        (lambda c: c[0].update(matrix=[[0, 0, 960], [0, 1600, 540], [0, 0, 1]]), "focal"),
        (lambda c: c[3].update(distortions=[0.1, 0.2, 0.3]), "distortions"),
        (lambda c: c[4].update(name=c[0]["name"]), "repeat"),
        (lambda c: c[5].update(size=[1920.5, 1080]), "size"),
        # read as other cameras before, silently: one such view spoiled the whole triangulation
        (lambda c: c[0].update(matrix=[[1600, 0, 960], [0, 1600, 540], [5, 3, 1]]), "last row"),
        (lambda c: c[0].update(matrix=[[1600, 80, 960], [0, 1600, 540], [0, 0, 1]]), "skew"),
        (lambda c: c[0].update(matrix=[[0.83, 0, 0.5], [0, 1.48, 0.5], [0, 0, 1]]), "normalised by the image size"),
    ],
)
def test_bad_camera_files_raise_input_error_naming_the_file(tmp_path, rig, edit, message):
    cameras = cameras_to_aistpp(cameras_from_aistpp(rig))
    edit(cameras)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cameras))
    with pytest.raises(InputError, match=message) as info:
        load_camera_group(path)
    assert str(path) in str(info.value)


def test_a_matrix_scaled_as_a_whole_is_the_same_camera(tmp_path, rig):
    """2 K is K in homogeneous terms; OpenCV read fx, fy, cx, cy of 2 K: a camera of twice the focal length."""
    cameras = cameras_to_aistpp(cameras_from_aistpp(rig))
    base = load_camera_group_from(tmp_path / "a.json", cameras)
    cameras[0]["matrix"] = (2 * np.asarray(cameras[0]["matrix"])).tolist()
    scaled = load_camera_group_from(tmp_path / "b.json", cameras)
    np.testing.assert_allclose(scaled.cameras[0].get_camera_matrix(), base.cameras[0].get_camera_matrix())


def load_camera_group_from(path, cameras):
    path.write_text(json.dumps(cameras))
    return load_camera_group(path)


def test_unreadable_camera_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_camera_group(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_camera_group(tmp_path / "broken.json")
    (tmp_path / "dict.json").write_text('{"c01": {}}')
    with pytest.raises(InputError, match="list of cameras"):
        load_camera_group(tmp_path / "dict.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(InputError, match="non-empty"):
        load_camera_group(tmp_path / "empty.json")

"""aichoreo.smpl_model: errors without smplx or a model file; smplx on a synthetic SMPL file equals our FK."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aichoreo import skeleton as sk
from aichoreo.errors import InputError
from aichoreo.smpl_model import SMPLBody, resolve_model_file

N_VERTICES = 6890  # smplx picks its extra joints (nose, ears, toes, finger tips) from SMPL vertex ids


def _write_synthetic_smpl(path: Path, seed: int = 0) -> np.ndarray:
    """An SMPL-format pickle whose joints are exactly our rest joints; returns its rest vertices.

    Vertices 0-23 sit on the rest joints (identity J_regressor on them); every other
    vertex is rigidly attached (one-hot skinning weight) to joint ``v % 24`` a few cm
    away. Zero shape and pose blend shapes: posing is pure rigid skinning.
    """
    rng = np.random.default_rng(seed)
    rest = sk.rest_joints()
    owner = np.arange(N_VERTICES) % 24
    v_template = rest[owner] + 0.05 * rng.standard_normal((N_VERTICES, 3)) * (np.arange(N_VERTICES) >= 24)[:, None]
    j_regressor = np.zeros((24, N_VERTICES))
    j_regressor[np.arange(24), np.arange(24)] = 1.0
    weights = np.zeros((N_VERTICES, 24))
    weights[np.arange(N_VERTICES), owner] = 1.0
    parents = sk.PARENTS.copy()
    parents[0] = 4294967295  # how SMPL files store the root's missing parent (uint32 -1)
    model = {
        "v_template": v_template,
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": np.stack([parents, np.arange(24)]),
        "shapedirs": np.zeros((N_VERTICES, 3, 10)),
        "posedirs": np.zeros((N_VERTICES, 3, 207)),
        "f": np.array([[0, 1, 2], [0, 2, 3], [3, 6, 9], [12, 13, 14]], dtype=np.uint32),
    }
    with open(path, "wb") as f:
        pickle.dump(model, f)
    return v_template


def _global_rotations(rotations: np.ndarray) -> np.ndarray:
    """(T, 24, 3, 3) local -> world frames G_i = G_parent R_i."""
    g = rotations.copy()
    for i in range(1, 24):
        g[:, i] = g[:, sk.PARENTS[i]] @ rotations[:, i]
    return g


def test_missing_model_file_names_the_file(tmp_path):
    with pytest.raises(InputError, match="SMPL_MALE.pkl: SMPL model file not found"):
        SMPLBody(tmp_path)  # a folder without SMPL_MALE.pkl
    with pytest.raises(InputError, match="nope.pkl"):
        SMPLBody(tmp_path / "nope.pkl")
    with pytest.raises(InputError, match="gender"):
        resolve_model_file(tmp_path, gender="robot")
    (tmp_path / "SMPL_FEMALE.pkl").write_bytes(b"")
    assert resolve_model_file(tmp_path, gender="female") == tmp_path / "SMPL_FEMALE.pkl"


def test_without_smplx_the_error_says_how_to_install(tmp_path, monkeypatch):
    model = tmp_path / "SMPL_MALE.pkl"
    model.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "smplx", None)  # makes `import smplx` raise ImportError
    with pytest.raises(InputError, match=r"pip install aichoreo\[smpl\]") as err:
        SMPLBody(model)
    assert str(model) in str(err.value)


def test_unreadable_model_file_names_the_file(tmp_path):
    pytest.importorskip("smplx")
    model = tmp_path / "SMPL_MALE.pkl"
    model.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="cannot load SMPL model") as err:
        SMPLBody(tmp_path)
    assert str(model) in str(err.value)


def test_smplx_joints_and_vertices_match_forward_kinematics(tmp_path):
    pytest.importorskip("smplx")
    v_template = _write_synthetic_smpl(tmp_path / "SMPL_MALE.pkl")
    body = SMPLBody(tmp_path, gender="male")
    assert body.faces.shape == (4, 3) and body.faces.dtype == np.int64

    rng = np.random.default_rng(1)
    t = 5
    poses = 0.6 * rng.standard_normal((t, 72))
    transl = rng.uniform(-1, 1, (t, 3))
    out = body(poses, transl)
    assert out.joints.shape == (t, 24, 3) and out.joints.dtype == np.float32
    assert out.vertices.shape == (t, N_VERTICES, 3)

    joints = sk.forward_kinematics_axis_angle(poses, transl)
    np.testing.assert_allclose(out.joints, joints, atol=2e-5)
    # Rigid skinning: vertex v = joint_j + G_j (v_rest - rest_j) + ... with j its owner.
    rotations = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(t, 24, 3, 3)
    g = _global_rotations(rotations)
    owner = np.arange(N_VERTICES) % 24
    local = v_template - sk.rest_joints()[owner]  # (V, 3)
    want = joints[:, owner] + np.einsum("tvij,vj->tvi", g[:, owner], local)
    np.testing.assert_allclose(out.vertices, want, atol=2e-5)
    # (T, 24, 3) poses give the same body.
    np.testing.assert_array_equal(body(poses.reshape(t, 24, 3), transl).joints, out.joints)


def test_bad_pose_shapes_raise(tmp_path):
    pytest.importorskip("smplx")
    _write_synthetic_smpl(tmp_path / "model.pkl")
    body = SMPLBody(tmp_path / "model.pkl")
    with pytest.raises(ValueError, match="poses"):
        body(np.zeros((3, 69)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="transl"):
        body(np.zeros((3, 72)), np.zeros((2, 3)))

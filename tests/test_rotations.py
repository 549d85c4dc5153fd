"""aichoreo.rotations: conversions against scipy, edge cases, torch/numpy agreement, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from aichoreo import rotations as rot


def _random(n: int, seed: int = 0) -> Rotation:
    return Rotation.random(n, random_state=seed)


def _wxyz(r: Rotation) -> np.ndarray:
    """scipy quaternions (scalar last) as canonical w, x, y, z."""
    q = r.as_quat()[..., [3, 0, 1, 2]]
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def _backend(x: np.ndarray, backend: str):
    return torch.from_numpy(np.ascontiguousarray(x)) if backend == "torch" else x


def _np(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x


BACKENDS = ["numpy", "torch"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_conversions_match_scipy(backend):
    r = _random(200)
    m, aa, q = r.as_matrix(), r.as_rotvec(), _wxyz(r)
    cases = [
        (rot.axis_angle_to_matrix, aa, m),
        (rot.matrix_to_axis_angle, m, aa),
        (rot.axis_angle_to_quaternion, aa, q),
        (rot.quaternion_to_axis_angle, q, aa),
        (rot.quaternion_to_matrix, q, m),
        (rot.matrix_to_quaternion, m, q),
    ]
    for fn, x, want in cases:
        got = fn(_backend(x, backend))
        assert type(got) is type(_backend(x, backend)), fn.__name__
        np.testing.assert_allclose(_np(got), want, atol=1e-12, err_msg=fn.__name__)


@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trips_keep_batch_shape(backend):
    m = _random(2 * 3 * 4, seed=1).as_matrix().reshape(2, 3, 4, 3, 3)
    x = _backend(m, backend)
    aa = rot.matrix_to_axis_angle(x)
    assert tuple(aa.shape) == (2, 3, 4, 3)
    np.testing.assert_allclose(_np(rot.axis_angle_to_matrix(aa)), m, atol=1e-12)
    np.testing.assert_allclose(_np(rot.quaternion_to_matrix(rot.matrix_to_quaternion(x))), m, atol=1e-12)
    d6 = rot.matrix_to_rotation_6d(x)
    assert tuple(d6.shape) == (2, 3, 4, 6)
    np.testing.assert_allclose(_np(rot.rotation_6d_to_matrix(d6)), m, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ninety_degrees_about_y_maps_x_to_minus_z(backend):
    aa = _backend(np.array([0.0, np.pi / 2, 0.0]), backend)
    m = _np(rot.axis_angle_to_matrix(aa))
    np.testing.assert_allclose(m @ [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], atol=1e-15)
    np.testing.assert_allclose(m @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], atol=1e-15)
    q = _np(rot.axis_angle_to_quaternion(aa))
    np.testing.assert_allclose(q, [np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0], atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_angle_pi_edge_cases(backend):
    axes = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3], [-1, 1, 1]], dtype=np.float64)
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    for angle in (np.pi, np.pi - 1e-7, np.pi - 1e-4):
        m = Rotation.from_rotvec(axes * angle).as_matrix()
        aa = _np(rot.matrix_to_axis_angle(_backend(m, backend)))
        np.testing.assert_allclose(np.linalg.norm(aa, axis=1), angle, atol=1e-9)
        # At pi the sign of the axis is free; the direction is not.
        np.testing.assert_allclose(np.abs(np.sum(aa / angle * axes, axis=1)), 1.0, atol=1e-9)
        np.testing.assert_allclose(Rotation.from_rotvec(aa).as_matrix(), m, atol=1e-9)
        q = _np(rot.matrix_to_quaternion(_backend(m, backend)))
        np.testing.assert_allclose(_np(rot.quaternion_to_matrix(_backend(q, backend))), m, atol=1e-9)
        assert (q[:, 0] >= 0).all()


def test_quaternion_at_pi_is_canonical():
    # w = 0 exactly: the first non-zero of x, y, z is made positive (scipy's canonical choice).
    m = np.array([np.diag([-1.0, 1.0, -1.0]), np.diag([1.0, -1.0, -1.0])])  # pi about y, pi about x
    for x in (m, torch.from_numpy(m)):
        np.testing.assert_allclose(_np(rot.matrix_to_quaternion(x)), [[0, 0, 1, 0], [0, 1, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_angles_keep_relative_precision(backend):
    aa = np.array([[1e-9, -2e-9, 3e-9], [0.0, 0.0, 0.0], [1e-4, 0.0, 2e-4]])
    m = _np(rot.axis_angle_to_matrix(_backend(aa, backend)))
    np.testing.assert_allclose(m, Rotation.from_rotvec(aa).as_matrix(), atol=1e-16)
    back = _np(rot.matrix_to_axis_angle(_backend(m, backend)))
    np.testing.assert_allclose(back, aa, rtol=1e-6, atol=1e-15)
    q = _np(rot.axis_angle_to_quaternion(_backend(aa, backend)))
    np.testing.assert_allclose(_np(rot.quaternion_to_axis_angle(_backend(q, backend))), aa, rtol=1e-9, atol=1e-20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_project_to_so3_of_noisy_rotation(backend):
    rng = np.random.default_rng(0)
    m = _random(50, seed=2).as_matrix()
    noisy = m + 0.01 * rng.standard_normal(m.shape)
    p = _np(rot.project_to_so3(_backend(noisy, backend)))
    np.testing.assert_allclose(np.swapaxes(p, -1, -2) @ p, np.broadcast_to(np.eye(3), p.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(p), 1.0, atol=1e-12)
    assert np.abs(p - m).max() < 0.05
    # The nearest rotation is at least as close to the noisy matrix as the clean one.
    assert (np.linalg.norm(p - noisy, axis=(1, 2)) <= np.linalg.norm(m - noisy, axis=(1, 2)) + 1e-12).all()
    # An exact rotation is its own projection.
    np.testing.assert_allclose(_np(rot.project_to_so3(_backend(m, backend))), m, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_project_to_so3_of_reflection_has_det_plus_one(backend):
    m = _random(10, seed=3).as_matrix()
    reflections = m @ np.diag([1.0, 1.0, -1.0])  # det -1
    p = _np(rot.project_to_so3(_backend(reflections, backend)))
    np.testing.assert_allclose(np.linalg.det(p), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(p, -1, -2) @ p, np.broadcast_to(np.eye(3), p.shape), atol=1e-12)
    # Singular values are all 1, so the flipped axis is arbitrary, but the result is at
    # Frobenius distance 2 (one axis reversed), the minimum over SO(3).
    np.testing.assert_allclose(np.linalg.norm(p - reflections, axis=(1, 2)), 2.0, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotation_6d_layout_and_gram_schmidt(backend):
    m = _random(5, seed=4).as_matrix()
    d6 = _np(rot.matrix_to_rotation_6d(_backend(m, backend)))
    np.testing.assert_array_equal(d6[:, :3], m[:, :, 0])  # first column
    np.testing.assert_array_equal(d6[:, 3:], m[:, :, 1])  # second column
    # Non-orthogonal, unnormalised input: Gram-Schmidt keeps column 0's direction and
    # the plane of columns 0 and 1.
    a = np.array([[2.0, 0.0, 0.0, 1.0, 3.0, 0.0]])
    r = _np(rot.rotation_6d_to_matrix(_backend(a, backend)))
    np.testing.assert_allclose(r[0], np.eye(3), atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_quaternion_multiply_composes_rotations(backend):
    r1, r2 = _random(20, seed=5), _random(20, seed=6)
    q = rot.quaternion_multiply(_backend(_wxyz(r1), backend), _backend(_wxyz(r2), backend))
    np.testing.assert_allclose(_np(rot.quaternion_to_matrix(q)), r1.as_matrix() @ r2.as_matrix(), atol=1e-12)
    # The product of unit quaternions is unit, and identity is neutral.
    np.testing.assert_allclose(np.linalg.norm(_np(q), axis=-1), 1.0, atol=1e-12)
    ident = _backend(np.array([1.0, 0.0, 0.0, 0.0]), backend)
    np.testing.assert_allclose(_np(rot.quaternion_multiply(ident, _backend(_wxyz(r1), backend))), _wxyz(r1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_slerp_midpoint_and_shortest_path(backend):
    q0 = np.array([1.0, 0.0, 0.0, 0.0])
    q1 = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])  # 90 deg about z
    half = np.array([np.cos(np.pi / 8), 0.0, 0.0, np.sin(np.pi / 8)])  # 45 deg about z
    b = lambda x: _backend(x, backend)  # noqa: E731
    np.testing.assert_allclose(_np(rot.quaternion_slerp(b(q0), b(q1), 0.5)), half, atol=1e-15)
    # -q1 is the same rotation: still the 90-degree arc, not the 270-degree one.
    mid = _np(rot.quaternion_slerp(b(q0), b(-q1), 0.5))
    np.testing.assert_allclose(np.abs(mid @ half), 1.0, atol=1e-15)
    # A sweep of t has constant angular speed.
    t = np.linspace(0.0, 1.0, 5)
    sweep = _np(rot.quaternion_slerp(b(np.tile(q0, (5, 1))), b(np.tile(q1, (5, 1))), b(t)))
    np.testing.assert_allclose(2 * np.arctan2(sweep[:, 3], sweep[:, 0]), t * np.pi / 2, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_slerp_of_nearly_equal_quaternions_is_stable(backend):
    q0 = np.array([1.0, 0.0, 0.0, 0.0])
    for eps in (0.0, 1e-12, 1e-8, 1e-4):
        q1 = np.array([np.cos(eps / 2), np.sin(eps / 2), 0.0, 0.0])
        q = _np(rot.quaternion_slerp(_backend(q0, backend), _backend(q1, backend), 0.25))
        assert np.isfinite(q).all()
        np.testing.assert_allclose(q, [np.cos(eps / 8), np.sin(eps / 8), 0.0, 0.0], atol=1e-13)


def test_slerp_matrices_matches_quaternion_slerp():
    r0, r1 = _random(30, seed=7), _random(30, seed=8)
    t = np.linspace(0, 1, 30)
    got = rot.slerp_matrices(r0.as_matrix(), r1.as_matrix(), t)
    want = rot.quaternion_to_matrix(rot.quaternion_slerp(_wxyz(r0), _wxyz(r1), t))
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(rot.slerp_matrices(r0.as_matrix(), r1.as_matrix(), 0.0), r0.as_matrix(), atol=1e-14)
    np.testing.assert_allclose(rot.slerp_matrices(r0.as_matrix(), r1.as_matrix(), 1.0), r1.as_matrix(), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_project_to_so3_newton_equals_the_svd(backend, dtype):
    """The polar iteration's answer is the SVD's, to the dtype's precision, on a batch that mixes
    near rotations, far matrices, reflections, a nearly singular and a zero matrix (reflections
    and the zero matrix go to the SVD)."""
    rng = np.random.default_rng(4)
    m = _random(200, seed=5).as_matrix()
    x = m + rng.choice([0.01, 0.3, 3.0], size=(200, 1, 1)) * rng.standard_normal(m.shape)
    x[:10] = m[:10] @ np.diag([1.0, 1.0, -1.0])
    x[10] = np.diag([1.0, 1.0, 1e-9])
    x[11] = 0.0
    x = x.astype(dtype)
    want = rot._project_svd(x.astype(np.float64))
    got = _np(rot.project_to_so3(_backend(x, backend)))
    assert got.dtype == dtype
    atol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[10:], want[10:], atol=atol)
    np.testing.assert_allclose(np.linalg.det(got.astype(np.float64)), 1.0, atol=atol)
    _, converged = rot._polar_newton(x)
    assert not converged[:10].any() and not converged[11]
    np.testing.assert_array_equal(converged[12:], np.linalg.det(x[12:]) > 0)  # the iteration did those


def test_torch_and_numpy_agree_on_generic_functions():
    rng = np.random.default_rng(1)
    m = _random(40, seed=9).as_matrix()
    noisy = m + 0.05 * rng.standard_normal(m.shape)
    d6 = rng.standard_normal((40, 6))
    q0, q1 = _wxyz(_random(40, seed=10)), _wxyz(_random(40, seed=11))
    t = rng.uniform(size=40)
    T = torch.from_numpy
    np.testing.assert_allclose(rot.project_to_so3(T(noisy)).numpy(), rot.project_to_so3(noisy), atol=1e-12)
    np.testing.assert_allclose(rot.rotation_6d_to_matrix(T(d6)).numpy(), rot.rotation_6d_to_matrix(d6), atol=1e-12)
    np.testing.assert_allclose(
        rot.quaternion_slerp(T(q0), T(q1), T(t)).numpy(), rot.quaternion_slerp(q0, q1, t), atol=1e-12
    )


def test_dtype_is_kept():
    m32 = _random(4, seed=12).as_matrix().astype(np.float32)
    for fn, x in [(rot.matrix_to_axis_angle, m32), (rot.matrix_to_quaternion, m32), (rot.project_to_so3, m32)]:
        assert fn(x).dtype == np.float32
        assert fn(torch.from_numpy(x)).dtype == torch.float32
    assert rot.axis_angle_to_matrix(np.zeros((2, 3), np.float32)).dtype == np.float32
    assert rot.axis_angle_to_matrix([[0, 0, 1]]).dtype == np.float64  # array-likes go the numpy way


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="axis_angle"):
        rot.axis_angle_to_matrix(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="matrix"):
        rot.matrix_to_quaternion(torch.zeros(5, 3, 4))
    with pytest.raises(ValueError, match="d6"):
        rot.rotation_6d_to_matrix(np.zeros(5))


def test_gradients_flow():
    torch.manual_seed(0)
    opts = {"dtype": torch.float64, "requires_grad": True}
    aa = (torch.randn(4, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(rot.axis_angle_to_quaternion, (aa,))
    q = torch.nn.functional.normalize(torch.randn(4, 4, dtype=torch.float64), dim=-1).requires_grad_()
    assert torch.autograd.gradcheck(rot.quaternion_to_axis_angle, (q,))
    assert torch.autograd.gradcheck(rot.quaternion_to_matrix, (q,))
    m = rot.axis_angle_to_matrix(torch.randn(4, 3, dtype=torch.float64)).detach().requires_grad_()
    assert torch.autograd.gradcheck(rot.matrix_to_axis_angle, (m,))
    noisy = (m.detach() + 0.1 * torch.randn(4, 3, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rot.project_to_so3, (noisy,))
    d6 = torch.randn(4, 6, **opts)
    assert torch.autograd.gradcheck(rot.rotation_6d_to_matrix, (d6,))
    q1 = torch.nn.functional.normalize(torch.randn(4, 4, dtype=torch.float64), dim=-1).requires_grad_()
    t = torch.rand(4, **opts)
    assert torch.autograd.gradcheck(rot.quaternion_slerp, (q, q1, t))
    # At the identity and for equal quaternions, where naive formulas divide by zero.
    zero = torch.zeros(2, 3, **opts)
    rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(zero)).sum().backward()
    np.testing.assert_allclose(zero.grad.numpy(), np.ones((2, 3)), atol=1e-12)  # d(log exp r)/dr = I
    same = torch.tensor([[1.0, 0.0, 0.0, 0.0]], **opts)
    rot.quaternion_slerp(same, same.detach(), 0.5).sum().backward()
    assert torch.isfinite(same.grad).all()


def test_shortest_arc_turns_a_onto_b_by_the_smallest_angle():
    from aichoreo.rotations import matrix_to_axis_angle, shortest_arc

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    r = shortest_arc(a, b)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(np.einsum("nij,nj->ni", r, unit(a)), unit(b), atol=1e-12)
    angle = np.linalg.norm(matrix_to_axis_angle(r), axis=-1)
    np.testing.assert_allclose(angle, np.arccos(np.sum(unit(a) * unit(b), -1)), atol=1e-9)
    flip = shortest_arc(np.array([[1.0, 0, 0]]), np.array([[-1.0, 0, 0]]))  # antiparallel: a half turn
    np.testing.assert_allclose(flip[0] @ [1.0, 0, 0], [-1.0, 0, 0], atol=1e-12)


def test_orthonormal_conversions_skip_only_the_orthogonalisation():
    """``orthonormal=True`` (an SMPLMotion's rotations, stored in float32): the same angles and
    quaternions as the orthogonalising path, to float32 precision; a matrix that is not a rotation
    is still converted as its nearest rotation by default."""
    from aichoreo.rotations import matrix_to_axis_angle, matrix_to_quaternion

    m = Rotation.random(2000, random_state=1).as_matrix().astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(matrix_to_axis_angle(m, orthonormal=True), matrix_to_axis_angle(m), atol=1e-6)
    np.testing.assert_allclose(matrix_to_quaternion(m, orthonormal=True), matrix_to_quaternion(m), atol=1e-6)
    skewed = m[:1] * np.array([1.0, 1.1, 0.9])[:, None]  # not orthonormal
    nearest = Rotation.from_matrix(skewed).as_rotvec()
    np.testing.assert_allclose(matrix_to_axis_angle(skewed), nearest, atol=1e-12)

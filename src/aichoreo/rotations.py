"""Rotation conversions for numpy arrays and torch tensors.

Every function is pure and batch-agnostic: leading dimensions ``...`` are kept, and the
result has the type of the input (numpy in, numpy out; torch in, torch out, same dtype
and device). Other array-likes (lists, scalars) are treated as numpy.

Conventions (``docs/architecture.md``):

* rotation matrices ``(..., 3, 3)`` act on column vectors: ``x' = R @ x``;
* axis-angle ``(..., 3)`` = unit axis times angle in radians;
* quaternions ``(..., 4)`` are **w, x, y, z** (scalar first), unit norm; functions that
  return quaternions give the canonical one of ``{q, -q}``: ``w > 0``, or where
  ``w == 0`` the first non-zero of x, y, z positive (scipy's ``canonical=True``);
* 6D (Zhou, Barnes, Lu, Yang, Li, *On the Continuity of Rotation Representations in
  Neural Networks*, CVPR 2019) = the first two **columns** of the matrix, flattened as
  ``[c0x, c0y, c0z, c1x, c1y, c1z]``.

Backends: the numpy path goes through ``scipy.spatial.transform.Rotation`` where it does
the job (conversions between matrix, axis-angle and quaternion). The torch path is
written by hand because scipy has no autograd; it is differentiable everywhere that the
function is smooth, including the identity rotation (Taylor series instead of
divisions by the angle). Functions that are plain arithmetic (6D, SVD projection,
quaternion product, slerp) have one implementation for both backends.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import numpy as np
from scipy.spatial.transform import Rotation

Array = TypeVar("Array")  # np.ndarray or torch.Tensor; the result has the input's type

# Below this squared angle (rad^2) Taylor series replace divisions by the angle.
_SMALL_ANGLE_SQ = 1e-6
# Above this |cos| of the half angle between two quaternions, slerp falls back to lerp.
_SLERP_LERP_DOT = 0.9995

__all__ = [
    "scipy_in_blocks",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "rotation_6d_to_matrix",
    "project_to_so3",
    "shortest_arc",
    "quaternion_multiply",
    "quaternion_slerp",
    "slerp_matrices",
]


# --------------------------------------------------------------------------- backend shim


def _is_torch(x: Any) -> bool:
    # torch is only looked up if already imported: a tensor cannot exist otherwise, and
    # numpy-only users do not pay for importing torch.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _as_numpy(x: Any) -> np.ndarray:
    """Float numpy array (integer input becomes float64)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _prep(x: Any):
    """Tensors pass through; anything else becomes a float numpy array."""
    return x if _is_torch(x) else _as_numpy(x)


def _check_last(x: Any, shape: tuple[int, ...], name: str) -> None:
    if len(x.shape) < len(shape) or tuple(x.shape[len(x.shape) - len(shape) :]) != shape:
        want = ", ".join(["..."] + [str(s) for s in shape])
        raise ValueError(f"{name}: expected shape ({want}), got {tuple(x.shape)}")


def _stack(xs: list, axis: int, like: Any):
    if _is_torch(like):
        import torch

        return torch.stack(xs, dim=axis)
    return np.stack(xs, axis=axis)


def _where(cond, a, b, like: Any):
    if _is_torch(like):
        import torch

        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def _sum(x, axis: int, keepdims: bool = False):
    if _is_torch(x):
        return x.sum(dim=axis, keepdim=keepdims)
    return x.sum(axis=axis, keepdims=keepdims)


def _swap_last(x):
    return x.transpose(-1, -2) if _is_torch(x) else np.swapaxes(x, -1, -2)


def _xp(x):
    """The module with ``sin``, ``cos``, ``sqrt``, ``arccos`` ... for ``x``'s backend."""
    if _is_torch(x):
        import torch

        return torch
    return np


ORTHONORMAL = """``orthonormal=True`` promises rotation matrices to float precision (an
:class:`~aichoreo.motion.SMPLMotion`'s, which it checks): scipy's SVD orthogonalisation of each
matrix is skipped, 13x faster; on float32 rotations the angles differ from the orthogonalised ones
by under 1e-7 rad (measured). The numpy path only; otherwise the nearest rotation of each matrix
is converted."""


def scipy_from_matrix(matrix: np.ndarray, orthonormal: bool = False) -> Rotation:
    """scipy's ``Rotation.from_matrix``, told that the matrices are rotations where ``orthonormal``
    (:data:`ORTHONORMAL`). scipy releases without ``assume_valid`` did not orthogonalise at all."""
    if not orthonormal:
        return Rotation.from_matrix(matrix)
    try:
        return Rotation.from_matrix(matrix, assume_valid=True)
    except TypeError:
        return Rotation.from_matrix(matrix)

# Rotations per scipy call. scipy converts a whole array at once with several float64 temporaries
# of it: the 864,000 joint rotations of a 10-minute dance took 300-400 MB per export that way.
_SCIPY_BLOCK = 1 << 15


def scipy_in_blocks(x: np.ndarray, tail: int, out_tail: tuple[int, ...], convert) -> np.ndarray:
    """``convert`` ``(n, *tail_shape)`` float64 -> ``(n, *out_tail)`` over ``x (..., *tail_shape)``, a
    block of rotations at a time (each rotation is converted on its own: the same numbers as one
    call); returns ``(..., *out_tail)`` float64. For any whole-dance scipy ``Rotation`` conversion
    (this module's numpy paths, the BVH export's Euler angles)."""
    lead = x.shape[: x.ndim - tail]
    flat = x.reshape((-1,) + x.shape[x.ndim - tail :])
    out = np.empty((flat.shape[0],) + out_tail)
    for first in range(0, flat.shape[0], _SCIPY_BLOCK):
        out[first : first + _SCIPY_BLOCK] = convert(np.asarray(flat[first : first + _SCIPY_BLOCK], dtype=np.float64))
    return out.reshape(lead + out_tail)


def _canonical_quaternion(q):
    """Pick, of ``{q, -q}``, the one with ``w > 0`` (or the first non-zero component positive)."""
    xp = _xp(q)
    sign = xp.ones_like(q[..., :1])
    # Walk the components from z back to w so that the first non-zero one has the last word.
    for i in (3, 2, 1, 0):
        c = q[..., i : i + 1]
        sign = _where(c != 0, xp.sign(c), sign, q)
    return q * sign


def _common(*xs):
    """Convert arguments to one backend: torch if any is a tensor (its dtype/device), else numpy."""
    like = next((x for x in xs if _is_torch(x)), None)
    if like is None:
        return tuple(_as_numpy(x) for x in xs)
    import torch

    return tuple(torch.as_tensor(x, dtype=like.dtype, device=like.device) for x in xs)


# --------------------------------------------------------------------------- axis-angle


def axis_angle_to_matrix(axis_angle: Array) -> Array:
    """Axis-angle ``(..., 3)`` radians -> rotation matrices ``(..., 3, 3)`` (Rodrigues)."""
    axis_angle = _prep(axis_angle)
    _check_last(axis_angle, (3,), "axis_angle")
    if not _is_torch(axis_angle):
        r = axis_angle
        out = scipy_in_blocks(r, 1, (3, 3), lambda b: Rotation.from_rotvec(b).as_matrix())
        return out.astype(r.dtype, copy=False)
    return _axis_angle_to_matrix_torch(axis_angle)


def _axis_angle_to_matrix_torch(r):
    import torch

    # R = I + A K + B K^2 with K = skew(r) (unnormalised), A = sin(t)/t, B = (1 - cos t)/t^2,
    # both functions of t^2 only, so the gradient is finite at r = 0.
    theta_sq = (r * r).sum(-1, keepdim=True)
    small = theta_sq < _SMALL_ANGLE_SQ
    safe_sq = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    theta = safe_sq.sqrt()
    a = torch.where(small, 1 - theta_sq / 6 + theta_sq**2 / 120, theta.sin() / theta)
    b = torch.where(small, 0.5 - theta_sq / 24 + theta_sq**2 / 720, (1 - theta.cos()) / safe_sq)
    x, y, z = r.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(r.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=r.dtype, device=r.device).expand(k.shape)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def matrix_to_axis_angle(matrix: Array, *, orthonormal: bool = False) -> Array:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)``, angle in ``[0, pi]``.

    Robust near angle 0 and near pi (via the best-conditioned quaternion). At exactly pi
    both ``+axis*pi`` and ``-axis*pi`` are valid; either may be returned. ``orthonormal``: see
    :data:`ORTHONORMAL`.
    """
    matrix = _prep(matrix)
    _check_last(matrix, (3, 3), "matrix")
    if not _is_torch(matrix):
        m = matrix
        out = scipy_in_blocks(m, 2, (3,), lambda b: scipy_from_matrix(b, orthonormal).as_rotvec())
        return out.astype(m.dtype, copy=False)
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def axis_angle_to_quaternion(axis_angle: Array) -> Array:
    """Axis-angle ``(..., 3)`` -> unit quaternions ``(..., 4)`` w, x, y, z (canonical, w >= 0)."""
    axis_angle = _prep(axis_angle)
    _check_last(axis_angle, (3,), "axis_angle")
    if not _is_torch(axis_angle):
        r = axis_angle
        q = scipy_in_blocks(r, 1, (4,), lambda b: _canonical_quaternion(Rotation.from_rotvec(b).as_quat()[:, [3, 0, 1, 2]]))
        return q.astype(r.dtype, copy=False)
    import torch

    r = axis_angle
    theta_sq = (r * r).sum(-1, keepdim=True)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.where(small, torch.ones_like(theta_sq), theta_sq).sqrt()
    # w = cos(t/2), xyz = r * sin(t/2)/t, Taylor in t^2 near 0 for finite gradients.
    w = torch.where(small, 1 - theta_sq / 8 + theta_sq**2 / 384, (theta / 2).cos())
    s = torch.where(small, 0.5 - theta_sq / 48 + theta_sq**2 / 3840, (theta / 2).sin() / theta)
    return _canonical_quaternion(torch.cat([w, r * s], dim=-1))


def quaternion_to_axis_angle(quaternion: Array) -> Array:
    """Quaternions ``(..., 4)`` w, x, y, z (normalised first) -> axis-angle ``(..., 3)``, angle in ``[0, pi]``."""
    quaternion = _prep(quaternion)
    _check_last(quaternion, (4,), "quaternion")
    if not _is_torch(quaternion):
        q = quaternion
        out = scipy_in_blocks(q, 1, (3,), lambda b: Rotation.from_quat(b[:, [1, 2, 3, 0]]).as_rotvec())
        return out.astype(q.dtype, copy=False)
    import torch

    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    # The shorter of the two arcs: angle = 2 atan2(|v|, |w|) <= pi.
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., :1], q[..., 1:]
    n_sq = (v * v).sum(-1, keepdim=True)
    small = n_sq < _SMALL_ANGLE_SQ / 4
    n = torch.where(small, torch.ones_like(n_sq), n_sq).sqrt()
    # rotvec = v * angle/|v|; near 0, atan(s)/s = 1 - s^2/3 with s = |v|/w.
    w_safe = torch.where(small, w, torch.ones_like(w))
    f_small = 2 / w_safe * (1 - n_sq / (3 * w_safe**2))
    f = torch.where(small, f_small, 2 * torch.atan2(n, w) / n)
    return v * f


# --------------------------------------------------------------------------- quaternions


def quaternion_to_matrix(quaternion: Array) -> Array:
    """Quaternions ``(..., 4)`` w, x, y, z -> rotation matrices ``(..., 3, 3)``; non-unit input is normalised."""
    quaternion = _prep(quaternion)
    _check_last(quaternion, (4,), "quaternion")
    if not _is_torch(quaternion):
        q = quaternion
        out = scipy_in_blocks(q, 1, (3, 3), lambda b: Rotation.from_quat(b[:, [1, 2, 3, 0]]).as_matrix())
        return out.astype(q.dtype, copy=False)
    import torch

    w, x, y, z = quaternion.unbind(-1)
    s = 2.0 / (quaternion * quaternion).sum(-1)
    m = torch.stack(
        [
            1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
            s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
            s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
        ],
        dim=-1,
    )  # fmt: skip
    return m.reshape(quaternion.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: Array, *, orthonormal: bool = False) -> Array:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` w, x, y, z (canonical, w >= 0).
    ``orthonormal``: see :data:`ORTHONORMAL`."""
    matrix = _prep(matrix)
    _check_last(matrix, (3, 3), "matrix")
    if not _is_torch(matrix):
        m = matrix
        q = scipy_in_blocks(m, 2, (4,), lambda b: _canonical_quaternion(
            scipy_from_matrix(b, orthonormal).as_quat()[:, [3, 0, 1, 2]]))
        return q.astype(m.dtype, copy=False)
    return _matrix_to_quaternion_torch(matrix)


def _matrix_to_quaternion_torch(m):
    import torch

    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.reshape(m.shape[:-2] + (9,)).unbind(-1)
    # 4|w|^2, 4|x|^2, 4|y|^2, 4|z|^2 from the trace; divide by the largest one only
    # (Shepperd's method), so every rotation, angle pi included, is well conditioned.
    four_sq = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    pos = four_sq > 0
    # sqrt(max(0, .)) whose gradient is 0, not inf, where the argument is <= 0.
    q_abs = torch.where(pos, torch.where(pos, four_sq, torch.ones_like(four_sq)).sqrt(), torch.zeros_like(four_sq))
    # Row i = 2|q_i| * q (up to sign), one candidate per choice of the largest component.
    rows = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )
    candidates = rows / (2 * q_abs[..., None].clamp_min(0.1))
    best = q_abs.argmax(dim=-1)
    one_hot = torch.nn.functional.one_hot(best, 4).to(m.dtype)
    q = (candidates * one_hot[..., None]).sum(-2)
    return _canonical_quaternion(q / q.norm(dim=-1, keepdim=True))


def quaternion_multiply(q1: Array, q2: Array) -> Array:
    """Hamilton product ``q1 * q2`` of quaternions ``(..., 4)`` w, x, y, z (broadcast).

    As matrices: ``quaternion_to_matrix(q1 * q2) = quaternion_to_matrix(q1) @ quaternion_to_matrix(q2)``.
    Written by hand (scipy's composition normalises and re-signs its result).
    """
    q1, q2 = _common(q1, q2)
    _check_last(q1, (4,), "q1")
    _check_last(q2, (4,), "q2")
    w1, x1, y1, z1 = (q1[..., i] for i in range(4))
    w2, x2, y2, z2 = (q2[..., i] for i in range(4))
    return _stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        -1,
        q1,
    )


def quaternion_slerp(q0: Array, q1: Array, t: Array | float) -> Array:
    """Spherical linear interpolation from ``q0`` (t = 0) to ``q1`` (t = 1) along the shortest arc.

    Args:
        q0, q1: quaternions ``(..., 4)`` w, x, y, z, normalised first; broadcast together.
        t: interpolation weight, a float or an array broadcasting with ``(...)``.

    Returns:
        unit quaternions ``(..., 4)``. Nearly equal quaternions (``|cos| > 0.9995``) use
        normalised lerp, which is accurate there and avoids dividing by ``sin`` of a tiny
        angle. Written by hand: scipy's ``Slerp`` interpolates one key sequence over
        time, not pairs broadcast against each other, and has no autograd.
    """
    q0, q1, t = _common(q0, q1, t)
    if not _is_torch(q0):
        t = t.astype(np.result_type(q0, q1), copy=False)  # a float t must not upcast float32 input
    like = q0
    _check_last(q0, (4,), "q0")
    _check_last(q1, (4,), "q1")
    xp = _xp(like)
    q0 = q0 / xp.sqrt(_sum(q0 * q0, -1, True))
    q1 = q1 / xp.sqrt(_sum(q1 * q1, -1, True))
    t = t[..., None]
    dot = _sum(q0 * q1, -1, True)
    q1 = _where(dot < 0, -q1, q1, like)  # q and -q are the same rotation: take the short way
    dot = abs(dot)
    close = dot > _SLERP_LERP_DOT
    # A safe argument in the unused branch keeps arccos, 1/sin and their gradients finite.
    theta = xp.arccos(_where(close, xp.full_like(dot, 0.5), dot, like))
    sin_theta = xp.sin(theta)
    w0 = _where(close, 1 - t, xp.sin((1 - t) * theta) / sin_theta, like)
    w1 = _where(close, t, xp.sin(t * theta) / sin_theta, like)
    q = w0 * q0 + w1 * q1
    return q / xp.sqrt(_sum(q * q, -1, True))


def slerp_matrices(r0: np.ndarray, r1: np.ndarray, t: np.ndarray | float, *,
                   orthonormal: bool = False) -> np.ndarray:
    """Slerp of rotation matrices (numpy): ``r0 @ exp(t * log(r0^T r1))``, shortest arc.

    Args:
        r0, r1: rotation matrices ``(..., 3, 3)`` (t = 0 gives r0, t = 1 gives r1).
        t: a float or an array broadcasting with the leading dims ``(...)``.
        orthonormal: see :data:`ORTHONORMAL` (for ``r0^T r1``).

    Returns:
        ``(..., 3, 3)`` in the dtype of ``r0``, computed in float64.
    """
    r0, r1 = _as_numpy(r0), _as_numpy(r1)
    _check_last(r0, (3, 3), "r0")
    _check_last(r1, (3, 3), "r1")
    dtype = r0.dtype
    r0, r1 = r0.astype(np.float64), r1.astype(np.float64)
    rel = matrix_to_axis_angle(np.swapaxes(r0, -1, -2) @ r1, orthonormal=orthonormal)  # angle <= pi: the short way
    t = np.asarray(t, dtype=np.float64)[..., None]
    return (r0 @ axis_angle_to_matrix(t * rel)).astype(dtype, copy=False)


# --------------------------------------------------------------------------- 6D and projection


def matrix_to_rotation_6d(matrix: Array) -> Array:
    """Rotation matrices ``(..., 3, 3)`` -> 6D ``(..., 6)`` = first two columns ``[c0; c1]`` (Zhou et al. 2019)."""
    matrix = _prep(matrix)
    _check_last(matrix, (3, 3), "matrix")
    cols = _swap_last(matrix[..., :, :2])  # (..., 2, 3): row k = column k of the matrix
    return cols.reshape(tuple(matrix.shape[:-2]) + (6,))


def rotation_6d_to_matrix(d6: Array) -> Array:
    """6D ``(..., 6)`` -> rotation matrices ``(..., 3, 3)`` by Gram-Schmidt (Zhou et al. CVPR 2019).

    Column 0 = normalised ``d6[..., :3]``; column 1 = ``d6[..., 3:]`` minus its component
    along column 0, normalised; column 2 = column 0 x column 1 (so det = +1).
    """
    d6 = _prep(d6)
    _check_last(d6, (6,), "d6")
    xp = _xp(d6)
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / xp.sqrt(_sum(a1 * a1, -1, True))
    b2 = a2 - _sum(b1 * a2, -1, True) * b1
    b2 = b2 / xp.sqrt(_sum(b2 * b2, -1, True))
    b3 = _cross(b1, b2)
    return _stack([b1, b2, b3], -1, d6)  # columns


def _cross(a, b):
    if _is_torch(a):
        import torch

        return torch.linalg.cross(a, b, dim=-1)
    return np.cross(a, b, axis=-1)


def project_to_so3(matrix: Array) -> Array:
    """Nearest rotation (Frobenius norm) to each ``(..., 3, 3)`` matrix.

    ``R = U diag(1, 1, sign det(U V^T)) V^T`` from the SVD ``M = U S V^T`` (reference.md §4.6;
    google-research/mint ``tools/preprocessing.py`` applies it to decoded FACT rotations). A
    reflection gets det +1 by flipping the axis of least singular value; a degenerate
    ``det(U V^T) = 0`` counts as +1.

    Where ``det M > 0`` that rotation is the orthogonal polar factor of ``M``, found here by
    scaled Newton iteration (``X <- (g X + X^-T / g) / 2``, Higham 1986, "Computing the polar
    decomposition", SIAM J. Sci. Stat. Comput. 7(4)): four iterations for a predicted rotation,
    each a few elementwise operations, where a batched SVD of 3 x 3 matrices costs a LAPACK
    call per matrix (480 matrices, float32, one CPU thread: 0.44-0.65 against 1.26-1.62 ms;
    generation projects every predicted frame). Where ``det M <= 0``, or the iteration has not reached the
    dtype's precision in 16 steps, the SVD gives the answer. Both agree to the dtype's precision.

    torch: differentiable (through the iterations, or through ``torch.linalg.svd``, whose
    gradient is undefined where singular values repeat, e.g. for a reflection of a rotation).
    """
    matrix = _prep(matrix)
    _check_last(matrix, (3, 3), "matrix")
    flat = matrix.reshape(-1, 3, 3)
    out, done = _polar_newton(flat)
    if not bool(done.all()):
        rest = ~done
        if _is_torch(out):
            out = out.clone()
        out[rest] = _project_svd(flat[rest])
    return out.reshape(matrix.shape)


def _polar_newton(m):
    """``(N, 3, 3)`` -> the polar factors where they converged ``(N, 3, 3)`` and a mask ``(N,)`` of
    those (det > 0, within the dtype's precision); the other rows hold anything."""
    xp = _xp(m)
    tol = 16 * float(xp.finfo(m.dtype).eps)
    n = len(m)
    det = _det3(m)
    good = det > 0  # (a reflection's polar factor is no rotation: the SVD decides those)
    eye = m * 0 + (xp.eye(3, dtype=m.dtype) if not _is_torch(m) else xp.eye(3, dtype=m.dtype, device=m.device))
    x = _where(good[:, None, None], m, eye, m)
    done = good
    with np.errstate(all="ignore"):  # rows that do not converge go to the SVD, whatever they hold
        for _ in range(16):
            r0, r1, r2 = x[:, 0], x[:, 1], x[:, 2]
            cof = _stack([_cross(r1, r2), _cross(r2, r0), _cross(r0, r1)], -2, m)  # det(X) X^-T, by rows
            inv_t = cof / _sum(r0 * cof[:, 0], -1)[:, None, None]
            # Higham's Frobenius-norm scaling: the first steps from a far matrix converge fast.
            g = (_sum((inv_t * inv_t).reshape(n, 9), -1) / _sum((x * x).reshape(n, 9), -1))[:, None, None] ** 0.25
            new = 0.5 * (g * x + inv_t / g)
            delta = _sum(((new - x) ** 2).reshape(n, 9), -1)
            x = new
            done = good & (delta <= tol * tol)
            if bool((done == good).all()):
                break
    return x, done


def _det3(m):
    """Determinants of ``(N, 3, 3)`` matrices by the triple product (no LAPACK call)."""
    return _sum(m[:, 0] * _cross(m[:, 1], m[:, 2]), -1)


def _project_svd(matrix):
    """:func:`project_to_so3` by SVD, for ``(N, 3, 3)``."""
    xp = _xp(matrix)
    u, _, vh = xp.linalg.svd(matrix)
    det = xp.linalg.det(u @ vh)
    d = _where(det < 0, det * 0 - 1, det * 0 + 1, matrix)
    ones = det * 0 + 1
    diag = _stack([ones, ones, d], -1, matrix)  # (..., 3) scales the columns of U
    return (u * diag[..., None, :]) @ vh


def shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` the smallest rotations taking the directions ``a`` to ``b`` (``(..., 3)``, numpy).

    Antiparallel pairs turn by pi about an axis perpendicular to ``a`` (the cross product with x,
    or with y where ``a`` lies near x).
    """
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(a * b, axis=-1)
    fallback = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])))
    axis = np.where((sin < 1e-8)[..., None], fallback, axis)
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    angle = np.arctan2(sin, cos)
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)

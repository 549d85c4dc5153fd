"""Fréchet distance (FID_k, FID_g) and diversity (Dist) of motion feature sets.

Feature sets are ``(N, D)`` arrays, one row per sequence (kinetic ``D = 72``, geometric
``D = 32``). The published protocol (liruilong940607/mint ``tools/calculate_fid_scores.py``,
``calculate_frechet_feature_distance``; lisiyao21/Bailando ``utils/metrics_new.py``):

1. z-score both sets with the **real** set's mean and population std (+ 1e-10): :func:`normalize`;
2. FID = ``|mu_r - mu_g|² + Tr(S_r + S_g - 2 (S_r S_g)^½)`` with sample covariances
   (ddof 1) and scipy ``sqrtm``: :func:`fid`;
3. Dist = mean Euclidean distance over pairs ``i < j`` of the normalised generated set:
   :func:`diversity`.

:func:`fid` itself does **not** normalise: it is the plain Fréchet distance between the
Gaussians fitted to the two sets it is given. :func:`fid_from_features` and
:func:`dist_from_features` run the whole protocol on raw features.

Modes differ only in the numerical fallbacks:

* ``"fact"`` (FACT authors' fork, itself from mseitzer/pytorch-fid): product ``S_r S_g``; if
  ``sqrtm`` is not finite, retry with ``eps = 1e-6`` added to both diagonals; raise
  ``ValueError`` if the square root's diagonal has an imaginary part above 1e-3, else
  keep the real part.
* ``"bailando"`` (``calc_fid(gen, real)``): product ``S_g S_r``, ``eps = 1e-5``, never
  raises (the real part is kept).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist

__all__ = [
    "FID_MODES",
    "NORMALIZE_EPS",
    "normalize",
    "frechet_distance",
    "fid",
    "fid_from_features",
    "diversity",
    "dist_from_features",
]

log = logging.getLogger(__name__)

NORMALIZE_EPS = 1e-10  # added to the real set's std (both reference scripts)
# mode -> (eps of the non-finite fallback, on_imaginary, product order real-first?)
FID_MODES = {
    "fact": (1e-6, "raise", True),
    "bailando": (1e-5, "real", False),
}
_IMAGINARY_ATOL = 1e-3  # np.allclose(diag.imag, 0, atol=1e-3) in the reference


def _as_features(feats: np.ndarray, what: str, min_rows: int = 1) -> np.ndarray:
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a (N, D) feature array, got shape {arr.shape}")
    if len(arr) < min_rows:
        raise ValueError(f"{what}: {len(arr)} feature vectors, at least {min_rows} are needed")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    return arr


def normalize(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z-score ``real`` ``(N, D)`` and ``gen`` ``(M, D)`` by the real set's mean and population std.

    Returns ``((real - mu) / (sd + 1e-10), (gen - mu) / (sd + 1e-10))``. A feature constant
    over the real set turns any difference in it into ~1e10: keep the real set large.
    """
    real = _as_features(real, "real features")
    gen = _as_features(gen, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature widths differ: real {real.shape[1]}, generated {gen.shape[1]}")
    mean = real.mean(axis=0)
    scale = real.std(axis=0) + NORMALIZE_EPS
    return (real - mean) / scale, (gen - mean) / scale


def _sqrtm(a: np.ndarray) -> np.ndarray:
    # A rank-deficient product (fewer sequences than features) is normal here; the
    # reference silences the same warning with disp=False.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return linalg.sqrtm(a)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *,
                     eps: float = 1e-6, on_imaginary: str = "raise") -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): ``(D,)``, ``(D, D)`` each.

    ``sqrtm(sigma1 @ sigma2)``; if not finite, ``sqrtm((sigma1 + eps I) @ (sigma2 + eps I))``
    (the trace terms keep the original covariances, as the reference does).
    ``on_imaginary="raise"`` raises ``ValueError`` when the root's diagonal has an imaginary
    part above 1e-3; ``"real"`` keeps the real part in every case.
    """
    if on_imaginary not in ("raise", "real"):
        raise ValueError(f"on_imaginary must be 'raise' or 'real', got {on_imaginary!r}")
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"mismatched statistics: mu {mu1.shape} / {mu2.shape}, "
                         f"sigma {sigma1.shape} / {sigma2.shape}")
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        log.warning("FID: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(len(sigma1)) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if on_imaginary == "raise" and imag > _IMAGINARY_ATOL:
            raise ValueError(f"FID: the covariance square root has an imaginary component {imag:.3g} "
                             f"(> {_IMAGINARY_ATOL}); the feature sets are too small or degenerate")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _mode(mode: str) -> tuple[float, str, bool]:
    if mode not in FID_MODES:
        raise ValueError(f"mode must be one of {tuple(FID_MODES)}, got {mode!r}")
    return FID_MODES[mode]


def fid(real_feats: np.ndarray, gen_feats: np.ndarray, *, mode: str = "fact",
        eps: float | None = None, on_imaginary: str | None = None) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets, **as given** (no normalisation).

    ``real_feats`` ``(N, D)``, ``gen_feats`` ``(M, D)``, N, M >= 2. Means and sample
    covariances (ddof 1). ``mode`` ("fact" or "bailando") sets the fallback ``eps``, the
    imaginary-part policy and the product order (see module docstring); ``eps`` and
    ``on_imaginary`` override the mode's values.
    """
    mode_eps, mode_imag, real_first = _mode(mode)
    real = _as_features(real_feats, "real features", min_rows=2)
    gen = _as_features(gen_feats, "generated features", min_rows=2)
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"feature widths differ: real {real.shape[1]}, generated {gen.shape[1]}")
    stats_real = (real.mean(axis=0), np.cov(real, rowvar=False))
    stats_gen = (gen.mean(axis=0), np.cov(gen, rowvar=False))
    first, second = (stats_real, stats_gen) if real_first else (stats_gen, stats_real)
    return frechet_distance(*first, *second, eps=mode_eps if eps is None else eps,
                            on_imaginary=mode_imag if on_imaginary is None else on_imaginary)


def fid_from_features(real_feats: np.ndarray, gen_feats: np.ndarray, *, mode: str = "fact") -> float:
    """The published FID: normalise both sets by the real set (:func:`normalize`), then :func:`fid`."""
    real_n, gen_n = normalize(real_feats, gen_feats)
    return fid(real_n, gen_n, mode=mode)


def diversity(feats: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs ``i < j`` of the rows of ``feats`` ``(N, D)``, N >= 2."""
    arr = _as_features(feats, "features", min_rows=2)
    return float(pdist(arr).mean())


def dist_from_features(real_feats: np.ndarray, gen_feats: np.ndarray) -> float:
    """The published Dist: :func:`diversity` of the generated set normalised by the real set."""
    return diversity(normalize(real_feats, gen_feats)[1])

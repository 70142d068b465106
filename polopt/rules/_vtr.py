"""Value-targeted regression (VTR) pieces shared by the linear-mixture learners.

Notation (arXiv 2006.01107, 2012.08507; the papers' beta_k is ``rad`` here, beta being the KL
coefficient): features ``phi(s'|s, a) in R^d``, ``phi_V(s, a) = sum_s' phi(s'|s, a) V(s')`` so that
``[P V](s, a) = <phi_V(s, a), theta*>``; ``||x||_M = sqrt(x^T M x)``.

* :class:`Ridge` — a weighted ridge regression in closed form, batched over leading axes::

      Sigma = lam I + sum_j x_j x_j^T / sigma2_j,   b = sum_j y_j x_j / sigma2_j,   theta = Sigma^{-1} b,

  updated by Sherman-Morrison (``Sigma^{-1}``) and the matrix determinant lemma
  (``logdet Sigma += log(1 + x^T Sigma^{-1} x / sigma2)``); checked against a direct solve.
* :func:`plan` — the optimistic planner PLAN (W. Zhang, UCLA dissertation 2024, Alg. 1; UCRL-VTR's
  planning step): for ``h = H-1 .. 0`` (0-based),

      Q_h(s, a) = [ r_h(s, a) + <theta_h, phi_{V_{h+1}}(s, a)>
                  + rad_h ||phi_{V_{h+1}}(s, a)||_{Sigma_h^{-1}} ]_[0, vmax_h],
      V_h = max_a Q_h,  pi_h = argmax_a Q_h (lowest index on ties),  V_H = 0.

  With ``rad = 0``, ``theta = theta*`` and ``vmax_h >= H - h`` it is backward induction on the true
  model (rewards in [0, 1]).
* :class:`Commit` — what a learner committed to in one episode (the policy, its optimistic value and
  the confidence sets it planned with): the runner checks the proof events on it.

Everything is NumPy float64 with a leading seed axis ``B``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Commit", "Plan", "Ridge", "ellipsoid_norm", "phi_values", "plan", "ridge", "ridge_update"]


class Ridge(NamedTuple):
    """Weighted ridge regression state; leading axes ``[...]`` are batch axes (seeds, regressions).

    ``Sigma [..., d, d]``, ``Sigma_inv [..., d, d]``, ``b [..., d]``, ``theta [..., d]`` (``Sigma^{-1} b``),
    ``logdet [...]`` (``log det Sigma``).
    """

    Sigma: np.ndarray
    Sigma_inv: np.ndarray
    b: np.ndarray
    theta: np.ndarray
    logdet: np.ndarray


def ridge(d: int, lam: float, shape: tuple[int, ...] = ()) -> Ridge:
    """The empty regression ``Sigma = lam I``, ``b = 0`` with batch shape ``shape``."""
    eye = np.broadcast_to(np.eye(d), shape + (d, d))
    return Ridge(lam * eye, eye / lam, np.zeros(shape + (d,)), np.zeros(shape + (d,)),
                 np.full(shape, d * np.log(lam)))


def ridge_update(rg: Ridge, x, y, sigma2) -> Ridge:
    """Add the sample ``(x [..., d], y [...])`` with variance weight ``sigma2 [...] > 0`` (``inf``: no sample).

    ``Sigma^{-1} <- Sigma^{-1} - w Sigma^{-1} x x^T Sigma^{-1} / (1 + w x^T Sigma^{-1} x)`` with
    ``w = 1 / sigma2`` (Sherman-Morrison); ``logdet += log(1 + w x^T Sigma^{-1} x)``.
    """
    x = np.asarray(x, dtype=np.float64)
    w = 1.0 / np.asarray(sigma2, dtype=np.float64)
    Sx = np.einsum("...ij,...j->...i", rg.Sigma_inv, x)
    q = np.maximum(np.einsum("...i,...i->...", x, Sx), 0.0)
    c = w / (1.0 + w * q)
    Sinv = rg.Sigma_inv - c[..., None, None] * Sx[..., :, None] * Sx[..., None, :]
    Sigma = rg.Sigma + w[..., None, None] * x[..., :, None] * x[..., None, :]
    b = rg.b + (w * np.asarray(y, dtype=np.float64))[..., None] * x
    theta = np.einsum("...ij,...j->...i", Sinv, b)
    return Ridge(Sigma, Sinv, b, theta, rg.logdet + np.log1p(w * q))


def ellipsoid_norm(M, x) -> np.ndarray:
    """``sqrt(x^T M x)`` for ``M [..., d, d]`` and ``x [..., d]`` (broadcast over the leading axes)."""
    return np.sqrt(np.maximum(np.einsum("...i,...ij,...j->...", x, M, x), 0.0))


def phi_values(phi, V) -> np.ndarray:
    """``phi_V [B, S, A, d]`` for features ``phi [S, A, S, d]`` and values ``V [B, S]``."""
    return np.einsum("satd,bt->bsad", phi, V)


class Plan(NamedTuple):
    """Output of :func:`plan`: ``Q [B, H, S, A]``, ``V [B, H+1, S]`` (``V[:, H] = 0``), ``policy`` int [B, H, S],
    ``width [B, H, S, A]`` = ``||phi_{V_{h+1}}(s, a)||_{Sigma_h^{-1}}``."""

    Q: np.ndarray
    V: np.ndarray
    policy: np.ndarray
    width: np.ndarray


def plan(phi, r, theta, Sigma_inv, rad, vmax) -> Plan:
    """The optimistic planner PLAN (module docstring), batched over seeds.

    Args:
        phi: features ``[S, A, S, d]`` or ``[H, S, A, S, d]``.
        r: rewards ``[H, S, A]``.
        theta: estimates ``[B, H, d]`` (the regression used at step h).
        Sigma_inv: ``[B, H, d, d]``.
        rad: confidence radii ``[B, H]`` (0: the greedy, certainty-equivalent plan).
        vmax: value caps ``[H]`` (``H - h`` for per-step rewards in [0, 1]).
    """
    B, H, d = theta.shape
    S, A = r.shape[-2:]
    V = np.zeros((B, H + 1, S))
    Q = np.empty((B, H, S, A))
    width = np.empty((B, H, S, A))
    for h in range(H - 1, -1, -1):
        phiV = phi_values(phi if phi.ndim == 4 else phi[h], V[:, h + 1])
        width[:, h] = ellipsoid_norm(Sigma_inv[:, h, None, None], phiV)
        mean = np.einsum("bsad,bd->bsa", phiV, theta[:, h])
        Q[:, h] = np.clip(r[h] + mean + rad[:, h, None, None] * width[:, h], 0.0, vmax[h])
        V[:, h] = Q[:, h].max(axis=-1)
    return Plan(Q, V, np.argmax(Q, axis=-1), width)


class Commit(NamedTuple):
    """What a linear-mixture learner committed to in one episode, batched over seeds ``B``.

    ``policy`` int [B, H, S]; ``value [B]`` = ``rho . V^k_0`` (its optimistic value); ``theta [B, R, d]``,
    ``Sigma [B, R, d, d]``, ``rad [B, R]``: the ``R`` confidence ellipsoids ``||theta - theta_j||_{Sigma_j}
    <= rad_j`` it planned with (``R = H`` step-dependent regressions or one shared); ``step_reg`` int [H]:
    the regression of each step; ``width [B, H, S, A]``: the planner's bonus widths; ``vmax [H]``.
    """

    policy: np.ndarray
    value: np.ndarray
    theta: np.ndarray
    Sigma: np.ndarray
    rad: np.ndarray
    step_reg: np.ndarray
    width: np.ndarray
    vmax: np.ndarray


def bernstein_sigma2(x, x2, main: Ridge, second: Ridge, rad_breve, rad_tilde, vmax: float, d: int):
    """UCRL-VTR+'s variance weight (Zhou, Gu, Szepesvari, arXiv 2012.08507; dissertation eqs. (2.5.1)-(2.5.4))::

        Vbar = [<x2, theta_tilde>]_[0, vmax^2] - [<x, theta_hat>]^2_[0, vmax]
        E = min(vmax^2, rad_tilde ||x2||_{Sigma_tilde^-1}) + min(vmax^2, 2 vmax rad_breve ||x||_{Sigma_hat^-1})
        sigma2 = max(vmax^2 / d, Vbar + E)

    ``x``, ``x2`` [B, d]; ``main``/``second`` the regressions frozen at the start of the episode ([B] batch).
    """
    mean = np.clip(np.einsum("bd,bd->b", x, main.theta), 0.0, vmax)
    sec = np.clip(np.einsum("bd,bd->b", x2, second.theta), 0.0, vmax**2)
    E = (np.minimum(vmax**2, rad_tilde * ellipsoid_norm(second.Sigma_inv, x2))
         + np.minimum(vmax**2, 2.0 * vmax * rad_breve * ellipsoid_norm(main.Sigma_inv, x)))
    return np.maximum(vmax**2 / d, sec - mean**2 + E)


def take_regression(rg: Ridge, j) -> Ridge:
    """Regression ``j`` of a batch of ridge states (fields ``[B, R, ...]`` -> ``[B, ...]``)."""
    return Ridge(*(x[:, j] for x in rg))


def put_regression(rg: Ridge, j, new: Ridge) -> Ridge:
    """A copy of ``rg`` with regression ``j`` replaced by ``new`` (the caller's state is not modified)."""
    out = []
    for old, val in zip(rg, new, strict=True):
        arr = old.copy()
        arr[:, j] = val
        out.append(arr)
    return Ridge(*out)

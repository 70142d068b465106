"""Oracles of the MDP linear program written as a bilinear saddle point (exact and sampled).

The saddle function of a tabular MDP ``P [S, A, S]``, ``r [S, A]``, discount ``gamma`` and start
distribution ``rho [S]`` (``gamma = 1``: the average-reward criterion, where the ``rho`` term
vanishes) is

.. math::

    f(v, d) = (1-\\gamma)\\rho^\\top v + \\sum_{s,a} d(s,a)\\,[r(s,a) + \\gamma P(s,a)^\\top v - v(s)],
    \\qquad v \\in [lo, hi]^S,\\ d \\in \\Delta(S \\times A),

``min_v max_d f`` (M. Wang, Math. Oper. Res. 45(2), 2020; Jin & Sidford, arXiv 2008.12776). With
``Mat = gamma P - I_hat`` (``I_hat[(s, a), s'] = 1{s' = s}``) its partial gradients are::

    g_v(d) = (1 - gamma) rho + Mat^T d      [S]      (the v-player descends)
    g_d(v) = r + Mat v                      [S, A]   (the d-player ascends)

:class:`SaddleOracle` computes both exactly (written on the array namespace of its inputs: NumPy
float64 or ``jax.numpy``); :class:`SampledSaddleOracle` estimates them from a generative model as
Jin & Sidford's stochastic mirror descent does (NumPy only, seeded). One call of ``operator(v, d)``
is one evaluation of the monotone operator ``F(v, d) = (g_v(d), -g_d(v))``: the unit of
``Rule.oracle_calls``. This module is a leaf: it imports only :mod:`polopt._base` and :mod:`polopt._deprecation`.
The occupancy is ``d`` (README "Notation"; ``mu`` is the reference policy): the old names ``grad_mu`` and
``SaddleGradients.g_mu`` still work with a DeprecationWarning.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._base import array_namespace
from .._deprecation import renamed_field, renamed_function

__all__ = ["SaddleGradients", "SaddleOracle", "SampledSaddleOracle", "grad_d", "grad_v", "operator_norm"]


class SaddleGradients(NamedTuple):
    """``g_v [S]`` (gradient of ``f`` in ``v``) and ``g_d [S, A]`` (gradient of ``f`` in ``d``)."""

    g_v: Any
    g_d: Any

    g_mu = renamed_field("g_mu", "g_d")


def grad_v(P, gamma, rho, d):
    """``(1 - gamma) rho + gamma sum_{s,a} d(s,a) P(s,a,.) - sum_a d(., a)`` — the flow residual, [S]."""
    xp = array_namespace(P, d)
    S, A = d.shape[-2:]
    # one (S A) x S matrix product (BLAS), also for a batch of occupancies [..., S, A]
    inflow = xp.reshape(d, d.shape[:-2] + (S * A,)) @ xp.reshape(P, (S * A, P.shape[-1]))
    return (1.0 - gamma) * rho + gamma * inflow - xp.sum(d, axis=-1)


def grad_d(P, r, gamma, v):
    """``r + gamma P v - v[:, None]`` — the Bellman residual of ``v`` per state-action, [S, A] (``v [..., S]``)."""
    xp = array_namespace(P, v)
    # one instance: a BLAS matrix-vector product; a batch of values: einsum over the leading axes
    Pv = P @ v if v.ndim == 1 else xp.einsum("sat,...t->...sa", P, v)
    return r + gamma * Pv - v[..., :, None]


grad_mu = renamed_function("grad_mu", grad_d)


def operator_norm(P, gamma) -> float:
    """``L = max_{s,a} ||gamma P(s,a,.) - e_s||_2``, the Lipschitz constant of the saddle operator.

    It bounds ``|d^T Mat w| <= L ||d||_1 ||w||_2``, the constant of the step condition
    ``eta_v eta_d <= 1 / L^2`` (``L <= 1 + gamma``; ``<= sqrt 2`` at ``gamma = 1``). NumPy float.
    """
    P = np.asarray(P, dtype=np.float64)
    S = P.shape[0]
    M = gamma * P - np.eye(S)[:, None, :]
    return float(np.sqrt(np.max(np.sum(M * M, axis=-1))))


class SaddleOracle(NamedTuple):
    """The exact oracle of the MDP saddle point.

    Fields: ``P [S, A, S]`` dense, ``r [S, A]``, ``gamma`` (a Python float; 1.0 = average reward),
    ``rho [S]`` (unused at ``gamma = 1``), ``lo`` / ``hi`` the box of the value player (floats).
    NumPy or ``jax.numpy`` arrays; build it inside a ``jax.vmap``-ed function to batch instances.
    """

    P: Any
    r: Any
    gamma: float
    rho: Any
    lo: float
    hi: float

    def operator(self, v, d) -> SaddleGradients:
        """Both partial gradients at ``(v [S], d [S, A])``: one operator evaluation (two matrix products)."""
        return SaddleGradients(grad_v(self.P, self.gamma, self.rho, d), grad_d(self.P, self.r, self.gamma, v))

    def cost(self) -> int:
        """Kernel passes one :meth:`operator` call makes (exact: one per gradient, counted as one call)."""
        return 1


class SampledSaddleOracle:
    """Unbiased estimates of the saddle gradients from a generative model (NumPy, seeded).

    With ``m = num_samples`` independent draws per call (Jin & Sidford, arXiv 2008.12776, §3-4; the
    estimators below are our reading of their "sample a state-action pair, then a next state"
    scheme, tagged ``recalled``):

    * ``g_v``: ``s0_j ~ rho``, ``(s_j, a_j) ~ d``, ``s'_j ~ P(s_j, a_j, .)``;
      ``g_v ≈ (1/m) sum_j [(1 - gamma) e_{s0_j} + gamma e_{s'_j} - e_{s_j}]``;
    * ``g_d``: ``(s_j, a_j)`` uniform over the ``S A`` pairs, ``s'_j ~ P(s_j, a_j, .)``;
      ``g_d ≈ (S A / m) sum_j [r(s_j, a_j) + gamma v(s'_j) - v(s_j)] e_{(s_j, a_j)}``.

    Both are unbiased (``tests/test_saddle.py`` checks the means against :class:`SaddleOracle`);
    one :meth:`operator` call takes ``2 m`` transitions (``m`` more start states when ``gamma < 1``).
    """

    def __init__(self, P, r, gamma: float, rho, lo: float, hi: float, rng: np.random.Generator, num_samples: int):
        self.P = np.asarray(P, dtype=np.float64)
        self.r = np.asarray(r, dtype=np.float64)
        self.gamma, self.lo, self.hi = float(gamma), float(lo), float(hi)
        self.rho = np.asarray(rho, dtype=np.float64)
        self.rng, self.num_samples = rng, int(num_samples)
        S, A = self.r.shape
        self._cdf = np.cumsum(self.P.reshape(S * A, S), axis=1)  # next-state inverse-CDF sampling
        self._rho_cdf = np.cumsum(self.rho)

    def _next(self, pairs: np.ndarray) -> np.ndarray:
        u = self.rng.random(pairs.size)
        cdf = self._cdf[pairs]
        return np.minimum(np.sum(cdf < u[:, None] * cdf[:, -1:], axis=1), self.r.shape[0] - 1)

    def operator(self, v, d) -> SaddleGradients:
        S, A = self.r.shape
        m = self.num_samples
        d = np.asarray(d, dtype=np.float64).reshape(-1)
        pairs = np.minimum(np.searchsorted(np.cumsum(d), self.rng.random(m) * d.sum(), side="right"), S * A - 1)
        g_v = (np.bincount(self._next(pairs), minlength=S) * self.gamma - np.bincount(pairs // A, minlength=S)) / m
        if self.gamma < 1.0:
            starts = np.minimum(np.searchsorted(self._rho_cdf, self.rng.random(m) * self._rho_cdf[-1], side="right"),
                                S - 1)
            g_v = g_v + (1.0 - self.gamma) * np.bincount(starts, minlength=S) / m
        uni = self.rng.integers(0, S * A, size=m)
        v = np.asarray(v, dtype=np.float64)
        td = self.r.reshape(-1)[uni] + self.gamma * v[self._next(uni)] - v[uni // A]
        g_d = (S * A / m) * np.bincount(uni, weights=td, minlength=S * A).reshape(S, A)
        return SaddleGradients(g_v, g_d)

    def cost(self) -> int:
        """Transitions sampled by one :meth:`operator` call."""
        return 2 * self.num_samples

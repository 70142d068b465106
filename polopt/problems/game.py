"""Symmetric preference games (Nash learning from human feedback).

``P[y, y'] = Pr(y preferred to y')`` with ``P + P.T = 1`` (diagonal 1/2). The regularized
game (Munos et al., "Nash Learning from Human Feedback", arXiv 2312.00886) is

.. math::  J_\\beta(\\pi, \\pi') = \\pi^\\top P \\pi' - \\beta\\,\\mathrm{KL}(\\pi\\|\\mu)
           + \\beta\\,\\mathrm{KL}(\\pi'\\|\\mu),

symmetric and constant-sum with value 1/2; its unique equilibrium for ``beta > 0`` solves
``pi* ∝ mu exp(P pi* / beta)``.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_distribution, as_float_array, as_scalar, check_nonnegative
from ._base import Problem

#: Tolerance on ``P + P.T = 1`` (entries built as ``1 - x`` in float64 are exact to ~1e-16).
SKEW_ATOL = 1e-9


class PreferenceGame(Problem):
    """Preference game ``(P, mu, beta)``.

    Args:
        P: preference matrix [K, K] with entries in [0, 1] and ``P + P.T == 1``.
        reference: reference policy ``mu`` [K]; uniform if None.
        beta: KL coefficient ``>= 0`` (0 = unregularized game).

    Raises:
        ValueError: "P[2, 0] + P[0, 2] = 1.1, expected 1 (tolerance 1e-09)", entries outside
            [0, 1], NaN, non-square P, reference off the simplex, negative beta.
    """

    __slots__ = ("P", "mu", "beta", "num_actions")

    def __init__(self, P, reference=None, beta: float = 0.0):
        P = as_float_array("P", P, ndim=2)
        K = P.shape[0]
        if P.shape != (K, K) or K < 1:
            raise ValueError(f"P must be a square [K, K] matrix, got shape {P.shape}")
        check_nonnegative("P", P, atol=0.0)
        above = P > 1.0
        if above.any():
            i, j = np.argwhere(above)[0]
            raise ValueError(f"P[{i}, {j}] is {P[i, j]:.6g}, expected a probability <= 1")
        dev = np.abs(P + P.T - 1.0)
        if (dev > SKEW_ATOL).any():
            i, j = np.argwhere(dev > SKEW_ATOL)[0]
            raise ValueError(
                f"P[{i}, {j}] + P[{j}, {i}] = {P[i, j] + P[j, i]:.12g}, expected 1 "
                f"(tolerance {SKEW_ATOL:g}); a preference matrix satisfies P + P.T = 1"
            )
        mu = np.full(K, 1.0 / K) if reference is None else as_distribution("reference", reference, (K,)).copy()
        mu.setflags(write=False)
        self.P = P
        self.mu = mu
        self.beta = as_scalar("beta", beta, low=0.0)
        self.num_actions = K
        self._freeze()

    @property
    def reference(self) -> np.ndarray:
        return self.mu

    @property
    def skew(self) -> np.ndarray:
        """``P - 1/2``: the skew-symmetric payoff of the zero-sum form of the game."""
        return self.P - 0.5

    def with_beta(self, beta: float) -> PreferenceGame:
        return PreferenceGame(self.P, self.mu, beta)

    def __repr__(self) -> str:
        return f"PreferenceGame(K={self.num_actions}, beta={self.beta:g})"

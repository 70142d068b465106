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
from ._base import Problem, contexts_and_reference

#: Tolerance on ``P + P.T = 1`` (entries built as ``1 - x`` in float64 are exact to ~1e-16).
SKEW_ATOL = 1e-9


def check_preference_matrix(name: str, P: np.ndarray) -> None:
    """Entries in [0, 1] and ``P + P^T = 1`` (within :data:`SKEW_ATOL`) for ``P`` [..., K, K].

    Raises ValueError naming ``name``, the first offending index and the value found, e.g.
    ``"P[2, 0] + P[0, 2] = 1.1, expected 1 (tolerance 1e-09)"`` (leading indices first for a stack).
    """
    check_nonnegative(name, P, atol=0.0)
    above = P > 1.0
    if above.any():
        idx = tuple(int(i) for i in np.argwhere(above)[0])
        raise ValueError(f"{name}[{', '.join(map(str, idx))}] is {P[idx]:.6g}, expected a probability <= 1")
    PT = np.swapaxes(P, -1, -2)
    dev = np.abs(P + PT - 1.0)
    if (dev > SKEW_ATOL).any():
        idx = tuple(int(i) for i in np.argwhere(dev > SKEW_ATOL)[0])
        *lead, i, j = idx
        pre = "".join(f"{x}, " for x in lead)
        raise ValueError(
            f"{name}[{pre}{i}, {j}] + {name}[{pre}{j}, {i}] = {P[idx] + PT[idx]:.12g}, expected 1 "
            f"(tolerance {SKEW_ATOL:g}); a preference matrix satisfies P + P.T = 1"
        )


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
        check_preference_matrix("P", P)
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

    @classmethod
    def from_openspiel(cls, game, beta: float = 0.0, reference=None, scale: float | None = None) -> PreferenceGame:
        """A symmetric constant-sum OpenSpiel matrix game: ``P = 1/2 + (U - k/2) / (2c)``
        (:func:`polopt.problems.interop.preference_game_from_openspiel`)."""
        from .interop import preference_game_from_openspiel

        return preference_game_from_openspiel(game, beta=beta, reference=reference, scale=scale)

    def __repr__(self) -> str:
        return f"PreferenceGame(K={self.num_actions}, beta={self.beta:g})"


class ContextualPreferenceGame(Problem):
    """A prompt distribution times per-prompt preference games: ``x ~ rho``, game ``(P[x], mu[x], beta)``.

    The objective of a policy ``pi`` [X, K] is the ``rho``-average of the per-context games;
    they decouple, so the equilibrium is ``pi*[x]`` = the equilibrium of context ``x``, and every
    certificate (exploitability, duality gap, KL to the optimum) is the ``rho``-weighted average
    of the per-context ones.

    Args:
        P: preference matrices [X, K, K], each with entries in [0, 1] and ``P[x] + P[x].T == 1``.
        contexts: context distribution ``rho`` [X]; uniform if None.
        reference: reference policy, [K] (shared by every context) or [X, K]; uniform if None.
        beta: KL coefficient ``>= 0``.

    Raises:
        ValueError: as :class:`PreferenceGame`, with the context index first
            ("P[1, 2, 0] + P[1, 0, 2] = 1.1, expected 1 ..."), or on a bad ``contexts``/``reference``.
    """

    __slots__ = ("P", "rho", "mu", "beta", "num_contexts", "num_actions")

    def __init__(self, P, contexts=None, reference=None, beta: float = 0.0):
        P = as_float_array("P", P, ndim=3)
        X, K, K2 = P.shape
        if K != K2 or X < 1 or K < 1:
            raise ValueError(f"P must have shape [X, K, K] with X, K >= 1, got shape {P.shape}")
        check_preference_matrix("P", P)
        rho, mu = contexts_and_reference(contexts, reference, X, K)
        self.P = P
        self.rho = rho
        self.mu = mu
        self.beta = as_scalar("beta", beta, low=0.0)
        self.num_contexts = X
        self.num_actions = K
        self._freeze()

    @property
    def contexts(self) -> np.ndarray:
        return self.rho

    @property
    def reference(self) -> np.ndarray:
        return self.mu

    def game(self, x: int) -> PreferenceGame:
        """The preference game of context ``x``."""
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or not 0 <= x < self.num_contexts:
            raise ValueError(f"x must be a context index in [0, {self.num_contexts}), got {x!r}")
        return PreferenceGame(self.P[x], self.mu[x], self.beta)

    def games(self) -> list[PreferenceGame]:
        """The per-context games, in context order."""
        return [self.game(x) for x in range(self.num_contexts)]

    def with_beta(self, beta: float) -> ContextualPreferenceGame:
        return ContextualPreferenceGame(self.P, self.rho, self.mu, beta)

    def __repr__(self) -> str:
        return f"ContextualPreferenceGame(X={self.num_contexts}, K={self.num_actions}, beta={self.beta:g})"

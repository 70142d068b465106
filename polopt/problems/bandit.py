"""Bandits: one-step decision problems with an optional KL regularizer.

Objective of a policy ``pi`` on the simplex over K actions:

.. math::  J(\\pi) = \\sum_a \\pi(a) r(a) - \\beta\\,\\mathrm{KL}(\\pi \\,\\|\\, \\mu),

maximized by the Gibbs policy ``pi* ∝ mu exp(r / beta)`` for ``beta > 0`` (proof in
``proofs/gibbs_proof.py``) and by any distribution on ``argmax r`` for ``beta = 0``.
A contextual bandit draws a context ``x ~ rho`` first; rewards are ``r[x, a]``.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_distribution, as_float_array, as_scalar
from ._base import Problem, contexts_and_reference


class Bandit(Problem):
    """K-armed bandit with expected rewards ``r`` [K], reference ``mu`` [K] and KL weight ``beta``.

    Args:
        rewards: expected reward of each arm, shape [K], finite.
        reference: reference policy ``mu`` on the simplex, shape [K]; uniform if None.
        beta: KL-regularization coefficient, ``beta >= 0``.

    Raises:
        TypeError / ValueError naming the argument and first bad index.
    """

    __slots__ = ("r", "mu", "beta", "num_actions")

    def __init__(self, rewards, reference=None, beta: float = 0.0):
        r = as_float_array("rewards", rewards, ndim=1)
        if r.shape[0] < 1:
            raise ValueError("rewards must have at least one arm, got shape (0,)")
        K = r.shape[0]
        mu = np.full(K, 1.0 / K) if reference is None else as_distribution("reference", reference, (K,))
        mu.setflags(write=False)
        self.r = r
        self.mu = mu
        self.beta = as_scalar("beta", beta, low=0.0)
        self.num_actions = K
        self._freeze()

    @property
    def rewards(self) -> np.ndarray:
        return self.r

    @property
    def reference(self) -> np.ndarray:
        return self.mu

    def to_mdp(self):
        """The bandit as a one-state, horizon-1 :class:`TabularMDP` (rewards ``r[0, a]``)."""
        from .mdp import TabularMDP

        K = self.num_actions
        return TabularMDP(np.ones((1, K, 1)), self.r[None, :], horizon=1)

    def __repr__(self) -> str:
        return f"Bandit(K={self.num_actions}, beta={self.beta:g})"


class ContextualBandit(Problem):
    """Contextual bandit: contexts ``x ~ rho`` [X], rewards ``r[x, a]`` [X, K].

    Args:
        rewards: shape [X, K].
        contexts: context distribution ``rho`` [X]; uniform if None.
        reference: reference policy, [K] (shared) or [X, K]; uniform if None.
        beta: KL coefficient ``>= 0``.
    """

    __slots__ = ("r", "rho", "mu", "beta", "num_contexts", "num_actions")

    def __init__(self, rewards, contexts=None, reference=None, beta: float = 0.0):
        r = as_float_array("rewards", rewards, ndim=2)
        X, K = r.shape
        if X < 1 or K < 1:
            raise ValueError(f"rewards must have shape [X, K] with X, K >= 1, got {r.shape}")
        rho, mu = contexts_and_reference(contexts, reference, X, K)
        self.r = r
        self.rho = rho
        self.mu = mu
        self.beta = as_scalar("beta", beta, low=0.0)
        self.num_contexts = X
        self.num_actions = K
        self._freeze()

    @property
    def rewards(self) -> np.ndarray:
        return self.r

    def to_mdp(self):
        """One-step MDP with one state per context, start distribution ``rho``."""
        from .mdp import TabularMDP

        X, K = self.r.shape
        P = np.broadcast_to(np.eye(X)[:, None, :], (X, K, X))
        return TabularMDP(P, self.r, horizon=1, rho=self.rho)

    def __repr__(self) -> str:
        return f"ContextualBandit(X={self.num_contexts}, K={self.num_actions}, beta={self.beta:g})"

"""Adversarial episodic MDPs with linear Q-functions: known transitions, a loss sequence, features.

Setting of Dai, Luo, Wei, Zimmert, "Refined Regret for Adversarial MDPs with Linear Function
Approximation" (arXiv 2301.12942): K episodes of horizon H on a fixed kernel P; in episode k the
adversary's loss is ``losses[k]`` [H, S, A] in [0, 1]; the learner knows features
``phi(s, a) in R^d`` such that ``Q^pi_{k,h}(s, a) = <phi(s, a), theta^pi_{k,h}>`` for every policy.
With the default one-hot features ``phi(s, a) = e_(s,a)`` (d = S A) the linear-Q assumption holds
for every loss sequence, so the instance is exactly runnable.

The exact benchmark needs no sampling: transitions are fixed, so ``sum_k V^pi(l_k) = V^pi(sum_k l_k)``
and the best fixed policy in hindsight is one backward induction on the summed loss
(:func:`polopt._methods.adversarial.best_in_hindsight`).
"""

from __future__ import annotations

import numpy as np

from .._validation import _index, as_float_array, as_positive_int, freeze
from ._base import Problem
from .mdp import TabularMDP

#: Loss entries may leave [0, 1] by this much (round-off of user-built sequences) before they are refused.
LOSS_ATOL = 1e-12


class AdversarialMDP(Problem):
    """An episodic MDP with fixed transitions and an adversarial loss sequence ``losses`` [K, H, S, A].

    Args:
        P: transition kernel [S, A, S] (or [H, S, A, S]); rows are distributions.
        losses: the adversary's losses [K, H, S, A] in [0, 1] (K episodes, H steps).
        phi: features [S, A, d] of the linear-Q assumption; one-hot ``e_(s,a)`` (d = S A) if None.
        rho: start-state distribution [S]; uniform if None.

    Attributes: ``P`` (dense, read-only), ``losses``, ``phi``, ``rho``, ``num_episodes`` K,
    ``horizon`` H, ``num_states`` S, ``num_actions`` A, ``dim`` d, ``mdp`` (the
    :class:`TabularMDP` of the kernel with zero reward, for exact evaluation helpers).

    Raises:
        ValueError: a loss sequence that is not 4-dimensional, whose [S, A] disagree with ``P``, or
            with an entry outside [0, 1] (the message names the first bad index); features of the
            wrong shape; a kernel row off the simplex (from :class:`TabularMDP`).
    """

    __slots__ = ("P", "losses", "phi", "rho", "num_episodes", "horizon", "num_states", "num_actions", "dim", "mdp")

    def __init__(self, P, losses, phi=None, rho=None):
        losses = as_float_array("losses", losses)
        if losses.ndim != 4:
            raise ValueError(f"losses must have shape [K, H, S, A] (4 dimensions), got shape {losses.shape}")
        K, H, S, A = losses.shape
        if min(K, H, S, A) < 1:
            raise ValueError(f"losses must have shape [K, H, S, A] with every axis >= 1, got {losses.shape}")
        bad = (losses < -LOSS_ATOL) | (losses > 1.0 + LOSS_ATOL)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise ValueError(f"losses[{_index(i, losses.shape)}] is {losses.ravel()[i]:.6g}, expected a loss in [0, 1]")
        P = as_float_array("P", P, ndim=(3, 4))
        if P.shape[-3:] != (S, A, S) or (P.ndim == 4 and P.shape[0] != H):
            want = f"[{S}, {A}, {S}] or [{H}, {S}, {A}, {S}]"
            raise ValueError(f"P must have shape {want} to match losses [K, H, S, A] = {list(losses.shape)}, "
                             f"got {P.shape}")
        if phi is None:
            phi = freeze(np.eye(S * A).reshape(S, A, S * A))
        else:
            phi = as_float_array("phi", phi, ndim=3)
            if phi.shape[:2] != (S, A) or phi.shape[2] < 1:
                raise ValueError(f"phi must have shape [S, A, d] = [{S}, {A}, d] with d >= 1, got {phi.shape}")
        mdp = TabularMDP(P, np.zeros((S, A)), rho=rho, horizon=H)  # validates the rows of P and rho
        self.P = P
        self.losses = losses
        self.phi = phi
        self.rho = mdp.rho
        self.num_episodes, self.horizon, self.num_states, self.num_actions = K, H, S, A
        self.dim = int(phi.shape[2])
        self.mdp = mdp
        self._freeze()

    def P_at(self, h: int) -> np.ndarray:
        """Kernel at step ``h`` as an [S, A, S] array."""
        return self.P[h] if self.P.ndim == 4 else self.P

    def __repr__(self) -> str:
        return (f"AdversarialMDP(K={self.num_episodes}, H={self.horizon}, S={self.num_states}, "
                f"A={self.num_actions}, d={self.dim})")


def switching_losses(num_episodes: int, horizon: int, num_states: int, num_actions: int, *, period: int = 0,
                     seed=0) -> np.ndarray:
    """An oblivious switching adversary: losses [K, H, S, A] in [0, 1].

    Two base loss tables ``l^0, l^1`` [H, S, A] are drawn uniformly from [0, 1] (seeded); episode k
    plays ``l^{(k // period) mod 2}`` (``period = 0``: ``max(1, round(sqrt(K)))``), so the best action
    of a state flips between phases and no fixed policy is good in every episode.
    """
    K = as_positive_int("num_episodes", num_episodes)
    H = as_positive_int("horizon", horizon)
    S = as_positive_int("num_states", num_states)
    A = as_positive_int("num_actions", num_actions)
    period = as_positive_int("period", period, minimum=0) or max(1, round(K**0.5))
    base = np.random.default_rng(seed).uniform(0.0, 1.0, size=(2, H, S, A))
    return base[(np.arange(K) // period) % 2]


def random_adversarial_mdp(num_episodes: int, horizon: int = 3, num_states: int = 3, num_actions: int = 3, *,
                           period: int = 0, seed=0) -> AdversarialMDP:
    """A small seeded instance: a Dirichlet(1) kernel [S, A, S], uniform start, one-hot features and
    :func:`switching_losses`."""
    S = as_positive_int("num_states", num_states)
    A = as_positive_int("num_actions", num_actions)
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    losses = switching_losses(num_episodes, horizon, S, A, period=period, seed=rng.integers(2**31))
    return AdversarialMDP(P, losses)

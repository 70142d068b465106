"""The exact oracle of a tabular MDP: what a policy-gradient rule may ask about ``(P, r, gamma, rho)``.

A rule never sees a problem: its ``update(state, oracle)`` calls ``oracle.evaluate(pi)`` for the
values of its current policy and reads ``oracle.gamma`` where its step has a ``1/(1-gamma)``
factor. :class:`MDPOracle` is that object; :func:`evaluate` is the computation it makes, written
once against the array namespace of its inputs (NumPy float64 or ``jax.numpy``; ``jax.vmap`` it
over ``(state, P, r)`` for batches).

For one instance ``P [S, A, S]``, ``r [S, A]``, ``pi [S, A]``, ``rho [S]``, entropy temperature
``tau >= 0`` and, for the RLHF objective, a reference ``mu [S, A]`` (as ``log_mu``) with KL
coefficient ``beta >= 0``, two dense linear solves give :class:`PGOracle`::

    v   [S]     V^pi = (I - gamma P_pi)^{-1} (r_pi + tau H(pi(.|s)) - beta KL(pi(.|s) || mu(.|s)))
    q   [S, A]  Q^pi = r + gamma P v
    adv [S, A]  q - tau log pi - beta (log pi - log mu) - v[:, None]
                (the regularized advantage: Mei et al.'s soft advantage, Eq. 18, for the entropy;
                 = Q - V at tau = beta = 0)
    d   [S]     d^pi_rho = (1 - gamma) (I - gamma P_pi^T)^{-1} rho   (normalized discounted visitation)

At an action with ``pi(a|s) = 0`` the advantage reads ``log pi`` as 0 (as the entropy term does:
only ``pi * adv`` and the support of ``pi`` enter the rules); where ``pi(a|s) > 0 = mu(a|s)`` the
KL is infinite: ``v`` is ``-inf`` there and ``adv`` is ``-inf`` (a zero-probability reference
action is never played; the runners refuse such a start).

It equals :func:`polopt.exact.evaluate` (``V``, ``Q``, ``advantage``, ``occupancy.sum(-1)``) and
:func:`polopt.exact.soft.regularized_policy_evaluation` to 1e-10 (``tests/test_rules_pg.py``). A
bandit is the one-state MDP ``P = ones[1, K, 1]``, ``r = rewards[None]``, ``gamma = 0``, ``rho = [1]``;
a contextual bandit has ``P[x, a] = e_x``, ``gamma = 0``, ``rho = contexts``
(:func:`bandit_as_mdp_arrays`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._base import array_namespace
from .._logspace import kl_log

__all__ = ["MDPOracle", "PGOracle", "bandit_as_mdp_arrays", "evaluate"]


class PGOracle(NamedTuple):
    """Exact values of one policy (shapes for one instance).

    ``v [S]`` value (soft value with ``tau > 0``), ``q [S, A]``, ``adv [S, A]`` (soft advantage
    ``q - tau log pi - v``), ``d [S]`` normalized discounted state visitation from ``rho``.
    """

    v: Any
    q: Any
    adv: Any
    d: Any


def evaluate(P, r, gamma, pi, rho, tau=0.0, log_mu=None, beta=0.0) -> PGOracle:
    """Exact (regularized) evaluation of ``pi`` by two dense linear solves; see the module docstring.

    Args:
        P: kernel ``[S, A, S]``; r: rewards ``[S, A]``; gamma: discount in ``[0, 1)``;
        pi: policy ``[S, A]``; rho: start distribution ``[S]``; tau: entropy temperature ``>= 0``;
        log_mu: log of the reference policy ``[S, A]`` (``-inf`` allowed), None without a KL term;
        beta: KL coefficient ``>= 0`` (a Python float; read only with ``log_mu``).

    Returns:
        :class:`PGOracle` ``(v [S], q [S, A], adv [S, A], d [S])``.

    Tested against :func:`polopt.exact.evaluate` (tau = 0), and
    :func:`polopt.exact.soft.regularized_policy_evaluation` (tau > 0 with the uniform reference; beta > 0
    with any reference) to 1e-10 (``tests/test_rules_pg.py``, ``tests/test_rlhf_pg.py``).
    """
    xp = array_namespace(P, r, pi, rho)
    S = r.shape[-2]
    pos = pi > 0
    # log 0 is never taken: 0 log 0 = 0 in the entropy and in the soft advantage
    log_pi = xp.log(xp.where(pos, pi, 1.0))
    ent = -xp.sum(pi * log_pi, axis=-1)
    # an infeasible pair (r = -inf) without mass contributes 0, not 0 * -inf = nan
    reward = xp.sum(pi * xp.where(pos, r, 0.0), axis=-1) + tau * ent
    kl_adv = 0.0
    if log_mu is not None:
        mu_on = xp.isfinite(log_mu)
        # log mu is read only where pi > 0 (elsewhere -inf - -inf would be a NaN warning, masked anyway)
        reward = reward - beta * kl_log(xp.where(pos, log_pi, -xp.inf), xp.where(pos, log_mu, 0.0))
        kl_adv = xp.where(pos & ~mu_on, xp.inf, beta * (log_pi - xp.where(mu_on, log_mu, 0.0)))
    P_pi = xp.einsum("sa,sat->st", pi, P)
    M = xp.eye(S, dtype=P_pi.dtype) - gamma * P_pi
    v = xp.linalg.solve(M, reward)
    q = r + gamma * (P @ v)  # a BLAS matrix-vector product ([S, A, S] @ [S]); einsum here is 2-3x slower
    d = (1.0 - gamma) * xp.linalg.solve(M.T, rho)
    adv = q - v[:, None] - tau * log_pi - kl_adv
    return PGOracle(v, q, adv, d)


class MDPOracle(NamedTuple):
    """The exact oracle of a discounted tabular MDP, as every policy-gradient rule receives it.

    Fields: ``P [S, A, S]`` (dense), ``r [S, A]``, ``gamma`` (a Python float: rules branch on it, so
    it is not vmapped), ``rho [S]`` the start distribution, ``tau`` the entropy temperature of
    :meth:`evaluate` (0: unregularized values), ``log_mu [S, A]`` the log-reference of the RLHF
    objective and ``beta`` its KL coefficient (a Python float, like ``gamma``; ``log_mu=None``: no
    KL term). NumPy or ``jax.numpy`` arrays; build it inside a ``jax.vmap``-ed function to batch
    over instances.
    """

    P: Any
    r: Any
    gamma: float
    rho: Any
    tau: float = 0.0
    log_mu: Any = None
    beta: float = 0.0

    @property
    def regularized(self) -> bool:
        """Whether :meth:`evaluate` carries the KL term ``- beta KL(pi || mu)`` (a Python bool)."""
        return self.log_mu is not None and float(self.beta) > 0.0

    def evaluate(self, pi, tau=None) -> PGOracle:
        """:func:`evaluate` of ``pi [S, A]`` at temperature ``tau`` (default: the oracle's), with the
        oracle's KL term."""
        return evaluate(self.P, self.r, self.gamma, pi, self.rho, self.tau if tau is None else tau,
                        self.log_mu if self.regularized else None, self.beta)

    def cost(self) -> int:
        """Evaluations one call of :meth:`evaluate` makes (the exact oracle: one)."""
        return 1


def bandit_as_mdp_arrays(rewards, contexts=None):
    """``(P, r, gamma, rho)`` of the one-step MDP of a bandit ``[K]`` or contextual bandit ``[X, K]``.

    NumPy arrays; ``gamma = 0`` so that ``q = r`` and ``d = rho`` (the context distribution).
    """
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim == 1:
        r = r[None, :]
    X, K = r.shape
    P = np.broadcast_to(np.eye(X)[:, None, :], (X, K, X)).copy()
    rho = np.full(X, 1.0 / X) if contexts is None else np.asarray(contexts, dtype=np.float64)
    return P, r, 0.0, rho

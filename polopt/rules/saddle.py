"""Mirror prox on the linear program of an MDP, written as a bilinear saddle point.

The saddle function and its oracle are in :mod:`polopt.oracles.saddle`: ``min_{v in [lo, hi]^S}
max_{d in simplex(S x A)} f(v, d)`` with ``f = (1 - gamma) rho^T v + d^T (r + Mat v)``,
``Mat = gamma P - I_hat`` (``gamma = 1``: average reward, ``v`` the relative values). Geometry:
``v`` Euclidean (the prox step is a clip onto the box), ``d`` negative entropy (the prox step is
multiplicative). One update (:func:`mdp_mirror_prox_update`, two oracle calls)::

    v_hat  = clip(v  - eta_v g_v(d),     lo, hi)     log d_hat = lognorm(log d + eta_d g_d(v))
    v_next = clip(v  - eta_v g_v(d_hat), lo, hi)     log d_next = lognorm(log d + eta_d g_d(v_hat))

and the output is the running mean of the *extrapolated* points ``v_hat``, ``d_hat`` (Nemirovski's
ergodic average). ``lognorm`` normalises over all ``S A`` entries jointly (``d`` is one distribution
over state-action pairs). The policy of an occupancy is ``pi(a|s) = d(s,a) / sum_a d(s,a)``, and
uniform where ``sum_a d(s,a) = 0`` (:func:`policy_of_occupancy`).

Guarantee (theorem ``mp_mdp.gap``, derived; ``proofs/saddle_mirror_prox_proof.py``): when
``eta_v eta_d <= 1 / L^2`` with ``L = max_{s,a} ||gamma P(s,a) - e_s||_2``,
``Gap_T <= D_v / (eta_v T) + D_d / (eta_d T)`` with ``D_v = max_{v in box} ||v - v_1||^2 / 2`` and
``D_d = max_d KL(d || d_1) = -log min d_1``. Reference: A. Nemirovski, "Prox-method with rate
of convergence O(1/t) for variational inequalities with Lipschitz continuous monotone operators and
smooth convex-concave saddle point problems", SIAM J. Optim. 15(1), 2004; the MDP saddle point of
M. Wang (arXiv 1704.01869) and Jin & Sidford (arXiv 2008.12776).

The rule is written on the array namespace of its inputs (NumPy float64 or ``jax.numpy``; no
Python branch on array values), so ``jax.jit(jax.vmap(...))`` runs the same update.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._base import array_namespace
from .._deprecation import renamed, renamed_field
from ._core import Rule, _concrete, hparams, log_normalize, step_size

__all__ = [
    "SaddleState",
    "joint_log_normalize",
    "mdp_mirror_prox",
    "mdp_mirror_prox_init",
    "mdp_mirror_prox_update",
    "policy_of_occupancy",
]

NAME = "mirror_prox"


def joint_log_normalize(log_d):
    """``log d - logsumexp(log d)`` over the last two axes jointly (one distribution on ``S x A``)."""
    xp = array_namespace(log_d)
    flat = xp.reshape(log_d, log_d.shape[:-2] + (-1,))
    return xp.reshape(log_normalize(flat), log_d.shape)


def policy_of_occupancy(log_d):
    """Log-policy ``log pi(a|s) = log d(s,a) - log sum_a d(s,a)``, ``[..., S, A]``; uniform where ``d(s) = 0``.

    A state the occupancy never visits gets the uniform policy: the policy there does not change
    ``d``'s objective, and the uniform choice keeps ``pi`` a well-defined function of ``d``.
    """
    xp = array_namespace(log_d)
    A = log_d.shape[-1]
    visited = xp.any(xp.isfinite(log_d), axis=-1, keepdims=True)
    safe = xp.where(visited, log_d, 0.0)
    return xp.where(visited, log_normalize(safe), -xp.log(float(A)) + 0.0 * safe)


class SaddleState(NamedTuple):
    """State of MDP mirror prox (shapes of one instance; leading batch axes are carried through).

    ``v [S]``, ``log_d [S, A]`` (joint log-occupancy, sums to one over ``S x A``): the prox centre;
    ``v_avg [S]``, ``log_d_avg [S, A]``: mean of the extrapolated points ``v_hat_1..v_hat_t`` and
    ``d_hat_1..d_hat_t`` (at ``t = 0`` the initial point); ``t``: updates made. ``log_pi`` /
    ``log_avg`` are the policies read from ``log_d`` / ``log_d_avg`` (properties, not leaves).
    """

    v: Any
    log_d: Any
    v_avg: Any
    log_d_avg: Any
    t: Any

    log_mu = renamed_field("log_mu", "log_d")
    log_mu_avg = renamed_field("log_mu_avg", "log_d_avg")

    @property
    def log_pi(self):
        return policy_of_occupancy(self.log_d)

    @property
    def log_avg(self):
        return policy_of_occupancy(self.log_d_avg)


def mdp_mirror_prox_init(log_d0, oracle, v0=None) -> SaddleState:
    """Start at the occupancy ``log_d0 [S, A]`` (normalised jointly here) and ``v0`` (default: the box centre).

    The box centre minimises ``D_v``; the uniform occupancy minimises ``D_d = log(S A)``.
    """
    xp = array_namespace(log_d0)
    log_d0 = joint_log_normalize(log_d0)
    if v0 is None:
        v0 = xp.zeros(log_d0.shape[:-1], dtype=log_d0.dtype) + 0.5 * (oracle.lo + oracle.hi)
    v0 = xp.clip(v0, oracle.lo, oracle.hi)
    return SaddleState(v0, log_d0, v0, log_d0, xp.zeros(log_d0.shape[:-2], dtype=log_d0.dtype))


def _running_log_mean(xp, log_avg, log_new, t):
    """``log((t avg + new) / (t + 1))``; at ``t = 0`` exactly ``log_new`` (no ``log 0`` is evaluated)."""
    tt = t[..., None, None]
    keep = xp.where(tt > 0, log_avg + xp.log(xp.maximum(tt, 1.0) / (tt + 1.0)), -xp.inf)
    return xp.logaddexp(keep, log_new - xp.log(tt + 1.0))


@renamed(eta_mu="eta_d")
def mdp_mirror_prox_update(state: SaddleState, oracle, *, eta_v, eta_d) -> SaddleState:
    """One mirror-prox iteration on the MDP saddle point (two ``oracle.operator`` calls).

    .. math::
        \\hat v = \\Pi_{[lo,hi]}(v - \\eta_v g_v(d)),\\quad \\hat d \\propto d\\, e^{\\eta_d g_d(v)};
        v^+ = \\Pi_{[lo,hi]}(v - \\eta_v g_v(\\hat d)),\\quad d^+ \\propto d\\, e^{\\eta_d g_d(\\hat v)},

    then ``v_avg``, ``d_avg`` absorb ``v_hat``, ``d_hat`` (uniform weights). Shapes as in
    :class:`SaddleState`. Guarantee: theorem ``mp_mdp.gap`` for the averages.
    """
    xp = array_namespace(state.v, state.log_d)
    lo, hi = oracle.lo, oracle.hi
    first = oracle.operator(state.v, xp.exp(state.log_d))
    v_hat = xp.clip(state.v - eta_v * first.g_v, lo, hi)
    log_d_hat = joint_log_normalize(state.log_d + eta_d * first.g_d)
    second = oracle.operator(v_hat, xp.exp(log_d_hat))
    v_next = xp.clip(state.v - eta_v * second.g_v, lo, hi)
    log_d_next = joint_log_normalize(state.log_d + eta_d * second.g_d)
    t = state.t
    v_avg = state.v_avg + (v_hat - state.v_avg) / (t[..., None] + 1.0)
    log_d_avg = _running_log_mean(xp, state.log_d_avg, log_d_hat, t)
    return SaddleState(v_next, log_d_next, v_avg, log_d_avg, t + 1.0)


@renamed(eta_mu="eta_d")
def mdp_mirror_prox(*, eta_v, eta_d, L) -> Rule:
    """Mirror prox on the MDP saddle point (``po.solve(mdp, method="mirror_prox")`` on an MDP).

    Args:
        eta_v: step of the value player (> 0, finite).
        eta_d: step of the occupancy player (> 0, finite).
        L: the operator norm ``max_{s,a} ||gamma P(s,a) - e_s||_2`` of the instance
            (:func:`polopt.oracles.saddle.operator_norm`; > 0).

    Raises:
        ValueError: a step that is not positive and finite, or ``eta_v * eta_d > 1 / L^2`` (the
            step condition of theorem ``mp_mdp.gap``; the message names both steps and ``L``).

    The Rule: ``init(log_d0 [S, A], oracle, v0=None)``, ``update(state, oracle)`` with ``oracle`` a
    :class:`~polopt.oracles.saddle.SaddleOracle` (or the sampled one); two oracle calls per update;
    ``averages=True`` (the state's ``log_d_avg`` / ``v_avg``).
    """
    eta_v = step_size(NAME, "eta_v", eta_v)
    eta_d = step_size(NAME, "eta_d", eta_d)
    L = step_size(NAME, "L", L)
    # 1e-12 relative: the balanced steps eta_v = sqrt(D_v/D_d)/L, eta_d = sqrt(D_d/D_v)/L meet it with equality
    if all(_concrete(x) for x in (eta_v, eta_d, L)) and eta_v * eta_d * L * L > 1.0 + 1e-12:
        raise ValueError(
            f"{NAME}: the step condition eta_v * eta_d <= 1 / L^2 fails: eta_v = {eta_v:g}, eta_d = {eta_d:g}, "
            f"eta_v * eta_d = {eta_v * eta_d:g} > 1 / L^2 = {1.0 / (L * L):g} (L = {L:g}, the operator norm "
            "max_sa ||gamma P(s,a) - e_s||_2)")

    def update(state, oracle):
        return mdp_mirror_prox_update(state, oracle, eta_v=eta_v, eta_d=eta_d)

    return Rule(NAME, mdp_mirror_prox_init, update, 2, True, hparams(NAME, eta_v=eta_v, eta_d=eta_d, L=L))

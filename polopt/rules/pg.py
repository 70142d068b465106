"""Policy-gradient and policy-mirror-descent rules on tabular MDPs (exact oracle).

Every rule is written once against the array namespace of its inputs (NumPy float64 or
``jax.numpy``; jit / vmap over ``(state, P, r)``), carries the policy as log-probabilities
and never imports :mod:`polopt.exact`: the caller supplies the oracle of the current policy.

Oracle
------
``evaluate(P, r, gamma, pi, rho, tau=0.0) -> PGOracle(v, q, adv, d)`` is the xp-generic exact
oracle (dense linear solves), for one instance ``P [S, A, S]``, ``r [S, A]``, ``pi [S, A]``,
``rho [S]`` (``jax.vmap`` it for batches)::

    v   [S]     V^pi_tau = (I - gamma P_pi)^{-1} (r_pi + tau H(pi(.|s)))
    q   [S, A]  Q^pi_tau = r + gamma P v
    adv [S, A]  q - tau log pi - v[:, None]   (Mei et al.'s soft advantage, Eq. 18; = Q - V at tau = 0)
    d   [S]     d^pi_rho = (1 - gamma) (I - gamma P_pi^T)^{-1} rho   (normalized discounted visitation)

It equals :func:`polopt.exact.evaluate` (``V``, ``Q``, ``advantage``, ``occupancy.sum(-1)``) to
1e-10 (``tests/test_rules_pg.py``). A bandit is the one-state MDP ``P = ones[1, K, 1]``,
``r = rewards[None]``, ``gamma = 0``, ``rho = [1]``; a contextual bandit has ``P[x, a] = e_x``,
``gamma = 0``, ``rho = contexts`` (:func:`bandit_as_mdp_arrays`).

State and rules
---------------
All rules share one state, :class:`PolicyState` ``(log_pi [..., S, A], k)`` (``k``: number of
updates taken, an integer array, used by step schedules). ``<rule>_init(pi)`` builds it from a
policy ``[..., A]`` (zeros allowed; ``log 0 = -inf``). ``<rule>_update(state, oracle, *, ...)``
returns the next state. Step sizes may be Python floats or arrays; ``eta = inf`` (a Python
float) gives the greedy limit where stated.

=====================================  =====================================================================
rule (``<rule>_update`` keywords)       update (per state ``s``; ``c = 1/(1-gamma)``)
=====================================  =====================================================================
``softmax_pg(eta, gamma)``              ``theta += eta c d(s) pi(a|s) adv(s,a)`` (AKM Lemma; exact gradient of
                                        ``V(rho)``; with a soft oracle (``tau > 0``) the gradient of ``V_tau``)
``log_barrier_pg(eta, gamma, lam)``     softmax PG on ``V(rho) + lam/(S A) sum log pi``: adds
                                        ``eta lam/(S A) (1 - A pi(a|s))``
``projected_pg(eta, gamma)``            ``pi <- Proj_simplex(pi + eta c d(s) Q(s,.))`` (direct parametrization)
``npg(eta, gamma)``                     ``pi <- pi exp(eta c adv) / Z``; ``eta = inf``: policy iteration step
``entropy_npg(eta, gamma, tau)``        ``pi <- pi^{1 - eta tau c} exp(eta c Q_tau) / Z`` (Cen et al.);
                                        ``eta tau c = 1``: soft policy iteration; needs the soft oracle
``policy_mirror_descent(eta, gamma,     ``pi <- argmax eta_k <p, Q> - D(p, pi)``; D = KL (``kl_prox``) or
  bregman, schedule, growth, c0)``      Euclidean (``project_simplex``); schedules below; ``eta = inf``: PI
``mdpo(eta, anneal)``                   ``pi <- pi exp(t_k adv) / Z``, ``t_k = eta (1 - k/anneal)`` (constant
                                        ``eta`` when ``anneal`` is None)
``trpo(delta)``                         exact ``argmax_p sum_s d(s) <p_s, adv_s>`` s.t.
                                        ``sum_s d(s) KL(pi_s || p_s) <= delta``
=====================================  =====================================================================

PMD schedules (:func:`pmd_step_size`): ``"constant"`` ``eta_k = eta`` (Xiao 2022: sublinear);
``"geometric"`` ``eta_k = eta growth^k`` (default ``growth = 1/gamma``; Xiao 2022, linear rate gamma);
``"adaptive"`` ``eta_k = max(eta, max_s D(greedy_k(s), pi_k(s)) / (c0 gamma^{2k+2}))``
(Johnson, Pike-Burke & Rebeschini 2023: the gamma-rate of policy iteration). Steps are capped at
:data:`ETA_CAP` so that ``growth^k`` never overflows.

Guarantees (checked in ``tests/test_rules_pg.py``; the rates live in :mod:`polopt.theory`):
the fixed point of every rule is the exact optimum (soft optimum for ``entropy_npg``), NPG / PMD
with ``eta = inf`` take a policy-iteration step, and NumPy and JAX (jit + vmap) agree.

References: Agarwal, Kakade, Lee, Mahajan, arXiv 1908.00261 (AKM: softmax / log-barrier /
projected PG, NPG Lemma 5.1, Thm 5.3); Mei, Xiao, Szepesvari, Schuurmans, arXiv 2005.06392;
Cen, Cheng, Chen, Wei, Chi, arXiv 2007.06558; Lan, arXiv 2102.00135; Xiao, arXiv 2201.07443;
Johnson, Pike-Burke, Rebeschini, arXiv 2302.11381; Tomar et al., arXiv 2005.09814 (MDPO);
Schulman et al., arXiv 1502.05477 (TRPO).
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

import numpy as np

from ._core import array_namespace, kl_prox, log_normalize, project_simplex

__all__ = [
    "ETA_CAP",
    "PGOracle",
    "PolicyState",
    "bandit_as_mdp_arrays",
    "entropy_npg_init",
    "entropy_npg_update",
    "evaluate",
    "greedy_log",
    "log_barrier_pg_init",
    "log_barrier_pg_update",
    "log_policy",
    "mdpo_init",
    "mdpo_update",
    "npg_init",
    "npg_update",
    "pmd_step_size",
    "policy_init",
    "policy_mirror_descent_init",
    "policy_mirror_descent_update",
    "projected_pg_init",
    "projected_pg_update",
    "softmax_pg_gradient",
    "softmax_pg_init",
    "softmax_pg_update",
    "trpo_init",
    "trpo_update",
]

#: Largest step a schedule may produce: growth^k with growth = 1/gamma overflows float64 after a
#: few thousand steps; 1e100 already makes the KL / Euclidean step greedy to machine precision.
ETA_CAP = 1e100
#: Iterations of the bisections / Newton solves inside TRPO and the smoothed bounded-ratio target:
#: bisection halves the bracket each time, so 200 halvings reach float64 resolution of any bracket
#: narrower than 2^1000; Newton from the left of a convex decreasing function converges monotonically.
BISECTION_STEPS = 200
NEWTON_STEPS = 30
#: TRPO's outer search on log(lam) (bracket of width 120) shrinks it by TRPO_GRID + 1 = 16 per round
#: (one vectorized evaluation of 15 points): 16 rounds leave 120 / 16^16 ~ 7e-18.
TRPO_GRID = 15
TRPO_ROUNDS = 16


class PGOracle(NamedTuple):
    """Exact oracle of the current policy (shapes for one instance).

    ``v [S]`` value (soft value with ``tau > 0``), ``q [S, A]``, ``adv [S, A]`` (soft advantage
    ``q - tau log pi - v``), ``d [S]`` normalized discounted state visitation from ``rho``.
    """

    v: Any
    q: Any
    adv: Any
    d: Any


class PolicyState(NamedTuple):
    """State of every rule in this module: ``log_pi [..., S, A]`` and the update count ``k``."""

    log_pi: Any
    k: Any


# --------------------------------------------------------------------------- helpers
def _jax_if(xp):
    return xp is not np and sys.modules.get("jax") is not None


def fori(xp, n: int, body, init):
    """``init <- body(init)`` ``n`` times: a Python loop for NumPy, ``lax.fori_loop`` for JAX (one trace)."""
    if _jax_if(xp):
        import jax

        return jax.lax.fori_loop(0, n, lambda _, c: body(c), init)
    carry = init
    for _ in range(n):
        carry = body(carry)
    return carry


def log_policy(pi):
    """``log pi`` with ``log 0 = -inf`` and no divide-by-zero warning, ``[..., A]``."""
    xp = array_namespace(pi)
    pos = pi > 0
    return xp.where(pos, xp.log(xp.where(pos, pi, 1.0)), -xp.inf)


def _is_inf(x) -> bool:
    # only a concrete Python / NumPy scalar can select the greedy limit (no branching on traced values)
    return isinstance(x, (int, float, np.floating, np.integer)) and math.isinf(float(x))


def greedy_log(log_pi, g):
    """The ``eta -> inf`` limit of ``pi exp(eta g) / Z``: ``pi`` restricted to ``argmax_{supp pi} g``.

    ``[..., A] -> [..., A]`` (log-probabilities). With a unique maximizer this is the one-hot greedy
    policy of a policy-iteration step; ties keep ``pi``'s proportions.
    """
    xp = array_namespace(log_pi, g)
    on = xp.isfinite(log_pi)
    g_on = xp.where(on, g, -xp.inf)
    top = on & (g_on >= xp.max(g_on, axis=-1, keepdims=True))
    return log_normalize(xp.where(top, log_pi, -xp.inf))


def _euclid_greedy(pi, g):
    """``eta -> inf`` limit of ``Proj(pi + eta g)``: ``pi`` projected onto the face of ``argmax g``."""
    xp = array_namespace(pi, g)
    top = g >= xp.max(g, axis=-1, keepdims=True)
    # entries at -1 sit below any threshold of a projection whose kept entries lie in [0, 1]
    return project_simplex(xp.where(top, pi, -1.0))


def _state_weights(oracle, log_pi):
    xp = array_namespace(log_pi, oracle.d)
    return xp.asarray(oracle.d)[..., None]


# --------------------------------------------------------------------------- oracle
def evaluate(P, r, gamma, pi, rho, tau=0.0) -> PGOracle:
    """Exact (soft) evaluation of ``pi`` by two dense linear solves; see the module docstring.

    Args:
        P: kernel ``[S, A, S]``; r: rewards ``[S, A]``; gamma: discount in ``[0, 1)``;
        pi: policy ``[S, A]``; rho: start distribution ``[S]``; tau: entropy temperature ``>= 0``.

    Returns:
        :class:`PGOracle` ``(v [S], q [S, A], adv [S, A], d [S])``.

    Tested against :func:`polopt.exact.evaluate` (tau = 0) and
    :func:`polopt.exact.soft.regularized_policy_evaluation` (tau > 0) to 1e-10.
    """
    xp = array_namespace(P, r, pi, rho)
    S = r.shape[-2]
    log_pi = log_policy(pi)
    ent = -xp.sum(xp.where(pi > 0, pi * xp.where(pi > 0, log_pi, 0.0), 0.0), axis=-1)
    P_pi = xp.einsum("sa,sat->st", pi, P)
    M = xp.eye(S, dtype=P_pi.dtype) - gamma * P_pi
    v = xp.linalg.solve(M, xp.sum(pi * r, axis=-1) + tau * ent)
    q = r + gamma * xp.einsum("sat,t->sa", P, v)
    d = (1.0 - gamma) * xp.linalg.solve(M.T, rho)
    adv = q - v[:, None] - tau * xp.where(pi > 0, log_pi, 0.0)
    return PGOracle(v, q, adv, d)


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


# --------------------------------------------------------------------------- init
def policy_init(pi) -> PolicyState:
    """``PolicyState(log pi, k=0)`` from a policy ``[..., A]`` (rows on the simplex; zeros allowed)."""
    xp = array_namespace(pi)
    return PolicyState(log_normalize(log_policy(pi)), xp.asarray(0))


softmax_pg_init = log_barrier_pg_init = projected_pg_init = npg_init = entropy_npg_init = policy_init
policy_mirror_descent_init = mdpo_init = trpo_init = policy_init


def _next(state: PolicyState, log_pi) -> PolicyState:
    return PolicyState(log_pi, state.k + 1)


# --------------------------------------------------------------------------- gradient rules
def softmax_pg_gradient(log_pi, oracle: PGOracle, gamma):
    """``dV(rho)/dtheta[s, a] = d(s) pi(a|s) adv(s, a) / (1 - gamma)`` (AKM, softmax policy gradient).

    With a soft oracle (``tau > 0``, ``adv`` = soft advantage) it is ``dV_tau(rho)/dtheta`` (Mei et al. 2020,
    Lemma 10 form). Shapes ``[..., S, A]``.
    """
    xp = array_namespace(log_pi, oracle.adv)
    return _state_weights(oracle, log_pi) * xp.exp(log_pi) * oracle.adv / (1.0 - gamma)


def softmax_pg_update(state: PolicyState, oracle: PGOracle, *, eta, gamma) -> PolicyState:
    """Softmax policy gradient ascent ``theta <- theta + eta grad_theta V(rho)``.

    ``log pi`` is stored instead of ``theta``: the policy depends on ``theta`` only up to a per-state
    shift, so ``lognorm(theta + eta g) = lognorm(log pi + eta g)``.
    Guarantee: AKM Thm 5.1 (asymptotic, ``eta <= (1-gamma)^3/8``), Mei et al. Thm 4 (O(1/t)).
    """
    return _next(state, log_normalize(state.log_pi + eta * softmax_pg_gradient(state.log_pi, oracle, gamma)))


def log_barrier_pg_update(state: PolicyState, oracle: PGOracle, *, eta, gamma, lam) -> PolicyState:
    """Gradient ascent on ``L_lam = V(rho) + lam/(S A) sum_{s,a} log pi(a|s)`` (AKM eq. (12), Thm 5.2).

    ``grad_theta[s, a] = d(s) pi adv / (1-gamma) + lam/(S A) (1 - A pi(a|s))``.
    """
    xp = array_namespace(state.log_pi)
    # a bare [A] policy is a one-state (bandit) problem
    S = state.log_pi.shape[-2] if state.log_pi.ndim >= 2 else 1
    A = state.log_pi.shape[-1]
    barrier = (lam / (S * A)) * (1.0 - A * xp.exp(state.log_pi))
    g = softmax_pg_gradient(state.log_pi, oracle, gamma) + barrier
    return _next(state, log_normalize(state.log_pi + eta * g))


def projected_pg_update(state: PolicyState, oracle: PGOracle, *, eta, gamma) -> PolicyState:
    """Projected gradient ascent, direct parametrization (AKM Thm 4.1):
    ``pi(.|s) <- Proj_simplex(pi(.|s) + eta d(s) Q(s, .) / (1 - gamma))``.
    """
    xp = array_namespace(state.log_pi, oracle.q)
    pi = xp.exp(state.log_pi)
    step = _state_weights(oracle, state.log_pi) * oracle.q / (1.0 - gamma)
    return _next(state, log_policy(project_simplex(pi + eta * step)))


# --------------------------------------------------------------------------- mirror-descent rules
def npg_update(state: PolicyState, oracle: PGOracle, *, eta, gamma) -> PolicyState:
    """Natural policy gradient = soft policy iteration (AKM Lemma 5.1):
    ``pi(a|s) <- pi(a|s) exp(eta adv(s,a)/(1-gamma)) / Z(s)`` via :func:`kl_prox`.

    ``eta = inf`` gives the greedy policy of ``Q^pi`` (a policy-iteration step; ties keep pi's weights).
    Guarantee: ``V*(rho) - V_T(rho) <= log|A|/(eta T) + 1/((1-gamma)^2 T)`` from uniform (AKM Thm 5.3).
    """
    if _is_inf(eta):
        return _next(state, greedy_log(state.log_pi, oracle.adv))
    return _next(state, kl_prox(state.log_pi, oracle.adv, eta / (1.0 - gamma)))


def entropy_npg_update(state: PolicyState, oracle: PGOracle, *, eta, gamma, tau) -> PolicyState:
    """Entropy-regularized NPG (Cen et al. 2020, Lemma 5 / eq. (18)):

    ``pi+(a|s) ∝ pi(a|s)^{1 - alpha} exp(alpha Q_tau(s,a) / tau)``, ``alpha = eta tau / (1 - gamma)`` in ``(0, 1]``,

    i.e. ``argmax_p <p, Q_tau> + tau H(p) - KL(p||pi)/eta'`` with ``eta' = eta / ((1-gamma)(1-alpha))``
    (:func:`kl_prox` with a uniform magnet and ``beta = tau``). ``alpha = 1`` is soft policy iteration
    ``pi+ ∝ exp(Q_tau / tau)``. The oracle must be the soft one (``evaluate(..., tau=tau)``).
    Guarantee: ``||Q*_tau - Q_tau^{t+1}||_inf <= C1 gamma (1 - eta tau)^t`` (Cen Thm 1, constants recalled).
    """
    xp = array_namespace(state.log_pi, oracle.q)
    alpha = eta * tau / (1.0 - gamma)
    if isinstance(alpha, (int, float, np.floating)) and float(alpha) >= 1.0:
        on = xp.isfinite(state.log_pi)
        return _next(state, log_normalize(xp.where(on, oracle.q / tau, -xp.inf)))
    eta_prox = eta / ((1.0 - gamma) * (1.0 - alpha))
    return _next(state, kl_prox(state.log_pi, oracle.q, eta_prox, xp.zeros_like(oracle.q), tau))


def _bregman_to_greedy(log_pi, q, bregman: str):
    """``max_s D(greedy(s), pi(s))``: KL ``-log pi(a*|s)`` or Euclidean ``||e_a* - pi||^2 / 2``."""
    xp = array_namespace(log_pi, q)
    a_star = xp.argmax(q, axis=-1)[..., None]
    lp_star = xp.take_along_axis(log_pi, a_star, axis=-1)[..., 0]
    if bregman == "kl":
        per_state = -lp_star
    else:
        pi = xp.exp(log_pi)
        p_star = xp.exp(lp_star)
        per_state = 0.5 * (xp.sum(pi * pi, axis=-1) - 2.0 * p_star + 1.0)
    return xp.max(per_state)


def pmd_step_size(state: PolicyState, oracle: PGOracle, *, eta, gamma, schedule="constant", growth=None,
                  c0=1.0, bregman="kl"):
    """Step ``eta_k`` of policy mirror descent at update ``k = state.k`` (capped at :data:`ETA_CAP`).

    * ``"constant"``: ``eta``.
    * ``"geometric"``: ``eta growth^k``, ``growth = 1/gamma`` by default (Xiao 2022: ``eta_{k+1} >= eta_k/gamma``
      gives ``V* - V_k = O(gamma^k)``; Lan 2022 Thm 1 uses the same growth with a regularizer).
    * ``"adaptive"``: ``max(eta, max_s D(greedy_k(s), pi_k(s)) / c_k)``, ``c_k = c0 gamma^{2(k+1)}``
      (Johnson, Pike-Burke, Rebeschini 2023: ``eta_k >= ||D(greedy_k, pi_k)||_inf / c_k`` gives
      ``||V* - V_k||_inf <= gamma^k (||V* - V_0||_inf + sum_i c_i gamma^{-i-1})``-type rate gamma).
    """
    xp = array_namespace(state.log_pi, oracle.q)
    if schedule == "constant":
        return eta
    k = xp.asarray(state.k, dtype=state.log_pi.dtype)
    if schedule == "geometric":
        g = (1.0 / gamma if gamma > 0 else ETA_CAP) if growth is None else growth
        g = min(float(g), ETA_CAP) if isinstance(g, (int, float, np.floating)) else g
        return xp.minimum(eta * xp.exp(k * xp.log(xp.asarray(g, dtype=state.log_pi.dtype))), ETA_CAP)
    if schedule == "adaptive":
        D = _bregman_to_greedy(state.log_pi, oracle.q, bregman)
        c_k = c0 * xp.exp((2.0 * k + 2.0) * math.log(max(gamma, 1e-300)))
        # D is +inf when pi(a*|s) = 0 under KL; the cap keeps the step finite (greedy to machine precision)
        return xp.minimum(xp.maximum(eta, xp.where(c_k > 0, D / xp.maximum(c_k, 1e-300), ETA_CAP)), ETA_CAP)
    raise ValueError(f"schedule must be 'constant', 'geometric' or 'adaptive', got {schedule!r}")


def policy_mirror_descent_update(state: PolicyState, oracle: PGOracle, *, eta, gamma, bregman="kl",
                                 schedule="constant", growth=None, c0=1.0) -> PolicyState:
    """Policy mirror descent (Lan 2022 eq. (3.1); Xiao 2022), reward-maximization form:

    ``pi_{k+1}(.|s) = argmax_p eta_k <p, Q^{pi_k}(s, .)> - D(p, pi_k(.|s))``,

    ``D = KL`` -> ``pi_k exp(eta_k Q) / Z`` (:func:`kl_prox`); ``D = ||.||^2/2`` -> ``Proj(pi_k + eta_k Q)``
    (:func:`project_simplex`). ``eta_k`` from :func:`pmd_step_size`. ``eta = inf`` (any schedule): the
    policy-iteration step. No ``1/(1-gamma)`` factor (so PMD-KL with ``eta`` = NPG with ``eta (1-gamma)``).
    """
    if bregman not in ("kl", "euclidean"):
        raise ValueError(f"bregman must be 'kl' or 'euclidean', got {bregman!r}")
    xp = array_namespace(state.log_pi, oracle.q)
    if _is_inf(eta):
        if bregman == "kl":
            return _next(state, greedy_log(state.log_pi, oracle.q))
        return _next(state, log_policy(_euclid_greedy(xp.exp(state.log_pi), oracle.q)))
    eta_k = pmd_step_size(state, oracle, eta=eta, gamma=gamma, schedule=schedule, growth=growth, c0=c0,
                          bregman=bregman)
    if bregman == "kl":
        return _next(state, kl_prox(state.log_pi, oracle.adv, eta_k))
    return _next(state, log_policy(project_simplex(xp.exp(state.log_pi) + eta_k * oracle.adv)))


def mdpo_update(state: PolicyState, oracle: PGOracle, *, eta, anneal=None) -> PolicyState:
    """On-policy MDPO, exact tabular step (Tomar et al. 2020; objective recalled):

    ``pi_{k+1} = argmax_pi E_{s~d_k}[E_pi adv_k - KL(pi||pi_k)/t_k]`` -> ``pi_k exp(t_k adv_k) / Z``
    per state (the state weights cancel), ``t_k = eta (1 - k/anneal)`` when ``anneal = K`` is given
    (the paper's annealing), else ``t_k = eta``.
    """
    xp = array_namespace(state.log_pi, oracle.adv)
    t_k = eta if anneal is None else eta * (1.0 - xp.asarray(state.k, dtype=state.log_pi.dtype) / anneal)
    return _next(state, kl_prox(state.log_pi, oracle.adv, t_k))


# --------------------------------------------------------------------------- TRPO
def _trpo_policy(log_pi, adv, lam):
    """Per-state maximizer of ``<p, adv> - lam KL(pi||p)``: ``p(a) = lam pi(a) / (nu - adv(a))`` with
    ``nu > max_{supp pi} adv`` solving ``sum_a p(a) = 1`` (Newton from the left: monotone). Returns
    ``(log p, KL(pi || p))`` per state."""
    xp = array_namespace(log_pi, adv)
    pi = xp.exp(log_pi)
    on = pi > 0
    a_on = xp.where(on, adv, -xp.inf)
    a_max = xp.max(a_on, axis=-1, keepdims=True)
    top = a_on >= a_max
    pi_top = xp.sum(xp.where(top, pi, 0.0), axis=-1, keepdims=True)
    gap0 = lam * pi_top  # nu = a_max + lam pi(top) has sum >= 1: the left end of the bracket
    # gap = nu - a_max is carried instead of nu: gap + (a_max - adv) never cancels to 0 at the top action

    def newton(gap):
        # h(gap) = sum lam pi / (gap + a_max - adv) - 1 is convex decreasing on gap > 0
        den = xp.where(on, gap + (a_max - adv), 1.0)
        h = xp.sum(xp.where(on, lam * pi / den, 0.0), axis=-1, keepdims=True) - 1.0
        dh = -xp.sum(xp.where(on, lam * pi / den**2, 0.0), axis=-1, keepdims=True)
        return gap - h / dh

    gap = fori(xp, NEWTON_STEPS, newton, gap0)
    den = xp.where(on, gap + (a_max - adv), 1.0)
    log_p = xp.where(on, xp.log(lam) + log_pi - xp.log(den), -xp.inf)
    log_p = log_normalize(log_p)
    kl = xp.sum(pi * (xp.where(on, log_pi, 0.0) - xp.where(on, log_p, 0.0)), axis=-1)
    return log_p, kl


def trpo_update(state: PolicyState, oracle: PGOracle, *, delta) -> PolicyState:
    """Exact tabular TRPO step (Schulman et al. 2015, the trust-region problem solved exactly):

    ``max_p sum_s d(s) <p(.|s), adv(s,.)>  s.t.  sum_s d(s) KL(pi(.|s) || p(.|s)) <= delta``.

    Lagrangian per state: ``p(a|s) = lam pi(a|s) / (nu_s - adv(s,a))``; the shared multiplier ``lam``
    is found by a vectorized 16-way search on ``log lam`` so that the constraint is active (it always is:
    the unconstrained maximizer is greedy, at infinite KL). ``lam`` is searched in ``scale * [e^-60, e^60]``, ``scale =
    max |adv| + 1e-100``; a ``delta`` beyond that bracket returns its end point.
    """
    xp = array_namespace(state.log_pi, oracle.adv)
    log_pi, adv = state.log_pi, oracle.adv
    w = xp.asarray(oracle.d)
    # the floor keeps lam = scale e^-60 a normal float when adv = 0 (a deterministic policy: p = pi)
    scale = xp.max(xp.abs(adv)) + 1e-100
    lo0, hi0 = xp.log(scale) - 60.0, xp.log(scale) + 60.0

    steps = xp.arange(TRPO_GRID + 2, dtype=log_pi.dtype) / (TRPO_GRID + 1)

    def search(bracket):
        # one round evaluates TRPO_GRID interior points of the bracket at once (shape [G, S, A]):
        # the KL decreases in lam, so the points that overshoot delta form a prefix of the grid
        lo, hi = bracket
        pts = lo + (hi - lo) * steps
        _, kl = _trpo_policy(log_pi, adv, xp.exp(pts[1:-1])[:, None, None])
        n = xp.sum(xp.sum(w * kl, axis=-1) > delta)
        return (pts[n], pts[n + 1])

    lo, hi = fori(xp, TRPO_ROUNDS, search, (lo0, hi0))
    log_p, _ = _trpo_policy(log_pi, adv, xp.exp(hi))
    return _next(state, log_p)

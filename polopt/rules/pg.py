"""Policy-gradient and policy-mirror-descent rules on tabular MDPs (exact oracle).

Every rule is a factory that takes its hyper-parameters by their maths names, validates them
once and returns a :class:`~polopt.rules.Rule`::

    rule = npg(eta=1.0)
    oracle = MDPOracle(P, r, gamma, rho)               # polopt.oracles.mdp
    state = rule.init(log_pi0)                         # PolicyState(log_pi [S, A], k = 0)
    state = rule.update(state, oracle)                 # pure; NumPy float64 or jax.numpy

``update`` asks the oracle for the exact values of the current policy,
``oracle.evaluate(softmax(state.log_pi)) -> PGOracle(v, q, adv, d)`` (one evaluation per update),
and reads ``oracle.gamma``; it never imports :mod:`polopt.exact`. Rules are written once against
the array namespace of their inputs (jit / vmap over ``(state, P, r)``), carry the policy as
log-probabilities, and ``eta = inf`` (a Python float) gives the greedy limit where stated.
:func:`evaluate` and :class:`PGOracle` are re-exported from :mod:`polopt.oracles.mdp`.

State
-----
All rules share :class:`PolicyState` ``(log_pi [..., S, A], k)`` (``k``: updates made, an integer
array, used by step schedules). ``rule.init(log_pi0)`` normalises a log-policy (``-inf`` allowed);
:func:`policy_init` builds the state from a policy ``[..., A]`` (zeros allowed).

=================================================  ==========================================================
factory (defaults)                                 update (per state ``s``; ``c = 1/(1-gamma)``)
=================================================  ==========================================================
``softmax_pg(eta=None, tau=0.0)``                  ``theta += eta c d(s) pi(a|s) adv(s,a)`` (AKM Lemma; exact
                                                   gradient of ``V(rho)``; ``tau > 0``: of ``V_tau``).
                                                   ``eta=None``: ``(1-gamma)^3/8`` (AKM Thm 5.1)
``log_barrier_pg(eta=None, lam=1e-3)``             softmax PG on ``V(rho) + lam/(S A) sum log pi``: adds
                                                   ``eta lam/(S A) (1 - A pi(a|s))``
``projected_pg(eta=None)``                         ``pi <- Proj_simplex(pi + eta c d(s) Q(s,.))``; ``eta=None``:
                                                   ``(1-gamma)^3/(2 gamma A)`` (AKM Thm 4.1; 1 at gamma = 0)
``npg(eta=1.0)``                                   ``pi <- pi exp(eta c adv) / Z``; ``eta = inf``: PI step
``entropy_npg(tau, eta=None)``                     ``pi <- pi^{1 - eta tau c} exp(eta c Q_tau) / Z`` (Cen et al.),
                                                   ``0 < eta <= (1-gamma)/tau``; ``eta=None``: the upper end
                                                   (soft policy iteration)
``policy_mirror_descent(eta=1.0, bregman="kl",     ``pi <- argmax eta_k <p, Q> - D(p, pi)``; D = KL (``kl_prox``)
  schedule="constant", growth=None, c0=1.0)``      or Euclidean (``project_simplex``); ``eta = inf``: PI step
``mdpo(eta=1.0, anneal=None)``                     ``pi <- pi exp(t_k adv) / Z``, ``t_k = eta (1 - k/anneal)``
``trpo(delta=0.01)``                               exact ``argmax_p sum_s d(s) <p_s, adv_s>`` s.t.
                                                   ``sum_s d(s) KL(pi_s || p_s) <= delta``
=================================================  ==========================================================

Bad hyper-parameters raise ValueError / TypeError naming the rule, the argument, the expected range
and the value (the same errors :func:`polopt.solve` reports). The one check that needs the problem,
``eta <= (1-gamma)/tau`` of ``entropy_npg``, is made in ``update`` on the oracle's (concrete) gamma.

The RLHF objective: an :class:`MDPOracle` built with ``log_mu`` and ``beta > 0`` evaluates
``V_beta = E sum_t gamma^t (r - beta KL(pi(.|s_t) || mu(.|s_t)))`` (its ``adv`` is the regularized
advantage ``Q_beta - V_beta - beta log(pi/mu)``). ``npg``, ``policy_mirror_descent`` (KL) and ``mdpo`` then
take :func:`regularized_prox` (the KL-to-``mu`` prox, ``eta = inf``: soft policy iteration), ``softmax_pg``
ascends ``V_beta`` and ``bounded_ratio.ppo`` maximizes the clipped surrogate of the regularized advantage;
``entropy_npg``, ``projected_pg``, ``log_barrier_pg`` and ``trpo`` refuse such an oracle (ValueError).
Zero-probability reference actions keep probability 0 (``kl_prox``'s magnet and the ``-inf`` advantage).

PMD schedules (:func:`pmd_step_size`): ``"constant"`` ``eta_k = eta`` (Xiao 2022: sublinear);
``"geometric"`` ``eta_k = eta growth^k`` (default ``growth = 1/gamma``; Xiao 2022, linear rate gamma);
``"adaptive"`` ``eta_k = max(eta, max_s D(greedy_k(s), pi_k(s)) / (c0 gamma^{2k+2}))``
(Johnson, Pike-Burke & Rebeschini 2023: the gamma-rate of policy iteration). Steps are capped at
:data:`ETA_CAP` so that ``growth^k`` never overflows.

Guarantees (checked in ``tests/test_rules_pg.py``; the rates live in :mod:`polopt.theory`):
the fixed point of every rule is the exact optimum (soft optimum for ``entropy_npg``), NPG / PMD
with ``eta = inf`` take a policy-iteration step (and ``eta = 1e17`` stays on the simplex with tied
advantages), and NumPy and JAX (jit + vmap) agree.

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

from .._validation import as_positive_int
from ..oracles.mdp import MDPOracle, PGOracle, bandit_as_mdp_arrays, evaluate
from ._core import (
    Rule,
    array_namespace,
    coefficient,
    hparams,
    kl_prox,
    log_normalize,
    project_simplex,
    require,
    softmax,
    step_size,
)

__all__ = [
    "ETA_CAP",
    "MDPOracle",
    "PGOracle",
    "PolicyState",
    "bandit_as_mdp_arrays",
    "choice",
    "entropy_npg",
    "entropy_npg_limit",
    "evaluate",
    "greedy_log",
    "log_barrier_pg",
    "log_policy",
    "mdpo",
    "npg",
    "pmd_step_size",
    "policy_init",
    "policy_mirror_descent",
    "projected_pg",
    "regularized_prox",
    "softmax_pg",
    "softmax_pg_gradient",
    "trpo",
    "trpo_step",
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
#: Relative slack on entropy_npg's step limit (1-gamma)/tau: a step computed as (1-gamma)/tau in
#: another order of operations may exceed it by a few ulps; it is then clipped to the limit.
STEP_LIMIT_SLACK = 1e-12


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


def _state_weights(o: PGOracle, log_pi):
    xp = array_namespace(log_pi, o.d)
    return xp.asarray(o.d)[..., None]


def choice(rule: str, name: str, value, options):
    """``value`` if it is one of ``options``; else ValueError ``"{rule}: {name} must be one of ..."``."""
    if value not in options:
        raise ValueError(f"{rule}: {name} must be one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value


# --------------------------------------------------------------------------- state and oracle calls
def policy_init(pi) -> PolicyState:
    """``PolicyState(log pi, k=0)`` from a policy ``[..., A]`` (rows on the simplex; zeros allowed)."""
    xp = array_namespace(pi)
    return PolicyState(log_normalize(log_policy(pi)), xp.asarray(0))


def _init(log_pi0, oracle=None) -> PolicyState:
    """``PolicyState(lognorm(log_pi0), k=0)``: every rule's ``init`` (the oracle is not needed)."""
    xp = array_namespace(log_pi0)
    return PolicyState(log_normalize(log_pi0), xp.asarray(0))


def _values(state: PolicyState, oracle, tau=None) -> PGOracle:
    """The one oracle call of an update: the exact values of ``softmax(state.log_pi)``."""
    pi = softmax(state.log_pi)
    return oracle.evaluate(pi) if tau is None else oracle.evaluate(pi, tau)


def _next(state: PolicyState, log_pi) -> PolicyState:
    return PolicyState(log_pi, state.k + 1)


def _regularized(oracle) -> bool:
    """Whether the oracle evaluates the RLHF objective ``V - beta KL(pi || mu)`` (a Python bool)."""
    return bool(getattr(oracle, "regularized", False))


def _unregularized_only(rule: str, oracle) -> None:
    require(rule, not _regularized(oracle),
            "the rule is defined for the unregularized objective; the oracle carries beta > 0 and a reference "
            "(the KL-regularized rules are npg, policy_mirror_descent (bregman='kl'), mdpo, softmax_pg, ppo)")


def regularized_prox(log_pi, o: PGOracle, oracle, eta):
    """The KL-regularized NPG / PMD step on the oracle's objective ``V_beta`` (per state):

    ``pi+ = argmax_p eta <p, Q_beta> - eta beta KL(p || mu) - KL(p || pi)``, i.e.
    ``pi+ ∝ pi^{1/(1+eta beta)} mu^{eta beta/(1+eta beta)} exp(eta Q_beta/(1+eta beta))``
    (:func:`kl_prox` with the magnet ``mu``; Lan arXiv 2102.00135 eq. (3.1)-(3.2) with ``h = beta KL(.||mu)``;
    Cen et al. arXiv 2007.06558 Lemma 5 is the uniform-``mu`` case). ``Q_beta`` enters as ``q - v``: the
    normalization removes the per-state constant and ``eta (q - v)`` stays of the advantage's size.
    ``eta = inf`` (a Python float) is its limit, soft policy iteration ``pi+ ∝ mu exp(Q_beta / beta)``
    (the support of ``pi`` is then not kept). Actions with ``mu(a|s) = 0`` get probability 0.
    Shapes ``[..., S, A]``; ``oracle`` supplies ``log_mu`` and ``beta``.
    """
    xp = array_namespace(log_pi, o.q)
    g = o.q - o.v[..., None]
    log_mu, beta = oracle.log_mu, oracle.beta
    if _is_inf(eta):
        on = xp.isfinite(log_mu)
        return log_normalize(xp.where(on, xp.where(on, log_mu, 0.0) + g / beta, -xp.inf))
    return kl_prox(log_pi, g, eta, log_mu, beta)


def _rule(name: str, update, **hp) -> Rule:
    return Rule(name, _init, update, 1, False, hparams(name, **hp))


def _optional_step(rule: str, eta):
    return None if eta is None else step_size(rule, "eta", eta)


# --------------------------------------------------------------------------- gradient rules
def softmax_pg_gradient(log_pi, o: PGOracle, gamma):
    """``dV(rho)/dtheta[s, a] = d(s) pi(a|s) adv(s, a) / (1 - gamma)`` (AKM, softmax policy gradient).

    ``o`` is the oracle's output for ``pi = exp(log_pi)``. With a soft oracle (``tau > 0``, ``adv`` =
    soft advantage) it is ``dV_tau(rho)/dtheta`` (Mei et al. 2020, Lemma 10 form). Shapes ``[..., S, A]``.
    """
    xp = array_namespace(log_pi, o.adv)
    pi = xp.exp(log_pi)
    # an action with no mass adds nothing (its advantage may be -inf: an infeasible action)
    return _state_weights(o, log_pi) * pi * xp.where(pi > 0, o.adv, 0.0) / (1.0 - gamma)


def _akm_step(gamma: float) -> float:
    return (1.0 - gamma) ** 3 / 8.0


def softmax_pg(*, eta=None, tau=0.0) -> Rule:
    """Softmax policy gradient ascent ``theta <- theta + eta grad_theta V_tau(rho)`` (one oracle call).

    ``log pi`` is stored instead of ``theta``: the policy depends on ``theta`` only up to a per-state
    shift, so ``lognorm(theta + eta g) = lognorm(log pi + eta g)``. ``tau > 0`` ascends the entropy-
    regularized value (the rule evaluates at its own ``tau``). With an oracle carrying the RLHF objective
    (``beta > 0``, reference ``mu``) it ascends ``V_beta(rho)``: ``adv`` is then the regularized advantage
    ``Q_beta - V_beta - beta log(pi/mu)``, and the same formula is the exact gradient (the ``+1`` of
    ``d(p log p)/dp`` cancels under the softmax Jacobian). ``eta=None``: ``(1-gamma)^3/8``.
    Guarantee: AKM Thm 5.1 (asymptotic, ``eta <= (1-gamma)^3/8``), Mei et al. Thm 4 (O(1/t)): theorems
    ``softmax_pg.mei`` and ``softmax_pg.mei_bandit``.
    """
    eta = _optional_step("softmax_pg", eta)
    tau = coefficient("softmax_pg", "tau", tau)

    def update(state, oracle):
        require("softmax_pg", not (_regularized(oracle) and isinstance(tau, (int, float)) and tau > 0),
                "tau > 0 together with the oracle's KL term (beta > 0) would regularize twice; the entropy is the "
                "KL to the uniform reference: put it in the problem's reference instead")
        g = oracle.gamma
        e = _akm_step(g) if eta is None else eta
        o = _values(state, oracle, tau)
        return _next(state, log_normalize(state.log_pi + e * softmax_pg_gradient(state.log_pi, o, g)))

    return _rule("softmax_pg", update, eta=eta, tau=tau)


def log_barrier_pg(*, eta=None, lam=1e-3) -> Rule:
    """Gradient ascent on ``L_lam = V(rho) + lam/(S A) sum_{s,a} log pi(a|s)`` (AKM eq. (12), Thm 5.2).

    ``grad_theta[s, a] = d(s) pi adv / (1-gamma) + lam/(S A) (1 - A pi(a|s))``; ``lam >= 0``;
    ``eta=None``: ``(1-gamma)^3/8``. One oracle call.
    """
    eta = _optional_step("log_barrier_pg", eta)
    lam = coefficient("log_barrier_pg", "lam", lam)

    def update(state, oracle):
        _unregularized_only("log_barrier_pg", oracle)
        xp = array_namespace(state.log_pi)
        g = oracle.gamma
        e = _akm_step(g) if eta is None else eta
        # a bare [A] policy is a one-state (bandit) problem
        S = state.log_pi.shape[-2] if state.log_pi.ndim >= 2 else 1
        A = state.log_pi.shape[-1]
        barrier = (lam / (S * A)) * (1.0 - A * xp.exp(state.log_pi))
        grad = softmax_pg_gradient(state.log_pi, _values(state, oracle), g) + barrier
        return _next(state, log_normalize(state.log_pi + e * grad))

    return _rule("log_barrier_pg", update, eta=eta, lam=lam)


def projected_pg(*, eta=None) -> Rule:
    """Projected gradient ascent, direct parametrization (AKM Thm 4.1), one oracle call:
    ``pi(.|s) <- Proj_simplex(pi(.|s) + eta d(s) Q(s, .) / (1 - gamma))``.

    ``eta=None``: AKM's ``(1-gamma)^3 / (2 gamma A)`` (1 at ``gamma = 0``).
    """
    eta = _optional_step("projected_pg", eta)

    def update(state, oracle):
        _unregularized_only("projected_pg", oracle)
        xp = array_namespace(state.log_pi)
        g, A = oracle.gamma, state.log_pi.shape[-1]
        e = ((1.0 - g) ** 3 / (2.0 * g * A) if g > 0 else 1.0) if eta is None else eta
        o = _values(state, oracle)
        step = _state_weights(o, state.log_pi) * o.q / (1.0 - g)
        return _next(state, log_policy(project_simplex(xp.exp(state.log_pi) + e * step)))

    return _rule("projected_pg", update, eta=eta)


# --------------------------------------------------------------------------- mirror-descent rules
def npg(*, eta=1.0) -> Rule:
    """Natural policy gradient = soft policy iteration (AKM Lemma 5.1), one oracle call:
    ``pi(a|s) <- pi(a|s) exp(eta adv(s,a)/(1-gamma)) / Z(s)`` via :func:`kl_prox`.

    ``eta = inf`` gives the greedy policy of ``Q^pi`` (a policy-iteration step; ties keep pi's weights).
    Guarantee: ``V*(rho) - V_T(rho) <= log|A|/(eta T) + 1/((1-gamma)^2 T)`` from uniform (AKM Thm 5.3;
    theorem ``npg.akm``), ``npg.pi_limit`` at ``eta = inf``.

    With an oracle carrying the RLHF objective (``beta > 0``, reference ``mu``) the step is
    :func:`regularized_prox` with step ``eta / (1 - gamma)``:
    ``pi+ ∝ pi^{1/(1+x)} mu^{x/(1+x)} exp(eta Q_beta / ((1-gamma)(1+x)))``, ``x = eta beta / (1-gamma)``;
    ``eta = inf`` is soft policy iteration. Guarantee: theorem ``npg.regularized_linear`` (rate
    ``1 - eta beta / (1 + x)``: Cen et al.'s ``1 - eta tau`` at their step ``eta beta/(1+x) <= 1 - gamma``).
    """
    eta = step_size("npg", "eta", eta, allow_inf=True)
    greedy = _is_inf(eta)

    def update(state, oracle):
        o = _values(state, oracle)
        if _regularized(oracle):
            step = eta if greedy else eta / (1.0 - oracle.gamma)
            return _next(state, regularized_prox(state.log_pi, o, oracle, step))
        if greedy:
            return _next(state, greedy_log(state.log_pi, o.adv))
        return _next(state, kl_prox(state.log_pi, o.adv, eta / (1.0 - oracle.gamma)))

    return _rule("npg", update, eta=eta)


def entropy_npg_limit(gamma: float, tau: float) -> float:
    """The largest step of :func:`entropy_npg`, ``(1 - gamma) / tau`` (= soft policy iteration)."""
    return (1.0 - gamma) / tau


def entropy_npg(*, tau, eta=None) -> Rule:
    """Entropy-regularized NPG (Cen et al. 2020, Lemma 5 / eq. (18)), one (soft) oracle call:

    ``pi+(a|s) ∝ pi(a|s)^{1 - alpha} exp(alpha Q_tau(s,a) / tau)``, ``alpha = eta tau / (1 - gamma)`` in ``(0, 1]``,

    i.e. ``argmax_p <p, Q_tau> + tau H(p) - KL(p||pi)/eta'`` with ``eta' = eta / ((1-gamma)(1-alpha))``
    (:func:`kl_prox` with a uniform magnet and ``beta = tau``). ``alpha = 1`` is soft policy iteration
    ``pi+ ∝ exp(Q_tau / tau)``. The rule evaluates at its own ``tau > 0``; ``eta=None`` is
    ``(1-gamma)/tau``, and a larger ``eta`` is a ValueError at the first update (the limit needs the
    oracle's gamma). Guarantee: ``||Q*_tau - Q_tau^{t+1}||_inf <= C1 gamma (1 - eta tau)^t`` (Cen Thm 1,
    constants recalled; theorem ``entropy_npg.linear``).
    """
    if tau is None:
        raise TypeError("entropy_npg: tau is required (the entropy temperature, > 0)")
    tau = coefficient("entropy_npg", "tau", tau, low_open=True)
    eta = _optional_step("entropy_npg", eta)

    def update(state, oracle):
        _unregularized_only("entropy_npg", oracle)
        xp = array_namespace(state.log_pi)
        g = oracle.gamma
        limit = entropy_npg_limit(g, tau)
        e = limit if eta is None else eta
        require("entropy_npg", e <= limit * (1.0 + STEP_LIMIT_SLACK),
                f"eta must lie in (0, (1 - gamma)/tau] = (0, {limit:g}] for entropy_npg, got {e:g}")
        o = _values(state, oracle, tau)
        alpha = e * tau / (1.0 - g)
        if isinstance(alpha, (int, float, np.floating)) and float(alpha) >= 1.0:
            on = xp.isfinite(state.log_pi)
            return _next(state, log_normalize(xp.where(on, o.q / tau, -xp.inf)))
        eta_prox = e / ((1.0 - g) * (1.0 - alpha))
        return _next(state, kl_prox(state.log_pi, o.q, eta_prox, xp.zeros_like(o.q), tau))

    return _rule("entropy_npg", update, tau=tau, eta=eta)


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


PMD_SCHEDULES = ("constant", "geometric", "adaptive")
BREGMANS = ("kl", "euclidean")


def pmd_step_size(state: PolicyState, o: PGOracle, *, eta, gamma, schedule="constant", growth=None,
                  c0=1.0, bregman="kl"):
    """Step ``eta_k`` of policy mirror descent at update ``k = state.k`` (capped at :data:`ETA_CAP`).

    ``o`` is the oracle's output for the current policy (only ``o.q`` is read).

    * ``"constant"``: ``eta``.
    * ``"geometric"``: ``eta growth^k``, ``growth = 1/gamma`` by default (Xiao 2022: ``eta_{k+1} >= eta_k/gamma``
      gives ``V* - V_k = O(gamma^k)``; Lan 2022 Thm 1 uses the same growth with a regularizer).
    * ``"adaptive"``: ``max(eta, max_s D(greedy_k(s), pi_k(s)) / c_k)``, ``c_k = c0 gamma^{2(k+1)}``
      (Johnson, Pike-Burke, Rebeschini 2023: ``eta_k >= ||D(greedy_k, pi_k)||_inf / c_k`` gives
      ``||V* - V_k||_inf <= gamma^k (||V* - V_0||_inf + sum_i c_i gamma^{-i-1})``-type rate gamma).
    """
    xp = array_namespace(state.log_pi, o.q)
    if schedule == "constant":
        return eta
    k = xp.asarray(state.k, dtype=state.log_pi.dtype)
    if schedule == "geometric":
        g = (1.0 / gamma if gamma > 0 else ETA_CAP) if growth is None else growth
        g = min(float(g), ETA_CAP) if isinstance(g, (int, float, np.floating)) else g
        return xp.minimum(eta * xp.exp(k * xp.log(xp.asarray(g, dtype=state.log_pi.dtype))), ETA_CAP)
    if schedule == "adaptive":
        D = _bregman_to_greedy(state.log_pi, o.q, bregman)
        c_k = c0 * xp.exp((2.0 * k + 2.0) * math.log(max(gamma, 1e-300)))
        # D is +inf when pi(a*|s) = 0 under KL; the cap keeps the step finite (greedy to machine precision)
        return xp.minimum(xp.maximum(eta, xp.where(c_k > 0, D / xp.maximum(c_k, 1e-300), ETA_CAP)), ETA_CAP)
    raise ValueError(f"schedule must be 'constant', 'geometric' or 'adaptive', got {schedule!r}")


def policy_mirror_descent(*, eta=1.0, bregman="kl", schedule="constant", growth=None, c0=1.0) -> Rule:
    """Policy mirror descent (Lan 2022 eq. (3.1); Xiao 2022), reward-maximization form, one oracle call:

    ``pi_{k+1}(.|s) = argmax_p eta_k <p, Q^{pi_k}(s, .)> - D(p, pi_k(.|s))``,

    ``D = KL`` -> ``pi_k exp(eta_k Q) / Z`` (:func:`kl_prox`); ``D = ||.||^2/2`` -> ``Proj(pi_k + eta_k Q)``
    (:func:`project_simplex`). ``eta_k`` from :func:`pmd_step_size` (``growth >= 1``, default ``1/gamma``;
    ``c0 > 0``). ``eta = inf`` (any schedule): the policy-iteration step. No ``1/(1-gamma)`` factor (so
    PMD-KL with ``eta`` = NPG with ``eta (1-gamma)``). Guarantees: theorems ``pmd.linear``,
    ``pmd.geometric``, ``pmd.sublinear``. With an oracle carrying the RLHF objective (``beta > 0``,
    reference ``mu``; KL Bregman only) the step is Lan's prox with ``h = beta KL(.||mu)``,
    :func:`regularized_prox` with ``eta_k`` (theorem ``npg.regularized_linear``: rate
    ``1 - (1-gamma) eta beta/(1 + eta beta)``, ``gamma`` at ``1 + eta beta = 1/gamma`` as in Lan Thm 1).
    """
    name = "policy_mirror_descent"
    eta = step_size(name, "eta", eta, allow_inf=True)
    bregman = choice(name, "bregman", bregman, BREGMANS)
    schedule = choice(name, "schedule", schedule, PMD_SCHEDULES)
    growth = None if growth is None else coefficient(name, "growth", growth, low=1.0)
    c0 = coefficient(name, "c0", c0, low_open=True)
    greedy = _is_inf(eta)

    def update(state, oracle):
        xp = array_namespace(state.log_pi)
        o = _values(state, oracle)
        if _regularized(oracle):
            require(name, bregman == "kl", "the KL-regularized objective (oracle beta > 0) needs bregman='kl' "
                    "(the Euclidean prox of beta KL(.||mu) has no closed form)")
            eta_k = eta if greedy else pmd_step_size(state, o, eta=eta, gamma=oracle.gamma, schedule=schedule,
                                                     growth=growth, c0=c0, bregman=bregman)
            return _next(state, regularized_prox(state.log_pi, o, oracle, eta_k))
        if greedy:
            if bregman == "kl":
                return _next(state, greedy_log(state.log_pi, o.q))
            return _next(state, log_policy(_euclid_greedy(xp.exp(state.log_pi), o.q)))
        eta_k = pmd_step_size(state, o, eta=eta, gamma=oracle.gamma, schedule=schedule, growth=growth, c0=c0,
                              bregman=bregman)
        if bregman == "kl":
            return _next(state, kl_prox(state.log_pi, o.adv, eta_k))
        return _next(state, log_policy(project_simplex(xp.exp(state.log_pi) + eta_k * o.adv)))

    return _rule(name, update, eta=eta, bregman=bregman, schedule=schedule, growth=growth, c0=c0)


def mdpo(*, eta=1.0, anneal=None) -> Rule:
    """On-policy MDPO, exact tabular step (Tomar et al. 2020; objective recalled), one oracle call:

    ``pi_{k+1} = argmax_pi E_{s~d_k}[E_pi adv_k - KL(pi||pi_k)/t_k]`` -> ``pi_k exp(t_k adv_k) / Z``
    per state (the state weights cancel), ``t_k = eta (1 - k/anneal)`` when ``anneal = K`` (an int
    >= 1) is given (the paper's annealing), else ``t_k = eta``. With an oracle carrying the RLHF
    objective (``beta > 0``) the KL to the reference is kept exact in the step (not linearized):
    :func:`regularized_prox` with ``t_k``, i.e. KL policy mirror descent with step ``t_k``.
    """
    eta = step_size("mdpo", "eta", eta)
    if anneal is not None:
        try:
            anneal = as_positive_int("anneal", anneal)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"mdpo: {exc}") from None

    def update(state, oracle):
        xp = array_namespace(state.log_pi)
        o = _values(state, oracle)
        t_k = eta if anneal is None else eta * (1.0 - xp.asarray(state.k, dtype=state.log_pi.dtype) / anneal)
        if _regularized(oracle):
            return _next(state, regularized_prox(state.log_pi, o, oracle, t_k))
        return _next(state, kl_prox(state.log_pi, o.adv, t_k))

    return _rule("mdpo", update, eta=eta, anneal=anneal)


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

    # gap0 underflows to 0 when the top action's probability is ~1e-300: the floor keeps the
    # denominators positive (the ratios lam pi / den stay those of the exact problem)
    floor = xp.finfo(pi.dtype).tiny

    def newton(gap):
        # h(gap) = sum lam pi / (gap + a_max - adv) - 1 is convex decreasing on gap > 0
        den = xp.where(on, xp.maximum(gap + (a_max - adv), floor), 1.0)
        ratio = xp.where(on, lam * pi / den, 0.0)
        h = xp.sum(ratio, axis=-1, keepdims=True) - 1.0
        dh = -xp.sum(xp.where(on, ratio / den, 0.0), axis=-1, keepdims=True)  # not den**2: it underflows
        return gap - h / dh

    gap = fori(xp, NEWTON_STEPS, newton, gap0)
    den = xp.where(on, xp.maximum(gap + (a_max - adv), floor), 1.0)
    log_p = xp.where(on, xp.log(lam) + log_pi - xp.log(den), -xp.inf)
    log_p = log_normalize(log_p)
    kl = xp.sum(pi * (xp.where(on, log_pi, 0.0) - xp.where(on, log_p, 0.0)), axis=-1)
    return log_p, kl


def trpo_step(log_pi, o: PGOracle, delta):
    """The exact tabular TRPO step from ``log_pi`` with the oracle output ``o`` of ``pi = exp(log_pi)``:

    ``max_p sum_s d(s) <p(.|s), adv(s,.)>  s.t.  sum_s d(s) KL(pi(.|s) || p(.|s)) <= delta``.

    Lagrangian per state: ``p(a|s) = lam pi(a|s) / (nu_s - adv(s,a))``; the shared multiplier ``lam``
    is found by a vectorized 16-way search on ``log lam`` so that the constraint is active (it always is:
    the unconstrained maximizer is greedy, at infinite KL). ``lam`` is searched in ``scale * [e^-60, e^60]``, ``scale =
    max |adv| + 1e-100``; a ``delta`` beyond that bracket returns its end point. Returns ``log p [S, A]``.
    """
    xp = array_namespace(log_pi, o.adv)
    adv = o.adv
    w = xp.asarray(o.d)
    # the floor keeps lam = scale e^-60 a normal float when adv = 0 (a deterministic policy: p = pi)
    # infeasible actions (adv = -inf, never in pi's support) do not set the multiplier's scale
    scale = xp.max(xp.where(xp.isfinite(adv), xp.abs(adv), 0.0)) + 1e-100
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
    return log_p


def trpo(*, delta=0.01) -> Rule:
    """Exact tabular TRPO (Schulman et al. 2015, the trust-region problem solved exactly), one oracle
    call: :func:`trpo_step` with trust-region radius ``delta > 0``."""
    delta = step_size("trpo", "delta", delta)

    def update(state, oracle):
        _unregularized_only("trpo", oracle)
        return _next(state, trpo_step(state.log_pi, _values(state, oracle), delta))

    return _rule("trpo", update, delta=delta)

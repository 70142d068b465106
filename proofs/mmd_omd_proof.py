"""Proof: magnetic mirror descent with step ``eta`` is online mirror descent (INPO's tabular rule)
with step ``s = eta / (1 + eta beta)``.

Setting: preference matrix ``P`` [K, K], reference (magnet) ``mu``, ``beta > 0``, logits
``theta = log pi`` up to an additive constant, self-play payoff ``g = P pi_t``.

MMD (Sokota et al., arXiv 2206.05825, tabular step with magnet ``rho = mu`` and ``alpha = beta``):

.. math::  \\pi_{t+1} \\propto [\\pi_t\\, \\mu^{\\eta\\beta} e^{\\eta g}]^{1/(1+\\eta\\beta)}
           = \\arg\\max_p \\;\\eta[\\langle p, g\\rangle - \\beta KL(p\\|\\mu)] - KL(p\\|\\pi_t).

OMD / INPO (Zhang et al., arXiv 2407.00617; INPO writes the step as ``1/eta``):

.. math::  \\pi_{t+1} \\propto \\pi_t^{1-s\\beta}\\, \\mu^{s\\beta}\\, e^{s g}.

Claim: with ``s = eta / (1 + eta beta)`` both give the same ``pi_{t+1}`` from the same ``pi_t``,
so the same trajectories (one oracle call per step, the same opponent ``pi_t``).

Derivation (sympy below, K = 3 generic symbols):

1. MMD's policy-space form and its prox form have the same logits (stationarity of the
   Lagrangian, as in ``proofs/gibbs_proof.py``).
2. OMD's step is the maximiser of ``s <p, g> - s beta KL(p||mu) - (1 - s beta) KL(p||pi_t)``
   for ``s beta < 1`` (stationarity again).
3. Under ``s = eta / (1 + eta beta)`` the logit coefficients ``(1/(1+eta beta), eta beta/(1+eta
   beta), eta/(1+eta beta))`` equal ``(1 - s beta, s beta, s)``.
4. MMD's rate factor ``1 / (1 + eta beta)`` is ``1 - s beta``; MMD's condition ``eta <= beta / L^2
   = 4 beta`` (``L = 1/2``) reads ``s <= 4 beta / (1 + 4 beta^2)``.

The last test checks :mod:`polopt.rules.nlhf` (``mmd_update`` vs ``inpo_update``).
Reference: our derivation (the logit-space form of the KL prox step).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

K = 3
#: 40 steps of two float64 rules forming the same coefficients in a different order
#: (~1e-16 relative per step, contracting maps): log-policies agree far below this.
TRAJECTORY_TOL = 1e-11

eta, beta, s = sp.symbols("eta beta s", positive=True)
theta = sp.symbols("theta0:3", real=True)
theta_mu = sp.symbols("lmu0:3", real=True)
g = sp.symbols("g0:3", real=True)
lam = sp.Symbol("lambda", real=True)
p = sp.symbols("p0:3", positive=True)


def s_of(eta_):
    return eta_ / (1 + eta_ * beta)


def mmd_logits(step):
    """log of ``[pi mu^{eta beta} e^{eta g}]^{1/(1+eta beta)}``."""
    return [(theta[a] + step * beta * theta_mu[a] + step * g[a]) / (1 + step * beta) for a in range(K)]


def omd_logits(step):
    """log of ``pi^{1-s beta} mu^{s beta} e^{s g}``."""
    return [(1 - step * beta) * theta[a] + step * beta * theta_mu[a] + step * g[a] for a in range(K)]


def _stationary_logits_match(obj, closed):
    """Stationarity of ``obj + lambda (sum p - 1)`` gives ``log p_a = closed_a + c`` (c free of the data)."""
    L = obj + lam * (sum(p) - 1)
    for a in range(K):
        sol = sp.solve(sp.Eq(sp.diff(L, p[a]), 0), p[a])
        assert len(sol) == 1
        const = sp.simplify(sp.expand_log(sp.log(sol[0]) - closed[a], force=True))
        assert not (const.free_symbols & (set(theta) | set(theta_mu) | set(g)))


def test_mmd_step_is_the_magnetic_prox():
    obj = sum(
        eta * (p[a] * g[a] - beta * p[a] * (sp.log(p[a]) - theta_mu[a])) - p[a] * (sp.log(p[a]) - theta[a])
        for a in range(K)
    )
    _stationary_logits_match(obj, mmd_logits(eta))


def test_omd_step_is_its_prox():
    """For s beta < 1: argmax s<p,g> - s beta KL(p||mu) - (1 - s beta) KL(p||pi) is the OMD step."""
    obj = sum(
        s * (p[a] * g[a] - beta * p[a] * (sp.log(p[a]) - theta_mu[a]))
        - (1 - s * beta) * p[a] * (sp.log(p[a]) - theta[a])
        for a in range(K)
    )
    _stationary_logits_match(obj, omd_logits(s))


def test_coefficients_match_under_the_step_map():
    mmd = mmd_logits(eta)
    omd = omd_logits(s_of(eta))
    for a in range(K):
        assert sp.simplify(mmd[a] - omd[a]) == 0


def test_rate_and_step_condition_map():
    assert sp.simplify(1 / (1 + eta * beta) - (1 - s_of(eta) * beta)) == 0
    assert sp.simplify(s_of(4 * beta) - 4 * beta / (1 + 4 * beta**2)) == 0
    # every s in (0, 1/beta) is reached: the inverse map is eta = s / (1 - s beta)
    assert sp.simplify(s_of(s / (1 - s * beta)) - s) == 0


def test_polopt_rules_follow_the_identity():
    """polopt.rules.nlhf: mmd(eta) and inpo(s = eta / (1 + eta beta)) give the same iterates."""
    from polopt.problems.random import random_intransitive, random_tournament
    from polopt.rules import nlhf

    for game, b, e in (
        (random_intransitive(6, seed=1, reference="random"), 0.05, 0.2),
        (random_tournament(9, seed=2), 0.01, 0.16),
        (random_intransitive(4, seed=3), 0.5, 3.0),
    ):
        log_mu = np.log(game.mu)
        st_mmd = nlhf.mmd_init(log_mu, log_mu)
        st_omd = nlhf.inpo_init(log_mu)
        for _ in range(40):
            st_mmd = nlhf.mmd_update(st_mmd, game.P, log_mu, eta=e, beta=b)
            st_omd = nlhf.inpo_update(st_omd, game.P, log_mu, eta=e / (1 + e * b), beta=b)
            np.testing.assert_allclose(st_mmd.log_pi, st_omd.log_pi, rtol=0.0, atol=TRAJECTORY_TOL)

"""Proof: Nash Mirror Prox with step ``eta`` is tabular EGPO with step ``s = eta / (1 + eta beta)``.

Setting: preference matrix ``P`` [K, K], reference ``mu``, ``beta > 0``; logits ``theta = log pi``
(additive constants are irrelevant: policies are ``softmax(theta)``).

Nash-MP (Tiapkin et al., arXiv 2505.19731 v1) makes two KL-prox steps anchored at ``pi_k``:

.. math::
    \\pi_{k+1/2} = \\arg\\max_p\\; \\eta\\,[\\langle p, P\\pi_k\\rangle - \\beta KL(p\\|\\mu)] - KL(p\\|\\pi_k),
    \\qquad
    \\pi_{k+1} = \\arg\\max_p\\; \\eta\\,[\\langle p, P\\pi_{k+1/2}\\rangle - \\beta KL(p\\|\\mu)] - KL(p\\|\\pi_k).

EGPO (Zhou, Fazel, Du, arXiv 2503.08942) makes two multiplicative steps anchored at ``pi_t``:

.. math::
    \\pi_{t+1/2} \\propto \\pi_t^{1-s\\beta} \\mu^{s\\beta} e^{s P\\pi_t},\\qquad
    \\pi_{t+1} \\propto \\pi_t^{1-s\\beta} \\mu^{s\\beta} e^{s P\\pi_{t+1/2}}.

Claim: with ``s = eta / (1 + eta beta)`` (equivalently ``eta = s / (1 - s beta)``, a bijection
``(0, inf) -> (0, 1/beta)``) the two recursions produce the same policies from the same start.

Derivation (each step is a sympy computation below, K = 3 with generic symbols):

1. Stationarity of the Lagrangian of one prox step with generic payoff ``g`` gives
   ``log p = (theta + eta beta log mu + eta g) / (1 + eta beta) + c`` (the closed form of
   :func:`polopt.rules._core.kl_prox`).
2. Under ``s = eta / (1 + eta beta)`` its coefficients are ``1 - s beta``, ``s beta``, ``s``: the
   EGPO step with the same ``g``. Both half-step and full step have this form with the same
   anchor ``theta_k``; the half steps agree, hence the opponents ``P pi_{k+1/2}`` agree, hence the
   full steps agree (checked also by composing the two steps symbolically with a softmax).
3. The contraction factors match: ``1 / (1 + eta beta) = 1 - s beta``, so the Nash-MP rate
   ``(1 + eta beta)^{-k}`` is EGPO's ``(1 - s beta)^k``; Nash-MP's ``eta <= 2`` is
   ``s <= 2 / (1 + 2 beta)``.

The last test runs :mod:`polopt.rules.nlhf` (``mirror_prox_update`` and ``extragradient_update``)
and checks the identity on the code.
Reference: our derivation (the logit-space form of the KL prox step).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

K = 3
#: 30 iterations of two float64 rules that differ only in how the same coefficients are formed:
#: each step rounds at ~1e-16 relative and the maps contract, so log-policies agree far below this.
TRAJECTORY_TOL = 1e-11

eta, beta, s = sp.symbols("eta beta s", positive=True)
theta = sp.symbols("theta0:3", real=True)
theta_mu = sp.symbols("lmu0:3", real=True)
g = sp.symbols("g0:3", real=True)
lam = sp.Symbol("lambda", real=True)
p = sp.symbols("p0:3", positive=True)


def eta_of(s_):
    """Inverse map ``eta = s / (1 - s beta)``."""
    return s_ / (1 - s_ * beta)


def s_of(eta_):
    """``s = eta / (1 + eta beta)``."""
    return eta_ / (1 + eta_ * beta)


def prox_logits(th, gg, step):
    """Nash-MP prox step (closed form, up to an additive constant)."""
    return [(th[a] + step * beta * theta_mu[a] + step * gg[a]) / (1 + step * beta) for a in range(K)]


def egpo_logits(th, gg, step):
    """EGPO step ``(1 - s beta) theta + s beta log mu + s g`` (up to an additive constant)."""
    return [(1 - step * beta) * th[a] + step * beta * theta_mu[a] + step * gg[a] for a in range(K)]


def test_prox_step_closed_form():
    """Stationarity of eta[<p, g> - beta KL(p||mu)] - KL(p||pi) + lambda (sum p - 1) gives the closed form."""
    obj = sum(
        eta * (p[a] * g[a] - beta * p[a] * (sp.log(p[a]) - theta_mu[a])) - p[a] * (sp.log(p[a]) - theta[a])
        for a in range(K)
    )
    L = obj + lam * (sum(p) - 1)
    closed = prox_logits(theta, g, eta)
    for a in range(K):
        sol = sp.solve(sp.Eq(sp.diff(L, p[a]), 0), p[a])
        assert len(sol) == 1  # stationarity is strictly monotone in p_a
        # log p_a - closed_a must not depend on a: it is the normaliser (a function of lambda only)
        const = sp.simplify(sp.expand_log(sp.log(sol[0]) - closed[a], force=True))
        assert not (const.free_symbols & (set(theta) | set(theta_mu) | set(g)))
    # the objective is strictly concave (Hessian diag(-(1 + eta beta) / p))
    H = sp.hessian(obj, p)
    assert sp.simplify(H - sp.diag(*[-(1 + eta * beta) / p[a] for a in range(K)])) == sp.zeros(K, K)


def test_one_step_coefficients_match():
    """prox(theta, g, eta) == egpo(theta, g, s(eta)) for every theta, mu, g: identical logits."""
    mp = prox_logits(theta, g, eta)
    eg = egpo_logits(theta, g, s_of(eta))
    for a in range(K):
        assert sp.simplify(mp[a] - eg[a]) == 0


def test_step_map_is_a_bijection():
    """s(eta(s)) = s, eta(s(eta)) = eta; s ranges over (0, 1/beta) as eta ranges over (0, inf)."""
    assert sp.simplify(s_of(eta_of(s)) - s) == 0
    assert sp.simplify(eta_of(s_of(eta)) - eta) == 0
    assert sp.limit(s_of(eta), eta, sp.oo) == 1 / beta
    assert sp.limit(s_of(eta), eta, 0) == 0
    assert sp.simplify(sp.diff(s_of(eta), eta) - 1 / (1 + eta * beta) ** 2) == 0  # increasing


def test_contraction_factors_and_step_condition_match():
    """1/(1 + eta beta) = 1 - s beta, and eta <= 2 iff s <= 2 / (1 + 2 beta)."""
    assert sp.simplify(1 / (1 + eta * beta) - (1 - s_of(eta) * beta)) == 0
    assert sp.simplify(s_of(sp.Integer(2)) - 2 / (1 + 2 * beta)) == 0


def test_two_step_iteration_matches():
    """Compose half step -> softmax -> opponent payoff -> full step symbolically for both rules."""
    P = sp.Matrix(K, K, lambda i, j: sp.Symbol(f"P{i}{j}", real=True))

    def policy(logits):
        e = [sp.exp(x) for x in logits]
        return sp.Matrix(e) / sum(e)

    g0 = list(P * policy(theta))
    # Nash-MP with eta; EGPO with s = s(eta): the half steps are equal expressions ...
    half_mp = prox_logits(theta, g0, eta)
    half_eg = egpo_logits(theta, g0, s_of(eta))
    assert all(sp.simplify(half_mp[a] - half_eg[a]) == 0 for a in range(K))
    # ... so substituting the (equal) half-step logits gives equal opponents and equal full steps.
    g_half = list(P * policy([sp.simplify(x) for x in half_mp]))
    full_mp = prox_logits(theta, g_half, eta)
    full_eg = egpo_logits(theta, g_half, s_of(eta))
    assert all(sp.simplify(full_mp[a] - full_eg[a]) == 0 for a in range(K))


def test_polopt_rules_follow_the_identity():
    """polopt.rules.nlhf: mirror_prox(eta) and extragradient(eta / (1 + eta beta)) give the same iterates."""
    from polopt.problems.random import random_intransitive, random_tournament
    from polopt.rules import nlhf

    for game, b, e in (
        (random_intransitive(6, seed=1, reference="random"), 0.05, 2.0),
        (random_tournament(9, seed=2), 0.01, 4.0),
        (random_intransitive(4, seed=3), 0.5, 0.7),
    ):
        log_mu = np.log(game.mu)
        st_mp = nlhf.mirror_prox_init(log_mu)
        st_eg = nlhf.extragradient_init(log_mu)
        for _ in range(30):
            st_mp = nlhf.mirror_prox_update(st_mp, game.P, log_mu, eta=e, beta=b)
            st_eg = nlhf.extragradient_update(st_eg, game.P, log_mu, eta=e / (1 + e * b), beta=b)
            np.testing.assert_allclose(st_mp.log_pi, st_eg.log_pi, rtol=0.0, atol=TRAJECTORY_TOL)

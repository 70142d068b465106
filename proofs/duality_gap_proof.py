"""Proof: in a symmetric constant-sum preference game the duality gap is twice the exploitability.

Setting: ``P`` [K, K] with ``P + P^T = 1`` (all-ones), reference ``mu``, ``beta >= 0`` and

.. math::  J(p, q) = p^\\top P q - \\beta\\,\\mathrm{KL}(p\\|\\mu) + \\beta\\,\\mathrm{KL}(q\\|\\mu).

Claim: for every ``pi`` on the simplex

.. math::  \\max_{p} J(p, \\pi) - \\min_{q} J(\\pi, q) = 2\\,\\big(\\max_{p} J(p, \\pi) - 1/2\\big).

Derivation (each step is a sympy computation below, K = 3 with generic symbols):

1. Symmetry identity: ``J(q, p) = 1 - J(p, q)`` for all ``p, q`` on the simplex, because
   ``q^T P p = p^T P^T q = p^T (1 1^T - P) q = 1 - p^T P q`` and the KL terms swap sign.
2. Hence ``{J(pi, q) : q} = {1 - J(q, pi) : q}``, so ``min_q J(pi, q) = 1 - max_q J(q, pi)`` and
   ``DG(pi) = 2 max_p J(p, pi) - 1 = 2 f(pi)``.
3. Cross-check with the closed-form best responses: for ``beta > 0``
   ``max_p J(p, pi) = beta log sum mu e^{P pi / beta} + beta KL(pi||mu)`` and
   ``min_q J(pi, q) = -beta log sum mu e^{-P^T pi / beta} - beta KL(pi||mu)`` (Gibbs,
   ``proofs/gibbs_proof.py``); their sum is 1. For ``beta = 0`` the best responses are pure and
   ``min_y (P^T pi)_y = 1 - max_y (P pi)_y``, proved for each possible argmax.

This is the convention of :mod:`polopt.certificates` (``duality_gap = 2 exploitability``); the
last test checks the code against it on random EGPO-type games.
Reference: Munos et al., arXiv 2312.00886, Sec. 4.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

K = 3
#: Two float64 evaluations of log-sum-exp expressions of K <= 8 terms agree to this.
NUMERIC_TOL = 1e-12

beta = sp.Symbol("beta", positive=True)
mu = sp.symbols("mu0:3", positive=True)
# generic preference matrix: strictly-lower entries free, upper = 1 - lower, diagonal 1/2
_low = {(1, 0): sp.Symbol("a"), (2, 0): sp.Symbol("b"), (2, 1): sp.Symbol("c")}
P = sp.Matrix(
    K,
    K,
    lambda i, j: sp.Rational(1, 2) if i == j else (_low[(i, j)] if i > j else 1 - _low[(j, i)]),
)


def simplex_point(name: str):
    """A generic interior point of the simplex: two free positive coordinates, the third eliminated."""
    x0, x1 = sp.symbols(f"{name}0 {name}1", positive=True)
    return sp.Matrix([x0, x1, 1 - x0 - x1])


def kl(p, q):
    return sum(p[i] * sp.log(p[i] / q[i]) for i in range(K))


def J(p, q):
    return (p.T * P * q)[0, 0] - beta * kl(p, mu) + beta * kl(q, mu)


def test_preference_matrix_is_constant_sum():
    assert sp.simplify(P + P.T - sp.ones(K, K)) == sp.zeros(K, K)


def test_symmetry_identity():
    """J(q, p) = 1 - J(p, q) for generic P, mu, beta and generic p, q on the simplex."""
    p, q = simplex_point("p"), simplex_point("q")
    assert sp.simplify(sp.expand(J(q, p) + J(p, q) - 1)) == 0


def test_gap_is_twice_exploitability_regularized():
    """beta > 0: the closed-form best-response values satisfy hi + lo = 1, i.e. hi - lo = 2 (hi - 1/2)."""
    pi = simplex_point("x")
    # Step 1: P^T pi = 1 - P pi on the simplex (componentwise).
    assert sp.simplify(sp.expand(P.T * pi - (sp.ones(K, 1) - P * pi))) == sp.zeros(K, 1)
    # Step 2: with u = P pi (generic reals) and R = beta KL(pi || mu), the Gibbs closed forms read
    #   hi = beta log sum_y mu_y e^{u_y / beta} + R,   lo = -beta log sum_y mu_y e^{-(P^T pi)_y / beta} - R,
    # and by step 1 (P^T pi)_y = 1 - u_y.
    u = sp.symbols("u0:3", real=True)
    R = sp.Symbol("R", real=True)
    hi = beta * sp.log(sum(mu[y] * sp.exp(u[y] / beta) for y in range(K))) + R
    lo_sum = sum(mu[y] * sp.exp(-(1 - u[y]) / beta) for y in range(K))
    # factor e^{-1/beta} out of the sum: log(e^{-1/beta} S) = -1/beta + log S
    lo = -beta * sp.log(sp.factor(sp.expand(lo_sum))) - R
    gap, claim = hi - lo, 2 * (hi - sp.Rational(1, 2))
    assert sp.simplify(sp.expand_log(sp.expand(gap - claim), force=True)) == 0


def test_gap_is_twice_exploitability_unregularized():
    """beta = 0: min_y (P^T pi)_y = 1 - max_y (P pi)_y whichever action attains the max."""
    pi = simplex_point("x")
    Ppi = sp.expand(P * pi)
    PTpi = sp.expand(P.T * pi)
    assert sp.simplify(PTpi - (sp.ones(K, 1) - Ppi)) == sp.zeros(K, 1)
    # With values v_y = (P pi)_y, write v_y = v_top - d_y (d_y >= 0) for each possible argmax `top`.
    top_value = sp.Symbol("v", real=True)
    for top in range(K):
        d = [sp.Integer(0) if y == top else sp.Symbol(f"d{y}", positive=True) for y in range(K)]
        v = [top_value - d[y] for y in range(K)]
        hi = sp.Max(*v)
        lo = sp.Min(*[1 - v[y] for y in range(K)])
        assert sp.simplify(hi - top_value) == 0
        assert sp.simplify((hi - lo) - 2 * (hi - sp.Rational(1, 2))) == 0


def test_polopt_certificates_follow_the_identity():
    """polopt.certificates: duality_gap = 2 exploitability, and both best responses sum to 1."""
    from scipy.special import logsumexp

    from polopt import certificates
    from polopt.problems.random import random_intransitive

    rng = np.random.default_rng(0)
    for seed in range(6):
        game = random_intransitive(5, seed=seed, reference="random")
        pi = rng.dirichlet(np.ones(5))
        for b in (0.0, 0.05, 1.0):
            f = certificates.exploitability(game, pi, b)
            dg = certificates.duality_gap(game, pi, b)
            np.testing.assert_allclose(dg, 2.0 * f, rtol=0.0, atol=NUMERIC_TOL)
            # hi from the max player's closed form, lo from the min player's, computed here
            reg = b * float(np.sum(pi * np.log(pi / game.mu))) if b > 0 else 0.0
            if b > 0:
                hi = b * logsumexp(game.P @ pi / b, b=game.mu) + reg
                lo = -b * logsumexp(-(game.P.T @ pi) / b, b=game.mu) - reg
            else:
                hi, lo = float(np.max(game.P @ pi)), float(np.min(game.P.T @ pi))
            np.testing.assert_allclose(hi + lo, 1.0, rtol=0.0, atol=NUMERIC_TOL)
            np.testing.assert_allclose(dg, hi - lo, rtol=0.0, atol=NUMERIC_TOL)

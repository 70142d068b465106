"""Proof: P3O's pairwise gradient is invariant to per-prompt reward shifts and, on-policy, is the policy gradient.

Claim (K = 3 symbols). For one prompt, the pairwise estimate on a pair ``(a, b)`` is
``g(a, b) = (R_a - R_b)(e_a - e_b) / 2`` (``grad log pi(a) - grad log pi(b) = e_a - e_b`` in logit space).

1. ``R -> R + c`` (any constant of the prompt) leaves every ``g(a, b)`` unchanged, hence every
   sampled estimate and every P3O iterate;
2. ``sum_{a,b} pi_a pi_b g(a, b) = pi * (R - pi . R)``: the exact softmax policy gradient of
   ``E_pi R`` (with ``R = r - beta log(pi / pi_ref)`` it is the gradient of the KL-regularized
   objective, because ``E_pi grad log pi = 0``).

The last test checks :func:`polopt.rules.preference_losses.p3o` with a sampled pair distribution.
Reference: Wu et al., arXiv 2310.00212 (pairwise PG [paper abstract]; formulas recalled).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

#: Two float64 evaluations of the same few-flop expression.
NUMERIC_TOL = 1e-12

K = 3
R = sp.symbols("R0:3", real=True)
c = sp.Symbol("c", real=True)
p0, p1 = sp.symbols("p0 p1", positive=True)
PI = [p0, p1, 1 - p0 - p1]


def e(a):
    return sp.Matrix([1 if i == a else 0 for i in range(K)])


def pair_grad(Rv, a, b):
    return (Rv[a] - Rv[b]) * (e(a) - e(b)) / 2


def test_shift_invariance():
    shifted = [x + c for x in R]
    for a in range(K):
        for b in range(K):
            assert sp.simplify(pair_grad(shifted, a, b) - pair_grad(R, a, b)) == sp.zeros(K, 1)


def test_on_policy_expectation_is_the_policy_gradient():
    expected = sum((PI[a] * PI[b] * pair_grad(R, a, b) for a in range(K) for b in range(K)), sp.zeros(K, 1))
    mean = sum(PI[a] * R[a] for a in range(K))
    pg = sp.Matrix([PI[a] * (R[a] - mean) for a in range(K)])
    assert sp.simplify(sp.expand(expected - pg)) == sp.zeros(K, 1)


def test_polopt_p3o_is_shift_invariant():
    from polopt.rules.preference_losses import p3o

    rng = np.random.default_rng(0)
    theta = rng.normal(size=(2, 4))
    r = rng.normal(size=(2, 4))
    log_ref = np.log(np.full((2, 4), 0.25))
    nu = rng.dirichlet(np.ones(16), size=2).reshape(2, 4, 4)
    shift = np.array([[3.0], [-7.5]])
    g = p3o(theta, r, log_ref, 0.3, nu=nu).grad
    g_shift = p3o(theta, r + shift, log_ref, 0.3, nu=nu).grad
    np.testing.assert_allclose(g_shift, g, atol=NUMERIC_TOL)

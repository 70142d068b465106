"""Proof: the IPO population loss is minimized by ``pi_ref exp(P(y > b) / beta) / Z``.

Claim (K = 3, a generic preference matrix ``P`` with ``P + P^T = 1`` and a generic behaviour
``b`` on the simplex). Pairs ``y, y' ~ b`` i.i.d.; the winner ``w`` and loser ``l`` enter
``(s_w - s_l - c)^2`` with ``s = log(pi / pi_ref)`` and ``c = 1 / (2 beta)``. The expected loss

.. math:: L(s) = \\sum_{y, y'} b_y b_{y'} \\big[P_{yy'} (s_y - s_{y'} - c)^2 + P_{y'y} (s_{y'} - s_y - c)^2\\big]

is a convex quadratic in ``s`` (Hessian = a graph Laplacian, PSD; below), and its gradient
vanishes at ``s = (P b) / beta`` (sympy below, after eliminating ``b_2 = 1 - b_0 - b_1``). So
``pi* ∝ pi_ref exp(P(y > b) / beta)``; the minimizer is unique up to the constant shift, i.e.
unique as a policy, when ``b`` has full support.

The last test evaluates :func:`polopt.rules.preference_losses.ipo` at the closed form.
Reference: Azar et al., arXiv 2310.12036 (IPO; the closed form there is recalled, this is our derivation).
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

#: The gradient at the closed form is a sum of a few dozen float64 terms of size ~1/beta.
NUMERIC_TOL = 1e-12

K = 3
beta = sp.Symbol("beta", positive=True)  # the KL coefficient (Azar et al. write tau)
p01, p02, p12 = sp.symbols("p01 p02 p12", positive=True)
b0, b1 = sp.symbols("b0 b1", positive=True)
B = [b0, b1, 1 - b0 - b1]
P = sp.Matrix([[sp.Rational(1, 2), p01, p02], [1 - p01, sp.Rational(1, 2), p12], [1 - p02, 1 - p12, sp.Rational(1, 2)]])
s = sp.symbols("s0:3", real=True)
c = 1 / (2 * beta)

LOSS = sum(
    B[y] * B[z] * (P[y, z] * (s[y] - s[z] - c) ** 2 + P[z, y] * (s[z] - s[y] - c) ** 2)
    for y, z in itertools.product(range(K), repeat=2)
)


def test_gradient_vanishes_at_closed_form():
    win = P * sp.Matrix(B)
    point = {s[a]: win[a] / beta for a in range(K)}
    for a in range(K):
        assert sp.simplify(sp.expand(sp.diff(LOSS, s[a]).subs(point))) == 0


def test_loss_is_a_convex_quadratic():
    H = sp.hessian(LOSS, s)
    # constant Hessian (quadratic) with zero row sums (shift invariance) and non-positive off-diagonals:
    # a weighted graph Laplacian, hence positive semidefinite
    assert all(sp.diff(H[i, j], v) == 0 for i in range(K) for j in range(K) for v in s)
    for i in range(K):
        assert sp.simplify(sum(H[i, j] for j in range(K))) == 0
        for j in range(K):
            if i != j:
                assert sp.simplify(H[i, j] + 4 * B[i] * B[j]) == 0  # -4 b_i b_j <= 0


def test_closed_form_zeroes_polopt_gradient():
    from polopt.problems.random import random_intransitive
    from polopt.rules.preference_losses import ipo, ipo_optimum, pair_weights, product_pairs

    P_num = random_intransitive(5, seed=3).P
    ref = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    behaviour = np.array([0.3, 0.1, 0.2, 0.2, 0.2])
    beta_num = 0.4
    pi_star = ipo_optimum(P_num, behaviour, ref, beta_num)
    grad = ipo(np.log(pi_star), pair_weights(P_num, product_pairs(behaviour)), np.log(ref), beta_num).grad
    np.testing.assert_allclose(grad, 0.0, atol=NUMERIC_TOL)

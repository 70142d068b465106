"""Proof: the gradient-weighted baseline minimizes the estimator's variance; the SNR step guarantees ascent.

Part 1 (``K = 3`` arms, symbolic ``pi`` on the simplex, rewards ``r``, constant baseline ``b``).
With the softmax score ``s(a) = e_a - pi``, its squared norm ``w(a) = ||s(a)||^2`` and the
REINFORCE estimate ``g_hat = (r(a) - b) s(a)``, ``a ~ pi``:

1. ``w(a) = 1 - 2 pi(a) + ||pi||^2`` and ``E w = 1 - ||pi||^2``;
2. ``E g_hat = grad J = pi * (r - pi.r)`` for every ``b`` (``E s = 0``), so
   ``V(b) = tr Cov g_hat = E[w (r - b)^2] - ||grad J||^2``, a quadratic in ``b``;
3. ``V'(b) = -2 E[w (r - b)] = 0`` gives ``b* = E[w r] / E[w]``; ``V'' = 2 E w > 0``, and
   ``V(b) = V(b*) + E[w] (b - b*)^2`` for every ``b`` (global minimum). A group of ``G`` i.i.d.
   samples divides ``V`` by ``G``: same minimizer.

Part 2 (the SNR-adaptive step of ``oblr_po``). The descent lemma for an ``L``-smooth ``J``
(Nesterov 2004, Lemma 1.2.3) gives ``J(theta + d) >= J(theta) + <grad J, d> - (L/2) ||d||^2``. With
``d = eta g_hat``, ``E g_hat = g := grad J``, ``E ||g_hat||^2 = ||g||^2 + tr Cov g_hat`` (checked on a
generic finite law), taking expectations:

.. math::  E\\,J(\\theta + \\eta \\hat g) \\ge J + \\eta \\|g\\|^2
           - \\frac{L\\eta^2}{2}(\\|g\\|^2 + \\mathrm{tr\\,Cov}) =: J + B(\\eta).

4. ``B`` is concave with maximizer ``eta* = ||g||^2 / (L (||g||^2 + tr Cov)) = SNR / ((1 + SNR) L)``,
   ``SNR = ||g||^2 / tr Cov``; ``B(eta*) = eta* ||g||^2 / 2``, and ``L eta* = SNR/(1+SNR) <= 1``.
5. Along the exact direction (``tr Cov`` absent from the bound, as in ``oblr_po``'s exact mode) any
   ``0 <= eta <= 1/L`` has ``eta ||g||^2 - (L eta^2/2) ||g||^2 - eta ||g||^2/2 = eta ||g||^2 (1 - L eta)/2 >= 0``:
   the ascent ``J(pi_{t+1}) >= J(pi_t) + eta_t ||g||^2 / 2`` of theorem ``oblr_po.snr_ascent``.
6. The Hessian of ``theta -> softmax(theta).r`` is ``diag(u) - pi u^T - u pi^T`` with
   ``u = pi * (r - pi.r)`` (the matrix whose norm bounds ``L``).

The last test evaluates polopt's baselines, :func:`~polopt.exact.estimators.baseline_variance`,
:func:`~polopt.rules.estimators.snr_step_size`, :func:`~polopt.exact.estimators.objective_hessian`
and the exact ``E J`` after one sampled ``oblr`` step at a point.

References: Weaver & Tao (2001); Greensmith, Bartlett, Baxter, JMLR 5 (2004) (variance-optimal
baselines); Huang, Sheng, Zheng, "OBLR-PO", arXiv 2511.23310 (gradient-weighted baseline,
SNR-adaptive step; abstract only); Nesterov, "Introductory Lectures on Convex Optimization" (2004), §1.2.3.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from polopt.testing.tolerances import IDENTITY_F64

K = 3
#: polopt's side evaluates closed forms of a few dozen float64 flops (and, for E J after a step,
#: a 10-term multiset sum of softmaxes): agreement to closed-form round-off.
NUMERIC_TOL = IDENTITY_F64

r = sp.symbols("r0:3", real=True)
b = sp.Symbol("b", real=True)
p0, p1 = sp.symbols("pi0 pi1", positive=True)
PI = (p0, p1, 1 - p0 - p1)
RBAR = sum(PI[a] * r[a] for a in range(K))
GRAD = [PI[a] * (r[a] - RBAR) for a in range(K)]
PP = sum(p**2 for p in PI)


def score(a):
    return [int(a == c) - PI[c] for c in range(K)]


def weight(a):
    return sum(x**2 for x in score(a))


def E(f):
    """``E_{a~pi} f(a)``."""
    return sum(PI[a] * f(a) for a in range(K))


def is_zero(expr) -> bool:
    return sp.cancel(sp.expand(expr)) == 0


def trace_cov(bb):
    """``tr Cov[(r(a) - bb) s(a)]`` from the definition ``E ||g_hat - E g_hat||^2``."""
    mean = [E(lambda a, c=c: (r[a] - bb) * score(a)[c]) for c in range(K)]
    return E(lambda a: sum(((r[a] - bb) * score(a)[c] - mean[c]) ** 2 for c in range(K)))


B_STAR = E(lambda a: weight(a) * r[a]) / E(weight)


def test_weights():
    for a in range(K):
        assert is_zero(weight(a) - (1 - 2 * PI[a] + PP))
    assert is_zero(E(weight) - (1 - PP))


def test_mean_is_gradient_for_every_baseline():
    for c in range(K):
        assert is_zero(E(lambda a, c=c: (r[a] - b) * score(a)[c]) - GRAD[c])


def test_trace_covariance_is_weighted_quadratic():
    V = trace_cov(b)
    assert is_zero(V - (E(lambda a: weight(a) * (r[a] - b) ** 2) - sum(g**2 for g in GRAD)))


def test_gradient_weighted_baseline_is_the_minimizer():
    V = sp.Poly(sp.expand(trace_cov(b)), b)
    assert V.degree() == 2
    c2, c1, c0 = V.all_coeffs()
    # V = E[w] b^2 - 2 E[w r] b + const: V'' = 2 E[w] (> 0 for a non-deterministic pi, E w = 1 - ||pi||^2)
    assert is_zero(c2 - E(weight))
    assert is_zero(c1 + 2 * E(lambda a: weight(a) * r[a]))
    # V'(b) = 2 c2 b + c1 = 0 at b* = -c1 / (2 c2) = E[w r] / E[w]
    sol = sp.solve(sp.Eq(2 * c2 * b + c1, 0), b)
    assert len(sol) == 1
    assert is_zero(sol[0] - B_STAR)
    # global: completing the square, V(b) = V(b*) + c2 (b - b*)^2 for every b (generic coefficients)
    A2, A1, A0 = sp.symbols("A2 A1 A0", real=True)
    quad = A2 * b**2 + A1 * b + A0
    b_min = -A1 / (2 * A2)
    assert sp.cancel(quad - quad.subs(b, b_min) - A2 * (b - b_min) ** 2) == 0


def test_second_moment_is_mean_square_plus_trace_covariance():
    """A generic law on 3 vectors of R^2: ``E ||X||^2 = ||E X||^2 + tr Cov X``."""
    q0, q1 = sp.symbols("q0 q1", positive=True)
    q = (q0, q1, 1 - q0 - q1)
    x = [sp.symbols(f"x{i}_0:2", real=True) for i in range(3)]
    mean = [sum(q[i] * x[i][c] for i in range(3)) for c in range(2)]
    second = sum(q[i] * sum(x[i][c] ** 2 for c in range(2)) for i in range(3))
    tc = sum(q[i] * sum((x[i][c] - mean[c]) ** 2 for c in range(2)) for i in range(3))
    assert is_zero(second - sum(m**2 for m in mean) - tc)


g2, tc, L, eta = sp.symbols("g2 tc L eta", positive=True)  # ||g||^2, tr Cov, smoothness, step
LOWER = eta * g2 - L * eta**2 / 2 * (g2 + tc)
SNR = g2 / tc
ETA_STAR = SNR / ((1 + SNR) * L)


def test_snr_step_maximizes_the_lower_bound():
    sol = sp.solve(sp.Eq(sp.diff(LOWER, eta), 0), eta)
    assert len(sol) == 1
    assert is_zero(sol[0] - ETA_STAR)
    assert is_zero(ETA_STAR - g2 / (L * (g2 + tc)))
    assert is_zero(sp.diff(LOWER, eta, 2) + L * (g2 + tc))  # concave
    assert is_zero(LOWER.subs(eta, ETA_STAR) - ETA_STAR * g2 / 2)
    # L eta* <= 1: 1 - L eta* = tc / (g2 + tc), a ratio of positive symbols
    assert is_zero((1 - L * ETA_STAR) - tc / (g2 + tc))


def test_exact_direction_ascent():
    exact = eta * g2 - L * eta**2 / 2 * g2  # the descent-lemma bound with d = eta g
    gap = exact - eta * g2 / 2
    assert is_zero(gap - eta * g2 * (1 - L * eta) / 2)  # >= 0 for 0 <= eta <= 1/L
    # with the SNR step: the gap is a product of positive symbols
    assert is_zero(gap.subs(eta, ETA_STAR) - g2**2 * tc / (2 * L * (g2 + tc) ** 2))


def test_softmax_objective_hessian():
    """``theta -> softmax(theta).r`` through ``z = exp(theta)``: ``d/d theta_c = z_c d/d z_c``."""
    z = sp.symbols("z0:3", positive=True)
    pi = [z[a] / sum(z) for a in range(K)]
    J = sum(pi[a] * r[a] for a in range(K))
    u = [pi[a] * (r[a] - J) for a in range(K)]
    for i in range(K):
        gi = z[i] * sp.diff(J, z[i])
        assert sp.cancel(gi - u[i]) == 0
        for j in range(K):
            hij = z[j] * sp.diff(gi, z[j])
            assert sp.cancel(hij - (int(i == j) * u[i] - pi[i] * u[j] - u[i] * pi[j])) == 0, (i, j)


def test_polopt_matches_symbolic():
    from polopt.exact.estimators import (
        baseline_variance,
        estimator_moments,
        expected_objective_after_step,
        objective_hessian,
        optimal_constant_baseline,
        softmax_smoothness,
    )
    from polopt.rules.estimators import optimal_baseline, snr_step_size

    pi = np.array([0.6, 0.25, 0.15])
    rv = np.array([1.0, 0.0, 0.4])
    point = {p0: sp.Rational(3, 5), p1: sp.Rational(1, 4), r[0]: 1, r[1]: 0, r[2]: sp.Rational(2, 5)}
    b_star = float(B_STAR.subs(point))
    np.testing.assert_allclose(optimal_baseline(pi, rv), b_star, rtol=NUMERIC_TOL)
    np.testing.assert_allclose(optimal_constant_baseline(pi, rv), b_star, rtol=NUMERIC_TOL)
    G = 4
    for bb in (B_STAR.subs(point), sp.Integer(0), sp.Rational(7, 10)):
        sym_v = float(trace_cov(bb).subs(point)) / G
        np.testing.assert_allclose(baseline_variance(pi, rv, float(bb), G), sym_v, rtol=NUMERIC_TOL,
                                   atol=NUMERIC_TOL)

    # SNR step of one oblr group: polopt's step equals eta*, and the expected gain covers eta* ||g||^2 / 2
    m = estimator_moments(pi, rv, "oblr", G, method="multiset")
    L_val = softmax_smoothness(rv)
    gsq = float(m.gradient @ m.gradient)
    eta_val = float(snr_step_size(gsq, m.variance, L_val))
    sym_eta = float(ETA_STAR.subs({g2: gsq, tc: m.variance, L: L_val}))
    np.testing.assert_allclose(eta_val, sym_eta, rtol=NUMERIC_TOL)
    J0 = float(pi @ rv)
    gain = expected_objective_after_step(pi, rv, "oblr", G, eta_val) - J0
    assert gain >= eta_val * gsq / 2 - NUMERIC_TOL
    # the Hessian whose norm L bounds (claim 6), and L bounds it at this point
    H = objective_hessian(pi, rv)
    u = pi * (rv - J0)
    np.testing.assert_allclose(H, np.diag(u) - np.outer(pi, u) - np.outer(u, pi), atol=NUMERIC_TOL)
    assert np.max(np.abs(np.linalg.eigvalsh(H))) <= L_val

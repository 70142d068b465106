"""Proof: k1 and k3 estimate KL(pi || mu) without bias, but in the loss their gradients give 0 and pi - mu.

Setting: ``K = 3`` arms, ``pi = softmax(theta)`` (written ``pi = z / sum z`` with ``z = exp(theta)``,
so ``d/d theta_c = z_c d/d z_c`` and every expression is rational), a reference ``mu > 0`` on the
simplex, a sample ``a ~ pi`` and the log-ratio ``log(mu(a)/pi(a))``. The per-sample estimators
(Schulman's k1 / k3; GRPO, arXiv 2402.03300, Eq. (4)) are

.. math::  k_1(a) = \\log\\frac{\\pi(a)}{\\mu(a)},\\qquad
           k_3(a) = \\frac{\\mu(a)}{\\pi(a)} - 1 - \\log\\frac{\\mu(a)}{\\pi(a)} .

Claims (each a sympy computation below):

1. ``E_{a~pi} k1 = E_{a~pi} k3 = KL(pi || mu)`` (k3 uses ``sum_a mu(a) = sum_a pi(a) = 1``), and
   ``k3 >= 0`` because ``f(x) = x - 1 - log x`` has ``f(1) = f'(1) = 0`` and ``f'' = 1/x^2 > 0``.
2. In the loss, GRPO differentiates ``k(a)`` with the sample ``a`` held fixed. Per sample,
   ``grad_theta k1(a) = s(a)`` and ``grad_theta k3(a) = (1 - mu(a)/pi(a)) s(a)`` with ``s(a) = e_a - pi``.
   In expectation: ``E grad k1 = 0`` (k1 exerts no KL force at all) and ``E grad k3 = pi - mu``,
   which is ``grad_theta KL(mu || pi)``, the *forward* KL — not
   ``grad_theta KL(pi || mu) = pi * (log(pi/mu) - KL(pi || mu))``, the gradient of the quantity the
   estimator is unbiased for (they differ at a rational point, computed exactly). So the penalty
   ``beta k3`` in a minimized loss has expected gradient ``beta (pi - mu)``.
3. By contrast k1 used as a (detached) reward term, ``E_{a~pi}[k1(a) s(a)]``, is exactly
   ``grad_theta KL(pi || mu)``: the shaped reward ``r - beta log(pi/mu)`` of
   :func:`polopt.rules.estimators.shaped_reward` is unbiased for the regularized gradient.

The last test evaluates :func:`polopt.rules.estimators.kl_estimate`,
:func:`~polopt.rules.estimators.kl_loss_coefficient`,
:func:`~polopt.rules.estimators.clipped_surrogate_gradient` and
:func:`polopt.exact.estimators.estimator_moments` at a point and compares with the symbolic values.

References: Shao et al., "DeepSeekMath", arXiv 2402.03300, Eqs. (3)-(4); J. Schulman,
"Approximating KL divergence" (2020, blog note: k1, k2, k3).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from polopt.testing.tolerances import IDENTITY_F64

K = 3
#: The polopt side evaluates logs, ratios and a K-term sum in float64 (a few dozen flops).
NUMERIC_TOL = IDENTITY_F64
#: Digits of the evaluation that separates the two directions at a point (error ~1e-50).
DIGITS = 50
#: The gap there is ~0.1 in its largest coordinate; anything above 1e-3 is far outside the
#: evaluation error, so the two gradients are different functions.
SEPARATION = 1e-3

z = sp.symbols("z0:3", positive=True)
m0, m1 = sp.symbols("mu0 mu1", positive=True)
MU = (m0, m1, 1 - m0 - m1)
PI = tuple(z[a] / sum(z) for a in range(K))
# a point of the simplex with pi > 0 (for the expectations of claim 1, which need no softmax)
p0, p1 = sp.symbols("pi0 pi1", positive=True)
PI_S = (p0, p1, 1 - p0 - p1)


def log_ratio(mu_a, pi_a):
    """``log(mu(a)/pi(a))`` written as a difference of logs (as polopt computes it)."""
    return sp.log(mu_a) - sp.log(pi_a)


def k1(mu_a, pi_a):
    return -log_ratio(mu_a, pi_a)


def k3(mu_a, pi_a):
    return mu_a / pi_a - 1 - log_ratio(mu_a, pi_a)


def kl(p, q):
    """``KL(p || q) = sum_a p_a (log p_a - log q_a)``."""
    return sum(p[a] * (sp.log(p[a]) - sp.log(q[a])) for a in range(K))


def grad_theta(expr):
    """``grad_theta expr`` through ``theta_c = log z_c``."""
    return [z[c] * sp.diff(expr, z[c]) for c in range(K)]


def score(a):
    return [int(a == c) - PI[c] for c in range(K)]


def is_zero(expr) -> bool:
    return sp.cancel(sp.expand(expr)) == 0


def test_k1_and_k3_are_unbiased_for_kl():
    e1 = sum(PI_S[a] * k1(MU[a], PI_S[a]) for a in range(K))
    e3 = sum(PI_S[a] * k3(MU[a], PI_S[a]) for a in range(K))
    target = kl(PI_S, MU)
    assert is_zero(e1 - target)
    assert is_zero(e3 - target)


def test_k3_is_nonnegative():
    x = sp.Symbol("x", positive=True)
    f = x - 1 - sp.log(x)
    assert f.subs(x, 1) == 0
    assert sp.diff(f, x).subs(x, 1) == 0
    assert sp.simplify(sp.diff(f, x, 2) - 1 / x**2) == 0
    # f is convex on x > 0 with a stationary point at 1: its minimum value is f(1) = 0, and
    # k3(a) = f(mu(a)/pi(a))
    y = sp.Symbol("y", positive=True)
    assert sp.simplify(sp.expand_log(k3(x * y, y) - f, force=True)) == 0


def test_per_sample_gradients():
    for a in range(K):
        g1 = grad_theta(k1(MU[a], PI[a]))
        g3 = grad_theta(k3(MU[a], PI[a]))
        for c in range(K):
            assert is_zero(g1[c] - score(a)[c]), (a, c)
            assert is_zero(g3[c] - (1 - MU[a] / PI[a]) * score(a)[c]), (a, c)


def test_expected_loss_gradients_are_zero_and_forward_kl():
    grad_forward = grad_theta(kl(MU, PI))
    for c in range(K):
        e1 = sum(PI[a] * grad_theta(k1(MU[a], PI[a]))[c] for a in range(K))
        e3 = sum(PI[a] * grad_theta(k3(MU[a], PI[a]))[c] for a in range(K))
        assert is_zero(e1), c
        assert is_zero(e3 - (PI[c] - MU[c])), c
        assert is_zero(grad_forward[c] - (PI[c] - MU[c])), c


def test_reverse_kl_gradient_differs_from_k3_force():
    grad_reverse = grad_theta(kl(PI, MU))
    KL = kl(PI, MU)
    for c in range(K):
        assert is_zero(sp.expand_log(grad_reverse[c] - PI[c] * (sp.log(PI[c]) - sp.log(MU[c]) - KL), force=True))
    # exact rational point: z = (1, 2, 3), mu = (1/2, 1/4, 1/4); the two directions are not equal
    point = {z[0]: 1, z[1]: 2, z[2]: 3, m0: sp.Rational(1, 2), m1: sp.Rational(1, 4)}
    gap = [sp.N(grad_reverse[c].subs(point) - (PI[c] - MU[c]).subs(point), DIGITS) for c in range(K)]
    assert max(abs(g) for g in gap) > SEPARATION


def test_k1_as_reward_is_unbiased_for_reverse_kl():
    grad_reverse = grad_theta(kl(PI, MU))
    for c in range(K):
        e = sum(PI[a] * k1(MU[a], PI[a]) * score(a)[c] for a in range(K))
        assert is_zero(sp.expand_log(e - grad_reverse[c], force=True)), c


def test_polopt_matches_symbolic():
    from polopt.exact.estimators import estimator_moments
    from polopt.rules.estimators import clipped_surrogate_gradient, kl_estimate, kl_loss_coefficient

    zv = (1, 2, 5)
    muv = (sp.Rational(1, 2), sp.Rational(3, 10))
    point = {z[0]: zv[0], z[1]: zv[1], z[2]: zv[2], m0: muv[0], m1: muv[1]}
    pi = np.array([float(PI[a].subs(point)) for a in range(K)])
    mu = np.array([float(MU[a].subs(point)) for a in range(K)])
    beta = 0.3
    log_pi, log_mu = np.log(pi), np.log(mu)
    actions = np.arange(K)
    for kind, k in (("k1", k1), ("k3", k3)):
        est = kl_estimate(log_pi, log_mu, actions, kind)
        sym = np.array([float(k(MU[a], PI[a]).subs(point)) for a in range(K)])
        np.testing.assert_allclose(est, sym, rtol=NUMERIC_TOL, atol=NUMERIC_TOL)
        np.testing.assert_allclose(pi @ est, float(kl(PI, MU).subs(point)), rtol=NUMERIC_TOL, atol=NUMERIC_TOL)
        coef = kl_loss_coefficient(log_pi, log_mu, kind)
        for a in range(K):
            # the in-loss gradient of one sample, at pi = pi_old (nothing clipped), advantage 0
            g = clipped_surrogate_gradient(log_pi, log_pi, np.array([a]), np.zeros(1), 0.2, beta=beta,
                                           log_mu=log_mu, kl=kind)
            sym_g = np.array([float(-beta * x.subs(point)) for x in grad_theta(k(MU[a], PI[a]))])
            np.testing.assert_allclose(g, sym_g, rtol=NUMERIC_TOL, atol=NUMERIC_TOL)
            np.testing.assert_allclose(coef[a] * (np.eye(K)[a] - pi), -sym_g / beta, rtol=NUMERIC_TOL,
                                       atol=NUMERIC_TOL)
    # exact expected in-loss gradients (r = 0 isolates the KL term): 0 for k1, -beta (pi - mu) for k3
    zero_r = np.zeros(K)
    m1_ = estimator_moments(pi, zero_r, "reinforce", 1, beta=beta, mu=mu, kl="k1", method="enumerate")
    m3_ = estimator_moments(pi, zero_r, "reinforce", 1, beta=beta, mu=mu, kl="k3", method="enumerate")
    mr_ = estimator_moments(pi, zero_r, "reinforce", 1, beta=beta, mu=mu, kl="reward", method="enumerate")
    np.testing.assert_allclose(m1_.mean, 0.0, atol=NUMERIC_TOL)
    np.testing.assert_allclose(m3_.mean, -beta * (pi - mu), atol=NUMERIC_TOL)
    sym_reverse = np.array([float(-beta * x.subs(point)) for x in grad_theta(kl(PI, MU))])
    np.testing.assert_allclose(mr_.mean, sym_reverse, atol=NUMERIC_TOL)
    np.testing.assert_allclose(mr_.gradient, sym_reverse, atol=NUMERIC_TOL)

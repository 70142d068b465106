"""Proof: the KL-regularized bandit is maximised by the Gibbs policy, with value beta log Z.

Claim (K = 3 arms, symbolic rewards ``r``, reference ``mu > 0``, ``beta > 0``):

.. math::  \\max_{\\pi \\in \\Delta_K} \\sum_a \\pi(a) r(a) - \\beta\\,\\mathrm{KL}(\\pi\\|\\mu)
           = \\beta \\log Z, \\quad Z = \\sum_a \\mu(a) e^{r(a)/\\beta},
           \\quad \\pi^*(a) = \\mu(a) e^{r(a)/\\beta} / Z.

Derivation (each step is a sympy computation below):

1. Lagrangian ``L = J(pi) + lambda (sum pi - 1)``; stationarity ``dL/dpi_a = 0`` gives
   ``pi_a = mu_a exp((r_a + lambda)/beta - 1)``.
2. The constraint ``sum pi = 1`` fixes ``lambda = beta (1 - log Z)``, hence ``pi* = mu e^{r/beta}/Z``.
3. ``J(pi*) = beta log Z``.
4. Global optimality: for *every* ``pi`` on the simplex, ``J(pi) = beta log Z - beta KL(pi || pi*)``
   (an identity in ``pi_0, pi_1`` after eliminating ``pi_2 = 1 - pi_0 - pi_1``), and KL >= 0.
   Also the Hessian of ``J`` is ``diag(-beta / pi_a)`` (strictly concave).

The closed form is what :func:`polopt.exact.gibbs_policy` and
:func:`polopt.exact.regularized_bandit_optimum` implement; the last test ties proof and code.

Reference: the Donsker-Varadhan / Gibbs variational principle; e.g. Rafailov et al., "Direct
Preference Optimization", arXiv 2305.18290, Appendix A.1 (same derivation for the RLHF objective).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

K = 3
#: The numerical comparison with polopt's closed form evaluates two float64 expressions of a
#: few dozen flops each (same purpose as polopt.testing.tolerances.IDENTITY_F64).
NUMERIC_TOL = 1e-12

r = sp.symbols("r0:3", real=True)
mu = sp.symbols("mu0:3", positive=True)
pi = sp.symbols("pi0:3", positive=True)
beta = sp.Symbol("beta", positive=True)
lam = sp.Symbol("lambda", real=True)

Z = sum(mu[a] * sp.exp(r[a] / beta) for a in range(K))
PI_STAR = [mu[a] * sp.exp(r[a] / beta) / Z for a in range(K)]


def objective(p):
    """``J(p) = sum_a p_a r_a - beta sum_a p_a log(p_a / mu_a)``."""
    return sum(p[a] * r[a] for a in range(K)) - beta * sum(p[a] * sp.log(p[a] / mu[a]) for a in range(K))


def stationary_policy():
    """Solve the Lagrangian stationarity conditions and the normalisation; returns (pi*, lambda*)."""
    L = objective(pi) + lam * (sum(pi) - 1)
    pis = []
    for a in range(K):
        sol = sp.solve(sp.Eq(sp.diff(L, pi[a]), 0), pi[a])
        assert len(sol) == 1  # the stationarity equation is strictly monotone in pi_a
        pis.append(sol[0])
    lam_sol = sp.solve(sp.Eq(sum(pis), 1), lam)
    assert len(lam_sol) == 1
    return [sp.simplify(p.subs(lam, lam_sol[0])) for p in pis], lam_sol[0]


def test_stationarity_gives_gibbs_policy():
    pis, lam_star = stationary_policy()
    for a in range(K):
        assert sp.simplify(pis[a] - PI_STAR[a]) == 0
    assert sp.simplify(sp.expand_log(lam_star - beta * (1 - sp.log(Z)), force=True)) == 0


def test_optimal_value_is_beta_log_partition():
    value = objective(PI_STAR)
    assert sp.simplify(sp.expand_log(value - beta * sp.log(Z), force=True)) == 0


def test_every_policy_is_below_by_beta_kl():
    """J(pi) = beta log Z - beta KL(pi || pi*) on the whole simplex, so pi* is the unique maximiser."""
    p0, p1 = sp.symbols("p0 p1", positive=True)
    p = [p0, p1, 1 - p0 - p1]
    kl = sum(p[a] * sp.log(p[a] / PI_STAR[a]) for a in range(K))
    identity = objective(p) - (beta * sp.log(Z) - beta * kl)
    assert sp.simplify(sp.expand_log(sp.expand(identity), force=True)) == 0


def test_objective_is_strictly_concave():
    hessian = sp.hessian(objective(pi), pi)
    assert sp.simplify(hessian - sp.diag(*[-beta / pi[a] for a in range(K)])) == sp.zeros(K, K)


def test_closed_form_matches_polopt():
    """polopt's Gibbs policy and regularized bandit optimum equal the symbolic ones at a point."""
    from polopt import Bandit
    from polopt.exact import gibbs_policy, regularized_bandit_optimum

    point = {r[0]: 0.3, r[1]: -1.2, r[2]: 2.5, mu[0]: 0.5, mu[1]: 0.2, mu[2]: 0.3, beta: 0.7}
    sym_pi = np.array([float(PI_STAR[a].subs(point)) for a in range(K)])
    sym_value = float((beta * sp.log(Z)).subs(point))
    rewards = np.array([0.3, -1.2, 2.5])
    reference = np.array([0.5, 0.2, 0.3])
    np.testing.assert_allclose(gibbs_policy(rewards, 0.7, reference), sym_pi, rtol=NUMERIC_TOL, atol=NUMERIC_TOL)
    opt = regularized_bandit_optimum(Bandit(rewards, reference=reference, beta=0.7))
    np.testing.assert_allclose(opt.policy, sym_pi, rtol=NUMERIC_TOL, atol=NUMERIC_TOL)
    np.testing.assert_allclose(opt.value, sym_value, rtol=NUMERIC_TOL, atol=NUMERIC_TOL)

"""Proof: the three-point identities behind ``pmd.linear`` and ``npg.pi_limit``.

Policy mirror descent (reward-maximisation form) takes, per state,
``p+ = argmax_p eta <g, p> - D(p, pi)`` with ``g = Q^{pi}(s, .)``.

1. (KL, exact identity) ``p+ = pi e^{eta g} / Z`` and for every ``p`` on the simplex
   ``eta <g, p - p+> = KL(p||pi) - KL(p||p+) - KL(p+||pi)``.
2. (Euclidean) ``p+ = Proj(pi + eta g)`` satisfies ``<pi + eta g - p+, p - p+> <= 0`` (projection
   onto a convex set) and the polarization identity
   ``<pi - p+, p - p+> = (||p - p+||^2 + ||p+ - pi||^2 - ||p - pi||^2) / 2``, hence
   ``eta <g, p - p+> <= D(p, pi) - D(p, p+) - D(p+, pi)`` with ``D = ||.||^2/2``.
3. (the recursion of ``pmd.linear``; inequalities, no new identity) With ``p = pi_k`` the
   right-hand side is ``<= 0``, so ``<Q_k, pi_{k+1}> >= V_k`` and by the performance-difference
   lemma (``proofs/brrl_improvement_proof.py``) ``V_{k+1} >= T^{pi_{k+1}} V_k >= V_k``. With ``p``
   the greedy policy of ``Q_k``: ``(T V_k - T^{pi_{k+1}} V_k)(s) <= D(greedy_k(s), pi_k(s)) / eta_k``.
   Then ``V* - V_{k+1} <= T V* - T V_k + D_k/eta_k``, i.e.
   ``||V* - V_{k+1}||_inf <= gamma ||V* - V_k||_inf + ||D_k||_inf / eta_k``.
4. (geometric steps, ``pmd.geometric``) With ``p = pi*`` averaged over ``d* = d^{pi*}_rho``,
   ``Delta_k = V*(rho) - V_k(rho) = E_{d*}<Q_k, pi* - pi_k>/(1-gamma)``, ``D*_k = E_{d*} KL(pi*||pi_k)``,
   ``theta = ||d*/rho||_inf/(1-gamma)`` and ``E_{d*}<A_k, pi_{k+1}> <= (1-gamma) theta (Delta_k - Delta_{k+1})``
   (performance difference, non-negative terms): ``(1-gamma) Delta_k <= (D*_k - D*_{k+1})/eta_k +
   (1-gamma) theta (Delta_k - Delta_{k+1})``. The algebra (checked below) turns this into
   ``Phi_{k+1} <= (1 - 1/theta) Phi_k`` for ``Phi_k = Delta_k + D*_k/((1-gamma) eta_k (theta-1))`` whenever
   ``eta_{k+1} (theta-1) >= eta_k theta``; hence the ``1/(1-gamma)`` in front of ``D*_0``.
5. (``eta -> inf``) ``pi e^{eta g}/Z -> pi`` restricted to ``argmax g`` (renormalised): the
   policy-iteration step; proved with sympy limits for K = 3 (unique and tied maxima).

References: Xiao, arXiv 2201.07443, Lemma "three-point descent"; Johnson, Pike-Burke & Rebeschini,
arXiv 2302.11381 (the gamma-rate with adaptive steps); Chen & Teboulle (1993) for the three-point
identity of Bregman proximal steps.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

K = 3
#: lhs and rhs of the identity are sums of ~15 float64 terms with logs of probabilities >= 1e-3
#: and steps <= 3: their round-off is ~1e-14; 1e-10 leaves room without hiding a wrong formula.
THREE_POINT_TOL = 1e-10
eta = sp.Symbol("eta", positive=True)
g = sp.symbols("g0:3", real=True)
_x = sp.symbols("x0:2", positive=True)
_y = sp.symbols("y0:2", positive=True)
PI = [*_x, 1 - sum(_x)]
P = [*_y, 1 - sum(_y)]


def kl(p, q):
    return sum(p[a] * (sp.log(p[a]) - sp.log(q[a])) for a in range(K))


def test_kl_three_point_identity():
    Z = sum(PI[a] * sp.exp(eta * g[a]) for a in range(K))
    plus = [PI[a] * sp.exp(eta * g[a]) / Z for a in range(K)]
    lhs = eta * sum(g[a] * (P[a] - plus[a]) for a in range(K))
    rhs = kl(P, PI) - kl(P, plus) - kl(plus, PI)
    diff = sp.expand(sp.expand_log(lhs - rhs, force=True))
    # every log Z term cancels because both p and p+ sum to one
    assert sp.simplify(diff) == 0


def test_euclidean_polarization_identity():
    u = sp.symbols("u0:3", real=True)  # p+ (any point)
    lhs = sum((PI[a] - u[a]) * (P[a] - u[a]) for a in range(K))
    rhs = sp.Rational(1, 2) * sum((P[a] - u[a]) ** 2 + (u[a] - PI[a]) ** 2 - (P[a] - PI[a]) ** 2 for a in range(K))
    assert sp.expand(lhs - rhs) == 0


def test_geometric_potential_contraction():
    """slack := rhs - lhs >= 0 of the step inequality; then (1 - 1/theta) Phi_k - Phi_{k+1}^+ = slack / theta
    + D*_{k+1} (1/(eta_k theta) - 1/(eta_{k+1} (theta-1))) / (1-gamma) with the last bracket >= 0."""
    th, gm, e0, e1 = sp.symbols("theta gamma eta_k eta_k1", positive=True)
    dk, dk1, Dk, Dk1 = sp.symbols("Delta_k Delta_k1 D_k D_k1", nonnegative=True)
    slack = (Dk - Dk1) / e0 + (1 - gm) * th * (dk - dk1) - (1 - gm) * dk
    phi_k = dk + Dk / ((1 - gm) * e0 * (th - 1))
    phi_k1 = dk1 + Dk1 / ((1 - gm) * e1 * (th - 1))
    gap = (1 - 1 / th) * phi_k - phi_k1
    extra = Dk1 * (1 / (e0 * th) - 1 / (e1 * (th - 1))) / (1 - gm)
    assert sp.simplify(gap - slack / ((1 - gm) * th) - extra) == 0


def test_greedy_limit():
    d1, d2 = sp.symbols("d1 d2", positive=True)
    gs = [sp.S(0), -d1, -d2]  # action 0 strictly best
    Z = sum(PI[a] * sp.exp(eta * gs[a]) for a in range(K))
    assert sp.limit(PI[0] * sp.exp(eta * gs[0]) / Z, eta, sp.oo) == 1
    tied = [sp.S(0), sp.S(0), -d2]  # actions 0 and 1 tied: pi restricted to them, renormalised
    Z = sum(PI[a] * sp.exp(eta * tied[a]) for a in range(K))
    assert sp.simplify(sp.limit(PI[0] * sp.exp(eta * tied[0]) / Z, eta, sp.oo) - PI[0] / (PI[0] + PI[1])) == 0


def test_three_point_identity_matches_polopt_kl_prox():
    from polopt.rules._core import kl_prox

    rng = np.random.default_rng(0)
    for _ in range(20):
        pi, p = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        grad, step = rng.normal(size=5), float(rng.uniform(0.1, 3.0))
        plus = np.exp(kl_prox(np.log(pi), grad, step))

        def kl_np(a, b):
            return float(np.sum(a * np.log(a / b)))

        lhs = step * grad @ (p - plus)
        rhs = kl_np(p, pi) - kl_np(p, plus) - kl_np(plus, pi)
        np.testing.assert_allclose(lhs, rhs, rtol=0, atol=THREE_POINT_TOL)

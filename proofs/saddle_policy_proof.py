"""Proof: the saddle-point gap bounds the suboptimality of the policy read from the occupancy (``mp_mdp.policy``).

Setting as in ``proofs/saddle_rate_proof.py``; ``mu_bar(s, a) = nu(s) pi(a|s)`` (``nu`` the state
marginal, ``pi`` the policy read from ``mu_bar``), ``e = (1 - gamma) rho + Mat^T mu_bar`` its flow residual,
``J(pi) = (1 - gamma) rho^T V^pi``.

Discounted (S = 2, A = 2, generic symbols):

1. Flow identity: ``f(v, d^pi) = J(pi)`` for every ``v``, with
   ``d^pi(s, a) = (1 - gamma) [rho^T (I - gamma P_pi)^{-1}]_s pi(a|s)``; hence ``max_mu f(v_bar, mu) >= J*``.
2. ``mu_bar^T r = J(pi) - e^T V^pi`` (from ``nu^T r_pi = nu^T (I - gamma P_pi) V^pi``).
3. ``min_{v in [lo, hi]^S} f(v, mu_bar) = mu_bar^T r + sum_s min(lo e_s, hi e_s)``, so
   ``Gap >= J* - J(pi) + sum_s [e_s V_s - min(lo e_s, hi e_s)]`` and each term is
   ``>= -[e_s^+ (lo - V_s)^+ + e_s^- (V_s - hi)^+]`` (casework below): ``J* - J(pi) <= Gap + box_slack``,
   ``box_slack = 0`` when ``lo <= V^pi <= hi``.

Average reward (``gamma = 1``, no ``rho`` term), ``pi`` unichain with gain ``g`` and any bias ``h``
(``g 1 + h = r_pi + P_pi h``):

4. ``f(h, mu_pi) = g^pi`` for the stationary occupancy of any policy, so ``max_mu f >= max_s g*(s)``;
5. ``mu_bar^T r = g - e^T h``; ``sum_s e_s = 0``, so ``|e^T h| <= ||e||_1 sp(h) / 2`` and
   ``min_box e^T h = -(hi - lo) ||e||_1 / 2``; hence ``g* - nu^T g <= Gap + (sp(h) - (hi - lo))^+ ||e||_1 / 2``
   (for a multichain ``pi`` the same algebra holds with ``nu^T g^pi`` in place of ``g``).

The last test checks polopt's ``lp_suboptimality`` / ``box_slack`` against a solve run.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

S, A = 2, 2
PAIRS = list(itertools.product(range(S), range(A)))
#: float64 recomputation of the same exact evaluation (linear solves of size 2-8).
NUMERIC_TOL = 1e-10

gamma = sp.Symbol("gamma", positive=True)
rho0, nu0 = sp.symbols("rho0 nu0", positive=True)
rho, nu = sp.Matrix([rho0, 1 - rho0]), sp.Matrix([nu0, 1 - nu0])
x = sp.symbols("x0:2", positive=True)  # pi(0|s) = x_s
pi = {(s, 0): x[s] for s in range(S)} | {(s, 1): 1 - x[s] for s in range(S)}
p = {k: sp.Symbol(f"p{k[0]}{k[1]}", nonnegative=True) for k in PAIRS}
r = {k: sp.Symbol(f"r{k[0]}{k[1]}", real=True) for k in PAIRS}


def P_row(s, a):
    return sp.Matrix([[p[s, a], 1 - p[s, a]]])


def P_pi():
    return sp.Matrix.vstack(*[sum((pi[s, a] * P_row(s, a) for a in range(A)), sp.zeros(1, S)) for s in range(S)])


def r_pi():
    return sp.Matrix([sum(pi[s, a] * r[s, a] for a in range(A)) for s in range(S)])


def f(v, mu, g=gamma):
    """``(1 - g) rho^T v + sum_sa mu(s,a) [r(s,a) + g P(s,a) v - v(s)]`` with ``mu`` a dict over (s, a)."""
    out = (1 - g) * (rho.T * v)[0, 0]
    for s, a in PAIRS:
        out += mu[s, a] * (r[s, a] + g * (P_row(s, a) * v)[0, 0] - v[s])
    return out


def flow_residual(mu, g=gamma):
    e = (1 - g) * rho
    for s, a in PAIRS:
        e += mu[s, a] * (g * P_row(s, a).T - sp.Matrix([1 if j == s else 0 for j in range(S)]))
    return e


def value():
    return (sp.eye(S) - gamma * P_pi()).inv() * r_pi()


def test_flow_identity_discounted():
    v = sp.Matrix(sp.symbols("v0:2", real=True))
    d_s = (1 - gamma) * ((sp.eye(S) - gamma * P_pi()).T.inv() * rho)
    d = {(s, a): d_s[s] * pi[s, a] for s, a in PAIRS}
    J = (1 - gamma) * (rho.T * value())[0, 0]
    assert sp.simplify(f(v, d) - J) == 0


def test_occupancy_reward_identity_discounted():
    mu = {(s, a): nu[s] * pi[s, a] for s, a in PAIRS}
    e = flow_residual(mu)
    V = value()
    lhs = sum(mu[k] * r[k] for k in PAIRS)
    rhs = (1 - gamma) * (rho.T * V)[0, 0] - (e.T * V)[0, 0]
    assert sp.simplify(lhs - rhs) == 0


def test_box_term_casework():
    """``e V - min(lo e, hi e) >= -[e^+ (lo - V)^+ + e^- (V - hi)^+]`` in each sign / position case (equality
    outside the box, a non-negative surplus inside)."""
    lo, w, d, E = sp.symbols("lo w d E", positive=True)  # hi = lo + w, distances d > 0, |e| = E > 0
    hi = lo + w
    for e_sign in (1, -1):
        e = e_sign * E
        for V, excess in ((lo - d, d if e_sign > 0 else 0), (lo + w * sp.Rational(1, 3), 0),
                          (hi + d, d if e_sign < 0 else 0)):
            term = e * V - (lo * e if e_sign > 0 else hi * e)
            surplus = sp.simplify(term + E * excess)
            assert surplus == 0 or surplus.is_positive, (e_sign, V, surplus)


def test_average_reward_stationary_occupancy_and_residual():
    h = sp.Matrix(sp.symbols("h0:2", real=True))
    g = sp.Symbol("g", real=True)
    Pp = P_pi()
    # stationary law of the 2-state chain: (P[1,0], P[0,1]) / (P[0,1] + P[1,0])
    stat = sp.Matrix([Pp[1, 0], Pp[0, 1]]) / (Pp[0, 1] + Pp[1, 0])
    mu_star = {(s, a): stat[s] * pi[s, a] for s, a in PAIRS}
    gain = sum(mu_star[k] * r[k] for k in PAIRS)
    assert sp.simplify(f(h, mu_star, g=1) - gain) == 0  # 4: f(h, mu_pi) = g^pi whatever h
    # 5: with r_pi = g 1 + (I - P_pi) h (the evaluation equations of a unichain policy)
    mu = {(s, a): nu[s] * pi[s, a] for s, a in PAIRS}
    e = flow_residual(mu, g=1)
    lhs = (nu.T * (g * sp.ones(S, 1) + (sp.eye(S) - Pp) * h))[0, 0]
    assert sp.simplify(lhs - (g - (e.T * h)[0, 0])) == 0
    assert sp.simplify(sum(e)) == 0
    # S = 2, sum e = 0: e = (z, -z), e^T h = z (h0 - h1), |e^T h| = ||e||_1 sp(h) / 2 and min_box = -(hi - lo)||e||_1/2
    z = sp.simplify(e[0])
    assert sp.simplify(e[1] + z) == 0
    assert sp.simplify((e.T * h)[0, 0] - z * (h[0] - h[1])) == 0


def test_polopt_lp_suboptimality_obeys_the_bound():
    import warnings

    import polopt as po
    from polopt.exact import evaluate
    from polopt.problems.random import random_mdp

    for gamma_val in (0.8, 1.0):
        mdp = random_mdp(4, 2, gamma=gamma_val, seed=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", po.NotConvergedWarning)
            res = po.solve(mdp, method="mirror_prox", iters=200, box=(-0.3, 0.3))  # a box too small on purpose
        lp_sub = np.asarray(res.certificates["lp_suboptimality"])
        bound = np.asarray(res.certificates["duality_gap"]) + np.asarray(res.info["box_slack"])
        assert np.all(lp_sub <= bound + NUMERIC_TOL)
        if gamma_val < 1:  # identity 2 on polopt's arrays
            mu = np.asarray(res.info["occupancy_avg"])[-1]
            V = evaluate(mdp, res.policy).V
            e = (1 - mdp.gamma) * mdp.rho + mdp.gamma * np.einsum("sa,sat->t", mu, mdp.dense_P()) - mu.sum(-1)
            assert abs(np.sum(mu * mdp.r) - ((1 - mdp.gamma) * mdp.rho @ V - e @ V)) <= NUMERIC_TOL

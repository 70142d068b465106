"""Proof: the bounded-ratio (BRRL) step improves monotonically, by exactly eps/(1-gamma) E|Q - median Q|.

Setting. A finite discounted MDP ``(S, A, P, r, gamma)`` with ``0 <= gamma < 1`` and any start
distribution ``rho``; a stochastic policy ``pi0`` with ``Q = Q^{pi0}``, ``V = V^{pi0}``,
``adv = Q - V``; a band ``0 < eps <= 1``. Per state ``s`` the BRRL problem is the linear program

.. math::  \\max_{\\varrho \\ge 0}\\; \\sum_a \\pi_0(a|s)\\,\\varrho_a\\,adv(s,a)
            \\quad\\text{s.t.}\\quad 1-\\epsilon \\le \\varrho_a \\le 1+\\epsilon,\\;
            \\sum_a \\pi_0(a|s)\\varrho_a = 1,

over the ratios ``varrho_a = pi(a|s) / pi0(a|s)`` of the actions with ``pi0(a|s) > 0`` (actions
outside the support of ``pi0`` keep probability 0). Let ``m(s)`` be any ``pi0(.|s)``-weighted
median of ``Q(s, .)`` and ``MAD(s) = sum_a pi0(a|s) |Q(s,a) - m(s)|``.

Claims (each a ``test_*`` below; K = 4 actions with symbolic, strictly ordered Q and symbolic
``pi0``, every position of the median treated separately):

1. (feasibility) ``varrho = 1 + eps`` above the median, ``1 - eps`` below, and on the median
   atom ``a_m`` the ratio ``1 - eps (P_> - P_<) / pi0(a_m)`` fixed by normalisation; this ratio
   lies in the band **iff** ``a_m`` is a weighted median (``P_> <= 1/2 <= P_> + pi0(a_m)``).
2. (value) that policy attains ``sum_a pi*(a|s) adv(s,a) = eps MAD(s)``.
3. (optimality) every feasible ``varrho`` satisfies
   ``eps MAD(s) - sum_a pi0 varrho adv = sum_a pi0(a) c_a`` with
   ``c_a = (1 + eps - varrho_a)(Q_a - m) >= 0`` above and ``(varrho_a - 1 + eps)(m - Q_a) >= 0``
   below the median: so ``eps MAD(s)`` is the LP optimum and *every* maximizer attains it
   (the maximizer is unique exactly when no action sits at the median with mass to spare).
4. (performance difference, matrix form; S = A = 2, all entries symbolic)
   ``(I - gamma P_pi)(V^pi - V^{pi0}) = sum_a pi(a|.) adv(., a)``, hence with the normalised
   visitation ``d^pi_rho = (1-gamma) rho^T (I - gamma P_pi)^{-1}``:
   ``rho . (V^pi - V^{pi0}) = 1/(1-gamma) sum_s d^pi_rho(s) sum_a pi(a|s) adv(s,a)``.

Theorem (brrl.improvement). For every per-state maximizer ``pi*`` (in particular the
median / fractional closed form),

.. math::  J_\\rho(\\pi^*) - J_\\rho(\\pi_0)
           = \\frac{\\epsilon}{1-\\gamma} \\sum_s d^{\\pi^*}_\\rho(s)\\, \\mathrm{MAD}(s) \\;\\ge\\; 0,

and pointwise ``V^{pi*} >= V^{pi0}`` (``(I - gamma P_pi)^{-1}`` is entrywise non-negative, and
by 2-3 the right-hand side of 4 is ``eps MAD >= 0`` at every state). Since
``d^{pi*}_rho >= (1-gamma) rho`` the gain is at least ``eps rho . MAD`` and at most
``eps/(1-gamma) max_s MAD(s)``; it is strictly positive iff some state visited by ``pi*``
has ``MAD(s) > 0``. Steps 1-3 do not use the mean ``V``: the median, not the mean, is the
baseline that makes the step optimal (it minimises ``c -> E|Q - c|``, the LP dual).

The final test ties the proof to the code: on random MDPs the polopt bounded-ratio rule's
policy has exactly this gain, computed with :func:`polopt.exact.evaluate`.

Reference: Ao et al., "Bounded Ratio Reinforcement Learning", arXiv 2604.18578, Thms 4.1-4.2
(the paper states ``V_{pi*} >= V_{pi0} + eps B`` with ``B >= 0``; the exact form of ``B`` here
is our derivation). Performance-difference lemma: Kakade & Langford, ICML 2002, Lemma 6.1.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

# Values of random MDPs with gamma = 0.9 from two float64 linear solves agree to ~1e-13
# (condition number <= 19): EXACT_F64 is the project-wide bar for two exact solvers.
from polopt.testing.tolerances import EXACT_F64

K = 4

eps = sp.Symbol("epsilon", positive=True)
base = sp.Symbol("q", real=True)
gaps = sp.symbols("g0:3", positive=True)
# strictly decreasing action values: Q_0 > Q_1 > Q_2 > Q_3
Q = [base + sum(gaps[a:], sp.S(0)) for a in range(K)]
_p = sp.symbols("p0:3", positive=True)
PI0 = [*_p, 1 - sum(_p)]  # a generic interior point of the simplex
V = sum(PI0[a] * Q[a] for a in range(K))
ADV = [Q[a] - V for a in range(K)]


def masses(m: int):
    """``(P_>, P_<)``: pi0-mass strictly above / below the action ``m`` (actions sorted by Q)."""
    return sum(PI0[:m], sp.S(0)), sum(PI0[m + 1:], sp.S(0))


def brrl_ratio(m: int) -> list:
    """The closed-form ratio with the median on action ``m`` (fractional on the atom)."""
    above, below = masses(m)
    atom = 1 - eps * (above - below) / PI0[m]
    return [1 + eps if a < m else (1 - eps if a > m else atom) for a in range(K)]


def mad(m: int):
    """``sum_a pi0(a) |Q_a - Q_m|`` (mean absolute deviation about the value of action m)."""
    return sum(PI0[a] * sp.Abs(Q[a] - Q[m]) for a in range(K))


def test_closed_form_is_normalised():
    for m in range(K):
        rho = brrl_ratio(m)
        assert sp.simplify(sum(PI0[a] * rho[a] for a in range(K)) - 1) == 0


def test_atom_ratio_in_band_iff_median():
    """rho_m - (1 - eps) = eps (1 - 2 P_>) / pi0_m and (1 + eps) - rho_m = eps (2 P_>= - 1) / pi0_m."""
    for m in range(K):
        above, _ = masses(m)
        rho_m = brrl_ratio(m)[m]
        assert sp.simplify(rho_m - (1 - eps) - eps * (1 - 2 * above) / PI0[m]) == 0
        assert sp.simplify((1 + eps) - rho_m - eps * (2 * (above + PI0[m]) - 1) / PI0[m]) == 0


def test_closed_form_value_is_eps_mad():
    for m in range(K):
        rho = brrl_ratio(m)
        value = sum(PI0[a] * rho[a] * ADV[a] for a in range(K))
        assert sp.simplify(value - eps * mad(m)) == 0


def test_every_feasible_ratio_is_below_eps_mad():
    """Optimality certificate: eps MAD - <pi0 varrho, adv> is a pi0-weighted sum of products of
    band slacks and |Q - m|, for every varrho with sum pi0 varrho = 1 (varrho_m eliminated)."""
    free = sp.symbols("v0:4", real=True)
    for m in range(K):
        rho = list(free)
        rho[m] = (1 - sum(PI0[a] * free[a] for a in range(K) if a != m)) / PI0[m]
        value = sum(PI0[a] * rho[a] * ADV[a] for a in range(K))
        cert = sum(
            PI0[a] * ((1 + eps - rho[a]) * (Q[a] - Q[m]) if a < m else (rho[a] - 1 + eps) * (Q[m] - Q[a]))
            for a in range(K)
            if a != m
        )
        assert sp.simplify(eps * mad(m) - value - cert) == 0
        # each factor of each product is >= 0 inside the band and above / below the median
        for a in range(K):
            if a != m:
                assert ((Q[a] - Q[m]) if a < m else (Q[m] - Q[a])).is_positive


def test_median_minimises_absolute_deviation():
    """LP dual: c -> E_pi0 |Q - c| is convex piecewise linear; its slope on (Q_{m+1}, Q_m) is
    P_< ... - P_>=, so the minimisers are exactly the weighted medians (slope changes sign)."""
    c = sp.Symbol("c", real=True)
    for m in range(K - 1):
        # c strictly between Q_{m+1} and Q_m: actions 0..m are above c, m+1.. below
        inside = {c: (Q[m] + Q[m + 1]) / 2}
        f = sum(PI0[a] * ((Q[a] - c) if a <= m else (c - Q[a])) for a in range(K))
        slope = sp.diff(f, c)
        above_incl, _ = masses(m + 1)  # P(Q >= Q_m) = pi0_0 + ... + pi0_m
        assert sp.simplify(slope - (1 - 2 * above_incl)) == 0
        assert sp.simplify(f.subs(inside) - sum(PI0[a] * sp.Abs(Q[a] - inside[c]) for a in range(K))) == 0


def test_performance_difference_lemma():
    """(I - gamma P_pi)(V^pi - V0) = sum_a pi (r + gamma P V0 - V0) for S = A = 2 generic symbols.

    Only ``(I - gamma P_pi) V^pi = r_pi`` is used, so the identity holds for *every* vector ``V0``;
    with ``V0 = V^{pi0}`` the right-hand side is ``sum_a pi(a|s) adv^{pi0}(s, a)``. Multiplying by
    ``rho^T (I - gamma P_pi)^{-1} = d^pi_rho / (1-gamma)`` gives the occupancy form.
    """
    g = sp.Symbol("gamma", positive=True)
    p = sp.symbols("P0:4", positive=True)  # P(s'=0 | s, a) for the 4 pairs (s, a)
    P = [[[p[2 * s + a], 1 - p[2 * s + a]] for a in range(2)] for s in range(2)]
    r = sp.Matrix(2, 2, sp.symbols("r0:4", real=True))
    x = sp.symbols("x0:2", positive=True)
    pi = [[x[s], 1 - x[s]] for s in range(2)]
    v0 = sp.Matrix(sp.symbols("w0:2", real=True))
    Ppi = sp.Matrix(2, 2, lambda s, t: sum(pi[s][a] * P[s][a][t] for a in range(2)))
    rpi = sp.Matrix(2, 1, lambda s, _: sum(pi[s][a] * r[s, a] for a in range(2)))
    M = sp.eye(2) - g * Ppi
    v = sp.Matrix(sp.symbols("v0:2", real=True))  # V^pi: the unique solution of M v = r_pi
    q0 = sp.Matrix(2, 2, lambda s, a: r[s, a] + g * sum(P[s][a][t] * v0[t] for t in range(2)))
    adv_pi = sp.Matrix(2, 1, lambda s, _: sum(pi[s][a] * (q0[s, a] - v0[s]) for a in range(2)))
    # M (v - v0) - sum_a pi adv0 = M v - r_pi identically in v, and M v - r_pi = 0 defines V^pi
    residual = M * (v - v0) - adv_pi - (M * v - rpi)
    assert all(sp.expand(e) == 0 for e in residual)


# ------------------------------------------------------------------ numerical tie to the code
def _numeric_brrl(q: np.ndarray, pi0: np.ndarray, e: float) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: the knapsack step per state by sorting; returns (pi*, MAD)."""
    S, A = q.shape
    pi = np.empty_like(pi0)
    mads = np.empty(S)
    for s in range(S):
        order = np.argsort(-q[s], kind="stable")
        cum = np.cumsum(pi0[s, order])
        m = order[int(np.searchsorted(cum, 0.5))]  # first action whose cumulative mass reaches 1/2
        above = q[s] > q[s, m]
        below = q[s] < q[s, m]
        at = ~above & ~below
        mass_above, mass_below, mass_at = pi0[s, above].sum(), pi0[s, below].sum(), pi0[s, at].sum()
        ratio_at = 1.0 - e * (mass_above - mass_below) / mass_at
        pi[s] = pi0[s] * np.where(above, 1 + e, np.where(below, 1 - e, ratio_at))
        mads[s] = pi0[s] @ np.abs(q[s] - q[s, m])
    return pi, mads


def test_improvement_identity_on_random_mdps():
    """J(pi*) - J(pi0) = eps/(1-gamma) d^{pi*}_rho . MAD on random MDPs, for the polopt rule and
    for the independent sorting reference, including Q ties (atoms at the median)."""
    from polopt.exact import evaluate
    from polopt.problems.random import random_mdp
    from polopt.rules import bounded_ratio as br

    rng = np.random.default_rng(0)
    for seed, e, ties in itertools.product(range(3), (0.1, 0.5), (False, True)):
        mdp = random_mdp(6, 4, gamma=0.9, seed=seed)
        if ties:  # duplicate reward columns and kernel rows so that Q has exact ties
            P = mdp.dense_P().copy()
            r = mdp.r.copy()
            P[:, 1] = P[:, 0]
            r[:, 1] = r[:, 0]
            mdp = type(mdp)(P, r, gamma=mdp.gamma, rho=mdp.rho)
        pi0 = rng.dirichlet(np.ones(4), size=6)
        ev0 = evaluate(mdp, pi0)
        ref_pi, mads = _numeric_brrl(ev0.Q, pi0, e)
        rule_pi = np.exp(br.bounded_ratio_target(np.log(pi0), ev0.Q, lo=1 - e, hi=1 + e))
        for pi in (ref_pi, rule_pi):
            ev = evaluate(mdp, pi)
            d = ev.occupancy.sum(axis=1)
            gain = mdp.rho @ (ev.V - ev0.V)
            np.testing.assert_allclose(gain, e / (1 - mdp.gamma) * d @ mads, rtol=EXACT_F64, atol=EXACT_F64)
            assert np.all(ev.V >= ev0.V - EXACT_F64)

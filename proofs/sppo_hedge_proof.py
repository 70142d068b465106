"""Proof: the SPPO / multiplicative-weights average iterate has unregularized duality gap
``DG_0(pi_bar_m) <= 2 (log(1 / min_y pi_0(y)) / (eta m) + eta / 8)``, i.e. ``<= sqrt(2 ln n / m)``
from the uniform start at ``eta = sqrt(8 ln n / m)``.

Setting: ``P`` [n, n] with ``P + P^T = 1``; exact SPPO / Hedge self-play
``pi_{t+1} ∝ pi_t exp(eta r_t)``, ``r_t = P pi_t`` in ``[0, 1]^n``; ``pi_bar_m = (1/m) sum_{t<m} pi_t``.

Derivation (sympy below, generic symbols):

1. Self-play payoff: ``pi^T P pi = 1/2`` for every ``pi`` on the simplex (``P + P^T = 1``).
2. Hence the regret ``R_m = max_y sum_{t<m} r_t(y) - sum_{t<m} pi_t^T P pi_t = m max_y (P pi_bar)(y) - m/2``
   and ``DG_0(pi_bar_m) = 2 max_y (P pi_bar)(y) - 1 = 2 R_m / m``.
3. Telescoping: ``log pi_m(y) = log pi_0(y) + eta sum_t r_t(y) - sum_t log Z_t`` with
   ``Z_t = sum_y pi_t(y) e^{eta r_t(y)}``; since ``log pi_m(y) <= 0``,
   ``eta sum_t r_t(y) <= log(1/pi_0(y)) + sum_t log Z_t``.
4. Hoeffding's lemma (rewards in an interval of width 1): ``log Z_t <= eta <pi_t, r_t> + eta^2 / 8``
   (Cesa-Bianchi & Lugosi, "Prediction, Learning, and Games" (2006), Lemma A.1 / Thm 2.2);
   checked numerically below, not symbolically. So ``R_m <= log(1/min pi_0)/eta + eta m / 8``.
5. Minimising ``2 (L / (eta m) + eta / 8)`` over ``eta`` gives ``eta* = sqrt(8 L / m)`` and the value
   ``sqrt(2 L / m)``; ``L = ln n`` for the uniform start.

The last test checks the telescoping identity and the bound on :mod:`polopt.rules.nlhf`'s SPPO.
Reference: Wu et al., "Self-Play Preference Optimization", arXiv 2405.00675 (Thm 4.1 gives the
O(1/sqrt T) rate; these constants are ours).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

K = 3
#: float64 sums of <= 200 terms of size <= 1 (telescoping identity, Hoeffding check).
NUMERIC_TOL = 1e-10

_low = {(1, 0): sp.Symbol("a"), (2, 0): sp.Symbol("b"), (2, 1): sp.Symbol("c")}
P = sp.Matrix(K, K, lambda i, j: sp.Rational(1, 2) if i == j else (_low[(i, j)] if i > j else 1 - _low[(j, i)]))


def simplex_point(name):
    x0, x1 = sp.symbols(f"{name}0 {name}1", positive=True)
    return sp.Matrix([x0, x1, 1 - x0 - x1])


def test_self_play_payoff_is_one_half():
    pi = simplex_point("x")
    assert sp.simplify(sp.expand((pi.T * P * pi)[0, 0]) - sp.Rational(1, 2)) == 0


def test_average_gap_is_twice_average_regret():
    """DG_0(pi_bar) = 2 R_m / m for m = 2 generic policies, whichever action attains the max."""
    pis = [simplex_point("x"), simplex_point("z")]
    m = len(pis)
    pi_bar = (pis[0] + pis[1]) / m
    payoff = sp.expand(P * pi_bar)
    sums = sp.expand(sum((P * q for q in pis), sp.zeros(K, 1)))
    self_play = sum((q.T * P * q)[0, 0] for q in pis)
    for top in range(K):
        dg = 2 * payoff[top] - 1
        regret = sums[top] - self_play
        assert sp.simplify(sp.expand(dg - 2 * regret / m)) == 0


def test_telescoping_identity():
    """Two Hedge steps: log pi_2(y) = log pi_0(y) + eta (r_0 + r_1)(y) - log Z_0 - log Z_1."""
    eta = sp.Symbol("eta", positive=True)
    w = sp.symbols("w0:3", positive=True)
    r0 = sp.symbols("r0_0:3", real=True)
    r1 = sp.symbols("r1_0:3", real=True)
    pi0 = [w[y] / sum(w) for y in range(K)]
    Z0 = sum(pi0[y] * sp.exp(eta * r0[y]) for y in range(K))
    pi1 = [pi0[y] * sp.exp(eta * r0[y]) / Z0 for y in range(K)]
    Z1 = sum(pi1[y] * sp.exp(eta * r1[y]) for y in range(K))
    pi2 = [pi1[y] * sp.exp(eta * r1[y]) / Z1 for y in range(K)]
    for y in range(K):
        lhs = sp.log(pi2[y])
        rhs = sp.log(pi0[y]) + eta * (r0[y] + r1[y]) - sp.log(Z0) - sp.log(Z1)
        assert sp.simplify(sp.expand_log(lhs - rhs, force=True)) == 0


def test_step_size_optimisation():
    eta, L, m = sp.symbols("eta L m", positive=True)
    bound = 2 * (L / (eta * m) + eta / 8)
    crit = sp.solve(sp.Eq(sp.diff(bound, eta), 0), eta)
    assert len(crit) == 1 and sp.simplify(crit[0] - sp.sqrt(8 * L / m)) == 0
    assert sp.simplify(bound.subs(eta, crit[0]) - sp.sqrt(2 * L / m)) == 0
    assert sp.simplify(sp.diff(bound, eta, 2).subs(eta, crit[0])) .is_positive


def test_hoeffding_lemma_numerically():
    """log sum pi e^{eta r} <= eta <pi, r> + eta^2 / 8 for r in [0, 1]^n (random and extreme cases)."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(2, 20))
        pi = rng.dirichlet(np.full(n, 0.3))
        r = rng.choice([0.0, 1.0], n) if rng.random() < 0.5 else rng.random(n)
        e = float(rng.choice([0.01, 0.3, 1.0, 5.0]))
        lhs = np.log(np.sum(pi * np.exp(e * r)))
        assert lhs <= e * pi @ r + e**2 / 8 + NUMERIC_TOL


def test_polopt_sppo_follows_the_derivation():
    """polopt.rules.nlhf.sppo_update: telescoping identity and DG_0(pi_bar_m) <= 2 (ln n/(eta m) + eta/8)."""
    from polopt import certificates
    from polopt.problems.random import random_intransitive
    from polopt.rules import nlhf

    game = random_intransitive(7, seed=4)
    n, m = 7, 200
    e = float(np.sqrt(8 * np.log(n) / m))
    log_mu = np.log(game.mu)
    st = nlhf.sppo_init(log_mu)
    pis, acc = [], np.zeros(n)
    log_z = 0.0
    for _ in range(m):
        pi = np.exp(st.log_pi)
        pis.append(pi)
        r = game.P @ pi
        acc += r
        log_z += np.log(np.sum(pi * np.exp(e * r)))
        st = nlhf.sppo_update(st, game.P, log_mu, eta=e, beta=0.0)
    np.testing.assert_allclose(st.log_pi, log_mu + e * acc - log_z, rtol=0.0, atol=NUMERIC_TOL)
    pi_bar = np.mean(pis, axis=0)
    assert certificates.duality_gap(game.P, pi_bar) <= np.sqrt(2 * np.log(n) / m)

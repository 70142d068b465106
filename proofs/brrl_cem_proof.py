"""Proof: asymmetric bounded-ratio steps are (smoothed) cross-entropy-method steps.

Setting (one state; actions sorted so that ``Q_0 > Q_1 > Q_2 > Q_3``; ``pi0`` generic on the
simplex; bounds ``0 <= lo < 1 < hi``; elite fraction ``q = (1 - lo)/(hi - lo)`` in ``(0, 1]``).
The asymmetric BRRL problem is the LP
``max sum_a pi0(a) varrho_a Q_a`` s.t. ``lo <= varrho_a <= hi``, ``sum_a pi0(a) varrho_a = 1``.

Claims (``m`` = the action at the weighted upper ``q``-quantile, every position treated):

1. ``varrho = hi`` above ``m``, ``lo`` below, ``(1 - hi P_> - lo P_<) / pi0_m`` on ``m`` is
   normalised, and its atom ratio lies in ``[lo, hi]`` iff ``P_> <= q <= P_> + pi0_m``:
   ``varrho_m - lo = (hi - lo)(q - P_>)/pi0_m``, ``hi - varrho_m = (hi - lo)(P_>= - q)/pi0_m``.
2. It is optimal: for every feasible ``varrho``,
   ``<pi0 varrho*, Q> - <pi0 varrho, Q> = sum_{a<m} pi0 (hi - varrho_a)(Q_a - Q_m)
   + sum_{a>m} pi0 (varrho_a - lo)(Q_m - Q_a) >= 0``.
3. (CEM) With the elite weights ``w = 1`` above ``m``, ``(q - P_>)/pi0_m`` on ``m``, ``0`` below
   (``sum pi0 w = q``), the CEM elite distribution is ``e = pi0 w / q`` (``pi0`` conditioned on
   its top-``q`` quantile of ``Q``, the boundary atom split fractionally) and
   ``pi* = lo pi0 + (1 - lo) e``: the smoothed CEM update with smoothing ``1 - lo`` and elite
   fraction ``q``. With ``lo = 0``, ``hi = 1/q`` this is exactly the CEM elite distribution.

The last test compares :func:`polopt.rules.bounded_ratio.bounded_ratio_target` with an
independent elite-distribution computation on random rows with ties.

References: Ao et al., "Bounded Ratio Reinforcement Learning", arXiv 2604.18578, §4.6 (the CEM
connection is stated there; this exact form is our derivation); Rubinstein & Kroese, "The
Cross-Entropy Method" (2004), ch. 3-4 (elite fraction, smoothed update).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from polopt.testing.tolerances import IDENTITY_F64

K = 4
lo = sp.Symbol("lo", nonnegative=True)
hi = sp.Symbol("hi", positive=True)
base = sp.Symbol("q_base", real=True)
gaps = sp.symbols("g0:3", positive=True)
Q = [base + sum(gaps[a:], sp.S(0)) for a in range(K)]
_p = sp.symbols("p0:3", positive=True)
PI0 = [*_p, 1 - sum(_p)]
QMASS = (1 - lo) / (hi - lo)


def masses(m: int):
    return sum(PI0[:m], sp.S(0)), sum(PI0[m + 1:], sp.S(0))


def ratio(m: int) -> list:
    above, below = masses(m)
    atom = (1 - hi * above - lo * below) / PI0[m]
    return [hi if a < m else (lo if a > m else atom) for a in range(K)]


def elite_weights(m: int) -> list:
    above, _ = masses(m)
    return [sp.S(1) if a < m else (sp.S(0) if a > m else (QMASS - above) / PI0[m]) for a in range(K)]


def test_closed_form_is_normalised_and_in_band_iff_quantile():
    for m in range(K):
        rho = ratio(m)
        above, _ = masses(m)
        assert sp.simplify(sum(PI0[a] * rho[a] for a in range(K)) - 1) == 0
        assert sp.simplify(rho[m] - lo - (hi - lo) * (QMASS - above) / PI0[m]) == 0
        assert sp.simplify(hi - rho[m] - (hi - lo) * (above + PI0[m] - QMASS) / PI0[m]) == 0


def test_closed_form_is_optimal():
    free = sp.symbols("v0:4", real=True)
    for m in range(K):
        best = sum(PI0[a] * ratio(m)[a] * Q[a] for a in range(K))
        rho = list(free)
        rho[m] = (1 - sum(PI0[a] * free[a] for a in range(K) if a != m)) / PI0[m]
        value = sum(PI0[a] * rho[a] * Q[a] for a in range(K))
        cert = sum(
            PI0[a] * ((hi - rho[a]) * (Q[a] - Q[m]) if a < m else (rho[a] - lo) * (Q[m] - Q[a]))
            for a in range(K)
            if a != m
        )
        assert sp.simplify(best - value - cert) == 0


def test_optimum_is_smoothed_cem_elite_distribution():
    for m in range(K):
        w = elite_weights(m)
        assert sp.simplify(sum(PI0[a] * w[a] for a in range(K)) - QMASS) == 0
        elite = [PI0[a] * w[a] / QMASS for a in range(K)]
        for a in range(K):
            assert sp.simplify(PI0[a] * ratio(m)[a] - (lo * PI0[a] + (1 - lo) * elite[a])) == 0


def test_lo_zero_gives_pure_cem():
    frac = sp.Symbol("q", positive=True)
    for m in range(K):
        point = {lo: 0, hi: 1 / frac}
        w = [x.subs(point) for x in elite_weights(m)]
        for a in range(K):
            pi_star = (PI0[a] * ratio(m)[a]).subs(point)
            assert sp.simplify(pi_star - PI0[a] * w[a] / frac) == 0


def _elite(pi0: np.ndarray, q: np.ndarray, frac: float) -> np.ndarray:
    """Independent CEM elite distribution: pi0 restricted to the top-``frac`` mass of q (ties shared)."""
    out = np.zeros_like(pi0)
    left = frac
    for value in np.unique(q)[::-1]:  # distinct values, best first; tied actions share the level
        level = q == value
        mass = pi0[level].sum()
        take = min(mass, left)
        out[level] = pi0[level] * take / mass
        left -= take
    return out / frac


def test_polopt_target_is_smoothed_cem():
    from polopt.rules.bounded_ratio import bounded_ratio_target

    rng = np.random.default_rng(1)
    for _ in range(60):
        A = int(rng.integers(2, 8))
        pi0 = rng.dirichlet(np.ones(A))
        q = rng.integers(0, 4, size=A).astype(float)  # few levels: ties at the quantile are common
        low = float(rng.choice([0.0, 0.3, 0.6]))
        high = float(rng.choice([1.5, 2.0, 4.0]))
        frac = (1 - low) / (high - low)
        want = low * pi0 + (1 - low) * _elite(pi0, q, frac)
        got = np.exp(bounded_ratio_target(np.log(pi0), q, lo=low, hi=high))
        np.testing.assert_allclose(got, want, rtol=0, atol=IDENTITY_F64)

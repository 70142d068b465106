"""Proof: PPO-clip is a one-sided, advantage-weighted hinge toward ``1 + eps sign(A)``.

Claim 1 (per sample; ratio ``rho >= 0``, advantage ``A``, ``0 < eps < 1``):

.. math::  -\\min\\big(\\rho A,\\; \\mathrm{clip}(\\rho, 1-\\epsilon, 1+\\epsilon) A\\big)
           = |A|\\,h(\\rho; \\rho_t) - A - \\epsilon |A|,\\qquad \\rho_t = 1 + \\epsilon\\,\\mathrm{sign}(A),

with the one-sided hinge ``h = (rho_t - rho)_+`` if ``A > 0`` and ``(rho - rho_t)_+`` if ``A < 0``
(``A = 0``: both sides are 0). Proved case by case: sign of ``A`` x position of ``rho`` (below,
inside, above the band), each with sympy's own ``Min`` / ``Max`` / ``clip`` evaluation.

Claim 2 (exact maximizer over the simplex, per state; ``A = Q - V`` with the mean baseline, so
``E_{pi0} A = 0``). Because ``h >= 0``, the surrogate ``L(rho) = sum_a pi0(a) min(...)`` obeys
``L(rho) <= sum_a pi0 (A + eps |A|) = eps E_{pi0}|A|``, with equality iff every hinge is 0, i.e.
``rho >= 1 + eps`` on ``{A > 0}`` and ``rho <= 1 - eps`` on ``{A < 0}``. Such a ``rho`` with
``sum pi0 rho = 1`` exists iff ``(1 + eps) pi0(A > 0) <= 1``; the maximizers then form a polytope,
so **the maximizer is not unique** as soon as it has two vertices (checked on an instance).

Claim 3 (relation to BRRL; a correction of the note that "BRRL's pi* is one PPO maximizer").
BRRL's step puts ``rho = 1 - eps`` on the actions below the pi0-*median* of ``Q``; when an action
has ``V < Q < median`` it has ``A > 0`` and ``rho < 1 + eps``, a non-zero hinge, so BRRL's
policy is **not** a PPO maximizer. Counterexample (exact rationals): uniform ``pi0`` on 3 actions,
``Q = (0, 9/10, 1)``, ``eps = 1/5``: BRRL attains ``L = 1/15`` while ``max L = 19/225``.
BRRL's policy is a PPO maximizer iff its ``rho = 1 + eps`` set equals ``{A > 0}`` up to the
atom, i.e. iff the mean ``V(s)`` is (on the same side as) a pi0-median of ``Q(s, .)``.

The last tests tie the proof to :mod:`polopt.rules.bounded_ratio`: ``ppo_surrogate`` equals
the hinge form, and ``ppo_maximizer`` attains ``eps E|A|`` when ``(1 + eps) pi0(A > 0) <= 1``.

References: Schulman et al., "Proximal Policy Optimization Algorithms", arXiv 1707.06347,
eq. (7); Ao et al., "Bounded Ratio Reinforcement Learning", arXiv 2604.18578 (Fig. 3 relates the
PPO loss to a loss toward pi*; the exact hinge form is our derivation).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from polopt.testing.tolerances import IDENTITY_F64

eps = sp.Symbol("epsilon", positive=True)
alpha = sp.Symbol("alpha", positive=True)  # |A|
delta = sp.Symbol("delta", positive=True)  # distance outside the band
u = sp.Symbol("u", positive=True)  # position inside the band: rho = 1 - eps + 2 eps / (1 + u)

#: A generic ratio in each region: below the band, strictly inside, above.
RATIOS = {
    "below": 1 - eps - delta,
    "inside": 1 - eps + 2 * eps / (1 + u),
    "above": 1 + eps + delta,
}


def clip(rho):
    return sp.Min(sp.Max(rho, 1 - eps), 1 + eps)


def ppo_loss(rho, A):
    """Negative clipped surrogate of one sample."""
    return -sp.Min(rho * A, clip(rho) * A)


def hinge_form(rho, A, sign: int):
    rho_t = 1 + eps * sign
    h = sp.Max(rho_t - rho, 0) if sign > 0 else sp.Max(rho - rho_t, 0)
    return sp.Abs(A) * h - A - eps * sp.Abs(A)


def test_ppo_loss_is_advantage_weighted_hinge():
    for sign in (1, -1):
        A = sign * alpha
        for name, rho in RATIOS.items():
            lhs, rhs = ppo_loss(rho, A), hinge_form(rho, A, sign)
            # sympy resolved every Min / Max: the case is decided, not assumed
            assert not lhs.has(sp.Min, sp.Max), (sign, name, lhs)
            assert not rhs.has(sp.Min, sp.Max), (sign, name, rhs)
            assert sp.simplify(lhs - rhs) == 0, (sign, name)
    # A = 0: the loss is 0 for every rho
    assert ppo_loss(sp.Symbol("r", nonnegative=True), 0) == 0


def test_hinge_is_zero_exactly_on_the_favourable_side():
    """h = 0 iff rho >= 1 + eps (A > 0) / rho <= 1 - eps (A < 0): the surrogate is flat there."""
    for sign in (1, -1):
        A = sign * alpha
        for name, rho in RATIOS.items():
            h = sp.simplify(hinge_form(rho, A, sign) + A + eps * alpha) / alpha
            flat = (name == "above") if sign > 0 else (name == "below")
            assert (h == 0) == flat, (sign, name, h)
            if not flat:
                assert h.is_positive


def _surrogate(pi0, q, rho, e):
    v = sum(p * x for p, x in zip(pi0, q, strict=True))
    return sum(p * min(r * (x - v), min(max(r, 1 - e), 1 + e) * (x - v)) for p, x, r in zip(pi0, q, rho, strict=True))


def test_maximum_is_eps_mean_absolute_advantage_and_not_unique():
    """Exact rationals: two different ratio vectors on the favourable sides both attain eps E|A|."""
    pi0 = [sp.Rational(1, 3)] * 3
    q = [sp.S(0), sp.Rational(9, 10), sp.S(1)]
    e = sp.Rational(1, 5)
    v = sum(p * x for p, x in zip(pi0, q, strict=True))
    bound = e * sum(p * abs(x - v) for p, x in zip(pi0, q, strict=True))
    # A = (-19/30, 8/30, 11/30): A > 0 on actions 1, 2; (1 + eps) pi0(A > 0) = 4/5 <= 1
    first = [sp.Rational(3, 5), sp.Rational(6, 5), sp.Rational(6, 5)]
    second = [sp.Rational(1, 2), sp.Rational(6, 5), sp.Rational(13, 10)]
    for rho in (first, second):
        assert sum(p * r for p, r in zip(pi0, rho, strict=True)) == 1
        assert _surrogate(pi0, q, rho, e) == bound
    assert bound == sp.Rational(19, 225)


def test_brrl_policy_is_not_a_ppo_maximizer_in_general():
    """The counterexample of claim 3: median 9/10 > mean 19/30, so action 1 has A > 0 but rho = 1."""
    pi0 = [sp.Rational(1, 3)] * 3
    q = [sp.S(0), sp.Rational(9, 10), sp.S(1)]
    e = sp.Rational(1, 5)
    # BRRL: above the median (action 2) 1 + eps, below (action 0) 1 - eps, the atom (action 1) by normalisation
    rho_brrl = [1 - e, None, 1 + e]
    rho_brrl[1] = (1 - pi0[0] * rho_brrl[0] - pi0[2] * rho_brrl[2]) / pi0[1]
    assert rho_brrl[1] == 1
    assert _surrogate(pi0, q, rho_brrl, e) == sp.Rational(1, 15)
    assert sp.Rational(1, 15) < sp.Rational(19, 225)


def test_polopt_surrogate_and_maximizer():
    """polopt.rules.bounded_ratio: surrogate = hinge form; the maximizer attains eps E|A| when feasible."""
    from polopt.rules.bounded_ratio import ppo_maximizer, ppo_surrogate

    rng = np.random.default_rng(0)
    e = 0.2
    for _ in range(50):
        K = int(rng.integers(2, 7))
        pi0 = rng.dirichlet(np.ones(K))
        q = rng.normal(size=K)
        adv = q - pi0 @ q
        pi = rng.dirichlet(np.ones(K))
        rho = pi / pi0
        sign = np.sign(adv)
        rho_t = 1 + e * sign
        hinge = np.where(adv > 0, np.maximum(rho_t - rho, 0), np.maximum(rho - rho_t, 0))
        hinge_value = -np.sum(pi0 * (np.abs(adv) * hinge - adv - e * np.abs(adv)))
        got = ppo_surrogate(np.log(pi), np.log(pi0), adv, lo=1 - e, hi=1 + e)
        np.testing.assert_allclose(got, hinge_value, rtol=IDENTITY_F64, atol=IDENTITY_F64)
        if (1 + e) * pi0[adv > 0].sum() <= 1:
            best = ppo_maximizer(np.log(pi0), adv, lo=1 - e, hi=1 + e)
            value = ppo_surrogate(best, np.log(pi0), adv, lo=1 - e, hi=1 + e)
            np.testing.assert_allclose(value, e * pi0 @ np.abs(adv), rtol=IDENTITY_F64, atol=IDENTITY_F64)

"""Proof: APO with exact DPO steps has effective inverse temperature ``t / (1 - alpha)`` on a bandit.

Setting. Each APO step solves the DPO problem with reference ``pi_hat_t`` exactly (Bradley-Terry
population minimizer, ``proofs/dpo_minimizer_proof.py``): ``log pi_{t+1} = log pi_hat_t + r / beta``
(+ const), then ``log pi_hat_{t+1} = (1 + alpha) log pi_{t+1} - alpha log pi_t`` (+ const), from
``pi_0 = pi_hat_0 = pi_ref``. Claims:

1. ``log pi_t = log pi_ref + u_t r / beta`` (+ const) with ``u_{t+1} = (1 + alpha) u_t - alpha u_{t-1} + 1``,
   ``u_0 = 0``, ``u_1 = 1`` (substitution below);
2. ``u_t = t / (1 - alpha) - alpha (1 - alpha^t) / (1 - alpha)^2`` solves it (sympy, symbolic ``t``);
   so ``u_t ~ t / (1 - alpha)`` against ``u_t = t`` for iterative DPO (``alpha = 0``).

The last test checks :func:`polopt.rules.preference_losses.apo_inverse_temperature` against the
recursion run with :func:`polopt.rules.preference_losses.apo_extrapolate`.
Reference: He, Yuan, Gu, arXiv 2410.06293 (the algorithm is recalled; the recursion is ours).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

#: log-probabilities of size ~ u_t |r| / beta <= 1e3 compared after ~30 float64 steps.
NUMERIC_RTOL = 1e-10

alpha = sp.Symbol("alpha", positive=True)
t = sp.Symbol("t", integer=True, nonnegative=True)
u_prev, u_cur = sp.symbols("u_prev u_cur", real=True)
rb = sp.Symbol("rb", real=True)  # r / beta of one action


def u(n):
    return n / (1 - alpha) - alpha * (1 - alpha**n) / (1 - alpha) ** 2


def test_log_space_step_gives_the_recursion():
    # log pi_t = u_t rb, log pi_{t-1} = u_{t-1} rb (constants dropped: they normalize away)
    hat = (1 + alpha) * u_cur * rb - alpha * u_prev * rb
    nxt = hat + rb
    assert sp.simplify(nxt - ((1 + alpha) * u_cur - alpha * u_prev + 1) * rb) == 0


def test_closed_form_solves_the_recursion():
    assert sp.simplify(u(0)) == 0
    assert sp.simplify(u(1) - 1) == 0
    assert sp.simplify(sp.expand(u(t + 1) - ((1 + alpha) * u(t) - alpha * u(t - 1) + 1))) == 0


def test_asymptotic_slope():
    # alpha in (0, 1) written as exp(-a), a > 0, so that alpha^t -> 0 is visible to sympy
    a = sp.Symbol("a", positive=True)
    n = sp.Symbol("n", positive=True)
    slope = sp.limit((u(n) / n).subs(alpha, sp.exp(-a)), n, sp.oo)
    assert sp.simplify(slope - 1 / (1 - sp.exp(-a))) == 0


def test_polopt_recursion_matches():
    from polopt.rules import log_normalize
    from polopt.rules.preference_losses import apo_extrapolate, apo_inverse_temperature

    r = np.array([1.0, 0.2, -0.5])
    ref = np.array([0.5, 0.3, 0.2])
    beta, a = 2.0, 0.6
    log_pi = np.log(ref)
    log_hat = log_pi
    for n in range(1, 30):
        new = log_normalize(log_hat + r / beta)
        log_hat = apo_extrapolate(new, log_pi, a)
        log_pi = new
        expected = log_normalize(np.log(ref) + apo_inverse_temperature(n, a) * r / beta)
        np.testing.assert_allclose(log_pi, expected, rtol=NUMERIC_RTOL, atol=NUMERIC_RTOL)

"""Proof: under Bradley-Terry, the DPO population loss is minimized by ``pi_ref exp(r / beta) / Z``.

Claim. Pairs ``(a, b)`` with positive probability are labelled ``a > b`` with probability
``p = sigma(r_a - r_b)``. The expected DPO loss of the pair is
``l(h) = -p log sigma(h) - (1 - p) log sigma(-h)`` with ``h = beta (s_a - s_b)``,
``s = log(pi / pi_ref)``. Then

1. ``l'(h) = sigma(h) - p``: zero exactly at ``h = r_a - r_b`` (sympy below);
2. ``l''(h) = sigma(h) sigma(-h) > 0``: strictly convex, so that zero is the unique minimizer;
3. every pair is at its minimum iff ``beta s_a - r_a`` is constant over a connected support,
   i.e. ``pi = pi_ref exp(r / beta) / Z`` -- which also maximizes ``E_pi r - beta KL(pi || pi_ref)``
   (``proofs/gibbs_proof.py``).

The last test evaluates :func:`polopt.rules.preference_losses.dpo` at the closed form and finds a
zero gradient. Reference: Rafailov et al., arXiv 2305.18290, Eq. (4) and Appendix A.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

#: The gradient at the closed form is a sum of a few dozen float64 terms of size ~1.
NUMERIC_TOL = 1e-12

h, ra, rb = sp.symbols("h r_a r_b", real=True)


def sigma(x):
    return 1 / (1 + sp.exp(-x))


P_AB = sigma(ra - rb)
PAIR_LOSS = -P_AB * sp.log(sigma(h)) - (1 - P_AB) * sp.log(sigma(-h))


def test_derivative_is_sigma_minus_preference():
    assert sp.simplify(sp.diff(PAIR_LOSS, h) - (sigma(h) - P_AB)) == 0


def test_stationary_at_reward_difference():
    assert sp.simplify(sp.diff(PAIR_LOSS, h).subs(h, ra - rb)) == 0


def test_strictly_convex():
    second = sp.diff(PAIR_LOSS, h, 2)
    assert sp.simplify(second - sigma(h) * sigma(-h)) == 0


def test_closed_form_zeroes_polopt_gradient():
    from polopt.rules.preference_losses import bradley_terry, dpo, dpo_optimum, pair_weights, product_pairs

    r = np.array([0.4, -1.0, 2.0, 0.3])
    ref = np.array([0.1, 0.2, 0.3, 0.4])
    behaviour = np.array([0.4, 0.3, 0.2, 0.1])
    beta = 0.7
    W = pair_weights(bradley_terry(r), product_pairs(behaviour))
    pi_star = dpo_optimum(r, ref, beta)
    grad = dpo(np.log(pi_star), W, np.log(ref), beta).grad
    np.testing.assert_allclose(grad, 0.0, atol=NUMERIC_TOL)

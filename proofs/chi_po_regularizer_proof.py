"""Proof: chi-PO's link ``phi(z) = z + log z`` is the derivative of the chi^2/2 + KL generator.

Claim. With ``f(z) = (z - 1)^2 / 2 + z log z``:

1. ``f'(z) = z + log z = phi(z)`` and ``f''(z) = 1 + 1/z > 0`` (strictly convex, ``f(1) = 0``:
   ``D_f(pi || pi_ref) = sum pi_ref f(pi / pi_ref)`` is an f-divergence, = chi^2/2 + KL);
2. the Lagrangian of ``max E_pi r - beta D_f(pi || pi_ref)`` s.t. ``sum pi = 1`` is stationary iff
   ``beta phi(pi_a / pi_ref_a) = r_a - lambda`` for every ``a`` (K = 3 symbols below);
3. that is exactly the zero of the Bradley-Terry chi-PO loss: every pair at
   ``beta (phi(z_a) - phi(z_b)) = r_a - r_b`` (the logistic argument of ``proofs/dpo_minimizer_proof.py``
   with ``h = beta (phi(z_a) - phi(z_b))``).

So chi-PO's implicit regularizer is chi^2/2 + KL. The last test checks
:func:`polopt.rules.preference_losses.chi_po_optimum` against the stationarity condition and the
chi-PO gradient. Reference: Huang et al., arXiv 2407.13399 (link phi [paper]).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

#: Stationarity residuals of a float64 closed form evaluated with a few dozen flops.
NUMERIC_TOL = 1e-12

z = sp.Symbol("z", positive=True)
F = (z - 1) ** 2 / 2 + z * sp.log(z)
PHI = z + sp.log(z)

K = 3
r = sp.symbols("r0:3", real=True)
mu = sp.symbols("mu0:3", positive=True)
pi = sp.symbols("pi0:3", positive=True)
beta = sp.Symbol("beta", positive=True)
lam = sp.Symbol("lambda", real=True)


def test_link_is_generator_derivative():
    assert sp.simplify(sp.diff(F, z) - PHI) == 0
    assert sp.simplify(sp.diff(F, z, 2) - (1 + 1 / z)) == 0
    assert F.subs(z, 1) == 0


def test_lagrangian_stationarity_is_the_link_equation():
    D = sum(mu[a] * F.subs(z, pi[a] / mu[a]) for a in range(K))
    L = sum(pi[a] * r[a] for a in range(K)) - beta * D - lam * (sum(pi) - 1)
    for a in range(K):
        stationarity = sp.diff(L, pi[a])
        assert sp.simplify(stationarity - (r[a] - lam - beta * PHI.subs(z, pi[a] / mu[a]))) == 0


def test_closed_form_matches_polopt():
    from polopt.rules.preference_losses import (
        bradley_terry,
        chi_link,
        chi_po,
        chi_po_optimum,
        pair_weights,
        product_pairs,
    )

    r_num = np.array([0.5, -0.3, 1.2, 0.0])
    ref = np.array([0.4, 0.3, 0.2, 0.1])
    beta_num = 0.6
    p = chi_po_optimum(r_num, ref, beta_num)
    lhs = beta_num * chi_link(np.log(p / ref)) - r_num
    np.testing.assert_allclose(lhs - lhs.mean(), 0.0, atol=NUMERIC_TOL)  # = -lambda for every action
    np.testing.assert_allclose(p.sum(), 1.0, atol=NUMERIC_TOL)
    W = pair_weights(bradley_terry(r_num), product_pairs(ref))
    np.testing.assert_allclose(chi_po(np.log(p), W, np.log(ref), beta_num).grad, 0.0, atol=NUMERIC_TOL)

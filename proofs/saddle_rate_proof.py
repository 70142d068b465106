"""Proof: the algebra behind theorem ``mp_mdp.gap`` (mirror prox on the MDP saddle point).

Setting: ``f(v, d) = c^T v + d^T r + d^T Mat v`` with ``c = (1 - gamma) rho`` and
``Mat = gamma P - I_hat`` (``polopt.oracles.saddle``); operator ``F(v, d) = (c + Mat^T d, -(r + Mat v))``.

Claims (each a sympy computation below, S = 2 states, A = 2 actions, generic symbols):

1. Bilinear gap identity: for every point ``z_hat = (v_hat, d_hat)`` and comparator ``u = (w, nu)``,
   ``f(v_hat, nu) - f(w, d_hat) = <F(z_hat), z_hat - u>``. Averaging over ``t`` (``f`` is affine in each
   argument) gives ``f(v_bar, nu) - f(w, d_bar) = (1/T) sum_t <F(z_hat_t), z_hat_t - u>``, the quantity
   Nemirovski's one-step inequality bounds by ``D_omega(u, z_1) / T``.
2. Step condition: with ``a = ||d_hat - d||_1``, ``b = ||v_+ - v_hat||_2`` (and the symmetric pair),
   ``L a b <= a^2 / (2 eta_d) + b^2 / (2 eta_v)`` for all ``a, b >= 0`` iff ``eta_v eta_d L^2 <= 1``:
   the difference is ``(a / sqrt(eta_d) - b / sqrt(eta_v))^2 / 2 + (1 / sqrt(eta_v eta_d) - L) a b``, and at
   ``a / sqrt(eta_d) = b / sqrt(eta_v)`` it is negative when ``L > 1/sqrt(eta_v eta_d)``. This is the
   condition ``<F(z_hat) - F(z), z_hat - z_+> <= D(z_hat, z) + D(z_+, z_hat)`` of the prox-method with the
   distance ``||v||^2 / (2 eta_v) + KL / eta_d`` (Pinsker: ``KL >= ||.||_1^2 / 2``), using
   ``|d^T Mat w| <= L ||d||_1 ||w||_2`` with ``L = max_sa ||Mat[(s,a), :]||_2``.
3. Hence ``Gap_T <= (||w - v_1||^2 / (2 eta_v) + KL(nu || d_1) / eta_d) / T <= D_v/(eta_v T) + D_d/(eta_d T)``.

The last test evaluates polopt's operator (:class:`polopt.oracles.saddle.SaddleOracle`) and
:func:`polopt.certificates.saddle_gap` against the symbolic expressions at a rational point.
Reference: A. Nemirovski, SIAM J. Optim. 15(1), 2004 (the prox-method); the MDP saddle point of
Jin & Sidford, arXiv 2008.12776.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

S, A = 2, 2
#: float64 evaluation of a few dozen rational flops against the exact rational value.
NUMERIC_TOL = 1e-12

gamma = sp.Symbol("gamma", nonnegative=True)
rho0 = sp.Symbol("rho0", positive=True)
rho = sp.Matrix([rho0, 1 - rho0])
# generic kernel: P[s, a, 0] = p_sa, P[s, a, 1] = 1 - p_sa
p = {(s, a): sp.Symbol(f"p{s}{a}", nonnegative=True) for s in range(S) for a in range(A)}
r = {(s, a): sp.Symbol(f"r{s}{a}", real=True) for s in range(S) for a in range(A)}
PAIRS = list(itertools.product(range(S), range(A)))


def kernel_row(s, a):
    return sp.Matrix([[p[s, a], 1 - p[s, a]]])


def mat():
    """``Mat = gamma P - I_hat`` as an (S A) x S matrix, rows in (s, a) order."""
    rows = [gamma * kernel_row(s, a) - sp.Matrix([[1 if j == s else 0 for j in range(S)]]) for s, a in PAIRS]
    return sp.Matrix.vstack(*rows)


R = sp.Matrix([r[s, a] for s, a in PAIRS])
C = (1 - gamma) * rho


def f(v, d):
    return (C.T * v)[0, 0] + (d.T * R)[0, 0] + (d.T * mat() * v)[0, 0]


def operator(v, d):
    return C + mat().T * d, -(R + mat() * v)


def vec(name, n):
    return sp.Matrix(sp.symbols(f"{name}0:{n}", real=True))


def test_bilinear_gap_is_the_operator_inner_product():
    v_hat, w = vec("vh", S), vec("w", S)
    d_hat, nu = vec("mh", S * A), vec("nu", S * A)
    g_v, g_d = operator(v_hat, d_hat)
    inner = (g_v.T * (v_hat - w))[0, 0] + (g_d.T * (d_hat - nu))[0, 0]
    assert sp.expand(f(v_hat, nu) - f(w, d_hat) - inner) == 0


def test_average_of_bilinear_gaps_is_the_gap_of_the_averages():
    """f is affine in each argument: the gap at (mean v_hat_t, mean d_hat_t) is the mean of the gaps (T = 2)."""
    v1, v2, w = vec("a", S), vec("b", S), vec("w", S)
    m1, m2, nu = vec("c", S * A), vec("d", S * A), vec("nu", S * A)
    lhs = f((v1 + v2) / 2, nu) - f(w, (m1 + m2) / 2)
    rhs = ((f(v1, nu) - f(w, m1)) + (f(v2, nu) - f(w, m2))) / 2
    assert sp.expand(lhs - rhs) == 0


def test_young_inequality_under_the_step_condition():
    a, b, ev, em, L = sp.symbols("a b eta_v eta_d L", positive=True)
    diff = a**2 / (2 * em) + b**2 / (2 * ev) - L * a * b
    square = (a / sp.sqrt(em) - b / sp.sqrt(ev)) ** 2 / 2
    assert sp.simplify(diff - square - (1 / sp.sqrt(ev * em) - L) * a * b) == 0
    # necessity: on the ray a / sqrt(eta_d) = b / sqrt(eta_v) the square vanishes and diff = (1/sqrt - L) a b
    on_ray = sp.simplify(diff.subs(a, b * sp.sqrt(em) / sp.sqrt(ev)))
    assert sp.simplify(on_ray - (1 / sp.sqrt(ev * em) - L) * b**2 * sp.sqrt(em) / sp.sqrt(ev)) == 0


def test_operator_row_bound_constant():
    """``|d^T Mat w| <= sum_sa mu_sa |Mat_sa . w| <= ||d||_1 max_sa ||Mat_sa||_2 ||w||_2``; ``||Mat_sa||_2^2``
    is ``(gamma p - 1)^2 + gamma^2 (1 - p)^2`` in state 0, at most ``(1 + gamma)^2`` on ``p in [0, 1]``."""
    q = sp.Symbol("q", nonnegative=True)
    row_sq = (gamma * q - 1) ** 2 + gamma**2 * (1 - q) ** 2
    # convex in q: the maximum over [0, 1] is at an end point, q = 0 gives 1 + gamma^2 <= (1 + gamma)^2
    assert sp.diff(row_sq, q, 2) == 4 * gamma**2
    assert sp.expand((1 + gamma) ** 2 - row_sq.subs(q, 0)) == 2 * gamma
    assert sp.expand(row_sq.subs(q, 1)) == sp.expand((gamma - 1) ** 2)


def test_polopt_operator_and_gap_match_the_symbols():
    from polopt.certificates import saddle_gap
    from polopt.oracles.saddle import SaddleOracle

    vals = {gamma: sp.Rational(9, 10), rho0: sp.Rational(1, 3)}
    vals.update({p[k]: sp.Rational(i + 1, 7) for i, k in enumerate(PAIRS)})
    vals.update({r[k]: sp.Rational(2 * i - 3, 5) for i, k in enumerate(PAIRS)})
    v = sp.Matrix([sp.Rational(1, 2), sp.Rational(-3, 4)])
    d = sp.Matrix([sp.Rational(k, 10) for k in (1, 2, 3, 4)])
    g_v, g_d = operator(v, d)
    P = np.zeros((S, A, S))
    rr = np.zeros((S, A))
    for s, a in PAIRS:
        P[s, a] = [float(vals[p[s, a]]), 1.0 - float(vals[p[s, a]])]
        rr[s, a] = float(vals[r[s, a]])
    g = float(vals[gamma])
    rho_np = np.array([float(vals[rho0]), 1.0 - float(vals[rho0])])
    out = SaddleOracle(P, rr, g, rho_np, -2.0, 2.0).operator(np.array([0.5, -0.75]), np.arange(1, 5).reshape(2, 2) / 10)
    np.testing.assert_allclose(out.g_v, [float(x.subs(vals)) for x in g_v], atol=NUMERIC_TOL)
    np.testing.assert_allclose(out.g_d.reshape(-1), [-float(x.subs(vals)) for x in g_d], atol=NUMERIC_TOL)
    # the gap's two closed forms: max over the simplex at a vertex, min over the box [-2, 2]^S at a corner
    upper = max(f(v, sp.Matrix([1 if j == k else 0 for j in range(S * A)])).subs(vals) for k in range(S * A))
    lower = min(f(sp.Matrix(c), d).subs(vals) for c in itertools.product((-2, 2), repeat=S))
    got = saddle_gap(P, rr, g, rho_np, -2.0, 2.0, np.array([0.5, -0.75]), np.arange(1, 5).reshape(2, 2) / 10)
    assert abs(float(got) - float(upper - lower)) <= NUMERIC_TOL

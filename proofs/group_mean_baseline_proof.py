"""Proof: leave-one-out baselines are unbiased; the group mean scales the expected gradient by (G-1)/G.

Setting: a softmax bandit with ``K`` arms, ``pi = softmax(theta)``, reward per arm ``R`` and a
group ``a_1..a_G ~ pi`` i.i.d.; estimator ``g_hat = (1/G) sum_i A_i s(a_i)`` with the score
``s(a) = grad_theta log pi(a) = e_a - pi`` and the exact gradient ``grad J = pi * (R - pi.R)``.

Claims and derivation (each step is a sympy computation below; ``K = 3`` symbolic ``pi``, ``R``):

1. Softmax calculus: ``d log pi_a / d theta_c = [a = c] - pi_c`` and
   ``grad_theta (pi.R) = pi * (R - pi.R) = E_{a~pi}[R(a) s(a)]``; ``E_{a~pi} s(a) = 0``.
2. Any baseline ``b_i`` that is a function of the *other* samples only is independent of ``a_i``,
   so ``E[b_i s(a_i)] = E[b_i] E[s(a_i)] = 0`` and ``E g_hat = grad J``. Shown for an arbitrary
   table ``b_i = B(a_j, a_k)`` (``G = 3``: 9 free symbols), which covers RLOO
   (``b_i = mean_{j != i} R_j``) and OBLR-PO's gradient-weighted leave-one-out mean
   (``b_i = sum_{j != i} w_j R_j / sum_{j != i} w_j``, ``w = ||e_a - pi||^2``).
3. General ``G`` by linearity: ``g_hat_RLOO = (1/G) sum_i R_i s_i - (1/(G(G-1))) sum_{i != j} R_j s_i``;
   the ``G`` diagonal terms have mean ``grad J`` and the ``G(G-1)`` cross terms mean
   ``E[R(a')] E[s(a)] = 0`` (a ``K x K`` double sum), so ``E g_hat_RLOO = grad J`` for every ``G >= 2``.
4. The group mean (Dr.GRPO, the mean *including* ``R_i``) satisfies the identity
   ``R_i - mean_j R_j = ((G-1)/G) (R_i - mean_{j != i} R_j)`` (symbolic ``G``), hence
   ``E g_hat = ((G-1)/G) grad J`` and ``Cov = ((G-1)/G)^2 Cov_RLOO``.
5. Brute force from the definitions (all ``K^G`` ordered groups, ``G = 2, 3, 4``): RLOO's mean is
   ``grad J``, the group mean's is ``((G-1)/G) grad J``; the covariances equal the closed forms of
   :mod:`polopt.exact.estimators` — constant ``b``: ``(S((R-b)^2) - g g^T)/G``; RLOO: the
   order-2 U-statistic ``2/(G(G-1)) [2(G-2) Sigma_1 + Sigma_2]`` with
   ``Sigma_1 = (S((R-Rbar)^2) - g g^T)/4``, ``Sigma_2 = (diag(pi * (D pi)) - (pi pi^T) * D)/2 - g g^T``,
   ``D_xy = (R_x - R_y)^2``, ``S(c) = sum_a pi_a c_a s_a s_a^T``.
6. GRPO's std-normalized group advantage with rewards in ``{0, 1}`` (``R = 1`` on a set ``S`` of arms,
   ``p = pi(S)``): given ``R_i`` the advantage depends only on the number ``k`` of ones among the
   others, independent of ``a_i``, and ``E[s | R = 0] = -(p/(1-p)) E[s | R = 1]``, so
   ``E g_hat = c grad J`` with ``c = E_k[A(1; k+1) - A(0; k)] > 0``, ``k ~ Bin(G-1, p)``, ``A(R_i; m)``
   the advantage in a group with ``m`` ones. Checked by enumeration (``G = 3``, symbolic ``pi`` and
   ``std_eps``, ``ddof = 0, 1``, ``S = {0}`` and ``{0, 1}``); with rewards ``(0, 1/2, 1)`` the
   expected estimate is *not* parallel to ``grad J`` (50-digit evaluation at a rational point).

The last test evaluates :func:`polopt.exact.estimators.estimator_moments` (enumeration and
closed form) at a point and compares with the symbolic results.

References: Williams (1992), REINFORCE; Kool, van Hoof, Welling, "Buy 4 REINFORCE samples, get a
baseline for free!" (2019) and Ahmadian et al., arXiv 2402.14740 (RLOO); Liu et al.,
"Understanding R1-Zero-like training", arXiv 2503.20783 (Dr.GRPO); Hoeffding (1948), U-statistics;
Huang, Sheng, Zheng, arXiv 2511.23310 (OBLR-PO); Shao et al., "DeepSeekMath", arXiv 2402.03300 (GRPO).
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

from polopt.testing.tolerances import IDENTITY_F64

K = 3
#: The enumerated moments of polopt sum at most 27 float64 outer products of size <= 4: they
#: agree with the symbolic values evaluated in float64 to closed-form round-off.
NUMERIC_TOL = IDENTITY_F64
#: Digits of the evaluation that shows GRPO's bias in direction with non-binary rewards (error ~1e-50).
DIGITS = 50
#: The cross products there are ~1e-2; anything above 1e-6 is far outside the evaluation error.
SEPARATION = 1e-6

#: Exact polynomial arithmetic over the rationals (sympy's sparse polynomial ring: the K^G-term
#: sums below expand in milliseconds, where generic expression trees take seconds). ``B_xy`` is
#: an arbitrary leave-one-out baseline table, ``b`` a constant baseline.
_B_NAMES = [f"B_{x}{y}" for x, y in itertools.product(range(K), repeat=2)]
RING, p0, p1, *_gens = ring(["pi0", "pi1", "R0", "R1", "R2", "b", *_B_NAMES], QQ)
R = tuple(_gens[:K])
b = _gens[K]
B = dict(zip(itertools.product(range(K), repeat=2), _gens[K + 1:], strict=True))
#: A point of the simplex, with the last coordinate eliminated (every quantity is a polynomial).
PI = (p0, p1, 1 - p0 - p1)
RBAR = sum(PI[a] * R[a] for a in range(K))
GRAD = [PI[a] * (R[a] - RBAR) for a in range(K)]


def score(a):
    """``s(a) = e_a - pi``."""
    return [int(a == c) - PI[c] for c in range(K)]


def axpy(alpha, x, y):
    """``alpha x + y`` for vectors (lists) or matrices (lists of lists) of ring elements."""
    if isinstance(x[0], list):
        return [axpy(alpha, xr, yr) for xr, yr in zip(x, y, strict=True)]
    return [alpha * xi + yi for xi, yi in zip(x, y, strict=True)]


def outer(u, v):
    return [[ui * vj for vj in v] for ui in u]


def zeros(n, m=None):
    return [RING.zero] * n if m is None else [[RING.zero] * m for _ in range(n)]


def is_zero(x) -> bool:
    """Exact test on a ring element or a (nested) list of them."""
    return all(is_zero(xi) for xi in x) if isinstance(x, list) else x == 0


def groups(G):
    """All ordered groups with their probabilities ``prod_i pi(a_i)``."""
    for acts in itertools.product(range(K), repeat=G):
        p = RING.one
        for a in acts:
            p = p * PI[a]
        yield acts, p


def estimate(acts, adv):
    """``(1/G) sum_i adv_i s(a_i)`` for the advantages ``adv`` of the group ``acts``."""
    G = len(acts)
    g = zeros(K)
    for i in range(G):
        g = axpy(adv[i] * QQ(1, G), score(acts[i]), g)
    return g


def rloo_adv(acts):
    G = len(acts)
    return [R[acts[i]] - sum(R[acts[j]] for j in range(G) if j != i) * QQ(1, G - 1) for i in range(G)]


def group_mean_adv(acts):
    G = len(acts)
    mean = sum(R[a] for a in acts) * QQ(1, G)
    return [R[a] - mean for a in acts]


def constant_adv(acts):
    return [R[a] - b for a in acts]


def moments(G, adv_fn, covariance=True):
    """Exact mean and (optionally) covariance by enumeration of the ``K^G`` ordered groups."""
    outcomes = [(p, estimate(acts, adv_fn(acts))) for acts, p in groups(G)]
    mean = zeros(K)
    for p, g in outcomes:
        mean = axpy(p, g, mean)
    if not covariance:
        return mean, None
    cov = axpy(-1, outer(mean, mean), zeros(K, K))
    for p, g in outcomes:
        cov = axpy(p, outer(g, g), cov)
    return mean, cov


def scatter(c):
    """``S(c) = sum_a pi_a c_a s_a s_a^T``."""
    S = zeros(K, K)
    for a in range(K):
        S = axpy(PI[a] * c[a], outer(score(a), score(a)), S)
    return S


def rloo_covariance(G):
    gg = outer(GRAD, GRAD)
    centred = scatter([(R[a] - RBAR) ** 2 for a in range(K)])
    sigma1 = axpy(QQ(-1, 4), gg, [[x * QQ(1, 4) for x in row] for row in centred])
    D = [[(R[x] - R[y]) ** 2 for y in range(K)] for x in range(K)]
    Dpi = [sum(D[x][y] * PI[y] for y in range(K)) for x in range(K)]
    half = [[(int(x == y) * PI[x] * Dpi[x] - PI[x] * PI[y] * D[x][y]) * QQ(1, 2) for y in range(K)] for x in range(K)]
    sigma2 = axpy(-1, gg, half)
    return axpy(QQ(2, G * (G - 1)), sigma2, axpy(QQ(4 * (G - 2), G * (G - 1)), sigma1, zeros(K, K)))


def test_softmax_score_and_gradient():
    """With ``pi = z / sum z`` and ``z = exp(theta)``: ``d/d theta_c = z_c d/d z_c``."""
    z = sp.symbols("z0:3", positive=True)
    r = sp.symbols("r0:3", real=True)
    pi = [z[a] / sum(z) for a in range(K)]
    for a in range(K):
        for c in range(K):
            d = z[c] * sp.diff(sp.log(pi[a]), z[c])
            assert sp.cancel(d - (int(a == c) - pi[c])) == 0
    J = sum(pi[a] * r[a] for a in range(K))
    for c in range(K):
        assert sp.cancel(z[c] * sp.diff(J, z[c]) - pi[c] * (r[c] - J)) == 0
    # the gradient is the score-weighted reward, and the score has zero mean
    weighted = zeros(K)
    for a in range(K):
        weighted = axpy(PI[a] * R[a], score(a), weighted)
    assert is_zero(axpy(-1, GRAD, weighted))
    assert is_zero([sum(PI[a] * score(a)[c] for a in range(K)) for c in range(K)])


def test_any_leave_one_out_baseline_is_unbiased():
    """``b_i = B(a_j, a_k)`` with ``B`` an arbitrary table (9 free symbols): ``E g_hat = grad J`` (G = 3)."""
    G = 3

    def adv(acts):
        return [R[acts[i]] - B[tuple(acts[j] for j in range(G) if j != i)] for i in range(G)]

    mean, _ = moments(G, adv, covariance=False)
    assert is_zero(axpy(-1, GRAD, mean))


def test_rloo_unbiased_for_every_group_size():
    """Linearity: diagonal terms give grad J, the cross terms vanish since E[R(a') s(a)] = E R * E s = 0."""
    cross = zeros(K)
    for a, a2 in itertools.product(range(K), repeat=2):
        cross = axpy(PI[a] * PI[a2] * R[a2], score(a), cross)
    assert is_zero(cross)
    diagonal = zeros(K)
    for a in range(K):
        diagonal = axpy(PI[a] * R[a], score(a), diagonal)
    # E g_hat = (1/G) G diagonal - (1/(G(G-1))) G(G-1) cross, for symbolic G
    G = sp.Symbol("G", integer=True, positive=True)
    for c in range(K):
        mean = (G * diagonal[c].as_expr()) / G - (G * (G - 1) * cross[c].as_expr()) / (G * (G - 1))
        assert sp.expand(mean - GRAD[c].as_expr()) == 0


def test_group_mean_is_scaled_leave_one_out():
    """``R_i - (R_i + S)/G = ((G-1)/G)(R_i - S/(G-1))`` with ``S = sum_{j != i} R_j``, symbolic G."""
    G = sp.Symbol("G", integer=True, positive=True)
    Ri, S = sp.symbols("R_i S", real=True)
    lhs = Ri - (Ri + S) / G
    rhs = (G - 1) / G * (Ri - S / (G - 1))
    assert sp.cancel(lhs - rhs) == 0


def test_enumerated_means_and_covariances_small_groups():
    """From the definitions, G = 2, 3, 4: the means and the closed-form covariances."""
    gg = outer(GRAD, GRAD)
    for G in (2, 3, 4):
        f = QQ(G - 1, G)
        mean, cov = moments(G, rloo_adv)
        assert is_zero(axpy(-1, GRAD, mean)), G
        assert is_zero(axpy(-1, rloo_covariance(G), cov)), G
        mean, cov = moments(G, group_mean_adv)
        assert is_zero(axpy(-f, GRAD, mean)), G
        assert is_zero(axpy(-f * f, rloo_covariance(G), cov)), G
        mean, cov = moments(G, constant_adv)
        assert is_zero(axpy(-1, GRAD, mean)), G
        closed = axpy(-1, gg, scatter([(R[a] - b) ** 2 for a in range(K)]))
        assert is_zero(axpy(-QQ(1, G), closed, cov)), G


# --------------------------------------------------------------------------- GRPO with binary rewards
# square roots and the symbol std_eps leave the polynomial ring: plain sympy expressions here
_q0, _q1 = sp.symbols("pi0 pi1", positive=True)
PI_E = (_q0, _q1, 1 - _q0 - _q1)
STD_EPS = sp.Symbol("epsilon", positive=True)
G_GRPO = 3


def grpo_adv(rewards, ddof, eps):
    """``(R_i - mean_j R_j) / (std_j R_j + eps)`` with ``std`` of ``ddof`` degrees of freedom."""
    G = len(rewards)
    mean = sp.Add(*rewards) / G
    centred = [x - mean for x in rewards]
    sd = sp.sqrt(sp.Add(*[x**2 for x in centred]) / (G - ddof))
    return [x / (sd + eps) for x in centred]


def grpo_mean(rewards_per_arm, ddof, eps):
    """``E g_hat`` of GRPO by enumeration of the ``K^G`` ordered groups."""
    mean = [sp.Integer(0)] * K
    for acts in itertools.product(range(K), repeat=G_GRPO):
        prob = sp.Mul(*[PI_E[a] for a in acts])
        A = grpo_adv([rewards_per_arm[a] for a in acts], ddof, eps)
        for i, a in enumerate(acts):
            for c in range(K):
                mean[c] += prob * A[i] * (int(a == c) - PI_E[c]) / G_GRPO
    return mean


def grpo_binary_factor(p, ddof, eps):
    """``c = E_k[A(1; k+1) - A(0; k)]`` with ``k ~ Bin(G-1, p)`` and its terms."""
    G = G_GRPO

    def A(r_i, m):
        sd = sp.sqrt(sp.Rational(m * (G - m), G * (G - ddof)))
        return (r_i - sp.Rational(m, G)) / (sd + eps)

    terms = [A(1, k + 1) - A(0, k) for k in range(G)]
    c = sp.Add(*[sp.binomial(G - 1, k) * p**k * (1 - p) ** (G - 1 - k) * terms[k] for k in range(G)])
    return c, terms


def exact_gradient(rewards_per_arm):
    rbar = sp.Add(*[PI_E[a] * rewards_per_arm[a] for a in range(K)])
    return [PI_E[a] * (rewards_per_arm[a] - rbar) for a in range(K)]


def test_grpo_binary_rewards_rescale_the_gradient():
    for S in ((0,), (0, 1)):
        rewards = [sp.Integer(int(a in S)) for a in range(K)]
        grad = exact_gradient(rewards)
        p = sp.Add(*[PI_E[a] for a in S])
        for ddof in (0, 1):
            mean = grpo_mean(rewards, ddof, STD_EPS)
            c, terms = grpo_binary_factor(p, ddof, STD_EPS)
            for x in range(K):
                assert sp.simplify(sp.expand(mean[x] - c * grad[x])) == 0, (S, ddof, x)
            # every term of c is positive, so c > 0 for 0 < p < 1
            assert all(t.is_positive for t in terms), (S, ddof, terms)


def test_grpo_non_binary_rewards_bias_the_direction():
    rewards = [sp.Integer(0), sp.Rational(1, 2), sp.Integer(1)]
    point = {_q0: sp.Rational(1, 2), _q1: sp.Rational(1, 3)}
    eps = sp.Rational(1, 10**6)
    mean = [x.subs(point) for x in grpo_mean(rewards, 1, eps)]
    grad = [x.subs(point) for x in exact_gradient(rewards)]
    cross = [sp.N(mean[x] * grad[y] - mean[y] * grad[x], DIGITS) for x in range(K) for y in range(x + 1, K)]
    assert max(abs(v) for v in cross) > SEPARATION


def test_polopt_moments_match_symbolic():
    from polopt.exact.estimators import estimator_moments

    pi = np.array([0.5, 0.3, 0.2])
    r = np.array([1.0, -0.5, 2.0])
    point = {"pi0": QQ(1, 2), "pi1": QQ(3, 10), "R0": 1, "R1": QQ(-1, 2), "R2": 2}

    def at(x):
        return float(sp.sympify(x.as_expr()).subs({sp.Symbol(k): v for k, v in point.items()}))

    grad = np.array([at(x) for x in GRAD])
    for G in (2, 3):
        cov = np.array([[at(x) for x in row] for row in rloo_covariance(G)])
        f = (G - 1) / G
        for method in ("closed_form", "enumerate"):
            m = estimator_moments(pi, r, "rloo", G, method=method)
            np.testing.assert_allclose(m.mean, grad, atol=NUMERIC_TOL)
            np.testing.assert_allclose(m.covariance, cov, atol=NUMERIC_TOL)
            m = estimator_moments(pi, r, "dr_grpo", G, method=method)
            np.testing.assert_allclose(m.mean, f * grad, atol=NUMERIC_TOL)
            np.testing.assert_allclose(m.covariance, f * f * cov, atol=NUMERIC_TOL)
        # OBLR-PO's gradient-weighted leave-one-out baseline is a function of the other samples (claim 2)
        m = estimator_moments(pi, r, "oblr", G, method="enumerate")
        np.testing.assert_allclose(m.mean, grad, atol=NUMERIC_TOL)
    # GRPO with binary rewards on S = {0, 1}: E g_hat = c grad J (claim 6)
    rb = np.array([1.0, 1.0, 0.0])
    grad_b = pi * (rb - pi @ rb)
    for ddof in (0, 1):
        c, _ = grpo_binary_factor(sp.Rational(4, 5), ddof, sp.Rational(1, 10**6))
        m = estimator_moments(pi, rb, "grpo", G_GRPO, std_eps=1e-6, ddof=ddof, method="enumerate")
        np.testing.assert_allclose(m.mean, float(c) * grad_b, atol=NUMERIC_TOL)

"""Exact moments of the estimators: enumeration vs multisets vs closed forms, Monte Carlo, and the claims."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import polopt as po
from polopt.exact import estimators as ex
from polopt.rules import estimators as rx
from polopt.testing.strategies import SETTINGS, simplex
from polopt.testing.tolerances import ABS_SLACK, EXACT_F64, IDENTITY_F64, RATE_SLACK
from polopt.theory.llm_estimators import MOMENT_TOL, PARALLEL_TOL

#: z-score for Monte Carlo vs exact: with fixed seeds and <= 100 coordinates checked per test, a
#: 5-standard-error excursion has probability < 1e-4 overall.
Z = 5.0
#: Central-difference step and tolerance for the Hessian (error O(h^2) + O(eps/h) ~ 1e-9).
FD_STEP = 1e-5
FD_TOL = 1e-7
#: The k3 and binary findings are qualitative: a cosine below 1 - this is "not parallel".
NOT_PARALLEL = 1e-3

_REWARD = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def instances(draw, max_k=4):
    K = draw(st.integers(2, max_k))
    pi = draw(simplex(K))
    r = np.array(draw(st.lists(_REWARD, min_size=K, max_size=K)))
    G = draw(st.integers(2, 3))
    return pi, r, G


@SETTINGS
@given(instances())
def test_enumeration_multiset_and_closed_form_agree(inst):
    pi, r, G = inst
    for est in ex.ESTIMATORS:
        full = ex.estimator_moments(pi, r, est, G, method="enumerate", baseline=0.2)
        ms = ex.estimator_moments(pi, r, est, G, method="multiset", baseline=0.2)
        np.testing.assert_allclose(ms.mean, full.mean, atol=MOMENT_TOL)
        np.testing.assert_allclose(ms.covariance, full.covariance, atol=MOMENT_TOL)
        if est in ("reinforce", "remax", "rloo", "dr_grpo"):
            cf = ex.estimator_moments(pi, r, est, G, method="closed_form", baseline=0.2)
            np.testing.assert_allclose(cf.mean, full.mean, atol=MOMENT_TOL)
            np.testing.assert_allclose(cf.covariance, full.covariance, atol=MOMENT_TOL)


@SETTINGS
@given(instances(), st.floats(0.05, 2.0))
def test_unbiasedness_and_group_mean_scaling(inst, beta):
    """reinforce / remax / rloo / oblr unbiased (also for the KL-shaped reward); dr_grpo = (G-1)/G grad J."""
    pi, r, G = inst
    for b in (0.0, beta):
        for est in ("reinforce", "remax", "rloo", "oblr"):
            m = ex.estimator_moments(pi, r, est, G, beta=b, method="multiset", baseline=-0.3)
            np.testing.assert_allclose(m.bias, 0.0, atol=MOMENT_TOL)
        m = ex.estimator_moments(pi, r, "dr_grpo", G, beta=b, method="multiset")
        np.testing.assert_allclose(m.mean, (G - 1) / G * m.gradient, atol=MOMENT_TOL)
        # grpo without the std (ddof irrelevant) is dr_grpo in a bandit: same law exactly
    np.testing.assert_allclose(ex.estimator_moments(pi, r, "rloo", G).covariance * ((G - 1) / G) ** 2,
                               ex.estimator_moments(pi, r, "dr_grpo", G).covariance, atol=MOMENT_TOL)


@pytest.mark.parametrize("estimator", ex.ESTIMATORS)
def test_monte_carlo_agrees_with_exact_moments(estimator):
    """Sampled mean within Z standard errors of the exact mean; sampled tr Cov within Z of its standard error."""
    rng = np.random.default_rng(0)
    pi, r = rng.dirichlet(np.ones(4)), rng.normal(size=4)
    G, N = 3, 200_000
    m = ex.estimator_moments(pi, r, estimator, G, baseline=0.3, method="multiset")
    g = rx.sample_gradients(1, pi, r, estimator, G, N, baseline=0.3).grads
    se = np.sqrt(np.diag(m.covariance) / N)
    assert np.all(np.abs(g.mean(0) - m.mean) <= Z * se + IDENTITY_F64)
    sq = np.sum((g - m.mean) ** 2, axis=1)  # unbiased for tr Cov; its standard error from the sample
    assert abs(sq.mean() - m.variance) <= Z * sq.std() / np.sqrt(N)


def test_monte_carlo_contextual_and_kl_loss():
    rng = np.random.default_rng(1)
    bandit = po.ContextualBandit(rng.normal(size=(3, 4)), contexts=[0.5, 0.3, 0.2], beta=0.4)
    pi = rng.dirichlet(np.ones(4), size=3)
    m = ex.contextual_estimator_moments(bandit, pi, "grpo", 3, kl="k3")
    coef = -0.4 * rx.kl_loss_coefficient(np.log(pi), np.log(bandit.mu), "k3")
    N = 200_000
    s = rx.sample_gradients(2, pi, bandit.r, "grpo", 3, N, contexts=bandit.rho, loss_coef=coef)
    scattered = np.zeros((N, 3, 4))
    scattered[np.arange(N), s.contexts] = s.grads
    se = np.sqrt(np.diag(m.covariance) / N).reshape(3, 4)
    assert np.all(np.abs(scattered.mean(0) - m.mean) <= Z * se + IDENTITY_F64)
    mean = rx.sample_gradients(2, pi, bandit.r, "grpo", 3, N, contexts=bandit.rho, loss_coef=coef, reduce="mean")
    np.testing.assert_allclose(mean.grads, scattered.mean(0), atol=IDENTITY_F64)


@SETTINGS
@given(instances(max_k=5), st.floats(0.05, 1.0))
def test_k1_k3_in_the_loss_are_biased_for_the_regularized_gradient(inst, beta):
    """Derived: k1 in the loss adds nothing in expectation; k3 adds -beta (pi - mu) = -beta grad KL(mu||pi)."""
    pi, r, G = inst
    mu = np.full(pi.size, 1.0 / pi.size)
    plain = ex.softmax_gradient(pi, r)
    m1 = ex.estimator_moments(pi, r, "rloo", G, beta=beta, kl="k1")
    m3 = ex.estimator_moments(pi, r, "rloo", G, beta=beta, kl="k3")
    np.testing.assert_allclose(m1.mean, plain, atol=MOMENT_TOL)
    np.testing.assert_allclose(m3.mean, plain - beta * (pi - mu), atol=MOMENT_TOL)


@SETTINGS
@given(instances(max_k=5))
def test_optimal_constant_baseline(inst):
    """b* minimizes tr Cov among constants (grid and derivative), and equals the rules' formula."""
    pi, r, G = inst
    b = ex.optimal_constant_baseline(pi, r)
    assert abs(b - float(rx.optimal_baseline(pi, r))) <= IDENTITY_F64 * 10
    grid = np.linspace(r.min() - 1, r.max() + 1, 201)
    v = ex.baseline_variance(pi, r, grid, G)
    vb = float(ex.baseline_variance(pi, r, b, G))
    assert vb <= v.min() * (1 + RATE_SLACK) + ABS_SLACK
    cf = ex.estimator_moments(pi, r, "reinforce", G, baseline=b)
    assert abs(cf.variance - vb) <= MOMENT_TOL


@SETTINGS
@given(instances(max_k=4), st.sampled_from(["reinforce", "rloo", "oblr"]))
def test_snr_step_ascent_in_expectation(inst, estimator):
    """E J(theta + eta* g) >= J + eta* ||grad J||^2 / 2 exactly (enumeration) with L = (5/2) span(r)."""
    pi, r, G = inst
    L = ex.softmax_smoothness(r)
    if L == 0.0:
        return
    m = ex.estimator_moments(pi, r, estimator, G, method="multiset")
    g2 = float(m.gradient @ m.gradient)
    eta = float(rx.snr_step_size(g2, m.variance, L))
    after = ex.expected_objective_after_step(pi, r, estimator, G, eta)
    assert after - float(pi @ r) >= eta * g2 / 2 - ABS_SLACK


def test_snr_ascent_with_two_groups():
    pi, r = np.array([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 0.3])
    L = ex.softmax_smoothness(r)
    m = ex.estimator_moments(pi, r, "rloo", 2)
    g2 = float(m.gradient @ m.gradient)
    eta = float(rx.snr_step_size(g2, m.variance / 2, L))
    after = ex.expected_objective_after_step(pi, r, "rloo", 2, eta, num_groups=2)
    assert after - float(pi @ r) >= eta * g2 / 2


@SETTINGS
@given(simplex(4), st.lists(st.sampled_from([0.0, 1.0]), min_size=4, max_size=4), st.integers(2, 4))
def test_grpo_binary_rewards_keep_the_direction(pi, r, G):
    """Derived: with 0/1 rewards GRPO's std normalization rescales grad J by c > 0 (direction unbiased)."""
    r = np.array(r)
    m = ex.estimator_moments(pi, r, "grpo", G)
    gn = np.linalg.norm(m.gradient)
    if gn <= EXACT_F64:
        return
    cos = float(m.mean @ m.gradient) / (gn * np.linalg.norm(m.mean))
    assert 1.0 - cos <= PARALLEL_TOL


def test_grpo_std_normalization_biases_the_direction():
    """Finding kept as a counterexample: with three reward levels E g_grpo is not parallel to grad J."""
    pi, r = np.array([0.5, 0.3, 0.2]), np.array([0.0, 0.2, 1.0])
    m = ex.estimator_moments(pi, r, "grpo", 3)
    cos = float(m.mean @ m.gradient) / (np.linalg.norm(m.mean) * np.linalg.norm(m.gradient))
    assert 1.0 - cos > NOT_PARALLEL
    assert np.linalg.norm(m.bias) > NOT_PARALLEL


@SETTINGS
@given(simplex(4), st.lists(_REWARD, min_size=4, max_size=4))
def test_hessian_and_recalled_smoothness(pi, r):
    r = np.array(r)
    H = ex.objective_hessian(pi, r)
    theta = np.log(pi)

    def grad(th):
        p = np.exp(th - th.max())
        p /= p.sum()
        return rx.policy_gradient(p, r)

    fd = np.array([(grad(theta + FD_STEP * e) - grad(theta - FD_STEP * e)) / (2 * FD_STEP) for e in np.eye(4)])
    np.testing.assert_allclose(H, fd.T, atol=FD_TOL)
    lam = np.max(np.abs(np.linalg.eigvalsh(H)))
    assert lam <= ex.softmax_smoothness(r) * (1 + RATE_SLACK) + ABS_SLACK


def test_contextual_moments_are_rho_weighted():
    bandit = po.ContextualBandit(np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.2]]), contexts=[0.25, 0.75])
    pi = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    m = ex.contextual_estimator_moments(bandit, pi, "rloo", 2)
    for x in range(2):
        mx = ex.estimator_moments(pi[x], bandit.r[x], "rloo", 2)
        np.testing.assert_allclose(m.mean[x], bandit.rho[x] * mx.mean, atol=IDENTITY_F64)
    assert m.covariance.shape == (6, 6)
    np.testing.assert_allclose(m.covariance, m.covariance.T, atol=IDENTITY_F64)


def test_bad_input():
    pi, r = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    with pytest.raises(ValueError, match="group_size must be >= 2 for the rloo"):
        ex.estimator_moments(pi, r, "rloo", 1)
    with pytest.raises(ValueError, match="no closed form for 'grpo'"):
        ex.estimator_moments(pi, r, "grpo", 2, method="closed_form")
    with pytest.raises(ValueError, match="exceeds the work limit"):
        ex.estimator_moments(np.full(30, 1 / 30), np.zeros(30), "grpo", 9, method="enumerate")
    with pytest.raises(ValueError, match=r"pi\[1\] is 0"):
        ex.estimator_moments(np.array([1.0, 0.0]), r, "rloo", 2, beta=0.1)
    with pytest.raises(ValueError, match="beta must lie in"):
        ex.estimator_moments(pi, r, "rloo", 2, beta=-1.0)
    with pytest.raises(ValueError, match=r"pi\[0, :\] sums to|pi sums to"):
        ex.estimator_moments(np.array([0.5, 0.6]), r, "rloo", 2)
    with pytest.raises(ValueError, match="r must have shape"):
        ex.estimator_moments(pi, np.zeros(3), "rloo", 2)
    with pytest.raises(ValueError, match="estimator must be one of"):
        ex.estimator_moments(pi, r, "ppo", 2)


def test_moments_stay_finite_when_a_rare_outcome_has_a_huge_estimate():
    # GRPO's in-loss k3 coefficient -beta (1 - mu/pi) is ~1e294 at pi(a) = 1e-300, mu(a) ~ 1, beta = 1e-6: an
    # outcome of probability ~1e-300 then has p_o ||dev_o||^2 ~ 1e288 (representable) but ||dev_o||^2 overflows
    from scipy.special import logsumexp

    pi = np.array([1.0, 1e-300, 1e-300])
    mu = np.array([1e-300, 1.0, 1e-300])
    r = np.array([0.2, 0.5, 0.9])
    coef = -1e-6 * rx.kl_loss_coefficient(np.log(pi), np.log(mu), "k3")
    with np.errstate(over="raise", invalid="raise"):
        mean, tc = ex.group_moments(pi, r, "grpo", 2, loss_coef=coef)
    assert np.all(np.isfinite(mean)) and 1e280 < tc < np.inf
    # the same sum sum_{o, k} p_o dev_ok^2 in log space (the outcomes and estimates as the oracle builds them)
    acts, prob = ex._outcomes(pi, 2, "multiset")
    dev = ex._estimates(pi, r, coef, acts, "grpo", 0.0, rx.STD_EPS, 1) - mean
    keep = (dev != 0) & (prob[:, None] > 0)
    log_tc = logsumexp(np.log(np.broadcast_to(prob[:, None], dev.shape)[keep]) + 2.0 * np.log(np.abs(dev[keep])))
    # two float64 evaluations of one short sum; exp of a log ~660 known to ~1e-13 adds ~1e-13 relative
    np.testing.assert_allclose(tc, np.exp(log_tc), rtol=IDENTITY_F64)

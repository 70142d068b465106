"""Sampled estimators of polopt.rules.estimators: kernels against the NumPy reference, identities, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polopt.oracles import bandit as bandit_oracles
from polopt.rules import estimators as rx
from polopt.rules._core import log_normalize
from polopt.testing.strategies import SETTINGS, simplex
from polopt.testing.tolerances import BACKEND, IDENTITY_F64

#: Central differences with step 1e-6 on a smooth piece: error O(h^2 |f'''|) + O(eps/h) ~ 1e-9.
FD_STEP = 1e-6
FD_TOL = 1e-7
#: z-score for Monte Carlo checks: a fixed-seed draw beyond 5 standard errors has probability < 1e-6.
Z = 5.0


def _instance(K=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(K)), rng.normal(size=K)


@pytest.mark.parametrize("estimator", rx.ESTIMATORS)
@pytest.mark.parametrize("reduce", ["none", "mean"])
def test_numba_kernel_matches_numpy_reference(estimator, reduce):
    pi, r = _instance()
    coef = np.linspace(-0.2, 0.3, pi.size)
    kw = dict(baseline=0.4, loss_coef=coef, reduce=reduce)
    a = rx.sample_gradients(3, pi, r, estimator, 4, 3000, backend="numba", **kw)
    b = rx.sample_gradients(3, pi, r, estimator, 4, 3000, backend="numpy", **kw)
    np.testing.assert_allclose(a.grads, b.grads, rtol=0, atol=IDENTITY_F64)
    np.testing.assert_allclose(a.sq_norms, b.sq_norms, rtol=IDENTITY_F64 * 100, atol=0)


@pytest.mark.parametrize("reduce", ["none", "mean"])
def test_contextual_kernel_matches_reference_and_parallel_path(reduce, monkeypatch):
    rng = np.random.default_rng(1)
    pi, r, rho = rng.dirichlet(np.ones(5), size=3), rng.normal(size=(3, 5)), np.array([0.2, 0.5, 0.3])
    a = rx.sample_gradients(4, pi, r, "oblr", 3, 5000, contexts=rho, reduce=reduce)
    b = rx.sample_gradients(4, pi, r, "oblr", 3, 5000, contexts=rho, reduce=reduce, backend="numpy")
    monkeypatch.setattr(bandit_oracles, "PARALLEL_MIN_GROUPS", 1)
    c = rx.sample_gradients(4, pi, r, "oblr", 3, 5000, contexts=rho, reduce=reduce)
    np.testing.assert_allclose(a.grads, b.grads, rtol=0, atol=IDENTITY_F64)
    np.testing.assert_allclose(c.grads, a.grads, rtol=0, atol=IDENTITY_F64)
    np.testing.assert_array_equal(a.contexts, b.contexts)


def test_alias_sampler_frequencies():
    """Arm counts of 4e5 draws lie within Z binomial standard errors of N pi (pi with a tiny and a large arm)."""
    pi = np.array([1e-3, 0.5, 0.2, 0.199, 0.1])
    prob, alias = rx.alias_tables(pi[None, :])
    N = 400_000
    u = np.random.default_rng(0).random((N, 1))
    a = rx.alias_draw(prob, alias, np.zeros(N, dtype=np.int64), u)
    counts = np.bincount(a.ravel(), minlength=pi.size)
    assert np.all(np.abs(counts - N * pi) <= Z * np.sqrt(N * pi * (1 - pi)))


def test_alias_tables_reconstruct_pi():
    """Column j carries prob[j]/K for j and (1 - prob[j])/K for alias[j]: the masses add up to pi exactly."""
    pi = np.random.default_rng(2).dirichlet(np.ones(9) * 0.3, size=4)
    prob, alias = rx.alias_tables(pi)
    K = pi.shape[1]
    mass = np.zeros_like(pi)
    for x in range(pi.shape[0]):
        np.add.at(mass[x], np.arange(K), prob[x] / K)
        np.add.at(mass[x], alias[x], (1 - prob[x]) / K)
    np.testing.assert_allclose(mass, pi, rtol=0, atol=IDENTITY_F64)


@SETTINGS
@given(st.integers(2, 6), st.integers(0, 10**6))
def test_advantages_match_definitions(G, seed):
    """RLOO, group mean, GRPO and the weighted LOO baseline against explicit loops over the group."""
    rng = np.random.default_rng(seed)
    R, w = rng.normal(size=(3, G)), rng.random((3, G)) + 0.1
    loo = np.array([[R[n, i] - np.mean(np.delete(R[n], i)) for i in range(G)] for n in range(3)])
    wloo = np.array([[R[n, i] - np.sum(np.delete(w[n] * R[n], i)) / np.sum(np.delete(w[n], i)) for i in range(G)]
                     for n in range(3)])
    np.testing.assert_allclose(rx.advantages(R, "rloo"), loo, atol=IDENTITY_F64)
    np.testing.assert_allclose(rx.advantages(R, "dr_grpo"), (G - 1) / G * loo, atol=IDENTITY_F64)
    np.testing.assert_allclose(rx.advantages(R, "oblr", weights=w), wloo, atol=IDENTITY_F64)
    std = R.std(axis=1, ddof=1, keepdims=True)
    np.testing.assert_allclose(rx.advantages(R, "grpo", std_eps=0.0), (R - R.mean(1, keepdims=True)) / std,
                               atol=IDENTITY_F64 * 1e3)


def test_grpo_equal_rewards_give_zero_advantage():
    assert np.all(rx.advantages(np.full((2, 4), 0.7), "grpo") == 0.0)


@SETTINGS
@given(simplex(5), st.integers(0, 10**6))
def test_estimates_are_orthogonal_to_ones(pi, seed):
    """Every estimate lies in the tangent space of the softmax (sum_k g_k = 0): e_a - pi sums to 0."""
    r = np.random.default_rng(seed).normal(size=5)
    for est in rx.ESTIMATORS:
        g = rx.sample_gradients(seed, pi, r, est, 3, 50).grads
        assert np.max(np.abs(g.sum(axis=1))) <= IDENTITY_F64


def test_remax_uses_greedy_arm_reward():
    pi, r = np.array([0.1, 0.6, 0.3]), np.array([1.0, -2.0, 0.5])
    assert rx.greedy_baseline(pi, r) == -2.0
    acts = np.array([[0, 2, 1]])
    np.testing.assert_allclose(rx.group_gradient(pi, r, acts, "remax"),
                               rx.group_gradient(pi, r, acts, "reinforce", baseline=-2.0), atol=0)


def test_kl_estimators_and_loss_coefficients_in_expectation():
    """E_{a~pi} k1 = E k3 = KL(pi||mu); E[dk (e_a - pi)] = 0 (k1) and pi - mu (k3), summed over all arms."""
    pi, _ = _instance(5, 3)
    mu = np.random.default_rng(4).dirichlet(np.ones(5))
    lp, lm = np.log(pi), np.log(mu)
    arms = np.arange(5)[None, :]
    kl = float(np.sum(pi * (lp - lm)))
    for kind in rx.KL_ESTIMATORS:
        assert abs(float(pi @ rx.kl_estimate(lp, lm, arms, kind)[0]) - kl) <= IDENTITY_F64
    score = np.eye(5) - pi
    np.testing.assert_allclose(pi @ (rx.kl_loss_coefficient(lp, lm, "k1")[:, None] * score), 0.0, atol=IDENTITY_F64)
    np.testing.assert_allclose(pi @ (rx.kl_loss_coefficient(lp, lm, "k3")[:, None] * score), pi - mu, atol=IDENTITY_F64)
    assert np.all(rx.kl_estimate(lp, lm, arms, "k3") >= 0.0)


@pytest.mark.parametrize("kl", [None, "k1", "k3"])
def test_clipped_surrogate_gradient_matches_finite_differences(kl):
    rng = np.random.default_rng(5)
    K, G = 5, 6
    theta = rng.normal(size=K)
    log_old = log_normalize(theta + rng.normal(scale=0.3, size=K))
    log_mu = np.log(rng.dirichlet(np.ones(K)))
    acts = rng.integers(0, K, size=(1, G))
    adv = rng.normal(size=(1, G))
    kw = dict(beta=0.3, log_mu=log_mu, kl=kl)

    def f(th):
        return float(rx.clipped_surrogate(log_normalize(th), log_old, acts, adv, 0.2, **kw)[0])

    g = rx.clipped_surrogate_gradient(log_normalize(theta), log_old, acts, adv, 0.2, **kw)[0]
    fd = np.array([(f(theta + FD_STEP * e) - f(theta - FD_STEP * e)) / (2 * FD_STEP) for e in np.eye(K)])
    np.testing.assert_allclose(g, fd, atol=FD_TOL)


def test_clipped_gradient_at_old_policy_is_the_group_gradient():
    pi, r = _instance(5, 6)
    mu = np.full(5, 0.2)
    acts = np.random.default_rng(7).integers(0, 5, size=(4, 3))
    adv = rx.advantages(r[acts], "grpo")
    lp = np.log(pi)
    coef = -0.5 * rx.kl_loss_coefficient(lp, np.log(mu), "k3")
    clipped = rx.clipped_surrogate_gradient(lp, lp, acts, adv, 0.2, beta=0.5, log_mu=np.log(mu), kl="k3")
    np.testing.assert_allclose(clipped, rx.group_gradient(pi, r, acts, "grpo", loss_coef=coef), atol=IDENTITY_F64)


def test_clipping_zeroes_favourable_ratios_beyond_the_band():
    lp_old = np.log(np.array([0.25, 0.25, 0.5]))
    lp = np.log(np.array([0.5, 0.1, 0.4]))  # ratio 2 on arm 0, 0.4 on arm 1
    acts = np.array([[0, 1]])
    assert np.all(rx.clipped_surrogate_gradient(lp, lp_old, acts, np.array([[1.0, -1.0]]), 0.2) == 0.0)
    assert np.any(rx.clipped_surrogate_gradient(lp, lp_old, acts, np.array([[-1.0, 1.0]]), 0.2) != 0.0)


def test_snr_estimates_and_step():
    g = np.random.default_rng(8).normal(size=(7, 4))
    est = rx.estimate_snr(g)
    tc = np.trace(np.cov(g.T)) / 7
    assert abs(float(est.trace_cov) - tc) <= IDENTITY_F64
    assert abs(float(est.grad_sq) - max(float(g.mean(0) @ g.mean(0)) - tc, 0.0)) <= IDENTITY_F64
    mean = g.mean(0)
    assert abs(rx.trace_cov_from_sums(mean, float(np.sum(g * g)), 7) - 7 * tc) <= IDENTITY_F64 * 10
    assert float(rx.snr_step_size(1.0, 3.0, 2.0)) == 1.0 / 8.0
    assert float(rx.snr_step_size(0.0, 0.0, 2.0)) == 0.0


def test_optimal_baseline_minimises_the_quadratic():
    pi, r = _instance(6, 9)
    b = float(rx.optimal_baseline(pi, r))
    w = np.sum((np.eye(6) - pi) ** 2, axis=1)

    def var(c):
        return float(pi @ (w * (r - c) ** 2))

    assert var(b) <= min(var(b - 1e-3), var(b + 1e-3))
    assert float(rx.optimal_baseline(np.eye(3)[1], np.array([1.0, 2.0, 3.0]))) == 2.0


def test_jax_backend_agrees():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    pi, r = _instance(5, 10)
    acts = np.random.default_rng(11).integers(0, 5, size=(3, 4))
    lp_old = np.log(pi)
    lp = log_normalize(lp_old + 0.2)
    adv = rx.advantages(r[acts], "grpo")

    def everything(p, q, s, lp, lo, ad):
        # one jit (no Python branching on array values anywhere); one compile for every rule
        grads = tuple(rx.group_gradient(p, q, s, e, baseline=0.1) for e in rx.ESTIMATORS)
        return grads + (rx.clipped_surrogate_gradient(lp, lo, s, ad, 0.2, beta=0.1, log_mu=lo, kl="k3"),)

    out = jax.jit(everything)(*map(jnp.asarray, (pi, r, acts, lp, lp_old, adv)))
    for est, b in zip(rx.ESTIMATORS, out, strict=False):
        np.testing.assert_allclose(np.asarray(b), rx.group_gradient(pi, r, acts, est, baseline=0.1), atol=BACKEND)
    a = rx.clipped_surrogate_gradient(lp, lp_old, acts, adv, 0.2, beta=0.1, log_mu=lp_old, kl="k3")
    np.testing.assert_allclose(np.asarray(out[-1]), a, atol=BACKEND)


def test_sampling_kernels_live_in_the_oracles_and_are_re_exported():
    assert rx.sample_gradients is bandit_oracles.sample_gradients
    assert rx.advantages is bandit_oracles.advantages and rx.ESTIMATORS == bandit_oracles.ESTIMATORS


@pytest.mark.parametrize("factory", [rx.reinforce, rx.remax, rx.rloo, rx.grpo, rx.dr_grpo])
@pytest.mark.parametrize("eta", [np.inf, -1.0, 0.0, np.nan])
def test_factories_reject_bad_steps(factory, eta):
    with pytest.raises(ValueError, match="eta"):
        factory(eta=eta)


def test_factory_validation():
    with pytest.raises(ValueError, match="beta must be > 0 where a KL term is used"):
        rx.grpo(kl="k3")
    with pytest.raises(ValueError, match="smoothness"):
        rx.oblr_po(smoothness=np.inf)
    with pytest.raises(TypeError, match="eta is not used with smoothness"):
        rx.estimator_ascent(estimator="oblr", eta=1.0, smoothness=2.0)
    with pytest.raises(ValueError, match="eps must lie in"):
        rx.grpo(eps=1.0)
    with pytest.raises(ValueError, match="estimator must be one of"):
        rx.estimator_ascent(estimator="ppo", eta=1.0)
    rule = rx.rloo(eta=0.5)
    assert rule.name == "rloo" and rule.oracle_calls == 1 and not rule.averages and rule.hparams.eta == 0.5


def test_rule_update_with_exact_and_sampled_oracles():
    """One rule, two oracles: the exact oracle's step is the mean of the sampled ones."""
    from polopt.exact.estimators import group_moments

    r, lm = np.array([[1.0, 0.0, 0.5]]), np.log(np.full((1, 3), 1 / 3))
    rule = rx.rloo(eta=0.3)
    exact = bandit_oracles.BanditOracle(r, lm, np.ones(1), 3, 1, None, group_moments)
    sampled = bandit_oracles.BanditOracle(r, lm, np.ones(1), 3, 20000, np.random.default_rng(0))
    s0 = rule.init(lm, exact)
    d_exact = rule.update(s0, exact).direction
    d_sampled = rule.update(s0, sampled).direction
    np.testing.assert_allclose(d_sampled, d_exact, atol=0.01)
    np.testing.assert_allclose(d_exact, rx.policy_gradient(np.exp(lm), r), atol=IDENTITY_F64)

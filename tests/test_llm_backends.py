"""The LLM estimator and preference-loss rules on ``jax.numpy``: the NumPy oracles hand their outputs
back in the namespace of the policy they are asked about, and one JAX step matches the step derived by
hand (NumPy = JAX over every rule is the common suite's ``check_backends``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import polopt as po
from polopt._methods import llm, llm_losses
from polopt.oracles.bandit import PairOracle
from polopt.rules import estimators as rx
from polopt.rules import preference_losses as pl
from polopt.testing.tolerances import IDENTITY_F64


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _contextual(seed=0):
    rng = np.random.default_rng(seed)
    return po.ContextualBandit(rng.uniform(0.0, 1.0, (2, 3)), contexts=[0.4, 0.6],
                               reference=rng.dirichlet(np.ones(3), size=2), beta=0.1)


def _policy(seed=1):
    return np.random.default_rng(seed).dirichlet(np.ones(3), size=2)


@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_bandit_oracle_answers_in_the_namespace_of_pi(mode):
    bandit, pi = _contextual(), _policy()
    R, coef, base = bandit.r - 0.1, np.full((2, 3), 0.05), np.array([0.2, 0.3])
    kw = dict(baseline=base, loss_coef=coef)
    got = {}
    for ns in (np, jnp):  # the sampled oracle is rebuilt from one seed: both see the same draws
        oracle = llm.make_oracle(bandit, group_size=3, num_samples=2, mode=mode, seed=4)
        got[ns] = oracle.estimate(ns.asarray(pi), ns.asarray(R), "rloo", **{k: ns.asarray(v) for k, v in kw.items()})
    assert type(got[np].mean) is np.ndarray and isinstance(got[jnp].mean, jax.Array)
    # one NumPy computation on the same float64 values (the conversions are exact): equal to the bit
    np.testing.assert_array_equal(np.asarray(got[jnp].mean), got[np].mean)
    assert (got[jnp].grad_sq, got[jnp].trace_cov) == (got[np].grad_sq, got[np].trace_cov)


def test_draw_groups_and_on_policy_pairs_answer_in_the_namespace_of_pi():
    bandit, pi = _contextual(), _policy()
    draws, pairs = {}, {}
    for ns in (np, jnp):
        draws[ns] = llm.make_oracle(bandit, group_size=5, num_samples=7, mode="sampled", seed=9).draw_groups(
            ns.asarray(pi))
        pairs[ns] = llm_losses.make_oracle("p3o", bandit, {"num_pairs": 6}, seed=9).on_policy_pairs(ns.asarray(pi))
    for a, b in zip(draws[jnp], draws[np], strict=True):
        assert isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.integer)
        np.testing.assert_array_equal(np.asarray(a), b)
    assert isinstance(pairs[jnp], jax.Array)
    np.testing.assert_array_equal(np.asarray(pairs[jnp]), pairs[np])


def test_add_rows_accumulates_repeated_rows_on_both_backends():
    target = np.zeros((3, 2))
    rows, values = np.array([0, 2, 0]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    want = np.array([[6.0, 8.0], [0.0, 0.0], [3.0, 4.0]])  # row 0 gets values 0 and 2
    np.testing.assert_array_equal(rx._add_rows(target, rows, values), want)
    assert not target.any()  # the caller's array is not written
    got = rx._add_rows(jnp.asarray(target), jnp.asarray(rows), jnp.asarray(values))
    assert isinstance(got, jax.Array)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_one_exact_rloo_step_on_jax_is_the_policy_gradient_step():
    # RLOO is unbiased: with the exact oracle its direction is grad J = pi (r - pi.r) = [1/4, -1/4] at
    # pi = (1/2, 1/2), r = (1, 0); eta = 1 moves the logit gap to 1/2: pi_0 = sigmoid(1/2)
    bandit = po.Bandit([1.0, 0.0])
    rule = rx.rloo(eta=1.0)
    oracle = llm.make_oracle(bandit, group_size=2)
    oracle = oracle._replace(r=jnp.asarray(oracle.r), log_mu=jnp.asarray(oracle.log_mu), rho=jnp.asarray(oracle.rho))
    state = rule.update(rule.init(jnp.log(jnp.full((1, 2), 0.5)), oracle), oracle)
    assert isinstance(state.log_pi, jax.Array) and isinstance(state.direction, jax.Array)
    np.testing.assert_allclose(np.asarray(state.direction), [[0.25, -0.25]], atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(np.asarray(state.log_pi[0, 0])), 1.0 / (1.0 + np.exp(-0.5)), atol=IDENTITY_F64)


def test_one_dpo_step_on_jax_is_the_hand_derived_step():
    # at theta = log_ref every implicit-reward gap h is 0: L = (W01 + W10) log 2 and, with sigma(0) = 1/2,
    # grad_0 = -grad_1 = -beta (W01 - W10) / 2
    beta, eta = 0.5, 2.0
    W = np.array([[[0.0, 0.7], [0.3, 0.0]]])
    log_ref = np.log(np.array([[0.4, 0.6]]))
    oracle = PairOracle(jnp.asarray(pl.bradley_terry(np.array([[1.0, 0.0]]))), jnp.asarray(log_ref),
                                   jnp.ones(1), W=jnp.asarray(W))
    rule = pl.dpo_descent(eta=eta, beta=beta)
    s0 = rule.init(jnp.asarray(log_ref), oracle)
    g0 = -beta * (0.7 - 0.3) / 2
    assert isinstance(s0.loss, jax.Array) and isinstance(s0.residual, jax.Array)
    np.testing.assert_allclose(float(s0.loss), np.log(2.0), atol=IDENTITY_F64)  # W sums to 1
    np.testing.assert_allclose(np.asarray(s0.grad), [[g0, -g0]], atol=IDENTITY_F64)
    s1 = rule.update(s0, oracle)
    assert isinstance(s1.theta, jax.Array)
    np.testing.assert_allclose(np.asarray(s1.theta), log_ref - eta * np.array([[g0, -g0]]), atol=IDENTITY_F64)

"""KL-regularized Gibbs policies, regularized bandit optima and soft value iteration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import logsumexp, rel_entr

import polopt as po
from polopt.exact.soft import (
    gibbs_policy,
    regularized_bandit_optimum,
    regularized_policy_evaluation,
    soft_bellman_operator,
    soft_policy_iteration,
    soft_value_iteration,
)
from polopt.problems import Bandit, ContextualBandit, TabularMDP, catalogue
from polopt.testing.tolerances import ABS_SLACK, EXACT_F64, IDENTITY_F64, RATE_SLACK, SOLVER_TOL

#: SLSQP on the simplex converges to ~1e-8 in the objective; the Gibbs policy must not lose to it
#: by more than this (it is the exact maximiser, so any loss is the optimiser's inaccuracy).
OPTIMIZER_SLACK = 1e-7
#: gibbs(q, beta) vs its beta -> 0 limit at beta = 1e-3 when the top gap of q is >= 0.05:
#: the other actions keep weight <= exp(-0.05 / 1e-3) ~ 2e-22.
ZERO_LIMIT_TOL = 1e-15
#: Accuracy of the soft-policy-iteration optimum on forest (gamma = 0.9): its linear solves have
#: condition number <= 19 and |v| ~ 30, so ~1e-13; this leaves two orders of margin.
SOFT_PI_ERR = 1e-11

settings_ = settings(derandomize=True, max_examples=25, deadline=None)


def _objective(pi, q, beta, mu):
    return float(np.sum(pi * q) - beta * np.sum(rel_entr(pi, mu)))


def _random_mdp(seed, S, A, gamma=0.9):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S) * 0.5, size=(S, A))
    r = rng.normal(size=(S, A))
    return TabularMDP(P, r, gamma=gamma)


# --------------------------------------------------------------------------- Gibbs
def test_gibbs_closed_form_and_extremes():
    q = np.array([1.0, 2.0, 0.5])
    mu = np.array([0.2, 0.3, 0.5])
    w = mu * np.exp(q / 0.7)
    np.testing.assert_allclose(gibbs_policy(q, 0.7, mu), w / w.sum(), rtol=IDENTITY_F64, atol=0)
    # log domain: finite for huge q / beta, and the max takes all the mass
    big = gibbs_policy(np.array([1e4, 0.0, -1e4]), 1e-3)
    np.testing.assert_allclose(big, [1.0, 0.0, 0.0], rtol=0, atol=IDENTITY_F64)
    # zero reference weight -> zero probability, for every beta
    for beta in (0.0, 0.1, 10.0):
        pi = gibbs_policy(q, beta, np.array([0.5, 0.0, 0.5]))
        assert pi[1] == 0.0 and pi.sum() == pytest.approx(1.0, abs=IDENTITY_F64)
    # beta = 0: ties split evenly (uniform mu), or in proportion to mu
    np.testing.assert_allclose(gibbs_policy(np.array([1.0, 3.0, 3.0]), 0.0), [0, 0.5, 0.5], rtol=0, atol=0)
    tied = gibbs_policy(np.array([1.0, 3.0, 3.0]), 0.0, np.array([0.2, 0.2, 0.6]))
    np.testing.assert_allclose(tied, [0, 0.25, 0.75], rtol=0, atol=IDENTITY_F64)
    # batched: [S, A] with a shared [A] reference
    Q = np.array([[0.0, 1.0], [2.0, -1.0]])
    np.testing.assert_allclose(gibbs_policy(Q, 0.5).sum(axis=1), 1.0, rtol=0, atol=IDENTITY_F64)


def test_gibbs_beta_to_zero_limit():
    q = np.array([0.3, 0.35, 0.1, -2.0])
    np.testing.assert_allclose(gibbs_policy(q, 1e-3), gibbs_policy(q, 0.0), rtol=0, atol=ZERO_LIMIT_TOL)


def test_gibbs_rejects_bad_input():
    with pytest.raises(ValueError, match="beta must lie in"):
        gibbs_policy(np.zeros(3), -1.0)
    with pytest.raises(ValueError, match=r"mu sums to"):
        gibbs_policy(np.zeros(3), 1.0, np.array([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="broadcast"):
        gibbs_policy(np.zeros(3), 1.0, np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"q\[1\] is nan"):
        gibbs_policy(np.array([0.0, np.nan]), 1.0)


@settings_
@given(seed=st.integers(0, 2**31 - 1), K=st.integers(1, 6), beta=st.sampled_from([0.05, 0.3, 1.0, 5.0]))
def test_gibbs_maximizes_regularized_objective(seed, K, beta):
    """Property: E_pi q - beta KL(pi||mu) is maximised by the Gibbs policy, with value beta log E_mu e^{q/beta}."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=K) * 2
    mu = rng.dirichlet(np.ones(K))
    pi = gibbs_policy(q, beta, mu)
    best = _objective(pi, q, beta, mu)
    assert best == pytest.approx(beta * logsumexp(q / beta, b=mu), abs=IDENTITY_F64 * (1 + abs(best)))
    for other in rng.dirichlet(np.ones(K), size=50):
        assert _objective(other, q, beta, mu) <= best + ABS_SLACK
    # an off-the-shelf constrained optimiser does no better
    res = minimize(
        lambda p: -_objective(np.clip(p, 0, None), q, beta, mu),
        np.full(K, 1.0 / K),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * K,
        constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1.0}],
    )
    assert -res.fun <= best + OPTIMIZER_SLACK


# --------------------------------------------------------------------------- bandits
def test_regularized_bandit_optimum():
    bandit = catalogue.bernoulli_bandit(beta=0.0)
    pi, value = regularized_bandit_optimum(bandit)
    assert value == pytest.approx(float(np.max(bandit.r)), abs=IDENTITY_F64)
    np.testing.assert_allclose(pi, np.eye(bandit.num_actions)[np.argmax(bandit.r)], rtol=0, atol=0)

    mu = np.array([0.5, 0.3, 0.2])
    b = Bandit([0.2, 0.5, 0.7], reference=mu, beta=0.25)
    pi, value = regularized_bandit_optimum(b)
    assert value == pytest.approx(_objective(pi, b.r, 0.25, mu), abs=IDENTITY_F64)

    rewards = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    rho = np.array([0.5, 0.25, 0.25])
    cb = ContextualBandit(rewards, contexts=rho, beta=0.4)
    pi, value = regularized_bandit_optimum(cb)
    per_ctx = [_objective(pi[x], rewards[x], 0.4, np.full(2, 0.5)) for x in range(3)]
    assert value == pytest.approx(float(rho @ per_ctx), abs=IDENTITY_F64)
    with pytest.raises(TypeError, match="Bandit"):
        regularized_bandit_optimum(catalogue.forest())


# --------------------------------------------------------------------------- soft VI
def _hard_optimum(mdp):
    """Unregularized v* by plain policy iteration (np.linalg.solve), independent of polopt.exact."""
    S = mdp.num_states
    P = mdp.dense_P()
    sigma = np.zeros(S, dtype=int)
    for _ in range(100):
        Ps = P[np.arange(S), sigma]
        v = np.linalg.solve(np.eye(S) - mdp.gamma * Ps, mdp.r[np.arange(S), sigma])
        q = mdp.r + mdp.gamma * P @ v
        keep = q[np.arange(S), sigma] >= q.max(axis=1) - IDENTITY_F64 * (1 + np.abs(v).max())
        new = np.where(keep, sigma, q.argmax(axis=1))
        if np.array_equal(new, sigma):
            return v
        sigma = new
    raise AssertionError("test policy iteration did not stop")


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(1, 6), A=st.integers(1, 4), beta=st.sampled_from([0.1, 1.0]))
def test_soft_vi_fixed_point_and_policy_value(seed, S, A, beta):
    """Property: soft VI's v solves v = T_beta v, equals soft PI, and is the regularized value of its policy."""
    mdp = _random_mdp(seed, S, A)
    mu = np.random.default_rng(seed + 1).dirichlet(np.ones(A), size=S)
    res = soft_value_iteration(mdp, beta, reference=mu, tol=SOLVER_TOL)
    assert res.converged
    Tv, q = soft_bellman_operator(mdp, res.v, beta, mu)
    np.testing.assert_allclose(Tv, res.v, rtol=0, atol=SOLVER_TOL)
    np.testing.assert_allclose(q, res.q, rtol=0, atol=IDENTITY_F64)
    np.testing.assert_allclose(res.policy, gibbs_policy(res.q, beta, mu), rtol=0, atol=IDENTITY_F64)
    spi = soft_policy_iteration(mdp, beta, mu)
    np.testing.assert_allclose(spi.v, res.v, rtol=0, atol=EXACT_F64)
    np.testing.assert_allclose(regularized_policy_evaluation(mdp, res.policy, beta, mu), res.v, rtol=0, atol=EXACT_F64)


@pytest.mark.parametrize("beta", [0.3, 0.03, 0.003])
def test_soft_vi_tends_to_hard_optimum(beta):
    """0 <= v* - v_beta <= beta log A / (1 - gamma) (uniform mu): KL(pi||uniform) <= log A."""
    mdp = catalogue.forest()
    v_star = _hard_optimum(mdp)
    res = soft_value_iteration(mdp, beta, tol=SOLVER_TOL)
    gap = v_star - res.v
    assert np.all(gap >= -EXACT_F64)
    assert np.all(gap <= beta * np.log(mdp.num_actions) / (1 - mdp.gamma) + EXACT_F64)


def test_entropy_convention():
    """With uniform mu, v_beta + tau log A / (1 - gamma) is the tau-entropy-regularized value (tau = beta)."""
    mdp = catalogue.river_swim(5, gamma=0.8)
    tau = 0.2
    res = soft_value_iteration(mdp, tau, tol=SOLVER_TOL)
    pi = res.policy
    entropy = -np.sum(np.where(pi > 0, pi * np.log(pi), 0.0), axis=1)
    P = np.einsum("sa,sat->st", pi, mdp.dense_P())
    v_ent = np.linalg.solve(np.eye(5) - mdp.gamma * P, np.sum(pi * mdp.r, axis=1) + tau * entropy)
    np.testing.assert_allclose(v_ent, res.v + tau * np.log(2) / (1 - mdp.gamma), rtol=0, atol=EXACT_F64)


def test_soft_vi_sparse_equals_dense():
    dense = catalogue.river_swim(6, gamma=0.9)
    sparse = catalogue.river_swim(6, gamma=0.9, sparse=True)
    a = soft_value_iteration(dense, 0.1, tol=SOLVER_TOL)
    b = soft_value_iteration(sparse, 0.1, tol=SOLVER_TOL)
    np.testing.assert_allclose(a.v, b.v, rtol=0, atol=EXACT_F64)
    np.testing.assert_allclose(soft_policy_iteration(sparse, 0.1).v, a.v, rtol=0, atol=EXACT_F64)


def test_soft_backward_induction():
    # horizon 1: the bandit optimum
    b = Bandit([0.2, 0.5, 0.7], reference=[0.5, 0.3, 0.2], beta=0.3)
    res = soft_value_iteration(b.to_mdp(), 0.3, reference=b.mu)
    assert res.v.shape == (1, 1)
    assert res.v[0, 0] == pytest.approx(regularized_bandit_optimum(b).value, abs=IDENTITY_F64)
    # horizon 2 on forest, recursion written out by hand
    f = catalogue.forest()
    mdp = TabularMDP(f.P, f.r, horizon=2)
    beta = 0.5
    res = soft_value_iteration(mdp, beta)
    v1 = beta * np.log(np.mean(np.exp(f.r / beta), axis=1))
    q0 = f.r + f.P @ v1
    v0 = beta * np.log(np.mean(np.exp(q0 / beta), axis=1))
    np.testing.assert_allclose(res.v, np.stack([v0, v1]), rtol=0, atol=IDENTITY_F64)
    assert res.policy.shape == (2, 3, 2)


def test_soft_vi_rejects_bad_input():
    with pytest.raises(ValueError, match="beta must lie in"):
        soft_value_iteration(catalogue.forest(), 0.0)
    with pytest.raises(ValueError, match="gamma < 1"):
        soft_value_iteration(catalogue.forest().with_gamma(1.0), 0.5)
    with pytest.raises(ValueError, match="reference must have shape"):
        soft_value_iteration(catalogue.forest(), 0.5, reference=np.ones(3) / 3)


# --------------------------------------------------------------------------- solve adapter
def test_solve_soft_value_iteration_certificates():
    mdp = catalogue.forest()
    res = po.solve(mdp, method="soft_value_iteration", beta=0.5, iters=2000)
    T = res.num_iter
    assert res.status == "converged"
    assert res.iterates.shape == (T + 1, 3, 2)
    err = res.certificates["value_error"]
    bound = err[0] * mdp.gamma ** np.arange(T + 1)
    assert np.all(err <= bound * (1 + RATE_SLACK) + ABS_SLACK)  # gamma-contraction, Geist et al. 2019
    assert np.all(res.certificates["bellman_residual"] >= 0)
    assert res.certificates["bellman_residual"][-1] <= SOLVER_TOL * (1 - mdp.gamma)
    assert err[-1] <= SOLVER_TOL + SOFT_PI_ERR  # the stopping rule certifies ||v - v*|| <= tol
    np.testing.assert_allclose(res.value, res.optimum.value, rtol=0, atol=EXACT_F64)
    assert res.certificates["kl_to_optimum"][-1] <= EXACT_F64


def test_solve_soft_value_iteration_hparams():
    mdp = catalogue.forest()
    with pytest.raises(TypeError, match="requires the hyper-parameter beta"):
        po.solve(mdp, method="soft_value_iteration")
    with pytest.raises(ValueError, match="beta must lie in"):
        po.solve(mdp, method="soft_value_iteration", beta=-0.1)
    with pytest.raises(TypeError, match="unknown hyper-parameter.*tau"):
        po.solve(mdp, method="soft_value_iteration", beta=0.1, tau=0.1)
    mu = np.array([0.9, 0.1])
    res = po.solve(mdp, method="soft_value_iteration", beta=0.2, reference=mu, init=np.full((3, 2), 0.5))
    np.testing.assert_allclose(res.optimum.value, soft_policy_iteration(mdp, 0.2, mu).v, rtol=0, atol=IDENTITY_F64)
    v0 = regularized_policy_evaluation(mdp, np.full((3, 2), 0.5), 0.2, mu)
    np.testing.assert_allclose(res.info["values"][0], v0, rtol=0, atol=IDENTITY_F64)


def test_small_beta_against_policy_iteration():
    """Cross-check with the project's discounted policy iteration: 0 <= v* - v_beta <= beta log A/(1-gamma)."""
    from polopt.exact.dp import policy_iteration

    mdp = _random_mdp(7, 6, 3, gamma=0.8)
    v_star = policy_iteration(mdp).v
    np.testing.assert_allclose(v_star, _hard_optimum(mdp), rtol=0, atol=EXACT_F64)
    for beta in (0.1, 0.001):
        v_beta = soft_value_iteration(mdp, beta, tol=SOLVER_TOL).v
        assert np.all(v_star - v_beta >= -EXACT_F64)
        assert np.all(v_star - v_beta <= beta * np.log(3) / (1 - mdp.gamma) + EXACT_F64)

"""Certificates against independent computations (brute force, numerical optimisation, loops)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from polopt import certificates as cert
from polopt.problems import catalogue as cat
from polopt.testing.strategies import SETTINGS, mdps, policies, preference_games, simplex
from polopt.testing.tolerances import ABS_SLACK, IDENTITY_F64

#: BFGS with the analytic gradient on a smooth strictly concave objective of <= 4 variables,
#: stopped at gradient norm 1e-13; this leaves room for ill-conditioned logits at small beta.
OPTIMIZER_TOL = 1e-8
#: Iterations of our reference value iteration: gamma <= 0.95, 2000 sweeps => error <= 0.95^2000 ~ 1e-45 relative.
VI_SWEEPS = 2000

BETAS = st.one_of(st.just(0.0), st.floats(0.05, 2.0))


# --------------------------------------------------------------------------- reference computations
def kl_loop(p, q) -> float:
    """sum_i p_i log(p_i / q_i) with 0 log 0 = 0 and +inf when q_i = 0 < p_i."""
    total = 0.0
    for pi_, qi in zip(p, q, strict=True):
        if pi_ == 0.0:
            continue
        if qi == 0.0:
            return np.inf
        total += pi_ * np.log(pi_ / qi)
    return total


def J(P, mu, beta, p, q) -> float:
    """J_beta(p, q) = p^T P q - beta KL(p || mu) + beta KL(q || mu)."""
    val = sum(p[i] * P[i, j] * q[j] for i in range(len(p)) for j in range(len(q)))
    if beta > 0:
        val += -beta * kl_loop(p, mu) + beta * kl_loop(q, mu)
    return float(val)


def _softmax(z):
    w = np.exp(z - z.max())
    return w / w.sum()


def best_response_value(P, mu, beta, pi, *, maximise: bool) -> float:
    """max_p J(p, pi) (maximise) or min_q J(pi, q), by brute force.

    beta = 0: the objective is linear, so the optimum is at a vertex: loop over pure strategies.
    beta > 0: strictly concave (convex) in the free argument with an interior optimum: BFGS over logits.
    """
    K = len(pi)
    if beta == 0.0:
        pure = np.eye(K)
        vals = [J(P, mu, 0.0, e, pi) if maximise else J(P, mu, 0.0, pi, e) for e in pure]
        return max(vals) if maximise else min(vals)

    # Sign s turns both cases into minimising s * J over the free argument x = softmax(z).
    s = -1.0 if maximise else 1.0

    def objective(z):
        x = _softmax(z)
        val = J(P, mu, beta, x, pi) if maximise else J(P, mu, beta, pi, x)
        # dJ/dx = P pi - beta (log(x/mu) + 1) (maximise) or pi^T P + beta (log(x/mu) + 1)
        # (minimise), then the softmax chain rule x * (g - x.g). An analytic gradient, because
        # finite differences stall BFGS at a value error of ~1e-7 on ill-conditioned logits.
        dlog = np.log(x / mu) + 1.0
        g = s * (P @ pi - beta * dlog if maximise else pi @ P + beta * dlog)
        return s * val, x * (g - x @ g)

    start = np.log(mu)
    res = minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 5000})
    return s * res.fun


def value_iteration_loop(mdp) -> np.ndarray:
    """Plain value iteration v <- max_a (r + gamma P v), written here independently of polopt.exact."""
    P, r = mdp.dense_P(), mdp.r
    v = np.zeros(mdp.num_states)
    for _ in range(VI_SWEEPS):
        v = (r + mdp.gamma * np.einsum("sat,t->sa", P, v)).max(axis=1)
    return v


def policy_value(mdp, pi) -> np.ndarray:
    P, r = mdp.dense_P(), mdp.r
    P_pi = np.einsum("sa,sat->st", pi, P)
    r_pi = (pi * r).sum(axis=1)
    return np.linalg.solve(np.eye(mdp.num_states) - mdp.gamma * P_pi, r_pi)


# --------------------------------------------------------------------------- kl and kl_to_optimum
@SETTINGS
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(simplex(k), simplex(k))))
def test_kl_matches_loop_and_is_nonnegative(pq):
    """Property: kl(p, q) equals the explicit sum and is >= 0 (Gibbs' inequality)."""
    p, q = pq
    val = cert.kl(p, q)
    np.testing.assert_allclose(val, kl_loop(p, q), rtol=IDENTITY_F64, atol=IDENTITY_F64)
    assert val >= -IDENTITY_F64
    np.testing.assert_allclose(cert.kl(p, p), 0.0, rtol=0.0, atol=IDENTITY_F64)


def test_kl_infinite_off_support_and_zero_convention():
    assert cert.kl([0.5, 0.5], [1.0, 0.0]) == np.inf
    # 0 log 0 = 0: mass of q where p has none costs nothing
    np.testing.assert_allclose(cert.kl([1.0, 0.0], [0.5, 0.5]), np.log(2.0), rtol=IDENTITY_F64, atol=0.0)
    assert cert.kl_to_optimum([1.0, 0.0], [0.5, 0.5]) == np.inf  # KL(pi* || pi): pi misses support of pi*
    assert np.isfinite(cert.kl_to_optimum([0.5, 0.5], [1.0, 0.0]))


@SETTINGS
@given(st.integers(1, 4).flatmap(lambda s: st.tuples(policies(s, 3), policies(s, 3), simplex(s))))
def test_kl_to_optimum_direction_and_weights(args):
    """Property: kl_to_optimum(pi, pi*) = sum_s w_s KL(pi*(s) || pi(s)), uniform w by default."""
    pi, pi_star, w = args
    S_ = pi.shape[0]
    per_state = [kl_loop(pi_star[s], pi[s]) for s in range(S_)]
    np.testing.assert_allclose(
        cert.kl_to_optimum(pi, pi_star), np.mean(per_state), rtol=IDENTITY_F64, atol=IDENTITY_F64
    )
    np.testing.assert_allclose(
        cert.kl_to_optimum(pi, pi_star, weights=w), float(np.dot(w, per_state)), rtol=IDENTITY_F64, atol=IDENTITY_F64
    )
    np.testing.assert_allclose(
        cert.kl_to_optimum(pi[0], pi_star[0]), kl_loop(pi_star[0], pi[0]), rtol=IDENTITY_F64, atol=IDENTITY_F64
    )


# --------------------------------------------------------------------------- MDP certificates
def test_suboptimality_definition():
    v_star, v_pi = np.array([3.0, 1.0, 2.0]), np.array([2.5, 1.0, -1.0])
    assert cert.suboptimality(v_pi, v_star) == 3.0
    np.testing.assert_allclose(
        cert.suboptimality(v_pi, v_star, rho=[0.5, 0.25, 0.25]), 0.5 * 0.5 + 0.25 * 3.0, rtol=IDENTITY_F64, atol=0.0
    )


@SETTINGS
@given(mdps(max_states=4, max_actions=3).flatmap(
    lambda m: st.tuples(st.just(m), policies(m.num_states, m.num_actions))))
def test_suboptimality_nonnegative_and_residual_bounds_error(args):
    """Property: for v* from value iteration, suboptimality(v^pi, v*) >= 0 for any pi, and the
    Bellman residual r of v^pi bounds ||v^pi - v*||_inf <= r / (1 - gamma)."""
    mdp, pi = args
    v_star = value_iteration_loop(mdp)
    v_pi = policy_value(mdp, pi)
    scale = 1.0 + np.abs(v_star).max()
    gap = cert.suboptimality(v_pi, v_star)
    assert gap >= -IDENTITY_F64 * scale
    assert cert.suboptimality(v_pi, v_star, rho=mdp.rho) >= -IDENTITY_F64 * scale
    np.testing.assert_allclose(cert.suboptimality(v_star, v_star), 0.0, rtol=0.0, atol=0.0)
    res = cert.bellman_residual(mdp.P_sa, mdp.r, mdp.gamma, v_pi)
    assert np.abs(v_pi - v_star).max() <= res / (1.0 - mdp.gamma) + IDENTITY_F64 * scale
    np.testing.assert_allclose(cert.bellman_residual(mdp.P_sa, mdp.r, mdp.gamma, v_star), 0.0, rtol=0.0,
                               atol=IDENTITY_F64 * scale)


@SETTINGS
@given(mdps(max_states=5, max_actions=3).flatmap(
    lambda m: st.tuples(st.just(m), st.lists(st.floats(-5, 5), min_size=m.num_states, max_size=m.num_states))))
def test_bellman_residual_matches_explicit_loop(args):
    """Property: ||T v - v||_inf equals an explicit loop over (s, a), for dense and CSR kernels."""
    mdp, v = args
    v = np.array(v)
    P, r, S_, A_ = mdp.dense_P(), mdp.r, mdp.num_states, mdp.num_actions
    worst = 0.0
    for s in range(S_):
        best = -np.inf
        for a in range(A_):
            backup = r[s, a] + mdp.gamma * sum(P[s, a, t] * v[t] for t in range(S_))
            best = max(best, backup)
        worst = max(worst, abs(best - v[s]))
    scale = 1.0 + np.abs(v).max() + np.abs(r).max()
    np.testing.assert_allclose(cert.bellman_residual(mdp.P_sa, r, mdp.gamma, v), worst, rtol=0.0,
                               atol=IDENTITY_F64 * scale)
    np.testing.assert_allclose(cert.bellman_residual(sp.csr_matrix(mdp.P_sa), r, mdp.gamma, v), worst, rtol=0.0,
                               atol=IDENTITY_F64 * scale)
    assert cert.bellman_residual(mdp.P_sa, r, mdp.gamma, v) >= 0.0


def test_bellman_residual_zero_at_puterman_optimum():
    mdp = cat.puterman_two_state(0.95)
    v = cat.puterman_two_state_value(0.95)
    np.testing.assert_allclose(cert.bellman_residual(mdp.P_sa, mdp.r, mdp.gamma, v), 0.0, rtol=0.0,
                               atol=IDENTITY_F64 * np.abs(v).max())


@SETTINGS
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8), st.floats(-1e3, 1e3))
def test_span(values, c):
    """Property: span = max - min (explicit loop), >= 0, and invariant to adding a constant."""
    v = np.array(values)
    hi, lo = -np.inf, np.inf
    for x in values:
        hi, lo = max(hi, x), min(lo, x)
    assert cert.span(v) == hi - lo
    assert cert.span(v) >= 0.0
    # adding c rounds each entry by ~eps |v + c|; IDENTITY_F64 times that magnitude covers it
    scale = 1.0 + 2 * abs(c) + hi - lo
    np.testing.assert_allclose(cert.span(v + c), cert.span(v), rtol=0.0, atol=IDENTITY_F64 * scale)


# --------------------------------------------------------------------------- game certificates
def games_with_policy(beta=BETAS):
    return preference_games(max_actions=4, beta=beta, random_reference=True).flatmap(
        lambda g: st.tuples(st.just(g), simplex(g.num_actions))
    )


@SETTINGS
@given(games_with_policy())
def test_exploitability_matches_brute_force_best_response(args):
    """Property: exploitability(pi) = max_pi' J_beta(pi', pi) - 1/2 with the max found by brute force."""
    game, pi = args
    brute = best_response_value(game.P, game.mu, game.beta, pi, maximise=True) - 0.5
    f = cert.exploitability(game, pi)
    np.testing.assert_allclose(f, brute, rtol=0.0, atol=OPTIMIZER_TOL)


@SETTINGS
@given(games_with_policy(), st.integers(0, 2**32 - 1))
def test_exploitability_dominates_every_deviation(args, seed):
    """Property: f(pi) >= J_beta(pi', pi) - 1/2 for random deviations pi' (it is a maximum) and f >= 0."""
    game, pi = args
    f = cert.exploitability(game, pi)
    rng = np.random.default_rng(seed)
    for dev in rng.dirichlet(np.ones(game.num_actions), size=10):
        assert f >= J(game.P, game.mu, game.beta, dev, pi) - 0.5 - IDENTITY_F64
    assert f >= -IDENTITY_F64


@SETTINGS
@given(games_with_policy())
def test_duality_gap_matches_brute_force_and_is_twice_exploitability(args):
    """Property: DG(pi) = max_p J(p, pi) - min_q J(pi, q) (brute force) = 2 exploitability(pi) >= 0."""
    game, pi = args
    hi = best_response_value(game.P, game.mu, game.beta, pi, maximise=True)
    lo = best_response_value(game.P, game.mu, game.beta, pi, maximise=False)
    dg = cert.duality_gap(game, pi)
    np.testing.assert_allclose(dg, hi - lo, rtol=0.0, atol=2 * OPTIMIZER_TOL)
    np.testing.assert_allclose(dg, 2.0 * cert.exploitability(game, pi), rtol=0.0,
                               atol=IDENTITY_F64)
    assert dg >= -IDENTITY_F64


def test_exploitability_beta_zero_is_max_pure_deviation():
    game = cat.perturbed_rps()
    pi = np.array([0.6, 0.3, 0.1])
    by_hand = max(game.P[y] @ pi for y in range(3)) - 0.5
    np.testing.assert_allclose(cert.exploitability(game.P, pi), by_hand, rtol=0.0, atol=IDENTITY_F64)


def test_exploitability_zero_at_rps_nash():
    game = cat.perturbed_rps()
    np.testing.assert_allclose(cert.exploitability(game.P, cat.RPS_NASH), 0.0, rtol=0.0, atol=IDENTITY_F64)
    np.testing.assert_allclose(cert.duality_gap(game.P, cat.RPS_NASH), 0.0, rtol=0.0, atol=IDENTITY_F64)


@pytest.mark.parametrize("beta", sorted(cat.RPS_REGULARIZED))
def test_exploitability_near_zero_at_rps_regularized_table(beta):
    """f_beta(pi~) <= L ||pi~ - pi*||_1 with L = sup |grad f| <= max|P| + beta (max|log(pi/mu)| + 1).

    (grad f = P^T softmax_mu(P pi / beta) + beta (log(pi / mu) + 1); f(pi*) = 0.)
    """
    game = cat.perturbed_rps(beta=beta)
    pi = cat.RPS_REGULARIZED[beta]
    pi = pi / pi.sum()  # the quoted entries sum to 1 only to the quoted digits
    lipschitz = np.abs(game.P).max() + beta * (np.abs(np.log(pi / game.mu)).max() + 1.0)
    tol = lipschitz * 2 * pi.size * cat.RPS_REGULARIZED_DIGITS
    f = cert.exploitability(game, pi, beta)
    assert -ABS_SLACK <= f <= tol


def test_regularized_best_response_is_gibbs():
    """beta > 0: the maximiser of J(., pi) is mu exp(P pi / beta) / Z (checked against BFGS)."""
    game = cat.perturbed_rps(beta=0.2, reference=[0.2, 0.3, 0.5])
    pi = np.array([0.5, 0.2, 0.3])
    gibbs = game.mu * np.exp(game.P @ pi / game.beta)
    gibbs /= gibbs.sum()
    value = J(game.P, game.mu, game.beta, gibbs, pi)
    np.testing.assert_allclose(value - 0.5, cert.exploitability(game, pi), rtol=0.0,
                               atol=IDENTITY_F64)
    brute = best_response_value(game.P, game.mu, game.beta, pi, maximise=True)
    np.testing.assert_allclose(value, brute, rtol=0.0, atol=OPTIMIZER_TOL)


@SETTINGS
@given(st.integers(2, 6).flatmap(lambda k: st.tuples(simplex(k), simplex(k))))
def test_kl_from_log_policy_matches_kl(pq):
    """kl_log_q(p, log q) = KL(p || q) wherever q is representable (independent loop reference)."""
    p, q = pq
    np.testing.assert_allclose(cert.kl_log_q(p, np.log(q)), kl_loop(p, q), rtol=1e-12, atol=IDENTITY_F64)
    np.testing.assert_allclose(cert.kl_to_optimum(None, p, log_pi=np.log(q)), cert.kl_to_optimum(q, p),
                               rtol=1e-12, atol=IDENTITY_F64)


def test_kl_from_log_policy_survives_underflow():
    """exp(-1e5) is 0 in float64: KL from probabilities is inf, from log-probabilities the true value."""
    p = np.array([0.5, 0.5])
    log_q = np.array([0.0, -1e5])
    assert cert.kl_to_optimum(np.exp(log_q), p) == np.inf
    expected = 0.5 * np.log(0.5) + 0.5 * (np.log(0.5) + 1e5)
    np.testing.assert_allclose(cert.kl_to_optimum(None, p, log_pi=log_q), expected, rtol=1e-15)
    assert cert.kl_log_q(np.array([0.0, 1.0]), np.array([-np.inf, 0.0])) == 0.0  # 0 log 0 = 0
    assert cert.kl_log_q(np.array([0.5, 0.5]), np.array([-np.inf, 0.0])) == np.inf  # off support

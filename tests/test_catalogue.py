"""Catalogue: every entry builds, cites a source, and its stated answers hold by direct computation."""

from __future__ import annotations

import numpy as np
import pytest

import polopt as po
from polopt.problems import catalogue as cat
from polopt.testing.tolerances import IDENTITY_F64

PROBLEM_TYPES = (po.Bandit, po.ContextualBandit, po.TabularMDP, po.LinearMixtureMDP, po.PreferenceGame)


def bellman_optimality(mdp: po.TabularMDP, v: np.ndarray) -> np.ndarray:
    """``(T v)(s) = max_a r(s, a) + gamma sum_s' P(s'|s, a) v(s')`` by explicit loops."""
    P, r = mdp.dense_P(), mdp.r
    out = np.empty(mdp.num_states)
    for s in range(mdp.num_states):
        out[s] = max(
            r[s, a] + mdp.gamma * sum(P[s, a, t] * v[t] for t in range(mdp.num_states))
            for a in range(mdp.num_actions)
        )
    return out


# --------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", cat.names())
def test_every_entry_builds_and_has_a_source(name):
    entry = cat.CATALOGUE[name]
    assert entry.name == name
    assert isinstance(entry.source, str) and len(entry.source.strip()) > 10
    problem = cat.get(name)
    assert isinstance(problem, PROBLEM_TYPES)
    assert problem.num_actions >= 1


def test_get_unknown_name_lists_available():
    with pytest.raises(ValueError, match="unknown catalogue instance 'nope'.*perturbed_rps"):
        cat.get("nope")


def test_get_forwards_keywords():
    assert cat.get("puterman_two_state", gamma=0.99).gamma == 0.99
    assert cat.get("river_swim", n=9).num_states == 9


# --------------------------------------------------------------------------- perturbed RPS
def test_perturbed_rps_matrix():
    game = cat.perturbed_rps()
    np.testing.assert_allclose(game.P, (cat.RPS_PAYOFF + 3.0) / 6.0, rtol=0.0, atol=IDENTITY_F64)
    expected = np.array([[0.5, 0.0, 1.0], [1.0, 0.5, 1.0 / 3.0], [0.0, 2.0 / 3.0, 0.5]])
    np.testing.assert_allclose(game.P, expected, rtol=0.0, atol=IDENTITY_F64)
    # the payoff is skew-symmetric, so P + P.T = 1
    np.testing.assert_array_equal(cat.RPS_PAYOFF, -cat.RPS_PAYOFF.T)


def test_rps_nash_is_an_equilibrium():
    """pi is a symmetric Nash equilibrium iff (P^T pi)(y) >= 1/2 for every column y, with equality on the support."""
    P, pi = cat.perturbed_rps().P, cat.RPS_NASH
    np.testing.assert_allclose(pi.sum(), 1.0, rtol=0.0, atol=IDENTITY_F64)
    col = np.array([sum(pi[x] * P[x, y] for x in range(3)) for y in range(3)])
    assert np.all(col >= 0.5 - IDENTITY_F64)
    support = pi > 0
    np.testing.assert_allclose(col[support], 0.5, rtol=0.0, atol=IDENTITY_F64)
    # uniqueness on this instance: every action is in the support, so no other pure deviation ties
    assert support.all()


@pytest.mark.parametrize("beta", sorted(cat.RPS_REGULARIZED))
def test_rps_regularized_fixed_point(beta):
    """The table satisfies pi = softmax(log mu + P pi / beta) to within its quoted digits.

    Tolerance: entries are quoted to RPS_REGULARIZED_DIGITS (sup-norm error delta). The map
    F(pi) = softmax(log mu + P pi / beta) moves by at most ||P||_inf / (2 beta) * delta (the
    softmax Jacobian diag(p) - p p^T has inf-norm <= 1/2), so |F(pi~) - pi~| <= (1 + ||P||_inf / (2 beta)) delta.
    """
    game = cat.perturbed_rps(beta=beta)
    pi = cat.RPS_REGULARIZED[beta]
    delta = cat.RPS_REGULARIZED_DIGITS
    tol = (1.0 + np.abs(game.P).sum(axis=1).max() / (2.0 * beta)) * delta
    logits = np.log(game.mu) + game.P @ pi / beta
    F = np.exp(logits - logits.max())
    F /= F.sum()
    np.testing.assert_allclose(F, pi, rtol=0.0, atol=tol)
    np.testing.assert_allclose(pi.sum(), 1.0, rtol=0.0, atol=pi.size * delta)


def test_rps_regularized_moves_towards_uniform_as_beta_grows():
    """beta -> infinity pulls pi*_beta to mu (uniform); the table is monotone in the KL to mu."""
    betas = sorted(cat.RPS_REGULARIZED)
    kls = [float(np.sum(cat.RPS_REGULARIZED[b] * np.log(3.0 * cat.RPS_REGULARIZED[b]))) for b in betas]
    assert all(a > b for a, b in zip(kls, kls[1:], strict=False))


# --------------------------------------------------------------------------- Puterman
@pytest.mark.parametrize("gamma", [0.92, 0.95, 0.99])
def test_puterman_value_is_bellman_fixed_point(gamma):
    """v* = [(5 - 5.5 g) / ((1 - 0.5 g)(1 - g)), -1 / (1 - g)] satisfies v = T v for g > 10/11."""
    mdp = cat.puterman_two_state(gamma)
    v = cat.puterman_two_state_value(gamma)
    # T v by hand: state 0 chooses between 5 + g(v0 + v1)/2 and 10 + g v1; state 1 gets -1 + g v1
    by_hand = np.array([max(5 + gamma * 0.5 * (v[0] + v[1]), 10 + gamma * v[1]), -1 + gamma * v[1]])
    scale = np.abs(v).max()
    np.testing.assert_allclose(by_hand, v, rtol=0.0, atol=IDENTITY_F64 * scale)
    np.testing.assert_allclose(bellman_optimality(mdp, v), v, rtol=0.0, atol=IDENTITY_F64 * scale)
    # and action 0 is the (strictly) greedy choice in state 0
    assert 5 + gamma * 0.5 * (v[0] + v[1]) > 10 + gamma * v[1]


def test_puterman_formula_fails_below_threshold():
    """For gamma < 10/11 action 1 is better in state 0, so the formula is not a fixed point."""
    gamma = 0.9
    mdp = cat.puterman_two_state(gamma)
    v = cat.puterman_two_state_value(gamma)
    gap = bellman_optimality(mdp, v) - v
    by_hand = 10 + gamma * v[1] - v[0]  # = 1 - 10/11 = 1/11 at gamma = 0.9
    assert by_hand > 0
    np.testing.assert_allclose(gap, [by_hand, 0.0], rtol=0.0, atol=IDENTITY_F64 * np.abs(v).max())


# --------------------------------------------------------------------------- forest
def test_forest_value_is_bellman_fixed_point():
    """|T v - v| <= (1 + gamma) d for v quoted to d = FOREST_VALUE_DIGITS (T is a gamma-contraction)."""
    mdp = cat.forest()
    v = cat.FOREST_VALUE
    tol = (1.0 + mdp.gamma) * cat.FOREST_VALUE_DIGITS
    np.testing.assert_allclose(bellman_optimality(mdp, v), v, rtol=0.0, atol=tol)
    q = mdp.r + mdp.gamma * (mdp.P_sa @ v).reshape(3, 2)
    np.testing.assert_array_equal(q.argmax(axis=1), [0, 0, 0])


def test_forest_kernel_structure():
    mdp = cat.forest(S=4, p=0.2)
    P = mdp.P
    np.testing.assert_array_equal(P[:, 1, 0], 1.0)  # cut: back to state 0
    np.testing.assert_allclose(P[:, 0, 0], [0.2, 0.2, 0.2, 0.2], rtol=0.0, atol=IDENTITY_F64)
    np.testing.assert_allclose(P[3, 0, 3], 0.8, rtol=0.0, atol=IDENTITY_F64)  # the oldest state stays


# --------------------------------------------------------------------------- periodic chain
def test_periodic_chain_structure_and_gain():
    mdp = cat.periodic_chain()
    assert mdp.criterion == "average" and mdp.num_actions == 1
    P = mdp.P[:, 0, :]
    np.testing.assert_array_equal(P @ P, np.eye(2))  # period 2
    assert not np.array_equal(P, np.eye(2))
    # stationary distribution: left null vector of (P - I), normalised
    w, V = np.linalg.eig(P.T)
    stat = np.real(V[:, np.argmin(np.abs(w - 1.0))])
    stat = stat / stat.sum()
    gain = float(stat @ mdp.r[:, 0])
    np.testing.assert_allclose(gain, cat.PERIODIC_CHAIN_GAIN, rtol=0.0, atol=IDENTITY_F64)
    # Cesaro average over one period gives the gain in every state; P^n r alone oscillates
    r = mdp.r[:, 0]
    np.testing.assert_allclose(0.5 * (r + P @ r), cat.PERIODIC_CHAIN_GAIN, rtol=0.0, atol=IDENTITY_F64)
    assert not np.allclose(P @ r, r)


# --------------------------------------------------------------------------- RiverSwim, bandit
def test_river_swim_structure():
    n = 6
    mdp = cat.river_swim(n)
    P = mdp.P
    np.testing.assert_array_equal(mdp.rho, np.eye(n)[0])
    for s in range(n):
        assert P[s, 0, max(s - 1, 0)] == 1.0  # "left" is deterministic
    np.testing.assert_array_equal(P[2, 1, [1, 2, 3]], [0.05, 0.6, 0.35])
    assert mdp.r[n - 1, 1] == 1.0 and mdp.r[0, 0] == 5.0 / 1000.0
    np.testing.assert_array_equal(cat.river_swim(n, sparse=True).dense_P(), P)


def test_bernoulli_bandit():
    b = cat.bernoulli_bandit()
    np.testing.assert_array_equal(b.r, [0.2, 0.5, 0.7])
    assert int(np.argmax(b.r)) == 2


# --------------------------------------------------------------------------- linear mixture hard instance
HARD = {"d": 4, "H": 5, "K": 1000, "seed": 3}


def test_linear_mixture_hard_kernel_is_valid():
    lm = cat.linear_mixture_hard(**HARD)
    P = lm.as_tabular().dense_P()
    assert P.shape == (HARD["H"], lm.num_states, lm.num_actions, lm.num_states)
    assert np.all(P >= 0.0)
    np.testing.assert_allclose(P.sum(axis=-1), 1.0, rtol=0.0, atol=IDENTITY_F64)
    H = HARD["H"]
    for x in (H, H + 1):  # the two absorbing states
        np.testing.assert_allclose(P[:, x, :, x], 1.0, rtol=0.0, atol=IDENTITY_F64)


def test_linear_mixture_hard_optimal_actions_match_sign_mu():
    lm = cat.linear_mixture_hard(**HARD)
    H, S, A = HARD["H"], lm.num_states, lm.num_actions
    good = H + 1
    # action vectors recovered from the features: phi(x_{H+2} | x_i, a)[1:] = beta_f a with beta_f > 0
    actions = np.sign(lm.phi[0, :, good, 1:])
    # sign(mu_h) = sign(theta_h[1:]) because theta_h = (1/alpha, mu_h / beta_f)
    signs = np.sign(lm.theta[:, 1:])
    expected = np.array([int(np.flatnonzero((actions == signs[h]).all(axis=1))[0]) for h in range(H)])
    np.testing.assert_array_equal(cat.linear_mixture_hard_optimal_actions(**HARD), expected)
    # and they are the optimal actions by backward induction on the induced kernel (chain state h at
    # step h). Rewards depend on the state only, so at the last step every action ties: the claim
    # "sign(mu_h) is optimal" is strict for h < H - 1 and vacuous at h = H - 1.
    tab = lm.as_tabular()
    V = np.zeros(S)
    greedy = np.empty(H, dtype=int)
    for h in range(H - 1, -1, -1):
        q = tab.r_at(h) + (tab.P_at(h) @ V).reshape(S, A)
        row = q[h]
        best = np.flatnonzero(row >= row.max() - IDENTITY_F64)
        if h < H - 1:
            assert best.size == 1  # unique optimum in the chain state
        else:
            assert best.size == A
        greedy[h] = best[0]
        V = q.max(axis=1)
    np.testing.assert_array_equal(greedy[: H - 1], expected[: H - 1])

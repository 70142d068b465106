"""Exact policy evaluation against independent computations (Neumann series, flow equation,
brute-force recursions), sparse vs dense, Krylov vs direct, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from polopt.exact import evaluate, policy_value
from polopt.exact import evaluation as ev
from polopt.problems import TabularMDP, catalogue
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

#: Neumann series truncated after N terms has tail <= gamma^N max|r| / (1 - gamma); with
#: gamma <= 0.9 and N = 400 that is < 1e-16, so the comparison is at solver accuracy.
NEUMANN_TERMS = 400


@st.composite
def mdps(draw, max_states=6, max_actions=4, gamma_max=0.9):
    """Row-stochastic P from bounded logits (softmax), rewards in [-1, 1], a random policy."""
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(1, max_actions))
    seed = draw(st.integers(0, 2**31 - 1))
    gamma = draw(st.floats(0.0, gamma_max))
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-3, 3, size=(S, A, S))
    P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    r = rng.uniform(-1, 1, size=(S, A))
    rho = rng.dirichlet(np.ones(S))
    pi_logits = rng.uniform(-3, 3, size=(S, A))
    pi = np.exp(pi_logits) / np.exp(pi_logits).sum(-1, keepdims=True)
    return TabularMDP(P, r, gamma=gamma, rho=rho), pi


def _neumann(mdp, pi):
    Ppi = np.einsum("sa,sat->st", pi, mdp.dense_P())
    rpi = np.einsum("sa,sa->s", pi, mdp.r)
    v, term = np.zeros(mdp.num_states), rpi.copy()
    for _ in range(NEUMANN_TERMS):
        v += term
        term = mdp.gamma * Ppi @ term
    return v


@settings(derandomize=True, max_examples=25, deadline=None)
@given(mdps())
def test_value_matches_neumann_series(case):
    mdp, pi = case
    e = evaluate(mdp, pi)
    np.testing.assert_allclose(e.V, _neumann(mdp, pi), atol=EXACT_F64, rtol=0)
    np.testing.assert_allclose(policy_value(mdp, pi), e.V, atol=IDENTITY_F64 * 10, rtol=0)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(mdps())
def test_q_advantage_and_occupancy_identities(case):
    mdp, pi = case
    e = evaluate(mdp, pi)
    P, g = mdp.dense_P(), mdp.gamma
    np.testing.assert_allclose(e.Q, mdp.r + g * P @ e.V, atol=EXACT_F64, rtol=0)
    np.testing.assert_allclose(e.advantage, e.Q - e.V[:, None], atol=IDENTITY_F64, rtol=0)
    # V = sum_a pi Q  <=>  sum_a pi * advantage = 0
    np.testing.assert_allclose((pi * e.advantage).sum(-1), 0.0, atol=EXACT_F64)
    d = e.occupancy
    assert d.min() >= -IDENTITY_F64
    assert abs(d.sum() - 1.0) < EXACT_F64
    # flow equation: sum_a d(s', a) = (1-g) rho(s') + g sum_{s,a} P(s'|s,a) d(s,a)
    np.testing.assert_allclose(d.sum(-1), (1 - g) * mdp.rho + g * np.einsum("sat,sa->t", P, d), atol=EXACT_F64)
    # performance identity: rho . V = r . d / (1 - g)
    assert abs(mdp.rho @ e.V - (mdp.r * d).sum() / (1 - g)) < EXACT_F64 * max(1.0, np.abs(e.V).max())


def test_sparse_and_dense_agree():
    mdp = catalogue.river_swim(40, 0.95)
    mdp_s = catalogue.river_swim(40, 0.95, sparse=True)
    pi = np.tile([0.3, 0.7], (40, 1))
    a, b = evaluate(mdp, pi), evaluate(mdp_s, pi)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=EXACT_F64, rtol=0)


def test_krylov_path_agrees_with_direct(monkeypatch):
    """A dense problem above DIRECT_MAX_STATES goes through Krylov; force that on a small one."""
    rng = np.random.default_rng(3)
    S, A = 60, 3
    P = rng.dirichlet(np.ones(S) * 0.3, size=(S, A))
    mdp = TabularMDP(P, rng.normal(size=(S, A)), gamma=0.97)
    pi = rng.dirichlet(np.ones(A), size=S)
    direct = evaluate(mdp, pi)
    calls = []
    real = ev._krylov
    monkeypatch.setattr(ev, "DIRECT_MAX_STATES", 10)
    monkeypatch.setattr(ev, "_krylov", lambda *a, **k: calls.append(1) or real(*a, **k))
    krylov = evaluate(mdp, pi)
    assert calls, "the Krylov path was not taken"
    np.testing.assert_allclose(krylov.V, direct.V, atol=EXACT_F64, rtol=0)
    np.testing.assert_allclose(krylov.occupancy, direct.occupancy, atol=EXACT_F64, rtol=0)
    # sparse path uses Krylov too and agrees
    mdp_s = TabularMDP(sp.csr_matrix(P.reshape(S * A, S)), mdp.r, gamma=0.97)
    np.testing.assert_allclose(evaluate(mdp_s, pi).V, direct.V, atol=EXACT_F64, rtol=0)


def test_krylov_failure_falls_back_to_direct(monkeypatch):
    mdp = catalogue.river_swim(30, 0.9, sparse=True)
    pi = np.tile([0.5, 0.5], (30, 1))
    expected = evaluate(catalogue.river_swim(30, 0.9), pi).V
    monkeypatch.setattr(ev, "_krylov", lambda *a, **k: None)
    np.testing.assert_allclose(evaluate(mdp, pi).V, expected, atol=EXACT_F64, rtol=0)


def _brute_force_finite(P, r, rho, pis, gamma):
    """Enumerate all state-action trajectories of length H (tiny instances)."""
    H, S, A = pis.shape
    V0 = np.zeros(S)
    occ = np.zeros((H, S, A))
    import itertools

    for s0 in range(S):
        for traj in itertools.product(range(S), range(A), repeat=H):
            states, actions = traj[0::2], traj[1::2]
            if states[0] != s0:
                continue
            prob, ret = 1.0, 0.0
            for h in range(H):
                s, a = states[h], actions[h]
                prob *= pis[h, s, a]
                ret += gamma**h * r[h, s, a]
                if h + 1 < H:
                    prob *= P[h, s, a, states[h + 1]]
            V0[s0] += prob * ret
            for h in range(H):
                occ[h, states[h], actions[h]] += rho[s0] * prob
    return V0, occ


def test_finite_horizon_matches_brute_force():
    rng = np.random.default_rng(1)
    H, S, A = 3, 2, 2
    P = rng.dirichlet(np.ones(S), size=(H, S, A))
    r = rng.normal(size=(H, S, A))
    rho = np.array([0.3, 0.7])
    pis = rng.dirichlet(np.ones(A), size=(H, S))
    for gamma in (1.0, 0.8):
        mdp = TabularMDP(P, r, horizon=H, rho=rho, gamma=gamma)
        e = evaluate(mdp, pis)
        V0, occ = _brute_force_finite(P, r, rho, pis, gamma)
        assert e.V.shape == (H, S) and e.Q.shape == (H, S, A) and e.occupancy.shape == (H, S, A)
        np.testing.assert_allclose(e.V[0], V0, atol=IDENTITY_F64)
        np.testing.assert_allclose(e.occupancy, occ, atol=IDENTITY_F64)
        np.testing.assert_allclose(e.occupancy.sum(axis=(1, 2)), 1.0, atol=IDENTITY_F64)
    # a stationary [S, A] policy is broadcast over steps
    mdp = TabularMDP(P, r, horizon=H, rho=rho)
    np.testing.assert_allclose(evaluate(mdp, pis[0]).V, evaluate(mdp, np.stack([pis[0]] * H)).V, atol=IDENTITY_F64)


def test_linear_mixture_is_evaluated_through_as_tabular():
    lm = catalogue.linear_mixture_hard(d=3, H=3)
    pi = np.full((lm.num_states, lm.num_actions), 1.0 / lm.num_actions)
    np.testing.assert_allclose(evaluate(lm, pi).V, evaluate(lm.as_tabular(), pi).V, atol=IDENTITY_F64)


@pytest.mark.parametrize(
    ("pi", "match"),
    [
        (np.array([[0.5, 0.5]]), r"pi must have shape \[S, A\] = \[2, 2\]"),
        (np.array([[0.5, 0.5], [0.7, 0.7]]), r"pi\[1, :\] sums to 1.4"),
        (np.array([[0.5, 0.5], [1.5, -0.5]]), r"pi\[1, 1\] is -0.5"),
        (np.array([[0.5, 0.5], [np.nan, 0.5]]), r"pi\[1, 0\] is nan"),
    ],
)
def test_bad_pi_is_rejected(pi, match):
    mdp = catalogue.puterman_two_state()
    with pytest.raises(ValueError, match=match):
        evaluate(mdp, pi)
    before = pi.copy()
    with pytest.raises(ValueError):
        policy_value(mdp, pi)
    np.testing.assert_array_equal(pi, before)  # caller's array untouched


def test_average_reward_points_to_gain_bias():
    with pytest.raises(ValueError, match="gain_bias"):
        evaluate(catalogue.periodic_chain(), np.ones((2, 1)))


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), lower=st.integers(0, 4), upper=st.integers(0, 4), transpose=st.booleans(),
       gamma=st.sampled_from([0.5, 0.99, 0.999999]))
def test_banded_direct_solve_equals_superlu(seed, lower, upper, transpose, gamma):
    """Narrow-band systems (chains) take the banded LU; it agrees with SuperLU and leaves a tiny residual."""
    rng = np.random.default_rng(seed)
    S = 60
    offsets = [k for k in range(-lower, upper + 1)]
    P = np.zeros((S, S))
    for k in offsets:
        idx = np.arange(max(0, -k), min(S, S - k))
        P[idx, idx + k] = rng.random(idx.size)
    P[np.arange(S), np.arange(S)] += 1e-3  # every row has a successor
    P /= P.sum(axis=1, keepdims=True)
    b = rng.normal(size=S)
    Ppi = sp.csr_matrix(P)
    M = (sp.identity(S, format="csr") - gamma * (Ppi.T.tocsr() if transpose else Ppi)).tocsr()
    lo, up = ev._bandwidths(M)
    assert lo + up + 1 <= ev.BANDED_MAX_WIDTH
    x = ev.solve_discounted(Ppi, b, gamma, transpose=transpose, krylov=False)
    ref = sp.linalg.spsolve(M.tocsc(), b)
    scale = np.max(np.abs(b)) / (1.0 - gamma)  # |x| <= |b| / (1 - gamma)
    # both are backward-stable LU solves: they agree to round-off of the condition number ~ 1/(1-gamma)
    np.testing.assert_allclose(x, ref, rtol=0, atol=IDENTITY_F64 * scale / (1.0 - gamma))
    assert np.max(np.abs(M @ x - b)) <= IDENTITY_F64 * scale


def test_bandwidths_of_a_chain_and_a_wide_matrix():
    chain = catalogue.river_swim(50, 0.9, sparse=True)
    Ppi = chain.P_sa[np.arange(50) * 2 + 1]  # always "right"
    assert ev._bandwidths(sp.csr_matrix(Ppi)) == (1, 1)
    wide = sp.csr_matrix(np.ones((5, 5)))
    assert ev._bandwidths(wide) == (4, 4)
    assert ev._bandwidths(sp.csr_matrix((3, 3))) == (0, 0)

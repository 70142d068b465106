"""Effective horizon (Laidlaw, Russell, Dragan 2023, arXiv 2304.09853): min_k and the simple bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polopt.exact.horizon import effective_horizon, minimum_k
from polopt.problems import TabularMDP, catalogue
from polopt.testing.tolerances import IDENTITY_F64

#: Returns of a T-step path are sums of T <= 8 normal rewards: exact to ~1e-14.
RETURN_TOL = 1e-9


def _trap(T: int, bait: float = 1.0) -> TabularMDP:
    """From state 0, action 0 pays ``bait`` now and leads to a dead state (rewards 0); action 1
    pays 0 and leads to a state whose actions pay +3 / -3 (random-policy mean 0)."""
    P = np.zeros((3, 2, 3))
    r = np.zeros((3, 2))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    r[0, 0] = bait
    r[2] = [3.0, -3.0]
    return TabularMDP(P, r, horizon=T, rho=[1.0, 0.0, 0.0])


@pytest.mark.parametrize("T", [2, 6])
def test_trap_needs_two_backups(T):
    # Q^rand(0, .) = (1, 0): greedy on Q^1 takes the bait (suboptimal); Q^2(0, 1) = 3 > 1.
    res = effective_horizon(_trap(T))
    assert res.min_k == 2
    assert minimum_k(_trap(T)) == 2
    assert np.all(res.ks >= 2)  # a k passing the gap test is k-QVI-solvable
    assert res.horizon <= T


def test_random_greedy_is_optimal_without_bait():
    # negative bait: Q^rand(0, .) = (-1, 0) already picks the optimal action
    assert effective_horizon(_trap(6, bait=-1.0)).min_k == 1


def test_repeated_bandit_closed_form():
    """One state, reward 1 for action 0 and 0 for action 1, T = 20.

    With n = T - t - 1 steps left, Q^rand = (1 + n/2, n/2), Q^worst = (1, 0), Q* = (1 + n, n):
    gap 1 and variance proxy n^2 / 2, largest at t = 0, so m_1 = ceil(16 * 19^2/2 * ln(2 T A)).
    """
    T, A = 20, 2
    mdp = TabularMDP(np.ones((1, 2, 1)), np.array([[1.0, 0.0]]), horizon=T)
    res = effective_horizon(mdp)
    m_1 = np.ceil(16 * (19**2 / 2) * np.log(2 * T * A))
    assert res.min_k == 1 and res.ks[0] == 1
    assert res.m_ks[0] == m_1
    assert res.gaps[0] == pytest.approx(1.0, abs=IDENTITY_F64)
    assert res.variances[0] == pytest.approx(19**2 / 2, abs=IDENTITY_F64)
    assert res.H_ks[0] == pytest.approx(1 + np.log2(m_1), abs=IDENTITY_F64)
    assert res.horizon < T
    assert res.horizon == pytest.approx(float(np.min(res.H_ks)), abs=IDENTITY_F64)
    assert res.k == int(res.ks[np.argmin(res.H_ks)])
    assert np.all(res.H_ks >= res.ks)
    assert res.deterministic


def _independent_min_k(nxt: np.ndarray, r: np.ndarray, T: int) -> int:
    """min k such that following argmax Q^k (unique a.s.) from state 0 earns V*_0(0); plain loops."""
    S, A = r.shape
    q = np.zeros((T + 1, S, A))
    q_star = np.zeros((T + 1, S, A))
    for t in range(T - 1, -1, -1):
        for s in range(S):
            for a in range(A):
                q[t, s, a] = r[s, a] + (q[t + 1, nxt[s, a]].mean() if t < T - 1 else 0.0)
                q_star[t, s, a] = r[s, a] + (q_star[t + 1, nxt[s, a]].max() if t < T - 1 else 0.0)
    v_star = q_star[0, 0].max()
    for k in range(1, T + 1):
        s, ret = 0, 0.0
        for t in range(T):
            a = int(np.argmax(q[t, s]))
            ret += r[s, a]
            s = nxt[s, a]
        if ret >= v_star - RETURN_TOL:
            return k
        new = q.copy()
        for t in range(T - 1):
            for s in range(S):
                for a in range(A):
                    new[t, s, a] = r[s, a] + q[t + 1, nxt[s, a]].max()
        q = new
    raise AssertionError("Q^T = Q*: the greedy policy must be optimal by k = T")


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(1, 5), A=st.integers(2, 3), T=st.integers(1, 6))
def test_random_deterministic_mdps(seed, S, A, T):
    """Property: min_k matches an independent greedy-return computation; k <= H_k; H <= T."""
    rng = np.random.default_rng(seed)
    nxt = rng.integers(0, S, size=(S, A))
    r = rng.normal(size=(S, A))
    P = np.zeros((S, A, S))
    P[np.arange(S)[:, None], np.arange(A)[None, :], nxt] = 1.0
    rho = np.eye(S)[0]
    res = effective_horizon(TabularMDP(P, r, horizon=T, rho=rho))
    assert res.min_k == _independent_min_k(nxt, r, T)
    assert 1 <= res.min_k <= T
    assert res.horizon <= T
    assert np.all(res.H_ks >= res.ks)
    assert np.all(res.ks >= res.min_k)
    assert np.all(res.ks < T)
    assert res.deterministic


def test_stochastic_and_time_varying_mdps_are_accepted():
    mdp = catalogue.river_swim(4, gamma=0.9)
    fh = TabularMDP(mdp.P, mdp.r, horizon=5, rho=mdp.rho)
    res = effective_horizon(fh)
    assert not res.deterministic
    assert 1 <= res.min_k <= 5 and res.horizon <= 5
    P = np.broadcast_to(mdp.P, (5,) + mdp.P.shape)
    r = np.stack([mdp.r * (t + 1) for t in range(5)])
    res_tv = effective_horizon(TabularMDP(P, r, horizon=5, rho=mdp.rho))
    assert 1 <= res_tv.min_k <= 5 and res_tv.horizon <= 5


def test_effective_horizon_rejects_infinite_horizon():
    with pytest.raises(ValueError, match="finite-horizon"):
        effective_horizon(catalogue.forest())
    with pytest.raises(TypeError, match="TabularMDP"):
        effective_horizon(np.zeros((2, 2)))

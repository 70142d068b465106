"""Seeded generators (polopt.problems.random) and the public hypothesis strategies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import polopt as po
from polopt import certificates as cert
from polopt.problems import random as rnd
from polopt.testing import strategies as pst
from polopt.testing.tolerances import IDENTITY_F64

#: Statistical checks use a fixed seed and a 6-sigma band: a correct generator fails with
#: probability < 1e-8 per check, and the fixed seed makes the outcome deterministic anyway.
SIGMAS = 6.0


# --------------------------------------------------------------------------- reproducibility
GENERATORS = {
    "random_mdp": lambda seed: rnd.random_mdp(4, 3, seed=seed),
    "random_mdp_horizon": lambda seed: rnd.random_mdp(3, 2, seed=seed, horizon=4, time_inhomogeneous=True),
    "garnet_mdp": lambda seed: rnd.garnet_mdp(20, 3, 4, seed=seed),
    "random_bandit": lambda seed: rnd.random_bandit(5, seed=seed, reference="random"),
    "random_contextual_bandit": lambda seed: rnd.random_contextual_bandit(3, 4, seed=seed, reference="random"),
    "random_tournament": lambda seed: rnd.random_tournament(6, seed=seed),
    "random_intransitive": lambda seed: rnd.random_intransitive(6, seed=seed, reference="random"),
    "random_bradley_terry": lambda seed: rnd.random_bradley_terry(6, seed=seed),
}


def arrays_of(problem) -> list[np.ndarray]:
    out = []
    for name in ("P", "r", "mu", "rho"):
        val = getattr(problem, name, None)
        if isinstance(val, np.ndarray):
            out.append(val)
    if getattr(problem, "P_sparse", None) is not None:
        out.append(problem.P_sparse.toarray())
    return out


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_instance_and_generator_accepted(name):
    make = GENERATORS[name]
    a, b = make(7), make(7)
    c = make(np.random.default_rng(7))
    for x, y, z in zip(arrays_of(a), arrays_of(b), arrays_of(c), strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)  # an int seed and default_rng(seed) draw the same stream
    d = make(8)
    assert any(not np.array_equal(x, y) for x, y in zip(arrays_of(a), arrays_of(d), strict=True))


@pytest.mark.parametrize("seed", ["1", 1.5, True, [1]])
def test_bad_seed_type(seed):
    with pytest.raises(TypeError, match="seed"):
        rnd.random_mdp(2, 2, seed=seed)


def test_negative_seed():
    with pytest.raises(ValueError, match="seed must be >= 0"):
        rnd.random_bandit(3, seed=-1)


def test_bad_sizes_and_options():
    with pytest.raises(ValueError, match="num_states must be >= 1"):
        rnd.random_mdp(0, 2)
    with pytest.raises(TypeError, match="num_actions"):
        rnd.random_mdp(2, 2.0)
    with pytest.raises(ValueError, match="branching must be <= num_states = 3"):
        rnd.garnet_mdp(3, 2, 4)
    with pytest.raises(ValueError, match="branching must be >= 1"):
        rnd.garnet_mdp(3, 2, 0)
    with pytest.raises(ValueError, match="kind must be one of uniform, tie, lower_win"):
        rnd.random_intransitive(3, kind="cyclic")
    with pytest.raises(ValueError, match="reference must be None, an array or 'random'"):
        rnd.random_tournament(3, reference="uniform")
    with pytest.raises(ValueError, match="time_inhomogeneous=True needs a horizon"):
        rnd.random_mdp(2, 2, time_inhomogeneous=True)
    with pytest.raises(ValueError, match="gamma must lie in"):
        rnd.garnet_mdp(3, 2, 2, gamma=1.5)
    with pytest.raises(ValueError, match="beta"):
        rnd.random_intransitive(3, beta=-0.1)
    with pytest.raises(ValueError, match="scores"):
        rnd.bradley_terry([0.0, np.nan])


# --------------------------------------------------------------------------- MDPs
def test_random_mdp_criteria_and_shapes():
    m = rnd.random_mdp(5, 3, seed=0)
    assert (m.num_states, m.num_actions, m.gamma, m.criterion) == (5, 3, 0.9, "discounted")
    assert rnd.random_mdp(5, 3, 1.0, seed=0).criterion == "average"
    fh = rnd.random_mdp(5, 3, seed=0, horizon=4)
    assert (fh.criterion, fh.horizon, fh.gamma) == ("finite_horizon", 4, 1.0)
    assert not fh.is_time_inhomogeneous
    ti = rnd.random_mdp(5, 3, seed=0, horizon=4, time_inhomogeneous=True)
    assert ti.is_time_inhomogeneous and ti.P.shape == (4, 5, 3, 5) and ti.r.shape == (4, 5, 3)
    scaled = rnd.random_mdp(5, 3, seed=0, reward_scale=10.0)
    np.testing.assert_allclose(scaled.r, 10.0 * m.r, rtol=IDENTITY_F64, atol=0.0)
    assert np.all((m.r >= 0.0) & (m.r <= 1.0))
    assert np.all(m.P > 0.0)  # Dirichlet(1) rows have full support almost surely


@pytest.mark.parametrize("S, A, b", [(1, 1, 1), (6, 2, 6), (30, 3, 3), (50, 2, 20)])
def test_garnet_structure(S, A, b):
    """Each (s, a) has exactly b distinct successors with positive probabilities summing to 1."""
    m = rnd.garnet_mdp(S, A, b, seed=1)
    assert m.is_sparse and m.P_sparse.shape == (S * A, S)
    P = m.P_sparse
    counts = np.diff(P.indptr)
    np.testing.assert_array_equal(counts, b)
    for row in range(S * A):
        cols = P.indices[P.indptr[row] : P.indptr[row + 1]]
        assert len(set(cols.tolist())) == b
    assert np.all(P.data > 0.0)
    np.testing.assert_allclose(np.asarray(P.sum(axis=1)).ravel(), 1.0, rtol=0.0, atol=IDENTITY_F64)
    dense = rnd.garnet_mdp(S, A, b, seed=1, sparse=False)
    np.testing.assert_array_equal(dense.P, m.dense_P())
    np.testing.assert_array_equal(dense.r, m.r)


@pytest.mark.parametrize("S, b", [(40, 3), (12, 6)])
def test_garnet_successors_are_uniform(S, b):
    """Every state is a successor with probability b / S (Floyd and argpartition branches alike)."""
    A = 50
    m = rnd.garnet_mdp(S, A, b, seed=2)
    n_rows = S * A
    hits = np.bincount(m.P_sparse.indices, minlength=S)
    p = b / S
    mean, sd = n_rows * p, np.sqrt(n_rows * p * (1 - p))
    assert np.all(np.abs(hits - mean) <= SIGMAS * sd)
    # split probabilities: uniform cuts make each piece Beta(1, b - 1), P(piece <= x) = 1 - (1 - x)^(b - 1).
    # Rows are iid; the number of pieces <= x in a row lies in [0, b], so its sd is <= b / 2.
    x = 1.0 / b
    below_per_row = (m.P_sparse.data <= x).reshape(n_rows, b).sum(axis=1)
    expected = b * (1.0 - (1.0 - x) ** (b - 1))
    assert abs(below_per_row.mean() - expected) <= SIGMAS * (b / 2.0) / np.sqrt(n_rows)


# --------------------------------------------------------------------------- bandits
def test_random_bandits():
    b = rnd.random_bandit(6, seed=0, beta=0.3)
    assert b.beta == 0.3 and np.all((b.r >= 0) & (b.r <= 1))
    np.testing.assert_array_equal(b.mu, np.full(6, 1.0 / 6.0))
    cb = rnd.random_contextual_bandit(4, 3, seed=0, reference=[0.2, 0.3, 0.5])
    assert cb.r.shape == (4, 3)
    np.testing.assert_allclose(cb.rho.sum(), 1.0, rtol=0.0, atol=IDENTITY_F64)
    np.testing.assert_array_equal(cb.mu, np.tile([0.2, 0.3, 0.5], (4, 1)))
    rr = rnd.random_contextual_bandit(4, 3, seed=0, reference="random")
    assert np.all(rr.mu > 0) and not np.allclose(rr.mu[0], rr.mu[1])


# --------------------------------------------------------------------------- games
def test_random_tournament():
    g = rnd.random_tournament(9, seed=3)
    off = ~np.eye(9, dtype=bool)
    assert set(np.unique(g.P[off]).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.diag(g.P), 0.5)
    np.testing.assert_array_equal(g.P + g.P.T, np.ones((9, 9)))


def test_random_intransitive_kinds():
    K = 30
    g = rnd.random_intransitive(K, seed=4)
    np.testing.assert_array_equal(g.P + g.P.T, np.ones((K, K)))  # exact: upper = 1 - lower
    np.testing.assert_array_equal(np.diag(g.P), 0.5)
    lower = g.P[np.tril_indices(K, -1)]
    n = lower.size
    assert abs(lower.mean() - 0.5) <= SIGMAS * np.sqrt(1.0 / 12.0 / n)  # U(0, 1): mean 1/2, var 1/12
    tie = rnd.random_intransitive(4, kind="tie")
    np.testing.assert_array_equal(tie.P, 0.5)
    # ties: every policy is an equilibrium
    assert cert.exploitability(tie.P, np.array([0.7, 0.1, 0.1, 0.1])) == 0.0
    lw = rnd.random_intransitive(4, kind="lower_win")
    np.testing.assert_array_equal(lw.P[np.tril_indices(4, -1)], 1.0)
    np.testing.assert_array_equal(lw.P[np.triu_indices(4, 1)], 0.0)
    # the highest index beats everyone: the pure strategy on it is the Nash equilibrium
    assert cert.exploitability(lw.P, np.eye(4)[3]) == 0.0
    assert cert.exploitability(lw.P, np.eye(4)[2]) == 0.5


def test_bradley_terry():
    s = np.array([0.3, -1.0, 2.0, 0.5])
    g = rnd.bradley_terry(s, beta=0.1, reference=[0.1, 0.2, 0.3, 0.4])
    assert g.beta == 0.1
    for i in range(4):
        for j in range(4):
            np.testing.assert_allclose(g.P[i, j], 1.0 / (1.0 + np.exp(-(s[i] - s[j]))), rtol=0.0, atol=IDENTITY_F64)
    np.testing.assert_array_equal(g.P + g.P.T, np.ones((4, 4)))
    # transitive: the top-scored action is an unexploitable pure strategy; the others are exploitable
    top = int(np.argmax(s))
    np.testing.assert_allclose(cert.exploitability(g.P, np.eye(4)[top]), 0.0, rtol=0.0, atol=IDENTITY_F64)
    for a in range(4):
        if a != top:
            assert cert.exploitability(g.P, np.eye(4)[a]) > 0.0


@pytest.mark.parametrize("seed", range(5))
def test_random_bradley_terry_nash_is_top_score(seed):
    g = rnd.random_bradley_terry(7, seed=seed, scale=2.0)
    # recover the scores' order from P: i beats j iff s_i > s_j, so the top action wins every match-up
    top = int(np.argmax((g.P >= 0.5).sum(axis=1)))
    assert np.all(g.P[top] >= 0.5)
    np.testing.assert_allclose(cert.exploitability(g.P, np.eye(7)[top]), 0.0, rtol=0.0, atol=IDENTITY_F64)


# --------------------------------------------------------------------------- strategies
@pst.SETTINGS
@given(st.integers(1, 7).flatmap(pst.simplex))
def test_simplex_strategy(p):
    """Property: simplex points are strictly positive and sum to 1."""
    assert np.all(p > 0.0)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=0.0, atol=IDENTITY_F64)


@pst.SETTINGS
@given(pst.stochastic_matrices((3, 2, 4)), pst.stochastic_matrices(5, allow_zeros=False), pst.policies(3, 2))
def test_stochastic_strategies(P, q, pi):
    """Property: rows are distributions; allow_zeros=False gives strictly positive rows."""
    assert P.shape == (3, 2, 4) and q.shape == (5,) and pi.shape == (3, 2)
    for arr in (P, q, pi):
        assert np.all(arr >= 0.0)
        np.testing.assert_allclose(arr.sum(axis=-1), 1.0, rtol=0.0, atol=IDENTITY_F64)
    assert np.all(q > 0.0) and np.all(pi > 0.0)


@pst.SETTINGS
@given(pst.mdps(min_states=2, max_states=3, min_actions=2, max_actions=2, gamma=0.5))
def test_mdps_strategy_bounds(mdp):
    """Property: drawn MDPs respect the requested sizes and discount."""
    assert 2 <= mdp.num_states <= 3 and mdp.num_actions == 2 and mdp.gamma == 0.5
    assert np.all(np.abs(mdp.r) <= 1.0)


@pst.SETTINGS
@given(pst.mdps(horizon=st.integers(1, 3), time_inhomogeneous=True, max_states=3))
def test_mdps_strategy_finite_horizon(mdp):
    """Property: a horizon strategy gives finite-horizon, time-inhomogeneous MDPs."""
    assert mdp.criterion == "finite_horizon" and 1 <= mdp.horizon <= 3
    assert mdp.P.shape[0] == mdp.horizon and mdp.r.shape[0] == mdp.horizon


@pst.SETTINGS
@given(pst.mdps())
def test_mdps_strategy_default_gamma(mdp):
    """Property: the default discount lies in [0, 0.95]."""
    assert 0.0 <= mdp.gamma <= 0.95 and mdp.criterion == "discounted"


@pst.SETTINGS
@given(pst.bandits(beta=st.floats(0.0, 1.0), random_reference=True), pst.preference_games(beta=0.2))
def test_bandit_and_game_strategies(bandit, game):
    """Property: bandits and games are valid objects with the requested beta and sizes."""
    assert isinstance(bandit, po.Bandit) and 1 <= bandit.num_actions <= 8 and 0.0 <= bandit.beta <= 1.0
    assert isinstance(game, po.PreferenceGame) and 2 <= game.num_actions <= 8 and game.beta == 0.2
    np.testing.assert_allclose(game.P + game.P.T, 1.0, rtol=0.0, atol=IDENTITY_F64)
    np.testing.assert_array_equal(np.diag(game.P), 0.5)


def test_settings_profile():
    assert pst.SETTINGS.derandomize and pst.SETTINGS.deadline is None and pst.SETTINGS.max_examples == 25

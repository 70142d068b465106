"""Problem classes: boundary validation, immutability, criteria, sparse/dense agreement, conversions."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import polopt as po
from polopt.problems import AVERAGE, DISCOUNTED, FINITE_HORIZON
from polopt.problems import catalogue as cat
from polopt.testing.strategies import SETTINGS, mdps
from polopt.testing.tolerances import IDENTITY_F64

S, A = 4, 2


def uniform_kernel(S: int = S, A: int = A) -> np.ndarray:
    return np.full((S, A, S), 1.0 / S)


def zero_rewards(S: int = S, A: int = A) -> np.ndarray:
    return np.zeros((S, A))


def valid_game() -> np.ndarray:
    return np.array([[0.5, 0.3, 0.6], [0.7, 0.5, 0.2], [0.4, 0.8, 0.5]])


def valid_mixture():
    """phi [3, 2, 3, 2]: feature 0 points at state 0, feature 1 at state 1; theta on the simplex works."""
    phi = np.zeros((3, 2, 3, 2))
    phi[:, :, 0, 0] = 1.0
    phi[:, :, 1, 1] = 1.0
    return phi


def raises(exc, *fragments):
    """``pytest.raises`` requiring every fragment (literal text) in the message."""
    return pytest.raises(exc, match="".join(f"(?=.*{re.escape(f)})" for f in fragments))


# --------------------------------------------------------------------------- TabularMDP: bad input
def test_nonstochastic_row_names_first_offending_row():
    P = uniform_kernel()
    P[3, 1, 0] -= 0.02
    with raises(ValueError, "P[3, 1, :] sums to", "0.98", "expected 1"):
        po.TabularMDP(P, zero_rewards())


@pytest.mark.parametrize("bad, word", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_nonfinite_kernel_entry_named(bad, word):
    P = uniform_kernel()
    P[2, 1, 3] = bad
    with raises(ValueError, "P[2, 1, 3]", word, "finite"):
        po.TabularMDP(P, zero_rewards())


def test_nonfinite_reward_named():
    r = zero_rewards()
    r[1, 0] = np.nan
    with raises(ValueError, "r[1, 0]", "finite"):
        po.TabularMDP(uniform_kernel(), r)


def test_negative_probability_named():
    P = uniform_kernel()
    P[1, 0, 2], P[1, 0, 3] = -0.25, 0.75  # row still sums to 1: only the sign is wrong
    with raises(ValueError, "P[1, 0, 2]", "-0.25", ">= 0"):
        po.TabularMDP(P, zero_rewards())


def test_kernel_reward_shape_mismatch():
    with raises(ValueError, "4 states", "r has 3"):
        po.TabularMDP(uniform_kernel(), zero_rewards(3, A))
    with raises(ValueError, "P must have shape", "(4, 2, 4)"):
        po.TabularMDP(uniform_kernel(), zero_rewards(S, A + 1))
    with raises(ValueError, "P must have 3 or 4 dimensions"):
        po.TabularMDP(np.full((S, S), 1.0 / S), zero_rewards())


@pytest.mark.parametrize("gamma", [-0.1, 1.5, 1.0 + 1e-9])
def test_gamma_outside_unit_interval(gamma):
    with raises(ValueError, "gamma", "[0, 1]"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), gamma=gamma)


@pytest.mark.parametrize("gamma", [np.nan, np.inf])
def test_gamma_nonfinite(gamma):
    with raises(ValueError, "gamma", "finite"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), gamma=gamma)


@pytest.mark.parametrize("gamma", ["0.9", True, [0.9]])
def test_gamma_wrong_type(gamma):
    with raises(TypeError, "gamma"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), gamma=gamma)


def test_horizon_zero_and_wrong_type():
    with raises(ValueError, "horizon", ">= 1", "0"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), horizon=0)
    with raises(TypeError, "horizon", "integer"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), horizon=2.0)


def test_time_axis_disagrees_with_horizon():
    P = np.broadcast_to(uniform_kernel(), (3, S, A, S))
    with raises(ValueError, "leading time axis", "horizon"):
        po.TabularMDP(P, zero_rewards())
    with raises(ValueError, "3 time steps", "horizon=2"):
        po.TabularMDP(P, zero_rewards(), horizon=2)
    with raises(ValueError, "r has 3 time steps", "horizon=2"):
        po.TabularMDP(uniform_kernel(), np.zeros((3, S, A)), horizon=2)


def test_string_input_is_type_error():
    with raises(TypeError, "P", "str"):
        po.TabularMDP("abc", zero_rewards())
    with raises(TypeError, "r"):
        po.TabularMDP(uniform_kernel(), [["a", "b"]] * S)


def test_complex_input_is_type_error_without_warning():
    """Complex input is refused before any cast (a cast would warn and drop the imaginary part)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with raises(TypeError, "P", "complex"):
            po.TabularMDP(uniform_kernel().astype(complex), zero_rewards())
        with raises(TypeError, "r", "complex"):
            po.TabularMDP(uniform_kernel(), zero_rewards() + 1j)
        with raises(TypeError, "P", "complex"):
            po.PreferenceGame(valid_game() + 0j)
        with raises(TypeError, "rewards", "complex"):
            po.Bandit(np.array([1.0, 2.0j]))


def test_rho_off_simplex():
    with raises(ValueError, "rho[3]", ">= 0"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), rho=[0.5, 0.5, 0.5, -0.5])
    with raises(ValueError, "rho sums to", "0.9"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), rho=[0.3, 0.3, 0.2, 0.1])
    with raises(ValueError, "rho must have shape (4,)"):
        po.TabularMDP(uniform_kernel(), zero_rewards(), rho=[0.5, 0.5])


def test_sparse_kernel_wrong_shape():
    P = sp.csr_matrix(uniform_kernel().reshape(S * A, S)[:-1])
    with raises(ValueError, "(S*A, S)", "(8, 4)", "(7, 4)"):
        po.TabularMDP(P, zero_rewards())


def test_sparse_kernel_bad_rows():
    Q = uniform_kernel().reshape(S * A, S).copy()
    Q[5, 1] = 0.5
    with raises(ValueError, "row 5", "state 2, action 1", "sums to 1.25"):
        po.TabularMDP(sp.csr_matrix(Q), zero_rewards())
    Q = uniform_kernel().reshape(S * A, S).copy()
    Q[5, 1], Q[5, 2] = -0.25, 0.75
    with raises(ValueError, "P[5, 1]", ">= 0"):
        po.TabularMDP(sp.csr_matrix(Q), zero_rewards())
    Q = uniform_kernel().reshape(S * A, S).copy()
    Q[6, 3] = np.nan
    with raises(ValueError, "P[6, 3]", "finite"):
        po.TabularMDP(sp.csr_matrix(Q), zero_rewards())


# --------------------------------------------------------------------------- games, bandits, mixtures: bad input
def test_game_skew_violation_names_both_indices():
    P = valid_game()
    P[2, 0] = 0.5
    with raises(ValueError, "P[0, 2] + P[2, 0]", "1.1", "P + P.T = 1"):
        po.PreferenceGame(P)


def test_game_probability_above_one():
    P = valid_game()
    P[0, 1], P[1, 0] = 1.2, 0.0
    with raises(ValueError, "P[0, 1]", "1.2", "<= 1"):
        po.PreferenceGame(P)


def test_game_negative_and_nonfinite_entries():
    P = valid_game()
    P[2, 1], P[1, 2] = -0.2, 1.2
    with raises(ValueError, "P[2, 1]", ">= 0"):
        po.PreferenceGame(P)
    P = valid_game()
    P[1, 2] = np.nan
    with raises(ValueError, "P[1, 2]", "finite"):
        po.PreferenceGame(P)


def test_game_shape_type_reference_beta():
    with raises(ValueError, "square", "(2, 3)"):
        po.PreferenceGame(valid_game()[:2])
    with raises(TypeError, "P", "str"):
        po.PreferenceGame("abc")
    with raises(ValueError, "reference[2]", ">= 0"):
        po.PreferenceGame(valid_game(), reference=[0.5, 0.6, -0.1])
    with raises(ValueError, "reference sums to", "1.2"):
        po.PreferenceGame(valid_game(), reference=[0.5, 0.6, 0.1])
    with raises(ValueError, "reference must have shape (3,)"):
        po.PreferenceGame(valid_game(), reference=[0.5, 0.5])
    with raises(ValueError, "beta", "[0, inf]", "-1"):
        po.PreferenceGame(valid_game(), beta=-1.0)
    with raises(TypeError, "beta"):
        po.PreferenceGame(valid_game(), beta="0.1")


def test_bandit_bad_input():
    with raises(ValueError, "rewards[1]", "finite"):
        po.Bandit([1.0, np.nan])
    with raises(ValueError, "beta", "-1"):
        po.Bandit([1.0, 2.0], beta=-1.0)
    with raises(ValueError, "reference sums to", "1.1"):
        po.Bandit([1.0, 2.0], reference=[1.0, 0.1])
    with raises(ValueError, "at least one arm"):
        po.Bandit([])
    with raises(ValueError, "rewards", "dimensions", "(1, 2)"):
        po.Bandit([[1.0, 2.0]])
    with raises(TypeError, "rewards"):
        po.Bandit("12")


def test_contextual_bandit_bad_input():
    with raises(ValueError, "contexts sums to", "0.5"):
        po.ContextualBandit([[1.0, 2.0]], contexts=[0.5])
    with raises(ValueError, "reference[0, :] sums to", "1.1"):
        po.ContextualBandit([[1.0, 2.0]], reference=[[0.5, 0.6]])
    with raises(ValueError, "rewards[0, 1]", "finite"):
        po.ContextualBandit([[1.0, np.inf]])


def test_linear_mixture_not_a_distribution():
    phi = valid_mixture()
    with raises(ValueError, "not a distribution", "[0, 0, :] sums to", "1.1"):
        po.LinearMixtureMDP(phi, [0.5, 0.6], np.zeros((3, 2)), gamma=0.9)
    with raises(ValueError, "not a distribution", "[0, 0, 1]", ">= 0"):
        po.LinearMixtureMDP(phi, [1.5, -0.5], np.zeros((3, 2)), gamma=0.9)
    # a step-dependent theta whose third step is bad: the message names step 2
    thetas = [[0.5, 0.5], [0.5, 0.5], [0.2, 0.2]]
    with raises(ValueError, "[2, 0, 0, :] sums to", "0.4"):
        po.LinearMixtureMDP(phi, thetas, np.zeros((3, 2)), horizon=3)


def test_linear_mixture_shapes():
    phi = valid_mixture()
    with raises(ValueError, "theta has dimension 3", "d=2"):
        po.LinearMixtureMDP(phi, [0.5, 0.5, 0.0], np.zeros((3, 2)), gamma=0.9)
    with raises(ValueError, "theta", "leading time axis", "horizon"):
        po.LinearMixtureMDP(phi, [[0.5, 0.5]] * 3, np.zeros((3, 2)), gamma=0.9)
    with raises(ValueError, "P must have shape"):
        po.LinearMixtureMDP(phi, [0.5, 0.5], np.zeros((3, 3)), gamma=0.9)


# --------------------------------------------------------------------------- immutability
def all_problems():
    phi = valid_mixture()
    return [
        po.TabularMDP(uniform_kernel(), zero_rewards(), gamma=0.9),
        cat.river_swim(sparse=True),
        po.Bandit([1.0, 2.0]),
        po.ContextualBandit([[1.0, 2.0], [0.0, 1.0]]),
        po.PreferenceGame(valid_game()),
        po.LinearMixtureMDP(phi, [0.5, 0.5], np.zeros((3, 2)), gamma=0.9),
    ]


@pytest.mark.parametrize("problem", all_problems(), ids=lambda p: type(p).__name__)
def test_attributes_cannot_be_set_or_deleted(problem):
    with pytest.raises(AttributeError, match="immutable"):
        problem.num_actions = 7
    with pytest.raises(AttributeError, match="immutable"):
        problem.new_attribute = 1
    with pytest.raises(AttributeError, match="immutable"):
        del problem.num_actions


@pytest.mark.parametrize("problem", all_problems(), ids=lambda p: type(p).__name__)
def test_arrays_are_read_only(problem):
    names = ("P", "r", "rho", "mu", "phi", "theta")
    arrays = [getattr(problem, n) for n in names if isinstance(getattr(problem, n, None), np.ndarray)]
    if getattr(problem, "P_sparse", None) is not None:
        arrays += [problem.P_sparse.data, problem.P_sparse.indices, problem.P_sparse.indptr]
    assert arrays, "every problem holds at least one array"
    for arr in arrays:
        assert not arr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            arr[(0,) * arr.ndim] = 0.5


def test_caller_arrays_are_copied_not_modified():
    P, r, rho = uniform_kernel(), np.arange(S * A, dtype=float).reshape(S, A), np.full(S, 0.25)
    P0, r0, rho0 = P.copy(), r.copy(), rho.copy()
    mdp = po.TabularMDP(P, r, rho=rho)
    assert P.flags.writeable and r.flags.writeable  # the caller's arrays keep their flags
    np.testing.assert_array_equal(P, P0)
    P[0, 0, :] = [1.0, 0.0, 0.0, 0.0]
    r[:] = -1.0
    rho[:] = [1.0, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(mdp.P, P0)
    np.testing.assert_array_equal(mdp.r, r0)
    np.testing.assert_array_equal(mdp.rho, rho0)


def test_caller_sparse_kernel_is_copied():
    Q = sp.csr_matrix(uniform_kernel().reshape(S * A, S))
    data0 = Q.data.copy()
    mdp = po.TabularMDP(Q, zero_rewards())
    Q.data[:] = 0.0
    np.testing.assert_array_equal(mdp.P_sparse.data, data0)


def test_game_and_bandit_copy_inputs():
    P, mu = valid_game(), np.array([0.2, 0.3, 0.5])
    game = po.PreferenceGame(P, reference=mu)
    P[:] = 0.5
    mu[:] = 1.0 / 3.0
    np.testing.assert_array_equal(game.P, valid_game())
    np.testing.assert_array_equal(game.mu, [0.2, 0.3, 0.5])
    rew = np.array([1.0, 2.0])
    bandit = po.Bandit(rew)
    rew[0] = 9.0
    np.testing.assert_array_equal(bandit.r, [1.0, 2.0])


# --------------------------------------------------------------------------- criteria and views
def test_criterion_selection():
    P, r = uniform_kernel(), zero_rewards()
    assert po.TabularMDP(P, r).criterion == DISCOUNTED
    assert po.TabularMDP(P, r).gamma == 0.9
    assert po.TabularMDP(P, r, gamma=0.0).criterion == DISCOUNTED
    assert po.TabularMDP(P, r, gamma=1.0).criterion == AVERAGE
    fh = po.TabularMDP(P, r, horizon=3)
    assert (fh.criterion, fh.horizon, fh.gamma) == (FINITE_HORIZON, 3, 1.0)
    assert po.TabularMDP(P, r, horizon=3, gamma=0.5).criterion == FINITE_HORIZON


def test_time_inhomogeneous_kernel_and_rewards():
    H = 3
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(S), size=(H, S, A))
    r = rng.random((H, S, A))
    mdp = po.TabularMDP(P, r, horizon=H)
    assert mdp.is_time_inhomogeneous and mdp.criterion == FINITE_HORIZON
    for h in range(H):
        np.testing.assert_array_equal(mdp.P_at(h), P[h].reshape(S * A, S))
        np.testing.assert_array_equal(mdp.r_at(h), r[h])
    with pytest.raises(ValueError, match="time-inhomogeneous"):
        _ = mdp.P_sa
    stationary = po.TabularMDP(P[0], r[0], horizon=H)
    assert not stationary.is_time_inhomogeneous
    np.testing.assert_array_equal(stationary.P_at(2), P[0].reshape(S * A, S))


def test_sparse_equals_dense():
    dense = cat.river_swim(7, sparse=False)
    sparse = cat.river_swim(7, sparse=True)
    assert sparse.is_sparse and not dense.is_sparse and sparse.P is None
    np.testing.assert_array_equal(sparse.P_sa.toarray(), dense.P_sa)
    np.testing.assert_array_equal(sparse.dense_P(), dense.P)
    np.testing.assert_array_equal(sparse.P_at(0).toarray(), dense.P_at(0))
    v = np.linspace(-1.0, 2.0, 7)
    np.testing.assert_allclose(sparse.P_sa @ v, dense.P_sa @ v, rtol=IDENTITY_F64, atol=IDENTITY_F64)
    assert not sparse.dense_P().flags.writeable


@SETTINGS
@given(mdps(max_states=5, max_actions=3))
def test_sparse_input_equals_dense_input(mdp):
    """Property: building from the CSR (S*A, S) form of P gives the same MDP as the dense [S, A, S] form."""
    S_, A_ = mdp.num_states, mdp.num_actions
    sparse = po.TabularMDP(sp.csr_matrix(mdp.P_sa), mdp.r, gamma=mdp.gamma, rho=mdp.rho)
    assert (sparse.num_states, sparse.num_actions, sparse.criterion) == (S_, A_, mdp.criterion)
    np.testing.assert_array_equal(sparse.dense_P(), mdp.P)
    np.testing.assert_array_equal(sparse.P_sa.toarray(), mdp.P_sa)


def test_with_gamma_keeps_data():
    mdp = cat.river_swim(sparse=True)
    other = mdp.with_gamma(0.5)
    assert other.gamma == 0.5 and other.is_sparse and mdp.gamma == 0.95
    np.testing.assert_array_equal(other.rho, mdp.rho)
    assert mdp.with_gamma(1.0).criterion == AVERAGE


# --------------------------------------------------------------------------- conversions
def test_bandit_to_mdp():
    bandit = po.Bandit([0.2, 0.9, 0.4])
    mdp = bandit.to_mdp()
    assert (mdp.num_states, mdp.num_actions, mdp.horizon) == (1, 3, 1)
    np.testing.assert_array_equal(mdp.r, [[0.2, 0.9, 0.4]])
    np.testing.assert_array_equal(mdp.P, np.ones((1, 3, 1)))


def test_contextual_bandit_to_mdp():
    cb = po.ContextualBandit([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]], contexts=[0.2, 0.3, 0.5])
    mdp = cb.to_mdp()
    assert (mdp.num_states, mdp.num_actions, mdp.horizon) == (3, 2, 1)
    np.testing.assert_array_equal(mdp.rho, [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(mdp.r, cb.r)
    # every context is its own state and stays there: the one-step value is r itself
    for x in range(3):
        for a in range(2):
            np.testing.assert_array_equal(mdp.P[x, a], np.eye(3)[x])


def test_contextual_bandit_reference_broadcast():
    cb = po.ContextualBandit([[1.0, 0.0], [0.0, 2.0]], reference=[0.25, 0.75])
    np.testing.assert_array_equal(cb.mu, [[0.25, 0.75], [0.25, 0.75]])
    assert not cb.mu.flags.writeable


def test_linear_mixture_as_tabular_and_phi_V():
    rng = np.random.default_rng(1)
    S_, A_, d = 4, 3, 3
    # each feature is a distribution over s' for every (s, a): any theta on the simplex is valid
    phi = rng.dirichlet(np.ones(S_), size=(S_, A_, d)).transpose(0, 1, 3, 2)
    theta = np.array([0.2, 0.5, 0.3])
    r = rng.random((S_, A_))
    lm = po.LinearMixtureMDP(phi, theta, r, gamma=0.8)
    tab = lm.as_tabular()
    assert isinstance(tab, po.TabularMDP) and tab.gamma == 0.8 and lm.criterion == DISCOUNTED
    P_loop = np.zeros((S_, A_, S_))
    for s in range(S_):
        for a in range(A_):
            for t in range(S_):
                P_loop[s, a, t] = sum(phi[s, a, t, k] * theta[k] for k in range(d))
    np.testing.assert_allclose(tab.P, P_loop, rtol=IDENTITY_F64, atol=IDENTITY_F64)
    np.testing.assert_array_equal(tab.r, r)
    V = rng.standard_normal(S_)
    phi_V = lm.phi_V(V)
    assert phi_V.shape == (S_, A_, d)
    # (P V)(s, a) = <phi_V(s, a), theta>
    np.testing.assert_allclose(phi_V @ theta, (tab.P_sa @ V).reshape(S_, A_), rtol=IDENTITY_F64, atol=IDENTITY_F64)


def test_linear_mixture_step_dependent_phi_V():
    lm = cat.linear_mixture_hard(d=3, H=3)
    V = np.arange(lm.num_states, dtype=float)
    for h in range(3):
        PV = (lm.as_tabular().P_at(h) @ V).reshape(lm.num_states, lm.num_actions)
        np.testing.assert_allclose(lm.phi_V(V, h) @ lm.theta[h], PV, rtol=IDENTITY_F64, atol=IDENTITY_F64)


# --------------------------------------------------------------------------- solve() boundary
def test_solve_rejects_non_problem():
    with raises(TypeError, "problem must be one of", "TabularMDP", "dict"):
        po.solve({"P": 1}, method="value_iteration")
    with raises(TypeError, "problem"):
        po.methods("not a problem")


@pytest.mark.parametrize("problem", all_problems(), ids=lambda p: type(p).__name__)
def test_solve_unknown_method_lists_valid_names(problem):
    valid = po.methods(problem)
    with pytest.raises(ValueError, match="unknown method 'no_such_method'") as info:
        po.solve(problem, method="no_such_method")
    message = str(info.value)
    listed = message.split(":")[-1]
    assert [n.strip() for n in listed.split(",") if n.strip()] == valid


def test_solve_method_must_be_string():
    with raises(TypeError, "method", "int"):
        po.solve(cat.puterman_two_state(), method=3)


@SETTINGS
@given(st.integers(1, 5))
def test_methods_are_sorted_names(k):
    """Property: ``methods`` returns sorted, unique strings for every problem kind."""
    names = po.methods(po.Bandit(np.arange(k, dtype=float)))
    assert names == sorted(set(names)) and all(isinstance(n, str) for n in names)

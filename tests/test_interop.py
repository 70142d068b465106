"""Importers and exporters against the libraries themselves: Gymnasium, QuantEcon, pymdptoolbox, OpenSpiel."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

import polopt as po
from polopt.exact import matrix_game as mg
from polopt.problems import MatrixGame, PreferenceGame, TabularMDP, interop
from polopt.testing.tolerances import EXACT_F64

GAMMA = 0.99
#: Monte-Carlo agreement: |mean return - V(start)| <= MC_SIGMAS standard errors (two-sided normal tail
#: 6e-7 at 5 sigmas; the seeds are fixed, so the test is deterministic, and 5 leaves room for the CLT
#: approximation at a few thousand episodes).
MC_SIGMAS = 5.0
#: Rollouts stop after this many steps: gamma^H max|r| / (1 - gamma) <= 0.99^3000 * 100 / 0.01 < 1e-9.
HORIZON = 3000
#: The truncated tail bound for HORIZON steps (rewards at most 20 in absolute value: Taxi).
TAIL = GAMMA**HORIZON * 20 / (1 - GAMMA)
#: Exact solvers of two libraries on the same MDP: policy iteration ends in an exact linear solve
#: (float64 round-off times the condition number ~ 1 / (1 - gamma) = 100 of the evaluation).
SOLVER_AGREEMENT = 1e-9


def _rollouts(env, policy, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Discounted returns of the gymnasium env itself under the deterministic policy, and the start states."""
    base = env.unwrapped
    rng_seed = seed
    returns, starts = np.empty(episodes), np.empty(episodes, dtype=int)
    for e in range(episodes):
        s, _ = base.reset(seed=rng_seed) if e == 0 else base.reset()
        starts[e] = s
        total, disc = 0.0, 1.0
        for _ in range(HORIZON):
            s, reward, terminated, truncated, _ = base.step(int(policy[s]))
            total += disc * reward
            disc *= GAMMA
            if terminated:
                break
        returns[e] = total
    return returns, starts


# --------------------------------------------------------------------------- Gymnasium
@pytest.fixture(scope="module")
def gym():
    return pytest.importorskip("gymnasium")


def test_cliffwalking_start_value_is_thirteen_steps_of_minus_one(gym):
    """The shortest safe path has 13 moves of reward -1: V(start) = -(1 - gamma^13) / (1 - gamma) = -12.2478..."""
    env = gym.make("CliffWalking-v1")
    mdp = TabularMDP.from_gymnasium(env, gamma=GAMMA)
    assert mdp.num_states == 48 + 1 and mdp.rho[36] == 1.0  # the absorbing state is the last one
    res = po.solve(mdp)
    start = int(np.argmax(mdp.rho))
    assert res.value[start] == pytest.approx(-(1 - GAMMA**13) / (1 - GAMMA), abs=EXACT_F64 * 100)
    assert res.value[-1] == 0.0
    returns, _ = _rollouts(env, res.policy.argmax(axis=1), 1, seed=0)  # deterministic: one episode is exact
    assert returns[0] == pytest.approx(res.value[start], abs=EXACT_F64 * 100)


def test_ignoring_terminated_solves_another_task(gym):
    """Built without the flag (the goal keeps moving at -1 a step), the start value is -1 / (1 - gamma) = -100."""
    base = gym.make("CliffWalking-v1").unwrapped
    S, A = base.observation_space.n, base.action_space.n
    P, r = np.zeros((S, A, S)), np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, _terminated in base.P[s][a]:
                P[s, a, nxt] += prob
                r[s, a] += prob * reward
    naive = po.solve(TabularMDP(P, r, gamma=GAMMA))
    assert naive.value[36] == pytest.approx(-1 / (1 - GAMMA), abs=1e-6)


@pytest.mark.parametrize("env_id, episodes", [("FrozenLake-v1", 3000), ("CliffWalkingSlippery-v1", 1000),
                                              ("Taxi-v4", 40)])
def test_values_match_monte_carlo_rollouts_of_the_env(gym, env_id, episodes):
    env = gym.make(env_id)
    mdp = TabularMDP.from_gymnasium(env, gamma=GAMMA)
    res = po.solve(mdp)
    returns, starts = _rollouts(env, res.policy.argmax(axis=1), episodes, seed=1)
    np.testing.assert_allclose(mdp.rho[:-1], env.unwrapped.initial_state_distrib, atol=0)
    if env_id == "Taxi-v4":
        # deterministic dynamics, random start: every episode's return is V(start) exactly
        np.testing.assert_allclose(returns, res.value[starts], rtol=0, atol=1e-9 + TAIL)
    else:
        # one start state (FrozenLake 0, CliffWalking 36), stochastic moves: the mean return within 5 SE
        assert np.all(starts == starts[0]) and mdp.rho[starts[0]] == 1.0
        se = returns.std(ddof=1) / np.sqrt(episodes)
        assert abs(returns.mean() - res.value[starts[0]]) <= MC_SIGMAS * se + TAIL


def test_from_gymnasium_takes_an_env_id_and_sums_duplicate_transitions(gym):
    mdp = TabularMDP.from_gymnasium("FrozenLake-v1", gamma=0.9)
    base = gym.make("FrozenLake-v1").unwrapped
    # action 0 (left) slips to left, down or up with 1/3 each; from the corner 0, left and up both stay:
    # the table lists next state 0 twice
    listed = [nxt for _, nxt, _, _ in base.P[0][0]]
    assert listed.count(0) == 2
    assert mdp.P[0, 0, 0] == pytest.approx(2 / 3, abs=EXACT_F64)


def test_from_gymnasium_rejects_envs_without_a_table(gym):
    with pytest.raises(ValueError, match=r"CartPoleEnv has no transition table env.unwrapped.P"):
        TabularMDP.from_gymnasium(gym.make("CartPole-v1"))

    class Broken:
        P = {0: {0: [(1.0, 0, 0.0, False)]}}
        observation_space = type("D", (), {"n": 2, "shape": ()})()
        action_space = type("D", (), {"n": 1, "shape": ()})()

    with pytest.raises(ValueError, match="has no entry for state 1"):
        TabularMDP.from_gymnasium(Broken())
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\]"):  # 1.0 is the total reward
        TabularMDP.from_gymnasium("FrozenLake-v1", gamma=1.5)


def test_optional_imports_name_the_extra(monkeypatch):
    for module in ("gymnasium", "pyspiel"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'polopt\[interop\]'"):
        TabularMDP.from_gymnasium("FrozenLake-v1")
    with pytest.raises(ImportError, match=r"'pyspiel'.*pip install 'polopt\[interop\]'"):
        MatrixGame.from_openspiel("matrix_mp")


# --------------------------------------------------------------------------- QuantEcon
@pytest.fixture(scope="module")
def qe():
    return pytest.importorskip("quantecon.markov")


def _random_ddp(qe, sa_pair: bool, sparse: bool):
    return qe.random_discrete_dp(12, 4, beta=0.95, k=3 if sparse else None, sparse=sparse, sa_pair=sa_pair,
                                 random_state=5)


@pytest.mark.parametrize("sa_pair, sparse", [(False, False), (True, False), (True, True)])
def test_quantecon_round_trip_and_solve_agreement(qe, sa_pair, sparse):
    ddp = _random_ddp(qe, sa_pair, sparse)
    mdp = TabularMDP.from_quantecon(ddp)
    assert mdp.gamma == ddp.beta and mdp.is_sparse == sparse
    theirs = ddp.solve(method="policy_iteration")
    ours = po.solve(mdp)
    np.testing.assert_allclose(ours.value, theirs.v, rtol=0, atol=SOLVER_AGREEMENT * np.abs(theirs.v).max())
    np.testing.assert_array_equal(ours.policy.argmax(axis=1), theirs.sigma)
    back = mdp.to_quantecon()
    again = back.solve(method="policy_iteration")
    np.testing.assert_array_equal(again.sigma, theirs.sigma)
    np.testing.assert_allclose(again.v, theirs.v, rtol=0, atol=SOLVER_AGREEMENT * np.abs(theirs.v).max())
    np.testing.assert_array_equal(TabularMDP.from_quantecon(back).dense_P(), mdp.dense_P())


def test_quantecon_infeasible_actions_are_kept(qe):
    R = np.array([[1.0, -np.inf], [0.0, 2.0]])
    Q = np.full((2, 2, 2), 0.5)
    pairs = qe.DiscreteDP([1.0, 0.0, 2.0], np.full((3, 2), 0.5), 0.9, [0, 1, 1], [0, 0, 1])  # (0, 1) missing
    for ddp in (qe.DiscreteDP(R, Q, 0.9), pairs):
        mdp = TabularMDP.from_quantecon(ddp)
        np.testing.assert_array_equal(mdp.mask, [[True, False], [True, True]])
        theirs = ddp.solve(method="policy_iteration")
        np.testing.assert_allclose(po.solve(mdp).value, theirs.v, rtol=EXACT_F64)
        back = mdp.to_quantecon().solve(method="policy_iteration")  # the pair form, feasible pairs only
        np.testing.assert_allclose(back.v, theirs.v, rtol=EXACT_F64)
        np.testing.assert_array_equal(back.sigma, theirs.sigma)
    with pytest.raises(TypeError, match="quantecon.markov.DiscreteDP"):
        TabularMDP.from_quantecon(object())
    with pytest.raises(ValueError, match="stationary discounted"):
        TabularMDP(np.full((2, 1, 2), 0.5), np.ones((2, 1)), gamma=1.0).to_quantecon()


# --------------------------------------------------------------------------- pymdptoolbox
@pytest.fixture(scope="module")
def mdptoolbox():
    pytest.importorskip("mdptoolbox")
    import mdptoolbox.example
    import mdptoolbox.mdp

    return mdptoolbox


def test_mdptoolbox_forest_agrees_with_its_own_solvers(mdptoolbox):
    P, R = mdptoolbox.example.forest(S=5, r1=4, r2=2, p=0.1)
    mdp = TabularMDP.from_mdptoolbox(P, R, gamma=0.9)
    ours = po.solve(mdp)
    pi = mdptoolbox.mdp.PolicyIteration(P, R, 0.9)
    pi.run()
    np.testing.assert_allclose(ours.value, pi.V, rtol=0, atol=SOLVER_AGREEMENT * max(np.abs(pi.V)))
    np.testing.assert_array_equal(ours.policy.argmax(axis=1), pi.policy)
    vi = mdptoolbox.mdp.ValueIteration(P, R, 0.9, epsilon=1e-8)
    vi.run()
    np.testing.assert_array_equal(ours.policy.argmax(axis=1), vi.policy)


def test_mdptoolbox_square_case_is_not_silently_transposed(mdptoolbox):
    """S == A: pymdptoolbox's P[A, S, S'] is also a valid [S, A, S'] array, of a different MDP."""
    P, R = _square_instance()
    mdp = TabularMDP.from_mdptoolbox(P, R, gamma=0.9)
    theirs = mdptoolbox.mdp.PolicyIteration(P, R, 0.9)
    theirs.run()
    np.testing.assert_allclose(po.solve(mdp).value, theirs.V, rtol=0, atol=SOLVER_AGREEMENT * 10)
    wrong = po.solve(TabularMDP(P, R, gamma=0.9))  # the axis mix-up: accepted, and solves another MDP
    # 0.04 on this instance: far above the 1e-8 agreement, i.e. a different MDP, not round-off
    assert np.max(np.abs(wrong.value - np.asarray(theirs.V))) > 1e5 * SOLVER_AGREEMENT


def _square_instance():
    rng = np.random.default_rng(2)
    P = rng.dirichlet(np.ones(3), size=(3, 3))  # [A, S, S']
    R = rng.uniform(size=(3, 3))  # [S, A]
    return P, R


def test_mdptoolbox_reward_conventions(mdptoolbox):
    P, _ = _square_instance()
    R3 = np.random.default_rng(4).uniform(size=(3, 3, 3))  # [A, S, S']: reward per transition
    expected = np.einsum("ast,ast->sa", P, R3)
    np.testing.assert_allclose(TabularMDP.from_mdptoolbox(P, R3, 0.9).r, expected, atol=EXACT_F64)
    Rs = np.array([1.0, 2.0, 3.0])  # [S]: the state's reward for every action
    np.testing.assert_array_equal(TabularMDP.from_mdptoolbox(P, Rs, 0.9).r, np.repeat(Rs[:, None], 3, axis=1))
    sparse = [sp.csr_matrix(p) for p in P]  # a list of A sparse [S, S'] matrices, as pymdptoolbox accepts
    np.testing.assert_allclose(TabularMDP.from_mdptoolbox(sparse, R3, 0.9).r, expected, atol=EXACT_F64)
    ours = po.solve(TabularMDP.from_mdptoolbox(P, R3, 0.9))
    theirs = mdptoolbox.mdp.PolicyIteration(P, R3, 0.9)
    theirs.run()
    np.testing.assert_allclose(ours.value, theirs.V, rtol=0, atol=SOLVER_AGREEMENT * 10)
    with pytest.raises(ValueError, match=r"R must have shape \[S\] = \[3\], \[S, A\] = \[3, 3\]"):
        TabularMDP.from_mdptoolbox(P, np.ones((3, 4)), 0.9)
    with pytest.raises(ValueError, match=r"P must have pymdptoolbox's shape \[A, S, S'\]"):
        TabularMDP.from_mdptoolbox(np.ones((2, 3, 4)) / 4, np.ones(3), 0.9)


# --------------------------------------------------------------------------- OpenSpiel
@pytest.fixture(scope="module")
def pyspiel():
    return pytest.importorskip("pyspiel")


@pytest.mark.parametrize("name", ["matrix_mp", "matrix_rps", "matrix_rpsw", "matrix_brps"])
def test_openspiel_zero_sum_matrix_games_run_as_they_are(pyspiel, name):
    game = pyspiel.load_matrix_game(name)
    mat = MatrixGame.from_openspiel(game)
    np.testing.assert_array_equal(mat.A, np.array(game.row_utilities()))
    res = po.solve(mat)
    assert res.status == "converged" and res.certificates["duality_gap"][-1] <= mg.NASH_TOL
    # the row player's equilibrium guarantees the value against every column
    assert np.min(res.policy.row @ mat.A) == pytest.approx(res.value, abs=2 * mat.scale * mg.NASH_TOL)


def test_openspiel_symmetric_game_as_a_preference_game(pyspiel):
    game = pyspiel.load_matrix_game("matrix_rps")
    pg, mat = PreferenceGame.from_openspiel(game, beta=0.1), MatrixGame.from_openspiel(game, beta=0.1)
    np.testing.assert_allclose(pg.P, 0.5 + np.array(game.row_utilities()) / 2, atol=0)
    star = po.exact.regularized_nash(pg).policy
    pair = po.exact.regularized_nash(mat).policy
    np.testing.assert_allclose(pair.row, star, atol=1e-10)  # Newton to 1e-12 (1 + 1/beta) on both sides
    np.testing.assert_allclose(pair.col, star, atol=1e-10)


def test_openspiel_constant_sum_is_shifted(pyspiel):
    U = np.array([[3.0, 1.0], [0.0, 2.0]])
    mat = MatrixGame.from_openspiel(pyspiel.create_matrix_game(U, 4.0 - U))  # U + V = 4
    np.testing.assert_array_equal(mat.A, U - 2.0)


def test_openspiel_bad_games_are_refused(pyspiel):
    with pytest.raises(ValueError, match="not zero-sum or constant-sum"):
        MatrixGame.from_openspiel("matrix_pd")
    with pytest.raises(ValueError, match=r"pyspiel.MatrixGame.*got 'kuhn_poker'"):
        MatrixGame.from_openspiel(pyspiel.load_game("kuhn_poker"))
    with pytest.raises(ValueError, match="not: use MatrixGame.from_openspiel"):
        PreferenceGame.from_openspiel("matrix_mp")  # zero-sum but not symmetric
    with pytest.raises(ValueError, match="scale must bound"):
        interop.preference_game_from_openspiel("matrix_rps", scale=0.5)


def test_polopt_does_not_import_the_optional_libraries():
    """Importing polopt and solving a matrix game loads neither gymnasium nor open_spiel (optional extras)."""
    import subprocess
    from pathlib import Path

    code = ("import sys, polopt as po; po.solve(po.MatrixGame([[1.0, -1.0], [-1.0, 1.0]])); "
            "loaded = [m for m in ('gymnasium', 'pyspiel', 'open_spiel') if m in sys.modules]; "
            "assert not loaded, loaded")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]

"""The MDPs people bring: infeasible actions, rewards per transition, actions-first kernels and the
episodic total-reward criterion (``polopt/problems/mdp.py``, ``polopt/exact/total.py``).

Hand-solved instances first, then cross-checks between independent solvers (VI / PI / LP, soft VI /
soft PI, RVI / average LP / average PI) on drawn masked instances, QuantEcon on its own instance with
``-inf`` rewards and in state-action-pair form, Gymnasium's CliffWalking and FrozenLake at gamma = 1,
and the bad inputs.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings

import polopt as po
from polopt import exact as ex
from polopt.exact.total import ImproperPolicyError
from polopt.testing.strategies import SETTINGS, masked_mdps, total_reward_mdps
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64, SOLVER_TOL

#: Fewer examples than the project profile: each example runs every exact solver (about ten).
FEW = settings(SETTINGS, max_examples=12)


def raises(exc, *fragments):
    return pytest.raises(exc, match=".*".join(re.escape(f) for f in fragments))


def feasible(mdp, sigma) -> bool:
    sigma = np.asarray(sigma)
    return bool(mdp.mask[np.arange(mdp.num_states), sigma].all()) if sigma.ndim == 1 else bool(
        mdp.mask[np.arange(mdp.num_states)[None, :], sigma].all())


# --------------------------------------------------------------------------- infeasible actions
def two_state_masked(gamma=0.5):
    """State 0: action 0 stays (r = 1), action 1 (infeasible, r = 10) jumps to 1. State 1: action 0 goes
    to 0 (r = 0), action 1 stays (r = 2). By hand, with the mask: v(0) = 1 / (1 - gamma) = 2 and
    v(1) = max(0 + gamma v(0), 2 / (1 - gamma)) = max(1, 4) = 4, policy [0, 1]."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, 0, 0] = P[1, 1, 1] = 1.0
    r = np.array([[1.0, 10.0], [0.0, 2.0]])
    return P, r, np.array([[True, False], [True, True]])


def test_mask_and_minus_inf_build_the_same_problem_and_keep_the_caller_arrays():
    P, r, mask = two_state_masked()
    P0, r0 = P.copy(), r.copy()
    a = po.TabularMDP(P, r, gamma=0.5, mask=mask)
    b = po.TabularMDP(P, np.where(mask, r, -np.inf), gamma=0.5)
    np.testing.assert_array_equal(a.r, b.r)
    np.testing.assert_array_equal(a.mask, mask)
    assert a.r[0, 1] == -np.inf and a.has_infeasible
    np.testing.assert_array_equal(a.P[0, 1], [1.0, 0.0])  # the unused row became a self-loop
    np.testing.assert_array_equal(P, P0)
    np.testing.assert_array_equal(r, r0)
    assert not a.mask.flags.writeable


def test_hand_solved_masked_instance_every_solver():
    P, r, mask = two_state_masked()
    mdp = po.TabularMDP(P, r, gamma=0.5, mask=mask)
    want_v, want_sigma = np.array([2.0, 4.0]), np.array([0, 1])
    for res in (ex.solve_mdp(mdp), ex.value_iteration(mdp), ex.policy_iteration(mdp),
                ex.modified_policy_iteration(mdp), ex.linear_program(mdp)):
        # VI/MPI stop within tol/2 of v*; the others are exact up to round-off
        np.testing.assert_allclose(res.v, want_v, atol=SOLVER_TOL)
        np.testing.assert_array_equal(res.policy, want_sigma)
    assert ex.greedy(mdp, np.array([0.0, 100.0]))[0] == 0  # the jump to v = 100 is no option
    np.testing.assert_array_equal(ex.bellman_backup(mdp, want_v).v, want_v)
    # without the mask the jump (r = 10) is taken: the mask really changes the problem
    assert ex.solve_mdp(po.TabularMDP(P, r, gamma=0.5)).policy[0] == 1


def test_solve_starts_uniform_over_the_feasible_actions():
    """The certificates of po.solve start from the default init: uniform over all actions would take the
    infeasible jump (value -inf); uniform over the feasible ones is finite. By hand at state 1:
    v = (1/2)(0 + 0.5 * 2) + (1/2)(2 + 0.5 v)  =>  v = 2, so suboptimality = max(2 - 2, 4 - 2) = 2."""
    P, r, mask = two_state_masked()
    mdp = po.TabularMDP(P, r, gamma=0.5, mask=mask)
    for method in ("solve_mdp", "linear_program"):
        sub = np.asarray(po.solve(mdp, method=method).certificates["suboptimality"])
        np.testing.assert_allclose(sub, [2.0, 0.0], atol=EXACT_F64)


def test_linear_program_gives_no_occupancy_to_infeasible_pairs():
    P, r, mask = two_state_masked()
    lp = ex.linear_program(po.TabularMDP(P, r, gamma=0.5, mask=mask))
    assert lp.occupancy[0, 1] == 0.0
    np.testing.assert_allclose(lp.occupancy.sum(), 1.0, atol=EXACT_F64)  # HiGHS duals, to its tolerance


@FEW
@given(masked_mdps(max_states=4, max_actions=3))
def test_masked_discounted_solvers_agree_and_stay_feasible(mdp):
    star = ex.solve_mdp(mdp)
    runs = [ex.value_iteration(mdp), ex.policy_iteration(mdp), ex.modified_policy_iteration(mdp),
            ex.linear_program(mdp)]
    for res in [star, *runs]:
        assert feasible(mdp, res.policy)
        # every solver is certified or exact to SOLVER_TOL; the LP to HiGHS' 1e-7 feasibility on
        # rewards scaled below 1 (values <= 10/(1-0.95) = 200 here, so EXACT_F64 * 200 ~ 2e-6 is loose)
        np.testing.assert_allclose(res.v, star.v, atol=2e-6 * max(1.0, np.abs(star.v).max()))
    # the value of the returned policy, evaluated exactly, is v*
    np.testing.assert_allclose(ex.policy_value(mdp, po.exact.one_hot(star.policy, mdp.num_actions)), star.v,
                               atol=SOLVER_TOL * 10)
    # the same problem in sparse state-action-pair form: the numba CSR backups see r = -inf too
    S, A = mdp.shape
    sparse = po.TabularMDP(sp.csr_matrix(mdp.P.reshape(S * A, S)), mdp.r, gamma=mdp.gamma)
    np.testing.assert_array_equal(sparse.mask, mdp.mask)
    res = ex.solve_mdp(sparse)
    assert feasible(mdp, res.policy)
    np.testing.assert_allclose(res.v, star.v, atol=SOLVER_TOL * 10)  # two certified brackets of width tol


@FEW
@given(masked_mdps(max_states=4, max_actions=3, gamma=0.8))
def test_masked_soft_solvers_agree_and_give_zero_probability(mdp):
    a = ex.soft_value_iteration(mdp, beta=0.3)
    b = ex.soft_policy_iteration(mdp, beta=0.3)
    assert np.all(a.policy[~mdp.mask] == 0.0) and np.all(b.policy[~mdp.mask] == 0.0)
    np.testing.assert_allclose(a.v, b.v, atol=EXACT_F64)
    # the soft optimum is the beta-soft max over the feasible actions only: check the fixed point
    q = mdp.r + mdp.gamma * (mdp.P @ a.v)
    feas = np.where(mdp.mask, q, -np.inf)
    soft = 0.3 * np.log(np.sum(np.exp(feas / 0.3), axis=1) / mdp.num_actions)
    np.testing.assert_allclose(soft, a.v, atol=EXACT_F64)


@FEW
@given(masked_mdps(max_states=4, max_actions=3, horizon=3))
def test_masked_backward_induction_is_feasible_and_matches_enumeration(mdp):
    res = ex.backward_induction(mdp)
    assert feasible(mdp, res.policy)
    # enumeration over the feasible actions only, by an independent max
    V = np.zeros(mdp.num_states)
    for _ in range(3):
        V = np.where(mdp.mask, mdp.r + mdp.P @ V, -np.inf).max(axis=1)
    np.testing.assert_allclose(res.V[0], V, atol=IDENTITY_F64 * 10)


@FEW
@given(masked_mdps(max_states=4, max_actions=3, gamma=0.5))
def test_masked_average_reward_solvers_agree(mdp):
    mdp = mdp.with_gamma(1.0)
    rvi = ex.relative_value_iteration(mdp)
    pi = ex.average_policy_iteration(mdp)
    lp = ex.average_reward_lp(mdp)
    for sigma in (rvi.policy, pi.policy, lp.policy):
        assert feasible(mdp, sigma)
    # PI is exact; the LP (HiGHS, then polished) and RVI (span-stopped) agree to EXACT_F64 on [-10, 10]
    np.testing.assert_allclose(lp.gain, pi.gain, atol=EXACT_F64 * 10)
    np.testing.assert_allclose(ex.gain_bias(mdp, po.exact.one_hot(rvi.policy, mdp.num_actions)).gain, pi.gain,
                               atol=EXACT_F64 * 10)


def test_effective_horizon_refuses_infeasible_actions():
    P, r, mask = two_state_masked()
    with raises(ValueError, "effective_horizon needs every action feasible", "action 1 is infeasible in state 0"):
        ex.effective_horizon(po.TabularMDP(P, r, horizon=2, mask=mask))


def test_state_without_feasible_action_is_named():
    P, r, _ = two_state_masked()
    with raises(ValueError, "state 1 has no feasible action"):
        po.TabularMDP(P, r, mask=np.array([[True, False], [False, False]]))
    with raises(ValueError, "state 0 has no feasible action"):
        po.TabularMDP(P, np.array([[-np.inf, -np.inf], [0.0, 1.0]]))


def test_bad_masks():
    P, r, mask = two_state_masked()
    with raises(ValueError, "mask must have shape [S, A] = [2, 2]", "(2, 3)"):
        po.TabularMDP(P, r, mask=np.ones((2, 3), dtype=bool))
    with raises(TypeError, "mask must be a bool array", "float64"):
        po.TabularMDP(P, r, mask=mask.astype(float))
    with raises(ValueError, "r[0, 1] is inf"):  # +inf is no marker of infeasibility
        po.TabularMDP(P, np.array([[1.0, np.inf], [0.0, 2.0]]))
    r_time = np.array([np.where(mask, r, -np.inf), r])
    with raises(ValueError, "r[1, 0, 1] and r[0, 0, 1] disagree on feasibility"):
        po.TabularMDP(np.broadcast_to(P, (2, 2, 2, 2)), r_time, horizon=2)


def test_npg_keeps_infeasible_actions_at_zero_and_reaches_the_masked_optimum():
    P, r, mask = two_state_masked(gamma=0.5)
    mdp = po.TabularMDP(P, r, gamma=0.5, mask=mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(mdp, method="npg", iters=60, eta=1.0)
    pis = np.asarray(res.iterates)
    assert np.all(pis[:, ~mask] == 0.0)  # the default init and every iterate: probability exactly 0
    np.testing.assert_allclose(pis[0, 0], [1.0, 0.0])  # uniform over the feasible actions
    # NPG's linear rate (gamma^t-type, Xiao 2022) leaves well under 1e-8 after 60 steps at gamma = 0.5
    assert np.asarray(res.certificates["suboptimality"])[-1] <= EXACT_F64


@pytest.mark.parametrize("method", ["softmax_pg", "bpo", "trpo", "log_barrier_pg"])
def test_gradient_rules_ignore_the_minus_inf_advantage_of_infeasible_actions(method):
    """``pi * adv`` at an infeasible pair is ``0 * -inf``: the rules weigh actions without mass by 0
    (softmax PG's gradient, TRPO's multiplier scale, BPO's weights), so they stay finite and never put
    mass there (this was NaN before: status "nonfinite" after one update)."""
    P, r, mask = two_state_masked()
    mdp = po.TabularMDP(P, r, gamma=0.5, mask=mask)
    with warnings.catch_warnings(), np.errstate(invalid="raise"):
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(mdp, method=method, iters=50)
    assert res.status != "nonfinite"
    pis = np.asarray(res.iterates)
    assert np.all(pis[:, ~mask] == 0.0) and np.all(np.isfinite(np.asarray(res.certificates["suboptimality"])))


# --------------------------------------------------------------------------- QuantEcon
@pytest.fixture
def qe():
    return pytest.importorskip("quantecon.markov")


def puterman_infeasible():
    """QuantEcon's test instance (quantecon/markov/tests/test_ddp.py): Puterman Ex. 6.2.1 with the
    second action of state 1 infeasible; beta = 0.95, v* = [(5 - 5.5 b) / ((1 - 0.5 b)(1 - b)),
    -1 / (1 - b)], sigma* = [0, 0]."""
    b = 0.95
    R = np.array([[5.0, 10.0], [-1.0, -np.inf]])
    Q = np.array([[[0.5, 0.5], [0.0, 1.0]], [[0.0, 1.0], [0.5, 0.5]]])
    v = np.array([(5 - 5.5 * b) / ((1 - 0.5 * b) * (1 - b)), -1 / (1 - b)])
    return R, Q, b, v


def test_quantecon_product_form_with_minus_inf(qe):
    R, Q, b, v_star = puterman_infeasible()
    mdp = po.TabularMDP(Q, R, gamma=b)
    ref = qe.DiscreteDP(R, Q, b).solve(method="policy_iteration")
    for res in (ex.solve_mdp(mdp), ex.policy_iteration(mdp), ex.linear_program(mdp)):
        np.testing.assert_allclose(res.v, v_star, rtol=EXACT_F64)
        np.testing.assert_allclose(res.v, ref.v, rtol=EXACT_F64)
        np.testing.assert_array_equal(res.policy, ref.sigma)


def test_quantecon_state_action_pairs(qe):
    _, _, b, v_star = puterman_infeasible()
    s_idx, a_idx = np.array([0, 0, 1]), np.array([0, 1, 0])
    R = np.array([5.0, 10.0, -1.0])
    Q = np.array([[0.5, 0.5], [0.0, 1.0], [0.0, 1.0]])
    ref = qe.DiscreteDP(R, Q, b, s_idx, a_idx).solve(method="policy_iteration")
    dense = po.TabularMDP.from_state_action_pairs(s_idx, a_idx, Q, R, gamma=b)
    sparse = po.TabularMDP.from_state_action_pairs(s_idx[::-1], a_idx[::-1], sp.csr_matrix(Q[::-1]), R[::-1],
                                                   gamma=b)
    assert sparse.is_sparse and sparse.r[1, 1] == -np.inf
    np.testing.assert_array_equal(dense.mask, [[True, True], [True, False]])
    for mdp in (dense, sparse):
        res = ex.solve_mdp(mdp)
        np.testing.assert_allclose(res.v, v_star, rtol=EXACT_F64)
        np.testing.assert_allclose(res.v, ref.v, rtol=EXACT_F64)
        np.testing.assert_array_equal(res.policy, ref.sigma)


def test_state_action_pairs_bad_input():
    Q = np.array([[0.5, 0.5], [0.0, 1.0]])
    with raises(ValueError, "pair (s, a) = (0, 1) is listed twice"):
        po.TabularMDP.from_state_action_pairs([0, 0], [1, 1], Q, [1.0, 2.0])
    with raises(ValueError, "state 1 has no feasible action"):
        po.TabularMDP.from_state_action_pairs([0, 0], [0, 1], Q, [1.0, 2.0])
    with raises(ValueError, "a_indices[1] is 5", "[0, 1]"):
        po.TabularMDP.from_state_action_pairs([0, 1], [0, 5], Q, [1.0, 2.0], num_actions=2)
    with raises(ValueError, "same number of pairs"):
        po.TabularMDP.from_state_action_pairs([0, 1], [0, 0], Q, [1.0])


# --------------------------------------------------------------------------- rewards per transition
def test_rewards_per_transition_reduce_to_expected_rewards():
    """By hand: from (0, 0) the chain moves to 0 or 1 with probability 1/2, earning 4 or 0: r = 2."""
    P = np.array([[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.25, 0.75]]])
    R = np.zeros((2, 2, 2))
    R[0, 0, 0], R[1, 1] = 4.0, [8.0, -4.0]
    mdp = po.TabularMDP(P, R, gamma=0.9)
    np.testing.assert_allclose(mdp.r, [[2.0, 0.0], [0.0, 8 * 0.25 - 4 * 0.75]], atol=IDENTITY_F64)
    assert mdp.reward_reduction is not None and "sum_s'" in mdp.reward_reduction
    assert po.TabularMDP(P, mdp.r, gamma=0.9).reward_reduction is None
    sparse = po.TabularMDP(sp.csr_matrix(P.reshape(4, 2)), sp.csr_matrix(R.reshape(4, 2)), gamma=0.9)
    np.testing.assert_allclose(sparse.r, mdp.r, atol=IDENTITY_F64)
    timed = po.TabularMDP(np.broadcast_to(P, (3, 2, 2, 2)), np.broadcast_to(R, (3, 2, 2, 2)), horizon=3)
    np.testing.assert_allclose(timed.r, np.broadcast_to(mdp.r, (3, 2, 2)), atol=IDENTITY_F64)


def test_rewards_per_transition_of_the_wrong_shape():
    P = np.full((2, 3, 2), 0.5)
    with raises(ValueError, "R[s, a, s'] must have the shape of P (2, 3, 2)", "(2, 2, 3)", "P[s, a, s']"):
        po.TabularMDP(P, np.zeros((2, 2, 3)))
    with raises(ValueError, "R per transition must have the shape of the sparse P (6, 2)"):
        po.TabularMDP(sp.csr_matrix(P.reshape(6, 2)), sp.csr_matrix((6, 3)))
    with raises(ValueError, "R[0, 0, 0] is -inf"):
        po.TabularMDP(P, np.full((2, 3, 2), -np.inf))


# --------------------------------------------------------------------------- axes
def test_actions_first_kernel_needs_axes_and_matches_from_mdptoolbox():
    """S == A == 2: pymdptoolbox's P[a, s, s'] passed as is builds a valid but different MDP (rows
    with a == s coincide, so the rewards make the off-diagonal actions optimal)."""
    P_ass = np.array([[[0.9, 0.1], [0.6, 0.4]], [[0.2, 0.8], [0.7, 0.3]]])
    r = np.array([[0.0, 1.0], [2.0, 0.5]])
    right = po.TabularMDP(P_ass, r, gamma=0.9, axes="ass")
    ref = po.TabularMDP.from_mdptoolbox(P_ass, r, 0.9)
    np.testing.assert_array_equal(right.P, ref.P)
    R_ass = np.arange(8.0).reshape(2, 2, 2)  # rewards per transition, actions first as well
    np.testing.assert_allclose(po.TabularMDP(P_ass, R_ass, gamma=0.9, axes="ass").r,
                               po.TabularMDP.from_mdptoolbox(P_ass, R_ass, 0.9).r, atol=IDENTITY_F64)
    wrong = po.TabularMDP(P_ass, r, gamma=0.9)
    assert np.abs(ex.solve_mdp(wrong).v - ex.solve_mdp(right).v).max() > 0.1
    with raises(ValueError, "axes must be one of"):
        po.TabularMDP(P_ass, r, axes="asa")
    with raises(ValueError, "convention is P[s, a, s']", "axes='ass'", "from_mdptoolbox"):
        po.TabularMDP(np.full((3, 2, 2), 0.5), np.zeros((2, 3)))


# --------------------------------------------------------------------------- total reward
def three_state_chain():
    """0 -> 1 -> 2 (terminal) at -1 a step, or 0 -> 2 at once for -3; from 1, action 1 returns to 0
    for -0.5 (a loop that never terminates: total reward -inf). By hand: v = [-2, -1, 0], sigma = [0, 0, .]."""
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = P[1, 0, 2] = P[1, 1, 0] = 1.0
    P[2, :, 0] = 1.0  # moves out of the terminal state are ignored: terminal=[2] makes it absorbing
    r = np.array([[-1.0, -3.0], [-1.0, -0.5], [5.0, 5.0]])
    return P, r


def test_total_reward_hand_solved_chain():
    P, r = three_state_chain()
    mdp = po.TabularMDP(P, r, gamma=1.0, terminal=[2])
    assert mdp.criterion == "total" and po.TabularMDP(P, r, gamma=1.0).criterion == "average"
    np.testing.assert_array_equal(mdp.P[2], np.eye(3)[[2, 2]])
    np.testing.assert_array_equal(mdp.r[2], [0.0, 0.0])
    for res in (ex.policy_iteration(mdp), ex.value_iteration(mdp), ex.linear_program(mdp), ex.solve_mdp(mdp)):
        np.testing.assert_allclose(res.v, [-2.0, -1.0, 0.0], atol=EXACT_F64)  # HiGHS' tolerance for the LP
        np.testing.assert_array_equal(res.policy[:2], [0, 0])
    res = po.solve(mdp)
    assert res.method == "policy_iteration" and res.status == "converged"
    assert set(po.methods(mdp)) == {"linear_program", "policy_iteration", "value_iteration"}
    ev = ex.evaluate(mdp, po.exact.one_hot(np.array([1, 0, 0]), 2))
    np.testing.assert_allclose(ev.V, [-3.0, -1.0, 0.0], atol=IDENTITY_F64)
    # expected episode length from uniform rho: one step from 0 (the jump), one from 1, none from 2
    np.testing.assert_allclose(ev.occupancy.sum(), (1 + 1 + 0) / 3, atol=IDENTITY_F64)


def test_improper_policy_is_reported():
    P, r = three_state_chain()
    mdp = po.TabularMDP(P, r, gamma=1.0, terminal=[2])
    loop = po.exact.one_hot(np.array([0, 1, 0]), 2)  # 0 -> 1 -> 0 -> ... never terminates
    with raises(ImproperPolicyError, "pi is improper", "from state 0 it never reaches a terminal state"):
        ex.total_reward_value(mdp, loop)
    with raises(ImproperPolicyError, "the initial policy pi0 is improper"):
        ex.policy_iteration(mdp, pi0=loop)


def test_unbounded_total_reward_is_reported():
    """A positive loop (0 <-> 1 at +1 a step) makes the optimum +inf: PI and the LP say so."""
    P, r = three_state_chain()
    mdp = po.TabularMDP(P, np.abs(r), gamma=1.0, terminal=[2])
    with raises(ValueError, "total reward is unbounded (+inf)", "states [0, 1]"):
        ex.policy_iteration(mdp)
    with raises(ValueError, "LP is infeasible", "unbounded"):
        ex.linear_program(mdp)


def test_state_that_cannot_terminate_is_named():
    P = np.zeros((3, 1, 3))
    P[0, 0, 2] = P[1, 0, 1] = 1.0
    with raises(ValueError, "state 1 reaches no terminal state under any policy"):
        ex.policy_iteration(po.TabularMDP(P, -np.ones((3, 1)), gamma=1.0, terminal=[2]))
    with raises(ValueError, "terminal must name at least one state"):
        po.TabularMDP(P, -np.ones((3, 1)), gamma=1.0, terminal=[])
    with raises(ValueError, "terminal state 3 is out of range"):
        po.TabularMDP(P, -np.ones((3, 1)), gamma=1.0, terminal=[3])


@FEW
@given(total_reward_mdps(max_states=4, max_actions=3))
def test_total_reward_vi_pi_lp_agree(mdp):
    pi = ex.policy_iteration(mdp)
    vi = ex.value_iteration(mdp, tol=1e-12)
    lp = ex.linear_program(mdp)
    assert pi.converged and vi.converged
    for res in (pi, vi, lp):
        assert feasible(mdp, res.policy)
    # PI and the certified VI (exact evaluation of its greedy policy) agree to round-off; the LP to
    # HiGHS' feasibility tolerance times the expected episode length (<= 1/0.1 = 10 steps of cost <= 1)
    np.testing.assert_allclose(vi.v, pi.v, atol=EXACT_F64)
    np.testing.assert_allclose(lp.v, pi.v, atol=1e-6)
    # Bellman optimality over the feasible actions, by an independent max
    T = np.where(mdp.mask, mdp.r + mdp.P @ pi.v, -np.inf).max(axis=1)
    np.testing.assert_allclose(T, pi.v, atol=EXACT_F64)


@FEW
@given(total_reward_mdps(max_states=4, max_actions=3))
def test_total_reward_policy_iteration_theorems(mdp):
    res = po.solve(mdp, method="policy_iteration")
    for name in ("total.pi_proper", "pi.monotone", "pi.finite_termination"):
        assert po.theory.check(res, name).holds, name


def test_total_pi_checker_is_not_vacuous():
    """A fabricated history that decreases, or stops short of the Bellman equation, fails the check."""
    P, r = three_state_chain()
    res = po.solve(po.TabularMDP(P, r, gamma=1.0, terminal=[2]), method="policy_iteration")
    values = np.asarray(res.info["values"])
    assert values.shape[0] == 2  # from the proper start [-3, -1, 0] (the jump) to v* = [-2, -1, 0]
    assert not po.theory.check(res._replace(info={"values": values[::-1]}), "total.pi_proper").holds
    assert not po.theory.check(res._replace(info={"values": values[:1]}), "total.pi_proper").holds
    discounted = po.solve(po.TabularMDP(P, r, gamma=0.5), method="policy_iteration")
    assert po.theory.check(discounted, "total.pi_proper").holds  # the discounted reading: Bellman with gamma
    first = np.asarray(discounted.info["values"])[:1]  # the myopic start, improved once by PI: not v*
    assert not po.theory.check(discounted._replace(info={"values": first}), "total.pi_proper").holds


def test_cliffwalking_total_reward_is_thirteen_steps():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CliffWalking-v1")
    mdp = po.TabularMDP.from_gymnasium(env, gamma=1.0)
    assert mdp.criterion == "total" and mdp.terminal.tolist() == [48]
    start = 36  # bottom-left corner; the goal is 11 columns right: up, 11 x right, down = 13 steps of -1
    for res in (ex.policy_iteration(mdp), ex.value_iteration(mdp), ex.linear_program(mdp)):
        np.testing.assert_allclose(res.v[start], -13.0, atol=EXACT_F64)


def test_frozenlake_total_reward_is_the_success_probability():
    gym = pytest.importorskip("gymnasium")
    mdp = po.TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"), gamma=1.0)
    pi, lp = ex.policy_iteration(mdp), ex.linear_program(mdp)
    vi = ex.value_iteration(mdp, tol=1e-12)
    np.testing.assert_allclose(lp.v, pi.v, atol=1e-7)  # HiGHS' feasibility tolerance
    np.testing.assert_allclose(vi.v, pi.v, atol=EXACT_F64)
    assert np.all((pi.v >= 0.0) & (pi.v <= 1.0 + IDENTITY_F64))  # probabilities of reaching the goal
    # the discounted values increase to it as gamma -> 1 (Abel's theorem on the reward series)
    near = ex.solve_mdp(mdp.with_gamma(1.0 - 1e-7)).v
    assert np.all(near <= pi.v + EXACT_F64)
    np.testing.assert_allclose(near, pi.v, atol=1e-4)

"""Exact MDP solvers: VI = PI = MPI = LP = solve_mdp, catalogue answers, certified bounds,
LP duality, backward induction vs enumeration, and the solve() contract."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt.exact import (
    backward_induction,
    evaluate,
    greedy,
    linear_program,
    modified_policy_iteration,
    policy_iteration,
    solve_mdp,
    value_iteration,
)
from polopt.exact._ops import one_hot
from polopt.problems import TabularMDP, catalogue
from polopt.result import NotConvergedWarning
from polopt.testing.tolerances import ABS_SLACK, EXACT_F64, IDENTITY_F64, SOLVER_TOL

#: HiGHS solves the LP to its default primal/dual feasibility 1e-7 relative; on values of
#: size <= 1/(1-gamma) = 10 its duals agree with the exact occupancy to this.
LP_DUAL_TOL = 1e-6
#: cvxpy's default conic solver reaches ~1e-8 relative accuracy on these small LPs.
CVXPY_TOL = 1e-6


@st.composite
def mdps(draw, max_states=6, max_actions=4, gamma_max=0.95):
    """Row-stochastic P from bounded logits, rewards in [-1, 1] (no assume())."""
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(1, max_actions))
    seed = draw(st.integers(0, 2**31 - 1))
    gamma = draw(st.floats(0.0, gamma_max))
    sparse = draw(st.booleans())
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-4, 4, size=(S, A, S))
    P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    r = rng.uniform(-1, 1, size=(S, A))
    kernel = sp.csr_matrix(P.reshape(S * A, S)) if sparse else P
    return TabularMDP(kernel, r, gamma=gamma)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(mdps())
def test_all_exact_solvers_agree(mdp):
    vi = value_iteration(mdp, tol=SOLVER_TOL)
    pi = policy_iteration(mdp)
    mpi = modified_policy_iteration(mdp, k=5, tol=SOLVER_TOL)
    lp = linear_program(mdp)
    best = solve_mdp(mdp, tol=SOLVER_TOL)
    assert vi.converged and pi.converged and mpi.converged
    for other in (vi.v, mpi.v, lp.v, best.v):
        np.testing.assert_allclose(other, pi.v, atol=EXACT_F64, rtol=0)
    for res in (vi, mpi, best):
        assert np.all(res.v_lower <= pi.v + ABS_SLACK) and np.all(pi.v <= res.v_upper + ABS_SLACK)
        assert np.max(res.v_upper - res.v_lower) <= SOLVER_TOL
    # every returned policy is optimal: its exact value is v*
    for sigma in (vi.policy, mpi.policy, lp.policy, best.policy, greedy(mdp, pi.v)):
        np.testing.assert_allclose(evaluate(mdp, one_hot(sigma, mdp.num_actions)).V, pi.v, atol=EXACT_F64)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(mdps(gamma_max=0.9))
def test_lp_dual_is_the_occupancy_of_the_optimal_policy(mdp):
    lp = linear_program(mdp)
    e = evaluate(TabularMDP(mdp.dense_P(), mdp.r, gamma=mdp.gamma, rho=lp.weights), one_hot(lp.policy, mdp.num_actions))
    assert abs(lp.occupancy.sum() - 1.0) < LP_DUAL_TOL
    np.testing.assert_allclose(lp.occupancy, e.occupancy, atol=LP_DUAL_TOL)


def test_cvxpy_lp_cross_check():
    mdp = catalogue.forest()
    a, b = linear_program(mdp), linear_program(mdp, solver="cvxpy")
    np.testing.assert_allclose(a.v, b.v, atol=CVXPY_TOL * 40)
    np.testing.assert_allclose(a.occupancy, b.occupancy, atol=CVXPY_TOL)
    with pytest.raises(ValueError, match="solver must be one of"):
        linear_program(mdp, solver="simplex")


@pytest.mark.parametrize("gamma", [0.95, 0.99])
def test_puterman_two_state_analytic(gamma):
    mdp = catalogue.puterman_two_state(gamma)
    v_star = catalogue.puterman_two_state_value(gamma)
    for v in (
        value_iteration(mdp).v,
        policy_iteration(mdp).v,
        modified_policy_iteration(mdp).v,
        linear_program(mdp).v,
        solve_mdp(mdp).v,
    ):
        np.testing.assert_allclose(v, v_star, atol=EXACT_F64, rtol=0)
    np.testing.assert_array_equal(policy_iteration(mdp).policy, [0, 0])


def test_forest_matches_pymdptoolbox_doctest():
    mdp = catalogue.forest()
    for v in (policy_iteration(mdp).v, value_iteration(mdp).v, solve_mdp(mdp).v):
        np.testing.assert_allclose(v, catalogue.FOREST_VALUE, atol=catalogue.FOREST_VALUE_DIGITS)


@pytest.mark.parametrize("sparse", [False, True])
def test_river_swim_solvers_agree(sparse):
    mdp = catalogue.river_swim(50, 0.99, sparse=sparse)
    ref = policy_iteration(mdp)
    best = solve_mdp(mdp)
    np.testing.assert_allclose(best.v, ref.v, atol=EXACT_F64, rtol=0)
    np.testing.assert_allclose(modified_policy_iteration(mdp).v, ref.v, atol=EXACT_F64, rtol=0)
    np.testing.assert_allclose(linear_program(mdp).v, ref.v, atol=EXACT_F64 * 100, rtol=0)
    assert ref.policy[-1] == 1  # "right" at the rewarding end


def test_vi_certified_bounds_contain_v_star_before_convergence():
    mdp = catalogue.river_swim(20, 0.95)
    v_star = policy_iteration(mdp).v
    for iters in (1, 5, 30):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotConvergedWarning)
            res = value_iteration(mdp, max_iter=iters)
        assert not res.converged
        assert np.all(res.v_lower <= v_star + ABS_SLACK) and np.all(v_star <= res.v_upper + ABS_SLACK)


def test_vi_record_and_residuals():
    mdp = catalogue.puterman_two_state(0.9)
    res = value_iteration(mdp, record=True)
    assert res.values.shape == (res.num_iter + 1, 2) and res.residuals.shape == (res.num_iter + 1,)
    np.testing.assert_array_equal(res.values[0], 0.0)
    # residuals shrink geometrically: ||T v_{k+1} - v_{k+1}|| <= gamma ||T v_k - v_k||
    assert np.all(res.residuals[1:] <= 0.9 * res.residuals[:-1] * (1 + IDENTITY_F64) + IDENTITY_F64)


@pytest.mark.parametrize("solver", [value_iteration, modified_policy_iteration])
@pytest.mark.parametrize("record, limit", [(3, None), (True, 7), (2, 5)])
def test_record_stride_and_limit_keep_exact_rows_of_the_full_trajectory(solver, record, limit):
    """record=k keeps iterates 0, k, 2k, ... and the last; record_limit thins evenly (the stride doubles)
    and keeps the rows of the full record bit for bit."""
    mdp = catalogue.river_swim(12, 0.95 if solver is value_iteration else 0.995)
    full = solver(mdp, record=True)
    part = solver(mdp, record=record, record_limit=limit)
    T = full.num_iter
    assert part.num_iter == T and T >= 20
    steps = part.steps
    assert steps[0] == 0 and steps[-1] == T and np.all(np.diff(steps) > 0)
    stride = steps[1] - steps[0]
    assert np.all(steps[:-1] % stride == 0) and np.all(np.diff(steps[:-1]) == stride)
    if limit is None:
        assert stride == record
    else:
        assert len(steps) <= limit + 1  # the last iterate may be one row beyond the evenly thinned ones
        assert stride & (stride - 1) == 0 and (stride // (1 if record is True else record)) >= 2
    np.testing.assert_array_equal(part.values, full.values[steps])
    np.testing.assert_array_equal(part.policies, full.policies[steps])
    np.testing.assert_array_equal(full.steps, np.arange(T + 1))


def test_record_arguments_are_checked():
    mdp = catalogue.river_swim(6, 0.9)
    with pytest.raises(ValueError, match="record"):
        value_iteration(mdp, record=0)
    with pytest.raises(ValueError, match="record_limit"):
        value_iteration(mdp, record=True, record_limit=1)


def test_solve_vi_record_k_certificates_align_with_recorded_iterates():
    """po.solve(..., record=k): iterates, certificates and info["recorded"] describe the same iterations,
    and vi.contraction is checked at those iterations (a wrong abscissa would fail the gamma^k bound)."""
    mdp = catalogue.river_swim(12, 0.95)
    full = po.solve(mdp, method="value_iteration", iters=10_000)
    res = po.solve(mdp, method="value_iteration", iters=10_000, record=4)
    steps = res.info["recorded"]
    assert len(res.iterates) == len(steps) and steps[-1] == res.num_iter == full.num_iter
    for name in ("value_error", "bellman_residual", "suboptimality"):
        np.testing.assert_array_equal(res.certificates[name], np.asarray(full.certificates[name])[steps])
    np.testing.assert_array_equal(res.info["residuals"], full.info["residuals"])
    assert po.theory.check(res, "vi.contraction").holds
    # the theorem's bound gamma^k is taken at the recorded k, not at the positions 0..N-1 of the record
    from polopt.result import recorded_iterates

    np.testing.assert_array_equal(recorded_iterates(res, len(steps)), steps)


def test_solve_vi_default_record_is_bounded():
    """The default record keeps every iterate while it fits RECORD_BUDGET_BYTES, then thins evenly."""
    from polopt._methods import mdp as _mdp_methods

    mdp = catalogue.river_swim(40, 0.99)
    small = po.solve(mdp, method="value_iteration", iters=10_000)
    assert len(small.iterates) == small.num_iter + 1  # 40 states: the whole trajectory fits
    old = _mdp_methods.RECORD_BUDGET_BYTES
    try:
        _mdp_methods.RECORD_BUDGET_BYTES = 8 * 40 * 16  # room for 16 iterates
        res = po.solve(mdp, method="value_iteration", iters=10_000)
    finally:
        _mdp_methods.RECORD_BUDGET_BYTES = old
    assert len(res.iterates) <= 17 and res.info["recorded"][-1] == res.num_iter == small.num_iter
    np.testing.assert_array_equal(res.info["values"], small.info["values"][res.info["recorded"]])


def test_sparse_mpi_sweeps_equal_the_dense_ones():
    """MPI's numba partial evaluation on a CSR kernel is the dense ``r_sigma + gamma P_sigma v`` sweep."""
    dense = catalogue.river_swim(30, 0.97)
    sparse = catalogue.river_swim(30, 0.97, sparse=True)
    a = modified_policy_iteration(dense, k=7, record=True)
    b = modified_policy_iteration(sparse, k=7, record=True)
    assert a.num_iter == b.num_iter
    np.testing.assert_array_equal(a.policies, b.policies)
    # the same sweeps summed in another order: a few ulps of |v| ~ 1e2 per sweep
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=EXACT_F64)


@settings(derandomize=True, max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), sparse=st.booleans(), solver=st.sampled_from(["vi", "mpi", "pi"]),
       masked=st.booleans())
def test_pruned_backups_equal_the_product_ones(seed, sparse, solver, masked):
    """VI / MPI / PI with the pruned numba backups (A >= PRUNED_MIN_ACTIONS) run the same iterations
    as with the plain product ``r + gamma P v`` and its row max: same sweeps, greedy policies, values;
    also with infeasible actions (``-inf`` rewards, never read by the pruned kernel)."""
    from polopt.exact import dp
    from polopt.problems.random import garnet_mdp, random_mdp

    mdp = garnet_mdp(30, 5, 4, gamma=0.95, seed=seed) if sparse else random_mdp(20, 6, gamma=0.95, seed=seed)
    if masked:  # every state keeps at least its last action
        mask = np.random.default_rng(seed).random((mdp.num_states, mdp.num_actions)) < 0.6
        mask[:, -1] = True
        mdp = TabularMDP(mdp.P_sparse if sparse else mdp.dense_P(), mdp.r, gamma=0.95, mask=mask)
    assert mdp.num_actions >= dp.PRUNED_MIN_ACTIONS
    run = {"vi": lambda: value_iteration(mdp, record=True),
           "mpi": lambda: modified_policy_iteration(mdp, k=5, record=True),
           "pi": lambda: policy_iteration(mdp, record=True)}[solver]
    pruned = run()
    old, dp.PRUNED_MIN_ACTIONS = dp.PRUNED_MIN_ACTIONS, 10**9
    try:
        product = run()
    finally:
        dp.PRUNED_MIN_ACTIONS = old
    assert pruned.num_iter == product.num_iter
    np.testing.assert_array_equal(pruned.policies, product.policies)
    # the same sums in another order (fastmath dot products): round-off of |v| <= max|r|/(1-gamma) = 20
    np.testing.assert_allclose(pruned.values, product.values, rtol=0, atol=EXACT_F64)
    np.testing.assert_allclose(pruned.v, product.v, rtol=0, atol=EXACT_F64)


def test_gamma_zero_is_one_backup():
    rng = np.random.default_rng(0)
    mdp = TabularMDP(rng.dirichlet(np.ones(3), size=(3, 2)), rng.normal(size=(3, 2)), gamma=0.0)
    for res in (value_iteration(mdp), solve_mdp(mdp), modified_policy_iteration(mdp)):
        np.testing.assert_allclose(res.v, mdp.r.max(1), atol=IDENTITY_F64)


def _brute_force_finite(mdp):
    """Best value at step 0 over all deterministic Markov policies (A^(H S) of them)."""
    H, S, A = mdp.horizon, mdp.num_states, mdp.num_actions
    best = np.full(S, -np.inf)
    for flat in itertools.product(range(A), repeat=H * S):
        sigma = np.array(flat).reshape(H, S)
        best = np.maximum(best, evaluate(mdp, one_hot(sigma, A)).V[0])
    return best


@pytest.mark.parametrize("gamma", [1.0, 0.7])
def test_backward_induction_time_inhomogeneous_vs_enumeration(gamma):
    rng = np.random.default_rng(7)
    H, S, A = 3, 2, 2
    mdp = TabularMDP(rng.dirichlet(np.ones(S), size=(H, S, A)), rng.normal(size=(H, S, A)), horizon=H, gamma=gamma)
    bi = backward_induction(mdp)
    assert bi.V.shape == (H + 1, S) and bi.Q.shape == (H, S, A) and bi.policy.shape == (H, S)
    np.testing.assert_array_equal(bi.V[H], 0.0)
    np.testing.assert_allclose(bi.V[0], _brute_force_finite(mdp), atol=IDENTITY_F64)
    np.testing.assert_allclose(evaluate(mdp, one_hot(bi.policy, A)).V, bi.V[:H], atol=IDENTITY_F64)


def test_linear_mixture_hard_optimal_actions():
    d, H = 4, 5
    lm = catalogue.linear_mixture_hard(d=d, H=H)
    bi = backward_induction(lm)
    expected = catalogue.linear_mixture_hard_optimal_actions(d=d, H=H)
    # the chain state x_{h+1} is visited at step h (0-based state index h); rewards are paid
    # on arrival in x_{H+2}, so at the last step every action has Q = 0 and sign(mu_h)
    # matters only at steps 0..H-2
    steps = np.arange(H - 1)
    np.testing.assert_array_equal(bi.policy[steps, steps], expected[: H - 1])
    np.testing.assert_allclose(bi.Q[H - 1, H - 1], 0.0, atol=IDENTITY_F64)
    res = po.solve(lm, method="backward_induction")
    np.testing.assert_array_equal(res.policy, one_hot(bi.policy, lm.num_actions))


def test_bandits_through_backward_induction():
    b = catalogue.bernoulli_bandit((0.2, 0.9, 0.4))
    res = po.solve(b, method="backward_induction")
    np.testing.assert_array_equal(res.policy, [0, 1, 0])
    assert abs(res.value - 0.9) < IDENTITY_F64
    cb = po.ContextualBandit(np.array([[0.1, 0.5], [0.7, 0.2]]))
    res = po.solve(cb, method="backward_induction")
    np.testing.assert_array_equal(res.policy, [[0, 1], [1, 0]])
    assert "backward_induction" not in po.methods(catalogue.bernoulli_bandit(beta=0.1))


# ------------------------------------------------------------------ solve() contract
@pytest.mark.parametrize("method", ["value_iteration", "policy_iteration", "modified_policy_iteration"])
def test_solve_theorems_hold(method):
    rng = np.random.default_rng(11)
    S, A = 8, 3
    mdp = TabularMDP(rng.dirichlet(np.ones(S) * 0.5, size=(S, A)), rng.uniform(size=(S, A)), gamma=0.9)
    res = po.solve(mdp, method=method, iters=5000)
    assert res.status == "converged" and res.method == method and res.problem is mdp
    T = res.num_iter
    assert res.iterates.shape == (T + 1, S, A)
    for cert in res.certificates.values():
        assert np.asarray(cert).shape == (T + 1,)
    assert res.certificates["suboptimality"][-1] <= EXACT_F64
    np.testing.assert_allclose(res.value, res.optimum.value, atol=EXACT_F64)
    assert res.info["values"].shape[0] == T + 1
    names = [t.name for t in po.theory.theorems(method=method)]
    for name in names:
        verdict = po.theory.check(res, name)
        assert verdict.holds, (name, verdict)
    if method == "value_iteration":
        assert {"vi.contraction", "vi.certified_bounds"} <= set(names)
    if method == "policy_iteration":
        assert {"pi.monotone", "pi.finite_termination"} <= set(names)


def test_solve_linear_program_and_linear_mixture():
    mdp = catalogue.forest()
    res = po.solve(mdp, method="linear_program")
    np.testing.assert_allclose(res.value, catalogue.FOREST_VALUE, atol=catalogue.FOREST_VALUE_DIGITS)
    assert res.certificates["suboptimality"].shape == (2,) and res.certificates["suboptimality"][-1] <= EXACT_F64
    avg = po.solve(catalogue.periodic_chain(), method="linear_program")
    np.testing.assert_allclose(avg.value, catalogue.PERIODIC_CHAIN_GAIN, atol=EXACT_F64)
    assert avg.bias is not None
    lm = catalogue.linear_mixture_hard(d=3, H=3)
    disc = po.LinearMixtureMDP(lm.phi, lm.theta, lm.r, horizon=3)  # finite horizon: BI only
    assert "value_iteration" not in po.methods(disc)


def test_solve_contract_errors():
    mdp = catalogue.puterman_two_state()
    with pytest.raises(ValueError, match="value_iteration"):
        po.solve(mdp, method="no_such_method")
    with pytest.raises(TypeError, match="eta"):
        po.solve(mdp, method="value_iteration", eta=0.1)
    with pytest.raises(TypeError, match="k"):
        po.solve(mdp, method="policy_iteration", k=3)
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(mdp, method="backward_induction")


def test_not_converged_warning_when_iters_too_small():
    mdp = catalogue.river_swim(30, 0.99)
    for method in ("value_iteration", "modified_policy_iteration", "policy_iteration"):
        with pytest.warns(NotConvergedWarning):
            res = po.solve(mdp, method=method, iters=1)
        assert res.status == "max_iter" and res.num_iter == 1


def test_bad_arguments():
    mdp = catalogue.puterman_two_state()
    with pytest.raises(ValueError, match="tol"):
        value_iteration(mdp, tol=0.0)
    with pytest.raises(ValueError, match=r"v0 must have shape \[S\] = \[2\]"):
        value_iteration(mdp, v0=np.zeros(3))
    with pytest.raises(ValueError, match=r"pi0\[1\] is 5"):
        policy_iteration(mdp, pi0=np.array([0, 5]))
    with pytest.raises(ValueError, match="backward_induction"):
        value_iteration(TabularMDP(mdp.P, mdp.r, horizon=2))
    with pytest.raises(ValueError, match="finite-horizon"):
        backward_induction(mdp)

"""Regression tests for defects of the exact solvers: overflow, complex input, LP scaling and
conditioning, dense-memory estimates, public operators and trajectories, numba thread choice."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import polopt as po
from polopt._base import NONFINITE, NotConvergedWarning
from polopt.exact import dp
from polopt.problems.random import random_mdp
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

MDP_SOLVERS = ("value_iteration", "policy_iteration", "modified_policy_iteration", "solve_mdp")


def _kernel(S=4, A=2, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S))
    return P / P.sum(-1, keepdims=True)


# ------------------------------------------------------------------ 1. overflow honesty
@pytest.mark.parametrize("solver", MDP_SOLVERS)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_overflowing_values_warn_and_report_nonfinite(solver, sign):
    """v* = 1e307 / (1 - 0.99) = 1e309 is beyond float64: a warning naming the solver, status nonfinite."""
    mdp = po.TabularMDP(_kernel(3), r=np.full((3, 2), sign * 1e307), gamma=0.99)
    with pytest.warns(NotConvergedWarning, match=rf"{solver}: the values overflowed.*[Rr]escale r"):
        res = getattr(po.exact, solver)(mdp)
    assert res.status == NONFINITE
    assert not np.all(np.isfinite(res.v))


@pytest.mark.parametrize("solver", MDP_SOLVERS)
@pytest.mark.parametrize("big", [1.5e308, 2.0**1000])
def test_huge_rewards_with_finite_values_are_solved_exactly(solver, big):
    """Mixed-sign rewards near the float64 maximum: intermediates (T v - v, min r / (1-gamma))
    overflowed; solving on r / 2**k (exact) gives big * v*(r) to round-off."""
    rng = np.random.default_rng(1)
    P = _kernel(4, seed=1)
    r = rng.uniform(-1.0, 1.0, (4, 2))
    r[:, 0] = np.abs(r[:, 0])  # every state has a non-negative action: |v*| <= max r / (1 - gamma)
    reference = po.exact.solve_mdp(po.TabularMDP(P, r, gamma=0.1)).v
    mdp = po.TabularMDP(P, r * big, gamma=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from numpy, no NotConvergedWarning
        res = getattr(po.exact, solver)(mdp)
    assert res.status == "converged"
    np.testing.assert_allclose(res.v / big, reference, atol=EXACT_F64)


def test_power_of_two_scaling_is_exact_below_the_guard(monkeypatch):
    """Guard lowered so that scaling kicks in: values c * v(r / c) to round-off, same policies."""
    mdp = random_mdp(6, 3, gamma=0.9, seed=3)
    plain = po.exact.value_iteration(mdp, record=True)
    monkeypatch.setattr(dp, "OVERFLOW_GUARD", 1e-3)
    scaled = po.exact.value_iteration(mdp, record=True)
    np.testing.assert_allclose(scaled.v, plain.v, rtol=IDENTITY_F64)
    np.testing.assert_array_equal(scaled.policies, plain.policies)


# ------------------------------------------------------------------ 2. complex input
def test_complex_sparse_kernel_is_rejected():
    P = sp.csr_matrix(_kernel(3).reshape(6, 3).astype(np.complex128))
    with pytest.raises(TypeError, match="P must be real, got complex128"):
        po.TabularMDP(P, r=np.zeros((3, 2)), gamma=0.9)


@pytest.mark.parametrize("value", [np.ones(3, dtype=np.complex128), [1 + 0j, 2, 3], np.complex64(1.0)])
def test_as_float_array_rejects_complex_dense(value):
    from polopt._validation import as_float_array

    with pytest.raises(TypeError, match=r"x must be real, got complex(64|128)"):
        as_float_array("x", value)


# ------------------------------------------------------------------ 4. dense memory
@pytest.fixture
def small_memory(monkeypatch):
    """Pretend the machine has 1 MiB available (no real huge allocation in the tests)."""
    from polopt import _validation

    monkeypatch.setattr(_validation, "ALWAYS_FITS_BYTES", 0)
    monkeypatch.setattr(_validation, "available_memory", lambda: 2**20)


def test_available_memory_is_positive():
    from polopt._validation import available_memory

    mem = available_memory()
    assert mem is None or mem > 0


def test_check_dense_size_message():
    from polopt._validation import DenseMemoryError, check_dense_size

    with pytest.raises(MemoryError, match=r"P: a dense float64 array of shape \(50000, 2, 50000\) needs "
                                          r"37.3 GiB.*0.5 GiB are available; use sparse") as info:
        check_dense_size("P", (50000, 2, 50000), "use sparse", limit_bytes=2**29)
    assert isinstance(info.value, DenseMemoryError)
    check_dense_size("P", (10, 10), "use sparse", limit_bytes=800)  # exactly fits


def test_dense_kernel_too_large_names_the_sparse_form(small_memory):
    P = np.broadcast_to(np.full(300, 1 / 300), (300, 2, 300))  # 1.4 MiB, a view: nothing allocated
    with pytest.raises(MemoryError, match=r"P: .*shape \(300, 2, 300\).*scipy.sparse matrix of shape \(S\*A, S\)"):
        po.TabularMDP(P, r=np.zeros((300, 2)), gamma=0.9)


def test_sparse_model_densification_is_refused_or_avoided(small_memory):
    from polopt.problems.random import garnet_mdp

    mdp = garnet_mdp(400, 2, 3, gamma=0.9, seed=0)  # sparse: 400 x 400 dense is 1.2 MiB
    pi = np.full((400, 2), 0.5)
    with pytest.raises(MemoryError, match=r"gain_bias.*\(400, 400\).*relative_value_iteration"):
        po.exact.gain_bias(mdp.with_gamma(1.0), pi)
    with pytest.raises(MemoryError, match=r"average_reward_lp.*\(400, 400\)"):
        po.exact.average_reward_lp(mdp.with_gamma(1.0))  # before the LP, not after it
    with pytest.raises(MemoryError, match=r"dense_P\(\).*P_sparse"):
        mdp.dense_P()
    # sparse paths need no dense S x S array
    v = po.exact.policy_value(mdp, pi)
    assert v.shape == (400,)
    sigma = np.zeros(400, dtype=np.int64)
    np.testing.assert_allclose(po.exact.evaluate_deterministic(mdp, sigma),
                               po.exact.policy_value(mdp, np.eye(2)[sigma]), atol=EXACT_F64)


def test_effective_horizon_never_densifies_a_sparse_kernel(monkeypatch):
    from polopt.problems.random import garnet_mdp

    base = garnet_mdp(30, 3, 2, gamma=0.9, seed=5)
    sparse = po.TabularMDP(base.P_sparse, base.r, horizon=4)
    dense = po.TabularMDP(base.dense_P(), base.r, horizon=4)
    b = po.exact.effective_horizon(dense)

    def refuse(*args, **kwargs):
        raise AssertionError("a sparse kernel was densified")

    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
    a = po.exact.effective_horizon(sparse)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ 5. public operators, trajectories
def test_public_operators_match_the_definitions():
    mdp = random_mdp(7, 3, gamma=0.8, seed=11)
    S, A = mdp.num_states, mdp.num_actions
    v = np.random.default_rng(0).normal(size=S)
    q = po.exact.q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v)
    Tv, sigma = po.exact.bellman_backup(mdp, v)
    np.testing.assert_allclose(Tv, q.max(axis=1), atol=IDENTITY_F64)
    np.testing.assert_array_equal(sigma, q.argmax(axis=1))
    np.testing.assert_array_equal(sigma, po.exact.greedy_action(q))
    Psig, rsig = po.exact.policy_kernel(mdp, sigma)
    np.testing.assert_array_equal(Psig, mdp.dense_P()[np.arange(S), sigma])
    np.testing.assert_array_equal(rsig, mdp.r[np.arange(S), sigma])
    v_sigma = po.exact.evaluate_deterministic(mdp, sigma)
    np.testing.assert_allclose(v_sigma, po.exact.policy_value(mdp, po.exact.one_hot(sigma, A)), atol=EXACT_F64)
    np.testing.assert_array_equal(v_sigma, dp._evaluate_sigma(mdp, sigma))  # the old private name
    np.testing.assert_allclose(po.exact.uniform_policy(S, A), np.full((S, A), 1 / A))


def test_public_operators_reject_bad_policies():
    mdp = random_mdp(4, 2, gamma=0.8, seed=1)
    with pytest.raises(TypeError, match="sigma must be an int array"):
        po.exact.policy_kernel(mdp, np.zeros(4))
    with pytest.raises(ValueError, match=r"sigma\[2\] is 5, expected an action in \[0, 1\]"):
        po.exact.evaluate_deterministic(mdp, np.array([0, 1, 5, 0]))
    with pytest.raises(ValueError, match=r"v must have shape \[S\] = \[4\]"):
        po.exact.bellman_backup(mdp, np.zeros(3))


def test_trajectories_of_pi_and_mpi():
    mdp = random_mdp(8, 3, gamma=0.9, seed=2)
    pi = po.exact.policy_iteration(mdp, record=True)
    T = pi.num_iter
    assert pi.policies.shape == (T + 1, 8) and pi.policies.dtype.kind == "i"
    assert pi.values.shape == (T + 1, 8)
    np.testing.assert_array_equal(pi.policies[-1], pi.policy)
    for sigma, v in zip(pi.policies, pi.values, strict=True):
        np.testing.assert_allclose(v, po.exact.evaluate_deterministic(mdp, sigma), atol=EXACT_F64)
    quiet = po.exact.policy_iteration(mdp, record=False)
    assert quiet.values is None and quiet.policies is None
    np.testing.assert_array_equal(quiet.policy, pi.policy)

    for run in (po.exact.modified_policy_iteration, po.exact.value_iteration):
        res = run(mdp, record=True)
        assert res.policies.shape == res.values.shape == (res.num_iter + 1, 8)
        assert res.policies.dtype.kind == "i"
        for sigma, v in zip(res.policies, res.values, strict=True):
            np.testing.assert_array_equal(sigma, po.exact.bellman_backup(mdp, v).policy)
        assert run(mdp).policies is None


def test_average_and_soft_loops_have_public_names():
    from polopt.exact import average, soft
    from polopt.problems import catalogue

    assert average._rvi is average.rvi_trace and average._check_rvi_args is average.check_rvi_args
    assert soft._soft_vi_loop is soft.soft_vi_loop and soft._reference is soft.reference_policy
    mdp = catalogue.puterman_two_state(gamma=0.9).with_gamma(1.0)
    args = po.exact.check_rvi_args(mdp, 0.5, 1e-10, 1000, 0, None)
    trace = po.exact.rvi_trace(mdp, *args, record=True)
    assert trace.result.converged and trace.policies.shape == (trace.result.num_iter + 1, 2)
    disc = catalogue.puterman_two_state(gamma=0.9)
    mu = po.exact.reference_policy(None, 2, 2)
    v, q, Tv, n, converged = po.exact.soft_vi_loop(disc, 0.5, mu, 1e-12, 10_000, None)
    np.testing.assert_allclose(v, po.exact.soft_value_iteration(disc, 0.5).v, atol=EXACT_F64)


# ------------------------------------------------------------------ 3. LP scaling and conditioning
@pytest.mark.parametrize(
    ("scale", "solver"),
    [(x, "highs") for x in (1e-9, 1e-6, 1.0, 1e20, 1e100, 1e300)] + [(x, "cvxpy") for x in (1e-9, 1.0, 1e20)],
)
def test_lp_is_scale_invariant(scale, solver):
    """HiGHS read |r| >= 1e20 as infinite ("Model error") and lost 0.5% at |r| ~ 1e-6."""
    base = random_mdp(20, 3, gamma=0.95, seed=4)
    mdp = po.TabularMDP(base.P, base.r * scale, gamma=0.95)
    lp = po.exact.linear_program(mdp, solver=solver)
    ref = po.exact.solve_mdp(base)
    np.testing.assert_allclose(lp.v / scale, ref.v, atol=EXACT_F64 if solver == "highs" else 1e-5)
    np.testing.assert_array_equal(lp.policy, ref.policy)
    np.testing.assert_allclose(lp.occupancy.sum(), 1.0, atol=1e-9)


def test_lp_refuses_gamma_too_close_to_one():
    base = random_mdp(5, 2, gamma=0.9, seed=0)
    with pytest.raises(ValueError, match=r"too close to 1.*\(1\+gamma\)/\(1-gamma\) = 2e\+09.*solve_mdp"):
        po.exact.linear_program(base.with_gamma(1 - 1e-9))
    with pytest.raises(ValueError, match="too close to 1"):
        po.exact.linear_program(base.with_gamma(1 - 1e-10))  # HiGHS status 2 ("infeasible") before


def test_lp_at_the_conditioning_limit_is_accurate():
    mdp = random_mdp(20, 3, gamma=1 - 1e-7, seed=7)
    lp = po.exact.linear_program(mdp)
    ref = po.exact.policy_iteration(mdp)
    np.testing.assert_allclose(lp.v, ref.v, rtol=1e-6)


def test_other_exact_solvers_report_overflow():
    P = _kernel(3)
    big = np.full((3, 2), 1e307)
    with pytest.warns(NotConvergedWarning, match=r"backward_induction: the values overflowed.*H max\|r\| = 3e\+308"):
        res = po.exact.backward_induction(po.TabularMDP(P, big, horizon=30))
    assert res.status == NONFINITE
    with pytest.warns(NotConvergedWarning, match=r"linear_program: the values overflowed.*= 1e\+309"):
        res = po.exact.linear_program(po.TabularMDP(P, big, gamma=0.99))
    assert res.status == NONFINITE
    with pytest.warns(NotConvergedWarning, match="soft_value_iteration: the values overflowed"):
        res = po.exact.soft_value_iteration(po.TabularMDP(P, big, gamma=0.99), 1e306)
    assert res.status == NONFINITE and not res.converged


def test_soft_solvers_do_not_overflow_in_q_over_beta():
    """q / beta overflowed for large rewards and small beta (inf - inf = nan in logsumexp); the
    shifted form (q - max q) / beta gives v(c r, c beta) = c v(r, beta) and the same policy."""
    base = random_mdp(5, 3, gamma=0.9, seed=0)
    for run in ("soft_value_iteration", "soft_policy_iteration"):
        ref = getattr(po.exact, run)(base, 0.3)
        c = 2.0**1000
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = getattr(po.exact, run)(po.TabularMDP(base.P, base.r * c, gamma=0.9), 0.3 * c)
        assert res.status == "converged"
        np.testing.assert_allclose(res.v / c, ref.v, atol=EXACT_F64)
        np.testing.assert_allclose(res.policy, ref.policy, atol=EXACT_F64)
    q = np.array([[1e300, 0.0, -1e300]])
    np.testing.assert_array_equal(po.exact.gibbs_policy(q, 1e-10), [[1.0, 0.0, 0.0]])


def test_rvi_gain_midpoint_does_not_overflow():
    P = np.zeros((2, 2, 2))
    P[:, :, 0] = 1.0
    r = np.full((2, 2), 1.7e308)
    res = po.exact.relative_value_iteration(po.TabularMDP(P, r, gamma=1.0))
    assert res.gain == 1.7e308 and res.converged

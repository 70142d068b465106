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

"""Average-reward exact methods: gain/bias, relative value iteration, unichain/multichain LP.

Independent references used here: powers of the lazy chain ``((I + P)/2)^N -> P*`` (same
Cesaro limit as P, and aperiodic), discounted values by ``np.linalg.solve`` (Laurent
expansion ``V_gamma = g/(1-gamma) + h + O(1-gamma)``), and brute-force enumeration of all
deterministic policies.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt.exact.average import (
    average_reward_lp,
    cesaro_limit,
    gain_bias,
    is_communicating,
    relative_value_iteration,
)
from polopt.problems import TabularMDP, catalogue
from polopt.result import NotConvergedWarning
from polopt.testing.tolerances import ABS_SLACK, EXACT_F64, SOLVER_TOL

#: pymdptoolbox prints the forest RVI average reward to 2 decimals (catalogue.FOREST_GAIN).
FOREST_GAIN_DIGITS = 5e-3
#: ((I+P)/2)^(2^16): with every positive transition >= 0.01 the lazy chain's distance to P*
#: decays like (1 - 0.005)^N, i.e. far below this; 16 squarings add ~1e-13 of round-off.
POWER_LIMIT_TOL = 1e-9
#: Relative change of the Laurent remainder when 1 - gamma shrinks 10x: the O(1-gamma) term
#: gives exactly 0.1 in the limit; this allows the O((1-gamma)^2) correction at 1-gamma = 1e-3.
LAURENT_RATIO = 0.2
#: RVI stops at sp(Th - h) < SOLVER_TOL, so its h solves the optimality equation to about
#: that accuracy times the mixing time of the small random instances used below.
RVI_BIAS_TOL = 1e-7
#: Round-off of V_gamma at 1 - gamma = 1e-4: |V| ~ 1e4 times the condition number ~ 1e4 of
#: I - gamma P times float64 eps ~ 1e-8; ten times that.
LAURENT_ROUNDOFF = 1e-7
#: Ties in the test's own policy iteration: values are accurate to ~1e-13 relative.
PI_TIE_RTOL = 1e-12

settings_ = settings(derandomize=True, max_examples=25, deadline=None)


def _random_mdp(seed: int, S: int, A: int, *, density: float, gamma: float = 1.0) -> TabularMDP:
    """Random MDP whose kernel has random support (so multichain structure occurs)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((S, A, S)) < density
    mask[np.arange(S), :, rng.integers(0, S, size=S)] = True  # every row has a successor
    w = np.where(mask, rng.uniform(0.5, 1.0, size=(S, A, S)), 0.0)
    P = w / w.sum(axis=2, keepdims=True)
    r = rng.normal(size=(S, A))
    return TabularMDP(P, r, gamma=gamma)


def _chain(mdp, sigma):
    S = mdp.num_states
    P = mdp.dense_P()[np.arange(S), sigma]
    return P, mdp.r[np.arange(S), sigma]


def _lazy_power_limit(P: np.ndarray) -> np.ndarray:
    M = 0.5 * (np.eye(P.shape[0]) + P)
    for _ in range(16):
        M = M @ M
    return M


# --------------------------------------------------------------------------- gain_bias
def test_periodic_chain_gain_and_bias():
    mdp = catalogue.periodic_chain()
    ev = gain_bias(mdp, np.zeros((2,), dtype=int))
    np.testing.assert_allclose(ev.gain, catalogue.PERIODIC_CHAIN_GAIN, rtol=0, atol=EXACT_F64)
    np.testing.assert_allclose(ev.stationary, np.full((2, 2), 0.5), rtol=0, atol=EXACT_F64)
    # hand computation: g + h = r + P h with h0 - h1 = 1/2 and P* h = 0  ->  h = (1/4, -1/4)
    np.testing.assert_allclose(ev.bias, [0.25, -0.25], rtol=0, atol=EXACT_F64)


@settings_
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(1, 7), A=st.integers(1, 3), density=st.sampled_from([0.2, 0.5]))
def test_gain_bias_matches_lazy_powers_and_evaluation_equations(seed, S, A, density):
    """Property: P* equals the limit of the lazy chain; g = P g, g + h = r + P h, P* h = 0."""
    mdp = _random_mdp(seed, S, A, density=density)
    rng = np.random.default_rng(seed + 1)
    pi = rng.dirichlet(np.ones(A), size=S) if seed % 2 else np.eye(A)[rng.integers(0, A, size=S)]
    ev = gain_bias(mdp, pi)
    P = np.einsum("sa,sat->st", pi, mdp.dense_P())
    r = np.einsum("sa,sa->s", pi, mdp.r)
    np.testing.assert_allclose(ev.stationary, _lazy_power_limit(P), rtol=0, atol=POWER_LIMIT_TOL)
    np.testing.assert_allclose(ev.gain, P @ ev.gain, rtol=0, atol=EXACT_F64)
    np.testing.assert_allclose(ev.gain + ev.bias, r + P @ ev.bias, rtol=0, atol=EXACT_F64)
    np.testing.assert_allclose(ev.stationary @ ev.bias, 0.0, rtol=0, atol=EXACT_F64)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(2, 6), A=st.integers(1, 3))
def test_laurent_expansion_of_a_fixed_policy(seed, S, A):
    """Property: ||V_gamma - g/(1-gamma) - h|| = O(1-gamma) (ratio ~0.1 per decade of 1-gamma)."""
    mdp = _random_mdp(seed, S, A, density=0.4)
    sigma = np.random.default_rng(seed + 2).integers(0, A, size=S)
    ev = gain_bias(mdp, sigma)
    P, r = _chain(mdp, sigma)
    errs = []
    for eps in (1e-3, 1e-4):
        V = np.linalg.solve(np.eye(S) - (1 - eps) * P, r)
        errs.append(np.max(np.abs(V - ev.gain / eps - ev.bias)))
    assert errs[1] <= LAURENT_RATIO * errs[0] + LAURENT_ROUNDOFF


def test_cesaro_limit_multichain_with_transients():
    # 0 -> {1 (p=.3), 2 (p=.7)} transient; 1 absorbing; {2, 3} a periodic class
    P = np.array([[0.0, 0.3, 0.7, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    expected = np.array([[0, 0.3, 0.35, 0.35], [0, 1, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(cesaro_limit(P), expected, rtol=0, atol=EXACT_F64)


def test_gain_bias_rejects_bad_policy():
    mdp = catalogue.forest().with_gamma(1.0)
    with pytest.raises(ValueError, match=r"pi\[1, :\] sums to"):
        gain_bias(mdp, np.array([[1.0, 0.0], [0.5, 0.4], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"pi\[2\] is 5"):
        gain_bias(mdp, np.array([0, 1, 5]))
    with pytest.raises(TypeError, match="TabularMDP"):
        gain_bias("forest", np.zeros(3, dtype=int))


# --------------------------------------------------------------------------- RVI
def test_rvi_periodic_chain_needs_the_aperiodicity_transform():
    """The pymdptoolbox counterexample (mdp_anchors.md §2 item 5): plain RVI oscillates."""
    mdp = catalogue.periodic_chain()
    res = relative_value_iteration(mdp, omega=0.5, tol=SOLVER_TOL)
    assert res.converged
    np.testing.assert_allclose(res.gain, catalogue.PERIODIC_CHAIN_GAIN, rtol=0, atol=EXACT_F64)
    with pytest.warns(NotConvergedWarning, match="periodic"):
        plain = relative_value_iteration(mdp, omega=1.0, tol=SOLVER_TOL, max_iter=500)
    assert not plain.converged
    assert plain.num_iter == 500
    assert plain.gain_upper - plain.gain_lower == pytest.approx(1.0, abs=EXACT_F64)


def test_forest_gain_matches_pymdptoolbox():
    mdp = catalogue.forest().with_gamma(1.0)
    rvi = relative_value_iteration(mdp)
    lp = average_reward_lp(mdp)
    assert abs(rvi.gain - catalogue.FOREST_GAIN) <= FOREST_GAIN_DIGITS
    np.testing.assert_allclose(lp.gain, catalogue.FOREST_GAIN, rtol=0, atol=FOREST_GAIN_DIGITS)
    np.testing.assert_allclose(lp.gain, rvi.gain, rtol=0, atol=EXACT_F64)
    np.testing.assert_array_equal(lp.policy, rvi.policy)


@settings_
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(2, 6), A=st.integers(1, 3), omega=st.sampled_from([0.3, 0.5, 1.0]))
def test_rvi_agrees_with_lp_on_communicating_mdps(seed, S, A, omega):
    """Property: on fully supported MDPs, RVI gain = LP gain, bounds contain g*, h solves the ACOE."""
    mdp = _random_mdp(seed, S, A, density=1.0)
    lp = average_reward_lp(mdp)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotConvergedWarning)
        res = relative_value_iteration(mdp, omega=omega)
    g_star = lp.gain[0]
    assert res.gain_lower - ABS_SLACK <= g_star <= res.gain_upper + ABS_SLACK
    assert abs(res.gain - g_star) <= EXACT_F64
    q = mdp.r + (mdp.dense_P() @ res.bias)
    np.testing.assert_allclose(res.gain + res.bias, q.max(axis=1), rtol=0, atol=RVI_BIAS_TOL)
    np.testing.assert_allclose(gain_bias(mdp, res.policy).gain, g_star, rtol=0, atol=EXACT_F64)


def test_rvi_argument_errors():
    mdp = catalogue.periodic_chain()
    with pytest.raises(ValueError, match=r"omega must lie in \(0, 1\]"):
        relative_value_iteration(mdp, omega=0.0)
    with pytest.raises(ValueError, match="ref_state"):
        relative_value_iteration(mdp, ref_state=2)
    with pytest.raises(ValueError, match="infinite-horizon"):
        relative_value_iteration(TabularMDP(mdp.P, mdp.r, horizon=3))


# --------------------------------------------------------------------------- LP
def _two_absorbing() -> TabularMDP:
    """State 0 chooses between absorbing state 1 (reward 1/step) and 2 (reward 2/step);
    state 3 is absorbing with reward 1/2. Optimal gain (2, 1, 2, 1/2): it depends on the state."""
    P = np.zeros((4, 2, 4))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = P[3, :, 3] = 1.0
    r = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    return TabularMDP(P, r, gamma=1.0)


def test_multichain_lp_state_dependent_gain():
    mdp = _two_absorbing()
    assert not is_communicating(mdp)
    for multichain in ("auto", True):
        res = average_reward_lp(mdp, multichain=multichain)
        np.testing.assert_allclose(res.gain, [2.0, 1.0, 2.0, 0.5], rtol=0, atol=EXACT_F64)
        np.testing.assert_allclose(res.lp_gain, res.gain, rtol=0, atol=EXACT_F64)
        assert res.policy[0] == 1
    # the unichain LP is only an upper bound when g* varies (documented): it returns max_s g*(s)
    uni = average_reward_lp(mdp, multichain=False)
    np.testing.assert_allclose(uni.lp_gain, 2.0, rtol=0, atol=EXACT_F64)
    # RVI cannot converge on it: sp(Th - h) -> sp(g*) = 1.5
    with pytest.warns(NotConvergedWarning):
        rvi = relative_value_iteration(mdp, max_iter=200)
    assert rvi.gain_lower - ABS_SLACK <= 0.5 and rvi.gain_upper + ABS_SLACK >= 2.0


def _brute_force_gain(mdp) -> np.ndarray:
    best = np.full(mdp.num_states, -np.inf)
    for sigma in itertools.product(range(mdp.num_actions), repeat=mdp.num_states):
        P, r = _chain(mdp, np.array(sigma))
        best = np.maximum(best, _lazy_power_limit(P) @ r)
    return best


@settings_
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(1, 4), A=st.integers(1, 3), density=st.sampled_from([0.15, 0.4]))
def test_multichain_lp_matches_enumeration(seed, S, A, density):
    """Property: LP gain = max over all deterministic policies of their gain (per state)."""
    mdp = _random_mdp(seed, S, A, density=density)
    res = average_reward_lp(mdp, multichain=True)
    expected = _brute_force_gain(mdp)
    np.testing.assert_allclose(res.gain, expected, rtol=0, atol=POWER_LIMIT_TOL)
    np.testing.assert_allclose(res.lp_gain, expected, rtol=0, atol=POWER_LIMIT_TOL)
    auto = average_reward_lp(mdp)
    np.testing.assert_allclose(auto.gain, expected, rtol=0, atol=POWER_LIMIT_TOL)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(2, 6), A=st.integers(1, 3))
def test_unichain_lp_occupancy_is_stationary(seed, S, A):
    """Property: the dual x is a stationary state-action law with sum r x = g*."""
    mdp = _random_mdp(seed, S, A, density=1.0)
    res = average_reward_lp(mdp, multichain=False)
    x = res.occupancy
    assert np.all(x >= 0)
    assert x.sum() == pytest.approx(1.0, abs=EXACT_F64)
    inflow = np.einsum("sa,sat->t", x, mdp.dense_P())
    np.testing.assert_allclose(x.sum(axis=1), inflow, rtol=0, atol=EXACT_F64)
    assert float(np.sum(mdp.r * x)) == pytest.approx(res.gain[0], abs=EXACT_F64)


def test_lp_sparse_equals_dense():
    dense = catalogue.river_swim(8, gamma=0.9).with_gamma(1.0)
    sparse = catalogue.river_swim(8, gamma=0.9, sparse=True).with_gamma(1.0)
    a, b = average_reward_lp(dense), average_reward_lp(sparse)
    np.testing.assert_allclose(a.gain, b.gain, rtol=0, atol=EXACT_F64)
    np.testing.assert_array_equal(a.policy, b.policy)
    rvi = relative_value_iteration(sparse)
    assert abs(rvi.gain - a.gain[0]) <= EXACT_F64


def test_lp_rejects_bad_multichain_flag():
    with pytest.raises(ValueError, match="multichain must be"):
        average_reward_lp(catalogue.periodic_chain(), multichain="yes")


# --------------------------------------------------------------------------- gamma -> 1
def _discounted_optimum(mdp, gamma: float) -> np.ndarray:
    """Plain policy iteration with np.linalg.solve (independent of polopt.exact)."""
    S = mdp.num_states
    P = mdp.dense_P()
    sigma = np.zeros(S, dtype=int)
    while True:
        Ps, rs = _chain(mdp, sigma)
        V = np.linalg.solve(np.eye(S) - gamma * Ps, rs)
        q = mdp.r + gamma * P @ V
        keep = q[np.arange(S), sigma] >= q.max(axis=1) - PI_TIE_RTOL * (1 + np.abs(V).max())
        if keep.all():
            return V
        sigma = np.where(keep, sigma, q.argmax(axis=1))


@settings(derandomize=True, max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(2, 5), A=st.integers(2, 3))
def test_discounted_optimum_tends_to_gain(seed, S, A):
    """Property: |(1-gamma) V*_gamma - g*| <= 2 (1-gamma) ||h*||_inf for any ACOE solution h*.

    Derivation: r_pi <= g* + h* - P_pi h* for every pi (equality for the greedy policy of h*), so
    V^pi_gamma <= g*/(1-gamma) + h* - (1-gamma) sum_t gamma^t P_pi^{t+1} h*, and the last term is at
    most ||h*|| in sup norm; the greedy policy gives the matching lower bound.
    """
    mdp = _random_mdp(seed, S, A, density=1.0)
    rvi = relative_value_iteration(mdp)
    h_norm = float(np.max(np.abs(rvi.bias)))
    for eps in (1e-1, 1e-2, 1e-3):
        V = _discounted_optimum(mdp, 1 - eps)
        err = float(np.max(np.abs(eps * V - rvi.gain)))
        assert err <= 2 * eps * h_norm + EXACT_F64


# --------------------------------------------------------------------------- solve adapter
def test_solve_relative_value_iteration_forest():
    mdp = catalogue.forest().with_gamma(1.0)
    assert "relative_value_iteration" in po.methods(mdp)
    res = po.solve(mdp, method="relative_value_iteration", omega=0.5)
    T = res.num_iter
    assert res.status == "converged"
    assert res.iterates.shape == (T + 1, 3, 2)
    assert res.certificates["span"].shape == (T + 1,)
    assert res.certificates["span"][-1] < SOLVER_TOL
    assert res.certificates["suboptimality"][-1] == pytest.approx(0.0, abs=EXACT_F64)
    assert np.all(res.certificates["suboptimality"] >= -EXACT_F64)
    np.testing.assert_allclose(res.value, res.optimum.value, rtol=0, atol=EXACT_F64)
    lo, hi = res.info["gain_lower"], res.info["gain_upper"]
    assert np.all(lo - ABS_SLACK <= res.optimum.value[0]) and np.all(hi + ABS_SLACK >= res.optimum.value[0])
    np.testing.assert_allclose(res.bias, gain_bias(mdp, res.policy).bias, rtol=0, atol=EXACT_F64)


def test_solve_relative_value_iteration_hparams():
    mdp = catalogue.periodic_chain()
    with pytest.raises(ValueError, match="omega"):
        po.solve(mdp, method="relative_value_iteration", omega=1.5)
    with pytest.raises(TypeError, match="unknown hyper-parameter.*eta"):
        po.solve(mdp, method="relative_value_iteration", eta=0.1)
    with pytest.warns(NotConvergedWarning):
        res = po.solve(mdp, method="relative_value_iteration", omega=1.0, iters=20)
    assert res.status == "max_iter"
    with pytest.raises(ValueError, match="valid methods"):
        po.solve(catalogue.forest(), method="relative_value_iteration")


def test_discounted_policy_iteration_tends_to_gain_river_swim():
    """Cross-check with the project's discounted policy iteration on RiverSwim (communicating)."""
    from polopt.exact.dp import policy_iteration

    mdp = catalogue.river_swim(6, gamma=0.9)
    avg = mdp.with_gamma(1.0)
    lp = average_reward_lp(avg)
    h_norm = float(np.max(np.abs(relative_value_iteration(avg).bias)))
    for eps in (1e-2, 1e-3, 1e-4):
        v = policy_iteration(mdp.with_gamma(1 - eps)).v
        assert float(np.max(np.abs(eps * v - lp.gain))) <= 2 * eps * h_norm + EXACT_F64


#: pymdptoolbox's RelativeValueIteration default stopping accuracy (epsilon = 0.01).
PYMDPTOOLBOX_EPSILON = 1e-2


def test_pymdptoolbox_small_example():
    """Differential test on pymdptoolbox's ``example.small()`` (doctest: average reward 3.8852, policy (1, 0)).

    Exact: policy (1, 0) has stationary law (4/9, 5/9) and gain 4/9 * 10 - 5/9 = 35/9; the anchor's
    3.8852 is within its own epsilon of it.
    """
    import mdptoolbox.example as example
    import mdptoolbox.mdp as mdptoolbox

    P, R = example.small()
    mdp = TabularMDP(np.transpose(P, (1, 0, 2)), R, gamma=1.0)
    lp = average_reward_lp(mdp)
    np.testing.assert_allclose(lp.gain, 35.0 / 9.0, rtol=0, atol=EXACT_F64)
    np.testing.assert_array_equal(lp.policy, [1, 0])
    anchor = mdptoolbox.RelativeValueIteration(P, R)
    anchor.run()
    assert abs(anchor.average_reward - lp.gain[0]) <= PYMDPTOOLBOX_EPSILON
    assert tuple(anchor.policy) == (1, 0)

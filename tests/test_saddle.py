"""Mirror prox on the MDP saddle point: one hand-derived step, fixed points, backends, certificates, theorems."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from scipy.optimize import linprog

import polopt as po
from polopt import certificates
from polopt.exact import evaluate, solve_mdp
from polopt.exact.average import average_reward_lp
from polopt.oracles.saddle import SaddleOracle, SampledSaddleOracle, operator_norm
from polopt.problems import TabularMDP, catalogue
from polopt.problems.random import random_mdp
from polopt.rules import saddle
from polopt.testing.strategies import mdps
from polopt.testing.tolerances import BACKEND, EXACT_F64, IDENTITY_F64

SETTINGS = settings(derandomize=True, deadline=None, max_examples=8)
#: HiGHS' default primal/dual feasibility tolerance is 1e-7: its optimal values agree to this.
HIGHS = 1e-7


def quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        return po.solve(*args, **kw)


def swap_mdp(gamma: float = 0.5) -> TabularMDP:
    """Two states; action 0 stays, action 1 moves to the other state; r = [[1, 0], [0, 1/2]]; rho uniform."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, 0, 1] = P[1, 1, 0] = 1.0
    return TabularMDP(P, np.array([[1.0, 0.0], [0.0, 0.5]]), gamma=gamma, rho=np.array([0.5, 0.5]))


def oracle_of(mdp, lo, hi):
    gamma = 1.0 if mdp.criterion == "average" else mdp.gamma
    return SaddleOracle(mdp.dense_P(), mdp.r, gamma, mdp.rho, lo, hi)


# --------------------------------------------------------------------------- one step by hand
def test_one_step_by_hand_on_two_states():
    """gamma = 1/2, box [0, 2], v_0 = (1, 1), d_0 = 1/4, eta_v = 1/2, eta_d = 1.

    g_v(d_0) = (1-gamma) rho + gamma (inflow) - nu = (1/4 + 1/4 - 1/2) 1 = 0, so v_hat = v_0;
    g_d(v_0) = r + gamma P v_0 - v_0 = r - 1/2, so d_hat ∝ exp(r - 1/2) = (e^{1/2}, e^{-1/2}, e^{-1/2}, 1) / Z;
    g_d(v_hat) = g_d(v_0): d_1 = d_hat; v_1 = clip(v_0 - g_v(d_hat) / 2) with
    g_v(d_hat)(0) = 1/4 + (d_00 + d_11)/2 - (d_00 + d_01),
    g_v(d_hat)(1) = 1/4 + (d_01 + d_10)/2 - (d_10 + d_11).
    L = ||gamma e_1 - e_0|| = sqrt(5)/2, so eta_v eta_d = 1/2 <= 1/L^2 = 4/5.
    """
    mdp = swap_mdp()
    oracle = oracle_of(mdp, 0.0, 2.0)
    assert operator_norm(mdp.dense_P(), 0.5) == pytest.approx(np.sqrt(5) / 2, abs=IDENTITY_F64)
    rule = saddle.mdp_mirror_prox(eta_v=0.5, eta_d=1.0, L=np.sqrt(5) / 2)
    state = rule.update(rule.init(np.zeros((2, 2)), oracle), oracle)
    w = np.array([[np.exp(0.5), np.exp(-0.5)], [np.exp(-0.5), 1.0]])
    d_hat = w / w.sum()
    g0 = 0.25 + (d_hat[0, 0] + d_hat[1, 1]) / 2 - d_hat[0].sum()
    g1 = 0.25 + (d_hat[0, 1] + d_hat[1, 0]) / 2 - d_hat[1].sum()
    np.testing.assert_allclose(np.exp(state.log_d), d_hat, atol=IDENTITY_F64)
    np.testing.assert_allclose(state.v, [1.0 - g0 / 2, 1.0 - g1 / 2], atol=IDENTITY_F64)
    np.testing.assert_allclose(state.v_avg, [1.0, 1.0], atol=IDENTITY_F64)  # the mean of one v_hat
    np.testing.assert_allclose(np.exp(state.log_d_avg), d_hat, atol=IDENTITY_F64)
    np.testing.assert_allclose(np.exp(state.log_avg), d_hat / d_hat.sum(-1, keepdims=True), atol=IDENTITY_F64)
    # the same step through po.solve (box and steps given): its average is d_hat
    res = quiet(mdp, method="mirror_prox", iters=1, eta_v=0.5, eta_d=1.0, box=(0.0, 2.0))
    np.testing.assert_allclose(res.info["occupancy_avg"][1], d_hat, atol=IDENTITY_F64)
    assert res.hparams["eta_v"] == 0.5 and res.info["box"] == (0.0, 2.0)


# --------------------------------------------------------------------------- fixed points
def test_exact_lp_solution_is_a_fixed_point_discounted():
    """(V*, d^{pi*}) solves the saddle point: g_v(d^{pi*}) = 0 (flow constraint) and g_d(V*) = 0 on the optimal
    actions, <= 0 off them (where d^{pi*} = 0, log = -inf): two updates leave both unchanged."""
    mdp = random_mdp(5, 3, gamma=0.9, seed=2)
    star = solve_mdp(mdp)
    pi = np.eye(3)[star.policy]
    ev = evaluate(mdp, pi)
    with np.errstate(divide="ignore"):
        log_d = np.log(ev.occupancy)
    oracle = oracle_of(mdp, 0.0, 1.0 / (1 - mdp.gamma))
    rule = saddle.mdp_mirror_prox(eta_v=0.3, eta_d=0.3, L=operator_norm(mdp.dense_P(), mdp.gamma))
    state = rule.init(log_d, oracle, ev.V)
    for _ in range(2):
        state = rule.update(state, oracle)
    # EXACT_F64: V* and d^{pi*} come from float64 linear solves
    np.testing.assert_allclose(state.v, ev.V, atol=EXACT_F64)
    np.testing.assert_allclose(np.exp(state.log_d), ev.occupancy, atol=EXACT_F64)
    assert certificates.saddle_gap(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho, 0.0, 10.0, ev.V, ev.occupancy) \
        <= EXACT_F64


def test_exact_lp_solution_is_a_fixed_point_average():
    """Average reward: the LP's stationary occupancy and the optimal bias (shifted into the box) are fixed:
    g_d(h*) = g* on the optimal actions, a constant that the joint normalisation removes."""
    mdp = random_mdp(5, 2, gamma=1.0, seed=4)
    lp = average_reward_lp(mdp)
    h = lp.bias - 0.5 * (lp.bias.max() + lp.bias.min())
    M = float(np.max(np.abs(h))) + 1.0
    with np.errstate(divide="ignore"):
        log_d = np.log(lp.occupancy)
    oracle = oracle_of(mdp, -M, M)
    rule = saddle.mdp_mirror_prox(eta_v=0.5, eta_d=0.5, L=operator_norm(mdp.dense_P(), 1.0))
    state = rule.update(rule.update(rule.init(log_d, oracle, h), oracle), oracle)
    # HIGHS: the occupancy is the LP's dual, feasible to HiGHS' tolerance
    np.testing.assert_allclose(state.v, h, atol=HIGHS)
    np.testing.assert_allclose(np.exp(state.log_d), lp.occupancy, atol=HIGHS)


# --------------------------------------------------------------------------- backends
def test_numpy_and_jax_agree():
    """jit(vmap) over three MDPs, five updates traced once, against the NumPy loop (BACKEND tolerance)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    mdps_ = [random_mdp(4, 3, gamma=0.9, seed=s) for s in range(3)]
    P = np.stack([m.dense_P() for m in mdps_])
    r = np.stack([m.r for m in mdps_])
    rho = np.stack([m.rho for m in mdps_])
    log_d0 = np.log(np.random.default_rng(0).dirichlet(np.ones(12), size=3).reshape(3, 4, 3))
    rule = saddle.mdp_mirror_prox(eta_v=0.5, eta_d=0.5, L=2.0)

    def run(P1, r1, rho1, lm, xp_loop):
        oracle = SaddleOracle(P1, r1, 0.9, rho1, 0.0, 10.0)
        return xp_loop(rule.init(lm, oracle), oracle)

    def np_loop(s, oracle):
        for _ in range(5):
            s = rule.update(s, oracle)
        return s

    def jax_loop(s, oracle):
        return jax.lax.fori_loop(0, 5, lambda i, x: rule.update(x, oracle), s)

    ref = [run(P[b], r[b], rho[b], log_d0[b], np_loop) for b in range(3)]
    out = jax.jit(jax.vmap(lambda *a: run(*a, jax_loop)))(*(jnp.asarray(a) for a in (P, r, rho, log_d0)))
    for field in saddle.SaddleState._fields:
        want = np.stack([np.asarray(getattr(s, field)) for s in ref])
        got = np.asarray(getattr(out, field))
        if field.startswith("log"):
            want, got = np.exp(want), np.exp(got)
        np.testing.assert_allclose(got, want, atol=BACKEND, err_msg=field)


def test_extreme_steps_and_zero_mass_stay_finite():
    """eta_d = 1e3 (eta_v tiny to keep the condition) and an initial occupancy with 1e-300 entries."""
    mdp = random_mdp(4, 3, gamma=0.95, seed=5)
    oracle = oracle_of(mdp, 0.0, 20.0)
    rule = saddle.mdp_mirror_prox(eta_v=1e-7, eta_d=1e3, L=2.0)
    d0 = np.full((4, 3), 1e-300)
    d0[0, 0] = 1.0
    state = rule.init(np.log(d0), oracle)
    with np.errstate(all="raise", under="ignore"):
        for _ in range(20):
            state = rule.update(state, oracle)
            assert not np.any(np.isnan(state.log_d)) and not np.any(np.isnan(state.log_d_avg))
            assert abs(np.exp(state.log_d).sum() - 1.0) <= IDENTITY_F64
            pi = np.exp(state.log_pi)
            assert np.all(np.abs(pi.sum(-1) - 1.0) <= IDENTITY_F64)


def test_oracle_calls_as_declared():
    class Counting:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0
            self.lo, self.hi = inner.lo, inner.hi

        def operator(self, v, d):
            self.calls += 1
            return self.inner.operator(v, d)

    mdp = swap_mdp()
    counting = Counting(oracle_of(mdp, 0.0, 2.0))
    rule = saddle.mdp_mirror_prox(eta_v=0.5, eta_d=1.0, L=1.2)
    rule.update(rule.init(np.zeros((2, 2)), counting), counting)
    assert counting.calls == rule.oracle_calls == 2 and rule.averages


def test_policy_of_occupancy_is_uniform_on_unvisited_states():
    log_d = np.array([[np.log(0.25), np.log(0.75)], [-np.inf, -np.inf]])  # state 1 never visited
    np.testing.assert_allclose(np.exp(saddle.policy_of_occupancy(log_d)), [[0.25, 0.75], [0.5, 0.5]],
                               atol=IDENTITY_F64)


# --------------------------------------------------------------------------- certificates
@pytest.mark.parametrize("gamma", [0.8, 1.0])
def test_saddle_gap_against_two_highs_programs(gamma):
    """max over the simplex and min over the box, each solved by HiGHS instead of the closed forms."""
    mdp = random_mdp(4, 3, gamma=gamma, seed=7)
    rng = np.random.default_rng(1)
    P, r, rho = mdp.dense_P(), mdp.r, mdp.rho
    lo, hi = -2.0, 3.0
    v = rng.uniform(lo, hi, size=4)
    d = rng.dirichlet(np.ones(12)).reshape(4, 3)
    c = (1.0 - gamma) * rho
    coef_d = (r + gamma * P @ v - v[:, None]).reshape(-1)  # f(v, .) is linear in d
    upper = -linprog(-coef_d, A_eq=np.ones((1, 12)), b_eq=[1.0], bounds=(0, None), method="highs").fun + c @ v
    coef_v = c + gamma * np.einsum("sa,sat->t", d, P) - d.sum(-1)  # f(., d) is linear in v
    lower = linprog(coef_v, bounds=[(lo, hi)] * 4, method="highs").fun + np.sum(d * r)
    got = certificates.saddle_gap(P, r, gamma, rho, lo, hi, v, d)
    assert abs(got - (upper - lower)) <= HIGHS
    batched = certificates.saddle_gap(P, r, gamma, rho, lo, hi, np.stack([v, v]), np.stack([d, d]))
    np.testing.assert_allclose(batched, [got, got], atol=IDENTITY_F64)


def test_solve_result_contract_discounted():
    mdp = catalogue.river_swim(6, 0.9)
    with pytest.warns(po.NotConvergedWarning):
        res = po.solve(mdp, method="mirror_prox", iters=300)
    assert res.status == "max_iter" and res.num_iter == 300 and res.method == "mirror_prox"
    assert res.iterates.shape == res.average.shape == (301, 6, 2)
    np.testing.assert_allclose(res.policy, res.average[-1])
    np.testing.assert_allclose(res.value, evaluate(mdp, res.policy).V, atol=EXACT_F64)
    np.testing.assert_allclose(res.optimum.value, solve_mdp(mdp).v, atol=EXACT_F64)
    assert res.certificates.computed() == []  # nothing computed until read
    sub = np.asarray(res.certificates["suboptimality"])
    np.testing.assert_allclose(sub[-1], mdp.rho @ (res.optimum.value - res.value), atol=EXACT_F64)
    np.testing.assert_allclose(res.certificates["lp_suboptimality"], (1 - mdp.gamma) * sub, atol=IDENTITY_F64)
    gap = np.asarray(res.certificates["duality_gap"])
    assert gap[-1] < 0.1 * gap[1]  # the averaged gap has fallen by an order of magnitude in 300 updates
    assert res.info["box"] == (0.0, pytest.approx(10.0))  # [min r, max r] / (1 - gamma), RiverSwim r in [0, 1]


def test_solve_result_contract_average_reward():
    mdp = random_mdp(5, 3, gamma=1.0, seed=0)
    res = quiet(mdp, method="mirror_prox", iters=400)
    lp = average_reward_lp(mdp)
    np.testing.assert_allclose(res.optimum.value, lp.gain, atol=EXACT_F64)
    assert res.bias is not None and res.value.shape == (5,)
    M = max(np.ptp(lp.bias), np.ptp(mdp.r))
    assert res.info["box"] == (pytest.approx(-M), pytest.approx(M))
    assert "span" in res.certificates and "bellman_residual" not in res.certificates
    assert po.theory.check(res, "mp_mdp.gap").holds and po.theory.check(res, "mp_mdp.policy").holds


def test_tol_stops_during_the_run():
    res = po.solve(catalogue.river_swim(6, 0.9), method="mirror_prox", iters=10**7, tol=0.05)
    assert res.status == "converged" and res.num_iter < 10**4
    assert res.certificates["duality_gap"][-1] <= 0.05


def test_record_thins_and_the_theorem_reads_the_recorded_steps():
    res = quiet(catalogue.river_swim(6, 0.9), method="mirror_prox", iters=95, record=10)
    np.testing.assert_array_equal(res.info["recorded"], [0, *range(10, 91, 10), 95])
    assert po.theory.check(res, "mp_mdp.gap").holds


def test_games_keep_nash_mirror_prox():
    game = catalogue.perturbed_rps(0.1)
    res = po.solve(game, method="mirror_prox", iters=50)
    assert "kl_to_optimum" in res.certificates and res.status == "converged"
    assert "mirror_prox" in po.methods(catalogue.river_swim(4, 0.9))
    with pytest.raises(ValueError, match="covers mirror prox on an MDP"):
        po.theory.check(res, "mp_mdp.gap")


# --------------------------------------------------------------------------- theorems as properties
@SETTINGS
@given(mdps(max_states=4, max_actions=3, gamma=0.9))
def test_property_gap_and_policy_bounds_discounted(mdp):
    res = quiet(mdp, method="mirror_prox", iters=120, record=4)
    assert po.theory.check(res, "mp_mdp.gap").holds
    assert po.theory.check(res, "mp_mdp.policy").holds
    # the default box contains every policy's value: no slack term
    np.testing.assert_allclose(res.info["box_slack"], 0.0, atol=IDENTITY_F64)


@SETTINGS
@given(mdps(max_states=4, max_actions=3, gamma=1.0))
def test_property_gap_and_policy_bounds_average(mdp):
    res = quiet(mdp, method="mirror_prox", iters=120, record=4)
    assert po.theory.check(res, "mp_mdp.gap").holds
    assert po.theory.check(res, "mp_mdp.policy").holds


# --------------------------------------------------------------------------- sampled oracle
def test_sampled_oracle_is_unbiased():
    """One call with m = 40000 draws against the exact operator; tolerance 6 standard errors of the bounded
    estimators (g_v entries in [-1, 1]; g_d entries SA (r + gamma v' - v) with |.| <= SA (1 + 2 max|v|))."""
    mdp = random_mdp(3, 2, gamma=0.8, seed=9)
    rng = np.random.default_rng(0)
    v = rng.uniform(0, 5, size=3)
    d = rng.dirichlet(np.ones(6)).reshape(3, 2)
    m = 40000
    exact = oracle_of(mdp, 0.0, 5.0).operator(v, d)
    est = SampledSaddleOracle(mdp.dense_P(), mdp.r, 0.8, mdp.rho, 0.0, 5.0, rng, m).operator(v, d)
    np.testing.assert_allclose(est.g_v, exact.g_v, atol=6 * 2 / np.sqrt(m))
    np.testing.assert_allclose(est.g_d, exact.g_d, atol=6 * 6 * (1 + 2 * 5) / np.sqrt(m))


def test_sampled_run_is_seeded_and_learns():
    mdp = catalogue.river_swim(4, 0.8)
    a = quiet(mdp, method="mirror_prox", iters=300, num_samples=64, seed=3, eta_v=0.2, eta_d=0.01)
    b = quiet(mdp, method="mirror_prox", iters=300, num_samples=64, seed=3, eta_v=0.2, eta_d=0.01)
    np.testing.assert_array_equal(a.average, b.average)
    gap = np.asarray(a.certificates["duality_gap"])
    assert gap[-1] < 0.5 * gap[1]
    assert a.info["oracle_calls"][-1] == 300 * 2 * 2 * 64
    with pytest.raises(ValueError, match="covers the exact oracle"):
        po.theory.check(a, "mp_mdp.gap")


# --------------------------------------------------------------------------- bad input
def test_step_condition_is_enforced():
    with pytest.raises(ValueError, match=r"step condition eta_v \* eta_d <= 1 / L\^2 fails: eta_v = 1, eta_d = 1"):
        saddle.mdp_mirror_prox(eta_v=1.0, eta_d=1.0, L=1.5)
    with pytest.raises(ValueError, match="step condition"):
        po.solve(catalogue.river_swim(4, 0.9), method="mirror_prox", iters=3, eta_v=10.0, eta_d=10.0)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="mirror_prox: eta_d"):
            saddle.mdp_mirror_prox(eta_v=0.1, eta_d=bad, L=1.0)
        with pytest.raises(ValueError, match="mirror_prox: eta_v"):
            po.solve(catalogue.river_swim(4, 0.9), method="mirror_prox", iters=3, eta_v=bad)


def test_finite_horizon_is_refused_listing_what_applies():
    mdp = TabularMDP(swap_mdp().P, swap_mdp().r, horizon=3)
    with pytest.raises(ValueError, match=r"finite horizons are not covered\).*valid methods: backward_induction"):
        po.solve(mdp, method="mirror_prox")


def test_bad_box_init_and_hparams():
    mdp = catalogue.river_swim(4, 0.9)
    with pytest.raises(ValueError, match=r"box must have lo < hi, got box = \(1, 1\)"):
        po.solve(mdp, method="mirror_prox", iters=2, box=(1.0, 1.0))
    with pytest.raises(ValueError, match="box must be a pair"):
        po.solve(mdp, method="mirror_prox", iters=2, box=3.0)
    with pytest.raises(ValueError, match=r"init\[0, :\] sums to"):
        po.solve(mdp, method="mirror_prox", iters=2, init=np.full((4, 2), 0.6))
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        po.solve(mdp, method="mirror_prox", iters=2, eta=1.0)
    caller = np.full((4, 2), 0.5)
    quiet(mdp, method="mirror_prox", iters=2, init=caller)
    np.testing.assert_array_equal(caller, 0.5)  # the caller's array is not mutated


def test_gap_bound_refuses_steps_beyond_the_condition():
    from polopt.theory.saddle import gap_bound

    np.testing.assert_allclose(gap_bound(2.0, 1.0, 0.5, 1.0, 1.0, np.array([1, 4])), [5.0, 1.25])
    assert gap_bound(2.0, 1.0, 0.5, 1.0, 1.0, np.array([0]))[0] == np.inf  # no average yet at t = 0
    with pytest.raises(ValueError, match="mp_mdp.gap needs eta_v \\* eta_d <= 1 / L\\^2"):
        gap_bound(2.0, 1.0, 1.0, 1.0, 1.5, np.array([1]))


def test_finding_the_bound_breaks_beyond_the_step_condition():
    """Kept as a finding (outside the theorem): with both balanced steps scaled by sqrt(c), the gap stays under
    D_v/(eta_v t) + D_d/(eta_d t) at c = 1 but exceeds it at c = 16 on this random MDP; the factory refuses c > 1."""
    from validation.mdp_mirror_prox import step_sweep

    inside, beyond = step_sweep(random_mdp(10, 4, gamma=0.95, seed=0), 400, 20, multiples=(1.0, 16.0))
    assert inside <= 1.0 < beyond


def test_an_mdp_with_infeasible_actions_is_not_offered_the_saddle_point():
    P = swap_mdp().P
    r = np.array([[1.0, -np.inf], [0.0, 0.5]])  # the occupancy simplex would have to drop pair (0, 1)
    mdp = TabularMDP(P, r, gamma=0.9)
    assert "mirror_prox" not in po.methods(mdp)
    with pytest.raises(ValueError, match="without infeasible actions"):
        po.solve(mdp, method="mirror_prox")

"""The shared learning machinery: simulators, the VTR ridge state, the optimistic planner, extended value
iteration, the exact-regret runner and the normalization check."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import polopt as po
from polopt._methods import learning as lr
from polopt.oracles.episodes import EpisodeSimulator, StepSimulator, generators
from polopt.problems import catalogue
from polopt.problems.linear_mixture import normalization
from polopt.problems.random import random_linear_mixture, random_mdp
from polopt.rules import learning as rl
from polopt.rules._core import Rule
from polopt.rules._vtr import Commit, ellipsoid_norm, plan, ridge, ridge_update

#: Closed-form ridge vs a direct solve after n rank-one updates: Sherman-Morrison accumulates round-off of
#: order n * cond(Sigma) * eps ~ 1e-12 on these well-conditioned designs; 1e-9 leaves margin.
RIDGE_TOL = 1e-9
#: Two float64 evaluations of the same H-step recursion in different operation orders differ by ~H eps.
VALUE_TOL = 1e-12
#: cvxpy's conic solvers meet the L1-ball LP to about 1e-8; the sorted construction is exact.
LP_TOL = 1e-6


def _mixture():
    return random_linear_mixture(4, 2, 2, 3, seed=1)


# --------------------------------------------------------------------------- ridge
def test_ridge_update_by_hand_and_against_a_direct_solve():
    # two samples in d = 2 by hand: Sigma = lam I + x1 x1^T + x2 x2^T / 2
    lam = 0.5
    rg = ridge(2, lam)
    rg = ridge_update(rg, np.array([1.0, 0.0]), 2.0, 1.0)
    rg = ridge_update(rg, np.array([1.0, 1.0]), 1.0, 2.0)
    Sigma = np.array([[0.5 + 1 + 0.5, 0.5], [0.5, 0.5 + 0.5]])
    b = np.array([2.0 + 0.5, 0.5])
    np.testing.assert_allclose(rg.Sigma, Sigma, atol=1e-15)
    np.testing.assert_allclose(rg.b, b, atol=1e-15)
    np.testing.assert_allclose(rg.theta, np.linalg.solve(Sigma, b), atol=1e-14)
    np.testing.assert_allclose(rg.Sigma_inv, np.linalg.inv(Sigma), atol=1e-14)
    assert rg.logdet == pytest.approx(np.log(np.linalg.det(Sigma)), abs=1e-14)
    # many batched updates: [3 batches, 4 dims], 300 samples of varying weight
    rng = np.random.default_rng(0)
    rg = ridge(4, 1.0, (3,))
    X, Y, W = rng.normal(size=(300, 3, 4)), rng.normal(size=(300, 3)), rng.uniform(0.2, 5.0, size=(300, 3))
    for x, y, w in zip(X, Y, W, strict=True):
        rg = ridge_update(rg, x, y, w)
    for i in range(3):
        Sig = np.eye(4) + np.einsum("n,ni,nj->ij", 1 / W[:, i], X[:, i], X[:, i])
        bb = np.einsum("n,n,ni->i", 1 / W[:, i], Y[:, i], X[:, i])
        np.testing.assert_allclose(rg.theta[i], np.linalg.solve(Sig, bb), rtol=RIDGE_TOL, atol=RIDGE_TOL)
        np.testing.assert_allclose(rg.Sigma_inv[i] @ Sig, np.eye(4), atol=RIDGE_TOL)
        assert rg.logdet[i] == pytest.approx(np.linalg.slogdet(Sig)[1], abs=RIDGE_TOL)


def test_ridge_update_does_not_mutate_its_input():
    rg = ridge(2, 1.0)
    before = [x.copy() for x in rg]
    ridge_update(rg, np.ones(2), 1.0, 1.0)
    for x, y in zip(rg, before, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- planner
@pytest.mark.parametrize("make", [lambda: catalogue.linear_mixture_hard(d=3, H=4, K=100, seed=2), _mixture],
                         ids=["hard", "random"])
def test_planner_is_backward_induction_with_true_theta_and_zero_radius(make):
    lm = make()
    H, d = lm.horizon, lm.dim
    theta = np.broadcast_to(np.atleast_2d(lm.theta), (H, d))[None]
    r = np.broadcast_to(lm.r, (H,) + lm.r.shape[-2:])
    p = plan(lm.phi, r, theta, np.broadcast_to(np.eye(d), (1, H, d, d)), np.zeros((1, H)), np.arange(H, 0, -1.0))
    bi = po.exact.backward_induction(lm)
    np.testing.assert_allclose(p.V[0, :H], bi.V[:H], atol=VALUE_TOL)
    np.testing.assert_allclose(p.Q[0], bi.Q, atol=VALUE_TOL)
    # the planner's policy is optimal: its exact value is V*
    V = lr.evaluate_policies(lm.P, r, p.policy)
    np.testing.assert_allclose(V[0, :H], bi.V[:H], atol=VALUE_TOL)


def test_planner_bonus_is_the_ellipsoid_width_and_is_clipped():
    lm = _mixture()
    H, d = lm.horizon, lm.dim
    r = np.broadcast_to(lm.r, (H,) + lm.r.shape)
    Sinv = np.broadcast_to(np.diag([2.0, 0.5]), (1, H, d, d))
    p = plan(lm.phi, r, np.zeros((1, H, d)), Sinv, np.full((1, H), 1e6), np.arange(H, 0, -1.0))
    # a huge radius saturates every Q at its cap H - h (every feature phi_V is nonzero for V != 0)
    for h in range(H - 1):
        np.testing.assert_allclose(p.Q[0, h], H - h)
    phiV = np.einsum("satd,t->sad", lm.phi, p.V[0, 1])
    np.testing.assert_allclose(p.width[0, 0], ellipsoid_norm(Sinv[0, 0], phiV), atol=1e-15)


# --------------------------------------------------------------------------- simulators
def test_episode_simulator_follows_the_kernel_and_is_reproducible_per_seed():
    lm = _mixture()
    H, S = lm.horizon, lm.num_states
    r = np.broadcast_to(lm.r, (H,) + lm.r.shape)
    pol = np.zeros((3, H, S), dtype=np.int64)
    sims = [EpisodeSimulator(lm.P, r, lm.rho, H, seeds) for seeds in ([5, 6, 7], [6])]
    a = [sims[0].rollout(pol) for _ in range(40)]
    b = [sims[1].rollout(pol[:1]) for _ in range(40)]
    for x, y in zip(a, b, strict=True):  # seed 6 alone = seed 6 in a batch
        np.testing.assert_array_equal(x.states[1], y.states[0])
    # empirical first transitions from state 0 under action 0 match P(.|0, 0): 4 sigma of a binomial
    sim = EpisodeSimulator(lm.P, r, lm.rho, H, list(range(500)))
    nxt = np.concatenate([sim.rollout(np.zeros((500, H, S), dtype=np.int64)).states[:, 1] for _ in range(4)])
    freq = np.bincount(nxt, minlength=S) / nxt.size
    p = lm.P[0, 0]
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / nxt.size) + 1e-12)


def test_step_simulator_never_draws_impossible_states():
    mdp = catalogue.river_swim(4, gamma=1.0)
    sim = StepSimulator(mdp.P, mdp.r, [0, 1])
    s = sim.start(mdp.rho)
    assert np.all(s == 0)
    for _ in range(200):
        a = np.array([1, 0])
        s1, rew = sim.step(s, a)
        assert np.all(mdp.P[s, a, s1] > 0)
        np.testing.assert_array_equal(rew, mdp.r[s, a])
        s = s1


def test_generators_reject_bad_seeds():
    with pytest.raises(ValueError, match=r"seeds\[1\] must be a non-negative int, got -1"):
        generators([0, -1])
    with pytest.raises(TypeError, match=r"seeds\[0\]"):
        generators([1.5])
    with pytest.raises(ValueError, match="empty"):
        generators([])


# --------------------------------------------------------------------------- L1 ball and EVI
def _lp_max(p_hat, eps, u):
    p = cp.Variable(p_hat.shape[0])
    prob = cp.Problem(cp.Maximize(u @ p), [cp.sum(p) == 1, p >= 0, cp.norm1(p - p_hat) <= eps])
    prob.solve()
    return prob.value


@pytest.mark.parametrize("case", range(6))
def test_l1_ball_inner_max_matches_an_lp(case):
    rng = np.random.default_rng(case)
    S = 3 + case
    p_hat = rng.dirichlet(np.ones(S))
    u = rng.normal(size=S)
    if case == 1:
        u[2] = u[0]  # ties in u
    eps = [0.0, 0.3, 0.05, 1.0, 2.5, 0.7][case]
    val, p = rl.l1_ball_max(p_hat, eps, u)
    assert val == pytest.approx(_lp_max(p_hat, eps, u), abs=LP_TOL)
    assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.abs(p - p_hat).sum() <= eps + 1e-12
    assert p @ u == pytest.approx(val, abs=1e-14)


def test_l1_ball_by_hand():
    # p_hat = (0.5, 0.3, 0.2), u = (0, 1, 2), eps = 0.4: +0.2 on state 2, removed from state 0 (lowest u)
    val, p = rl.l1_ball_max(np.array([0.5, 0.3, 0.2]), 0.4, np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(p, [0.3, 0.3, 0.4], atol=1e-15)
    assert val == pytest.approx(1.1)


def test_evi_with_a_known_model_finds_the_optimal_gain():
    mdp = random_mdp(5, 3, gamma=1.0, seed=3)
    g_star = float(po.exact.average_reward_lp(mdp).gain.max())
    tol = 1e-8
    evi = rl.extended_value_iteration(mdp.P[None], mdp.r[None], np.zeros((1, 5, 3)), np.array([tol]))
    assert not evi.capped[0]
    assert evi.gain_lower[0] - 1e-12 <= g_star <= evi.gain_upper[0] + 1e-12
    g = po.exact.gain_bias(mdp, evi.policy[0]).gain
    assert np.all(g >= g_star - tol)


# --------------------------------------------------------------------------- the runner
def test_batched_evaluation_matches_exact_evaluate():
    lm = catalogue.linear_mixture_hard(d=3, H=4, K=100, seed=1)
    H, S, A = lm.horizon, lm.num_states, lm.num_actions
    rng = np.random.default_rng(0)
    pol = rng.integers(A, size=(3, H, S))
    r = np.broadcast_to(lm.r, (H, S, A))
    V = lr.evaluate_policies(lm.P, r, pol)
    for b in range(3):
        pi = np.zeros((H, S, A))
        np.put_along_axis(pi, pol[b][..., None], 1.0, axis=-1)
        np.testing.assert_allclose(V[b, :H], po.exact.evaluate(lm, pi).V, atol=VALUE_TOL)


def _true_model_learner(lm) -> Rule:
    """A learner handed theta*: it plans by PLAN with rad = 0 and never updates."""
    H, d = lm.horizon, lm.dim
    theta = np.broadcast_to(np.atleast_2d(lm.theta), (H, d))

    def commit(env):
        B = env.batch
        th = np.broadcast_to(theta, (B, H, d))
        eye = np.broadcast_to(np.eye(d), (B, H, d, d))
        p = plan(env.phi, env.r, th, eye, np.zeros((B, H)), np.arange(H, 0, -1.0))
        return Commit(p.policy, p.V[:, 0] @ env.rho, th, eye, np.zeros((B, H)), np.arange(H), p.width,
                      np.arange(H, 0, -1.0))

    def init(env):
        return rl.VTRState(0, None, None, commit(env))

    def update(state, env):
        env.sim.rollout(state.commit.policy)
        return rl.VTRState(state.t + 1, None, None, commit(env))

    return Rule("true_model", init, update, 1, False, None)


def test_regret_is_zero_for_a_learner_given_the_true_model():
    lm = catalogue.linear_mixture_hard(d=3, H=4, K=100, seed=3)
    run = lr.run_episodes(lm, _true_model_learner(lm), 5, [0, 1])
    assert np.all(np.abs(run.regret) <= VALUE_TOL)
    assert all(ev.all() for ev in run.events.values())


def test_seeds_are_reproducible_alone_and_in_a_batch():
    lm = _mixture()
    rule = rl.ucrl_vtr(B=1.0)
    a = lr.run_episodes(lm, rule, 30, [3, 4])
    b = lr.run_episodes(lm, rule, 30, 4)
    c = lr.run_episodes(lm, rule, 30, [3, 4])
    np.testing.assert_array_equal(a.regret, c.regret)
    np.testing.assert_array_equal(a.regret[1], b.regret[0])
    np.testing.assert_array_equal(a.info["rad"][1], b.info["rad"][0])
    assert not np.array_equal(a.info["rad"][0], a.info["rad"][1])  # the radius grows with the seed's own data


def test_ucrl_vtr_regret_grows_sublinearly_on_a_small_mixture():
    """Reg(K) - Reg(K/2) against Reg(K/2), mean of 4 seeds: sqrt(K) growth gives sqrt(2) - 1 = 0.41, linear
    growth 1; the threshold 0.75 sits between them."""
    lm = _mixture()
    K = 200
    run = lr.run_episodes(lm, rl.ucrl_vtr(B=float(np.linalg.norm(lm.theta))), K, [0, 1, 2, 3])
    reg = run.regret.mean(axis=0)
    assert reg[K // 2] > 0.5  # it did have something to learn
    assert (reg[K] - reg[K // 2]) / reg[K // 2] < 0.75
    assert run.events["confidence"].all() and run.events["optimism"].all() and run.events["planning"].all()


def test_a_shrunken_radius_makes_the_confidence_event_fail():
    """rad_scale = 0 (certainty equivalence) voids the guarantee: the runner must see theta* leave the set."""
    lm = _mixture()
    run = lr.run_episodes(lm, rl.ucrl_vtr(B=1.0, rad_scale=0.0), 20, [0, 1])
    assert not run.events["confidence"][:, 1:].all()


def test_ucrl2_regret_and_events_on_river_swim():
    mdp = catalogue.river_swim(4, gamma=1.0)
    run = lr.run_episodes(mdp, rl.ucrl2(delta=0.1), 1500, [0, 1])
    g_star = float(po.exact.average_reward_lp(mdp).gain.max())
    assert run.optimum == pytest.approx(g_star)
    assert np.all(run.suboptimality >= -VALUE_TOL) and np.all(run.suboptimality <= g_star + VALUE_TOL)
    assert run.checked.sum() >= 2 * 5  # several episodes per seed
    assert run.events["confidence"].all() and run.events["optimism"].all()
    inc = np.diff(run.info["sampled_regret"], axis=1)  # g* - r_t with r_t in [0, 1], differenced from a cumsum
    assert np.all(run.info["sampled_regret"][:, 0] == 0)
    assert np.all((inc <= g_star + 1e-9) & (inc >= g_star - 1 - 1e-9))


def test_diameter_of_a_two_state_swap_and_of_river_swim():
    swap = po.TabularMDP(np.array([[[0.0, 1.0]], [[1.0, 0.0]]]), np.zeros((2, 1)), gamma=1.0)
    assert po.exact.diameter(swap) == pytest.approx(1.0)
    # RiverSwim(3): the longest trip is 0 -> 2 by "right" (left moves are deterministic, one step each):
    # h0 = 1 + 0.65 h0 + 0.35 h1, h1 = 1 + 0.05 h0 + 0.6 h1
    rs = catalogue.river_swim(3, gamma=1.0)
    h = np.linalg.solve(np.array([[0.35, -0.35], [-0.05, 0.4]]), np.ones(2))
    assert po.exact.diameter(rs) == pytest.approx(h[0], rel=1e-9)
    # a state nobody can leave: not communicating
    stuck = po.TabularMDP(np.array([[[1.0, 0.0]], [[0.5, 0.5]]]), np.zeros((2, 1)), gamma=1.0)
    assert po.exact.diameter(stuck) == float("inf")
    with pytest.raises(ValueError, match="not reachable"):
        po.exact.hitting_times(stuck, 1)
    with pytest.raises(ValueError, match="target must be a state index"):
        po.exact.hitting_times(stuck, 2)


def test_hitting_times_match_the_shortest_path_lp():
    """max sum h  s.t.  h(s) <= 1 + P(s, a) . h (s != j), h(j) = 0: the LP of the stochastic shortest path."""
    from scipy.optimize import linprog

    mdp = random_mdp(5, 3, gamma=1.0, seed=2)
    P = mdp.P
    S, A = mdp.num_states, mdp.num_actions
    for j in range(S):
        rows, rhs = [], []
        for s in range(S):
            if s == j:
                continue
            for a in range(A):
                rows.append(np.eye(S)[s] - P[s, a])
                rhs.append(1.0)
        bounds = [(0, 0) if s == j else (0, None) for s in range(S)]
        lp = linprog(-np.ones(S), A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
        ht = po.exact.hitting_times(mdp, j)
        np.testing.assert_allclose(ht.times, lp.x, rtol=1e-8, atol=1e-9)  # HiGHS' feasibility tolerance
        assert ht.residual <= 1e-9


# --------------------------------------------------------------------------- normalization
def test_normalization_is_exact_by_vertex_enumeration():
    lm = random_linear_mixture(4, 2, 3, 2, seed=0)  # c = 1: phi_1 = (1, ..., 1), the maximum is sqrt(d)
    B, phi_max = normalization(lm)
    assert phi_max == pytest.approx(np.sqrt(3), abs=1e-12)
    assert B == pytest.approx(np.linalg.norm(lm.theta))
    # no point of the box beats the vertices
    rng = np.random.default_rng(0)
    V = rng.random((2000, 4))
    inner = np.sqrt(np.max(np.einsum("nsad,nsad->nsa", *(2 * [np.einsum("satd,nt->nsad", lm.phi, V)]))))
    assert inner <= phi_max + 1e-12
    scaled = random_linear_mixture(4, 2, 3, 2, seed=0, B=3.0)
    assert normalization(scaled)[0] == pytest.approx(3.0)
    np.testing.assert_allclose(scaled.P, lm.P, atol=1e-15)  # B rescales features, not the kernel
    hard = normalization(catalogue.linear_mixture_hard(d=5, H=6))
    assert hard[1] <= 1.0  # the catalogue instance meets ||phi_V|| <= 1 on [0, 1]^S
    assert hard == pytest.approx((1.0029, 0.9986), abs=1e-4)  # the values its docstring reports


def test_features_violating_the_normalization_warn_and_void_the_theorem():
    lm = random_linear_mixture(4, 2, 2, 3, seed=1)  # max ||phi_V|| = sqrt(2) > 1
    with pytest.warns(lr.NormalizationWarning, match="phi_V"):
        res = po.solve(lm, method="ucrl_vtr_plus", iters=3, seed=0)
    assert res.info["theorem_applicable"]["ucrl_vtr_plus.regret"] is False
    with pytest.warns(lr.NormalizationWarning, match="exceeds B"):
        po.solve(lm, method="ucrl_vtr", iters=2, seed=0, B=0.1)
    with pytest.raises(TypeError, match="LinearMixtureMDP"):
        normalization(catalogue.river_swim(3))


# --------------------------------------------------------------------------- solve and bad input
def test_solve_returns_regret_and_event_certificates():
    lm = catalogue.linear_mixture_hard(d=3, H=3, K=100, seed=0)
    assert {"ucrl_vtr", "ucrl_vtr_plus"} <= set(po.methods(lm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = po.solve(lm, method="ucrl_vtr_plus", iters=6, seed=0)
    assert res.certificates["regret"].shape == (7,) and res.certificates["regret"][0] == 0.0
    np.testing.assert_allclose(np.diff(res.certificates["regret"]), res.certificates["suboptimality"][1:])
    for k in ("event_confidence", "event_optimism", "event_planning"):
        assert res.certificates[k].shape == (7,)
    assert res.iterates.shape == (7, 3, lm.num_states, lm.num_actions)
    assert res.value.shape == (3, lm.num_states)
    assert "ucrl2" in po.methods(catalogue.river_swim(3, gamma=1.0))
    assert "ucrl2" not in po.methods(catalogue.river_swim(3, gamma=0.9))


@pytest.mark.parametrize("delta", [0.0, 1.0, 1.5, -0.1, float("nan")])
@pytest.mark.parametrize("factory", [rl.ucrl_vtr, rl.ucrl_vtr_plus, rl.ucrl2])
def test_delta_outside_the_open_unit_interval_is_refused(factory, delta):
    with pytest.raises(ValueError, match=r"delta must"):
        factory(delta=delta)


def test_bad_hyper_parameters_and_problems_are_refused():
    with pytest.raises(ValueError, match=r"ucrl_vtr: lam must lie in \(0"):
        rl.ucrl_vtr(lam=0.0)
    with pytest.raises(ValueError, match=r"ucrl_vtr_plus: lam"):
        rl.ucrl_vtr_plus(lam=-1.0)
    with pytest.raises(TypeError, match="delta is required"):
        rl.ucrl2(delta=None)
    lm = _mixture()
    with pytest.raises(ValueError, match="episodes must be >= 1, got 0"):
        lr.run_episodes(lm, rl.ucrl_vtr(), 0)
    with pytest.raises(ValueError, match=r"iters \(episodes\) must be >= 1"):
        po.solve(lm, method="ucrl_vtr", iters=0)
    with pytest.raises(TypeError, match="must be a LinearMixtureMDP"):
        lr.run_episodes(catalogue.river_swim(3, gamma=1.0), rl.ucrl_vtr(), 5)
    with pytest.raises(TypeError, match="average-reward TabularMDP"):
        lr.run_episodes(lm, rl.ucrl2(), 5)
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(catalogue.river_swim(3, gamma=0.9), method="ucrl2", iters=5)
    with pytest.raises(ValueError, match="init must be None"):
        po.solve(lm, method="ucrl_vtr", iters=2, init=np.ones(3))
    bad = po.LinearMixtureMDP(lm.phi, lm.theta, 2.0 * lm.r, horizon=3, rho=lm.rho)
    with pytest.raises(ValueError, match=r"problem.r\[.*\] is .*rewards in \[0, 1\]"):
        lr.run_episodes(bad, rl.ucrl_vtr(), 2)


# --------------------------------------------------------------------------- one update by hand
def test_one_ucrl_vtr_update_by_hand():
    lm = _mixture()
    rule = rl.ucrl_vtr(B=1.0, lam=2.0)
    env = lr.mixture_env(lm, [7])
    state = rule.update(rule.init(env), env)
    # replay: same seed, the committed policy, features phi_{V_{h+1}}(s_h, a_h) of the committed plan's values
    traj = lr.mixture_env(lm, [7]).sim.rollout(state.commit.policy)
    H, d = lm.horizon, lm.dim
    r = np.broadcast_to(lm.r, (H,) + lm.r.shape)
    rad = state.commit.rad
    p = plan(lm.phi, r, np.zeros((1, H, d)), np.broadcast_to(np.eye(d) / 2.0, (1, H, d, d)), rad[:, [0] * H],
             np.arange(H, 0, -1.0))
    Sigma, b = 2.0 * np.eye(d), np.zeros(d)
    for h in range(H):
        s, a, s1 = traj.states[0, h], traj.actions[0, h], traj.states[0, h + 1]
        x = lm.phi[s, a].T @ p.V[0, h + 1]
        Sigma += np.outer(x, x)
        b += x * p.V[0, h + 1, s1]
    np.testing.assert_allclose(state.ridge.Sigma[0, 0], Sigma, atol=1e-12)
    np.testing.assert_allclose(state.ridge.theta[0, 0], np.linalg.solve(Sigma, b), atol=1e-12)
    # the first radius: sqrt(lam) B + R sqrt(2 log(1/delta) + d log lam - d log lam), R = (H - 1) / 2
    assert rad[0, 0] == pytest.approx(np.sqrt(2.0) + (H - 1) / 2 * np.sqrt(2 * np.log(1 / 0.1)))


def test_one_ucrl_vtr_plus_update_by_hand():
    lm = catalogue.linear_mixture_hard(d=3, H=3, K=100, seed=5)  # step-dependent theta: one regression per step
    B, delta = 1.5, 0.2
    rule = rl.ucrl_vtr_plus(B=B, delta=delta)
    env = lr.mixture_env(lm, [3])
    state = rule.update(rule.init(env), env)
    traj = lr.mixture_env(lm, [3]).sim.rollout(state.commit.policy)
    H, d, lam = lm.horizon, lm.dim, 1.0 / B**2
    rh, rb, rt = rl.ucrl_vtr_plus_radii(1, d, H, lam, B, delta)
    r = np.broadcast_to(lm.r, (H,) + lm.r.shape)
    p = plan(lm.phi, r, np.zeros((1, H, d)), np.broadcast_to(np.eye(d) / lam, (1, H, d, d)), np.full((1, H), rh),
             np.arange(H, 0, -1.0))
    for h in range(H):
        s, a, s1 = traj.states[0, h], traj.actions[0, h], traj.states[0, h + 1]
        V = p.V[0, h + 1]
        x, x2 = lm.phi[s, a].T @ V, lm.phi[s, a].T @ V**2
        # frozen estimates are the prior (theta = 0, Sigma^-1 = I / lam): Vbar = 0
        E = min(H**2, rt * np.linalg.norm(x2) / np.sqrt(lam)) + min(H**2, 2 * H * rb * np.linalg.norm(x) / np.sqrt(lam))
        sigma2 = max(H**2 / d, E)
        np.testing.assert_allclose(state.ridge.Sigma[0, h], lam * np.eye(d) + np.outer(x, x) / sigma2, atol=1e-12)
        np.testing.assert_allclose(state.ridge.b[0, h], x * V[s1] / sigma2, atol=1e-12)
        np.testing.assert_allclose(state.moment.Sigma[0, h], lam * np.eye(d) + np.outer(x2, x2), atol=1e-12)
        np.testing.assert_allclose(state.moment.b[0, h], x2 * V[s1] ** 2, atol=1e-12)


def test_first_ucrl2_step_by_hand():
    """With no data every transition ball holds the simplex and r~ = 1: EVI stops after one sweep with u = 1,
    gain bracket [1, 1] and the lowest-index action everywhere."""
    mdp = catalogue.river_swim(3, gamma=1.0)
    rule = rl.ucrl2(delta=0.1)
    env = lr.average_env(mdp, [0])
    st = rule.update(rule.init(env), env)
    assert st.t == 1 and st.episodes[0] == 1 and st.t_k[0] == 1 and st.started[0]
    np.testing.assert_array_equal(st.policy[0], [0, 0, 0])
    assert st.gain_lower[0] == pytest.approx(1.0) and st.gain_upper[0] == pytest.approx(1.0)
    assert st.nu[0].sum() == 1 and st.nu[0, 0, 0] == 1  # one step from state 0 with action 0
    conf_r, conf_p = rl.ucrl2_radii(np.zeros((3, 2)), 1, 3, 2, 0.1)
    np.testing.assert_allclose(st.conf_r[0], np.sqrt(7 * np.log(2 * 3 * 2 / 0.1) / 2))
    np.testing.assert_allclose(st.conf_p[0], np.sqrt(14 * 3 * np.log(2 * 2 / 0.1)))
    np.testing.assert_allclose(conf_p, st.conf_p[0])


def test_the_learning_rows_and_po_rule_agree():
    rows = [m for m in po.methods_table().values() if m.family == "learning"]
    assert {m.name for m in rows} == {"ucrl_vtr", "ucrl_vtr_plus", "ucrl2"}
    for row in rows:
        rule = po.rule(row.name, delta=0.2)
        assert rule.name == row.name and rule.oracle_calls == row.oracle_calls == 1 and not row.averages
        assert rule.hparams.delta == 0.2 and row.needs

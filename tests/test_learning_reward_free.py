"""Reward-free exploration for linear mixtures (arXiv 2303.10165): vertex widths, weights, radii, exact
planning suboptimality, confidence events and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt._methods import reward_free as rfm
from polopt._methods.learning import evaluate_policies
from polopt.problems import catalogue
from polopt.problems.linear_mixture import normalization
from polopt.problems.random import random_linear_mixture
from polopt.rules import reward_free as rf
from polopt.rules._vtr import ridge
from polopt.testing.strategies import SETTINGS
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

SEEDS = [0, 1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- pieces
def test_subsets_enumerate_every_indicator():
    U = rf.subsets(3)
    assert U.shape == (8, 3)
    assert {tuple(row) for row in U} == {(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)}
    with pytest.raises(ValueError, match=f"S must be <= {rf.MAX_STATES}, got S=13"):
        rf.subsets(13)


@SETTINGS
@given(st.integers(0, 10_000))
def test_vertex_width_is_the_maximum_over_the_box(seed):
    rng = np.random.default_rng(seed)
    lm = random_linear_mixture(3, 2, 2, 2, seed=seed)
    G = rng.normal(size=(1, 2, 2))
    Sinv = G @ np.swapaxes(G, -1, -2) + 0.1 * np.eye(2)  # a random positive definite Sigma^-1
    w, best = rf.vertex_widths(lm.phi, Sinv, rf.subsets(3))
    # any f in [0, 1]^S gives a smaller width (convexity), and the argmax vertex attains the maximum
    f = rng.random((200, 3))
    phi_f = np.einsum("satd,nt->nsad", lm.phi, f)
    widths = np.sqrt(np.einsum("nsad,de,nsae->nsa", phi_f, Sinv[0], phi_f))
    assert np.all(widths <= w[0][None] + IDENTITY_F64)
    u = rf.subsets(3)[best[0]]  # [S, A, S']
    at = np.einsum("sat,satd->sad", u, lm.phi)
    np.testing.assert_allclose(np.sqrt(np.einsum("sad,de,sae->sa", at, Sinv[0], at)), w[0], atol=EXACT_F64)


def test_radii_by_hand():
    # rad = H sqrt(d log(3 (1 + K H^3 B^2)/delta)) + 1 with d=2, H=3, K=10, B=1, delta=0.1
    assert rf.ucrl_rfe_radius(2, 3, 10, 1.0, 0.1) == pytest.approx(3 * np.sqrt(2 * np.log(3 * 271 / 0.1)) + 1)
    L, ell = np.log(48 * 100 * 9 / 0.1), np.log(1 + 30)
    want = (8 * np.sqrt(2 * ell * L) + 4 * np.sqrt(2) * L + 1, 16 * np.sqrt(ell * L) + 4 * np.sqrt(2) * L + 1,
            72 * np.sqrt(2 * ell * L) + 36 * L + 1)
    np.testing.assert_allclose(rf.rfe_plus_radii(2, 3, 10, 1.0, 0.1), want, rtol=EXACT_F64)
    M, alpha, gamma_w, lam = rf.hf_constants(4, 4, 100, 2.0)
    assert (M, alpha, gamma_w, lam) == (int(np.ceil(np.log2(2800))), 0.5, 4**-0.25, 1.0)


def test_home_weights_by_hand():
    # M = 2, d = 1, Sigma^-1 = 1 (now and frozen), theta = (0.5, 0.5), X = (0.4, 0.2), rad = 0.5, gamma_w = 1,
    # alpha = 0.1: m=0: Vbar = 0.1 - 0.04 = 0.06, E = min(2*0.2, 1) + 0.1 = 0.5, first term 0.4 -> 0.56;
    # m=1 (last): max(0.2, 1, 0.01) = 1
    X = np.array([[0.4], [0.2]])
    theta = np.full((2, 1), 0.5)
    inv = np.ones((2, 1, 1))
    np.testing.assert_allclose(rf.home_sigma2(X, theta, inv, inv, 0.5, 1.0, 0.1), [0.56, 1.0], atol=EXACT_F64)


def test_bernstein_weight_has_its_floor():
    rg = ridge(2, 1.0, (1,))
    x = np.zeros((1, 2))
    assert rf.bernstein_sigma2(x, x, rg, rg, 1.0, 1.0, 3.0, 2)[0] == pytest.approx(9.0 / 2.0)


def test_test_rewards_sum_to_at_most_one():
    r = rfm.test_rewards(3, 2, 4, 7, seed=0)
    assert r.shape == (7, 4, 3, 2) and np.all(r >= 0)
    assert np.all(r.max(axis=(2, 3)).sum(axis=1) <= 1.0 + EXACT_F64)


# --------------------------------------------------------------------------- exact planning and suboptimality
@SETTINGS
@given(st.integers(0, 10_000))
def test_planning_on_the_true_model_is_optimal(seed):
    lm = random_linear_mixture(3, 2, 2, 3, seed=seed)
    rewards = rfm.test_rewards(3, 2, 3, 4, seed)
    theta = np.broadcast_to(lm.theta, (1, 3, 2))
    sub = rfm.suboptimality(lm, rfm.plan_for(lm, theta, rewards), rewards)
    np.testing.assert_allclose(sub, 0.0, atol=IDENTITY_F64)


def test_suboptimality_agrees_with_polopt_exact():
    lm = random_linear_mixture(3, 2, 2, 3, seed=4)
    rewards = rfm.test_rewards(3, 2, 3, 2, 1)
    pol = np.random.default_rng(0).integers(2, size=(2, 2, 3, 3))  # [B, n, H, S]
    sub = rfm.suboptimality(lm, pol, rewards)
    for i, r in enumerate(rewards):
        mdp = po.TabularMDP(lm.P, r, horizon=3, rho=lm.rho)
        v_star = lm.rho @ po.exact.backward_induction(mdp).V[0]
        for b in range(2):
            pi = np.eye(2)[pol[b, i]]
            assert sub[b, i] == pytest.approx(v_star - lm.rho @ po.exact.evaluate(mdp, pi).V[0], abs=IDENTITY_F64)
    assert np.all(sub >= -IDENTITY_F64)
    np.testing.assert_allclose(evaluate_policies(lm.P, rewards[0], pol[:, 0])[:, 0] @ lm.rho,
                               [lm.rho @ po.exact.evaluate(po.TabularMDP(lm.P, rewards[0], horizon=3, rho=lm.rho),
                                                           np.eye(2)[pol[b, 0]]).V[0] for b in range(2)],
                               atol=IDENTITY_F64)


def test_reward_free_hard_instance():
    lm = catalogue.reward_free_hard(d=3, H=4, Delta=0.1, delta=0.45, seed=3)
    assert normalization(lm)[1] <= 1.0 + 1e-12  # ||phi_V|| <= 1: the horizon-free assumption holds
    mu = lm.theta[1:] / np.sqrt(3)
    best = po.exact.backward_induction(lm).policy[0, 0]
    actions = np.array(np.meshgrid([-1.0, 1.0], [-1.0, 1.0], indexing="ij")).reshape(2, -1).T
    np.testing.assert_array_equal(actions[best], np.sign(mu))
    with pytest.raises(ValueError, match="valid transitions"):
        catalogue.reward_free_hard(d=3, Delta=0.3, delta=0.45)


# --------------------------------------------------------------------------- runs, events, theorems
@pytest.mark.parametrize("name", ["ucrl_rfe", "ucrl_rfe_plus", "hf_ucrl_rfe"])
def test_runs_keep_the_confidence_event_and_report_exact_suboptimality(name):
    lm = catalogue.reward_free_hard(d=3, H=3, Delta=0.1, delta=0.45, seed=3)
    res = po.solve(lm, method=name, iters=16, seeds=SEEDS, eps=0.5, num_rewards=6)
    assert po.theory.check(res, "reward_free.confidence").holds
    assert po.theory.check(res, "reward_free.eps_optimal").holds  # eps = 0.5 exceeds every suboptimality here
    sub = res.info["suboptimality"]
    assert sub.shape == (len(SEEDS), len(res.info["checkpoints"]), 6) and np.all(sub >= -IDENTITY_F64)
    assert (res.info["oracle"] is not None) == (name == "hf_ucrl_rfe")
    assert res.certificates["event_confidence"].shape == (17,)


@settings(SETTINGS, max_examples=6)
@given(st.integers(0, 10_000), st.sampled_from(["ucrl_rfe", "ucrl_rfe_plus", "hf_ucrl_rfe"]))
def test_confidence_theorem_holds_on_random_mixtures(seed, name):
    lm = random_linear_mixture(3, 2, 2, 3, seed=seed)
    res = po.solve(lm, method=name, iters=8, seeds=[seed, seed + 1, seed + 2], num_rewards=3)
    assert po.theory.check(res, "reward_free.confidence").holds
    assert np.all(res.certificates["event_confidence"] == 1.0)  # at the theorem's radius no seed leaves the set


def test_a_shrunken_radius_fails_the_confidence_check():
    lm = catalogue.reward_free_hard(d=3, H=3, Delta=0.1, delta=0.45, seed=3)
    res = po.solve(lm, method="ucrl_rfe", iters=32, seeds=SEEDS, rad_scale=1e-3)
    verdict = po.theory.check(res, "reward_free.confidence")
    assert not verdict.holds and res.info["confidence_failures"] > 0.5


def test_a_seed_alone_and_in_a_batch_explores_the_same():
    lm = random_linear_mixture(3, 2, 2, 3, seed=1)
    rule = rf.ucrl_rfe(episodes=8, B=float(np.linalg.norm(lm.theta)))
    alone = rfm.run_exploration(lm, rule, 8, [2], num_rewards=3)
    batch = rfm.run_exploration(lm, rule, 8, [0, 2], num_rewards=3)
    np.testing.assert_array_equal(alone["suboptimality"][0], batch["suboptimality"][1])
    np.testing.assert_array_equal(alone["state"].ridge.theta[0], batch["state"].ridge.theta[1])


def test_hf_needs_a_homogeneous_model():
    hard = catalogue.linear_mixture_hard(d=3, H=3, K=100)
    assert "hf_ucrl_rfe" not in po.methods(hard) and "ucrl_rfe" in po.methods(hard)
    res = po.solve(hard, method="ucrl_rfe", iters=4, seeds=[0, 1])
    assert res.info["suboptimality"].shape[:2] == (2, 3)  # checkpoints 1, 2, 4


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_by_name():
    lm = random_linear_mixture(3, 2, 2, 2, seed=0)
    for delta in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="ucrl_rfe: delta must lie in"):
            po.solve(lm, method="ucrl_rfe", iters=2, delta=delta)
    with pytest.raises(ValueError, match=r"iters \(episodes\) must be >= 1, got 0"):
        po.solve(lm, method="ucrl_rfe", iters=0)
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match="eps must lie in"):
            po.solve(lm, method="hf_ucrl_rfe", iters=2, eps=eps)
    with pytest.raises(ValueError, match="hf_ucrl_rfe: episodes must be >= 1"):
        rf.hf_ucrl_rfe(episodes=0)
    with pytest.raises(TypeError, match="episodes is required"):
        rf.ucrl_rfe_plus()
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        po.solve(lm, method="ucrl_rfe", iters=2, gamma=0.5)
    with pytest.raises(ValueError, match="not both"):
        po.solve(lm, method="ucrl_rfe", iters=2, seed=0, seeds=[1, 2])
    res = po.solve(lm, method="ucrl_rfe", iters=2, seed=0)
    with pytest.raises(ValueError, match="needs the run's target"):
        po.theory.check(res, "reward_free.eps_optimal")

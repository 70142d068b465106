"""solve() for the policy-gradient family: certificates, optimum, bandits, tol, and bad input."""

import time
import warnings

import numpy as np
import pytest

import polopt as po
from polopt.oracles import MDPOracle
from polopt.problems import random as prand
from polopt.result import LazyCertificates, NotConvergedWarning
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

METHODS = ["softmax_pg", "log_barrier_pg", "projected_pg", "npg", "entropy_npg", "policy_mirror_descent", "mdpo",
           "trpo", "ppo", "bounded_ratio", "brrl", "bpo"]
HP = {"entropy_npg": {"tau": 0.1}}


def run(problem, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotConvergedWarning)
        return po.solve(problem, method=method, **kw)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_an_mdp(method):
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=0)
    res = run(mdp, method, iters=5, **HP.get(method, {}))
    assert method in po.methods(mdp)
    assert res.iterates.shape == (6, 3, 2) and res.status == "max_iter" and res.num_iter == 5
    np.testing.assert_allclose(res.iterates[0], np.full((3, 2), 0.5), atol=IDENTITY_F64)
    star = po.exact.policy_iteration(mdp)
    np.testing.assert_allclose(res.certificates["suboptimality"],
                               [mdp.rho @ (star.v - po.exact.policy_value(mdp, p)) for p in res.iterates],
                               atol=EXACT_F64)
    np.testing.assert_allclose(res.info["values"][-1], res.value, atol=IDENTITY_F64)


def test_iterates_follow_the_rule():
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=1)
    res = run(mdp, "npg", iters=3, eta=0.7)
    rule, oracle = po.rule("npg", eta=0.7), MDPOracle(mdp.dense_P(), mdp.r, 0.8, mdp.rho)
    s = rule.init(np.log(np.full((3, 2), 0.5)))
    for t in range(3):
        s = rule.update(s, oracle)
        np.testing.assert_allclose(res.iterates[t + 1], np.exp(s.log_pi), atol=IDENTITY_F64)


def test_entropy_run_has_regularized_certificates():
    mdp = prand.random_mdp(3, 3, gamma=0.8, seed=2)
    res = run(mdp, "entropy_npg", iters=80, tau=0.2)
    assert res.certificates["suboptimality_regularized"][-1] <= EXACT_F64
    assert res.certificates["kl_to_optimum"][-1] <= EXACT_F64
    np.testing.assert_allclose(res.policy, res.optimum.policy, atol=1e-6)
    assert res.hparams["eta"] == pytest.approx(0.2 / 0.2)


def test_tol_stops_with_converged():
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=3)
    res = po.solve(mdp, method="policy_mirror_descent", iters=200, schedule="geometric", tol=1e-9)
    assert res.status == "converged" and res.certificates["suboptimality"][-1] <= 1e-9
    assert res.iterates.shape[0] == res.num_iter + 1 < 201


@pytest.mark.parametrize("method", ["npg", "entropy_npg", "policy_mirror_descent", "mdpo", "trpo", "ppo",
                                    "projected_pg", "bounded_ratio", "brrl", "bpo"])
def test_tol_stops_during_the_run(method):
    """The run stops at the first iterate meeting tol instead of running the whole budget: iters = 10^7
    returns at once (the driver checks tol after chunks of 8, 32, ... updates; 10^7 updates would take hours).
    On the bandit (1, 0) from uniform NPG's gap is 1/(1 + e^t) (eta = 1): first <= 1e-3 at t = 7.
    TRPO's exact step (16 rounds of a 15-point search, 30 Newton steps each) costs ~20 ms in NumPy."""
    bandit = po.Bandit([1.0, 0.0])
    kw = {"tau": 0.1} if method == "entropy_npg" else {}
    run(bandit, method, iters=1, **kw)  # load the exact solver's compiled kernels once
    t0 = time.perf_counter()
    res = po.solve(bandit, method=method, iters=10**7, tol=1e-3, **kw)
    elapsed = time.perf_counter() - t0
    assert res.status == "converged" and res.num_iter < 100
    assert elapsed < (0.5 if method == "npg" else 3.0)
    main = "suboptimality_regularized" if method == "entropy_npg" else "suboptimality"
    gaps = res.certificates[main]
    assert gaps[-1] <= 1e-3 and np.all(gaps[:-1] > 1e-3) and res.iterates.shape[0] == res.num_iter + 1
    if method == "npg":
        assert res.num_iter == 7
        np.testing.assert_allclose(gaps, 1.0 / (1.0 + np.exp(np.arange(8))), atol=IDENTITY_F64)


def test_certificates_and_values_are_lazy():
    mdp = prand.random_mdp(3, 2, gamma=0.8, seed=6)
    res = run(mdp, "npg", iters=20)
    assert isinstance(res.certificates, LazyCertificates) and res.certificates.computed() == []
    assert res.info.computed() == ["gamma", "rho"]
    values = res.info["values"]
    assert values.shape == (21, 3) and res.certificates.computed() == []
    np.testing.assert_allclose(res.certificates["suboptimality"], (res.optimum.value - values) @ mdp.rho,
                               atol=IDENTITY_F64)
    # with tol the stopping certificate and the values it needed are kept from the run
    res = po.solve(mdp, method="npg", iters=500, eta=5.0, tol=1e-9)
    assert res.status == "converged" and res.certificates.computed() == ["suboptimality"]
    assert res.info.computed() == ["gamma", "rho"]
    np.testing.assert_allclose(res.info["values"][-1], res.value, atol=IDENTITY_F64)


def test_optimum_from_the_certified_solver():
    mdp = prand.random_mdp(6, 3, gamma=0.95, seed=8)
    res = run(mdp, "npg", iters=2)
    star = po.exact.policy_iteration(mdp)
    np.testing.assert_allclose(res.optimum.value, star.v, atol=IDENTITY_F64 * 100)
    np.testing.assert_array_equal(res.optimum.policy.argmax(-1), star.policy)


def test_bandit_and_contextual_bandit():
    b = po.Bandit([0.2, 0.5, 0.7])
    res = run(b, "npg", iters=30, eta=2.0)
    assert res.policy.shape == (3,) and res.iterates.shape == (31, 3)
    np.testing.assert_allclose(res.optimum.policy, [0, 0, 1], atol=IDENTITY_F64)
    assert isinstance(res.value, float) and abs(res.value - res.policy @ b.r) <= IDENTITY_F64
    cb = po.ContextualBandit([[0.2, 0.5], [1.0, 0.0]], contexts=[0.3, 0.7])
    res = run(cb, "ppo", iters=40, eps=0.3)
    assert res.policy.shape == (2, 2)
    np.testing.assert_allclose(res.info["values"][0], [0.35, 0.5], atol=IDENTITY_F64)
    assert res.certificates["suboptimality"][-1] <= EXACT_F64
    # beta > 0: the KL-regularized rows stay (tests/test_rlhf_pg.py), the plain-objective ones drop out
    names = po.methods(po.Bandit([0.0, 1.0], beta=0.5))
    assert "npg" in names and not {"entropy_npg", "trpo", "projected_pg", "bounded_ratio"} & set(names)


# --------------------------------------------------------------------------- bad input
MDP = prand.random_mdp(2, 2, gamma=0.8, seed=4)


@pytest.mark.parametrize(("method", "kw", "match"), [
    ("npg", {"eta": 0.0}, r"eta must lie in \(0, inf\], got 0"),
    ("softmax_pg", {"eta": -1.0}, r"eta must lie in \(0, inf\], got -1"),
    ("softmax_pg", {"eta": np.inf}, "eta must be finite"),
    ("ppo", {"eps": 1.5}, r"eps must lie in \(0, 1\), got 1.5"),
    ("bounded_ratio", {"eps": 0.0}, r"eps must lie in \(0, 1\), got 0"),
    ("bounded_ratio", {"lo": 1.0, "hi": 2.0}, r"lo must lie in \[0, 1\), got 1"),
    ("bpo", {"lo": 0.5, "hi": 0.9}, r"hi must lie in \(1, inf\], got 0.9"),
    ("brrl", {"tie": "mean"}, "tie must be one of 'median', 'fractional', got 'mean'"),
    ("policy_mirror_descent", {"schedule": "cosine"}, "schedule must be one of"),
    ("policy_mirror_descent", {"bregman": "l1"}, "bregman must be one of"),
    ("entropy_npg", {"tau": 0.1, "eta": 5.0}, r"eta must lie in \(0, \(1 - gamma\)/tau\]"),
    ("trpo", {"delta": 0.0}, r"delta must lie in \(0, inf\], got 0"),
])
def test_bad_hyper_parameters(method, kw, match):
    """The factory's error, naming the rule (brrl is the bounded_ratio row)."""
    with pytest.raises(ValueError, match=match) as exc:
        po.solve(MDP, method=method, iters=2, **kw)
    assert str(exc.value).startswith(("bounded_ratio" if method == "brrl" else method) + ": ")


def test_bad_init_and_unknown_hparams():
    with pytest.raises(ValueError, match=r"init\[1, :\] sums to 0.9"):
        po.solve(MDP, method="npg", init=[[0.5, 0.5], [0.5, 0.4]])
    with pytest.raises(ValueError, match=r"init\[0, 1\] is -0.1, expected a probability >= 0"):
        po.solve(MDP, method="npg", init=[[1.1, -0.1], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"init must have shape \(2, 2\)"):
        po.solve(MDP, method="npg", init=[0.5, 0.5])
    with pytest.raises(TypeError, match="unknown hyper-parameter.*beta"):
        po.solve(MDP, method="npg", beta=1.0)
    with pytest.raises(TypeError, match="entropy_npg: tau is required"):
        po.solve(MDP, method="entropy_npg")
    with pytest.raises(TypeError, match="unknown hyper-parameter.*gamma"):
        po.solve(MDP, method="softmax_pg", gamma=0.5)  # gamma is the problem's
    caller = np.array([[0.5, 0.5], [0.25, 0.75]])
    copy = caller.copy()
    run(MDP, "bpo", iters=2, init=caller)
    np.testing.assert_array_equal(caller, copy)


@pytest.mark.parametrize("bregman", ["kl", "euclidean"])
@pytest.mark.parametrize("schedule", ["geometric", "adaptive"])
def test_pmd_increasing_steps_at_gamma_zero(bregman, schedule):
    """gamma = 0: the geometric growth 1/gamma is capped (ETA_CAP); the step is then greedy, on the simplex."""
    mdp = po.TabularMDP(np.ones((1, 3, 1)), np.array([[1.0, 0.5, 0.0]]), gamma=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(mdp, method="policy_mirror_descent", schedule=schedule, bregman=bregman, eta=0.1, iters=3)
    np.testing.assert_allclose(res.policy, [[1.0, 0.0, 0.0]], atol=EXACT_F64)
    assert res.certificates["suboptimality"][-1] <= EXACT_F64

"""Policy-gradient / mirror-descent / bounded-ratio theorems (polopt.theory.pg) on generated MDPs.

Each registered guarantee is a hypothesis property over small random MDPs (the bounds are checked
at every iterate by ``polopt.theory.check`` with the registry's named slacks). A recalled constant
that fails numerically is kept here as a counterexample test (``pmd.xiao_linear``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt.problems import Bandit
from polopt.problems.random import random_mdp
from polopt.testing import strategies as pst
from polopt.theory import pg as tpg

#: Few examples per property: each runs tens of exact evaluations (file budget ~60 s on 2 cores).
FEW = settings(derandomize=True, max_examples=15, deadline=None)
#: Iterations per run: enough for the rates to matter, short enough for the time budget.
ITERS = 25
#: Gamma range of the generated MDPs (the bounds carry 1/(1-gamma)^k factors; 0.9 keeps them finite).
GAMMAS = st.sampled_from([0.0, 0.5, 0.8, 0.9])

small_mdps = pst.mdps(min_states=1, max_states=4, min_actions=1, max_actions=3, gamma=GAMMAS)


def _solve(problem, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return po.solve(problem, method=method, iters=kw.pop("iters", ITERS), **kw)


def _span(mdp):
    return max(float(np.ptp(mdp.r)), 1e-300)


@FEW
@given(small_mdps, st.sampled_from([0.1, 1.0, 10.0]))
def test_npg_akm(mdp, eta):
    assert po.theory.check(_solve(mdp, "npg", eta=eta), "npg.akm").holds


@FEW
@given(small_mdps, pst.policies(4, 3))
def test_npg_akm_from_any_start(mdp, pi0):
    """The potential form Phi_0 = E_{d*} KL(pi* || pi_0) covers non-uniform starts."""
    init = pi0[: mdp.num_states, : mdp.num_actions]
    init = init / init.sum(axis=1, keepdims=True)
    assert po.theory.check(_solve(mdp, "npg", eta=1.0, init=init), "npg.akm").holds


@FEW
@given(small_mdps)
def test_npg_pi_limit(mdp):
    res = _solve(mdp, "npg", eta=np.inf, iters=10)
    assert po.theory.check(res, "npg.pi_limit").holds
    # ... and it reaches the optimum like policy iteration (finite termination)
    assert res.certificates["suboptimality"][-1] <= tpg.ABS_SLACK + tpg.RATE_SLACK * np.max(np.abs(res.optimum.value))


def test_npg_pi_limit_rejects_finite_eta():
    with pytest.raises(ValueError, match="eta = inf"):
        po.theory.check(_solve(random_mdp(3, 2, gamma=0.5, seed=0), "npg", eta=1.0, iters=2), "npg.pi_limit")


@FEW
@given(small_mdps)
def test_softmax_pg_mei(mdp):
    eta = (1 - mdp.gamma) ** 3 / (8 * _span(mdp))
    assert po.theory.check(_solve(mdp, "softmax_pg", eta=eta), "softmax_pg.mei").holds


def test_softmax_pg_mei_rejects_large_steps():
    mdp = random_mdp(3, 2, gamma=0.5, seed=0)
    with pytest.raises(ValueError, match="eta"):
        po.theory.check(_solve(mdp, "softmax_pg", eta=1.0, iters=2), "softmax_pg.mei")


@FEW
@given(pst.bandits(min_actions=2, max_actions=5, reward_bound=1.0))
def test_softmax_pg_mei_bandit(bandit):
    eta = 0.4 / _span(bandit)
    assert po.theory.check(_solve(bandit, "softmax_pg", eta=eta, iters=100), "softmax_pg.mei_bandit").holds


@FEW
@given(small_mdps, st.sampled_from([0.1, 1.0]), st.sampled_from([0.3, 1.0]))
def test_entropy_npg_linear(mdp, tau, frac):
    eta = frac * (1 - mdp.gamma) / tau
    assert po.theory.check(_solve(mdp, "entropy_npg", tau=tau, eta=eta), "entropy_npg.linear").holds


# gamma > 0 here: with gamma = 0 the rule's default geometric growth 1/gamma is ETA_CAP and the step
# degenerates (reported to the rules' owner); the bound itself does not depend on gamma > 0.
@FEW
@given(pst.mdps(min_states=1, max_states=4, min_actions=1, max_actions=3, gamma=st.sampled_from([0.5, 0.8, 0.9])),
       st.sampled_from(["constant", "geometric", "adaptive"]), st.sampled_from(["kl", "euclidean"]),
       st.sampled_from([0.1, 1.0]))
def test_pmd_linear_a_posteriori(mdp, schedule, bregman, eta):
    res = _solve(mdp, "policy_mirror_descent", eta=eta, schedule=schedule, bregman=bregman)
    assert po.theory.check(res, "pmd.linear").holds


def test_pmd_adaptive_reaches_gamma_rate():
    """Johnson et al.: with the adaptive step the a-posteriori bound is <= gamma^k (e_0 + c0 gamma/(1-gamma))."""
    mdp = random_mdp(5, 3, gamma=0.9, seed=1)
    res = _solve(mdp, "policy_mirror_descent", eta=0.1, schedule="adaptive", c0=1.0, iters=30)
    e, b = tpg.pmd_a_posteriori(res)
    k = np.arange(e.size)
    envelope = mdp.gamma**k * (e[0] + mdp.gamma / (1 - mdp.gamma))
    assert np.all(b <= envelope * (1 + tpg.RATE_SLACK) + tpg.ABS_SLACK)
    assert np.all(e <= b * (1 + tpg.RATE_SLACK) + tpg.ABS_SLACK)


@FEW
@given(pst.mdps(min_states=2, max_states=4, min_actions=2, max_actions=3, gamma=st.sampled_from([0.5, 0.8, 0.9])),
       st.sampled_from([0.1, 1.0]))
def test_pmd_geometric_derived(mdp, eta):
    res = _solve(mdp, "policy_mirror_descent", eta=eta, schedule="geometric")
    assert po.theory.check(res, "pmd.geometric").holds


def test_xiao_recalled_constant_counterexample():
    """Finding: the recalled Xiao form (no 1/(1-gamma) before D*_0) fails here from iterate 11 on;
    the derived pmd.geometric holds on the same run."""
    mdp = random_mdp(2, 3, gamma=0.95, seed=43066)
    res = _solve(mdp, "policy_mirror_descent", eta=0.1, schedule="geometric", iters=40)
    recalled = po.theory.check(res, "pmd.xiao_linear")
    assert not recalled.holds and recalled.first_violation == 11 and recalled.worst_ratio > 3.0
    assert po.theory.check(res, "pmd.geometric").holds


@FEW
@given(small_mdps, st.sampled_from([0.1, 1.0, 10.0]))
def test_pmd_sublinear(mdp, eta):
    assert po.theory.check(_solve(mdp, "policy_mirror_descent", eta=eta), "pmd.sublinear").holds
    res = _solve(mdp, "policy_mirror_descent", eta=eta, bregman="euclidean")
    assert po.theory.check(res, "pmd.sublinear_euclidean").holds


def test_pmd_sublinear_is_npg_bound_in_pmd_units():
    """PMD-KL with step eta is NPG with step eta (1-gamma): same iterates, same bound."""
    mdp = random_mdp(4, 3, gamma=0.8, seed=2)
    pmd = _solve(mdp, "policy_mirror_descent", eta=2.0)
    npg = _solve(mdp, "npg", eta=2.0 * (1 - mdp.gamma))
    np.testing.assert_allclose(pmd.iterates, npg.iterates, rtol=0, atol=tpg.ABS_SLACK)
    t = np.arange(1, ITERS + 1)
    np.testing.assert_allclose(po.theory.get("pmd.sublinear").bound(pmd, t), po.theory.get("npg.akm").bound(npg, t),
                               rtol=tpg.RATE_SLACK)


@FEW
@given(small_mdps, st.sampled_from([0.1, 0.5, 0.9]), st.sampled_from(["median", "fractional"]))
def test_brrl_improvement(mdp, eps, tie):
    res = _solve(mdp, "bounded_ratio", eps=eps, tie=tie, iters=10)
    assert po.theory.check(res, "brrl.improvement").holds


def test_brrl_improvement_detects_a_wrong_size():
    """The checker is sharp: halving eps in the recorded hparams (a wrong exact size) is detected."""
    mdp = random_mdp(4, 3, gamma=0.8, seed=3)
    res = _solve(mdp, "bounded_ratio", eps=0.4, iters=5)
    wrong = res._replace(hparams={**res.hparams, "lo": 0.8, "hi": 1.2})
    assert not po.theory.check(wrong, "brrl.improvement").holds


@FEW
@given(small_mdps, st.sampled_from([0.1, 0.2, 0.5]))
def test_ppo_hinge(mdp, eps):
    assert po.theory.check(_solve(mdp, "ppo", eps=eps, iters=10), "ppo.hinge").holds


@FEW
@given(small_mdps, st.sampled_from([(0.0, 4.0), (0.0, 1.25), (0.3, 2.0), (0.6, 1.5)]))
def test_brrl_cem(mdp, bounds):
    lo, hi = bounds
    assert po.theory.check(_solve(mdp, "bounded_ratio", lo=lo, hi=hi, iters=8), "brrl.cem").holds


def test_brrl_cem_on_a_bandit_is_the_elite_distribution():
    """lo = 0, hi = 1/q on a bandit: one step gives pi_0 conditioned on its top-q arms (q = 1/4 of 4 arms)."""
    bandit = Bandit(np.array([0.1, 0.9, 0.5, 0.3]))
    res = _solve(bandit, "bounded_ratio", lo=0.0, hi=4.0, iters=1)
    np.testing.assert_allclose(res.iterates[1], [0.0, 1.0, 0.0, 0.0], atol=tpg.ABS_SLACK)


def test_registry_metadata():
    names = {"npg.akm", "npg.pi_limit", "softmax_pg.mei", "softmax_pg.mei_bandit", "entropy_npg.linear",
             "pmd.linear", "pmd.xiao_linear", "pmd.geometric", "pmd.sublinear", "pmd.sublinear_euclidean",
             "brrl.improvement", "ppo.hinge", "brrl.cem"}
    registered = {t.name: t for t in po.theory.theorems()}
    assert names <= set(registered)
    for name in names:
        thm = registered[name]
        assert thm.arxiv and thm.source and thm.equation
        if thm.confidence == "derived":
            assert "proofs/" in thm.equation or "proofs/" in tpg.__doc__

"""po.solve with the estimator methods: exact and sampled modes, certificates, theorems, findings, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import polopt as po
from polopt import certificates
from polopt.result import NotConvergedWarning
from polopt.testing.strategies import SETTINGS, bandits
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

METHODS = ("reinforce", "remax", "rloo", "grpo", "dr_grpo", "oblr_po")
#: The KL-to-optimum left by GRPO's k3-in-the-loss fixed point on the instance below is ~0.09;
#: RLOO (shaped reward) gets below 1e-3 in the same 300 exact steps.
K3_GAP = 0.02
CONVERGED_GAP = 1e-3


def _solve(problem, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotConvergedWarning)
        return po.solve(problem, method=method, **kw)


BANDIT = po.Bandit([1.0, 0.5, 0.2, 0.0, -0.3])


def test_methods_are_registered_for_bandits_only():
    for m in METHODS:
        assert m in po.methods(BANDIT)
        assert m in po.methods(po.ContextualBandit(np.eye(3)))
        assert m not in po.methods(po.problems.catalogue.puterman_two_state(0.9))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_every_method_improves_and_certificates_are_independent(method, mode):
    res = _solve(BANDIT, method, iters=60, mode=mode, seed=3, group_size=4, num_samples=4)
    sub = res.certificates["suboptimality"]
    assert res.iterates.shape == (61, 5) and res.num_iter == 60 and res.status == "max_iter"
    assert sub[-1] < sub[0]
    pi_star = po.exact.regularized_bandit_optimum(BANDIT).policy
    np.testing.assert_allclose(res.certificates["kl_to_optimum"], certificates.kl(pi_star, res.iterates),
                               atol=IDENTITY_F64)
    np.testing.assert_allclose(sub, BANDIT.r.max() - res.iterates @ BANDIT.r, atol=IDENTITY_F64)
    np.testing.assert_array_equal(res.info["samples"], np.arange(61) * 16)


def test_exact_mode_unbiased_methods_follow_the_same_path():
    """reinforce, remax, rloo take the exact gradient; dr_grpo with eta G/(G-1) takes the same steps."""
    ref = _solve(BANDIT, "rloo", iters=40, eta=0.7, group_size=4)
    for m in ("reinforce", "remax"):
        np.testing.assert_allclose(_solve(BANDIT, m, iters=40, eta=0.7, group_size=4).iterates, ref.iterates,
                                   atol=EXACT_F64)
    dr = _solve(BANDIT, "dr_grpo", iters=40, eta=0.7 * 4 / 3, group_size=4)
    np.testing.assert_allclose(dr.iterates, ref.iterates, atol=EXACT_F64)


def test_sampled_mode_is_reproducible_from_the_seed():
    a = _solve(BANDIT, "grpo", iters=20, mode="sampled", seed=7, num_samples=3)
    b = _solve(BANDIT, "grpo", iters=20, mode="sampled", seed=7, num_samples=3)
    c = _solve(BANDIT, "grpo", iters=20, mode="sampled", seed=8, num_samples=3)
    np.testing.assert_array_equal(a.iterates, b.iterates)
    assert np.any(a.iterates != c.iterates)


def test_tol_stops_with_converged_status():
    res = po.solve(BANDIT, method="rloo", iters=100000, eta=5.0, tol=1e-4)
    assert res.status == "converged" and res.info["grad_norm"][-1] <= 1e-4


@SETTINGS
@given(bandits(min_actions=2, max_actions=4), st.integers(2, 3))
def test_theorems_hold_on_generated_bandits(bandit, G):
    for m in ("reinforce", "remax", "rloo"):
        res = _solve(bandit, m, iters=5, group_size=G, baseline=0.1) if m == "reinforce" else \
            _solve(bandit, m, iters=5, group_size=G)
        assert po.theory.check(res, "estimators.unbiased").holds
        assert po.theory.check(res, "estimators.variance_closed_form").holds
        assert po.theory.check(res, "softmax.smoothness").holds
    dr = _solve(bandit, "dr_grpo", iters=5, group_size=G)
    assert po.theory.check(dr, "dr_grpo.group_mean_scaling").holds
    ob = _solve(bandit, "oblr_po", iters=5, group_size=G)
    assert po.theory.check(ob, "oblr_po.unbiased").holds
    assert po.theory.check(ob, "oblr_po.snr_ascent").holds
    assert po.theory.check(ob, "estimators.optimal_baseline").holds


@SETTINGS
@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=3, max_size=4), st.integers(2, 3))
def test_grpo_binary_direction_theorem(r, G):
    res = _solve(po.Bandit(r), "grpo", iters=4, group_size=G)
    assert po.theory.check(res, "grpo.binary_reward_direction").holds


def test_oblr_po_contextual_snr_ascent_and_sampled_mode():
    cb = po.ContextualBandit(np.random.default_rng(0).random((3, 4)), contexts=[0.5, 0.3, 0.2])
    res = _solve(cb, "oblr_po", iters=15, group_size=3, num_samples=2)
    assert po.theory.check(res, "oblr_po.snr_ascent").holds
    assert np.all(res.info["step_sizes"] <= 1.0 / res.info["smoothness"])
    sampled = _solve(cb, "oblr_po", iters=15, group_size=3, num_samples=4, mode="sampled", seed=0)
    assert sampled.iterates.shape == (16, 3, 4)
    assert np.all(sampled.info["step_sizes"] <= 1.0 / sampled.info["smoothness"])
    with pytest.raises(ValueError, match="exact-mode results"):
        po.theory.check(sampled, "oblr_po.snr_ascent")


def test_grpo_epochs_with_clipping_run_in_sampled_mode():
    res = _solve(BANDIT, "grpo", iters=30, mode="sampled", epochs=4, num_samples=4, group_size=4, seed=1)
    assert res.certificates["suboptimality"][-1] < res.certificates["suboptimality"][0]
    assert res.hparams["epochs"] == 4 and res.info["samples"][-1] == 30 * 16


def test_finding_grpo_k3_in_the_loss_misses_the_regularized_optimum():
    """GRPO's k3-in-the-loss follows grad KL(mu||pi), so its exact-mode fixed point is not pi* = mu e^{r/beta}/Z."""
    bb = po.Bandit([1.0, 0.5, 0.2, 0.0, -0.3], beta=0.3)
    rloo = _solve(bb, "rloo", iters=300, group_size=4)
    k3 = _solve(bb, "dr_grpo", iters=300, group_size=4)
    assert rloo.certificates["kl_to_optimum"][-1] < CONVERGED_GAP
    assert k3.certificates["kl_to_optimum"][-1] > K3_GAP
    assert abs(k3.certificates["kl_to_optimum"][-1] - k3.certificates["kl_to_optimum"][-50]) < CONVERGED_GAP


def test_bad_input():
    with pytest.raises(ValueError, match="beta must be > 0 where a KL term is used"):
        po.solve(BANDIT, method="grpo", kl="k3")
    with pytest.raises(ValueError, match="group_size must be >= 2 for the rloo"):
        po.solve(BANDIT, method="rloo", group_size=1)
    with pytest.raises(ValueError, match="num_samples must be >= 2 for sampled oblr_po"):
        po.solve(BANDIT, method="oblr_po", mode="sampled", num_samples=1)
    with pytest.raises(ValueError, match="eps must lie in"):
        po.solve(BANDIT, method="grpo", eps=1.5)
    with pytest.raises(ValueError, match=r"init\[2\] is 0"):
        po.solve(BANDIT, method="rloo", init=[0.5, 0.5, 0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        po.solve(BANDIT, method="rloo", baseline=0.3)
    with pytest.raises(ValueError, match="needs mode='sampled'"):
        po.solve(BANDIT, method="grpo", epochs=3)
    with pytest.raises(ValueError, match="smoothness"):
        po.solve(po.Bandit([1.0, 0.0], beta=0.5), method="oblr_po")
    with pytest.raises(ValueError, match="eta must lie in"):
        po.solve(BANDIT, method="reinforce", eta=0.0)
    with pytest.raises(ValueError, match="mode must be"):
        po.solve(BANDIT, method="rloo", mode="mc")


@pytest.mark.parametrize("method", ("reinforce", "remax", "rloo", "grpo", "dr_grpo"))
@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_huge_rewards_give_an_honest_run(method, mode):
    """r = 1e150 once raised a KL error mid-run (log pi = -inf); now the run is finite or 'nonfinite' with a warning."""
    b = po.Bandit([1e150, 0.0, 1.0], beta=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = po.solve(b, method, iters=30, mode=mode, seed=0, group_size=3)
    assert res.status in ("max_iter", "nonfinite")
    assert any(issubclass(w.category, NotConvergedWarning) for w in caught)
    assert np.all(np.isfinite(res.iterates)) and res.iterates.shape[0] == res.num_iter + 1
    if res.status == "max_iter":
        assert np.isfinite(res.certificates["suboptimality"]).all()


def test_rows_and_applicability_match_solve():
    """Every estimator row applies to exactly the problems solve runs it on (the table is the one source)."""
    rows = {m.name: m for m in po.methods_table().values() if m.family == "llm_estimators"}
    assert set(rows) == set(METHODS)
    for problem in (BANDIT, po.Bandit([1.0, 0.0], beta=0.5), po.ContextualBandit(np.eye(3), beta=0.2)):
        for name, row in rows.items():
            assert row.applies(problem) and name in po.methods(problem)
            hp = {"smoothness": 3.0} if (name == "oblr_po" and problem.beta > 0) else {}
            _solve(problem, name, iters=2, group_size=2, **hp)
    assert not any(row.applies(po.PreferenceGame([[0.5, 0.7], [0.3, 0.5]])) for row in rows.values())


def test_stops_at_tol_during_the_run_and_certificates_are_lazy():
    res = po.solve(BANDIT, method="rloo", iters=100000, eta=5.0, tol=1e-3)
    assert res.status == "converged" and res.num_iter < 100000
    assert res.certificates.computed() == []
    assert res.info["grad_norm"][-1] <= 1e-3 < res.info["grad_norm"][-2]

"""The learning theorems on real runs: optimism as a property, confidence-event frequencies against delta,
regret shapes, and assumptions that make a theorem inapplicable."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt._methods import learning as lr
from polopt.problems import catalogue
from polopt.problems.random import random_linear_mixture
from polopt.rules import learning as rl
from polopt.testing.strategies import linear_mixtures, mdps
from polopt.theory.learning import frequency_verdict

SETTINGS = settings(derandomize=True, deadline=None, max_examples=12)


def _quiet_solve(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return po.solve(*args, **kwargs)


@SETTINGS
@given(linear_mixtures(), st.sampled_from([0.05, 0.3, 1.0]), st.sampled_from(["ucrl_vtr", "ucrl_vtr_plus"]),
       st.integers(0, 2**16))
def test_confidence_implies_optimism_and_the_planning_lemma(lm, rad_scale, method, seed):
    """learning.optimism is deterministic: in every episode where E1 holds, E2 and E3 hold (shrunken radii
    make E1 fail in some episodes; the implication must survive in the others)."""
    factory = rl.ucrl_vtr if method == "ucrl_vtr" else rl.ucrl_vtr_plus
    run = lr.run_episodes(lm, factory(B=1.0, rad_scale=rad_scale), 15, [seed, seed + 1])
    e1 = run.events["confidence"]
    assert np.all(run.events["optimism"][e1]) and np.all(run.events["planning"][e1])
    assert np.all(run.suboptimality >= -1e-9)  # V* is optimal: no committed policy beats it


@settings(derandomize=True, deadline=None, max_examples=8)
@given(mdps(min_states=2, max_states=4, max_actions=3, gamma=1.0), st.integers(0, 2**16))
def test_ucrl2_optimism_holds_on_any_average_reward_mdp(mdp, seed):
    """max_s (T~u - u)(s) >= max_s g*(s) whenever the true model is plausible: T~^n u <= u + n max(T~u - u) by
    monotonicity and T~^n u / n -> g~* >= g* (any u, communicating or not; a capped EVI too)."""
    mdp = po.TabularMDP(mdp.P, np.abs(mdp.r), gamma=1.0, rho=mdp.rho)  # rewards in [0, 1]
    run = lr.run_episodes(mdp, rl.ucrl2(delta=0.1, evi_max_iter=2000), 150, [seed, seed + 1])
    e1 = run.events["confidence"]
    assert np.all(run.events["optimism"][e1])
    assert np.all(run.suboptimality >= -1e-9)


def test_the_implication_is_not_vacuous():
    """With rad_scale = 0.05 on a small mixture, E1 fails in some episodes and holds in others."""
    lm = random_linear_mixture(3, 2, 2, 3, seed=4)
    run = lr.run_episodes(lm, rl.ucrl_vtr(B=1.0, rad_scale=0.05), 30, [0, 1, 2])
    e1 = run.events["confidence"]
    assert e1.any() and not e1.all()
    assert not run.events["optimism"].all()  # optimism does fail once the set has lost theta*


def test_learning_optimism_holds_for_ucrl2_and_its_checker_reads_the_events():
    res = _quiet_solve(catalogue.river_swim(4, gamma=1.0), method="ucrl2", iters=800, seed=1)
    assert po.theory.check(res, "learning.optimism").holds
    assert po.theory.check(res, "ucrl2.confidence").holds
    assert po.theory.check(res, "ucrl2.regret").holds


def test_confidence_failures_over_seeds_are_within_delta():
    """ucrl_vtr.confidence: over 20 seeds, the number of runs with an E1 failure is consistent with delta."""
    lm = random_linear_mixture(4, 2, 2, 3, seed=1)
    for delta in (0.5, 0.1):
        run = lr.run_episodes(lm, rl.ucrl_vtr(delta=delta, B=float(np.linalg.norm(lm.theta))), 40, list(range(20)))
        fails = int((~run.events["confidence"].all(axis=1)).sum())
        assert frequency_verdict(fails, 20, delta).holds, (delta, fails)


def test_frequency_verdict_by_hand():
    assert frequency_verdict(0, 20, 0.1).holds
    # 3 of 4 runs failing at delta = 0.01: P(Bin(4, 0.01) >= 3) ~ 4e-6 < 0.01
    v = frequency_verdict(3, 4, 0.01)
    assert not v.holds and v.first_violation == 3 and v.worst_ratio == pytest.approx(75.0)
    # 4 of 20 at delta = 0.1: P(Bin(20, 0.1) >= 4) = 0.133 > 0.01, consistent
    assert frequency_verdict(4, 20, 0.1).holds


@pytest.mark.parametrize("method", ["ucrl_vtr", "ucrl_vtr_plus"])
def test_regret_shapes_hold_on_the_hard_instance(method):
    lm = catalogue.linear_mixture_hard(d=4, H=3, K=200, seed=0)
    res = _quiet_solve(lm, method=method, iters=40, seed=0)
    for name in (f"{method}.regret", f"{method}.confidence", "learning.optimism"):
        assert po.theory.check(res, name).holds, name


def test_a_theorem_whose_normalization_fails_is_not_applicable():
    lm = random_linear_mixture(4, 2, 2, 3, seed=1)  # max ||phi_V|| = sqrt(2)
    res = _quiet_solve(lm, method="ucrl_vtr_plus", iters=3, seed=0)
    with pytest.raises(ValueError, match="does not apply to this result"):
        po.theory.check(res, "ucrl_vtr_plus.regret")
    assert po.theory.check(res, "learning.optimism").holds  # the deterministic implication needs no normalization


def test_learning_theorems_are_registered_with_their_confidence():
    conf = {t.name: t.confidence for t in po.theory.theorems()}
    assert conf["ucrl_vtr.confidence"] == "derived" and conf["learning.optimism"] == "derived"
    for name in ("ucrl_vtr.regret", "ucrl_vtr_plus.regret", "ucrl2.regret", "ucrl2.confidence",
                 "ucrl_vtr_plus.confidence"):
        assert conf[name] == "recalled", name
    assert {t.name for t in po.theory.theorems("ucrl2")} == {"learning.optimism", "ucrl2.confidence", "ucrl2.regret"}

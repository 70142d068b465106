"""Howard's policy iteration at gamma = 1 through po.solve: unichain, periodic and multichain models."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import polopt as po
from polopt.exact import average as avg
from polopt.exact._ops import one_hot
from polopt.problems import catalogue
from polopt.problems.random import random_mdp
from polopt.testing.strategies import mdps
from polopt.testing.tolerances import EXACT_F64

SETTINGS = settings(derandomize=True, deadline=None, max_examples=12)


def test_periodic_chain_gain_and_bias_by_hand():
    """Period-2 swap, reward (1, 0): g = 1/2 in both states; g + h = r + P h with h0 + h1 = 0 gives h = (1/4, -1/4)."""
    res = po.solve(catalogue.periodic_chain(), method="policy_iteration")
    assert res.status == "converged"
    np.testing.assert_allclose(res.value, catalogue.PERIODIC_CHAIN_GAIN, atol=EXACT_F64)
    np.testing.assert_allclose(res.bias, [0.25, -0.25], atol=EXACT_F64)
    np.testing.assert_allclose(res.certificates["suboptimality"], 0.0, atol=EXACT_F64)


def test_two_recurrent_classes_of_different_gains():
    mdp = catalogue.two_class_chain()
    res = po.solve(mdp, method="policy_iteration")
    assert res.status == "converged" and res.num_iter == 1  # one gain improvement in state 2
    np.testing.assert_allclose(res.value, catalogue.TWO_CLASS_GAIN, atol=EXACT_F64)
    np.testing.assert_allclose(res.bias, catalogue.TWO_CLASS_BIAS, atol=EXACT_F64)
    assert np.argmax(res.policy, axis=1).tolist() == [0, 0, 0]
    gains = np.asarray(res.info["values"])
    np.testing.assert_allclose(gains[0], [1.0, 0.5, 0.5], atol=EXACT_F64)  # the myopic start
    np.testing.assert_allclose(res.certificates["suboptimality"], [0.5, 0.0], atol=EXACT_F64)
    # the LP (HiGHS, multichain form) and the optimum the result carries agree
    lp = avg.average_reward_lp(mdp)
    np.testing.assert_allclose(lp.gain, res.value, atol=EXACT_F64)
    np.testing.assert_allclose(res.optimum.value, res.value, atol=EXACT_F64)
    assert po.theory.check(res, "pi.monotone").holds and po.theory.check(res, "pi.finite_termination").holds


def test_stochastic_start_is_improved_lexicographically():
    """From the uniform policy on the two-class model (gains (1/2, 7/20, 17/40) by hand) one improvement is optimal."""
    mdp = catalogue.two_class_chain()
    res = po.solve(mdp, method="policy_iteration", init=np.full((3, 2), 0.5))
    assert res.status == "converged"
    np.testing.assert_allclose(np.asarray(res.iterates)[0], 0.5)
    np.testing.assert_allclose(np.asarray(res.info["values"])[0], [0.5, 0.35, 0.425], atol=EXACT_F64)
    np.testing.assert_allclose(res.value, catalogue.TWO_CLASS_GAIN, atol=EXACT_F64)
    assert po.theory.check(res, "pi.monotone").holds


def test_budget_exhausted_is_reported():
    with pytest.warns(po.NotConvergedWarning):
        res = po.solve(catalogue.two_class_chain(), method="policy_iteration", iters=0)
    assert res.status == "max_iter" and res.num_iter == 0


@pytest.mark.parametrize("seed", range(3))
def test_random_unichain_matches_lp_and_rvi(seed):
    """Dense random kernels are unichain: PI gain == LP gain == the gain of RVI's greedy policy."""
    mdp = random_mdp(8, 3, gamma=1.0, seed=seed)
    pi = po.solve(mdp, method="policy_iteration")
    lp = po.solve(mdp, method="linear_program")
    rvi = po.solve(mdp)  # the default: relative value iteration
    assert rvi.method == "relative_value_iteration"
    for other in (lp, rvi):
        np.testing.assert_allclose(pi.value, other.value, atol=EXACT_F64)
    # bias of an optimal policy is unique on a unichain model with a unique optimal policy up to ties
    np.testing.assert_allclose(pi.bias, avg.gain_bias(mdp, pi.policy).bias, atol=EXACT_F64)


@SETTINGS
@given(mdps(max_states=5, max_actions=3, gamma=1.0))
def test_property_pi_gain_equals_lp_gain_and_rvi_gain(mdp):
    """Property (any chain structure): PI's gain equals the LP's; where RVI applies (communicating
    models, constant g*) the gain of RVI's policy equals them too; gains never decrease along PI."""
    pi = po.solve(mdp, method="policy_iteration")
    assert pi.status == "converged"
    lp = avg.average_reward_lp(mdp)
    np.testing.assert_allclose(pi.value, lp.gain, atol=EXACT_F64)
    if avg.is_communicating(mdp):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", po.NotConvergedWarning)
            rvi = avg.relative_value_iteration(mdp, max_iter=200000)
        np.testing.assert_allclose(avg.gain_bias(mdp, one_hot(rvi.policy, mdp.num_actions)).gain, pi.value,
                                   atol=EXACT_F64)
    assert po.theory.check(pi, "pi.monotone").holds
    assert po.theory.check(pi, "pi.finite_termination").holds

"""The theorem registry, ``check`` and the classical DP guarantees on real solver output."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt.problems import catalogue
from polopt.testing.strategies import mdps
from polopt.theory.registry import Theorem, Verdict, bound_verdict, register

SETTINGS = settings(derandomize=True, deadline=None, max_examples=15)


def test_bound_verdict_reports_first_violation_and_worst_ratio():
    cert = np.array([1.0, 0.5, 0.3, 0.2])
    bound = np.array([1.0, 0.5, 0.25, 0.125])
    v = bound_verdict(cert, bound)
    assert v == Verdict(False, pytest.approx(1.6), 2)
    ok = bound_verdict(cert * 0.1, bound)
    assert ok.holds and ok.first_violation is None and ok.worst_ratio == pytest.approx(0.16)


def test_bound_verdict_zero_bound():
    """A zero bound is met only by a (numerically) zero certificate."""
    assert bound_verdict([0.0, 0.0], [0.0, 0.0]).holds
    assert not bound_verdict([0.0, 1e-3], [0.0, 0.0]).holds


def test_registry_rejects_bad_theorems():
    with pytest.raises(ValueError, match="confidence"):
        register(Theorem("x.bad", "s", ("value_iteration",), "c", lambda r, t: t, "src", confidence="guess"))
    with pytest.raises(ValueError, match="already registered"):
        register(po.theory.get("vi.contraction"))
    with pytest.raises(ValueError, match="unknown theorem"):
        po.theory.get("no.such")


def test_measured_confidence_is_registered_and_needs_its_sweep():
    assert "measured" in po.theory.CONFIDENCE and set(po.theory.CONFIDENCE_MEANING) == set(po.theory.CONFIDENCE)
    assert "never presented as a paper" in po.theory.CONFIDENCE_MEANING["measured"]
    with pytest.raises(ValueError, match="sweep"):
        register(Theorem("x.measured", "s", ("value_iteration",), "c", lambda r, t: t, "src", confidence="measured"))
    measured = {t.name for t in po.theory.theorems() if t.confidence == "measured"}
    assert {"nash_mp.exploitability", "nash_mp.log_span"} <= measured


def test_every_theorem_is_sourced():
    for thm in po.theory.theorems():
        assert thm.source and thm.statement and thm.confidence in po.theory.CONFIDENCE


def test_check_refuses_foreign_method():
    res = po.solve(catalogue.puterman_two_state(0.95), method="policy_iteration")
    with pytest.raises(ValueError, match="covers methods"):
        po.theory.check(res, "vi.contraction")


@SETTINGS
@given(mdps(max_states=6, max_actions=3))
def test_classical_theorems_hold_on_generated_mdps(mdp):
    """Property: VI contracts at rate gamma, its bounds contain v*; PI is monotone and terminates."""
    vi = po.solve(mdp, method="value_iteration", iters=100000)
    assert po.theory.check(vi, "vi.contraction").holds
    assert po.theory.check(vi, "vi.certified_bounds").holds
    pi = po.solve(mdp, method="policy_iteration")
    assert po.theory.check(pi, "pi.monotone").holds
    assert po.theory.check(pi, "pi.finite_termination").holds


def test_monotonicity_checker_catches_a_decrease():
    """The PI monotonicity check is not vacuous: a fabricated decreasing history fails it."""
    res = po.solve(catalogue.river_swim(8, 0.9), method="policy_iteration")
    values = np.asarray(res.info["values"])
    fake = res._replace(info={**res.info, "values": np.concatenate([values, values[:1] - 1.0])})
    verdict = po.theory.check(fake, "pi.monotone")
    assert not verdict.holds and verdict.first_violation == values.shape[0]


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_vi_contraction_on_puterman(gamma):
    res = po.solve(catalogue.puterman_two_state(gamma), method="value_iteration", iters=100000)
    v = po.theory.check(res, "vi.contraction")
    assert v.holds and v.worst_ratio <= 1.0 + 1e-9


@given(st.integers(0, 3))
@SETTINGS
def test_theorem_filter_by_method(i):
    name = ["value_iteration", "policy_iteration", "nash_lp", "none"][i]
    for thm in po.theory.theorems(name):
        assert po.theory.registry.covers(thm, name)


@SETTINGS
@given(mdps(max_states=5, max_actions=3, gamma=st.floats(0.0, 0.9)))
def test_soft_vi_contraction_property(mdp):
    """Property: soft VI's sup-norm error contracts at rate gamma (theorem soft_vi.contraction)."""
    res = po.solve(mdp, method="soft_value_iteration", beta=0.3, iters=100000)
    assert po.theory.check(res, "soft_vi.contraction").holds


@pytest.mark.parametrize("seed", range(4))
def test_rvi_gain_bounds_on_random_unichain(seed):
    from polopt.problems.random import random_mdp

    mdp = random_mdp(8, 3, gamma=1.0, seed=seed)  # Dirichlet rows: every state reachable, unichain
    res = po.solve(mdp, method="relative_value_iteration", iters=100000)
    assert po.theory.check(res, "rvi.gain_bounds").holds

"""``po.theory.fit_rate``: exact recovery on synthetic rates, agreement with SciPy, real runs next to their theorems."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import polopt as po
from polopt.problems.random import random_intransitive, random_mdp
from polopt.result import LazyCertificates
from polopt.testing.strategies import SETTINGS, preference_games
from polopt.theory._fit import FIT_FLOOR

#: An exact power / geometric sequence is recovered to round-off: log of float64 values is exact to
#: ~1e-16 relative, and a least-squares slope over <= 200 points amplifies that by at most ~1e4.
RECOVERY = 1e-9

FIT = SETTINGS  # the project's profile: derandomized, bounded max_examples


@FIT
@given(p=st.floats(-3.0, -0.2), log_c=st.floats(-7.0, 7.0), n=st.integers(5, 200))
def test_sublinear_rate_is_recovered_exactly(p, log_c, n):
    t = np.arange(n, dtype=np.float64)
    y = np.exp(log_c) * np.maximum(t, 1.0) ** p
    fit = po.theory.fit_rate(y)
    assert fit.model == "sublinear" and fit.chosen
    assert abs(fit.rate - p) < RECOVERY and abs(fit.log_constant - log_c) < RECOVERY * max(1.0, abs(log_c))
    assert fit.stderr < RECOVERY and fit.ci[0] <= fit.rate + RECOVERY and fit.rate - RECOVERY <= fit.ci[1]
    assert list(fit.iterates) == list(range(1, n))  # t = 0 has no log t: both models start at t = 1


@FIT
@given(q=st.floats(0.3, 0.99), log_c=st.floats(-5.0, 5.0), n=st.integers(5, 60))
def test_linear_rate_is_recovered_exactly(q, log_c, n):
    y = np.exp(log_c) * q ** np.arange(n, dtype=np.float64)
    fit = po.theory.fit_rate(y)
    assert fit.model == "linear" and abs(fit.rate - q) < RECOVERY and abs(fit.slope - np.log(q)) < RECOVERY
    assert fit.r_squared == pytest.approx(1.0, abs=RECOVERY)


def test_slope_and_interval_match_scipy_linregress():
    rng = np.random.default_rng(0)
    t = np.arange(60, dtype=np.float64)
    y = 2.0 * 0.9**t * np.exp(rng.normal(0.0, 0.1, t.shape))  # log-normal noise around a geometric rate
    fit = po.theory.fit_rate(y, model="linear", level=0.9)
    ref = stats.linregress(t[1:], np.log(y[1:]))  # an independent least-squares implementation
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12) and fit.stderr == pytest.approx(ref.stderr, rel=1e-12)
    half = stats.t.ppf(0.95, len(t) - 3) * ref.stderr
    assert fit.ci == pytest.approx((np.exp(ref.slope - half), np.exp(ref.slope + half)), rel=1e-12)
    assert fit.ci[0] < 0.9 < fit.ci[1] and not fit.chosen
    assert fit.r_squared == pytest.approx(ref.rvalue**2, rel=1e-12)


def test_zeros_round_off_plateau_and_window_are_left_out():
    t = np.arange(40, dtype=np.float64)
    y = 0.5**t
    y[30:] = 1e-17  # round-off plateau: below FIT_FLOOR * max, left out
    y[35:] = 0.0
    y[5] = np.nan
    fit = po.theory.fit_rate(y)
    assert fit.model == "linear" and abs(fit.rate - 0.5) < RECOVERY
    assert 5 not in fit.iterates and fit.iterates.max() < 30 and (y[fit.iterates] > FIT_FLOOR).all()
    windowed = po.theory.fit_rate(y, window=(10, 20))
    assert list(windowed.iterates) == list(range(10, 21)) and abs(windowed.rate - 0.5) < RECOVERY


def test_model_choice_prefers_the_true_model_on_a_mixed_sequence():
    t = np.arange(1, 300, dtype=np.float64)
    y = np.concatenate([[1.0], 1.0 / t + 1e-3 / t**2])  # O(1/t) with a faster correction
    assert po.theory.fit_rate(y).model == "sublinear"
    assert po.theory.fit_rate(y, model="linear").model == "linear"


def test_errors():
    y = 0.5 ** np.arange(10.0)
    with pytest.raises(ValueError, match="model must be one of"):
        po.theory.fit_rate(y, model="exponential")
    with pytest.raises(ValueError, match="level must be in"):
        po.theory.fit_rate(y, level=1.5)
    with pytest.raises(ValueError, match="at least 3 iterates"):
        po.theory.fit_rate(np.array([1.0, 0.5, 0.0, 0.0]))
    with pytest.raises(ValueError, match="window must be"):
        po.theory.fit_rate(y, window=(5, 2))
    with pytest.raises(ValueError, match="1-D array"):
        po.theory.fit_rate(np.ones((3, 3)))


def _quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        return po.solve(*args, **kw)


def test_npg_converges_linearly_faster_than_its_sublinear_bound():
    res = _quiet(random_mdp(20, 4, gamma=0.9, seed=0), method="npg", eta=1.0, iters=200, tol=1e-10)
    fit = po.theory.fit_rate(res, "suboptimality")
    assert fit.model == "linear" and fit.ci[1] < 1.0  # a geometric rate, its whole interval below 1
    (akm,) = [th for th in fit.theorems if th.theorem == "npg.akm"]
    # the bound is (Phi_0/eta + span/(1-gamma)^2) / t: exactly t^-1
    assert akm.model == "sublinear" and abs(akm.rate + 1.0) < RECOVERY and akm.confidence == "paper"
    assert "npg.akm [paper]: sublinear rate t^-1" in fit.summary()


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_nash_mp_linear_rate_is_at_least_its_theorems(beta):
    game = random_intransitive(8, seed=1, beta=beta)
    res = _quiet(game, method="mirror_prox", eta=2.0, iters=200)
    fit = po.theory.fit_rate(res, "kl_to_optimum", theorem="nash_mp.kl")
    (th,) = fit.theorems
    assert th.model == "linear" and abs(th.rate - 1.0 / (1.0 + 2.0 * beta)) < RECOVERY
    assert fit.model == "linear" and fit.ci[1] <= th.rate  # measured at least as fast as the bound's factor


def test_theorem_outside_its_step_range_is_reported_not_fitted():
    res = _quiet(random_intransitive(6, seed=0, beta=0.1), method="mirror_prox", eta=3.0, iters=60)
    (th,) = po.theory.fit_rate(res, "kl_to_optimum", theorem="nash_mp.kl").theorems
    assert np.isnan(th.rate) and "not fitted" in th.note and "eta <= 1/L" in th.note
    with pytest.raises(ValueError, match="does not bound 'duality_gap'"):
        po.theory.fit_rate(res, "duality_gap", theorem="nash_mp.kl")
    with pytest.raises(ValueError, match="unknown theorem"):
        po.theory.fit_rate(res, "kl_to_optimum", theorem="nope")
    with pytest.raises(ValueError, match="no certificate 'gap'"):
        po.theory.fit_rate(res, "gap")


def test_recorded_iterates_are_the_fit_abscissae():
    res = _quiet(random_mdp(6, 3, gamma=0.9, seed=2), method="npg", eta=1.0, iters=60, record=5)
    fit = po.theory.fit_rate(res, "suboptimality")
    assert set(fit.iterates) <= set(res.info["recorded"]) and fit.iterates[0] == 5
    # the same geometric sequence sampled every 5 iterates gives the same per-iteration factor
    q = 0.7
    synthetic = res._replace(certificates=LazyCertificates({"suboptimality": q ** np.asarray(res.info["recorded"],
                                                                                             dtype=float)}))
    assert abs(po.theory.fit_rate(synthetic, "suboptimality").rate - q) < RECOVERY


@settings(SETTINGS, max_examples=10)
@given(game=preference_games(min_actions=2, max_actions=5, beta=st.floats(0.05, 1.0)), eta=st.floats(0.2, 2.0))
def test_nash_mp_bound_rate_is_exactly_its_factor_on_generated_games(game, eta):
    """On every generated game the bound KL_0 (1 + eta beta)^-t is fitted as the factor 1/(1 + eta beta),
    whatever the run does (the theorem's rate is read off the bound, not off the run)."""
    res = _quiet(game, method="mirror_prox", eta=eta, iters=40, tol=1e-300)
    if not np.asarray(res.certificates["kl_to_optimum"])[0] > 0:  # init = mu may already be the equilibrium
        return
    (th,) = po.theory.fit_rate(res, "kl_to_optimum", model="linear", theorem="nash_mp.kl").theorems
    assert th.model == "linear" and abs(th.rate - 1.0 / (1.0 + eta * game.beta)) < RECOVERY

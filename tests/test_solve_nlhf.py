"""po.solve on preference games with the NLHF rules: names, certificates, oracle counts, contexts, bad input."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import polopt as po
from polopt import certificates
from polopt.exact import regularized_nash
from polopt.methods import _PROBE
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive
from polopt.rules import nlhf
from polopt.testing import strategies as pst
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

SETTINGS = settings(derandomize=True, max_examples=5, deadline=None)
# every list below is read off the method table, never typed again here
GAME_ROWS = [m for m in po.methods_table().values() if m.family == "games"]
RULES = tuple(m.name for m in GAME_ROWS)
ALIASES = {a: m.name for m in GAME_ROWS for a in m.aliases}
AVERAGE = tuple(n for m in GAME_ROWS if m.averages for n in (m.name, *m.aliases))
CERTS = ("kl_to_optimum", "exploitability", "duality_gap", "duality_gap_unregularized")
#: Few iterations: the runner's certificates cost ~1 ms per iterate on a loaded machine.
ITERS = 12
#: pi*_beta from Newton is exact to ~1e-12 in the logits; certificates at it are of that order.
AT_OPTIMUM = 1e-10


def _solve(game, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        return po.solve(game, method=method, **kw)


@pytest.fixture(scope="module")
def rps():
    return catalogue.perturbed_rps(0.1)


def test_every_name_is_registered_for_both_game_kinds(rps):
    cg = po.ContextualPreferenceGame(np.stack([rps.P, rps.P.T]), beta=0.1)
    for name in RULES + tuple(ALIASES):
        assert name in po.methods(rps) and name in po.methods(cg)
    assert "nash_lp" not in po.methods(cg)  # exact game solvers stay single-game


@pytest.mark.parametrize("name", RULES + tuple(ALIASES))
def test_result_contract(rps, name):
    res = _solve(rps, name, iters=ITERS)
    T = res.num_iter
    assert res.method == name and res.status in ("max_iter", "converged")
    assert res.iterates.shape == (T + 1, 3) and np.allclose(res.iterates.sum(-1), 1.0, atol=IDENTITY_F64)
    np.testing.assert_array_equal(res.policy, res.iterates[-1])
    np.testing.assert_allclose(res.iterates[0], rps.mu, atol=IDENTITY_F64)  # default init = reference
    assert res.value == 0.5 and res.optimum.value == 0.5 and res.info["beta"] == 0.1
    np.testing.assert_allclose(res.optimum.policy, catalogue.RPS_REGULARIZED[0.1],
                               atol=catalogue.RPS_REGULARIZED_DIGITS)
    for c in CERTS:
        assert res.certificates[c].shape == (T + 1,)
    calls = res.info["oracle_calls"]
    per_update = po.rule(name, **_PROBE.get(ALIASES.get(name, name), {})).oracle_calls
    np.testing.assert_array_equal(calls, per_update * np.arange(T + 1))
    assert calls.dtype.kind == "i"
    k = res.num_iter
    assert res.certificates["kl_to_optimum"][k] == pytest.approx(
        certificates.kl_to_optimum(res.iterates[k], res.optimum.policy), rel=IDENTITY_F64)
    assert res.certificates["duality_gap"][k] == pytest.approx(
        certificates.duality_gap(rps, res.iterates[k], 0.1), rel=IDENTITY_F64)
    if name in AVERAGE:
        assert res.average.shape == res.iterates.shape
        np.testing.assert_allclose(res.average[-1], res.iterates.mean(axis=0), atol=IDENTITY_F64)
        for c in ("kl_to_optimum_average", "duality_gap_average", "duality_gap_unregularized_average"):
            assert res.certificates[c].shape == (T + 1,)
    else:
        assert res.average is None


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_run_the_same_rule(rps, alias):
    a, b = _solve(rps, alias, iters=ITERS), _solve(rps, ALIASES[alias], iters=ITERS)
    np.testing.assert_array_equal(a.iterates, b.iterates)


def test_tol_stops_with_converged_and_max_iter_warns(rps):
    res = po.solve(rps, method="mirror_prox", iters=500)
    assert res.status == "converged" and res.num_iter < 500
    assert min(res.certificates["duality_gap"][-1], res.certificates["kl_to_optimum"][-1]) <= 1e-12
    assert np.all(res.certificates["duality_gap"][:-1] > 1e-12)
    res = po.solve(rps, method="mirror_prox", iters=200, tol=1e-4)
    assert res.status == "converged" and res.certificates["kl_to_optimum"][-1] <= 1e-4
    with pytest.warns(po.NotConvergedWarning):
        res = po.solve(rps, method="sppo", iters=5)
    assert res.status == "max_iter" and res.num_iter == 5


def test_equilibrium_init_converges_at_once(rps):
    res = po.solve(rps, method="inpo", iters=5, init=catalogue.RPS_REGULARIZED[0.1], tol=1e-6)
    assert res.status == "converged" and res.num_iter == 0


def test_sampled_runs_are_seeded_and_count_comparisons(rps):
    a = _solve(rps, "egpo", iters=6, num_samples=7, seed=3)
    b = _solve(rps, "egpo", iters=6, num_samples=7, seed=3)
    c = _solve(rps, "egpo", iters=6, num_samples=7, seed=4)
    np.testing.assert_array_equal(a.iterates, b.iterates)
    assert not np.array_equal(a.iterates, c.iterates)
    np.testing.assert_array_equal(a.info["oracle_calls"], 2 * 3 * 7 * np.arange(7))
    d = _solve(rps, "mirror_prox", iters=4, num_samples=5, inner_steps=3, seed=0)
    np.testing.assert_array_equal(d.info["oracle_calls"], 2 * 3 * 5 * np.arange(5))
    for name in RULES:
        res = _solve(rps, name, iters=3, num_samples=4, seed=1)
        assert np.all(np.isfinite(res.iterates)), name


def test_loss_forms_through_solve(rps):
    a = _solve(rps, "egpo", form="ipo_loss", eta=0.05, iters=ITERS)
    s = a.info["equivalent_eta"]
    assert s == pytest.approx(4 * 0.05 / (0.1 * 3), rel=IDENTITY_F64)
    b = _solve(rps, "egpo", eta=s, iters=ITERS)
    np.testing.assert_allclose(a.iterates, b.iterates, atol=EXACT_F64)
    sq = _solve(rps, "sppo", form="squared_loss", inner_steps=1, eta=0.3, iters=ITERS)
    mw = _solve(rps, "sppo", eta=0.3, iters=ITERS)
    np.testing.assert_allclose(sq.iterates, mw.iterates, atol=EXACT_F64)


def test_nash_md_decaying_meets_theorem_1(rps):
    res = _solve(rps, "nash_md", iters=60)
    assert res.hparams["schedule"] == "decaying"
    T = np.arange(res.num_iter + 1)
    assert np.all(res.certificates["kl_to_optimum"][1:] <= 8 / (0.1**2 * (T[1:] + 1)))
    np.testing.assert_allclose(res.info["eta"], 2 / (0.1 * (np.arange(60) + 2)), rtol=IDENTITY_F64)


def test_unregularized_game_measures_against_the_nash_equilibrium():
    game = catalogue.perturbed_rps(0.0)
    res = _solve(game, "sppo", iters=ITERS)
    assert res.info["nash_unique"] is True
    np.testing.assert_allclose(res.optimum.policy, catalogue.RPS_NASH, atol=EXACT_F64)
    np.testing.assert_allclose(res.certificates["duality_gap"], res.certificates["duality_gap_unregularized"],
                               atol=IDENTITY_F64)
    tie = random_intransitive(3, kind="tie")
    res = _solve(tie, "mmd", iters=3)
    assert res.info["nash_unique"] is False and np.all(np.isnan(res.certificates["kl_to_optimum"]))


@SETTINGS
@given(cg=pst.contextual_preference_games(min_contexts=2, max_contexts=3, max_actions=4, beta=0.2,
                                          random_reference=True, random_contexts=True))
def test_contextual_certificates_are_weighted_per_context_ones(cg):
    mu = np.clip(cg.mu, 1e-3, None)
    cg = po.ContextualPreferenceGame(cg.P, cg.rho, mu / mu.sum(-1, keepdims=True), cg.beta)
    res = _solve(cg, "mirror_prox", iters=4)
    assert res.iterates.shape == (res.num_iter + 1, cg.num_contexts, cg.num_actions)
    np.testing.assert_array_equal(res.info["oracle_calls"], 2 * cg.num_contexts * np.arange(res.num_iter + 1))
    n = res.num_iter + 1
    for x in range(cg.num_contexts):  # each context evolves as its own game
        s = nlhf.mirror_prox_init(np.log(cg.mu[x]))
        for t in range(1, n):
            s = nlhf.mirror_prox_update(s, cg.P[x], np.log(cg.mu[x]), eta=2.0, beta=cg.beta)
            np.testing.assert_allclose(res.iterates[t, x], np.exp(s.log_pi), atol=IDENTITY_F64)
        np.testing.assert_allclose(res.optimum.policy[x], regularized_nash(cg.game(x)).policy, atol=IDENTITY_F64)
    games = cg.games()
    want = {
        "duality_gap": [[certificates.duality_gap(g, pi[x]) for x, g in enumerate(games)]
                        for pi in res.iterates],
        "exploitability": [[certificates.exploitability(g, pi[x]) for x, g in enumerate(games)]
                           for pi in res.iterates],
        "kl_to_optimum": [[certificates.kl(res.optimum.policy[x], pi[x]) for x in range(len(games))]
                          for pi in res.iterates],
    }
    for c, per in want.items():
        np.testing.assert_allclose(res.certificates[c], np.asarray(per) @ cg.rho, atol=IDENTITY_F64, err_msg=c)


def test_contextual_game_runs_every_rule_and_shares_a_reference():
    P = np.stack([catalogue.perturbed_rps().P, random_intransitive(3, seed=2).P])
    cg = po.ContextualPreferenceGame(P, contexts=[0.25, 0.75], reference=[0.2, 0.3, 0.5], beta=0.1)
    assert cg.mu.shape == (2, 3) and repr(cg) == "ContextualPreferenceGame(X=2, K=3, beta=0.1)"
    for name in RULES:
        res = _solve(cg, name, iters=3)
        assert res.policy.shape == (2, 3) and np.all(np.isfinite(res.certificates["duality_gap"])), name
    assert cg.with_beta(0.0).beta == 0.0 and len(cg.games()) == 2


# --------------------------------------------------------------------------- bad input
def test_bad_games():
    P = catalogue.perturbed_rps().P
    with pytest.raises(ValueError, match=r"beta must lie in \[0, inf\], got -0.1"):
        po.ContextualPreferenceGame(P[None], beta=-0.1)
    bad = np.stack([P, P]).copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"P\[1, 2, 0\] is nan"):
        po.ContextualPreferenceGame(bad)
    bad[1, 2, 0] = 0.3
    with pytest.raises(ValueError, match=r"P\[1, 0, 2\] \+ P\[1, 2, 0\] = 1.3, expected 1"):
        po.ContextualPreferenceGame(bad)
    with pytest.raises(ValueError, match=r"P must have 3 dimensions"):
        po.ContextualPreferenceGame(P)
    with pytest.raises(ValueError, match=r"contexts"):
        po.ContextualPreferenceGame(P[None], contexts=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"reference"):
        po.ContextualPreferenceGame(P[None], reference=[0.5, 0.6, -0.1])
    with pytest.raises(ValueError, match=r"x must be a context index"):
        po.ContextualPreferenceGame(P[None]).game(1)


@pytest.mark.parametrize("name", RULES)
def test_bad_step_sizes(rps, name):
    for eta, msg in ((0.0, r"eta must lie in \(0, inf\], got 0"), (-1.0, r"got -1"), (np.nan, r"eta must be finite")):
        kw = {"schedule": "constant"} if name == "nash_md" else {}
        with pytest.raises(ValueError, match=msg):
            po.solve(rps, method=name, eta=eta, iters=2, **kw)


def test_bad_hparams(rps):
    with pytest.raises(ValueError, match=r"eta \* beta < 1, got eta 20 with beta 0.1"):
        po.solve(rps, method="egpo", eta=20.0, iters=2)
    with pytest.raises(ValueError, match=r"eta \* beta < 1, got eta 10"):
        po.solve(rps, method="inpo", eta=10.0, iters=2)
    with pytest.raises(ValueError, match=r"eta \* beta <= 1, got eta 11"):
        po.solve(rps, method="nash_md", schedule="constant", eta=11.0, iters=2)
    with pytest.raises(TypeError, match=r"eta is not used with schedule='decaying'"):
        po.solve(rps, method="nash_md", eta=0.1, iters=2)
    with pytest.raises(TypeError, match=r"unknown hyper-parameter\(s\) gamma"):
        po.solve(rps, method="mmd", gamma=0.9, iters=2)
    with pytest.raises(ValueError, match=r"num_samples must be >= 1, got 0"):
        po.solve(rps, method="sppo", num_samples=0, iters=2)
    with pytest.raises(ValueError, match=r"form must be 'tabular' or 'ipo_loss', got 'x'"):
        po.solve(rps, method="egpo", form="x", iters=2)
    with pytest.raises(ValueError, match=r"init must have shape \(3,\), got \(2,\)"):
        po.solve(rps, method="sppo", init=[0.5, 0.5], iters=2)
    with pytest.raises(ValueError, match=r"init sums to 0.9"):
        po.solve(rps, method="sppo", init=[0.5, 0.3, 0.1], iters=2)
    game0 = catalogue.perturbed_rps(0.0)
    for name in ("online_ipo", "ipo_md"):  # the IPO target divides by beta: not listed, and refused, at beta = 0
        assert name not in po.methods(game0)
        with pytest.raises(ValueError, match=rf"method '{name}' does not apply"):
            po.solve(game0, method=name, iters=2)
        with pytest.raises(ValueError, match=rf"{name}: needs beta > 0"):
            po.rule(name, eta=0.1, beta=0.0)


def test_zero_mass_reference_with_beta(rps):
    game = catalogue.perturbed_rps(0.1, reference=[0.5, 0.5, 0.0])
    for name in RULES:
        with pytest.raises(ValueError, match=rf"reference\[2\] is 0: {name} with beta = 0.1 takes log\(reference\)"):
            po.solve(game, method=name, iters=2)
    res = _solve(catalogue.perturbed_rps(0.0, reference=[0.5, 0.5, 0.0]), "mmd", iters=3, init=[0.2, 0.3, 0.5])
    assert np.all(np.isfinite(res.iterates))  # beta = 0 never takes log(reference)


def test_payoff_must_be_constant_sum(rps):
    general = np.array([[0.5, 0.9, 0.2], [0.4, 0.5, 0.7], [0.6, 0.3, 0.5]])  # P[0,1] + P[1,0] = 1.3
    with pytest.raises(ValueError, match=r"mirror_prox needs a constant-sum preference game: payoff\[0, 1\] \+ "
                                         r"payoff\[1, 0\] = 1.3, expected 1"):
        po.solve(rps, method="mirror_prox", payoff=general, iters=2)
    with pytest.raises(ValueError, match=r"payoff\[0, 1\] is inf, expected a finite number"):
        po.solve(rps, method="mirror_prox", payoff=np.where(general == 0.9, np.inf, general), iters=2)
    res = _solve(rps, "mirror_prox", payoff=rps.P.T, iters=3)  # a valid raw matrix is used instead of game.P
    assert res.hparams["payoff"] is True
    np.testing.assert_allclose(res.optimum.policy, regularized_nash(po.PreferenceGame(rps.P.T, beta=0.1)).policy,
                               atol=IDENTITY_F64)


def test_extreme_values_through_solve():
    game = random_intransitive(5, seed=0, beta=1e-6)
    init = np.full(5, 1e-300)
    init[0] = 1.0
    for name in RULES:
        kw = {"eta": 1e3} if name not in ("nash_md",) else {}
        res = _solve(game, name, iters=50, init=init / init.sum(), **kw)
        assert res.status != "nonfinite" and np.all(np.isfinite(res.iterates)), name
        assert np.all(np.isfinite(res.certificates["duality_gap"])), name
        # probabilities underflow to 0 here, the log-policies do not: the KL stays finite
        assert np.all(np.isfinite(res.certificates["kl_to_optimum"])), name

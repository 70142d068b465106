"""po.solve for the preference losses: each method reaches its closed-form optimum, certificates, theorems,
finite-data behaviour (DPO diverges, IPO bounded), CoPG off-policy, XPO, APO, bad input."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import polopt as po
from polopt import theory
from polopt.problems.dataset import PreferenceDataset
from polopt.rules import preference_losses as pl
from polopt.testing import strategies as pst
from polopt.testing.strategies import SETTINGS
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

METHODS = ("dpo", "ipo", "chi_po", "xpo", "copg", "p3o", "apo", "online_dpo")
BANDIT = po.Bandit([1.0, 0.2, -0.5, 0.7], reference=[0.1, 0.2, 0.3, 0.4], beta=0.5)
CBANDIT = po.ContextualBandit([[1.0, 0.2, -0.5], [0.0, 1.0, 0.5]], contexts=[0.7, 0.3], beta=0.4)
THEOREM = {"dpo": "dpo.population_minimizer", "online_dpo": "dpo.population_minimizer",
           "copg": "copg.off_policy_optimum", "p3o": "dpo.population_minimizer", "xpo": "dpo.population_minimizer",
           "ipo": "ipo.population_minimizer", "chi_po": "chi_po.regularizer", "apo": "apo.inverse_temperature"}
ITERS = {"xpo": 40, "apo": 200}


def _solve(problem, method, iters=None, **hp):
    return po.solve(problem, method, iters=iters or ITERS.get(method, 5000), **hp)


def test_methods_are_registered():
    assert set(METHODS) <= set(po.methods(BANDIT))
    assert "ipo" in po.methods(po.PreferenceGame([[0.5, 0.8], [0.2, 0.5]], beta=0.3))
    assert "dpo" not in po.methods(po.Bandit([1.0, 0.0]))  # beta = 0: no KL-regularized target


@pytest.mark.parametrize("problem", [BANDIT, CBANDIT], ids=["bandit", "contextual"])
@pytest.mark.parametrize("method", METHODS)
def test_each_method_reaches_its_optimum(problem, method):
    hp = {"alpha": 0.5} if method == "apo" else {}
    res = _solve(problem, method, **hp)
    assert res.status == "converged"
    assert res.method == method
    T = res.num_iter
    assert res.iterates.shape[0] == T + 1
    assert res.iterates.shape[1:] == res.optimum.policy.shape == np.shape(problem.r)
    for name in ("kl_to_optimum", "suboptimality"):
        assert res.certificates[name].shape == (T + 1,)
    assert theory.check(res, THEOREM[method]).holds
    if method != "apo":
        assert res.certificates["kl_to_optimum"][-1] <= EXACT_F64
    if method in ("dpo", "online_dpo", "copg", "p3o", "xpo"):
        assert theory.check(res, "kl_regularized.gap_identity").holds


def test_closed_forms_are_the_expected_ones():
    b = BANDIT
    np.testing.assert_allclose(_solve(b, "dpo").optimum.policy, po.exact.gibbs_policy(b.r, b.beta, b.mu),
                               atol=IDENTITY_F64)
    win = pl.bradley_terry(b.r) @ b.mu
    expected = b.mu * np.exp(win / 0.3)
    np.testing.assert_allclose(_solve(b, "ipo", beta=0.3).optimum.policy, expected / expected.sum(), atol=IDENTITY_F64)
    # chi-PO is less greedy than DPO at the same beta (chi^2 penalizes large ratios more)
    chi = _solve(b, "chi_po").policy
    assert chi.max() < _solve(b, "dpo").policy.max()


@SETTINGS
@given(b=pst.bandits(min_actions=2, max_actions=5, beta=st.floats(0.2, 2.0)),
       behaviour=pst.simplex(5))
def test_copg_reaches_kl_optimum_from_any_behaviour(b, behaviour):
    # mixed with uniform: coverage of every action >= 1/(2K) keeps the quadratic well conditioned for descent
    beh = 0.5 * behaviour[: b.num_actions] / behaviour[: b.num_actions].sum() + 0.5 / b.num_actions
    res = po.solve(b, "copg", iters=5000, behaviour=beh)
    assert res.status == "converged"
    assert res.certificates["kl_to_optimum"][-1] <= EXACT_F64


@SETTINGS
@given(game=pst.preference_games(min_actions=2, max_actions=5, beta=st.floats(0.1, 1.0)))
def test_ipo_on_general_preference_games(game):
    # uniform reference = behaviour: a reference with mass e^-20 makes the quadratic ~1e9-conditioned for descent
    res = po.solve(game, "ipo", iters=3000)
    assert theory.check(res, "ipo.population_minimizer").holds


def test_dpo_diverges_ipo_stays_bounded_on_deterministic_data():
    data = PreferenceDataset([[0, 1], [1, 2], [0, 2]], num_actions=3)
    b = po.Bandit([1.0, 0.0, -1.0], beta=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        d = po.solve(b, "dpo", iters=4000, data=data)
    gap = d.info["logit_gap"]
    assert d.status == "max_iter"
    assert np.all(np.diff(gap) > 0)  # strictly growing at every step
    assert gap[4000] - gap[1000] > 0.5 * (gap[1000] - gap[250])  # ~log t growth: no plateau
    assert d.certificates["kl_to_optimum"][-1] > d.certificates["kl_to_optimum"][0]  # moves AWAY from pi*
    i = po.solve(b, "ipo", iters=4000, data=data, beta=0.25)
    assert i.status == "converged"
    np.testing.assert_allclose(i.info["logits"][-1] - i.info["logits"][-1].mean(), [4 / 3, 0, -4 / 3], atol=EXACT_F64)
    # Fejer monotone: gradient descent on the convex quadratic never moves farther from its minimizer
    th = i.info["logits"] - i.info["logits"].mean(axis=-1, keepdims=True)
    dist = np.linalg.norm(th - th[-1], axis=-1)
    assert np.all(np.diff(dist) <= IDENTITY_F64)


def test_dpo_on_sampled_data_with_full_coverage_is_finite():
    b = po.Bandit([1.0, 0.0, -1.0], beta=0.5)
    data = PreferenceDataset.sample(pl.bradley_terry(b.r), 400, seed=0)
    res = po.solve(b, "dpo", iters=20000, data=data)
    assert res.status == "converged"
    # the empirical minimizer estimates pi*: within sampling error of 400 comparisons
    assert res.certificates["kl_to_optimum"][-1] < 0.05


def test_contextual_dataset():
    P = pl.bradley_terry(CBANDIT.r)
    data = PreferenceDataset.sample(P, 300, contexts=CBANDIT.rho, seed=2)
    res = po.solve(CBANDIT, "ipo", iters=20000, data=data)
    assert res.status == "converged" and res.policy.shape == (2, 3)


def test_xpo_optimism_biases_toward_exploration():
    r0 = _solve(BANDIT, "xpo", alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        r1 = po.solve(BANDIT, "xpo", iters=40, alpha=0.05)
    assert r0.certificates["kl_to_optimum"][-1] <= EXACT_F64
    assert r1.certificates["kl_to_optimum"][-1] > 1e-4  # O(alpha) bias, by design of a constant alpha
    with pytest.raises(ValueError, match="alpha > 0"):
        theory.check(r1, "dpo.population_minimizer")


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.8])
def test_apo_effective_temperature(alpha):
    res = po.solve(po.Bandit([0.3, 0.0, -0.2], beta=5.0), "apo", iters=30, alpha=alpha)
    assert theory.check(res, "apo.inverse_temperature").holds
    # the slope of u_t tends to 1 / (1 - alpha)
    u = res.info["u"][:, 0]
    np.testing.assert_allclose(u[-1] - u[-2], (1 - alpha ** 30) / (1 - alpha), rtol=1e-9)


def test_p3o_sampled_shift_invariance_theorem():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(CBANDIT, "p3o", iters=100, num_pairs=4, seed=3)
    assert theory.check(res, "p3o.shift_invariance").holds


def test_coverage_offline_dpo_cannot_move_uncovered_action():
    """No pair involves action 2: offline DPO never changes its logit; online DPO reaches pi*."""
    b = po.Bandit([1.0, 0.5, -2.0], beta=0.5)
    data = PreferenceDataset.sample(pl.bradley_terry(b.r), 500, behaviour=[0.5, 0.5, 0.0], seed=0)
    init = [0.1, 0.1, 0.8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        off = po.solve(b, "dpo", iters=3000, data=data, init=init)
        on = po.solve(b, "online_dpo", iters=3000, init=init)
    np.testing.assert_allclose(off.info["logits"][:, 2], np.log(0.8), atol=IDENTITY_F64)
    # online data reaches pi* (up to a slow tail on the rare action); offline DPO stays stuck far away
    assert on.certificates["suboptimality"][-1] < 1e-3 < 0.5 < off.certificates["suboptimality"][-1]


@pytest.mark.parametrize(
    ("problem", "method", "hp", "err", "match"),
    [
        (po.Bandit([1.0, 0.0], beta=0.5), "dpo", {"gamma": 1}, TypeError, "unknown hyper-parameter"),
        (po.Bandit([1.0, 0.0], beta=0.5), "dpo", {"data": [[0, 1]]}, TypeError, "PreferenceDataset"),
        (po.Bandit([1.0, 0.0], beta=0.5), "dpo", {"data": PreferenceDataset([[0, 1], [0, 2]])}, ValueError,
         r"data.pairs\[1, 1\] is 2, expected an action of Bandit\(K=2, beta=0.5\) in \[0, 2\)"),
        (po.Bandit([1.0, 0.0, 0.5], beta=0.5), "dpo", {"data": PreferenceDataset([[0, 1]])}, ValueError,
         r"num_actions = 2.*num_actions=3"),
        (po.Bandit([1.0, 0.0], reference=[1.0, 0.0], beta=0.5), "dpo", {}, ValueError, r"reference\[1\] is 0"),
        (po.Bandit([1.0, 0.0], beta=0.5), "dpo", {"behaviour": [0.5, 0.6]}, ValueError, "behaviour"),
        (po.Bandit([1.0, 0.0], beta=0.5), "ipo", {"beta": 0.0}, ValueError, "beta"),
        (po.Bandit([1.0, 0.0]), "ipo", {}, ValueError, "does not apply"),
        (po.Bandit([1.0, 0.0]), "ipo", {"beta": 0.5}, ValueError, "does not apply"),
        (po.Bandit([1.0, 0.0], beta=0.5), "apo", {"alpha": 1.0}, ValueError, "alpha"),
        (po.Bandit([1.0, 0.0], beta=0.5), "p3o", {"num_pairs": 0}, ValueError, "num_pairs"),
        (po.Bandit([1.0, 0.0], beta=0.5), "dpo", {"eta": -1.0}, ValueError, "eta"),
    ],
)
def test_bad_input(problem, method, hp, err, match):
    with pytest.raises(err, match=match):
        po.solve(problem, method, iters=5, **hp)


def test_dpo_needs_beta():
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(po.Bandit([1.0, 0.0]), "dpo")


def test_init_with_zero_is_rejected():
    with pytest.raises(ValueError, match=r"init\[1\] is 0"):
        po.solve(BANDIT, "dpo", init=[0.5, 0.0, 0.25, 0.25])


@pytest.mark.parametrize("method", ["dpo", "ipo", "chi_po", "copg", "online_dpo", "p3o"])
@pytest.mark.parametrize("eta", [np.inf, np.nan, 0.0])
def test_eta_must_be_a_finite_positive_step(method, eta):
    """eta = inf used to be accepted (and gave a NaN run); the factory rejects it naming eta."""
    with pytest.raises(ValueError, match=rf"{method}: eta must"):
        po.solve(BANDIT, method, iters=5, eta=eta)


def test_factories_reject_infinite_steps():
    for factory in (pl.dpo_descent, pl.ipo_descent, pl.chi_po_descent, pl.copg_descent, pl.online_dpo_descent,
                    pl.p3o_ascent):
        with pytest.raises(ValueError, match="eta must be finite"):
            factory(eta=np.inf)
        rule = factory(eta=0.1)
        assert rule.oracle_calls == 1 and not rule.averages and rule.hparams.eta == 0.1


PROBLEMS = [BANDIT, CBANDIT, po.Bandit([1.0, 0.0, 0.5]), po.ContextualBandit(np.eye(2)),
            po.PreferenceGame([[0.5, 0.8], [0.2, 0.5]], beta=0.3), po.PreferenceGame([[0.5, 0.8], [0.2, 0.5]])]


@pytest.mark.parametrize("problem", PROBLEMS, ids=repr)
def test_applies_matches_what_solve_accepts(problem):
    """po.methods lists a loss exactly where solve runs it (ipo at beta = 0 used to be listed and refused)."""
    rows = [m for m in po.methods_table().values() if m.family == "llm_losses"]
    assert {m.name for m in rows} == set(METHODS)
    listed = set(po.methods(problem))
    for row in rows:
        assert (row.name in listed) == row.applies(problem)
        if row.applies(problem):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", po.NotConvergedWarning)
                res = po.solve(problem, row.name, iters=3)
            assert res.num_iter <= 3 and np.isfinite(res.iterates).all()
        else:
            with pytest.raises(ValueError, match="does not apply"):
                po.solve(problem, row.name, iters=3)


def test_optima_come_from_exact_and_old_names_still_resolve():
    from polopt.exact import preference as exact_pref

    b = BANDIT
    np.testing.assert_allclose(exact_pref.dpo_optimum(b.r, b.mu, b.beta), po.exact.gibbs_policy(b.r, b.beta, b.mu),
                               atol=IDENTITY_F64)
    assert pl.dpo_optimum is exact_pref.dpo_optimum and pl.chi_po_optimum is exact_pref.chi_po_optimum
    assert pl.apo_inverse_temperature is exact_pref.apo_inverse_temperature
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(b, "dpo", iters=50)
    assert res.certificates.computed() == []  # lazy
    np.testing.assert_allclose(res.optimum.policy, exact_pref.dpo_optimum(b.r, b.mu, b.beta), atol=0)


def test_stops_at_tol_during_the_run():
    short = po.solve(BANDIT, "dpo", iters=5000, tol=1e-4)
    full = po.solve(BANDIT, "dpo", iters=5000)
    assert short.status == full.status == "converged" and short.num_iter < full.num_iter
    np.testing.assert_array_equal(short.iterates, full.iterates[: short.num_iter + 1])


@pytest.mark.parametrize("method", ["dpo", "online_dpo"])
def test_record_keeps_every_kth_iterate_of_the_same_run(method):
    bandit = po.Bandit(np.array([1.0, 0.3, 0.0]), reference=np.array([0.2, 0.3, 0.5]), beta=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)  # 60 updates, far from tol: the budget ends both
        full = po.solve(bandit, method=method, iters=30, tol=1e-300)
        thin = po.solve(bandit, method=method, iters=30, tol=1e-300, record=7)
    steps = thin.info["recorded"]
    assert steps[0] == 0 and steps[-1] == full.num_iter and np.all(np.diff(steps)[:-1] == 7)
    # the same deterministic run, read at the recorded iterates (bit-for-bit: nothing is recomputed)
    np.testing.assert_array_equal(thin.iterates, full.iterates[steps])
    np.testing.assert_array_equal(thin.certificates["kl_to_optimum"], full.certificates["kl_to_optimum"][steps])


def test_record_with_tol_stops_at_the_first_recorded_iterate_below_it():
    bandit = po.Bandit(np.array([1.0, 0.3, 0.0]), reference=np.array([0.2, 0.3, 0.5]), beta=0.5)
    full = po.solve(bandit, method="dpo", iters=10**6, tol=1e-9)
    thin = po.solve(bandit, method="dpo", iters=10**6, tol=1e-9, record=7)
    assert full.status == thin.status == "converged"
    # the stopping test reads the recorded iterates: the first multiple of 7 at or after full's stop
    assert thin.num_iter == 7 * -(-full.num_iter // 7)

"""The one driver and the entry point: default methods, po.rule, stopping at tol during the run,
bounded memory, honest statuses, lazy certificates, compact iterates, argument checks."""

import time
import tracemalloc
import warnings

import numpy as np
import pytest

import polopt as po
from polopt.problems import catalogue
from polopt.result import LazyCertificates, OneHotIterates
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        return fn(*a, **kw)


# --------------------------------------------------------------------------- default method
@pytest.mark.parametrize("problem, method", [
    (catalogue.puterman_two_state(gamma=0.95), "solve_mdp"),
    (catalogue.river_swim(20, 0.9, sparse=True), "solve_mdp"),
    (po.TabularMDP(np.full((2, 2, 2), 0.5), np.eye(2), horizon=5), "backward_induction"),
    (po.TabularMDP(np.full((2, 2, 2), 0.5), np.eye(2), gamma=1.0), "relative_value_iteration"),
    (catalogue.perturbed_rps(0.0), "nash"),
    (catalogue.perturbed_rps(0.1), "regularized_nash"),
    (po.Bandit([1.0, 0.0, 0.5]), "backward_induction"),
    (po.Bandit([1.0, 0.0, 0.5], beta=0.5), "regularized_optimum"),
])
def test_default_method_is_the_certified_solver_for_the_kind(problem, method):
    res = po.solve(problem)
    assert po.default_method(problem) == method and res.method == method and res.status == "converged"
    np.testing.assert_allclose(np.asarray(res.policy).sum(-1), 1.0, atol=IDENTITY_F64)


def test_default_solve_mdp_agrees_with_policy_iteration_and_certifies():
    mdp = catalogue.river_swim(30, 0.95)
    best, pi = po.solve(mdp), po.solve(mdp, method="policy_iteration")
    np.testing.assert_allclose(best.value, pi.value, atol=EXACT_F64)
    assert np.all(best.info["v_lower"] <= pi.value + EXACT_F64) and np.all(pi.value <= best.info["v_upper"] + EXACT_F64)
    assert best.certificates["suboptimality"][-1] <= EXACT_F64


def test_regularized_optimum_is_the_gibbs_policy():
    bandit = po.Bandit([1.0, 0.0], beta=0.5)
    res = po.solve(bandit)
    want = np.exp(np.array([1.0, 0.0]) / 0.5)
    np.testing.assert_allclose(res.policy, want / want.sum(), atol=IDENTITY_F64)
    assert res.certificates["suboptimality"][-1] <= IDENTITY_F64 < res.certificates["suboptimality"][0]


# --------------------------------------------------------------------------- po.rule and the table
def test_po_rule_returns_the_object_the_table_runs_and_validates_once():
    rule = po.rule("mirror_prox", eta=2.0, beta=0.1)
    assert rule.name == "mirror_prox" and rule.oracle_calls == 2 and not rule.averages
    assert rule.hparams.eta == 2.0 and rule.hparams.beta == 0.1
    assert po.rule("nash_mp", eta=2.0, beta=0.1).name == "mirror_prox"
    # the condition eta * beta < 1 lives in the rule: a direct caller gets the error, not a silent 1/0
    with pytest.raises(ValueError, match=r"extragradient: the EGPO step must satisfy eta \* beta < 1"):
        po.rule("extragradient", eta=10.0, beta=0.1)
    with pytest.raises(ValueError, match=r"unknown rule 'value_iteration'"):
        po.rule("value_iteration")


def test_describe_and_methods_come_from_the_table():
    game = catalogue.perturbed_rps(0.1)
    names = po.methods(game)
    assert "nash_mp" in names and "omwu" in names
    assert po.describe(game)["nash_mp"].startswith("alias of mirror_prox")
    assert set(po.describe(game)) == set(names)


# --------------------------------------------------------------------------- driver
def test_tol_stops_a_huge_budget_during_the_run():
    t0 = time.perf_counter()
    res = po.solve(catalogue.perturbed_rps(0.1), method="mirror_prox", iters=10**9, tol=1e-10)
    assert res.status == "converged" and res.num_iter < 200 and time.perf_counter() - t0 < 30
    assert res.iterates.shape == (res.num_iter + 1, 3)


def test_decaying_nash_md_with_a_huge_budget_allocates_nothing_per_iteration():
    tracemalloc.start()
    res = po.solve(catalogue.perturbed_rps(0.5), method="nash_md", iters=10**12, tol=1e-3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.status == "converged" and peak < 50 * 2**20
    np.testing.assert_allclose(res.info["eta"], 2 / (0.5 * (np.arange(res.num_iter) + 2)), rtol=IDENTITY_F64)


def test_record_cadence_keeps_every_kth_iterate_and_the_last():
    res = _quiet(po.solve, catalogue.perturbed_rps(0.1), method="sppo", iters=25, eta=0.3, record=10)
    np.testing.assert_array_equal(res.info["recorded"], [0, 10, 20, 25])
    assert res.iterates.shape == (4, 3) and res.certificates["duality_gap"].shape == (4,)


def test_tied_huge_logits_keep_their_mass():
    game = po.PreferenceGame(np.array([[.5, .5, .7], [.5, .5, .7], [.3, .3, .5]]))
    res = _quiet(po.solve, game, method="sppo", eta=1e17, iters=5)
    np.testing.assert_allclose(res.policy, [0.5, 0.5, 0.0], atol=IDENTITY_F64)
    assert np.all(np.abs(res.iterates.sum(-1) - 1.0) <= IDENTITY_F64)


def test_overflowing_values_are_nonfinite_with_a_warning():
    mdp = po.TabularMDP(np.full((3, 2, 3), 1 / 3), np.full((3, 2), 1e308), gamma=0.9)
    for method in ("value_iteration", "policy_iteration", "solve_mdp"):
        with pytest.warns(po.NotConvergedWarning, match="nonfinite"):
            res = po.solve(mdp, method=method)
        assert res.status == "nonfinite", method


# --------------------------------------------------------------------------- lean results
def test_certificates_are_computed_when_read():
    res = po.solve(catalogue.river_swim(40, 0.95), method="value_iteration")
    assert isinstance(res.certificates, LazyCertificates)
    assert "suboptimality" not in res.certificates.computed()
    sub = res.certificates["suboptimality"]
    assert "suboptimality" in res.certificates.computed() and sub.shape == (res.num_iter + 1,)
    assert sub[-1] <= EXACT_F64


def test_deterministic_iterates_are_stored_as_indices_and_read_one_hot():
    mdp = catalogue.river_swim(200, 0.99, sparse=True)
    res = po.solve(mdp, method="policy_iteration")
    it = res.iterates
    assert isinstance(it, OneHotIterates) and it.sigmas.dtype.itemsize == 1
    dense = np.asarray(it)
    assert dense.shape == (res.num_iter + 1, 200, 2) and np.all(dense.sum(-1) == 1.0)
    np.testing.assert_array_equal(it[-1], res.policy)
    np.testing.assert_array_equal(dense[1], it[1])


def test_the_optimum_is_computed_once_per_problem():
    from polopt._methods import mdp as family

    mdp = catalogue.river_swim(30, 0.95)
    po.solve(mdp, method="value_iteration")
    star = family.optimum(mdp)
    po.solve(mdp, method="policy_iteration")
    assert family.optimum(mdp) is star


# --------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("seed", [1.5, "a", True, [1]])
def test_a_seed_of_the_wrong_type_is_refused_by_every_method(seed):
    for problem, method in ((catalogue.puterman_two_state(0.9), "value_iteration"),
                            (catalogue.perturbed_rps(0.1), "mirror_prox")):
        with pytest.raises(TypeError, match="seed must be None, a non-negative int"):
            po.solve(problem, method=method, seed=seed)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        po.solve(catalogue.perturbed_rps(0.1), method="sppo", seed=-1)


def test_a_bad_init_is_reported_as_init():
    mdp = catalogue.puterman_two_state(0.9)
    for method in ("policy_iteration", "linear_program", "solve_mdp", "value_iteration"):
        with pytest.raises(ValueError, match=r"init\[0, :\] sums to 1.1"):
            po.solve(mdp, method=method, init=np.array([[0.5, 0.6], [1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"init\[1\] is 5"):
        po.solve(mdp, method="policy_iteration", init=np.array([0, 5]))


@pytest.mark.parametrize("shape, axis", [((0, 2, 0, 3), "S"), ((2, 0, 2, 3), "A"), ((2, 2, 2, 0), "d")])
def test_an_empty_feature_axis_is_reported_against_phi(shape, axis):
    with pytest.raises(ValueError, match=rf"phi must have shape \[S, A, S, d\].*empty {axis} \(axis"):
        po.LinearMixtureMDP(np.zeros(shape), np.ones(shape[-1]), np.zeros((2, 2)), horizon=3)


def test_a_complex_init_is_refused_not_truncated():
    mdp = po.TabularMDP(np.full((2, 2, 2), 0.5), np.eye(2), horizon=3)
    with pytest.raises(TypeError, match="init must be real"):
        po.solve(mdp, method="backward_induction", init=np.full((2, 2), 0.5 + 0.1j))


def test_a_game_optimum_is_computed_once_and_shared_read_only():
    game = catalogue.perturbed_rps(0.1)
    a = po.solve(game, method="mirror_prox", iters=5)
    b = _quiet(po.solve, game, method="sppo", iters=5, eta=0.1)
    assert np.shares_memory(a.optimum.policy, b.optimum.policy)
    with pytest.raises(ValueError, match="read-only"):
        a.optimum.policy[0] = 1.0


@pytest.mark.parametrize("problem, method, kw", [
    (catalogue.puterman_two_state(0.9), "npg", {"eta": 0.5}),
    (po.Bandit([1.0, 0.5, 0.0]), "rloo", {"eta": 0.5}),
])
def test_record_cadence_in_the_other_rule_families(problem, method, kw):
    res = _quiet(po.solve, problem, method=method, iters=23, record=10, **kw)
    np.testing.assert_array_equal(res.info["recorded"], [0, 10, 20, 23])
    assert len(res.iterates) == 4 and res.certificates["suboptimality"].shape == (4,)
    with pytest.raises(ValueError, match="record must be >= 1"):
        po.solve(problem, method=method, iters=3, record=0, **kw)


def test_methods_that_need_a_dense_kernel_are_not_listed_when_it_cannot_fit(monkeypatch):
    from polopt import _validation

    mdp = catalogue.river_swim(2000, 0.99, sparse=True)  # dense P: 2000 x 2 x 2000 doubles = 61 MiB
    assert "npg" in po.methods(mdp)
    monkeypatch.setattr(_validation, "ALWAYS_FITS_BYTES", 2**20)
    monkeypatch.setattr(_validation, "available_memory", lambda: 2**24)
    names = po.methods(mdp)
    assert "npg" not in names and "solve_mdp" in names
    with pytest.raises(ValueError, match=r"method 'npg' does not apply .*: it needs a discounted MDP whose dense"):
        po.solve(mdp, method="npg", iters=1)

"""One meaning per symbol: README's "Notation" table against the method table and the renamed keywords.

* every hyper-parameter name of every row of :mod:`polopt.methods` (and of the runners that take more
  than their factory) is a symbol of the glossary or a named option of :data:`NAMED_OPTIONS` (with its
  meaning); the rows that take ``tau`` / ``lam`` / ``kappa`` are exactly the methods its glossary row names;
* a renamed keyword (``tau=`` of relative value iteration and IPO, ``eta_mu=`` of the saddle point,
  ``lam=`` of the bounded-ratio target) warns with a DeprecationWarning naming the new one and gives the
  same result, bit for bit (it is translated before anything is computed); old and new together: TypeError;
* ``certificates.exploitability`` / ``duality_gap`` take ``(game, pi, beta=None)`` as :mod:`polopt.exact`
  does; the former ``(P, pi, mu, beta)`` warns and agrees.
"""

from __future__ import annotations

import fnmatch
import importlib
import pathlib
import re
import warnings

import numpy as np
import pytest

import polopt as po
from polopt import _deprecation, certificates
from polopt._methods import saddle as saddle_runner
from polopt.exact import preference as exact_pref
from polopt.oracles import saddle as saddle_oracle
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive, random_mdp
from polopt.rules import bounded_ratio, preference_losses
from polopt.rules import saddle as saddle_rule
from polopt.testing.tolerances import EXACT_F64

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
METHODS = importlib.import_module("polopt.methods")  # ``polopt.methods`` the attribute is the function po.methods

#: Hyper-parameters that are named options rather than maths symbols, with their one meaning. A new
#: keyword is either a glossary symbol (README "Notation") or gets a line here.
NAMED_OPTIONS = {
    "tol": "stopping threshold on the method's main certificate",
    "record": "keep every record-th iterate",
    "num_samples": "samples per oracle call (None: the exact oracle)",
    "payoff": "a payoff matrix replacing the preference matrix of a game",
    "form": "which of a rule's equivalent forms runs (tabular, loss, ...)",
    "schedule": "step-size schedule (constant, geometric, decaying, adaptive)",
    "inner_steps": "inner policy-gradient steps of approximate Nash-MP / SPPO",
    "inner_eta": "step size of the inner loop",
    "inner_iters": "inner descent iterations of one XPO round",
    "magnet_eta": "step of MMD's magnet toward the iterate",
    "mixture": "geometric-mixture weight of IPO-MD's sampling policy",
    "bregman": "Bregman divergence of policy mirror descent (kl, euclidean)",
    "growth": "geometric growth factor of PMD's step",
    "c0": "first step of PMD's geometric schedule",
    "anneal": "MDPO's step-size annealing",
    "lo": "lower ratio bound",
    "hi": "upper ratio bound",
    "tie": "how a bounded-ratio target splits tied actions",
    "epochs": "optimizer passes per update",
    "mode": "exact expectation or sampled estimate",
    "group_size": "responses sampled per prompt (group)",
    "baseline": "REINFORCE baseline (constant or optimal)",
    "kl": "where the KL term enters (reward, k1, k3 loss)",
    "ddof": "degrees of freedom of GRPO's group standard deviation",
    "std_eps": "floor of GRPO's standard-deviation denominator",
    "smoothness": "L-smoothness constant of the objective (OBLR-PO's step)",
    "behaviour": "policy the preference pairs are drawn from",
    "data": "a finite PreferenceDataset replacing the population",
    "clip": "chi-PO's clip of the log-ratio link",
    "num_pairs": "sampled on-policy pairs per context (P3O)",
    "feedback": "full or bandit feedback (FTRL)",
    "B": "norm bound of the linear-mixture parameter",
    "rad_scale": "scale of the confidence radius",
    "episodes": "episodes per run of the reward-free learners",
    "seeds": "seeds run as one batch",
    "num_rewards": "reward functions planned for after exploration",
    "reward_seed": "seed of the planned-for rewards",
    "num_random": "random rewards of HF-UCRL-RFE",
    "evi_max_iter": "extended value iteration's sweep budget",
    "eta_v": "step size of the value player of the saddle point",
    "eta_d": "step size of the occupancy player of the saddle point",
    "box": "the value player's box (lo, hi)",
}
#: Keywords that used to carry a second meaning, and their new names (the deprecation map of the code).
RENAMED = {"relative_value_iteration": {"tau": "omega"}, "ipo": {"tau": "beta"},
           "mirror_prox (MDP)": {"eta_mu": "eta_d"}, "bounded_ratio": {"lam": "kappa"}, "bpo": {"lam": "kappa"}}


def _notation_rows() -> list[tuple[str, str]]:
    """``(code, meaning)`` cells of README's Notation table."""
    text = README.read_text()
    section = text.split("## Notation", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 3 and cells[0] not in ("symbol", "---"):
            rows.append((cells[1], cells[2]))
    return rows


def _code_names(cell: str) -> set[str]:
    """The identifiers a code cell names: each backticked span's leading name (``f(game, pi)`` -> ``f``)."""
    return {m.group(1) for m in re.finditer(r"`([A-Za-z_][A-Za-z0-9_]*)", cell)}


def _glossary() -> dict[str, str]:
    out = {}
    for code, meaning in _notation_rows():
        for name in _code_names(code):
            out[name] = meaning
    return out


def _all_hparams() -> dict[str, set[str]]:
    """``{hyper-parameter: rows taking it}`` over the table, plus the MDP saddle runner's own keywords."""
    names: dict[str, set[str]] = {}
    for row in METHODS.table().values():
        for h in row.hparam_names():
            names.setdefault(h, set()).add(row.name)
    for h in saddle_runner.HPARAMS:
        names.setdefault(h, set()).add("mirror_prox (MDP)")
    return names


def _rows_named_in(meaning: str) -> set[str]:
    """Method rows a glossary meaning names in backticks (``ucrl_*`` expands over the table)."""
    rows = set(METHODS.table())
    out = set()
    for pat in re.findall(r"`([a-z_0-9*]+)`", meaning):
        out |= set(fnmatch.filter(rows, pat))
    return out


# --------------------------------------------------------------------------- the glossary and the table
def test_notation_table_parses():
    glossary = _glossary()
    for symbol in ("rho", "mu", "beta", "eta", "tau", "omega", "lam", "kappa", "d", "gamma", "ratio"):
        assert symbol in glossary, symbol


def test_every_hyper_parameter_is_in_the_glossary_or_a_named_option():
    glossary = _glossary()
    unknown = {h: sorted(rows) for h, rows in _all_hparams().items() if h not in glossary and h not in NAMED_OPTIONS}
    assert not unknown, f"add these to README 'Notation' or to NAMED_OPTIONS (with a meaning): {unknown}"
    both = sorted(set(NAMED_OPTIONS) & set(glossary))
    assert not both, f"named twice (glossary and NAMED_OPTIONS): {both}"


def test_no_row_takes_a_renamed_keyword_or_a_borrowed_symbol():
    names = _all_hparams()
    for method, old_to_new in RENAMED.items():
        for old in old_to_new:
            assert method not in names.get(old, set()), (method, old)
    for h in ("mu", "rho", "eta_mu", "log_mu", "d"):  # problem data / the occupancy are not hyper-parameters
        assert h not in names, (h, sorted(names.get(h, ())))


@pytest.mark.parametrize("symbol", ["tau", "lam", "kappa"])
def test_rows_taking_a_symbol_are_those_its_glossary_row_names(symbol):
    takes = _all_hparams().get(symbol, set())
    named = _rows_named_in(_glossary()[symbol])
    assert takes == named, (symbol, sorted(takes ^ named))


def test_results_report_the_new_names():
    chain = catalogue.periodic_chain()
    assert set(po.solve(chain, "relative_value_iteration").hparams) == {"omega", "tol", "ref_state"}
    bandit = po.Bandit([1.0, 0.3, 0.0], reference=[0.5, 0.3, 0.2], beta=0.5)
    assert po.solve(bandit, "ipo", iters=50).hparams["beta"] == 0.5  # the problem's beta is IPO's default
    mdp = random_mdp(3, 2, gamma=0.8, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        hp = po.solve(mdp, "mirror_prox", iters=5).hparams
        assert "eta_d" in hp and "eta_mu" not in hp
        assert po.solve(mdp, "bounded_ratio", iters=3).hparams["kappa"] == 0.0


# --------------------------------------------------------------------------- deprecated keywords
def _deprecated(call, new: str):
    with pytest.warns(DeprecationWarning, match=rf"{new}="):
        return call()


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        return call()


def _same(a, b):
    # exact equality: the old keyword is renamed before anything is computed, so the float operations
    # (and hence the bits) are those of the new call
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


_CHAIN = catalogue.periodic_chain()
_BANDIT = po.Bandit([1.0, 0.3, 0.0], reference=[0.5, 0.3, 0.2], beta=0.5)
_MDP = random_mdp(3, 2, gamma=0.8, seed=1)
_GAME = random_intransitive(4, seed=2)
_W = preference_losses.pair_weights(_GAME.P, preference_losses.product_pairs(_GAME.mu))
_THETA = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
_Q = np.array([[1.0, 0.2, -0.5], [0.0, 0.3, 0.1]])
_LOG_PI0 = np.log(np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]]))
_INST = saddle_runner.instance(_MDP)
_V = np.full(3, 0.5 * (_INST.lo + _INST.hi))
_D = np.full((3, 2), 1.0 / 6.0)


def _rvi(**kw):
    r = po.exact.relative_value_iteration(_CHAIN, **kw)
    return r.gain, r.bias


def _solve_rvi(**kw):
    r = po.solve(_CHAIN, "relative_value_iteration", **kw)
    return r.value, r.bias, r.certificates["span"]


def _solve_ipo(**kw):
    r = po.solve(_BANDIT, "ipo", iters=200, **kw)
    return r.iterates, r.optimum.policy


def _solve_saddle(**kw):
    r = _quiet(lambda: po.solve(_MDP, "mirror_prox", iters=15, **kw))
    return r.average, r.certificates["duality_gap"]


def _solve_brrl(**kw):
    return _quiet(lambda: po.solve(_MDP, "bounded_ratio", iters=4, **kw)).iterates


CASES = {
    # name: (call taking **kw, old keyword, new keyword, value)
    "exact.relative_value_iteration": (_rvi, "tau", "omega", 0.7),
    "solve relative_value_iteration": (_solve_rvi, "tau", "omega", 0.7),
    "solve ipo": (_solve_ipo, "tau", "beta", 0.3),
    "rule ipo": (lambda **kw: tuple(po.rule("ipo", **kw).hparams), "tau", "beta", 0.3),
    "rules.preference_losses.ipo": (lambda **kw: preference_losses.ipo(_THETA, _W, np.log(_GAME.mu), **kw),
                                    "tau", "beta", 0.4),
    "exact.preference.ipo_optimum": (lambda **kw: exact_pref.ipo_optimum(_GAME.P, _GAME.mu, _GAME.mu, **kw),
                                     "tau", "beta", 0.4),
    "solve mirror_prox (MDP)": (_solve_saddle, "eta_mu", "eta_d", 0.3),
    "rules.saddle.mdp_mirror_prox": (lambda **kw: tuple(saddle_rule.mdp_mirror_prox(eta_v=0.5, L=1.5, **kw).hparams),
                                     "eta_mu", "eta_d", 0.3),
    "certificates.saddle_gap": (lambda **kw: certificates.saddle_gap(_INST.P, _INST.r, _INST.gamma, _INST.rho,
                                                                     _INST.lo, _INST.hi, _V, **kw), "mu", "d", _D),
    "solve bounded_ratio": (_solve_brrl, "lam", "kappa", 0.1),
    "rule bpo": (lambda **kw: tuple(po.rule("bpo", **kw).hparams), "lam", "kappa", 0.1),
    "rules.bounded_ratio.bounded_ratio_target": (
        lambda **kw: bounded_ratio.bounded_ratio_target(_LOG_PI0, _Q, lo=0.8, hi=1.2, **kw), "lam", "kappa", 0.1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_old_keyword_warns_and_gives_the_new_result(case):
    call, old, new, value = CASES[case]
    _same(_deprecated(lambda: call(**{old: value}), new), call(**{new: value}))


@pytest.mark.parametrize("case", sorted(CASES))
def test_old_and_new_keyword_together_is_an_error(case):
    call, old, new, value = CASES[case]
    with pytest.raises(TypeError, match=rf"both {old}= \(deprecated\) and {new}="):
        call(**{old: value, new: value})


def test_ipo_beta_may_be_set_apart_from_the_problem():
    """IPO's objective is ``E P(y > b) - beta KL``: beta=0.3 on a beta=0.5 bandit targets mu exp(P mu / 0.3) / Z."""
    res = po.solve(_BANDIT, "ipo", beta=0.3, iters=3000)
    win = preference_losses.bradley_terry(_BANDIT.r) @ _BANDIT.mu
    expected = _BANDIT.mu * np.exp(win / 0.3)
    np.testing.assert_allclose(res.optimum.policy, expected / expected.sum(), rtol=0, atol=EXACT_F64)
    with pytest.raises(TypeError, match=r"unknown hyper-parameter\(s\) beta"):
        po.solve(_BANDIT, "dpo", beta=0.3)  # the other loss rows take the problem's beta


def test_renamed_functions_and_fields_warn():
    S, A = _D.shape
    new = saddle_oracle.grad_d(_INST.P, _INST.r, _INST.gamma, _V)
    with pytest.warns(DeprecationWarning, match="use grad_d"):
        np.testing.assert_array_equal(saddle_oracle.grad_mu(_INST.P, _INST.r, _INST.gamma, _V), new)
    g = saddle_oracle.SaddleOracle(_INST.P, _INST.r, _INST.gamma, _INST.rho, _INST.lo, _INST.hi).operator(_V, _D)
    with pytest.warns(DeprecationWarning, match=r"\.g_d"):
        assert g.g_mu is g.g_d
    oracle = saddle_oracle.SaddleOracle(_INST.P, _INST.r, _INST.gamma, _INST.rho, _INST.lo, _INST.hi)
    state = saddle_rule.mdp_mirror_prox_init(np.log(_D), oracle)
    with pytest.warns(DeprecationWarning, match=r"\.log_d_avg"):
        assert state.log_mu_avg is state.log_d_avg
    assert state._fields == ("v", "log_d", "v_avg", "log_d_avg", "t")


def test_gpu_loss_accepts_the_old_ipo_keyword():
    losses = pytest.importorskip("gpu.losses", reason="gpu/ needs jax")
    with pytest.warns(DeprecationWarning, match="beta="):
        old = losses.get("ipo", tau=0.5)
    assert old.rule.hparams == losses.get("ipo", beta=0.5).rule.hparams


# --------------------------------------------------------------------------- one certificate convention
def test_game_certificates_take_the_game_like_polopt_exact():
    game = random_intransitive(5, seed=4, beta=0.2, reference="random")
    pi = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    for name in ("exploitability", "duality_gap"):
        cert, exact = getattr(certificates, name), getattr(po.exact, name)
        # both compute the same closed form with the same best_response_value: equal to float round-off
        assert cert(game, pi) == pytest.approx(exact(game, pi), abs=EXACT_F64)
        assert cert(game, pi, 0.0) == pytest.approx(exact(game, pi, 0.0), abs=EXACT_F64)
        assert cert(game.P, pi) == pytest.approx(exact(game.P, pi), abs=EXACT_F64)  # a bare matrix: uniform mu
        with pytest.warns(DeprecationWarning, match=rf"{name}\(P, pi, mu, beta\) is deprecated"):
            old = cert(game.P, pi, game.mu, game.beta)
        assert old == cert(game, pi)  # same arrays, same operations
        with pytest.warns(DeprecationWarning):
            assert cert(game.P, pi, mu=game.mu, beta=game.beta) == cert(game, pi)
        with pytest.raises(TypeError, match="a game carries its reference"):
            cert(game, pi, mu=game.mu)


def test_one_kl_name_one_signature():
    """``kl_log(log_p, log_q)`` (rules, both logs) and ``kl_log_q(p, log_q)`` (certificates) are apart."""
    import inspect

    assert tuple(inspect.signature(po.rules.kl_log).parameters) == ("log_p", "log_q")
    assert tuple(inspect.signature(certificates.kl_log_q).parameters)[:2] == ("p", "log_q")
    assert not hasattr(certificates, "kl_log")
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    with np.errstate(divide="ignore"):
        both = po.rules.kl_log(np.log(p), np.log(q))
    assert both == certificates.kl_log_q(p, np.log(q)) == pytest.approx(np.log(2.0), abs=EXACT_F64)  # by hand


def test_warnings_point_at_the_caller():
    with pytest.warns(DeprecationWarning) as rec:
        po.rule("bpo", lam=0.1)
    assert rec[0].filename == __file__
    with pytest.warns(DeprecationWarning) as rec:
        po.solve(_CHAIN, "relative_value_iteration", tau=0.5)
    assert rec[0].filename == __file__


# --------------------------------------------------------------------------- the helper itself
def test_rename_does_not_mutate_and_checks_its_map():
    given = {"tau": 0.5, "tol": 1e-3}
    with pytest.warns(DeprecationWarning, match="f: tau= is deprecated, use omega="):
        out = _deprecation.rename("f", given, {"tau": "omega"})
    assert out == {"omega": 0.5, "tol": 1e-3} and given == {"tau": 0.5, "tol": 1e-3}
    with pytest.raises(ValueError, match="must map to a different keyword"):
        _deprecation.renamed(tau="tau")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert _deprecation.rename("f", {"omega": 0.5}, {"tau": "omega"}) == {"omega": 0.5}  # new names: silent

"""The contract every registered update rule passes, run over the method table's rule rows.

``tests/test_rule_suite.py`` parametrises each check over :func:`polopt.methods.rule_rows` (the
rows themselves, never a list of names typed again), so a rule added to the table is checked
without touching the tests. Checks, per rule:

* :func:`check_fixed_point` — the exact optimum is a fixed point of one update (the regularized
  equilibrium for rules that take ``beta``, the unregularized full-support Nash equilibrium for
  those that do not), except for rules whose documented fixed point is biased (:data:`BIASED`);
* :func:`check_backends` — NumPy float64 and ``jax.numpy`` (``jit`` of ``vmap`` over a batch of
  games, the update traced once) agree to :data:`~polopt.testing.tolerances.BACKEND`;
* :func:`check_extremes` — finite log-policies summing to one at ``beta = 1e-6``, ``eta = 1e3``
  and probabilities ``1e-300`` in the initial policy and the reference;
* :func:`check_rejects_bad_hparams` — ``eta`` in (0, -1, inf, nan) is refused by the factory
  with an error naming the rule and ``eta``;
* :func:`check_oracle_calls` — one update makes exactly ``rule.oracle_calls`` oracle calls;
* :func:`check_stops_at_tol` — ``po.solve(..., iters=10**7, tol=...)`` stops during the run
  (a handful of chunks), with status ``"converged"`` (rules with a last-iterate guarantee;
  :data:`NO_LAST_ITERATE` says why the others are exempt).

A family the suite does not know yet fails :func:`families_covered` rather than being skipped.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from ..methods import _PROBE, Method
from ..oracles import GameOracle
from ..problems import catalogue
from ..problems.random import random_intransitive, random_tournament
from .tolerances import BACKEND, IDENTITY_F64

#: Families whose rules the suite knows how to build an instance and an oracle for.
FAMILIES = ("games",)
#: Further forms of a rule (its other hyper-parameter regimes) that the backend and extreme-value
#: checks run too: approximate Nash-MP, EGPO's IPO-loss SGD form, the decaying Nash-MD step, SPPO's
#: squared-loss regression.
FORMS = {
    "mirror_prox": ({"inner_steps": 3},),
    "extragradient": ({"form": "ipo_loss", "eta": 0.05},),
    "nash_md": ({"schedule": "decaying", "eta": None},),
    "sppo": ({"form": "squared_loss", "inner_steps": 2},),
}
#: Rules whose fixed point is documented to differ from the equilibrium, with the reason.
BIASED = {
    "nash_md": "constant step: the fixed point solves pi ∝ mu exp(P pi^mu / beta), an O(eta) bias "
               "(Munos et al., arXiv 2312.00886, §6); the decaying schedule removes it",
    "ipo_md": "pairs drawn from the mixture pi^(1-b) mu^b: its stationary point is not pi*_beta for b > 0",
}
#: Rules without last-iterate convergence (the stopping test does not apply), with the reason.
NO_LAST_ITERATE = {
    "nash_ema": "a fictitious-play-like heuristic: the last iterate cycles",
    "sppo": "multiplicative weights: only the average converges (Hedge)",
    "dno": "multiplicative weights: only the average converges (Hedge)",
}
#: One update from an exact optimum moves it by Newton's residual times a step of at most 2.
FIXED_POINT = 1e-8
BETA = 0.1
EXTREME_BETA, EXTREME_ETA = 1e-6, 1e3


def takes(row: Method, name: str) -> bool:
    """Whether the row's factory has hyper-parameter ``name``."""
    return name in inspect.signature(row.rule).parameters


def cases(rows) -> list[tuple[Method, dict]]:
    """``(row, form)`` pairs: every row at its probe hyper-parameters, then its :data:`FORMS`."""
    return [(row, form) for row in rows for form in ({}, *FORMS.get(row.name, ()))]


def case_id(case) -> str:
    row, form = case
    return row.name + "".join(f"-{k}={v}" for k, v in form.items() if k != "eta")


def make_rule(row: Method, beta: float = BETA, form: dict | None = None, **override):
    """The row's rule at its probe hyper-parameters and ``form`` (``beta`` where the factory takes it)."""
    hp = dict(_PROBE.get(row.name, {}))
    if takes(row, "beta"):
        hp.setdefault("beta", beta)
    hp.update(form or {})
    hp.update({k: v for k, v in override.items() if not (form and k in form)})
    return row.rule(**{k: v for k, v in hp.items() if v is not None})


def _reference_game(row: Method):
    """(game, its optimum, beta): regularized RPS for rules with beta, unregularized RPS otherwise."""
    if takes(row, "beta"):
        return catalogue.perturbed_rps(BETA), catalogue.RPS_REGULARIZED[BETA], BETA
    return catalogue.perturbed_rps(0.0), catalogue.RPS_NASH, 0.0


def families_covered(rows) -> list[str]:
    """The families of ``rows`` the suite has no instances for (should be empty)."""
    return sorted({r.family for r in rows} - set(FAMILIES))


def check_fixed_point(row: Method) -> None:
    game, star, beta = _reference_game(row)
    rule = make_rule(row, beta=beta)
    oracle = GameOracle(game.P, np.log(game.mu))
    state = rule.update(rule.update(rule.init(np.log(star), oracle), oracle), oracle)
    moved = float(np.max(np.abs(np.exp(state.log_pi) - star)))
    if row.name in BIASED:
        assert moved > 1e3 * FIXED_POINT, f"{row.name}: documented as biased ({BIASED[row.name]}) but fixed"
    else:
        assert moved <= FIXED_POINT, f"{row.name}: the optimum moved by {moved:.3g} in two updates"


def _batch(B: int = 4, K: int = 4):
    rng = np.random.default_rng(7)
    P = np.stack([random_intransitive(K, seed=i).P for i in range(B)])
    log_mu = np.log(rng.dirichlet(np.ones(K), size=B))
    log_pi0 = np.log(rng.dirichlet(np.ones(K), size=B))
    return P, log_mu, log_pi0


def check_backends(row: Method, form: dict | None = None, steps: int = 5) -> None:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rule = make_rule(row, form=form)
    P, log_mu, log_pi0 = _batch()

    def run_np(P1, lm, lp):
        oracle = GameOracle(P1, lm)
        s = rule.init(lp, oracle)
        for _ in range(steps):
            s = rule.update(s, oracle)
        return s

    def run_jax(P1, lm, lp):
        oracle = GameOracle(P1, lm)
        return jax.lax.fori_loop(0, steps, lambda i, s: rule.update(s, oracle), rule.init(lp, oracle))

    ref = [run_np(P[b], log_mu[b], log_pi0[b]) for b in range(P.shape[0])]
    out = jax.jit(jax.vmap(run_jax))(jnp.asarray(P), jnp.asarray(log_mu), jnp.asarray(log_pi0))
    for field in ref[0]._fields:
        want = np.stack([np.asarray(getattr(s, field)) for s in ref])
        np.testing.assert_allclose(np.asarray(getattr(out, field)), want, atol=BACKEND, err_msg=f"{row.name}.{field}")


def check_extremes(row: Method, form: dict | None = None, steps: int = 20) -> None:
    game = random_tournament(6, seed=1)
    pi0 = np.full(6, 1e-300)
    pi0[0] = 1.0
    mu = np.full(6, 1e-300)
    mu[2] = 1.0
    override = {"eta": EXTREME_ETA} if takes(row, "eta") else {}
    if row.name == "extragradient":
        override = {"eta": 1e-3 / EXTREME_BETA * 0.5}  # eta beta < 1 is the rule's own condition
    if form and form.get("form") == "ipo_loss":
        form = {**form, "eta": 1e-3}  # an SGD learning rate: 4 eta / (beta K) must stay below 1 / beta
    rule = make_rule(row, beta=EXTREME_BETA, form=form, **override)
    oracle = GameOracle(game.P, np.log(mu / mu.sum()))
    s = rule.init(np.log(pi0 / pi0.sum()), oracle)
    with np.errstate(all="raise", under="ignore"):
        for _ in range(steps):
            s = rule.update(s, oracle)
            assert not np.any(np.isnan(s.log_pi)), row.name
            pi = np.exp(s.log_pi)
            assert np.all(np.isfinite(pi)) and abs(pi.sum() - 1.0) <= IDENTITY_F64, row.name


def check_rejects_bad_hparams(row: Method) -> None:
    if not takes(row, "eta"):
        return
    for bad in (0.0, -1.0, np.inf, np.nan):
        try:
            make_rule(row, eta=bad)
        except (TypeError, ValueError) as exc:
            assert row.name in str(exc) and "eta" in str(exc), f"{row.name}: unclear error {exc}"
        else:
            raise AssertionError(f"{row.name} accepted eta = {bad}")


class _Counting:
    """A GameOracle stand-in that counts ``pref`` calls."""

    def __init__(self, oracle: GameOracle):
        self._oracle, self.calls = oracle, 0
        self.P, self.log_mu, self.rng, self.num_samples = oracle.P, oracle.log_mu, oracle.rng, oracle.num_samples

    def pref(self, pi):
        self.calls += 1
        return self._oracle.pref(pi)


def check_oracle_calls(row: Method) -> None:
    game, _, beta = _reference_game(row)
    rule = make_rule(row, beta=beta)
    counting = _Counting(GameOracle(game.P, np.log(game.mu)))
    state = rule.init(np.log(game.mu), counting)
    counting.calls = 0
    rule.update(state, counting)
    assert counting.calls == rule.oracle_calls, f"{row.name}: {counting.calls} calls, declares {rule.oracle_calls}"


def check_stops_at_tol(row: Method, tol: float = 1e-6) -> None:
    import polopt as po

    if row.name in BIASED or row.name in NO_LAST_ITERATE:
        return  # no last-iterate convergence to the optimum the certificates measure
    game, _, _ = _reference_game(row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        hp = {k: v for k, v in _PROBE.get(row.name, {}).items() if k != "beta"}  # beta is the game's
        res = po.solve(game, method=row.name, iters=10**7, tol=tol, **hp)
    assert res.status == "converged" and res.num_iter < 10**5, (row.name, res.status, res.num_iter)

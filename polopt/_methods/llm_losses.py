"""``solve`` methods for the preference-optimization losses: dpo, ipo, chi_po, xpo, copg, p3o, apo, online_dpo.

How a problem carries the preference model:

* :class:`~polopt.problems.Bandit` / :class:`~polopt.problems.ContextualBandit` (rewards ``r``,
  reference ``mu``, KL weight ``beta > 0``): the rewards define **Bradley-Terry** preferences
  ``P[x, a, b] = sigma(r[x, a] - r[x, b])``. By default each offline loss is minimized on its
  **population** version: pairs ``y, y' ~ behaviour`` (hparam ``behaviour`` [K] or [X, K], default
  the reference), contexts ``~ rho``, labels ``~ P``.
* hparam ``data=`` a :class:`~polopt.problems.dataset.PreferenceDataset` replaces the population by
  that finite dataset (empirical pair weights); ``copg`` uses its pairs with the bandit's rewards.
* :class:`~polopt.problems.PreferenceGame` (general ``P``, reference, ``beta > 0``): ``ipo`` only.

Every method needs ``beta > 0``: ``po.methods`` lists them exactly where ``solve`` runs them. The
rules' ``beta`` is the problem's, except ``ipo``'s: IPO's objective ``E_pi P(y > b) - beta KL(pi || mu)``
is not the problem's ``E_pi r - beta KL``, so ``solve(..., "ipo", beta=...)`` may set its KL
coefficient apart (default the problem's ``beta``; ``tau=`` is the deprecated name of this keyword).
Step sizes ``eta`` must be finite and > 0.

Every method runs in logit space from ``init`` (default the reference) and returns a
:class:`~polopt.result.SolveResult` whose ``optimum`` is the **population closed form** of its
loss and whose certificates are, per iterate, ``"kl_to_optimum"`` ``KL(pi* || pi_t)`` (contexts
weighted by ``rho``) and ``"suboptimality"`` ``J(pi*) - J(pi_t)`` of the objective the loss
targets:

======================  =========================================  ======================================
method                  optimum ``pi*``                            objective ``J``
======================  =========================================  ======================================
dpo, online_dpo, copg,  ``mu exp(r / beta) / Z``                   ``E_pi r - beta KL(pi || mu)``
p3o, xpo (alpha = 0)
ipo                     ``mu exp(P(y > b) / beta) / Z``            ``E_pi P(y > b) - beta KL(pi || mu)``
chi_po                  ``beta phi(pi*/mu) = r - lambda``          ``E_pi r - beta D_f(pi || mu)``
apo                     uniform on ``argmax r`` (``mu``'s support)  ``E_pi r``
======================  =========================================  ======================================

Optimizers. ``dpo``, ``ipo``, ``copg`` (convex in the logits) and ``xpo``'s inner problems run
gradient descent with the per-context step ``eta_x = 1 / L_x``, ``L_x`` the exact curvature bound
``c * lambda_max(Laplacian(W_x + W_x^T))`` (``c = beta^2/4`` DPO, ``2`` IPO, ``beta^2`` CoPG), so a
context's step does not depend on its weight ``rho_x``; ``chi_po`` (not convex in the logits) uses
Armijo backtracking. ``eta=`` overrides with one global step. They stop with status
``"converged"`` when ``max |grad_x / mass_x| <= tol``. ``online_dpo`` and ``p3o`` are one exact
(expected) online step per iteration; ``p3o`` with ``num_pairs=n`` samples ``n`` on-policy pairs
per context instead. ``apo`` solves each DPO step exactly (the DPO minimizer theorem) and
extrapolates. The update steps are the Rule factories of :mod:`polopt.rules.preference_losses`
(rows of :mod:`polopt.methods`), the oracle a :class:`~polopt.oracles.bandit.PairOracle`, the loop
:func:`polopt.solve.run_rule` (stops at ``tol`` during the run); optima come from
:mod:`polopt.exact.preference`; certificates are lazy. ``info`` holds ``"loss"`` [T+1] (where a
loss is minimized), ``"logits"`` [T+1, ...] and ``"logit_gap"`` [T+1] (``max_x (max_a theta - min_a theta)``).
"""

from __future__ import annotations

import numpy as np

from .. import certificates
from .._validation import as_distribution, as_float_array, as_positive_int, as_scalar
from ..exact import preference as _opt
from ..oracles.bandit import PairOracle
from ..oracles.sampling import as_generator
from ..problems import Bandit, ContextualBandit, PreferenceGame
from ..problems.dataset import PreferenceDataset
from ..result import CONVERGED, LazyCertificates, Optimum, SolveResult
from ..rules import preference_losses as pl
from ..rules._core import log_normalize
from . import reject_unknown, runner_for

FAMILY = "llm_losses"
#: Default stopping tolerance on the mass-normalized logit gradient: descent on these smooth
#: losses reaches it well inside float64 round-off of the loss (~1e-16 relative).
GRAD_TOL = 1e-10
ARMIJO_C = pl.ARMIJO_C
ARMIJO_HALVINGS = pl.ARMIJO_HALVINGS
XPO_INNER_ITERS = pl.XPO_INNER_ITERS
_OFFLINE = ("tol", "data", "behaviour", "record")
#: Rows whose ``beta`` is a hyper-parameter defaulting to the problem's (the others take the problem's):
#: IPO's objective weighs its KL against ``P(y > b)``, not against the problem's rewards.
_OWN_BETA = ("ipo",)


# --------------------------------------------------------------------------- setup
class _Setup:
    """Problem arrays with a leading context axis (X = 1 for a plain bandit or a game)."""

    def __init__(self, problem):
        if isinstance(problem, PreferenceGame):
            r, P, ref, rho, ctx = None, problem.P[None], problem.mu[None], np.ones(1), False
        elif isinstance(problem, ContextualBandit):
            r, ref, rho, ctx = problem.r, problem.mu, problem.rho, True
            P = pl.bradley_terry(r)
        else:
            r, ref, rho, ctx = problem.r[None], problem.mu[None], np.ones(1), False
            P = pl.bradley_terry(r)
        zero = ref <= 0.0
        if zero.any():
            i = np.argwhere(zero)[0] if ctx else np.argwhere(zero[0])[0]
            where = ", ".join(str(int(k)) for k in i)
            raise ValueError(
                f"reference[{where}] is 0; preference losses need a full-support reference (log pi_ref finite)"
            )
        self.r, self.P, self.ref, self.rho, self.contextual = r, P, np.asarray(ref, dtype=np.float64), \
            np.asarray(rho, dtype=np.float64), ctx
        self.log_ref = np.log(self.ref)


def _policy_arg(name: str, value, st: _Setup) -> np.ndarray:
    """A strictly positive policy [K] (broadcast to every context) or [X, K]; returned as [X, K]."""
    X, K = st.ref.shape
    arr = as_float_array(name, value, ndim=(1, 2))
    shape = (K,) if arr.ndim == 1 else (X, K)
    pol = np.broadcast_to(as_distribution(name, arr, shape), (X, K))
    zero = pol <= 0.0
    if zero.any():
        i = np.argwhere(zero)[0] if arr.ndim == 2 else np.argwhere(zero[0])[0]
        where = ", ".join(str(int(k)) for k in i)
        raise ValueError(f"{name}[{where}] is 0; expected a strictly positive policy (finite logits)")
    return np.array(pol)


def _init_theta(init, st: _Setup) -> np.ndarray:
    return np.array(st.log_ref) if init is None else np.log(_policy_arg("init", init, st))


def _behaviour(hparams, st: _Setup) -> np.ndarray:
    b = hparams.get("behaviour")
    return np.array(st.ref) if b is None else _policy_arg("behaviour", b, st)


def _data(hparams, st: _Setup, problem):
    data = hparams.get("data")
    if data is None:
        return None
    if not isinstance(data, PreferenceDataset):
        raise TypeError(f"data must be a PreferenceDataset, got {type(data).__name__}")
    X, K = st.ref.shape
    if data.num_actions > K:
        i, j = (int(v) for v in np.argwhere(data.pairs >= K)[0])
        raise ValueError(f"data.pairs[{i}, {j}] is {int(data.pairs[i, j])}, expected an action of {problem!r} "
                         f"in [0, {K})")
    if data.num_actions != K:
        raise ValueError(f"data has num_actions = {data.num_actions}, but {problem!r} has K = {K} actions "
                         f"(build it with PreferenceDataset(..., num_actions={K}))")
    if st.contextual != (data.contexts is not None) or data.num_contexts != X:
        raise ValueError(
            f"data has {data.num_contexts} context(s) ({'with' if data.contexts is not None else 'without'} "
            f"context labels), but {problem!r} has X = {X}"
        )
    return data


def _leading(a):
    return a if a.ndim == 3 else a[None]


def _is_regularized_bandit(problem) -> bool:
    return isinstance(problem, (Bandit, ContextualBandit)) and problem.beta > 0


def _is_ipo_problem(problem) -> bool:
    """IPO's beta defaults to the problem's: a bandit or a preference game with beta > 0 (what solve runs)."""
    return isinstance(problem, (Bandit, ContextualBandit, PreferenceGame)) and problem.beta > 0


def _clean(hparams) -> dict:
    out = dict(hparams)
    if out.get("data") is not None:
        out["data"] = repr(out["data"])
    return out


# --------------------------------------------------------------------------- optimum and objective per method
def _kl_target(st, hp, beta):
    def J(pi):
        return np.sum(pi * st.r, axis=-1) - beta * certificates.kl(pi, st.ref)

    return _opt.dpo_optimum(st.r, st.ref, beta), J


def _target(name, st: _Setup, hp: dict, rule, beh):
    beta = getattr(rule.hparams, "beta", None)
    if name == "ipo":
        win = np.einsum("xab,xb->xa", st.P, beh)

        def J(pi):
            return np.sum(pi * win, axis=-1) - beta * certificates.kl(pi, st.ref)

        return _opt.ipo_optimum(st.P, beh, st.ref, beta), J
    if name == "chi_po":
        def J(pi):
            return np.sum(pi * st.r, axis=-1) - beta * pl.chi_regularizer(pi, st.ref)

        return _opt.chi_po_optimum(st.r, st.ref, beta), J
    if name == "apo":
        return _opt.apo_optimum(st.r, st.ref), lambda pi: np.sum(pi * st.r, axis=-1)
    return _kl_target(st, hp, beta)


# --------------------------------------------------------------------------- the runner
def _oracle(name, problem, st: _Setup, hp: dict, seed):
    data = _data(hp, st, problem) if "data" in hp or name in ("dpo", "ipo", "chi_po", "copg") else None
    beh = _behaviour(hp, st)
    W = nu = None
    if name in ("dpo", "ipo", "chi_po"):
        W = _leading(data.weights()) if data is not None else pl.pair_weights(st.P, pl.product_pairs(beh) *
                                                                              st.rho[:, None, None])
    if name == "copg":
        nu = _leading(data.pair_frequencies()) if data is not None else pl.product_pairs(beh) * st.rho[:, None, None]
    n = hp.get("num_pairs")
    rng = None
    if n is not None:
        n = as_positive_int("num_pairs", n)
        rng = as_generator(seed)
    return PairOracle(st.P, st.log_ref, st.rho, st.r, W, nu, rng, n), beh


def make_oracle(name: str, problem, hparams: dict | None = None, seed=None) -> PairOracle:
    """The :class:`~polopt.oracles.bandit.PairOracle` that ``solve(problem, method=name, **hparams)`` hands
    its rule (population pair weights of the behaviour, a dataset's, or on-policy pairs)."""
    return _oracle(name, problem, _Setup(problem), dict(hparams or {}), seed)[0]


def optimum_policy(name: str, problem, rule, hparams: dict | None = None) -> np.ndarray:
    """The population optimum ``pi*`` [X, K] of ``rule`` (a row ``name``'s Rule) on ``problem``."""
    st = _Setup(problem)
    hp = dict(hparams or {})
    return _target(name, st, hp, rule, _behaviour(hp, st))[0]


def run_loss_rule(name: str, problem, *, iters: int, init=None, seed=None, **hparams) -> SolveResult:
    """Run the preference-loss rule of table row ``name`` through the driver and assemble its SolveResult."""
    from ..methods import lookup
    from ..solve import run_rule

    row = lookup(name)
    reject_unknown(name, hparams, tuple(n for n in row.hparam_names() if n != "beta" or name in _OWN_BETA))
    st = _Setup(problem)
    hp = dict(hparams)
    if name == "p3o" and hp.get("num_pairs") is not None and seed is None:
        # record a drawn seed so that the sampled run can be replayed (theory checks do)
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    oracle, beh = _oracle(name, problem, st, hp, seed)
    factory_names = set(row.hparam_names()) - set(row.extra)
    given = {k: v for k, v in hp.items() if k in factory_names and v is not None}
    for k, v in row.defaults(problem, iters, given).items():
        given.setdefault(k, v)
    if "beta" in factory_names and name not in _OWN_BETA:
        given["beta"] = float(problem.beta)
    rule = row.rule(**given)
    if name == "apo":
        # APO has no stopping rule of its own: stop once the reward gap is at round-off
        tol = 4 * np.finfo(np.float64).eps * (1.0 + np.abs(st.r).max())
    elif name == "p3o" and oracle.sampled:
        tol = 0.0  # a sampled direction is never exactly zero: run the whole budget
    else:
        tol = as_scalar("tol", hp.get("tol", GRAD_TOL), low=0.0, low_open=True)
    state = rule.init(_init_theta(init, st), oracle)
    X, K = st.ref.shape

    def record_of(s):
        return np.concatenate([np.ravel(s.theta), [s.loss, s.residual, s.stalled]])

    def stop(block):
        return block[:, -2]

    record = as_positive_int("record", hp.get("record", 1))
    traj = run_rule(rule, oracle, state, iters, record_of=record_of, stop=stop, tol=tol, record=record)
    recs, num_iter, steps = traj.records, traj.num_iter, traj.steps
    if traj.status == CONVERGED and recs[-1, -1] == 1.0 and len(steps) > 1 and steps[-1] - steps[-2] == 1:
        # a stalled line search: its iterate repeats the one before (recorded: drop it)
        recs, num_iter, steps = recs[:-1], num_iter - 1, steps[:-1]
    thetas = recs[:, :X * K].reshape(-1, X, K)
    pi_star, J = _target(name, st, hp, rule, beh)
    info = {}
    if name in ("dpo", "ipo", "chi_po", "copg"):
        info["loss"] = recs[:, -3]
    if name == "p3o":
        info["seed"] = seed
    if name == "apo":
        info["u"] = _apo_u(st, thetas, rule.hparams.beta)
    if record > 1:
        info["recorded"] = steps
    out_hp = _clean(hparams)
    if name == "ipo":
        out_hp["beta"] = rule.hparams.beta
    elif name == "chi_po":
        out_hp["clip"] = rule.hparams.clip
    elif name == "apo":
        out_hp = {"alpha": rule.hparams.alpha}
    elif name == "xpo":
        out_hp = {"alpha": rule.hparams.alpha, "inner_iters": rule.hparams.inner_iters, "tol": tol}
    return _result(problem, name, st, thetas, traj.status, num_iter, pi_star, J, out_hp, info)


def _apo_u(st, thetas, beta):
    """Effective inverse temperature ``u_t`` [T+1, X]: ``log pi_t - log mu = u_t r / beta + const`` (least squares)."""
    rc = st.r - st.r.mean(axis=-1, keepdims=True)
    s = thetas - st.log_ref
    s = s - s.mean(axis=-1, keepdims=True)
    denom = np.maximum(np.sum(rc * rc, axis=-1), np.finfo(np.float64).tiny)
    return beta * np.sum(s * rc, axis=-1) / denom


def _result(problem, method, st: _Setup, thetas, status, num_iter, pi_star, J, hparams, info) -> SolveResult:
    """Policies, lazy certificates and the SolveResult of a logit path ``thetas [T+1, X, K]``."""
    log_pis = log_normalize(thetas)
    pis = np.exp(log_pis)
    v_star = J(pi_star)
    squeeze = (lambda a: a) if st.contextual else (lambda a: a[..., 0, :])
    gap = np.max(thetas.max(axis=-1) - thetas.min(axis=-1), axis=-1)
    info = dict(info, logits=squeeze(thetas), logit_gap=gap)
    certs = {
        "kl_to_optimum": lambda: certificates.kl_log_q(pi_star, log_pis) @ st.rho,
        "suboptimality": lambda: (v_star - J(pis)) @ st.rho,
    }
    return SolveResult(
        policy=squeeze(pis[-1]),
        iterates=squeeze(pis),
        value=float(st.rho @ J(pis[-1])),
        optimum=Optimum(squeeze(pi_star), float(st.rho @ v_star)),
        certificates=LazyCertificates(certs),
        status=status,
        method=method,
        hparams=hparams,
        num_iter=num_iter,
        info=info,
        problem=problem,
    )


def runner(name: str):
    """The table's ``run`` for row ``name``."""
    return runner_for(name, run_loss_rule)


def _no_defaults(problem, iters, given):
    return {}


def _beta_default(problem, iters, given):
    """IPO's ``beta``: the problem's (the KL coefficient of the population optimum unless set apart)."""
    return {"beta": float(problem.beta)}


def rows():
    """The method-table rows of the preference-loss family (added by :func:`polopt.methods._load`)."""
    from ..methods import Method

    def row(name, rule, summary, extra, applies=_is_regularized_bandit, defaults=_no_defaults):
        needs = "a bandit (or preference game) with beta > 0" if applies is not _is_regularized_bandit \
            else "a Bandit or ContextualBandit with beta > 0 (the regularized objective)"
        return Method(name, applies, runner(name), summary, rule, (), defaults, extra, FAMILY, needs)

    return (
        row("dpo", pl.dpo_descent,
            "DPO loss (Bradley-Terry population or a PreferenceDataset) by gradient descent on the logits", _OFFLINE),
        row("ipo", pl.ipo_descent,
            "IPO loss (Bradley-Terry / preference game / dataset); optimum mu exp(P(y > b) / beta) / Z", _OFFLINE,
            _is_ipo_problem, _beta_default),
        row("chi_po", pl.chi_po_descent,
            "chi-PO loss (link z + log z, optional clip); optimum of E r - beta (chi^2/2 + KL)", _OFFLINE),
        row("copg", pl.copg_descent,
            "CoPG off-policy regression loss on pairs from any behaviour; optimum mu exp(r/beta)/Z", _OFFLINE),
        row("online_dpo", pl.online_dpo_descent,
            "online DPO: one expected DPO step per iteration on pairs from the current policy", ("tol", "record")),
        row("p3o", pl.p3o_ascent,
            "P3O pairwise policy gradient (exact on-policy pairs, or num_pairs sampled) on E r - beta KL",
            ("tol", "num_pairs", "record")),
        row("apo", pl.apo_steps,
            "APO: exact DPO (proximal-point) steps with Nesterov extrapolation of the reference", ("record",)),
        row("xpo", pl.xpo_rounds,
            "XPO: online DPO on pairs (pi_t, ref) with the optimism term alpha E_ref log pi", ("tol", "record")),
    )

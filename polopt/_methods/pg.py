"""``solve`` rows and runner for the policy-gradient / mirror-descent / bounded-ratio rules.

``po.solve(problem, method=NAME, iters=T, init=pi0, tol=None, **hparams)`` on a discounted
:class:`~polopt.problems.TabularMDP` (or LinearMixtureMDP via ``as_tabular()``), a :class:`Bandit` or a
:class:`ContextualBandit` (one-step MDPs: ``gamma = 0``, start distribution = contexts), with ``beta = 0``;
the rows of :data:`REGULARIZED` also optimize the KL-regularized objective of a problem with ``beta > 0``.
Each name is a row of the method table (:func:`rows`): the factory of :mod:`polopt.rules.pg` /
:mod:`polopt.rules.bounded_ratio` validates the hyper-parameters, the runner builds the exact oracle
:class:`polopt.oracles.mdp.MDPOracle` and runs the Rule through :func:`polopt.solve.run_rule`; the
certificates use :mod:`polopt.exact` independently.

==============================  ==================================================  =========================
method                          hparams (default)                                   rule factory
==============================  ==================================================  =========================
``softmax_pg``                  eta ((1-gamma)^3/8), tau (0: unregularized)         ``pg.softmax_pg``
``log_barrier_pg``              eta ((1-gamma)^3/8), lam (1e-3)                     ``pg.log_barrier_pg``
``projected_pg``                eta ((1-gamma)^3/(2 gamma A); 1 if gamma = 0)       ``pg.projected_pg``
``npg``                         eta (1.0; ``inf`` = policy iteration)               ``pg.npg``
``entropy_npg``                 tau (required), eta ((1-gamma)/tau, <= that)        ``pg.entropy_npg``
``policy_mirror_descent``       eta (1.0), bregman ("kl"|"euclidean"),              ``pg.policy_mirror_descent``
                                schedule ("constant"|"geometric"|"adaptive"),
                                growth (1/gamma), c0 (1.0)
``mdpo``                        eta (1.0), anneal (None)                            ``pg.mdpo``
``trpo``                        delta (0.01)                                        ``pg.trpo``
``ppo``                         eps (0.2) or lo, hi                                 ``bounded_ratio.ppo``
``bounded_ratio`` (``brrl``)    eps (0.2) or lo, hi; tie ("median"|"fractional");   ``bounded_ratio.bounded_ratio``
                                kappa (0: hard target; > 0: tanh target)
``bpo``                         eps/lo/hi, tie, kappa as above; eta (1.0),            ``bounded_ratio.bpo``
                                epochs (10)
==============================  ==================================================  =========================

Every method also accepts ``tol``: the run stops *during* the run (status ``"converged"``) at the
first iterate whose main certificate is ``<= tol`` (the driver evaluates it once per chunk of
iterations); without ``tol`` the status is ``"max_iter"`` (or ``"nonfinite"``) and nothing is
evaluated during the run. The driver loop runs with one BLAS thread
(:func:`polopt._threads.single_threaded`): the oracle's small dense solves are slower with more.

Result: ``policy`` / ``iterates [T+1, ...]`` of shape ``[S, A]`` (``[K]`` for a Bandit, ``[X, K]`` for a
ContextualBandit); ``value`` = ``V [S]`` of the final policy (Bandit: the float ``pi . r``; contextual:
``[X]``); ``optimum = Optimum(pi*, V*)``, computed once per run by :func:`polopt.exact.solve_mdp`
(certified) and polished by one exact policy-iteration round from its policy (soft optimum of
:func:`polopt.exact.soft.soft_value_iteration` when ``tau > 0``, values in the entropy convention
``V_tau = v_beta + tau log A / (1 - gamma)``). Certificates ``[T+1]``, lazy
(:class:`~polopt.result.LazyCertificates`: computed when first read):

* ``"suboptimality"`` ``rho . (V* - V^{pi_t})`` (unregularized optimum; ``rho`` = start distribution /
  contexts) via :func:`polopt.certificates.suboptimality`;
* with ``tau > 0`` (``softmax_pg`` with tau, ``entropy_npg``): ``"suboptimality_regularized"``
  ``rho . (V*_tau - V_tau^{pi_t})`` (the main certificate, the one ``tol`` stops on) and
  ``"kl_to_optimum"`` ``sum_s rho(s) KL(pi*_tau(s) || pi_t(s))``.

* with ``beta > 0`` (the problem's RLHF objective ``V_beta = E sum_t gamma^t (r - beta KL(pi(.|s_t) ||
  mu(.|s_t)))``; rows ``npg``, ``softmax_pg``, ``ppo``, ``policy_mirror_descent`` (KL), ``mdpo``:
  :data:`REGULARIZED`): ``"suboptimality"`` ``rho . (V*_beta - V_beta^{pi_t})`` (the main certificate, named as
  by ``dpo`` / ``grpo`` / ``regularized_optimum`` so that ``po.compare`` lines them up),
  ``"kl_to_optimum"`` ``sum_s rho(s) KL(pi*_beta(s) || pi_t(s))`` and ``"suboptimality_unregularized"``
  ``rho . (V* - V^{pi_t})``. The optimum is :func:`regularized_optimum` (soft value iteration with the
  problem's reference, its Gibbs policy evaluated exactly); the run starts at the reference ``mu`` unless
  ``init`` is given, an ``init`` with mass where ``mu = 0`` is a ValueError (a zero-probability reference
  action is never played: every rule keeps it at 0), ``tau > 0`` on such a problem is a ValueError, and
  ``res.value`` is the regularized value ``V_beta`` of the final policy (a float for a Bandit, as
  ``regularized_optimum`` reports it). For a bandit ``J* - J(pi) = beta KL(pi || pi*)`` exactly.

``info`` (lazy as well): ``"values"`` ``[T+1, S]`` (unregularized ``V^{pi_t}``), ``"regularized_values"``
when ``tau > 0`` or ``beta > 0`` (``V_beta`` in the KL convention: no ``log A`` shift), ``"gamma"``, ``"rho"``.
Bad input raises ValueError / TypeError naming the rule and the
argument (eta <= 0, eps outside (0, 1), bounds not ``0 <= lo < 1 < hi``, init off the simplex, unknown
hyper-parameters) — the same errors the factories give a direct caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import certificates
from .._threads import single_threaded
from .._validation import as_distribution, as_positive_int, as_scalar, fits_dense
from ..exact import dp as _dp
from ..exact import evaluation as _ev
from ..exact import one_hot
from ..exact import soft as _soft
from ..oracles.mdp import MDPOracle, bandit_as_mdp_arrays
from ..problems import Bandit, ContextualBandit, LinearMixtureMDP, TabularMDP
from ..result import LazyCertificates, Optimum, SolveResult
from ..rules import bounded_ratio as _br
from ..rules import pg as _pg
from ..rules._core import coefficient, softmax
from . import reject_unknown, runner_for

#: Hyper-parameters every PG row takes besides its factory's.
COMMON = ("tol", "record")


class _Instance(NamedTuple):
    mdp: TabularMDP  # discounted (gamma = 0 for bandits)
    P: np.ndarray  # dense [S, A, S]
    kind: str  # "mdp" | "bandit" | "contextual"


#: The rows whose rule optimizes the RLHF objective ``V - beta KL(pi || mu)`` when the problem has ``beta > 0``
#: (the oracle's regularized values; see :mod:`polopt.rules.pg`). The others are defined for the plain objective:
#: entropy_npg is the uniform-reference case of npg (its own ``tau``), projected / log-barrier PG have no
#: closed form with the KL at the simplex boundary, and TRPO / the bounded-ratio rules move by a fixed trust
#: region (KL ``delta`` or ratio ``eps``) around an interior optimum.
REGULARIZED = ("softmax_pg", "npg", "policy_mirror_descent", "mdpo", "ppo")


def _beta(problem) -> float:
    return float(getattr(problem, "beta", 0.0))


def is_pg_problem(problem) -> bool:
    """A discounted MDP whose dense kernel fits in memory (the exact PG oracle solves dense systems on
    ``P [S, A, S]``: a huge sparse MDP is not listed), or a bandit / contextual bandit, without KL term."""
    return _beta(problem) == 0.0 and is_pg_instance(problem)


def is_pg_instance(problem) -> bool:
    """:func:`is_pg_problem` with any ``beta``: the rows of :data:`REGULARIZED` also take ``beta > 0``."""
    if isinstance(problem, (Bandit, ContextualBandit)):
        return True
    if not (isinstance(problem, (TabularMDP, LinearMixtureMDP)) and problem.criterion == "discounted"):
        return False
    S, A = problem.num_states, problem.num_actions
    return fits_dense((S, A, S), copies=2)


def _instance(problem) -> _Instance:
    if isinstance(problem, (Bandit, ContextualBandit)):
        contexts = problem.rho if isinstance(problem, ContextualBandit) else None
        P, r, gamma, rho = bandit_as_mdp_arrays(problem.r, contexts)
        kind = "contextual" if isinstance(problem, ContextualBandit) else "bandit"
        mu = np.broadcast_to(problem.mu, r.shape)
        return _Instance(TabularMDP(P, r, gamma=gamma, rho=rho, reference=mu, beta=problem.beta), P, kind)
    mdp = problem.as_tabular() if isinstance(problem, LinearMixtureMDP) else problem
    return _Instance(mdp, np.asarray(mdp.dense_P()), "mdp")


def _gamma(problem) -> float:
    return 0.0 if isinstance(problem, (Bandit, ContextualBandit)) else float(problem.gamma)


def _out(inst: _Instance, x):
    """Strip the single state axis of a Bandit's policies / values."""
    return x[..., 0, :] if inst.kind == "bandit" else x


def _init_policy(inst: _Instance, init) -> np.ndarray:
    """The start policy ``[S, A]``: uniform, or the reference ``mu`` when ``beta > 0`` (RLHF starts at the
    reference); a given ``init`` may not put mass where ``mu`` is 0 (the KL would be infinite)."""
    S, A = inst.mdp.num_states, inst.mdp.num_actions
    beta = inst.mdp.beta
    if init is None:
        if beta > 0:
            return np.array(inst.mdp.mu)
        # uniform over the feasible actions: an infeasible one (mask False, r = -inf) gets log-prob -inf,
        # which the log-domain rules keep (softmax of -inf + finite is 0)
        feasible = np.asarray(getattr(inst.mdp, "mask", np.ones((S, A), dtype=bool)), dtype=np.float64)
        return feasible / feasible.sum(axis=1, keepdims=True)
    shape = (A,) if inst.kind == "bandit" else (S, A)
    pi = np.array(as_distribution("init", init, shape)).reshape(S, A)
    off = (pi > 0) & (inst.mdp.mu == 0)
    if beta > 0 and off.any():
        s, a = (int(i[0]) for i in np.nonzero(off))
        where = f"init[{a}]" if inst.kind == "bandit" else f"init[{s}, {a}]"
        raise ValueError(f"{where} is {pi[s, a]:.6g} > 0 where the reference is 0: with beta > 0 a zero-probability "
                         f"reference action is never played (its KL is infinite); expected init = 0 there")
    return pi


# --------------------------------------------------------------------------- optimum
def optimum(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """``(pi* [S, A] one-hot, V* [S])``: :func:`polopt.exact.solve_mdp` (certified bracket), then one exact
    policy-iteration round from its policy (an exact evaluation; it improves only at a near-tie)."""
    start = np.asarray(_dp.solve_mdp(mdp).policy, dtype=np.int64)
    star = _dp.policy_iteration(mdp, pi0=start, record=False)
    return one_hot(star.policy, mdp.num_actions), star.v


def _soft_optimum(mdp: TabularMDP, tau: float):
    shift = tau * np.log(mdp.num_actions) / (1.0 - mdp.gamma)
    svi = _soft.soft_value_iteration(mdp, tau)
    return svi.policy, svi.v + shift, shift


def regularized_optimum(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """``(pi*_beta [S, A], V*_beta [S])`` of the RLHF objective of ``mdp`` (its ``beta > 0`` and reference):
    :func:`polopt.exact.soft.soft_value_iteration` (certified ``||v - v*|| <= tol``), its Gibbs policy
    evaluated exactly (so that ``V*_beta`` is the value of ``pi*_beta``, not a value-iteration iterate)."""
    svi = _soft.soft_value_iteration(mdp, mdp.beta, mdp.mu)
    return svi.policy, _soft.regularized_policy_evaluation(mdp, svi.policy, mdp.beta, mdp.mu)


# --------------------------------------------------------------------------- defaults the table reads
def _akm_defaults(problem, iters: int, given: dict) -> dict:
    """AKM's softmax-PG step ``(1 - gamma)^3 / 8`` (Thm 5.1; ``/span`` is the caller's)."""
    return {"eta": (1.0 - _gamma(problem)) ** 3 / 8.0}


def _projected_defaults(problem, iters: int, given: dict) -> dict:
    """AKM Thm 4.1's ``(1 - gamma)^3 / (2 gamma A)`` (1 at gamma = 0)."""
    g, A = _gamma(problem), problem.num_actions
    return {"eta": (1.0 - g) ** 3 / (2.0 * g * A) if g > 0 else 1.0}


def _entropy_npg_defaults(problem, iters: int, given: dict) -> dict:
    """``tau`` is required; ``eta = (1 - gamma)/tau`` (soft policy iteration, the largest admissible step)."""
    if given.get("tau") is None:
        raise TypeError("entropy_npg: tau is required (the entropy temperature, > 0)")
    tau = coefficient("entropy_npg", "tau", given["tau"], low_open=True)
    return {"eta": _pg.entropy_npg_limit(_gamma(problem), tau)}


def _constant(**values) -> Callable[[object, int, dict], dict]:
    return lambda problem, iters, given: dict(values)


# --------------------------------------------------------------------------- the runner
def _lazy(fn: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """``fn`` computed once, on the first call, with one BLAS thread."""
    box: list = []

    def get():
        if not box:
            with single_threaded():
                box.append(fn())
        return box[0]

    return get


def run_pg_rule(name: str, problem, *, iters: int, init, seed, **hparams) -> SolveResult:
    """Run the PG rule of table row ``name`` through the driver and assemble its SolveResult."""
    from ..methods import lookup
    from ..solve import run_rule

    row = lookup(name)
    reject_unknown(name, hparams, row.hparam_names())
    hp = dict(hparams)
    tol = hp.pop("tol", None)
    tol = None if tol is None else as_scalar("tol", tol, low=0.0)
    record = as_positive_int("record", hp.pop("record", 1))
    given = {k: v for k, v in hp.items() if v is not None}
    for k, v in row.defaults(problem, iters, given).items():
        given.setdefault(k, v)
    rule = row.rule(**given)
    tau = float(getattr(rule.hparams, "tau", 0.0) or 0.0)

    inst = _instance(problem)
    mdp = inst.mdp
    beta = float(mdp.beta)
    if beta > 0 and tau > 0:
        raise ValueError(f"{name}: tau = {tau:g} > 0 on a problem with beta = {beta:g} > 0 would regularize twice; "
                         "the entropy is the KL to the uniform reference: pose it as the problem's reference")
    gamma, rho = float(mdp.gamma), np.asarray(mdp.rho, dtype=np.float64)
    log_mu = _pg.log_policy(np.asarray(mdp.mu, dtype=np.float64)) if beta > 0 else None
    oracle = MDPOracle(inst.P, np.asarray(mdp.r, dtype=np.float64), gamma, rho, tau, log_mu, beta)
    state = rule.init(_pg.log_policy(_init_policy(inst, init)), oracle)
    regularized = tau > 0 or beta > 0

    def values_of(block):  # log-policies [n, S, A] -> V^{pi_t} [n, S] (polopt.exact, not the oracle)
        return np.stack([_ev.policy_value(mdp, softmax(lp)) for lp in block])

    with single_threaded():
        if beta > 0:
            soft_pi, soft_v = regularized_optimum(mdp)

            def reg_values_of(block):  # the RLHF objective V_beta^{pi_t} [n, S] (polopt.exact.soft)
                return np.stack([_soft.regularized_policy_evaluation(mdp, softmax(lp), beta, mdp.mu) for lp in block])

            main_values, v_main, opt = reg_values_of, soft_v, Optimum(_out(inst, soft_pi), soft_v)
        elif tau > 0:
            soft_pi, soft_v, shift = _soft_optimum(mdp, tau)

            def reg_values_of(block):
                return np.stack([_soft.regularized_policy_evaluation(mdp, softmax(lp), tau) + shift for lp in block])

            main_values, v_main, opt = reg_values_of, soft_v, Optimum(_out(inst, soft_pi), soft_v)
        else:
            pi_star, v_star = optimum(mdp)
            main_values, v_main, opt = values_of, v_star, Optimum(_out(inst, pi_star), v_star)

        seen: list[np.ndarray] = []  # main values of the records, filled by the stopping certificate

        def gaps(vals):
            return np.array([certificates.suboptimality(v, v_main, rho) for v in vals])

        def stop(block):
            vals = main_values(block)
            seen.append(vals)
            return gaps(vals)

        traj = run_rule(rule, oracle, state, iters, stop=None if tol is None else stop, tol=tol, record=record)

    records = traj.records  # [T+1, S, A] log-policies
    n = records.shape[0]
    pols = softmax(records)

    def main_all():
        done = np.concatenate(seen) if seen else np.empty((0,) + rho.shape)
        return done[:n] if done.shape[0] >= n else main_values(records)

    main_lazy = _lazy(main_all)
    values = _lazy(lambda: values_of(records)) if regularized else main_lazy
    if not regularized:
        certs = {"suboptimality": (traj.stop_values if traj.stop_values is not None
                                   else _lazy(lambda: gaps(main_lazy())))}
        info = {"values": values}
    else:
        v_star = _lazy(lambda: optimum(mdp)[1])  # the unregularized optimum, only when its certificate is read
        plain = _lazy(lambda: np.array([certificates.suboptimality(v, v_star(), rho) for v in values()]))
        main = traj.stop_values if traj.stop_values is not None else _lazy(lambda: gaps(main_lazy()))
        kl = _lazy(lambda: certificates.kl_log_q(soft_pi, records) @ rho)
        if beta > 0:  # the problem's objective is the regularized one: its gap is "suboptimality", as for dpo, grpo
            certs = {"suboptimality": main, "kl_to_optimum": kl, "suboptimality_unregularized": plain}
        else:
            certs = {"suboptimality": plain, "suboptimality_regularized": main, "kl_to_optimum": kl}
        info = {"values": values, "regularized_values": main_lazy}
    info.update(gamma=gamma, rho=rho)
    if record > 1:
        info["recorded"] = traj.steps

    if (not regularized or beta > 0) and seen:
        final_v = main_lazy()[-1]
    else:
        with single_threaded():
            final_v = main_values(records[-1:])[0] if beta > 0 else _ev.policy_value(mdp, pols[-1])
    used = dict(rule.hparams._asdict())
    return SolveResult(
        policy=_out(inst, pols[-1]),
        iterates=_out(inst, pols),
        value=float(final_v[0]) if inst.kind == "bandit" else final_v,
        optimum=opt,
        certificates=LazyCertificates(certs),
        status=traj.status,
        method=name,
        hparams={**used, "tol": tol},
        num_iter=traj.num_iter,
        info=LazyCertificates(info),
        problem=problem,
    )


def runner(name: str):
    """The table's ``run`` for row ``name``."""
    return runner_for(name, run_pg_rule)


def rows():
    """The method-table rows of the policy-gradient family (:class:`polopt.methods.Method`)."""
    from ..methods import Method

    def row(name, rule, summary, defaults, aliases=()):
        if name in REGULARIZED:
            return Method(name, is_pg_instance, runner(name), summary, rule, aliases, defaults, COMMON, "pg",
                          "a discounted MDP whose dense kernel P [S, A, S] fits in memory (the exact PG oracle "
                          "solves dense systems), or a bandit / contextual bandit (any beta >= 0)")
        return Method(name, is_pg_problem, runner(name), summary, rule, aliases, defaults, COMMON, "pg",
                      "a discounted MDP whose dense kernel P [S, A, S] fits in memory (the exact PG oracle solves "
                      "dense systems), or a bandit / contextual bandit, with beta = 0 (for beta > 0: "
                      + ", ".join(REGULARIZED) + ")")

    return (
        row("softmax_pg", _pg.softmax_pg,
            "softmax policy gradient with exact gradients (AKM 2019; Mei et al. 2020); tau for entropy",
            _akm_defaults),
        row("log_barrier_pg", _pg.log_barrier_pg,
            "softmax PG on the log-barrier regularized objective (AKM 2019, Thm 5.2)", _akm_defaults),
        row("projected_pg", _pg.projected_pg,
            "projected gradient ascent, direct parametrization (AKM 2019, Thm 4.1)", _projected_defaults),
        row("npg", _pg.npg,
            "natural policy gradient = soft policy iteration pi exp(eta A/(1-gamma)) (AKM 2019, Thm 5.3)",
            _constant(eta=1.0)),
        row("entropy_npg", _pg.entropy_npg, "entropy-regularized NPG (Cen et al. 2020), linear rate 1 - eta tau",
            _entropy_npg_defaults),
        row("policy_mirror_descent", _pg.policy_mirror_descent,
            "policy mirror descent, KL or Euclidean, constant/geometric/adaptive steps (Lan; Xiao)",
            _constant(eta=1.0)),
        row("mdpo", _pg.mdpo, "on-policy MDPO, exact tabular step pi exp(t_k A) (Tomar et al. 2020)",
            _constant(eta=1.0)),
        row("trpo", _pg.trpo, "exact KL-trust-region step (Schulman et al. 2015)", _constant(delta=0.01)),
        row("ppo", _br.ppo,
            "PPO-clip with the clipped surrogate maximized exactly per state (non-unique; canonical maximizer)",
            _constant()),
        row("bounded_ratio", _br.bounded_ratio,
            "Bounded Ratio RL: analytic optimum per state, median/fractional ties, tanh target (Ao et al.)",
            _constant(), aliases=("brrl",)),
        row("bpo", _br.bpo,
            "BPO: subgradient descent on the advantage-weighted TV loss toward the BRRL target (Ao et al.)",
            _constant()),
    )

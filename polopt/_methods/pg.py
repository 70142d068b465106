"""``solve`` adapters for the policy-gradient / mirror-descent / bounded-ratio rules.

``po.solve(problem, method=NAME, iters=T, init=pi0, **hparams)`` on a discounted
:class:`~polopt.problems.TabularMDP` (or LinearMixtureMDP via ``as_tabular()``), a :class:`Bandit` or a
:class:`ContextualBandit` with ``beta = 0`` (one-step MDPs: ``gamma = 0``, start distribution = contexts).
The oracle is :func:`polopt.rules.pg.evaluate` (dense); the certificates use :mod:`polopt.exact` independently.

=========================  ==================================================  ===================================
method                     hparams (default)                                   rule
=========================  ==================================================  ===================================
``softmax_pg``             eta ((1-gamma)^3/8), tau (0: unregularized)         ``pg.softmax_pg_update``
``log_barrier_pg``         eta ((1-gamma)^3/8), lam (1e-3)                     ``log_barrier_pg_update``
``projected_pg``           eta ((1-gamma)^3/(2 gamma A); 1 if gamma = 0)       ``projected_pg_update``
``npg``                    eta (1.0; ``inf`` = policy iteration)               ``npg_update``
``entropy_npg``            tau (required), eta ((1-gamma)/tau, <= that)        ``entropy_npg_update``
``policy_mirror_descent``  eta (1.0), bregman ("kl"|"euclidean"),              ``policy_mirror_descent_update``
                           schedule ("constant"|"geometric"|"adaptive"),
                           growth (1/gamma), c0 (1.0)
``mdpo``                   eta (1.0), anneal (None)                            ``mdpo_update``
``trpo``                   delta (0.01)                                        ``trpo_update``
``ppo``                    eps (0.2) or lo, hi                                 ``bounded_ratio.ppo_update``
``bounded_ratio``/``brrl`` eps (0.2) or lo, hi; tie ("median"|"fractional");   ``bounded_ratio_update``
                           lam (0: hard target; > 0: tanh target)
``bpo``                    eps/lo/hi, tie, lam as above; eta (1.0),            ``bpo_update``
                           epochs (10)
=========================  ==================================================  ===================================

Every method also accepts ``tol``: the run stops (status ``"converged"``) at the first iterate whose
main certificate is ``<= tol``; without ``tol`` the status is ``"max_iter"`` (or ``"nonfinite"``).

Result: ``policy`` / ``iterates [T+1, ...]`` of shape ``[S, A]`` (``[K]`` for a Bandit, ``[X, K]`` for a
ContextualBandit); ``value`` = ``V [S]`` of the final policy (Bandit: the float ``pi . r``; contextual:
``[X]``); ``optimum = Optimum(pi*, V*)`` from :func:`polopt.exact.policy_iteration` (soft optimum of
:func:`polopt.exact.soft.soft_value_iteration` when ``tau > 0``, values in the entropy convention
``V_tau = v_beta + tau log A / (1 - gamma)``). Certificates ``[T+1]``:

* ``"suboptimality"`` ``rho . (V* - V^{pi_t})`` (unregularized optimum; ``rho`` = start distribution /
  contexts) via :func:`polopt.certificates.suboptimality`;
* with ``tau > 0`` (``softmax_pg`` with tau, ``entropy_npg``): ``"suboptimality_regularized"``
  ``rho . (V*_tau - V_tau^{pi_t})`` and ``"kl_to_optimum"`` ``sum_s rho(s) KL(pi*_tau(s) || pi_t(s))``.

``info``: ``"values"`` ``[T+1, S]`` (unregularized ``V^{pi_t}``), ``"regularized_values"`` when ``tau > 0``,
``"gamma"``, ``"rho"``. Bad input raises ValueError / TypeError naming the argument (eta <= 0, eps outside
(0, 1), bounds not ``0 <= lo < 1 < hi``, init off the simplex, unknown hyper-parameters).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import certificates
from .._validation import as_distribution, as_positive_int, as_scalar
from ..exact import dp as _dp
from ..exact import evaluation as _ev
from ..exact import soft as _soft
from ..exact._ops import one_hot
from ..problems import Bandit, ContextualBandit, LinearMixtureMDP, TabularMDP
from ..result import CONVERGED, Optimum, SolveResult
from ..rules import bounded_ratio as _br
from ..rules import pg as _pg
from ..solve import register
from . import reject_unknown
from ._iterative import iterate, step_size


class _Instance(NamedTuple):
    mdp: TabularMDP  # discounted (gamma = 0 for bandits)
    P: np.ndarray  # dense [S, A, S]
    kind: str  # "mdp" | "bandit" | "contextual"


def _applies(problem) -> bool:
    if isinstance(problem, (Bandit, ContextualBandit)):
        return problem.beta == 0.0
    return isinstance(problem, (TabularMDP, LinearMixtureMDP)) and problem.criterion == "discounted"


def _instance(problem) -> _Instance:
    if isinstance(problem, (Bandit, ContextualBandit)):
        contexts = problem.rho if isinstance(problem, ContextualBandit) else None
        P, r, gamma, rho = _pg.bandit_as_mdp_arrays(problem.r, contexts)
        kind = "contextual" if isinstance(problem, ContextualBandit) else "bandit"
        return _Instance(TabularMDP(P, r, gamma=gamma, rho=rho), P, kind)
    mdp = problem.as_tabular() if isinstance(problem, LinearMixtureMDP) else problem
    return _Instance(mdp, np.asarray(mdp.dense_P()), "mdp")


def _out(inst: _Instance, x):
    """Strip the single state axis of a Bandit's policies / values."""
    return x[..., 0, :] if inst.kind == "bandit" else x


def _init_policy(inst: _Instance, init) -> np.ndarray:
    S, A = inst.mdp.num_states, inst.mdp.num_actions
    if init is None:
        return np.full((S, A), 1.0 / A)
    shape = (A,) if inst.kind == "bandit" else (S, A)
    pi = np.array(as_distribution("init", init, shape))
    return pi.reshape(S, A)


# --------------------------------------------------------------------------- hyper-parameters
def _eta(hp, default, allow_inf=False):
    eta = step_size("eta", hp.get("eta"), default)
    if eta == np.inf and not allow_inf:
        raise ValueError("eta must be finite for this method (eta = inf is the policy-iteration limit of npg / pmd)")
    return eta


def _tau(hp, required=False):
    if "tau" not in hp and required:
        raise TypeError("tau is required (the entropy temperature, > 0)")
    tau = hp.get("tau", 0.0)
    return as_scalar("tau", tau, low=0.0, low_open=required)


def _choice(hp, name, options, default):
    value = hp.get(name, default)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value


def _bounds(hp):
    if "lo" in hp or "hi" in hp:
        return _br.check_bounds(eps=hp.get("eps"), lo=hp.get("lo"), hi=hp.get("hi"))
    return _br.check_bounds(eps=hp.get("eps", 0.2))


def _lam(hp):
    return as_scalar("lam", hp.get("lam", 0.0), low=0.0)


def _configure(method, hp, gamma, A):
    """(update function with its keywords bound, tau, recorded hparams) for ``method``."""
    g = gamma
    pgd = (1.0 - g) ** 3 / 8.0
    if method == "softmax_pg":
        eta, tau = _eta(hp, pgd), _tau(hp)
        return (lambda s, o: _pg.softmax_pg_update(s, o, eta=eta, gamma=g)), tau, {"eta": eta, "tau": tau}
    if method == "log_barrier_pg":
        eta = _eta(hp, pgd)
        lam = as_scalar("lam", hp.get("lam", 1e-3), low=0.0)
        return (lambda s, o: _pg.log_barrier_pg_update(s, o, eta=eta, gamma=g, lam=lam)), 0.0, {"eta": eta,
                                                                                              "lam": lam}
    if method == "projected_pg":
        eta = _eta(hp, (1.0 - g) ** 3 / (2.0 * g * A) if g > 0 else 1.0)
        return (lambda s, o: _pg.projected_pg_update(s, o, eta=eta, gamma=g)), 0.0, {"eta": eta}
    if method == "npg":
        eta = _eta(hp, 1.0, allow_inf=True)
        return (lambda s, o: _pg.npg_update(s, o, eta=eta, gamma=g)), 0.0, {"eta": eta}
    if method == "entropy_npg":
        tau = _tau(hp, required=True)
        limit = (1.0 - g) / tau
        eta = _eta(hp, limit)
        if eta > limit * (1.0 + 1e-12):
            raise ValueError(f"eta must lie in (0, (1 - gamma)/tau] = (0, {limit:g}] for entropy_npg, got {eta:g}")
        eta = min(eta, limit)
        return (lambda s, o: _pg.entropy_npg_update(s, o, eta=eta, gamma=g, tau=tau)), tau, {"eta": eta,
                                                                                           "tau": tau}
    if method == "policy_mirror_descent":
        eta = _eta(hp, 1.0, allow_inf=True)
        bregman = _choice(hp, "bregman", ("kl", "euclidean"), "kl")
        schedule = _choice(hp, "schedule", ("constant", "geometric", "adaptive"), "constant")
        growth = hp.get("growth")
        if growth is not None:
            growth = as_scalar("growth", growth, low=1.0)
        c0 = as_scalar("c0", hp.get("c0", 1.0), low=0.0, low_open=True)
        kw = {"eta": eta, "gamma": g, "bregman": bregman, "schedule": schedule, "growth": growth, "c0": c0}
        return (lambda s, o: _pg.policy_mirror_descent_update(s, o, **kw)), 0.0, {
            k: v for k, v in kw.items() if k != "gamma"}
    if method == "mdpo":
        eta = _eta(hp, 1.0)
        anneal = hp.get("anneal")
        if anneal is not None:
            anneal = as_positive_int("anneal", anneal)
        return (lambda s, o: _pg.mdpo_update(s, o, eta=eta, anneal=anneal)), 0.0, {"eta": eta, "anneal": anneal}
    if method == "trpo":
        delta = as_scalar("delta", hp.get("delta", 0.01), low=0.0, low_open=True)
        return (lambda s, o: _pg.trpo_update(s, o, delta=delta)), 0.0, {"delta": delta}
    lo, hi = _bounds(hp)
    if method == "ppo":
        return (lambda s, o: _br.ppo_update(s, o, lo=lo, hi=hi)), 0.0, {"lo": lo, "hi": hi}
    tie = _choice(hp, "tie", ("median", "fractional"), "median")
    lam = _lam(hp)
    if method in ("bounded_ratio", "brrl"):
        return (lambda s, o: _br.bounded_ratio_update(s, o, lo=lo, hi=hi, tie=tie, lam=lam)), 0.0, {
            "lo": lo, "hi": hi, "tie": tie, "lam": lam}
    # bpo
    eta = _eta(hp, 1.0)
    epochs = as_positive_int("epochs", hp.get("epochs", 10))
    return (lambda s, o: _br.bpo_update(s, o, lo=lo, hi=hi, tie=tie, lam=lam, eta=eta, epochs=epochs)), 0.0, {
        "lo": lo, "hi": hi, "tie": tie, "lam": lam, "eta": eta, "epochs": epochs}


_ALLOWED = {
    "softmax_pg": ("eta", "tau"),
    "log_barrier_pg": ("eta", "lam"),
    "projected_pg": ("eta",),
    "npg": ("eta",),
    "entropy_npg": ("eta", "tau"),
    "policy_mirror_descent": ("eta", "bregman", "schedule", "growth", "c0"),
    "mdpo": ("eta", "anneal"),
    "trpo": ("delta",),
    "ppo": ("eps", "lo", "hi"),
    "bounded_ratio": ("eps", "lo", "hi", "tie", "lam"),
    "brrl": ("eps", "lo", "hi", "tie", "lam"),
    "bpo": ("eps", "lo", "hi", "tie", "lam", "eta", "epochs"),
}


# --------------------------------------------------------------------------- run
def _soft_optimum(mdp: TabularMDP, tau: float):
    shift = tau * np.log(mdp.num_actions) / (1.0 - mdp.gamma)
    svi = _soft.soft_value_iteration(mdp, tau)
    return svi.policy, svi.v + shift, shift


def _run(method: str, problem, iters: int, init, hparams: dict) -> SolveResult:
    reject_unknown(method, hparams, (*_ALLOWED[method], "tol"))
    tol = hparams.get("tol")
    if tol is not None:
        tol = as_scalar("tol", tol, low=0.0)
    inst = _instance(problem)
    mdp = inst.mdp
    gamma, rho = mdp.gamma, np.asarray(mdp.rho)
    update, tau, used = _configure(method, {k: v for k, v in hparams.items() if k != "tol"}, gamma,
                                   mdp.num_actions)
    pi0 = _init_policy(inst, init)

    def step(state):
        return update(state, _pg.evaluate(inst.P, mdp.r, gamma, np.exp(state.log_pi), rho, tau))

    traj = iterate(_pg.policy_init(pi0), step, iters, lambda s: np.exp(s.log_pi))
    pols = traj.iterates
    star = _dp.policy_iteration(mdp)
    pi_star = one_hot(star.policy, mdp.num_actions)
    values = np.stack([_ev.policy_value(mdp, p) for p in pols])
    certs = {"suboptimality": np.array([certificates.suboptimality(v, star.v, rho) for v in values])}
    info = {"values": values, "gamma": gamma, "rho": rho}
    optimum = Optimum(_out(inst, pi_star), star.v)
    main = "suboptimality"
    if tau > 0:
        soft_pi, soft_v, shift = _soft_optimum(mdp, tau)
        reg = np.stack([_soft.regularized_policy_evaluation(mdp, p, tau) + shift for p in pols])
        certs["suboptimality_regularized"] = np.array([certificates.suboptimality(v, soft_v, rho) for v in reg])
        certs["kl_to_optimum"] = np.array([certificates.kl_to_optimum(p, soft_pi, rho) for p in pols])
        info["regularized_values"] = reg
        optimum = Optimum(_out(inst, soft_pi), soft_v)
        main = "suboptimality_regularized"
    status, T = traj.status, traj.num_iter
    if tol is not None:
        hit = np.flatnonzero(certs[main] <= tol)
        if hit.size:
            T = int(hit[0])
            status = CONVERGED
            pols, values = pols[: T + 1], values[: T + 1]
            certs = {k: v[: T + 1] for k, v in certs.items()}
            info = {k: (v[: T + 1] if k in ("values", "regularized_values") else v) for k, v in info.items()}
    final_v = values[-1]
    value = float(final_v[0]) if inst.kind == "bandit" else final_v
    return SolveResult(
        policy=_out(inst, pols[-1]),
        iterates=_out(inst, pols),
        value=value,
        optimum=optimum,
        certificates=certs,
        status=status,
        method=method,
        hparams=used,
        num_iter=T,
        info=info,
        problem=problem,
    )


_SUMMARIES = {
    "softmax_pg": "softmax policy gradient with exact gradients (AKM 2019; Mei et al. 2020); tau for entropy",
    "log_barrier_pg": "softmax PG on the log-barrier regularized objective (AKM 2019, Thm 5.2)",
    "projected_pg": "projected gradient ascent, direct parametrization (AKM 2019, Thm 4.1)",
    "npg": "natural policy gradient = soft policy iteration pi exp(eta A/(1-gamma)) (AKM 2019, Thm 5.3)",
    "entropy_npg": "entropy-regularized NPG (Cen et al. 2020), linear rate 1 - eta tau",
    "policy_mirror_descent": "policy mirror descent, KL or Euclidean, constant/geometric/adaptive steps (Lan; Xiao)",
    "mdpo": "on-policy MDPO, exact tabular step pi exp(t_k A) (Tomar et al. 2020)",
    "trpo": "exact KL-trust-region step (Schulman et al. 2015)",
    "ppo": "PPO-clip with the clipped surrogate maximized exactly per state (non-unique; canonical maximizer)",
    "bounded_ratio": "Bounded Ratio RL: analytic optimum per state, median/fractional ties, tanh target (Ao et al.)",
    "brrl": "alias of bounded_ratio",
    "bpo": "BPO: subgradient descent on the advantage-weighted TV loss toward the BRRL target (Ao et al.)",
}


def _make(name):
    def run(problem, *, iters, init, seed, **hparams):
        return _run(name, problem, iters, init, hparams)

    run.__name__ = f"_{name}"
    return run


for _name, _summary in _SUMMARIES.items():
    register(_name, applies=_applies, summary=_summary)(_make(_name))

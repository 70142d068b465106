"""``solve`` adapters for the LLM-style policy-gradient estimators on (contextual) bandits.

Methods ``reinforce``, ``remax``, ``rloo``, ``grpo``, ``dr_grpo``, ``oblr_po`` run softmax
policy-gradient ascent ``theta <- theta + eta g`` on the logits of a :class:`~polopt.Bandit` or
:class:`~polopt.ContextualBandit`, with the estimator ``g`` of :mod:`polopt.rules.estimators`:

* ``mode="exact"`` (default): ``g = E[g_hat]``, the exact expectation of the estimator for
  ``group_size`` (from :mod:`polopt.exact.estimators`: closed form or enumeration). Unbiased
  estimators then follow the exact policy gradient; ``dr_grpo`` follows ``(G-1)/G`` of it;
  ``grpo`` follows its biased expectation. Deterministic.
* ``mode="sampled"``: ``g`` is the mean of ``num_samples`` group estimates, each from
  ``group_size`` arms drawn from the current policy (context ``x ~ rho`` per group for a
  contextual bandit); reproducible from ``seed``.

Objective: ``J(pi) = E_pi r - beta KL(pi || mu)`` (``rho``-averaged over contexts) with the
problem's ``beta``. KL enters the reward (``R = r - beta log(pi/mu)``, unbiased) for every method
except ``grpo`` / ``dr_grpo``, which put GRPO's k3 (or k1) estimator into the loss by default
(``kl="k3"``; ``kl="reward"`` shapes the reward instead): their in-loss KL pulls along the
gradient of ``KL(mu || pi)`` (k3) or not at all in expectation (k1), see
:func:`polopt.rules.estimators.kl_loss_coefficient`.

``oblr_po``: the gradient-weighted leave-one-out baseline and the SNR-adaptive step
``eta_t = SNR_t / ((1 + SNR_t) L)``, ``SNR = ||grad J||^2 / tr Cov(g)``, with ``L`` the
smoothness constant of ``J`` (``smoothness``; default ``(5/2) max_x rho_x span(r_x)`` when
``beta = 0``, Mei et al.'s constant; required when ``beta > 0``). In exact mode ``SNR`` is exact
(``tr Cov`` of the mean of ``num_samples`` groups); in sampled mode it is estimated from the
``num_samples >= 2`` group estimates of the iteration.

Hyper-parameters (all by their maths names): ``eta`` (step, default 1; not for ``oblr_po``),
``group_size`` (G, default 8; >= 2 except for reinforce / remax), ``num_samples`` (groups per
iteration, default 1, or 2 for sampled ``oblr_po``), ``mode``, ``baseline`` (reinforce: a
number or "optimal" for the exact gradient-weighted constant ``b*``), ``std_eps`` / ``ddof``
(grpo), ``kl``, ``eps`` / ``epochs`` (grpo / dr_grpo: PPO clipping over ``epochs`` gradient steps
on each sampled batch; sampled mode only when ``epochs > 1``), ``smoothness`` (oblr_po), ``tol``
(stop with status "converged" once ``||grad J(pi_t)|| <= tol``; default: run all ``iters``).

Result: ``iterates`` [T+1, K] (or [T+1, X, K]); certificates per iterate ``"suboptimality"``
(``J* - J(pi_t)``) and ``"kl_to_optimum"`` (``KL(pi* || pi_t)``, ``rho``-weighted) against the
closed-form optimum ``pi* = mu exp(r/beta)/Z`` (uniform on ``argmax r`` when ``beta = 0``);
``info``: ``"objective"`` [T+1], ``"grad_norm"`` [T+1] (exact ``||grad J||``), ``"samples"`` [T+1]
(arms drawn so far: ``num_samples G`` per iteration, also charged in exact mode so that budgets
compare), ``"step_sizes"`` [T], and in exact mode ``"bias_norm"`` / ``"variance"`` [T+1] of the
estimator at each iterate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import certificates
from .._validation import as_positive_int, as_scalar
from ..exact import estimators as _ex
from ..exact.soft import regularized_bandit_optimum
from ..oracles.sampling import as_generator, sample_categorical
from ..problems import Bandit, ContextualBandit
from ..result import CONVERGED, MAX_ITER, NONFINITE, Optimum, SolveResult
from ..rules import estimators as _est
from ..rules._core import log_normalize, softmax
from ..solve import register
from . import reject_unknown

_COMMON = ("eta", "group_size", "num_samples", "mode", "tol")
_ALLOWED = {
    "reinforce": _COMMON + ("baseline",),
    "remax": _COMMON,
    "rloo": _COMMON,
    "grpo": _COMMON + ("std_eps", "ddof", "kl", "eps", "epochs"),
    "dr_grpo": _COMMON + ("kl", "eps", "epochs"),
    "oblr_po": ("group_size", "num_samples", "mode", "tol", "smoothness"),
}
_ESTIMATOR_OF = {"reinforce": "reinforce", "remax": "remax", "rloo": "rloo", "grpo": "grpo", "dr_grpo": "dr_grpo",
                 "oblr_po": "oblr"}
DEFAULT_GROUP_SIZE = 8
#: PPO's clip range (Schulman et al. 2017 use 0.2).
DEFAULT_EPS = 0.2


class _Setup(NamedTuple):
    method: str
    estimator: str
    eta: float | None
    G: int
    M: int
    mode: str
    tol: float | None
    baseline: object
    std_eps: float
    ddof: int
    kl: str
    eps: float
    epochs: int
    L: float | None


def _is_bandit(problem) -> bool:
    return isinstance(problem, (Bandit, ContextualBandit))


# --------------------------------------------------------------------------- problem as rows
def _rows(problem):
    """``(r [X, K], mu [X, K], rho [X])`` with X = 1 for a plain bandit."""
    if isinstance(problem, Bandit):
        return problem.r[None, :], problem.mu[None, :], np.ones(1)
    return problem.r, problem.mu, problem.rho


def _objective(problem, pi2) -> float:
    r, mu, rho = _rows(problem)
    per = np.sum(pi2 * r, axis=-1)
    if problem.beta > 0:
        per = per - problem.beta * certificates.kl(pi2, mu)
    return float(rho @ per)


def _exact_gradient(problem, pi2) -> np.ndarray:
    """``rho_x grad_{theta_x} J_x`` [X, K]: the softmax gradient of the (KL-shaped) reward."""
    r, mu, rho = _rows(problem)
    R = r if problem.beta == 0 else _est.shaped_reward(r, np.log(pi2), np.log(mu), problem.beta)
    return rho[:, None] * _est.policy_gradient(pi2, R)


# --------------------------------------------------------------------------- hyper-parameters
def _parse(method: str, problem, hparams: dict) -> _Setup:
    reject_unknown(method, hparams, _ALLOWED[method])
    estimator = _ESTIMATOR_OF[method]
    mode = hparams.get("mode", "exact")
    if mode not in ("exact", "sampled"):
        raise ValueError(f"mode must be 'exact' or 'sampled', got {mode!r}")
    G = as_positive_int("group_size", hparams.get("group_size", DEFAULT_GROUP_SIZE))
    _est.check_estimator(estimator, G)
    default_m = 2 if (method == "oblr_po" and mode == "sampled") else 1
    M = as_positive_int("num_samples", hparams.get("num_samples", default_m))
    if method == "oblr_po" and mode == "sampled" and M < 2:
        raise ValueError(
            f"num_samples must be >= 2 for sampled oblr_po (the SNR step estimates a variance from the "
            f"num_samples group estimates of an iteration), got {M}"
        )
    eta = None if method == "oblr_po" else as_scalar("eta", hparams.get("eta", 1.0), low=0.0, low_open=True)
    tol = hparams.get("tol")
    tol = None if tol is None else as_scalar("tol", tol, low=0.0)
    baseline = hparams.get("baseline", 0.0)
    if not (isinstance(baseline, str) and baseline == "optimal"):
        baseline = as_scalar("baseline", baseline)
    # GRPO's KL sits in the loss (k3); without a KL term (beta = 0) there is nothing to place
    default_kl = "k3" if (method in ("grpo", "dr_grpo") and problem.beta > 0) else "reward"
    kl = hparams.get("kl", default_kl)
    if kl not in ("reward", "k1", "k3"):
        raise ValueError(f"kl must be 'reward', 'k1' or 'k3', got {kl!r}")
    if kl != "reward" and problem.beta <= 0:
        raise ValueError(f"beta must be > 0 where a KL term is used (kl={kl!r}), got beta = {problem.beta:g}")
    eps = as_scalar("eps", hparams.get("eps", DEFAULT_EPS), low=0.0, high=1.0, low_open=True, high_open=True)
    epochs = as_positive_int("epochs", hparams.get("epochs", 1))
    if epochs > 1 and mode == "exact":
        raise ValueError(f"epochs > 1 (PPO clipping over several steps) needs mode='sampled', got epochs = {epochs}")
    ddof = hparams.get("ddof", 1)
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    std_eps = as_scalar("std_eps", hparams.get("std_eps", _est.STD_EPS), low=0.0)
    L = None
    if method == "oblr_po":
        if "smoothness" in hparams:
            L = as_scalar("smoothness", hparams["smoothness"], low=0.0, low_open=True)
        elif problem.beta > 0:
            raise ValueError(
                "smoothness (a smoothness constant L of the KL-regularized objective) is required for oblr_po "
                f"when beta > 0; got beta = {problem.beta:g} and no smoothness"
            )
        else:
            r, _, rho = _rows(problem)
            L = max(float(rho[x]) * _ex.softmax_smoothness(r[x]) for x in range(len(rho)))
            if L == 0.0:
                L = 1.0  # constant rewards: every step is flat, any L > 0 is valid
    return _Setup(method, estimator, eta, G, M, mode, tol, baseline, std_eps, ddof, kl, eps, epochs, L)


def _init_logits(problem, init) -> np.ndarray:
    r, mu, _ = _rows(problem)
    if init is None:
        pi0 = mu if np.all(mu > 0) else np.full(r.shape, 1.0 / r.shape[1])
        return np.log(pi0)
    from .._validation import as_distribution, as_float_array

    shape = (problem.num_actions,) if isinstance(problem, Bandit) else r.shape
    pi0 = as_distribution("init", as_float_array("init", init), shape).reshape(r.shape)
    bad = np.flatnonzero(pi0.ravel() <= 0)
    if bad.size:
        idx = np.unravel_index(bad[0], shape)
        raise ValueError(
            f"init[{', '.join(map(str, idx))}] is 0: a softmax policy needs init > 0 everywhere (logits are log init)"
        )
    return np.log(pi0)


def _baseline_rows(s: _Setup, pi2, R2):
    if isinstance(s.baseline, str):
        return _est.optimal_baseline(pi2, R2)
    return np.full(pi2.shape[0], s.baseline)


def _reward_rows(problem, s: _Setup, pi2):
    """Rewards fed to the estimator and the per-action in-loss coefficient ``c``."""
    r, mu, _ = _rows(problem)
    beta = problem.beta
    if beta == 0:
        return r, np.zeros_like(r)
    if s.kl == "reward":
        return _est.shaped_reward(r, np.log(pi2), np.log(mu), beta), np.zeros_like(r)
    return r, -beta * _est.kl_loss_coefficient(np.log(pi2), np.log(mu), s.kl)


# --------------------------------------------------------------------------- one step
def _exact_direction(problem, s: _Setup, pi2):
    """``(E g [X, K] scattered, tr Cov of the mean of M groups, ||bias||)`` exactly."""
    r, mu, rho = _rows(problem)
    R2, _ = _reward_rows(problem, s, pi2)
    base = _baseline_rows(s, pi2, R2)
    means, second = [], 0.0
    for x in range(len(rho)):
        m = _ex.estimator_moments(pi2[x], r[x], s.estimator, s.G, baseline=float(base[x]), beta=problem.beta,
                                  mu=mu[x], kl=s.kl, std_eps=s.std_eps, ddof=s.ddof)
        means.append(rho[x] * m.mean)
        second += rho[x] * (m.variance + float(m.mean @ m.mean))
    mean = np.stack(means)
    trace_cov = (second - float(np.sum(mean * mean))) / s.M
    bias = float(np.linalg.norm(mean - _exact_gradient(problem, pi2)))
    return mean, max(trace_cov, 0.0), bias


def _sampled_direction(problem, s: _Setup, pi2, rng):
    """``(g_bar [X, K] scattered, estimated ||E g||^2, estimated tr Cov g_bar)`` from M groups."""
    r, mu, rho = _rows(problem)
    R2, coef = _reward_rows(problem, s, pi2)
    base = _baseline_rows(s, pi2, R2)
    contextual = isinstance(problem, ContextualBandit)
    if s.epochs == 1:
        out = _est.sample_gradients(rng, pi2 if contextual else pi2[0], R2 if contextual else R2[0], s.estimator,
                                    s.G, s.M, contexts=rho if contextual else None,
                                    baseline=base if contextual else base[0],
                                    loss_coef=coef if contextual else coef[0], std_eps=s.std_eps, ddof=s.ddof,
                                    reduce="mean")
        g = out.grads if contextual else out.grads[None, :]
        if s.M < 2:
            return g, None, None
        tc = _est.trace_cov_from_sums(g, out.sq_norms, s.M) / s.M
        return g, max(float(np.sum(g * g)) - tc, 0.0), tc
    return _clipped_epochs(problem, s, pi2, R2, rng), None, None


def _clipped_epochs(problem, s: _Setup, pi2, R2, rng):
    """``epochs`` clipped-surrogate steps on one batch; returns the total logit change divided by eta."""
    r, mu, rho = _rows(problem)
    X, K = pi2.shape
    ctx = sample_categorical(rng, rho, s.M) if X > 1 else np.zeros(s.M, dtype=np.int64)
    acts = sample_categorical(rng, pi2[ctx], s.G)  # [M, G]
    R = np.take_along_axis(R2[ctx], acts, axis=-1)
    base = _baseline_rows(s, pi2, R2)[ctx]
    w = np.take_along_axis(_est.gradient_weights(pi2[ctx]), acts, axis=-1)
    adv = _est.advantages(R, s.estimator, baseline=base, weights=w, std_eps=s.std_eps, ddof=s.ddof)
    log_old = np.log(pi2)
    theta = log_old.copy()
    kl = None if (problem.beta == 0 or s.kl == "reward") else s.kl
    log_mu = np.log(mu) if kl is not None else None
    for _ in range(s.epochs):
        lp = log_normalize(theta)
        g = _est.clipped_surrogate_gradient(lp[ctx], log_old[ctx], acts, adv, s.eps, beta=problem.beta,
                                            log_mu=None if log_mu is None else log_mu[ctx], kl=kl)
        step = np.zeros((X, K))
        np.add.at(step, ctx, g / s.M)
        theta = theta + s.eta * step
    return (theta - log_old) / s.eta


# --------------------------------------------------------------------------- the loop
def _run(method: str, problem, iters: int, init, seed, hparams) -> SolveResult:
    s = _parse(method, problem, hparams)
    rng = as_generator(seed)
    r, mu, rho = _rows(problem)
    opt = regularized_bandit_optimum(problem)
    pi_star = opt.policy if opt.policy.ndim == 2 else opt.policy[None, :]
    theta = _init_logits(problem, init)
    pols, objective, grad_norm, steps, bias_norm, variance = [], [], [], [], [], []

    def record(pi2):
        pols.append(pi2)
        objective.append(_objective(problem, pi2))
        grad_norm.append(float(np.linalg.norm(_exact_gradient(problem, pi2))))

    pi2 = softmax(theta)
    record(pi2)
    status = MAX_ITER
    for _ in range(iters):
        if s.tol is not None and grad_norm[-1] <= s.tol:
            status = CONVERGED
            break
        if s.mode == "exact":
            d, tc, b = _exact_direction(problem, s, pi2)
            bias_norm.append(b)
            variance.append(tc)
            gsq = float(np.sum(d * d))  # the exact direction is unbiased for oblr
        else:
            d, gsq, tc = _sampled_direction(problem, s, pi2, rng)
        eta = s.eta if s.L is None else float(_est.snr_step_size(gsq, tc, s.L))
        theta = theta + eta * d
        pi_new = softmax(theta)
        if not np.all(np.isfinite(pi_new)):
            status = NONFINITE
            break
        steps.append(eta)
        pi2 = pi_new
        record(pi2)
    else:
        if s.tol is not None and grad_norm[-1] <= s.tol:
            status = CONVERGED
    if s.mode == "exact" and len(bias_norm) < len(pols):
        d, tc, b = _exact_direction(problem, s, pi2)
        bias_norm.append(b)
        variance.append(tc)
    iterates = np.stack(pols)
    T = iterates.shape[0] - 1
    certs = {
        "suboptimality": np.array([certificates.suboptimality(j, opt.value) for j in objective]),
        "kl_to_optimum": np.array([certificates.kl_to_optimum(p, pi_star, weights=rho) for p in iterates]),
    }
    info = {
        "mode": s.mode,
        "objective": np.array(objective),
        "grad_norm": np.array(grad_norm),
        "samples": np.arange(T + 1) * s.M * s.G,
        "step_sizes": np.array(steps),
        "beta": problem.beta,
    }
    if s.mode == "exact":
        info["bias_norm"] = np.array(bias_norm)
        info["variance"] = np.array(variance)
    if s.L is not None:
        info["smoothness"] = s.L
    bandit = isinstance(problem, Bandit)
    out_iterates = iterates[:, 0] if bandit else iterates
    hp = {"group_size": s.G, "num_samples": s.M, "mode": s.mode, "tol": s.tol}
    if s.eta is not None:
        hp["eta"] = s.eta
    if method == "reinforce":
        hp["baseline"] = s.baseline
    if method in ("grpo", "dr_grpo"):
        hp.update(kl=s.kl, eps=s.eps, epochs=s.epochs)
    if method == "grpo":
        hp.update(std_eps=s.std_eps, ddof=s.ddof)
    if method == "oblr_po":
        hp["smoothness"] = s.L
    return SolveResult(
        policy=out_iterates[-1],
        iterates=out_iterates,
        value=objective[-1],
        optimum=Optimum(opt.policy, opt.value),
        certificates=certs,
        status=status,
        method=method,
        hparams=hp,
        num_iter=T,
        info=info,
        problem=problem,
    )


def _make(name: str, summary: str):
    def run(problem, *, iters: int, init=None, seed=None, **hparams) -> SolveResult:
        return _run(name, problem, iters, init, seed, hparams)

    run.__name__ = f"_{name}"
    run.__doc__ = summary
    register(name, applies=_is_bandit, summary=summary)(run)
    return run


_reinforce = _make("reinforce", "REINFORCE (constant or variance-optimal baseline) softmax PG on a bandit")
_remax = _make("remax", "ReMax: REINFORCE with the greedy-arm reward as baseline (arXiv 2310.10505)")
_rloo = _make("rloo", "RLOO: leave-one-out group baseline, unbiased (Kool et al. 2019; arXiv 2402.14740)")
_grpo = _make("grpo", "GRPO: std-normalized group advantage, PPO clip, k3 KL in the loss (arXiv 2402.03300)")
_dr_grpo = _make("dr_grpo", "Dr.GRPO: group-mean advantage without std, E g = (G-1)/G grad J (arXiv 2503.20783)")
_oblr_po = _make("oblr_po", "OBLR-PO: gradient-weighted LOO baseline and SNR-adaptive step (arXiv 2511.23310)")


# The preference-optimization losses live in their own module; a checkout without it still works.
try:
    from . import llm_losses  # noqa: F401
except ModuleNotFoundError as _exc:
    if _exc.name != f"{__package__}.llm_losses":
        raise

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
The update steps are the Rule factories of :mod:`polopt.rules.estimators` (one row each in
:mod:`polopt.methods`), the oracle a :class:`~polopt.oracles.bandit.BanditOracle` (exact moments
from :func:`polopt.exact.estimators.group_moments`, or the numba sampler); the loop is
:func:`polopt.solve.run_rule`, which stops at ``tol`` during the run. Certificates are lazy.
A run whose policy stops being finite (rewards of 1e150, say) ends with status ``"nonfinite"``
(``solve`` warns) and keeps every finite iterate.

``info``: ``"objective"`` [T+1], ``"grad_norm"`` [T+1] (exact ``||grad J||``), ``"samples"`` [T+1]
(arms drawn so far: ``num_samples G`` per iteration, also charged in exact mode so that budgets
compare), ``"step_sizes"`` [T], and in exact mode ``"bias_norm"`` / ``"variance"`` [T+1] of the
estimator at each iterate.
"""

from __future__ import annotations

import numpy as np

from .. import certificates
from .._validation import as_distribution, as_float_array, as_positive_int, as_scalar
from ..exact import estimators as _ex
from ..exact.soft import regularized_bandit_optimum
from ..oracles.bandit import BanditOracle, check_estimator
from ..oracles.sampling import as_generator
from ..problems import Bandit, ContextualBandit
from ..result import LazyCertificates, Optimum, SolveResult
from ..rules import estimators as _est
from . import reject_unknown, runner_for

FAMILY = "llm_estimators"
#: Hyper-parameters every estimator method takes besides its factory's (``beta`` is the problem's).
COMMON = ("group_size", "num_samples", "mode", "tol", "record")
DEFAULT_GROUP_SIZE = 8
DEFAULT_EPS = _est.DEFAULT_EPS
_ESTIMATOR_OF = {"reinforce": "reinforce", "remax": "remax", "rloo": "rloo", "grpo": "grpo", "dr_grpo": "dr_grpo",
                 "oblr_po": "oblr"}


def _is_bandit(problem) -> bool:
    return isinstance(problem, (Bandit, ContextualBandit))


# --------------------------------------------------------------------------- problem as rows
def _rows(problem):
    """``(r [X, K], mu [X, K], rho [X])`` with X = 1 for a plain bandit."""
    if isinstance(problem, Bandit):
        return problem.r[None, :], problem.mu[None, :], np.ones(1)
    return problem.r, problem.mu, problem.rho


def _log(x):
    with np.errstate(divide="ignore"):
        return np.log(x)


def _grad_and_objective(problem, log_pols):
    """Exact ``rho_x grad_{theta_x} J_x`` [N, X, K] and ``J`` [N] of log-policies [N, X, K] (log domain:
    an underflowed probability contributes nothing, as it should)."""
    r, mu, rho = _rows(problem)
    pi = np.exp(log_pols)
    if problem.beta > 0:
        R = np.where(pi > 0, r - problem.beta * (log_pols - _log(mu)), 0.0)
        per = np.sum(np.where(pi > 0, pi * r, 0.0), axis=-1) - problem.beta * certificates.kl_log_q(pi, _log(mu))
    else:
        R = np.broadcast_to(r, pi.shape)
        per = np.sum(pi * r, axis=-1)
    grad = rho[:, None] * pi * (R - np.sum(pi * R, axis=-1, keepdims=True))
    return grad, per @ rho


# --------------------------------------------------------------------------- defaults the table reads
def _kl_default(problem, iters, given):
    # GRPO's KL sits in the loss (k3); without a KL term (beta = 0) there is nothing to place
    return {"kl": "k3" if problem.beta > 0 else "reward"}


def _smoothness_default(problem, iters, given):
    """``(5/2) max_x rho_x span(r_x)`` (Mei et al.'s constant) when beta = 0; required when beta > 0."""
    if "smoothness" in given:
        return {}
    if problem.beta > 0:
        raise ValueError(
            "smoothness (a smoothness constant L of the KL-regularized objective) is required for oblr_po "
            f"when beta > 0; got beta = {problem.beta:g} and no smoothness"
        )
    r, _, rho = _rows(problem)
    L = max(float(rho[x]) * _ex.softmax_smoothness(r[x]) for x in range(len(rho)))
    return {"smoothness": L if L > 0 else 1.0}  # constant rewards: every step is flat, any L > 0 is valid


def _no_defaults(problem, iters, given):
    return {}


# --------------------------------------------------------------------------- the runner
def _init_logits(problem, init) -> np.ndarray:
    r, mu, _ = _rows(problem)
    if init is None:
        pi0 = mu if np.all(mu > 0) else np.full(r.shape, 1.0 / r.shape[1])
        return np.log(pi0)
    shape = (problem.num_actions,) if isinstance(problem, Bandit) else r.shape
    pi0 = as_distribution("init", as_float_array("init", init), shape).reshape(r.shape)
    bad = np.flatnonzero(pi0.ravel() <= 0)
    if bad.size:
        idx = np.unravel_index(bad[0], shape)
        raise ValueError(
            f"init[{', '.join(map(str, idx))}] is 0: a softmax policy needs init > 0 everywhere (logits are log init)"
        )
    return np.log(pi0)


def make_oracle(problem, *, group_size: int = DEFAULT_GROUP_SIZE, num_samples: int = 1, mode: str = "exact",
                seed=None) -> BanditOracle:
    """The :class:`~polopt.oracles.bandit.BanditOracle` of a (contextual) bandit: exact moments of the
    estimators (``mode="exact"``), or ``num_samples`` groups of ``group_size`` arms drawn from ``seed``."""
    r, mu, rho = _rows(problem)
    return BanditOracle(r, _log(mu), rho, int(group_size), int(num_samples),
                        as_generator(seed) if mode == "sampled" else None, _ex.group_moments)


def run_estimator_rule(name: str, problem, *, iters: int, init=None, seed=None, **hparams) -> SolveResult:
    """Run the estimator rule of table row ``name`` through the driver and assemble its SolveResult."""
    from ..methods import lookup
    from ..solve import run_rule

    row = lookup(name)
    reject_unknown(name, hparams, tuple(n for n in row.hparam_names() if n != "beta"))
    hp = dict(hparams)
    mode = hp.pop("mode", "exact")
    if mode not in ("exact", "sampled"):
        raise ValueError(f"mode must be 'exact' or 'sampled', got {mode!r}")
    estimator = _ESTIMATOR_OF[name]
    G = as_positive_int("group_size", hp.pop("group_size", DEFAULT_GROUP_SIZE))
    check_estimator(estimator, G)
    M = hp.pop("num_samples", None)
    if M is None:
        M = 2 if (name == "oblr_po" and mode == "sampled") else 1
    M = as_positive_int("num_samples", M)
    if name == "oblr_po" and mode == "sampled" and M < 2:
        raise ValueError(
            f"num_samples must be >= 2 for sampled oblr_po (the SNR step estimates a variance from the "
            f"num_samples group estimates of an iteration), got {M}"
        )
    tol = hp.pop("tol", None)
    tol = None if tol is None else as_scalar("tol", tol, low=0.0)
    record = as_positive_int("record", hp.pop("record", 1))
    if hp.get("epochs", 1) not in (None, 1) and mode == "exact":
        epochs = as_positive_int("epochs", hp["epochs"])
        raise ValueError(f"epochs > 1 (PPO clipping over several steps) needs mode='sampled', got epochs = {epochs}")
    given = {k: v for k, v in hp.items() if v is not None}
    for k, v in row.defaults(problem, iters, given).items():
        given.setdefault(k, v)
    given["beta"] = problem.beta
    rule = row.rule(**given)
    r, mu, rho = _rows(problem)
    X, K = r.shape
    if mode == "exact":
        _ex.check_work(K, G, estimator, closed=problem.beta == 0 or rule.hparams.kl == "reward")
    oracle = make_oracle(problem, group_size=G, num_samples=M, mode=mode, seed=seed)
    state = rule.init(_init_logits(problem, init), oracle)
    n = X * K

    def record_of(s):
        return np.concatenate([s.log_pi.ravel(), s.direction.ravel(), [s.eta, s.trace_cov]])

    def stop(block):
        grad, _ = _grad_and_objective(problem, block[:, :n].reshape(-1, X, K))
        return np.linalg.norm(grad.reshape(grad.shape[0], -1), axis=1)

    traj = run_rule(rule, oracle, state, iters, record_of=record_of, stop=stop, tol=tol, record=record)
    recs = traj.records
    log_pols = recs[:, :n].reshape(-1, X, K)
    grad, objective = _grad_and_objective(problem, log_pols)
    opt = regularized_bandit_optimum(problem)
    pi_star = opt.policy.reshape(X, K)
    T = traj.num_iter
    pols = np.exp(log_pols)
    certs = {
        "suboptimality": lambda: opt.value - objective,
        "kl_to_optimum": lambda: certificates.kl_log_q(pi_star, log_pols) @ rho,
    }
    info = {
        "mode": mode,
        "objective": objective,
        "grad_norm": traj.stop_values,
        "samples": traj.steps * oracle.cost(),
        "step_sizes": recs[1:, 2 * n],
        "beta": problem.beta,
    }
    if mode == "exact":
        # the direction taken at iterate t is recorded with iterate t + 1; the last iterate's is computed here
        last = rule.update(traj.state, oracle)
        dirs = np.concatenate([recs[1:, n:2 * n], last.direction.reshape(1, n)])
        info["bias_norm"] = np.linalg.norm(dirs - grad.reshape(-1, n), axis=1)
        info["variance"] = np.append(recs[1:, 2 * n + 1], last.trace_cov)
    if rule.hparams.smoothness is not None:
        info["smoothness"] = rule.hparams.smoothness
    if record > 1:
        info["recorded"] = traj.steps
    names = set(row.hparam_names())
    used = {k: v for k, v in rule.hparams._asdict().items() if k in names and k != "beta"}
    bandit = isinstance(problem, Bandit)
    squeeze = (lambda a: a[..., 0, :]) if bandit else (lambda a: a)
    return SolveResult(
        policy=squeeze(pols[-1]),
        iterates=squeeze(pols),
        value=float(objective[-1]),
        optimum=Optimum(opt.policy, opt.value),
        certificates=LazyCertificates(certs),
        status=traj.status,
        method=name,
        hparams={"group_size": G, "num_samples": M, "mode": mode, "tol": tol, **used},
        num_iter=T,
        info=info,
        problem=problem,
    )


def runner(name: str):
    """The table's ``run`` for row ``name``."""
    return runner_for(name, run_estimator_rule)


def rows():
    """The method-table rows of the estimator family (added by :func:`polopt.methods._load`)."""
    from ..methods import Method

    def row(name, rule, summary, defaults=_no_defaults):
        return Method(name, _is_bandit, runner(name), summary, rule, (), defaults, COMMON, FAMILY,
                      "a Bandit or ContextualBandit")

    return (
        row("reinforce", _est.reinforce, "REINFORCE (constant or variance-optimal baseline) softmax PG on a bandit"),
        row("remax", _est.remax, "ReMax: REINFORCE with the greedy-arm reward as baseline (arXiv 2310.10505)"),
        row("rloo", _est.rloo, "RLOO: leave-one-out group baseline, unbiased (Kool et al. 2019; arXiv 2402.14740)"),
        row("grpo", _est.grpo, "GRPO: std-normalized group advantage, PPO clip, k3 KL in the loss (arXiv 2402.03300)",
            _kl_default),
        row("dr_grpo", _est.dr_grpo,
            "Dr.GRPO: group-mean advantage without std, E g = (G-1)/G grad J (arXiv 2503.20783)", _kl_default),
        row("oblr_po", _est.oblr_po,
            "OBLR-PO: gradient-weighted LOO baseline and SNR-adaptive step (arXiv 2511.23310)", _smoothness_default),
    )

"""``solve`` methods for the preference-optimization losses: dpo, ipo, chi_po, xpo, copg, p3o, apo, online_dpo.

How a problem carries the preference model:

* :class:`~polopt.problems.Bandit` / :class:`~polopt.problems.ContextualBandit` (rewards ``r``,
  reference ``mu``, KL weight ``beta > 0``): the rewards define **Bradley-Terry** preferences
  ``P[x, a, b] = sigma(r[x, a] - r[x, b])``. By default each offline loss is minimized on its
  **population** version: pairs ``y, y' ~ behaviour`` (hparam ``behaviour`` [K] or [X, K], default
  the reference), contexts ``~ rho``, labels ``~ P``.
* hparam ``data=`` a :class:`~polopt.problems.dataset.PreferenceDataset` replaces the population by
  that finite dataset (empirical pair weights); ``copg`` uses its pairs with the bandit's rewards.
* :class:`~polopt.problems.PreferenceGame` (general ``P``, reference, ``beta``): ``ipo`` only, with
  ``tau = beta``.

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
ipo                     ``mu exp(P(y > b) / tau) / Z``             ``E_pi P(y > b) - tau KL(pi || mu)``
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
extrapolates. ``info`` holds ``"loss"`` [T+1] (where a loss is minimized), ``"logits"`` [T+1, ...]
and ``"logit_gap"`` [T+1] (``max_x (max_a theta - min_a theta)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import certificates
from .._validation import as_distribution, as_float_array, as_positive_int, as_scalar
from ..oracles.sampling import as_generator, sample_categorical
from ..problems import Bandit, ContextualBandit, PreferenceGame
from ..problems.dataset import PreferenceDataset
from ..result import CONVERGED, MAX_ITER, NONFINITE, Optimum, SolveResult
from ..rules import preference_losses as pl
from ..rules._core import log_normalize
from ..solve import register
from . import reject_unknown
from ._iterative import step_size

#: Default stopping tolerance on the mass-normalized logit gradient: descent on these smooth
#: losses reaches it well inside float64 round-off of the loss (~1e-16 relative).
GRAD_TOL = 1e-10
#: Armijo sufficient-decrease constant and the number of halvings before a line search gives up.
ARMIJO_C = 0.5
ARMIJO_HALVINGS = 60
#: Inner gradient steps of each XPO round (warm-started; the inner problem is smooth and convex).
XPO_INNER_ITERS = 50


# --------------------------------------------------------------------------- setup
class _Setup(NamedTuple):
    """Problem arrays with a leading context axis (X = 1 for a plain bandit or a game)."""

    r: np.ndarray | None  # [X, K]
    P: np.ndarray  # [X, K, K]
    ref: np.ndarray  # [X, K]
    log_ref: np.ndarray  # [X, K]
    rho: np.ndarray  # [X]
    contextual: bool


def _setup(problem) -> _Setup:
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
    return _Setup(r, P, np.asarray(ref, dtype=np.float64), np.log(ref), np.asarray(rho, dtype=np.float64), ctx)


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


def _weights(data) -> np.ndarray:
    W = data.weights()
    return W if W.ndim == 3 else W[None]


def _pair_freq(data) -> np.ndarray:
    nu = data.pair_frequencies()
    return nu if nu.ndim == 3 else nu[None]


def _beta(problem) -> float:
    beta = getattr(problem, "beta", 0.0)
    if beta <= 0.0:
        raise ValueError(f"beta must be > 0 for this loss (the KL coefficient of {problem!r}), got {beta:g}")
    return float(beta)


def _tol(hparams) -> float:
    return as_scalar("tol", hparams.get("tol", GRAD_TOL), low=0.0, low_open=True)


def _laplacian_max(W: np.ndarray) -> np.ndarray:
    """``lambda_max`` of the Laplacian of ``S = W + W^T`` per context, ``[X, K, K] -> [X, 1]``."""
    S = W + W.swapaxes(-1, -2)
    L = np.einsum("xab->xa", S)[..., None] * np.eye(S.shape[-1]) - S
    return np.linalg.eigvalsh(L)[:, -1:]


# --------------------------------------------------------------------------- loops
class _Path(NamedTuple):
    thetas: np.ndarray  # [T+1, X, K]
    losses: np.ndarray  # [T+1]
    status: str


def _descend(theta0, objective: Callable, mass, iters: int, tol: float, eta=None, armijo: bool = False) -> _Path:
    """Gradient descent ``theta <- theta - eta * grad`` on a fixed loss (``objective -> LossGrad``).

    ``eta``: [X, 1] per-context steps or a scalar; ``armijo``: backtracking from the previous step.
    ``mass`` [X, 1] normalizes the stopping test so that every context meets ``tol`` on its own scale.
    """
    theta, lg = theta0, objective(theta0)
    thetas, losses = [theta], [float(lg.loss)]
    status = MAX_ITER
    step = 1.0
    for _ in range(iters):
        if np.max(np.abs(lg.grad / mass)) <= tol:
            status = CONVERGED
            break
        if armijo:
            d = lg.grad / mass
            slope = float(np.sum(lg.grad * d))
            step = min(2.0 * step, 1e6)
            for _ in range(ARMIJO_HALVINGS):
                new = theta - step * d
                lg_new = objective(new)
                new_loss = float(lg_new.loss)
                # strict decrease: at the round-off floor equal losses must not count as progress
                if new_loss < float(lg.loss) and new_loss <= float(lg.loss) - ARMIJO_C * step * slope:
                    break
                step *= 0.5
            else:  # no decrease representable in float64: the loss is at its round-off floor
                status = CONVERGED
                break
        else:
            new = theta - eta * lg.grad
            lg_new = objective(new)
        if not (np.all(np.isfinite(new)) and np.isfinite(lg_new.loss)):
            status = NONFINITE
            break
        theta, lg = new, lg_new
        thetas.append(theta)
        losses.append(float(lg.loss))
    else:
        if np.max(np.abs(lg.grad / mass)) <= tol:
            status = CONVERGED
    return _Path(np.stack(thetas), np.array(losses), status)


# --------------------------------------------------------------------------- objectives / result
def _kl_objective(st: _Setup, beta: float):
    def J(pi):
        return np.sum(pi * st.r, axis=-1) - beta * certificates.kl(pi, st.ref)

    return J


def _result(problem, method, st: _Setup, thetas, status, pi_star, J, hparams, info) -> SolveResult:
    """Policies, certificates and the SolveResult of a logit path ``thetas [T+1, X, K]``."""
    log_pis = log_normalize(thetas)
    pis = np.exp(log_pis)
    v_star = J(pi_star)
    w = st.rho if st.contextual else None
    kl = np.array([certificates.kl_to_optimum(p if st.contextual else p[0], pi_star if st.contextual else pi_star[0],
                                              weights=w) for p in pis])
    sub = np.array([certificates.suboptimality(J(p), v_star, st.rho) for p in pis])
    squeeze = (lambda a: a) if st.contextual else (lambda a: a[..., 0, :])
    gap = np.max(thetas.max(axis=-1) - thetas.min(axis=-1), axis=-1)
    info = dict(info, logits=squeeze(thetas), logit_gap=gap)
    return SolveResult(
        policy=squeeze(pis[-1]),
        iterates=squeeze(pis),
        value=float(st.rho @ J(pis[-1])),
        optimum=Optimum(squeeze(pi_star), float(st.rho @ v_star)),
        certificates={"kl_to_optimum": kl, "suboptimality": sub},
        status=status,
        method=method,
        hparams=hparams,
        num_iter=thetas.shape[0] - 1,
        info=info,
        problem=problem,
    )


def _is_bandit(problem) -> bool:
    return isinstance(problem, (Bandit, ContextualBandit))


def _is_regularized_bandit(problem) -> bool:
    return _is_bandit(problem) and problem.beta > 0


def _is_ipo_problem(problem) -> bool:
    return _is_bandit(problem) or (isinstance(problem, PreferenceGame) and problem.beta > 0)


def _step_or_bound(hparams, bound: np.ndarray):
    """``eta`` hparam (one global step) or the per-context ``1 / bound`` (bound [X, 1])."""
    if hparams.get("eta") is not None:
        return step_size("eta", hparams["eta"])
    return 1.0 / np.maximum(bound, np.finfo(np.float64).tiny)


# --------------------------------------------------------------------------- offline losses
_OFFLINE = ("eta", "tol", "data", "behaviour")


def _offline_weights(hparams, st, problem):
    data = _data(hparams, st, problem)
    if data is not None:
        return _weights(data)
    b = _behaviour(hparams, st)
    return pl.pair_weights(st.P, pl.product_pairs(b) * st.rho[:, None, None])


@register("dpo", applies=_is_regularized_bandit,
          summary="DPO loss (Bradley-Terry population or a PreferenceDataset) by gradient descent on the logits")
def _dpo(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """DPO: ``min sum W softplus(-beta (s_a - s_b))``; optimum ``mu exp(r/beta)/Z``."""
    reject_unknown("dpo", hparams, _OFFLINE)
    st, beta = _setup(problem), _beta(problem)
    W = _offline_weights(hparams, st, problem)
    eta = _step_or_bound(hparams, 0.25 * beta**2 * _laplacian_max(W))
    path = _descend(_init_theta(init, st), lambda th: pl.dpo(th, W, st.log_ref, beta), W.sum(axis=(1, 2))[:, None],
                    iters, _tol(hparams), eta)
    pi_star = pl.dpo_optimum(st.r, st.ref, beta)
    return _result(problem, "dpo", st, path.thetas, path.status, pi_star, _kl_objective(st, beta),
                   _clean(hparams), {"loss": path.losses})


@register("ipo", applies=_is_ipo_problem,
          summary="IPO loss (Bradley-Terry / preference game / dataset); optimum mu exp(P(y > b) / tau) / Z")
def _ipo(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """IPO: ``min sum W (s_a - s_b - 1/(2 tau))^2``; hparam ``tau`` (default the problem's beta)."""
    reject_unknown("ipo", hparams, _OFFLINE + ("tau",))
    st = _setup(problem)
    tau = hparams.get("tau")
    tau = _beta(problem) if tau is None else as_scalar("tau", tau, low=0.0, low_open=True)
    W = _offline_weights(hparams, st, problem)
    eta = _step_or_bound(hparams, 2.0 * _laplacian_max(W))
    path = _descend(_init_theta(init, st), lambda th: pl.ipo(th, W, st.log_ref, tau), W.sum(axis=(1, 2))[:, None],
                    iters, _tol(hparams), eta)
    b = _behaviour(hparams, st)
    pi_star = pl.ipo_optimum(st.P, b, st.ref, tau)
    win = np.einsum("xab,xb->xa", st.P, b)

    def J(pi):
        return np.sum(pi * win, axis=-1) - tau * certificates.kl(pi, st.ref)

    return _result(problem, "ipo", st, path.thetas, path.status, pi_star, J, dict(_clean(hparams), tau=tau),
                   {"loss": path.losses})


@register("chi_po", applies=_is_regularized_bandit,
          summary="chi-PO loss (link z + log z, optional clip); optimum of E r - beta (chi^2/2 + KL)")
def _chi_po(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """chi-PO by Armijo gradient descent; hparam ``clip`` (= 2R, default inf)."""
    reject_unknown("chi_po", hparams, _OFFLINE + ("clip",))
    st, beta = _setup(problem), _beta(problem)
    clip = as_scalar("clip", hparams.get("clip", np.inf), low=0.0, low_open=True, allow_inf=True)
    W = _offline_weights(hparams, st, problem)

    def objective(th):
        return pl.chi_po(th, W, st.log_ref, beta, clip)

    mass = W.sum(axis=(1, 2))[:, None]
    if hparams.get("eta") is not None:
        path = _descend(_init_theta(init, st), objective, mass, iters, _tol(hparams), step_size("eta", hparams["eta"]))
    else:
        path = _descend(_init_theta(init, st), objective, mass, iters, _tol(hparams), armijo=True)
    pi_star = pl.chi_po_optimum(st.r, st.ref, beta)

    def J(pi):
        return np.sum(pi * st.r, axis=-1) - beta * pl.chi_regularizer(pi, st.ref)

    return _result(problem, "chi_po", st, path.thetas, path.status, pi_star, J, dict(_clean(hparams), clip=clip),
                   {"loss": path.losses})


@register("copg", applies=_is_regularized_bandit,
          summary="CoPG off-policy regression loss on pairs from any behaviour; optimum mu exp(r/beta)/Z")
def _copg(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """CoPG: ``min 1/2 E_nu (R_a - R_b)^2``, ``R = r - beta log(pi/mu)``; pairs from ``behaviour`` or ``data``."""
    reject_unknown("copg", hparams, _OFFLINE)
    st, beta = _setup(problem), _beta(problem)
    data = _data(hparams, st, problem)
    if data is not None:
        nu = _pair_freq(data)
    else:
        nu = pl.product_pairs(_behaviour(hparams, st)) * st.rho[:, None, None]
    eta = _step_or_bound(hparams, beta**2 * _laplacian_max(nu))
    path = _descend(_init_theta(init, st), lambda th: pl.copg(th, st.r, st.log_ref, beta, nu),
                    nu.sum(axis=(1, 2))[:, None], iters, _tol(hparams), eta)
    return _result(problem, "copg", st, path.thetas, path.status, pl.dpo_optimum(st.r, st.ref, beta),
                   _kl_objective(st, beta), _clean(hparams), {"loss": path.losses})


# --------------------------------------------------------------------------- online methods
def _clean(hparams) -> dict:
    out = dict(hparams)
    if out.get("data") is not None:
        out["data"] = repr(out["data"])
    return out


def _online_loop(theta0, grad: Callable, eta, iters: int, tol: float, mass) -> _Path:
    """``theta <- theta - eta * grad(theta)`` for an update direction that is not the gradient of a
    fixed loss (its sampling distribution moves with ``theta``); converged when ``max|grad/mass| <= tol``."""
    theta = theta0
    thetas = [theta]
    status = MAX_ITER
    for _ in range(iters):
        g = grad(theta)
        if np.max(np.abs(g / mass)) <= tol:
            status = CONVERGED
            break
        new = theta - eta * g
        if not np.all(np.isfinite(new)):
            status = NONFINITE
            break
        theta = new
        thetas.append(theta)
    return _Path(np.stack(thetas), np.array([]), status)


@register("online_dpo", applies=_is_regularized_bandit,
          summary="online DPO: one expected DPO step per iteration on pairs from the current policy")
def _online_dpo(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """``theta <- theta - eta grad DPO(theta; pairs ~ sg(pi) x sg(pi))``; default ``eta_x = 2/(beta^2 rho_x)``."""
    reject_unknown("online_dpo", hparams, ("eta", "tol"))
    st, beta = _setup(problem), _beta(problem)
    # the curvature of one step is <= beta^2/4 lambda_max(L(2 rho pi x pi)) <= beta^2 rho / 2
    eta = _step_or_bound(hparams, 0.5 * beta**2 * st.rho[:, None])
    path = _online_loop(_init_theta(init, st), lambda th: pl.online_dpo(th, st.P, st.log_ref, beta, st.rho).grad,
                        eta, iters, _tol(hparams), st.rho[:, None])
    return _result(problem, "online_dpo", st, path.thetas, path.status, pl.dpo_optimum(st.r, st.ref, beta),
                   _kl_objective(st, beta), _clean(hparams), {})


@register("p3o", applies=_is_regularized_bandit,
          summary="P3O pairwise policy gradient (exact on-policy pairs, or num_pairs sampled) on E r - beta KL")
def _p3o(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """Ascent on the pairwise PG.

    hparams: ``eta`` (default ``1 / (rho_x (span r_x + 2 beta))``), ``num_pairs``, ``tol``.
    """
    reject_unknown("p3o", hparams, ("eta", "tol", "num_pairs"))
    st, beta = _setup(problem), _beta(problem)
    span = np.ptp(st.r, axis=-1)[:, None]
    eta = _step_or_bound(hparams, st.rho[:, None] * (span + 2.0 * beta))
    n = hparams.get("num_pairs")
    tol = _tol(hparams)
    if n is None:
        def direction(th):
            return pl.p3o(th, st.r, st.log_ref, beta, rho=st.rho).grad
    else:
        n = as_positive_int("num_pairs", n)
        if seed is None:  # record a drawn seed so that the sampled run can be replayed (theory checks do)
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        rng = as_generator(seed)
        X, K = st.ref.shape
        tol = 0.0  # a sampled direction is never exactly zero: run the whole budget

        def direction(th):
            pi = np.exp(log_normalize(th))
            a = sample_categorical(rng, pi, n)
            b = sample_categorical(rng, pi, n)
            nu = np.zeros((X, K, K))
            np.add.at(nu, (np.repeat(np.arange(X), n), a.ravel(), b.ravel()), 1.0 / n)
            return pl.p3o(th, st.r, st.log_ref, beta, nu=nu * st.rho[:, None, None]).grad

    path = _online_loop(_init_theta(init, st), direction, eta, iters, tol, st.rho[:, None])
    return _result(problem, "p3o", st, path.thetas, path.status, pl.dpo_optimum(st.r, st.ref, beta),
                   _kl_objective(st, beta), _clean(hparams), {"seed": seed})


@register("apo", applies=_is_regularized_bandit,
          summary="APO: exact DPO (proximal-point) steps with Nesterov extrapolation of the reference")
def _apo(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """``pi_{t+1} ∝ pi_hat_t exp(r/beta)``; ``pi_hat_{t+1} ∝ pi_{t+1}^(1+alpha) / pi_t^alpha``; hparam ``alpha``.

    Targets the unregularized optimum (``beta`` is the per-step DPO coefficient). ``info["u"]``
    [T+1, X]: the effective inverse temperature, ``log pi_t - log mu = u_t r / beta + const``
    (least squares over actions); the theorem ``apo.inverse_temperature`` compares it with
    ``t / (1 - alpha) - alpha (1 - alpha^t) / (1 - alpha)^2``.
    """
    reject_unknown("apo", hparams, ("alpha",))
    st, beta = _setup(problem), _beta(problem)
    alpha = as_scalar("alpha", hparams.get("alpha", 0.0), low=0.0, high=1.0, high_open=True)
    log_pi = log_normalize(_init_theta(init, st))
    log_hat = log_pi
    thetas = [log_pi]
    # APO has no stopping rule of its own: stop once the reward gap is at round-off
    floor = 4 * np.finfo(np.float64).eps * (1.0 + np.abs(st.r).max())
    best = st.r.max(axis=-1)
    status = MAX_ITER
    for _ in range(iters):
        new = log_normalize(log_hat + st.r / beta)
        log_hat = pl.apo_extrapolate(new, log_pi, alpha)
        log_pi = new
        if not np.all(np.isfinite(log_pi)):
            status = NONFINITE
            break
        thetas.append(log_pi)
        if np.max(best - np.sum(np.exp(log_pi) * st.r, axis=-1)) <= floor:
            status = CONVERGED
            break
    thetas = np.stack(thetas)
    rc = st.r - st.r.mean(axis=-1, keepdims=True)
    s = thetas - st.log_ref
    s = s - s.mean(axis=-1, keepdims=True)
    denom = np.maximum(np.sum(rc * rc, axis=-1), np.finfo(np.float64).tiny)
    u = beta * np.sum(s * rc, axis=-1) / denom
    ref_on = st.ref > 0
    top = ref_on & (st.r == np.where(ref_on, st.r, -np.inf).max(axis=-1, keepdims=True))
    pi_star = top / top.sum(axis=-1, keepdims=True)

    def J(pi):
        return np.sum(pi * st.r, axis=-1)

    return _result(problem, "apo", st, thetas, status, pi_star, J, {"alpha": alpha}, {"u": u})


@register("xpo", applies=_is_regularized_bandit,
          summary="XPO: online DPO on pairs (pi_t, ref) with the optimism term alpha E_ref log pi")
def _xpo(problem, *, iters, init, seed, **hparams) -> SolveResult:
    """Round t: add expected pairs ``y ~ pi_t, y' ~ mu`` to the data, then minimize
    ``DPO(data) + alpha E_mu log pi`` by ``inner_iters`` warm-started gradient steps.

    hparams: ``alpha`` (default 0: online DPO on accumulated data), ``inner_iters``, ``tol``.
    With ``alpha > 0`` the limit is biased away from ``mu exp(r/beta)/Z`` by ``O(alpha)``.
    """
    reject_unknown("xpo", hparams, ("alpha", "inner_iters", "tol"))
    st, beta = _setup(problem), _beta(problem)
    alpha = as_scalar("alpha", hparams.get("alpha", 0.0), low=0.0)
    inner = as_positive_int("inner_iters", hparams.get("inner_iters", XPO_INNER_ITERS))
    tol = _tol(hparams)
    nu_explore = st.ref * st.rho[:, None]
    theta = _init_theta(init, st)
    thetas = [theta]
    W_sum = np.zeros(st.P.shape)
    status = MAX_ITER
    for t in range(1, iters + 1):
        pi = np.exp(log_normalize(theta))
        W_sum = W_sum + pl.pair_weights(st.P, pl.product_pairs(pi, st.ref) * st.rho[:, None, None])
        W = W_sum / t
        eta = 1.0 / (0.25 * beta**2 * _laplacian_max(W))
        mass = W.sum(axis=(1, 2))[:, None]
        prev = theta
        for _ in range(inner):
            theta = theta - eta * pl.xpo(theta, W, st.log_ref, beta, alpha, nu_explore).grad
        if not np.all(np.isfinite(theta)):
            status = NONFINITE
            break
        thetas.append(theta)
        if np.max(np.abs(theta - prev) / (eta * mass)) <= tol:
            status = CONVERGED
            break
    return _result(problem, "xpo", st, np.stack(thetas), status, pl.dpo_optimum(st.r, st.ref, beta),
                   _kl_objective(st, beta), {"alpha": alpha, "inner_iters": inner, "tol": tol}, {})


"""KL- and entropy-regularized ("soft") decision problems: Gibbs policies and soft Bellman.

One-step problem (Donsker-Varadhan / Gibbs variational principle): for ``beta > 0``

.. math::

    \\max_{\\pi \\in \\Delta_A} \\sum_a \\pi(a) q(a) - \\beta\\,\\mathrm{KL}(\\pi\\|\\mu)
    = \\beta \\log \\sum_a \\mu(a) e^{q(a)/\\beta},
    \\qquad \\pi^*(a) = \\frac{\\mu(a) e^{q(a)/\\beta}}{\\sum_b \\mu(b) e^{q(b)/\\beta}}.

Soft (KL-regularized) Bellman operator of a discounted MDP with reference ``mu[s, a]``:

.. math::

    (T_\\beta v)(s) = \\beta \\log \\sum_a \\mu(a|s)\\, e^{q(s,a)/\\beta},\\qquad
    q(s,a) = r(s,a) + \\gamma \\sum_{s'} P(s'|s,a) v(s'),

a ``gamma``-contraction in sup-norm whose fixed point is the optimal regularized value
``v*(s) = max_pi E^pi[sum_t gamma^t (r(s_t,a_t) - beta KL(pi(.|s_t) || mu(.|s_t)))]``,
attained by ``pi* = gibbs_policy(q*, beta, mu)``.

Conventions. ``beta`` is the KL coefficient. The *entropy*-regularized objective with
temperature ``tau`` (reward ``r + tau H(pi(.|s))``) is the KL one with uniform ``mu`` and
``beta = tau`` plus the per-step constant ``tau log A``: its value is
``v_tau = v_beta + tau log A / (1 - gamma)`` (discounted) or ``+ (H - h) tau log A`` at step
``h`` of a horizon-``H`` problem; the optimal policies coincide.

References: Geist, Scherrer & Pietquin, "A Theory of Regularized Markov Decision Processes"
(ICML 2019, arXiv 1901.11275); Haarnoja et al., "Reinforcement Learning with Deep
Energy-Based Policies" (arXiv 1702.08165) for the soft Bellman equation; Cen et al., "Fast
Global Convergence of Natural Policy Gradient Methods with Entropy Regularization" (arXiv
2007.06558) for soft policy iteration.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import logsumexp, rel_entr

from .._base import CONVERGED, MAX_ITER, NONFINITE, NotConvergedWarning
from .._validation import (
    as_distribution,
    as_float_array,
    as_positive_int,
    as_scalar,
    check_dense_size,
    split_neg_inf,
)
from ._ops import P_pi, q_from_v, r_pi, warn_nonfinite

__all__ = [
    "RegularizedOptimum",
    "SoftVIResult",
    "gibbs_policy",
    "reference_policy",
    "regularized_bandit_optimum",
    "regularized_policy_evaluation",
    "soft_bellman_operator",
    "soft_policy_iteration",
    "soft_value_iteration",
    "soft_vi_loop",
]

#: A float64 sweep cannot move v by less than a few ulps of ||v||: stopping thresholds are
#: floored at this relative size so that a tight ``tol`` ends in round-off, not at max_iter.
ROUNDOFF_RTOL = 16 * np.finfo(np.float64).eps


class RegularizedOptimum(NamedTuple):
    """Optimal policy and value of a KL-regularized bandit (:func:`regularized_bandit_optimum`)."""

    policy: np.ndarray  # [K] or [X, K]
    value: float  # max_pi E_pi r - beta KL(pi || mu) (rho-averaged over contexts)


class SoftVIResult(NamedTuple):
    """Output of :func:`soft_value_iteration` / :func:`soft_policy_iteration`."""

    v: np.ndarray  # [S] (finite horizon: [H, S], step 0 first)
    q: np.ndarray  # [S, A] = r + gamma P v  ([H, S, A])
    policy: np.ndarray  # [S, A] = gibbs_policy(q, beta, mu)  ([H, S, A])
    num_iter: int
    converged: bool
    residual: float  # ||T_beta v - v||_inf of the returned v (0 for backward induction)
    status: str = CONVERGED  # "converged" | "max_iter" | "nonfinite" (v beyond float64, warned)


def _finish(who: str, mdp, res: SoftVIResult, *more) -> SoftVIResult:
    """Flag values beyond float64 in ``res.v``, ``res.q`` or ``more`` (status "nonfinite" and a
    NotConvergedWarning)."""
    q = res.q if mdp.mask.all() else np.where(mdp.mask, res.q, 0.0)  # q = -inf on infeasible pairs by design
    if warn_nonfinite(who, mdp.r, mdp.gamma, mdp.horizon, res.v, q, *more, stacklevel=4):
        res = res._replace(converged=False, status=NONFINITE)
    return res


# --------------------------------------------------------------------------- Gibbs
def _log_reference(mu, shape) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.broadcast_to(np.log(mu), shape)


def gibbs_policy(q, beta: float, mu=None) -> np.ndarray:
    """``pi ∝ mu exp(q / beta)`` along the last axis, in the log domain.

    .. math:: \\pi(a) = \\exp\\big(q(a)/\\beta + \\log\\mu(a)
              - \\mathrm{logsumexp}_b(q(b)/\\beta + \\log\\mu(b))\\big)

    Args:
        q: scores ``[..., A]`` (finite).
        beta: temperature ``>= 0``. ``beta == 0`` returns the ``beta -> 0`` limit: ``mu``
            restricted to the maximisers of ``q`` over ``supp(mu)`` and renormalised (with
            the default uniform ``mu``: ties split evenly).
        mu: reference ``[A]`` or ``[..., A]`` broadcastable to ``q``, rows on the simplex;
            uniform if None. Actions with ``mu(a) = 0`` get probability 0.

    Returns:
        policy of the shape of ``q``, rows on the simplex, finite for any beta and large q.

    Guarantee: maximises ``E_pi q - beta KL(pi || mu)`` (tests/test_soft.py compares with
    scipy.optimize and random policies).
    """
    q, off = split_neg_inf(q)  # q = -inf: an infeasible action, probability 0
    q = as_float_array("q", q)
    if q.ndim < 1 or q.shape[-1] < 1:
        raise ValueError(f"q must have at least one action on its last axis, got shape {q.shape}")
    beta = as_scalar("beta", beta, low=0.0)
    if mu is None:
        log_mu = np.zeros(q.shape)
    else:
        mu = as_float_array("mu", mu)
        try:
            mu_b = np.broadcast_to(mu, q.shape)
        except ValueError:
            raise ValueError(f"mu must broadcast to q's shape {q.shape}, got {mu.shape}") from None
        as_distribution("mu", mu, mu.shape)
        log_mu = _log_reference(mu_b, q.shape)
    if off is not None:
        log_mu = np.where(off, -np.inf, log_mu)
        dead = ~np.isfinite(log_mu).any(axis=-1)
        if dead.any():
            i = tuple(int(k) for k in np.argwhere(dead)[0])
            raise ValueError(f"q{list(i)} is -inf (infeasible) on every action in the support of mu; "
                             "the Gibbs policy needs one feasible action with mu > 0")
    if beta == 0.0:
        on = np.isfinite(log_mu)
        q_on = np.where(on, q, -np.inf)
        top = on & (q_on == q_on.max(axis=-1, keepdims=True))
        w = np.where(top, np.exp(np.where(on, log_mu, 0.0)), 0.0)
        return w / w.sum(axis=-1, keepdims=True)
    _, logits = _shifted_logits(q, beta, log_mu)
    return np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))


def _shifted_logits(q: np.ndarray, beta: float, log_mu: np.ndarray):
    """``(m, z)`` with ``m = max_{a in supp mu} q(a)`` and ``z = (q - m)/beta + log mu`` (``-inf``
    off the support). Shifting by ``m`` first keeps ``z <= 0`` on the support, so ``q / beta``
    cannot overflow for large ``|q|`` or small ``beta`` (the unshifted form gave inf - inf = nan)."""
    on = np.isfinite(log_mu)
    m = np.max(np.where(on, q, -np.inf), axis=-1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.where(on, (q - m) / beta + np.where(on, log_mu, 0.0), -np.inf)
    return m, z


def _soft_max(q: np.ndarray, beta: float, log_mu: np.ndarray) -> np.ndarray:
    """``beta log sum_a mu(a) exp(q(a) / beta) = m + beta log sum_a exp(z(a))`` along the last axis
    (``m``, ``z`` from :func:`_shifted_logits`)."""
    m, z = _shifted_logits(q, beta, log_mu)
    return m[..., 0] + beta * logsumexp(z, axis=-1)


def _gibbs(q: np.ndarray, beta: float, mu: np.ndarray) -> np.ndarray:
    """:func:`gibbs_policy` inside the solvers: NaN (not a ValueError) where ``q`` overflowed,
    so that the solver can report status "nonfinite" with its own warning."""
    if not np.any(np.isnan(q) | (q == np.inf)):  # -inf: an infeasible action (probability 0)
        return gibbs_policy(q, beta, mu)
    return np.full(q.shape, np.nan)


def regularized_bandit_optimum(bandit) -> RegularizedOptimum:
    """Exact optimum of a KL-regularized (contextual) bandit.

    .. math:: \\pi^* = \\mathrm{gibbs}(r, \\beta, \\mu),\\qquad
              J^* = \\beta \\log \\sum_a \\mu(a) e^{r(a)/\\beta}

    (per context, averaged with ``rho`` for a :class:`~polopt.problems.ContextualBandit`).
    For ``beta = 0`` the objective is ``E_pi r`` with no KL term: the policy is uniform over
    ``argmax r`` (all actions, also those outside ``supp(mu)``) and the value ``max r``.
    Note the ``beta -> 0`` limit of the regularized optimum is the max over ``supp(mu)``,
    which differs when ``mu`` has zeros on the maximisers.

    Returns:
        :class:`RegularizedOptimum` ``(policy [K] or [X, K], value float)``.
    """
    from ..problems import Bandit, ContextualBandit

    if not isinstance(bandit, (Bandit, ContextualBandit)):
        raise TypeError(f"bandit must be a Bandit or ContextualBandit, got {type(bandit).__name__}")
    r, mu, beta = bandit.r, bandit.mu, bandit.beta
    if beta == 0.0:
        pi = gibbs_policy(r, 0.0)
        per_context = r.max(axis=-1)
    else:
        pi = gibbs_policy(r, beta, mu)
        per_context = _soft_max(r, beta, _log_reference(mu, r.shape))
    value = float(per_context) if r.ndim == 1 else float(bandit.rho @ per_context)
    return RegularizedOptimum(pi, value)


# --------------------------------------------------------------------------- MDPs
def _check_mdp(mdp, who: str, *, allow_horizon: bool):
    from ..problems import TabularMDP

    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    if mdp.horizon is None and mdp.gamma >= 1.0:
        raise ValueError(f"{who} needs a discounted MDP (gamma < 1) or a horizon; got gamma={mdp.gamma:g}")
    if mdp.horizon is not None and not allow_horizon:
        raise ValueError(f"{who} needs a discounted MDP (no horizon); got {mdp!r}")


def reference_policy(reference, S: int, A: int) -> np.ndarray:
    """Reference policy ``mu`` [S, A], a fresh validated copy: uniform if None; an [A] reference
    is shared by all states; ValueError naming ``reference`` if a row is off the simplex."""
    if reference is None:
        return np.full((S, A), 1.0 / A)
    ref = np.asarray(reference)
    if ref.ndim == 1:
        return np.broadcast_to(as_distribution("reference", reference, (A,)), (S, A)).copy()
    return np.array(as_distribution("reference", reference, (S, A)))


_reference = reference_policy  # old private name


def soft_bellman_operator(mdp, v, beta: float, reference=None) -> tuple[np.ndarray, np.ndarray]:
    """One soft backup: ``(T_beta v [S], q [S, A])`` with ``q = r + gamma P v`` (discounted MDP)."""
    _check_mdp(mdp, "soft_bellman_operator", allow_horizon=False)
    beta = as_scalar("beta", beta, low=0.0, low_open=True)
    S, A = mdp.num_states, mdp.num_actions
    log_mu = _log_reference(_reference(reference, S, A), (S, A))
    q = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, np.asarray(v, dtype=np.float64))
    return _soft_max(q, beta, log_mu), q


def _soft_backward_induction(mdp, beta, mu) -> SoftVIResult:
    H, S, A = mdp.horizon, mdp.num_states, mdp.num_actions
    log_mu = _log_reference(mu, (S, A))
    v = np.zeros((H, S))
    q = np.zeros((H, S, A))
    v_next = np.zeros(S)
    for h in range(H - 1, -1, -1):
        q[h] = q_from_v(mdp.P_at(h), mdp.r_at(h), mdp.gamma, v_next)
        v[h] = _soft_max(q[h], beta, log_mu)
        v_next = v[h]
    return SoftVIResult(v, q, _gibbs(q, beta, mu), H, True, 0.0)


def _validate_soft(mdp, beta, reference, who, allow_horizon=True):
    _check_mdp(mdp, who, allow_horizon=allow_horizon)
    beta = as_scalar("beta", beta, low=0.0, low_open=True)
    mu = _reference(reference, mdp.num_states, mdp.num_actions)
    return beta, mu


def soft_vi_loop(mdp, beta, mu, tol, max_iter, v0, callback=None):
    """The loop of :func:`soft_value_iteration` on checked arguments, without its warning.

    Iterates ``v <- T_beta v`` from ``v0`` [S] (0 if None) with ``mu`` [S, A] (see
    :func:`reference_policy`); calls ``callback(v, q, ||T_beta v - v||_inf)`` at every iterate
    (``v_0`` included) and stops as :func:`soft_value_iteration` does. Returns
    ``(v, q, T_beta v, num_iter, converged)`` with ``q = r + gamma P v``.
    """
    S, A = mdp.num_states, mdp.num_actions
    gamma = mdp.gamma
    log_mu = _log_reference(mu, (S, A))
    v = np.zeros(S) if v0 is None else np.array(v0, dtype=np.float64)
    q = q_from_v(mdp.P_sa, mdp.r, gamma, v)
    Tv = _soft_max(q, beta, log_mu)
    n = 0
    converged = False
    while True:
        delta = float(np.max(np.abs(Tv - v)))
        if callback is not None:
            callback(v, q, delta)
        scale = max(1.0, float(np.max(np.abs(Tv))))
        # ||v - v*|| <= ||T v - v|| / (1 - gamma) (contraction): stop once this bound meets tol
        if delta <= max(tol * (1.0 - gamma), ROUNDOFF_RTOL * scale):
            converged = True
        if converged or n >= max_iter or not np.isfinite(delta):
            break
        v = Tv
        q = q_from_v(mdp.P_sa, mdp.r, gamma, v)
        Tv = _soft_max(q, beta, log_mu)
        n += 1
    return v, q, Tv, n, converged


_soft_vi_loop = soft_vi_loop  # old private name


def soft_value_iteration(
    mdp, beta: float, reference=None, tol: float = 1e-12, max_iter: int = 100000
) -> SoftVIResult:
    """Soft value iteration ``v_{k+1} = T_beta v_k`` (soft backward induction with a horizon).

    .. math:: v_{k+1}(s) = \\beta \\log \\sum_a \\mu(a|s) \\exp\\big((r(s,a) + \\gamma P v_k(s,a))/\\beta\\big)

    Stopping: when ``||T_beta v_k - v_k||_inf <= (1 - gamma) tol``, which certifies
    ``||v_k - v*||_inf <= ||T_beta v_k - v_k||_inf / (1 - gamma) <= tol`` (a-posteriori bound of
    a gamma-contraction; equivalently ``gamma/(1-gamma) ||v_{k+1} - v_k||`` bounds
    ``||v_{k+1} - v*||``), with the threshold floored at a few ulps of ``||v||``
    (:data:`ROUNDOFF_RTOL`). The returned ``v`` is the last iterate ``v_k``,
    ``q = r + gamma P v_k``, ``policy = gibbs_policy(q, beta, mu)`` and
    ``residual = ||T_beta v_k - v_k||_inf`` (so ``||v - v*|| <= residual / (1 - gamma)``).

    Args:
        mdp: discounted :class:`~polopt.problems.TabularMDP` (dense or sparse); with a horizon
            ``H`` the exact soft backward induction is run instead (``v [H, S]``).
        beta: KL coefficient ``> 0`` (use :func:`polopt.exact.value_iteration` for beta = 0).
        reference: ``mu`` as [S, A] or [A] (shared), rows on the simplex; uniform if None
            (then ``v + beta log A / (1 - gamma)`` is the entropy-regularized value with
            temperature ``tau = beta``; see the module docstring).
        tol: accuracy target for ``||v - v*||_inf``.
        max_iter: maximum number of backups; reaching it issues a NotConvergedWarning.

    Returns:
        :class:`SoftVIResult` ``(v, q, policy, num_iter, converged, residual)``.

    Guarantee: ``||v_k - v*|| <= gamma^k ||v_0 - v*||`` (``T_beta`` is a gamma-contraction:
    log-sum-exp is 1-Lipschitz in sup-norm; Geist et al. 2019, arXiv 1901.11275). Tests: the
    fixed point satisfies the soft Bellman equation, agrees with :func:`soft_policy_iteration`,
    tends to the unregularized ``v*`` as ``beta -> 0``, and equals the regularized value of
    ``policy`` (tests/test_soft.py).
    """
    beta, mu = _validate_soft(mdp, beta, reference, "soft_value_iteration")
    if mdp.horizon is not None:
        return _finish("soft_value_iteration", mdp, _soft_backward_induction(mdp, beta, mu))
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _finish below
        v, q, Tv, n, converged = _soft_vi_loop(mdp, beta, mu, tol, max_iter, None)
    res = SoftVIResult(v, q, _gibbs(q, beta, mu), n, converged, float(np.max(np.abs(Tv - v))),
                       CONVERGED if converged else MAX_ITER)
    res = _finish("soft_value_iteration", mdp, res, Tv)  # the loop stops at the last finite v
    if res.status == MAX_ITER:
        warnings.warn(
            f"soft_value_iteration stopped after {n} iterations without reaching tol={tol:g}",
            NotConvergedWarning,
            stacklevel=2,
        )
    return res


def _kl_rows(pi: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return rel_entr(pi, mu).sum(axis=-1)


def regularized_policy_evaluation(mdp, pi, beta: float, reference=None) -> np.ndarray:
    """Regularized value of a stochastic policy on a discounted MDP.

    .. math:: v^\\pi_\\beta = (I - \\gamma P_\\pi)^{-1}
              \\big(r_\\pi - \\beta\\,\\mathrm{KL}(\\pi(\\cdot|s)\\|\\mu(\\cdot|s))\\big)

    Args:
        mdp: discounted TabularMDP (dense: ``np.linalg.solve``; sparse: sparse LU).
        pi: policy [S, A]; beta: KL coefficient ``>= 0``; reference: ``mu`` [S, A] or [A].

    Returns:
        ``v [S]``.

    Raises:
        ValueError: ``beta > 0`` and ``pi`` puts mass outside ``supp(mu)`` at some state (the
        KL, hence the regularized value, is infinite there); the message names the state.
    """
    _check_mdp(mdp, "regularized_policy_evaluation", allow_horizon=False)
    beta = as_scalar("beta", beta, low=0.0)
    S, A = mdp.num_states, mdp.num_actions
    pi = as_distribution("pi", pi, (S, A))
    mu = _reference(reference, S, A)
    penalty = beta * _kl_rows(pi, mu) if beta > 0 else np.zeros(S)
    if not np.all(np.isfinite(penalty)):
        s = int(np.flatnonzero(~np.isfinite(penalty))[0])
        raise ValueError(f"pi[{s}, :] puts mass outside the support of the reference; KL is infinite")
    return _evaluate(mdp, pi, r_pi(mdp.r, pi) - penalty)


def _evaluate(mdp, pi, reward) -> np.ndarray:
    Ppi = P_pi(mdp.P_sa, pi)
    S = mdp.num_states
    if sp.issparse(Ppi):
        return spla.spsolve((sp.identity(S, format="csc") - mdp.gamma * Ppi).tocsc(), reward)
    check_dense_size("P_pi", (S, S), "pass the kernel as a scipy.sparse (S*A, S) matrix (sparse LU)", copies=2)
    return np.linalg.solve(np.eye(S) - mdp.gamma * Ppi, reward)


def soft_policy_iteration(mdp, beta: float, reference=None, max_iter: int = 1000) -> SoftVIResult:
    """Soft policy iteration: ``pi_{k+1} = gibbs(q^{pi_k}_beta, beta, mu)`` from ``pi_0 = mu``.

    Each step evaluates the regularized value exactly (one linear solve) and takes the Gibbs
    policy of its q; the values increase monotonically to ``v*`` at least at the rate of
    soft VI (gamma) and locally quadratically (it is Newton's method on the soft Bellman
    equation). Stops when the values stop changing beyond round-off. Independent of
    :func:`soft_value_iteration`, so the two cross-check each other.

    Returns:
        :class:`SoftVIResult`; ``residual`` is ``||T_beta v - v||_inf`` of the returned value.

    References: Cen, Cheng, Chen, Wei, Chi, arXiv 2007.06558 (soft PI, linear convergence);
    Geist et al. 2019 (regularized PI).
    """
    beta, mu = _validate_soft(mdp, beta, reference, "soft_policy_iteration", allow_horizon=False)
    max_iter = as_positive_int("max_iter", max_iter, minimum=1)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _finish
        res = _soft_policy_iteration(mdp, beta, mu, max_iter)
    res = _finish("soft_policy_iteration", mdp, res)
    if res.status == MAX_ITER:
        warnings.warn(
            f"soft_policy_iteration stopped after {res.num_iter} improvements", NotConvergedWarning, stacklevel=2
        )
    return res


def _soft_policy_iteration(mdp, beta: float, mu: np.ndarray, max_iter: int) -> SoftVIResult:
    S, A = mdp.num_states, mdp.num_actions
    log_mu = _log_reference(mu, (S, A))
    # start at mu restricted to the feasible actions (mu itself may take an infeasible one: value -inf)
    pi = mu if mdp.mask.all() else gibbs_policy(np.where(mdp.mask, 0.0, -np.inf), 1.0, mu)
    v = regularized_policy_evaluation(mdp, pi, beta, mu)
    converged = False
    n = 0
    for n in range(1, max_iter + 1):  # noqa: B007  (n is reported)
        q = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v)
        pi = gibbs_policy(q, beta, mu)
        v_new = regularized_policy_evaluation(mdp, pi, beta, mu)
        change = float(np.max(np.abs(v_new - v)))
        v = v_new
        if change <= ROUNDOFF_RTOL * max(1.0, float(np.max(np.abs(v)))) / (1.0 - mdp.gamma):
            converged = True
            break
    q = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v)
    residual = float(np.max(np.abs(_soft_max(q, beta, log_mu) - v)))
    return SoftVIResult(v, q, _gibbs(q, beta, mu), n, converged, residual, CONVERGED if converged else MAX_ITER)

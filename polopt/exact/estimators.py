"""Exact mean, bias and covariance of the sampled policy-gradient estimators of LLM post-training.

On a softmax bandit with ``K`` arms and group size ``G`` every estimator of
:mod:`polopt.rules.estimators` is a function of the ``G`` sampled arms only, so its law is
known exactly: this module enumerates the outcomes (all ``K^G`` ordered groups, or the
``C(K+G-1, G)`` multisets with multinomial weights, which give the same moments because every
estimator is symmetric in the group members) and, where one exists, evaluates the closed form.
The three are computed by separate code paths and cross-checked in
``tests/test_exact_estimators.py``; Monte Carlo of the sampled estimators agrees with them
within its confidence interval there as well.

The estimators (advantage ``A_i`` of sample ``i``; ``g_hat = (1/G) sum_i (A_i + c(a_i)) s(a_i)``,
``s(a) = e_a - pi`` the softmax score, ``R`` the reward per arm)::

    reinforce  R_i - b                       remax   R_i - R(argmax pi)
    rloo       R_i - mean_{j!=i} R_j         dr_grpo R_i - mean_j R_j
    grpo       (R_i - mean_j R_j) / (std_j R_j + std_eps)
    oblr       R_i - sum_{j!=i} w_j R_j / sum_{j!=i} w_j,   w = ||s||^2

Closed forms (derived here; ``grad = pi * (R - pi.R)``, ``Rbar = pi.R``,
``S(c) = sum_a pi_a c_a s_a s_a^T``):

* constant baseline ``b`` (reinforce, remax): ``E g = grad``,
  ``Cov g = (S((R - b)^2) - grad grad^T) / G``;
* RLOO is the order-2 U-statistic with kernel ``k(x, y) = (R_x - R_y)(e_x - e_y) / 2``, so
  (Hoeffding 1948) ``Cov = 2 / (G (G-1)) [2 (G-2) Sigma_1 + Sigma_2]`` with
  ``Sigma_1 = (S((R - Rbar)^2) - grad grad^T) / 4`` and
  ``Sigma_2 = (diag(pi * (D pi)) - (pi pi^T) * D) / 2 - grad grad^T``, ``D_xy = (R_x - R_y)^2``;
* the group-mean baseline (dr_grpo) is ``(G-1)/G`` times RLOO exactly
  (``R_i - mean_j R_j = ((G-1)/G)(R_i - mean_{j!=i} R_j)``): ``E g = ((G-1)/G) grad``.

GRPO's std normalization and the gradient-weighted leave-one-out baseline have no closed form
here: they are enumerated. With ``beta > 0`` the target is the gradient of
``J = pi.r - beta KL(pi || mu)``; ``kl="reward"`` feeds the shaped reward
``R = r - beta log(pi/mu)`` (unbiased), ``kl="k1"`` / ``"k3"`` put GRPO's KL estimator into the
loss (``c(a) = -beta dk(a)``, ``dk = 1`` or ``1 - mu/pi``): its expectation is ``0`` (k1) or
``-beta (pi - mu)`` (k3, the gradient of ``-beta KL(mu || pi)``), so both are biased for ``J``.

References: see :mod:`polopt.rules.estimators`; the variance-optimal constant baseline
(Weaver & Tao 2001; Greensmith, Bartlett, Baxter, JMLR 2004) and the ``5/2``-smoothness of
``theta -> softmax(theta).r`` for ``r in [0, 1]^K`` (Mei, Xiao, Szepesvari, Schuurmans, arXiv
2005.06392, Lemma 2 — recalled; checked against the exact Hessian in the tests).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

from .._validation import as_distribution, as_float_array, as_positive_int, as_scalar
from ..oracles.bandit import ESTIMATORS, GROUP_ESTIMATORS

__all__ = [
    "ESTIMATORS",
    "EstimatorMoments",
    "baseline_variance",
    "contextual_estimator_moments",
    "estimator_moments",
    "expected_objective_after_step",
    "group_moments",
    "objective_hessian",
    "optimal_constant_baseline",
    "softmax_gradient",
    "softmax_smoothness",
]

_NEEDS_GROUP = GROUP_ESTIMATORS
_CLOSED = ("reinforce", "remax", "rloo", "dr_grpo")
#: Enumeration refuses problems whose outcome table (outcomes x G x K doubles) exceeds this.
MAX_WORK = 50_000_000
#: Same default as the sampled rules (verl's GRPO epsilon).
STD_EPS = 1e-6
#: Mei et al.'s smoothness constant for rewards in [0, 1] (Lemma 2, recalled).
MEI_SMOOTHNESS = 2.5


class EstimatorMoments(NamedTuple):
    """Exact law summary of one estimator at one policy.

    ``mean`` [K] ``E g_hat``; ``covariance`` [K, K]; ``gradient`` [K] the exact gradient of the
    objective (regularized when ``beta > 0``); ``bias`` [K] ``= mean - gradient``;
    ``variance`` ``= tr covariance``; ``method``: "closed_form" | "enumerate" | "multiset";
    ``num_outcomes``: outcomes summed (0 for the closed form).
    """

    mean: np.ndarray
    covariance: np.ndarray
    gradient: np.ndarray
    bias: np.ndarray
    variance: float
    method: str
    num_outcomes: int


# --------------------------------------------------------------------------- validation
def _policy(pi, K=None):
    pi = as_float_array("pi", pi, ndim=1)
    return as_distribution("pi", pi, (pi.shape[0] if K is None else K,))


def _setup(pi, r, estimator, group_size, beta, mu, kl):
    pi = _policy(pi)
    K = pi.shape[0]
    r = as_float_array("r", r, ndim=1)
    if r.shape != (K,):
        raise ValueError(f"r must have shape {(K,)} like pi, got {r.shape}")
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    G = as_positive_int("group_size", group_size)
    if estimator in _NEEDS_GROUP and G < 2:
        raise ValueError(f"group_size must be >= 2 for the {estimator} estimator, got {G}")
    beta = as_scalar("beta", beta, low=0.0)
    if kl not in ("reward", "k1", "k3"):
        raise ValueError(f"kl must be 'reward', 'k1' or 'k3', got {kl!r}")
    mu = np.full(K, 1.0 / K) if mu is None else as_distribution("mu", mu, (K,))
    if beta > 0:
        bad = np.flatnonzero(pi <= 0)
        if bad.size:
            raise ValueError(f"pi[{bad[0]}] is {pi[bad[0]]:g}: a KL term (beta > 0) needs pi > 0 everywhere")
        bad = np.flatnonzero(mu <= 0)
        if bad.size:
            raise ValueError(f"mu[{bad[0]}] is {mu[bad[0]]:g}: a KL term (beta > 0) needs mu > 0 everywhere")
    return pi, r, G, beta, mu


# --------------------------------------------------------------------------- exact gradient and helpers
def softmax_gradient(pi, r, beta: float = 0.0, mu=None) -> np.ndarray:
    """``grad_theta [pi.r - beta KL(pi || mu)]`` at ``pi = softmax(theta)``: ``pi * (R - pi.R)`` with
    ``R = r - beta log(pi/mu)`` (``R = r`` when ``beta = 0``), shape [K]."""
    pi, r, _, beta, mu = _setup(pi, r, "reinforce", 1, beta, mu, "reward")
    R = r - beta * (np.log(pi) - np.log(mu)) if beta > 0 else r
    return pi * (R - pi @ R)


def objective_hessian(pi, r) -> np.ndarray:
    """Exact Hessian of ``theta -> softmax(theta).r`` at ``pi``, [K, K].

    With ``u = pi * (r - pi.r)`` (the gradient): ``H = diag(u) - pi u^T - u pi^T`` (derived by
    differentiating ``u`` once more; checked by finite differences in the tests).
    """
    pi = _policy(pi)
    r = as_float_array("r", r, ndim=1)
    u = pi * (r - pi @ r)
    return np.diag(u) - np.outer(pi, u) - np.outer(u, pi)


def softmax_smoothness(r) -> float:
    """Smoothness constant ``L = (5/2) (max r - min r)`` of ``theta -> softmax(theta).r``.

    Mei et al. (arXiv 2005.06392, Lemma 2, recalled) give ``5/2`` for ``r in [0, 1]^K``; the
    Hessian is linear in ``r`` and blind to shifts of ``r``, so the constant scales with the span.
    """
    r = as_float_array("r", r, ndim=1)
    return MEI_SMOOTHNESS * float(r.max() - r.min())


def _scatter(pi, c):
    """``S(c) = sum_a pi_a c_a (e_a - pi)(e_a - pi)^T`` without forming K outer products."""
    pc = pi * c
    return np.diag(pc) - np.outer(pc, pi) - np.outer(pi, pc) + pc.sum() * np.outer(pi, pi)


def _score_sq_norms(pi) -> np.ndarray:
    """``||e_a - pi||^2`` row by row (``[K]``), summed as squares: no cancellation near a vertex."""
    return np.sum((np.eye(len(pi)) - pi) ** 2, axis=1)


def optimal_constant_baseline(pi, r, beta: float = 0.0, mu=None) -> float:
    """``argmin_b tr Cov[(R(a) - b)(e_a - pi)]`` over constants: ``b* = E[w R] / E[w]``, ``w = ||e_a - pi||^2``.

    Obtained here by setting the derivative of the quadratic :func:`baseline_variance` to 0
    (the same value as :func:`polopt.rules.estimators.optimal_baseline`, computed independently
    there); a deterministic ``pi`` (``E w = 0``) returns ``pi.R``.
    """
    pi, r, _, beta, mu = _setup(pi, r, "reinforce", 1, beta, mu, "reward")
    R = r - beta * (np.log(pi) - np.log(mu)) if beta > 0 else r
    # tr Cov = E[w (R - b)^2] - ||grad||^2 is a quadratic in b
    w = _score_sq_norms(pi)
    den = float(pi @ w)
    return float(pi @ (w * R) / den) if den > 0 else float(pi @ R)


def baseline_variance(pi, r, b, group_size: int = 1, beta: float = 0.0, mu=None) -> np.ndarray:
    """``tr Cov`` of REINFORCE with constant baseline ``b`` (scalar or array of candidates), group ``G``.

    .. math:: \\mathrm{tr\\,Cov} = \\frac1G\\Big(\\sum_a \\pi_a\\|e_a-\\pi\\|^2 (R_a-b)^2 - \\|\\nabla J\\|^2\\Big)
    """
    pi, r, G, beta, mu = _setup(pi, r, "reinforce", group_size, beta, mu, "reward")
    R = r - beta * (np.log(pi) - np.log(mu)) if beta > 0 else r
    grad = pi * (R - pi @ R)
    w = _score_sq_norms(pi)
    b = np.asarray(b, dtype=np.float64)
    quad = np.sum(pi * w * (R - b[..., None]) ** 2, axis=-1)
    return (quad - grad @ grad) / G


# --------------------------------------------------------------------------- closed forms
def _closed_form(pi, R, G, estimator, baseline):
    grad = pi * (R - pi @ R)
    gg = np.outer(grad, grad)
    if estimator in ("reinforce", "remax"):
        b = R[int(np.argmax(pi))] if estimator == "remax" else baseline
        return grad, (_scatter(pi, (R - b) ** 2) - gg) / G
    D = (R[:, None] - R[None, :]) ** 2
    sigma1 = (_scatter(pi, (R - pi @ R) ** 2) - gg) / 4.0
    sigma2 = (np.diag(pi * (D @ pi)) - np.outer(pi, pi) * D) / 2.0 - gg
    cov = 2.0 / (G * (G - 1)) * (2.0 * (G - 2) * sigma1 + sigma2)
    if estimator == "rloo":
        return grad, cov
    f = (G - 1) / G  # dr_grpo: the group mean contains R_i
    return f * grad, f * f * cov


# --------------------------------------------------------------------------- enumeration
def _outcomes(pi, G, how):
    """Ordered groups ([K^G, G], prob) or sorted multisets ([C(K+G-1, G), G], multinomial prob)."""
    K = pi.shape[0]
    if how == "enumerate":
        acts = np.indices((K,) * G).reshape(G, -1).T
        prob = np.prod(pi[acts], axis=1)
        return acts, prob
    acts = np.array(list(itertools.combinations_with_replacement(range(K), G)), dtype=np.int64).reshape(-1, G)
    counts = np.zeros((acts.shape[0], K))
    np.add.at(counts, (np.arange(acts.shape[0])[:, None], acts), 1.0)
    with np.errstate(divide="ignore"):
        log_p = gammaln(G + 1) - gammaln(counts + 1).sum(1) + (counts * np.log(pi)).sum(1, where=counts > 0)
    return acts, np.exp(log_p)


def _num_outcomes(K, G, how):
    return K**G if how == "enumerate" else math.comb(K + G - 1, G)


def _advantages_by_definition(R, acts, pi, estimator, baseline, std_eps, ddof):
    """Advantages per outcome written out from the definitions (leave-one-out by an explicit mask)."""
    G = R.shape[1]
    off = 1.0 - np.eye(G)  # off[j, i] = 1 when j != i
    if estimator == "reinforce":
        return R - baseline
    if estimator == "remax":
        return R - baseline  # baseline is R(argmax pi), set by the caller
    if estimator == "rloo":
        return R - (R @ off) / (G - 1)
    if estimator == "dr_grpo":
        return R - R.mean(axis=1, keepdims=True)
    if estimator == "grpo":
        centred = R - R.mean(axis=1, keepdims=True)
        return centred / (R.std(axis=1, ddof=ddof, keepdims=True) + std_eps)
    W = _score_sq_norms(pi)[acts]
    num, den = (W * R) @ off, W @ off
    return R - np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _estimates(pi, R, coef, acts, estimator, baseline, std_eps, ddof):
    """``g_hat`` of every outcome, [N, K]."""
    G = acts.shape[1]
    if estimator == "remax":
        baseline = R[int(np.argmax(pi))]
    A = _advantages_by_definition(R[acts], acts, pi, estimator, baseline, std_eps, ddof) + coef[acts]
    K = pi.shape[0]
    g = np.zeros((acts.shape[0], K))
    for i in range(G):  # G is small; one scatter per group member
        g[np.arange(acts.shape[0]), acts[:, i]] += A[:, i]
    return (g - A.sum(axis=1, keepdims=True) * pi) / G


def _reward_and_coef(pi, r, beta, mu, kl):
    if beta == 0:
        return r, np.zeros_like(r)
    if kl == "reward":
        return r - beta * (np.log(pi) - np.log(mu)), np.zeros_like(r)
    dk = np.ones_like(pi) if kl == "k1" else 1.0 - mu / pi
    return r, -beta * dk


def estimator_moments(pi, r, estimator: str, group_size: int, *, baseline: float = 0.0, beta: float = 0.0, mu=None,
                      kl: str = "reward", std_eps: float = STD_EPS, ddof: int = 1,
                      method: str = "auto") -> EstimatorMoments:
    """Exact mean, covariance and bias of one estimator for group size ``G`` at policy ``pi``.

    Args:
        pi: policy [K] (``pi > 0`` when ``beta > 0``); r: reward per arm [K].
        estimator: one of :data:`ESTIMATORS`; group_size: ``G`` (>= 2 for group baselines).
        baseline: the constant of "reinforce".
        beta, mu: KL coefficient and reference (uniform if None); kl: "reward" (shaped reward),
            "k1" or "k3" (GRPO's in-loss estimator).
        std_eps, ddof: GRPO's std normalization (as in the sampled rules).
        method: "closed_form" (reinforce, remax, rloo, dr_grpo with ``kl="reward"`` or ``beta = 0``),
            "enumerate" (all ``K^G`` ordered groups), "multiset" (``C(K+G-1, G)`` multisets), or
            "auto" (closed form if it exists, else multiset).

    Returns:
        :class:`EstimatorMoments`.

    Raises:
        ValueError: bad arguments, a closed form that does not exist, or an enumeration larger
            than :data:`MAX_WORK` doubles.
    """
    pi, r, G, beta, mu = _setup(pi, r, estimator, group_size, beta, mu, kl)
    baseline = as_scalar("baseline", baseline)
    std_eps = as_scalar("std_eps", std_eps, low=0.0)
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    if method not in ("auto", "closed_form", "enumerate", "multiset"):
        raise ValueError(f"method must be 'auto', 'closed_form', 'enumerate' or 'multiset', got {method!r}")
    K = pi.shape[0]
    R, coef = _reward_and_coef(pi, r, beta, mu, kl)
    Rj = r - beta * (np.log(pi) - np.log(mu)) if beta > 0 else r
    grad = pi * (Rj - pi @ Rj)
    has_closed = estimator in _CLOSED and (beta == 0 or kl == "reward")
    if method == "auto":
        method = "closed_form" if has_closed else "multiset"
    if method == "closed_form":
        if not has_closed:
            raise ValueError(
                f"no closed form for {estimator!r}" + (f" with kl={kl!r}" if estimator in _CLOSED else "")
                + "; use method='multiset' or 'enumerate'"
            )
        mean, cov = _closed_form(pi, R, G, estimator, baseline)
        return EstimatorMoments(mean, cov, grad, mean - grad, float(np.trace(cov)), "closed_form", 0)
    n = _num_outcomes(K, G, method)
    if n * G * K > MAX_WORK:
        raise ValueError(
            f"enumerating {n} outcomes of group_size {G} on K = {K} arms exceeds the work limit "
            f"{MAX_WORK:g} (outcomes x G x K); use method='multiset' or a smaller instance"
        )
    acts, prob = _outcomes(pi, G, method)
    g = _estimates(pi, R, coef, acts, estimator, baseline, std_eps, ddof)
    mean = prob @ g
    dev = _weighted_deviations(g, mean, prob)
    cov = dev.T @ dev
    return EstimatorMoments(mean, cov, grad, mean - grad, float(np.trace(cov)), method, int(n))


def group_moments(pi, R, estimator: str, group_size: int, *, baseline: float = 0.0, loss_coef=None,
                  std_eps: float = STD_EPS, ddof: int = 1) -> tuple[np.ndarray, float]:
    """``(E g_hat [K], tr Cov g_hat)`` of one group estimate with rewards ``R`` and in-loss term ``loss_coef``.

    The exact oracle of :class:`polopt.oracles.bandit.BanditOracle`: ``R`` is already KL-shaped (or
    raw, with ``loss_coef = -beta dk``) by the rule, so nothing here takes a logarithm and ``pi`` may
    hold zeros (an underflowed probability). Closed form where it exists (``loss_coef`` zero and a
    constant, greedy, leave-one-out or group-mean baseline), else the multiset enumeration; a problem
    beyond :data:`MAX_WORK` raises ValueError (:func:`check_work` says so before a run).
    """
    pi = np.asarray(pi, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    G = int(group_size)
    coef = np.zeros_like(R) if loss_coef is None else np.asarray(loss_coef, dtype=np.float64)
    if estimator in _CLOSED and not np.any(coef):
        mean, cov = _closed_form(pi, R, G, estimator, baseline)
        return mean, float(np.trace(cov))
    check_work(pi.shape[0], G, estimator, closed=False)
    acts, prob = _outcomes(pi, G, "multiset")
    g = _estimates(pi, R, coef, acts, estimator, baseline, std_eps, ddof)
    mean = prob @ g
    dev = _weighted_deviations(g, mean, prob)
    return mean, float(np.sum(dev * dev))


def _weighted_deviations(g, mean, prob):
    """``sqrt(p_o) (g_o - E g)`` [N, K]: ``Cov = sum_o p_o dev_o dev_o^T`` as their Gram matrix.

    Weighting before squaring keeps the covariance finite whenever it is representable: an outcome of
    probability ~1e-300 with an estimate ~1e294 (GRPO's in-loss k3 coefficient ``beta (mu/pi - 1)`` at
    ``pi = 1e-300``) has ``p_o dev_o^2 ~ 1e288``, but ``dev_o^2`` alone overflows."""
    return np.sqrt(prob)[:, None] * (g - mean)


def check_work(K: int, group_size: int, estimator: str, *, closed: bool) -> None:
    """ValueError when the exact moments of ``estimator`` (no closed form unless ``closed``) would
    enumerate more than :data:`MAX_WORK` doubles (outcomes x G x K)."""
    if closed and estimator in _CLOSED:
        return
    n = _num_outcomes(K, group_size, "multiset")
    if n * group_size * K > MAX_WORK:
        raise ValueError(
            f"enumerating {n} outcomes of group_size {group_size} on K = {K} arms exceeds the work limit "
            f"{MAX_WORK:g} (outcomes x G x K); use mode='sampled' or a smaller instance"
        )


def expected_objective_after_step(pi, r, estimator: str, group_size: int, eta, *, baseline: float = 0.0,
                                  beta: float = 0.0, mu=None, kl: str = "reward", std_eps: float = STD_EPS,
                                  ddof: int = 1, num_groups: int = 1) -> float:
    """``E J(softmax(log pi + eta g_bar))`` exactly, ``g_bar`` the mean of ``num_groups`` group estimates.

    ``J(p) = p.r - beta KL(p || mu)``. Enumerates the multisets of ``num_groups * G`` arms
    split into groups in order — for ``num_groups = 1`` this is the multiset enumeration of one
    group; for ``num_groups > 1`` the ordered enumeration of all ``K^{M G}`` outcomes is used.
    Used to check the SNR step's ascent guarantee exactly.
    """
    pi, r, G, beta, mu = _setup(pi, r, estimator, group_size, beta, mu, kl)
    M = as_positive_int("num_groups", num_groups)
    eta = as_scalar("eta", eta, low=0.0)
    K = pi.shape[0]
    R, coef = _reward_and_coef(pi, r, beta, mu, kl)
    how = "multiset" if M == 1 else "enumerate"
    n = _num_outcomes(K, G * M, how)
    if n * G * M * K > MAX_WORK:
        raise ValueError(f"enumerating {n} outcomes exceeds the work limit {MAX_WORK:g}; use a smaller instance")
    acts, prob = _outcomes(pi, G * M, how)
    g = np.mean([_estimates(pi, R, coef, acts[:, m * G:(m + 1) * G], estimator, baseline, std_eps, ddof)
                 for m in range(M)], axis=0)
    logits = np.log(pi) + eta * g
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    J = p @ r
    if beta > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            J = J - beta * np.sum(np.where(p > 0, p * (np.log(p) - np.log(mu)), 0.0), axis=1)
    return float(prob @ J)


def contextual_estimator_moments(bandit, pi, estimator: str, group_size: int, **kwargs) -> EstimatorMoments:
    """Moments of the scattered estimate of a contextual bandit (context ``x ~ rho``, then a group).

    The estimate is ``g_hat_x`` in row ``x`` and 0 elsewhere, flattened to ``[X K]``:
    ``mean = rho_x E g_hat_x`` (the gradient of ``sum_x rho_x J_x``), ``covariance`` ``[X K, X K]``
    ``= blockdiag(rho_x E[g_hat_x g_hat_x^T]) - mean mean^T``. ``kwargs`` as in
    :func:`estimator_moments` (``beta``/``mu`` are taken from the bandit). ``mean``/``gradient``/``bias``
    are returned with shape [X, K].
    """
    from ..problems import ContextualBandit

    if not isinstance(bandit, ContextualBandit):
        raise TypeError(f"bandit must be a ContextualBandit, got {type(bandit).__name__}")
    X, K = bandit.r.shape
    pi = as_distribution("pi", as_float_array("pi", pi, ndim=2), (X, K))
    rows = [estimator_moments(pi[x], bandit.r[x], estimator, group_size, beta=bandit.beta, mu=bandit.mu[x],
                              **kwargs) for x in range(X)]
    rho = bandit.rho
    mean = np.stack([rho[x] * m.mean for x, m in enumerate(rows)])
    grad = np.stack([rho[x] * m.gradient for x, m in enumerate(rows)])
    second = np.zeros((X * K, X * K))
    for x, m in enumerate(rows):
        second[x * K:(x + 1) * K, x * K:(x + 1) * K] = rho[x] * (m.covariance + np.outer(m.mean, m.mean))
    flat = mean.ravel()
    cov = second - np.outer(flat, flat)
    return EstimatorMoments(mean, cov, grad, mean - grad, float(np.trace(cov)), rows[0].method,
                            sum(m.num_outcomes for m in rows))

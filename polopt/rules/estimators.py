"""Sampled policy-gradient estimators of LLM post-training, on a softmax (contextual) bandit.

Setting: one prompt (or a context ``x``), ``K`` responses (arms), a softmax policy
``pi = softmax(theta)``, a reward per arm ``R`` [K]. A *group* draws ``a_1..a_G ~ pi`` i.i.d.
and every estimator here has the form

.. math::  \\hat g = \\frac1G \\sum_{i=1}^G (A_i + c(a_i))\\,(e_{a_i} - \\pi)
           \\qquad (e_a - \\pi = \\nabla_\\theta \\log\\pi(a)),

with the *advantage* ``A_i`` fixed by the estimator and an optional per-action loss term
``c(a)`` (the gradient of an in-loss KL estimator, see :func:`kl_loss_coefficient`):

=============  ==============================================================  ================
estimator      advantage ``A_i``                                               ``E g_hat``
=============  ==============================================================  ================
reinforce      ``R_i - b`` (constant ``b``, default 0)                         ``grad J``
remax          ``R_i - R(argmax pi)`` (greedy baseline)                        ``grad J``
rloo           ``R_i - mean_{j != i} R_j``  (G >= 2)                           ``grad J``
grpo           ``(R_i - mean_j R_j) / (std_j R_j + std_eps)``                  biased
dr_grpo        ``R_i - mean_j R_j``  (= grpo without the std)                  ``(G-1)/G grad J``
oblr           ``R_i - sum_{j!=i} w_j R_j / sum_{j!=i} w_j``, ``w = ||e_a-pi||^2``  ``grad J``
=============  ==============================================================  ================

where ``grad J = pi * (R - pi.R)`` is the exact softmax policy gradient of ``J = pi.R``.
A baseline that does not depend on ``a_i`` keeps the estimator unbiased; the group mean
contains ``R_i`` and rescales the expectation by ``(G-1)/G``; the division by the group
standard deviation is a genuine bias. With a KL-regularized objective
``J = pi.r - beta KL(pi || mu)`` put the KL into the reward with :func:`shaped_reward`
(``R = r - beta log(pi/mu)``: unbiased for the regularized gradient) or into the loss with
the k1 / k3 estimators of GRPO (:func:`kl_loss_coefficient`).

Exact means, biases and covariances of all of these (by enumeration of the ``K^G`` outcomes
and in closed form) are in :mod:`polopt.exact.estimators`; ``tests/test_exact_estimators.py``
checks Monte Carlo from this module against them.

Every formula is written against the array namespace of its inputs (NumPy float64 or
``jax.numpy``), with leading batch axes carried through: ``pi`` [..., K], ``actions`` /
``rewards`` / ``adv`` [..., G]. The group estimators themselves (:func:`advantages`,
:func:`group_gradient`, ...) and their fused numba sampler :func:`sample_gradients` live in
:mod:`polopt.oracles.bandit` (what the oracle returns) and are re-exported here.

Rule factories (bottom of the module): :func:`estimator_ascent` (softmax PG ascent with any
estimator; GRPO's clipped multi-epoch step with ``epochs > 1``; OBLR-PO's SNR step with
``smoothness``) and one factory per method of the table (:func:`reinforce`, :func:`remax`,
:func:`rloo`, :func:`grpo`, :func:`dr_grpo`, :func:`oblr_po`), each ``update(state, oracle)``
with a :class:`polopt.oracles.bandit.BanditOracle` (exact moments or samples). The update runs on the
array namespace of its state: the oracle computes in NumPy (enumeration, numba) and returns its
arrays in the namespace of the policy it is asked about, so a ``jax.numpy`` state gives an eager JAX
step (NumPy = JAX checked by ``polopt.testing.rule_suite``).

References: Williams (1992) REINFORCE; Kool, van Hoof, Welling, "Buy 4 REINFORCE samples, get a
baseline for free!" (2019) and Ahmadian et al., arXiv 2402.14740 (RLOO); Li et al., arXiv
2310.10505 (ReMax); Shao et al., arXiv 2402.03300, Eqs. (3)-(4) (GRPO, k3 estimator); Liu et al.,
arXiv 2503.20783 (Dr.GRPO); Schulman et al., arXiv 1707.06347, Eq. (7) (PPO clipping); Weaver &
Tao (2001), Greensmith, Bartlett, Baxter, JMLR 5 (2004) (variance-optimal baseline); Huang,
Sheng, Zheng, arXiv 2511.23310 (OBLR-PO: gradient-weighted baseline, SNR-adaptive step; only the
abstract was read — the forms used here are the classical ones, as in the standard policy-gradient literature).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._validation import as_positive_int, as_scalar
from ..oracles.bandit import (  # noqa: F401  (re-exported: the estimators' historical home)
    _CHUNK,
    _CODES,
    _KERNELS,
    ESTIMATORS,
    GROUP_ESTIMATORS,
    PARALLEL_MIN_GROUPS,
    STD_EPS,
    GradientSamples,
    _numba_kernels,
    _take,
    advantages,
    alias_draw,
    alias_tables,
    check_estimator,
    gradient_from_advantages,
    gradient_weights,
    greedy_baseline,
    group_gradient,
    sample_gradients,
    trace_cov_from_sums,
)
from ._core import Rule, array_namespace, coefficient, hparams, log_normalize, require, step_size

__all__ = [
    "ESTIMATORS",
    "KL_ESTIMATORS",
    "STD_EPS",
    "GradientSamples",
    "SNREstimate",
    "advantages",
    "clipped_surrogate",
    "clipped_surrogate_gradient",
    "EstimatorState",
    "dr_grpo",
    "estimate_snr",
    "estimator_ascent",
    "grpo",
    "oblr_po",
    "reinforce",
    "remax",
    "rloo",
    "gradient_from_advantages",
    "gradient_weights",
    "greedy_baseline",
    "group_gradient",
    "kl_estimate",
    "kl_from_log_ratio",
    "kl_loss_coefficient",
    "optimal_baseline",
    "policy_gradient",
    "sample_gradients",
    "shaped_reward",
    "snr_step_size",
    "trace_cov_from_sums",
]

KL_ESTIMATORS = ("k1", "k3")

def _check_beta(beta, who: str) -> None:
    # called only where a KL term is used: beta = 0 would silently drop the term the caller asked for
    if isinstance(beta, (int, float, np.floating, np.integer)) and not float(beta) > 0.0:
        raise ValueError(f"beta must be > 0 where a KL term is used ({who}), got {float(beta):g}")


def _check_kl(kl: str) -> str:
    if kl not in KL_ESTIMATORS:
        raise ValueError(f"kl must be one of {', '.join(KL_ESTIMATORS)}, got {kl!r}")
    return kl


# --------------------------------------------------------------------------- exact pieces of a softmax bandit
def policy_gradient(pi, r):
    """Exact softmax policy gradient ``grad_theta (pi . r) = pi * (r - pi . r)``, ``[..., K]``.

    AKM (arXiv 1908.00261) softmax gradient with one state; it is ``E_{a~pi}[r(a)(e_a - pi)]``.
    """
    xp = array_namespace(pi, r)
    return pi * (r - xp.sum(pi * r, axis=-1, keepdims=True))


def shaped_reward(r, log_pi, log_mu, beta):
    """KL-shaped reward ``R_beta(a) = r(a) - beta (log pi(a) - log mu(a))``, ``[..., K]``.

    ``E_{a~pi}[R_beta(a)(e_a - pi)] = grad_theta [pi . r - beta KL(pi || mu)]`` (the constant
    ``-beta`` of the derivative of ``p log p`` has zero mean against the score), so any
    estimator that is unbiased for ``pi . R`` is unbiased for the regularized objective when fed
    ``R_beta`` (held fixed, i.e. not differentiated). Requires ``beta > 0``.
    """
    _check_beta(beta, "shaped_reward")
    return r - beta * (log_pi - log_mu)


def optimal_baseline(pi, r):
    """Variance-optimal constant baseline (the "gradient-weighted" baseline), ``[..., K] -> [...]``.

    .. math:: b^* = \\frac{E_{a\\sim\\pi}[\\|e_a-\\pi\\|^2 r(a)]}{E_{a\\sim\\pi}[\\|e_a-\\pi\\|^2]}

    minimizes ``tr Cov[(r(a) - b)(e_a - pi)]`` over constants ``b`` for any group size (the
    trace is the quadratic ``E[w (r - b)^2] - ||grad J||^2`` in ``b``). Weaver & Tao (2001);
    Greensmith et al., JMLR 2004; OBLR-PO's "gradient-weighted" baseline (arXiv 2511.23310,
    abstract). Checked against a grid and the exact variance in ``tests/test_exact_estimators.py``.
    A deterministic ``pi`` (all weights 0) gets ``b* = pi . r``.
    """
    xp = array_namespace(pi, r)
    pw = pi * gradient_weights(pi)
    den = xp.sum(pw, axis=-1)
    safe = xp.where(den > 0, den, 1.0)
    return xp.where(den > 0, xp.sum(pw * r, axis=-1) / safe, xp.sum(pi * r, axis=-1))


# --------------------------------------------------------------------------- KL estimators and PPO clipping
def kl_estimate(log_pi, log_mu, actions, kind: str = "k3"):
    """Per-sample KL estimators of ``KL(pi || mu)`` from ``a ~ pi``: ``[..., K], [..., G] -> [..., G]``.

    * ``k1 = log pi(a) - log mu(a)`` (unbiased, can be negative);
    * ``k3 = mu(a)/pi(a) - log(mu(a)/pi(a)) - 1`` (unbiased, >= 0; GRPO, arXiv 2402.03300 Eq. (4)).
    """
    _check_kl(kind)
    return kl_from_log_ratio(_take(log_mu - log_pi, actions), kind)  # log(mu/pi) at the samples


def kl_from_log_ratio(d, kind: str = "k3"):
    """Schulman's per-sample KL estimators from ``d = log mu(a) - log pi(a)``, ``a ~ pi`` (elementwise):
    ``k1 = -d``, ``k2 = d^2 / 2`` (biased, >= 0), ``k3 = e^d - d - 1`` (unbiased, >= 0)."""
    xp = array_namespace(d)
    if kind == "k1":
        return -d
    if kind == "k2":
        return 0.5 * d * d
    if kind == "k3":
        return xp.exp(d) - d - 1.0
    raise ValueError(f"kind must be 'k1', 'k2' or 'k3', got {kind!r}")


def kl_loss_coefficient(log_pi, log_mu, kind: str = "k3"):
    """Score coefficient of the gradient of an in-loss KL estimator, per action, ``[..., K]``.

    Differentiating ``k(a)`` with the sample ``a`` held fixed gives ``dk(a) (e_a - pi)`` with

    * k1: ``dk = 1``           -> ``E_{a~pi}[dk (e_a - pi)] = 0``: no KL force in expectation;
    * k3: ``dk = 1 - mu(a)/pi(a)`` -> ``E_{a~pi}[dk (e_a - pi)] = pi - mu = grad_theta KL(mu || pi)``,

    i.e. GRPO's k3-in-the-loss penalty pulls toward ``mu`` along the gradient of the *forward*
    KL, not of the ``KL(pi || mu)`` it estimates (derived; exact expectations checked by
    enumeration in ``tests/test_estimators.py``). The gradient of the loss
    ``- beta k(a)`` is ``-beta dk(a) (e_a - pi)``: pass ``loss_coef = -beta * dk``.
    """
    xp = array_namespace(log_pi, log_mu)
    _check_kl(kind)
    if kind == "k1":
        return xp.ones_like(log_pi)
    return 1.0 - xp.exp(log_mu - log_pi)


def _ratio_terms(log_pi, log_pi_old, actions, adv, eps):
    xp = array_namespace(log_pi, log_pi_old, adv)
    lp = _take(log_pi, actions)
    ratio = xp.exp(lp - _take(log_pi_old, actions))
    return xp, lp, ratio


def clipped_surrogate(log_pi, log_pi_old, actions, adv, eps: float, *, beta: float = 0.0, log_mu=None, kl=None):
    """GRPO/PPO objective of a group (to be maximized), ``[..., K] -> [...]``.

    .. math:: L = \\frac1G\\sum_i \\min(\\mathrm{ratio}_i A_i,\\
              \\mathrm{clip}(\\mathrm{ratio}_i, 1-\\epsilon, 1+\\epsilon) A_i)
              - \\beta\\,k(a_i),\\qquad \\mathrm{ratio}_i = \\pi(a_i)/\\pi_{old}(a_i)

    (PPO, arXiv 1707.06347 Eq. (7); GRPO, arXiv 2402.03300 Eq. (3) with ``|o_i| = 1``). ``kl``:
    None (no KL term) or "k1" / "k3" (:func:`kl_estimate`, then ``beta > 0`` is required).
    """
    xp, _, ratio = _ratio_terms(log_pi, log_pi_old, actions, adv, eps)
    surr = xp.minimum(ratio * adv, xp.clip(ratio, 1.0 - eps, 1.0 + eps) * adv)
    if kl is not None:
        _check_beta(beta, "clipped_surrogate")
        surr = surr - beta * kl_estimate(log_pi, log_mu, actions, kl)
    return xp.mean(surr, axis=-1)


def clipped_surrogate_gradient(log_pi, log_pi_old, actions, adv, eps: float, *, beta: float = 0.0, log_mu=None,
                               kl=None):
    """``grad_theta`` of :func:`clipped_surrogate` w.r.t. the logits ``theta`` of ``pi``, ``[..., K]``.

    ``d ratio_i / d theta = ratio_i (e_{a_i} - pi)``; the clipped branch is flat, so sample ``i``
    contributes ``ratio_i A_i`` exactly when the unclipped branch is the minimum
    (``A_i >= 0 and ratio_i <= 1 + eps``, or ``A_i < 0 and ratio_i >= 1 - eps``), else 0; the KL
    term contributes ``-beta dk(a_i)`` (:func:`kl_loss_coefficient`). At ``pi = pi_old``
    (the first step on a fresh group) nothing is clipped and this is
    ``(1/G) sum_i (A_i - beta dk(a_i)) (e_{a_i} - pi)``. Checked against finite differences of
    :func:`clipped_surrogate` in ``tests/test_estimators.py``.
    """
    xp, lp, ratio = _ratio_terms(log_pi, log_pi_old, actions, adv, eps)
    active = xp.where(adv >= 0, ratio <= 1.0 + eps, ratio >= 1.0 - eps)
    coef = xp.where(active, ratio * adv, 0.0)
    if kl is not None:
        _check_beta(beta, "clipped_surrogate_gradient")
        coef = coef - beta * _take(kl_loss_coefficient(log_pi, log_mu, kl), actions)
    return gradient_from_advantages(xp.exp(log_pi), actions, coef)


# --------------------------------------------------------------------------- OBLR-PO: SNR step
class SNREstimate(NamedTuple):
    """Unbiased estimates from ``M >= 2`` i.i.d. group estimates ``g_1..g_M`` of one policy.

    ``grad_sq``: ``||E g||^2`` (``||g_bar||^2 - tr_cov``, clipped at 0); ``trace_cov``:
    ``tr Cov(g_bar)`` of the mean ``g_bar`` (sample covariance / M); ``mean``: ``g_bar`` [..., K].
    """

    mean: object
    grad_sq: object
    trace_cov: object


def estimate_snr(grads) -> SNREstimate:
    """``grads`` [M, ..., K] (M >= 2 i.i.d. estimates) -> :class:`SNREstimate` of their mean."""
    xp = array_namespace(grads)
    M = grads.shape[0]
    if M < 2:
        raise ValueError(f"grads must hold at least 2 independent estimates on axis 0 to estimate a variance, got {M}")
    mean = xp.mean(grads, axis=0)
    flat = (grads - mean).reshape(M, -1)
    trace_cov = xp.sum(flat * flat) / (M - 1) / M
    grad_sq = xp.maximum(xp.sum(mean * mean) - trace_cov, 0.0)
    return SNREstimate(mean, grad_sq, trace_cov)


def snr_step_size(grad_sq, trace_cov, smoothness):
    """SNR-adaptive step ``eta* = (1/L) SNR / (1 + SNR) = ||grad J||^2 / (L (||grad J||^2 + tr Cov g))``.

    For an ``L``-smooth ``J`` and an unbiased ``g``,
    ``E J(theta + eta g) >= J + eta ||grad J||^2 - (L eta^2 / 2)(||grad J||^2 + tr Cov g)``;
    ``eta*`` maximizes this lower bound and guarantees the ascent ``eta* ||grad J||^2 / 2``
    (derived; the shape of OBLR-PO's schedule, arXiv 2511.23310, is recalled — the paper's own
    statement was not seen). ``grad_sq = trace_cov = 0`` gives 0. Checked exactly (enumeration of
    ``E J(theta + eta* g)``) in ``tests/test_exact_estimators.py``.
    """
    xp = array_namespace(grad_sq, trace_cov)
    tot = grad_sq + trace_cov
    # SNR/(1+SNR) in [0, 1] first: L * tot could underflow for tiny rewards
    return xp.where(tot > 0, grad_sq / xp.where(tot > 0, tot, 1.0), 0.0) / smoothness


# --------------------------------------------------------------------------- rule factories
# Each factory takes the hyper-parameters by their maths names, validates them once and returns a
# Rule whose ``update(state, oracle)`` asks a :class:`~polopt.oracles.bandit.BanditOracle` for the
# estimate (its exact expectation or samples): the rule is the same in both modes.
class EstimatorState(NamedTuple):
    """State of softmax PG ascent with an estimator: ``log_pi`` [..., K] (normalized logits), ``t``
    (updates made), and what the last update used: ``eta`` (its step), ``direction`` (its ascent
    direction, shape of ``log_pi``) and ``trace_cov`` (``tr Cov`` of the direction where the oracle
    knows it, else 0)."""

    log_pi: Any
    t: Any
    eta: Any
    direction: Any
    trace_cov: Any


#: PPO's clip range (Schulman et al. 2017 use 0.2).
DEFAULT_EPS = 0.2
#: Mei et al.'s smoothness constant of ``theta -> softmax(theta).r`` for rewards in [0, 1] (the
#: factory's default; the solve runner uses ``(5/2) max_x rho_x span(r_x)`` of the problem).
MEI_SMOOTHNESS = 2.5


def _kl_rewards(r, log_pi, log_mu, beta, kl):
    """Rewards ``R`` fed to the estimator and the per-action in-loss coefficient ``c`` ([X, K] each)."""
    xp = array_namespace(r, log_pi)
    if beta == 0:
        return r, xp.zeros_like(r)
    if kl == "reward":
        return shaped_reward(r, log_pi, log_mu, beta), xp.zeros_like(r)
    return r, -beta * kl_loss_coefficient(log_pi, log_mu, kl)


def _add_rows(target, rows, values):
    """``target`` plus ``values[n]`` added to row ``rows[n]`` for every ``n`` (repeated rows accumulate).

    NumPy accumulates in place on a copy (``np.add.at``), JAX by its functional scatter ``.at[].add``."""
    xp = array_namespace(target, values)
    if xp is np:
        out = np.array(target)
        np.add.at(out, rows, values)
        return out
    return target.at[rows].add(values)


def estimator_ascent(*, estimator: str = "rloo", eta=None, beta=0.0, baseline=0.0, kl: str = "reward",
                     std_eps=STD_EPS, ddof: int = 1, eps=DEFAULT_EPS, epochs: int = 1, smoothness=None,
                     name: str | None = None) -> Rule:
    """Softmax policy-gradient ascent ``theta <- theta + eta g`` with the group estimator ``estimator``.

    ``g`` is the oracle's mean of ``num_samples`` group estimates (exact expectation or samples) of
    the rewards ``R`` with KL placement ``kl``: ``"reward"`` shapes them (``R = r - beta log(pi/mu)``,
    unbiased for ``J = E_pi r - beta KL(pi || mu)``), ``"k1"`` / ``"k3"`` put GRPO's estimator into
    the loss (:func:`kl_loss_coefficient`). ``baseline``: the reinforce constant or ``"optimal"``
    (:func:`optimal_baseline` of the current policy).

    Steps: ``eta`` (a constant > 0, finite), or with ``smoothness = L`` OBLR-PO's SNR step
    ``eta_t = SNR_t / ((1 + SNR_t) L)`` (:func:`snr_step_size`; ``eta`` must then be None).
    ``epochs > 1``: GRPO/PPO's clipped multi-epoch step: ``epochs`` gradient steps of the clipped
    surrogate (:func:`clipped_surrogate_gradient`, clip range ``eps``) on one sampled batch (needs
    a sampled oracle). One oracle call per update; the state is :class:`EstimatorState`.
    """
    rule = name or "estimator_ascent"
    check_estimator(estimator)
    beta = coefficient(rule, "beta", beta)
    if smoothness is None:
        eta = step_size(rule, "eta", eta)
        L = None
    else:
        if eta is not None:
            raise TypeError(f"{rule}: eta is not used with smoothness (the SNR step sets eta_t)")
        L = step_size(rule, "smoothness", smoothness)
    if not (isinstance(baseline, str) and baseline == "optimal"):
        baseline = coefficient(rule, "baseline", baseline, low=None)
    if kl not in ("reward", "k1", "k3"):
        raise ValueError(f"{rule}: kl must be 'reward', 'k1' or 'k3', got {kl!r}")
    require(rule, kl == "reward" or beta > 0,
            f"beta must be > 0 where a KL term is used (kl={kl!r}), got beta = {float(beta):g}")
    std_eps = coefficient(rule, "std_eps", std_eps)
    if ddof not in (0, 1):
        raise ValueError(f"{rule}: ddof must be 0 or 1, got {ddof!r}")
    try:
        eps = as_scalar("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{rule}: {exc}") from None
    epochs = as_positive_int("epochs", epochs)
    require(rule, epochs == 1 or L is None, "the SNR step (smoothness) takes one step per batch (epochs = 1)")
    in_loss = None if (beta == 0 or kl == "reward") else kl

    def init(log_pi0, oracle=None):
        if oracle is not None and epochs > 1 and not oracle.sampled:
            raise ValueError(f"{rule}: epochs > 1 (PPO clipping over several steps) needs a sampled oracle "
                             f"(mode='sampled'), got epochs = {epochs}")
        if oracle is not None and L is not None and oracle.sampled and oracle.num_samples < 2:
            raise ValueError(f"{rule}: the SNR step estimates a variance from the group estimates of an "
                             f"iteration: num_samples must be >= 2 with a sampled oracle, got {oracle.num_samples}")
        xp = array_namespace(log_pi0)
        lp = log_normalize(np.asarray(log_pi0, dtype=np.float64) if xp is np else log_pi0)
        return EstimatorState(lp, 0, 0.0, xp.zeros_like(lp), 0.0)

    def _base(pi, R):
        xp = array_namespace(pi)
        return optimal_baseline(pi, R) if isinstance(baseline, str) else xp.full(pi.shape[0], baseline, pi.dtype)

    def _clipped(lp2, pi, R, oracle):
        xp = array_namespace(lp2)
        ctx, acts = oracle.draw_groups(pi)
        Rs = xp.take_along_axis(R[ctx], acts, axis=-1)
        w = xp.take_along_axis(gradient_weights(pi[ctx]), acts, axis=-1)
        adv = advantages(Rs, estimator, baseline=_base(pi, R)[ctx], weights=w, std_eps=std_eps, ddof=ddof)
        log_mu = None if in_loss is None else oracle.log_mu[ctx]
        total = xp.zeros_like(lp2)
        for _ in range(epochs):
            lp = log_normalize(lp2 + eta * total)
            g = clipped_surrogate_gradient(lp[ctx], lp2[ctx], acts, adv, eps, beta=beta, log_mu=log_mu, kl=in_loss)
            total = total + _add_rows(xp.zeros_like(lp2), ctx, g / acts.shape[0])
        return total

    def update(state, oracle):
        lp = state.log_pi
        lp2 = lp.reshape(-1, lp.shape[-1])
        pi = array_namespace(lp).exp(lp2)
        R, coef = _kl_rewards(oracle.r, lp2, oracle.log_mu, beta, kl)
        if epochs > 1:
            d, tc, step = _clipped(lp2, pi, R, oracle), 0.0, eta
        else:
            est = oracle.estimate(pi, R, estimator, baseline=_base(pi, R), loss_coef=coef, std_eps=std_eps, ddof=ddof)
            d, tc = est.mean, (0.0 if est.trace_cov is None else est.trace_cov)
            step = eta if L is None else snr_step_size(est.grad_sq, est.trace_cov, L)
        new = log_normalize(lp2 + step * d)
        return EstimatorState(new.reshape(lp.shape), state.t + 1, step, d.reshape(lp.shape), tc)

    hp = hparams(rule, estimator=estimator, eta=eta, beta=beta, baseline=baseline, kl=kl, std_eps=std_eps, ddof=ddof,
                 eps=eps, epochs=epochs, smoothness=L)
    return Rule(rule, init, update, 1, False, hp)


def reinforce(*, eta=1.0, beta=0.0, baseline=0.0) -> Rule:
    """REINFORCE ascent, constant ``baseline`` or ``"optimal"`` (unbiased): :func:`estimator_ascent`."""
    return estimator_ascent(estimator="reinforce", eta=eta, beta=beta, baseline=baseline, name="reinforce")


def remax(*, eta=1.0, beta=0.0) -> Rule:
    """ReMax ascent: REINFORCE with the greedy arm's reward as baseline (unbiased)."""
    return estimator_ascent(estimator="remax", eta=eta, beta=beta, name="remax")


def rloo(*, eta=1.0, beta=0.0) -> Rule:
    """RLOO ascent: leave-one-out group baseline (unbiased; group_size >= 2)."""
    return estimator_ascent(estimator="rloo", eta=eta, beta=beta, name="rloo")


def grpo(*, eta=1.0, beta=0.0, kl="reward", std_eps=STD_EPS, ddof=1, eps=DEFAULT_EPS, epochs=1) -> Rule:
    """GRPO: std-normalized group advantage, KL in the loss (``kl="k3"``) or the reward, PPO clipping
    over ``epochs`` steps on a sampled batch."""
    return estimator_ascent(estimator="grpo", eta=eta, beta=beta, kl=kl, std_eps=std_eps, ddof=ddof, eps=eps,
                            epochs=epochs, name="grpo")


def dr_grpo(*, eta=1.0, beta=0.0, kl="reward", eps=DEFAULT_EPS, epochs=1) -> Rule:
    """Dr.GRPO: group-mean advantage without the std (``E g = (G-1)/G grad J``), options as :func:`grpo`."""
    return estimator_ascent(estimator="dr_grpo", eta=eta, beta=beta, kl=kl, eps=eps, epochs=epochs, name="dr_grpo")


def oblr_po(*, beta=0.0, smoothness=MEI_SMOOTHNESS) -> Rule:
    """OBLR-PO: gradient-weighted leave-one-out baseline and the SNR step ``SNR / ((1 + SNR) L)``."""
    return estimator_ascent(estimator="oblr", beta=beta, smoothness=smoothness, name="oblr_po")

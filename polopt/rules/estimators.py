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

Every function but :func:`sample_gradients` (NumPy; a numba kernel) is written against the
array namespace of its inputs (NumPy float64 or ``jax.numpy``), with leading batch axes carried
through: ``pi`` [..., K], ``actions`` / ``rewards`` / ``adv`` [..., G].

References: Williams (1992) REINFORCE; Kool, van Hoof, Welling, "Buy 4 REINFORCE samples, get a
baseline for free!" (2019) and Ahmadian et al., arXiv 2402.14740 (RLOO); Li et al., arXiv
2310.10505 (ReMax); Shao et al., arXiv 2402.03300, Eqs. (3)-(4) (GRPO, k3 estimator); Liu et al.,
arXiv 2503.20783 (Dr.GRPO); Schulman et al., arXiv 1707.06347, Eq. (7) (PPO clipping); Weaver &
Tao (2001), Greensmith, Bartlett, Baxter, JMLR 5 (2004) (variance-optimal baseline); Huang,
Sheng, Zheng, arXiv 2511.23310 (OBLR-PO: gradient-weighted baseline, SNR-adaptive step; only the
abstract was read — the forms used here are the classical ones, see ``shared`` digest §2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._core import array_namespace

__all__ = [
    "ESTIMATORS",
    "KL_ESTIMATORS",
    "STD_EPS",
    "GradientSamples",
    "SNREstimate",
    "advantages",
    "clipped_surrogate",
    "clipped_surrogate_gradient",
    "estimate_snr",
    "gradient_from_advantages",
    "gradient_weights",
    "greedy_baseline",
    "group_gradient",
    "kl_estimate",
    "kl_loss_coefficient",
    "optimal_baseline",
    "policy_gradient",
    "sample_gradients",
    "shaped_reward",
    "snr_step_size",
    "trace_cov_from_sums",
]

ESTIMATORS = ("reinforce", "remax", "rloo", "grpo", "dr_grpo", "oblr")
#: Estimators whose baseline is built from the other members of the group (need G >= 2).
GROUP_ESTIMATORS = ("rloo", "grpo", "dr_grpo", "oblr")
KL_ESTIMATORS = ("k1", "k3")
#: Added to the group standard deviation before dividing (the value of verl's GRPO advantage):
#: a group with equal rewards then gets advantage 0 instead of 0/0.
STD_EPS = 1e-6


# --------------------------------------------------------------------------- validation (static)
def check_estimator(estimator: str, group_size: int | None = None) -> str:
    """``estimator`` must be one of :data:`ESTIMATORS`; group estimators need ``group_size >= 2``."""
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if group_size is not None and estimator in GROUP_ESTIMATORS and group_size < 2:
        raise ValueError(
            f"group_size must be >= 2 for the {estimator} estimator (its baseline uses the other "
            f"members of the group), got {group_size}"
        )
    return estimator


def _check_beta(beta, who: str) -> None:
    # called only where a KL term is used: beta = 0 would silently drop the term the caller asked for
    if isinstance(beta, (int, float, np.floating, np.integer)) and not float(beta) > 0.0:
        raise ValueError(f"beta must be > 0 where a KL term is used ({who}), got {float(beta):g}")


def _take(v, actions):
    """``v[..., a_i]`` for ``actions`` [..., G]; ``v`` [..., K] broadcasts over the leading axes of ``actions``."""
    xp = array_namespace(v)
    lead = tuple(np.broadcast_shapes(v.shape[:-1], actions.shape[:-1]))
    v = xp.broadcast_to(v, lead + v.shape[-1:])
    return xp.take_along_axis(v, xp.broadcast_to(actions, lead + actions.shape[-1:]), axis=-1)


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


def greedy_baseline(pi, r):
    """ReMax baseline ``b = r(argmax_a pi(a))`` (first maximiser on ties), ``[..., K] -> [...]``.

    It depends on the policy only, not on the sample, so REINFORCE with it stays unbiased
    (Li et al., arXiv 2310.10505: the reward of the greedy decode).
    """
    xp = array_namespace(pi, r)
    idx = xp.argmax(pi, axis=-1)[..., None]
    return xp.take_along_axis(r, idx, axis=-1)[..., 0]


def gradient_weights(pi):
    """``w(a) = ||grad log pi(a)||^2 = ||e_a - pi||^2 = (1 - pi(a))^2 + sum_{b != a} pi(b)^2``, ``[..., K]``.

    Summed as non-negative terms (the sum over ``b != a`` from exclusive prefix and suffix sums)
    rather than as ``1 - 2 pi(a) + ||pi||^2``, which cancels catastrophically when ``pi(a)``
    is near 1: there ``w(a) ~ 1e-10`` and the expanded form keeps only ~6 correct digits.
    """
    xp = array_namespace(pi)
    sq = pi * pi
    zero = xp.zeros_like(sq[..., :1])
    before = xp.concatenate([zero, xp.cumsum(sq, axis=-1)[..., :-1]], axis=-1)
    after = xp.flip(xp.concatenate([zero, xp.cumsum(xp.flip(sq, axis=-1), axis=-1)[..., :-1]], axis=-1), axis=-1)
    return (1.0 - pi) ** 2 + before + after


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


# --------------------------------------------------------------------------- advantages of a group
def advantages(rewards, estimator: str, *, baseline=0.0, weights=None, std_eps: float = STD_EPS, ddof: int = 1):
    """Advantages ``A_i`` of a group of rewards ``[..., G] -> [..., G]`` (table in the module docstring).

    Args:
        rewards: ``R(a_i)`` of the group, ``[..., G]``.
        estimator: one of :data:`ESTIMATORS`.
        baseline: ``b`` for "reinforce" / "remax" (scalar or ``[...]``; for ReMax pass
            :func:`greedy_baseline`, :func:`group_gradient` does it for you).
        weights: ``w(a_i)`` ``[..., G]`` for "oblr" (:func:`gradient_weights` of the sampled arms).
        std_eps: added to the group std for "grpo".
        ddof: degrees of freedom of the group std for "grpo" (1: the unbiased ``torch.std`` used
            by TRL and verl; 0: the population std).

    Leave-one-out forms use ``sum_{j != i} x_j = sum_j x_j - x_i``: O(G), no ``G x G`` mask.
    """
    xp = array_namespace(rewards)
    G = rewards.shape[-1]
    check_estimator(estimator, G)
    if estimator in ("reinforce", "remax"):
        b = xp.asarray(baseline, dtype=rewards.dtype)
        return rewards - (b[..., None] if b.ndim else b)
    total = xp.sum(rewards, axis=-1, keepdims=True)
    if estimator == "rloo":
        return rewards - (total - rewards) / (G - 1)
    mean = total / G
    if estimator == "dr_grpo":
        return rewards - mean
    if estimator == "grpo":
        var = xp.sum((rewards - mean) ** 2, axis=-1, keepdims=True) / (G - ddof)
        return (rewards - mean) / (xp.sqrt(var) + std_eps)
    # oblr: leave-one-out gradient-weighted mean; independent of a_i given the others -> unbiased
    if weights is None:
        raise ValueError("weights (the gradient weights w(a_i) of the sampled arms) are required for oblr")
    wr = xp.sum(weights * rewards, axis=-1, keepdims=True) - weights * rewards
    w = xp.sum(weights, axis=-1, keepdims=True) - weights
    # w = 0 only when pi is one-hot on the other samples; then e_a - pi = 0 and the value is irrelevant
    b = xp.where(w > 0, wr / xp.where(w > 0, w, 1.0), 0.0)
    return rewards - b


def gradient_from_advantages(pi, actions, adv):
    """``g_hat = (1/G) sum_i adv_i (e_{a_i} - pi)``: ``pi`` [..., K], ``actions``/``adv`` [..., G] -> [..., K]."""
    xp = array_namespace(pi, adv)
    K = pi.shape[-1]
    onehot = (actions[..., None] == xp.arange(K)).astype(pi.dtype)  # [..., G, K]
    G = actions.shape[-1]
    return (xp.sum(adv[..., None] * onehot, axis=-2) - xp.sum(adv, axis=-1, keepdims=True) * pi) / G


def group_gradient(pi, r, actions, estimator: str, *, baseline=0.0, loss_coef=None, std_eps: float = STD_EPS,
                   ddof: int = 1):
    """One gradient estimate per group: ``pi`` [..., K], rewards per arm ``r`` [..., K], ``actions`` [..., G].

    .. math:: \\hat g = \\frac1G\\sum_i (A_i + c(a_i))(e_{a_i} - \\pi)

    ``loss_coef`` ``c`` [..., K] (optional) is a per-action in-loss term (e.g.
    ``-beta * kl_loss_coefficient(...)``). ReMax's baseline is computed here from ``pi``.

    Returns ``[..., K]``. Unbiasedness / scaling / bias of each estimator: module docstring.
    """
    check_estimator(estimator, actions.shape[-1])
    R = _take(r, actions)
    if estimator == "remax":
        baseline = greedy_baseline(pi, r)
    weights = _take(gradient_weights(pi), actions) if estimator == "oblr" else None
    adv = advantages(R, estimator, baseline=baseline, weights=weights, std_eps=std_eps, ddof=ddof)
    if loss_coef is not None:
        adv = adv + _take(loss_coef, actions)
    return gradient_from_advantages(pi, actions, adv)


# --------------------------------------------------------------------------- KL estimators and PPO clipping
def kl_estimate(log_pi, log_mu, actions, kind: str = "k3"):
    """Per-sample KL estimators of ``KL(pi || mu)`` from ``a ~ pi``: ``[..., K], [..., G] -> [..., G]``.

    * ``k1 = log pi(a) - log mu(a)`` (unbiased, can be negative);
    * ``k3 = mu(a)/pi(a) - log(mu(a)/pi(a)) - 1`` (unbiased, >= 0; GRPO, arXiv 2402.03300 Eq. (4)).
    """
    xp = array_namespace(log_pi, log_mu)
    _check_kl(kind)
    d = _take(log_mu - log_pi, actions)  # log(mu/pi) at the samples
    return -d if kind == "k1" else xp.exp(d) - d - 1.0


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
    rho = xp.exp(lp - _take(log_pi_old, actions))
    return xp, lp, rho


def clipped_surrogate(log_pi, log_pi_old, actions, adv, eps: float, *, beta: float = 0.0, log_mu=None, kl=None):
    """GRPO/PPO objective of a group (to be maximized), ``[..., K] -> [...]``.

    .. math:: L = \\frac1G\\sum_i \\min(\\rho_i A_i,\\ \\mathrm{clip}(\\rho_i, 1-\\epsilon, 1+\\epsilon) A_i)
              - \\beta\\,k(a_i),\\qquad \\rho_i = \\pi(a_i)/\\pi_{old}(a_i)

    (PPO, arXiv 1707.06347 Eq. (7); GRPO, arXiv 2402.03300 Eq. (3) with ``|o_i| = 1``). ``kl``:
    None (no KL term) or "k1" / "k3" (:func:`kl_estimate`, then ``beta > 0`` is required).
    """
    xp, _, rho = _ratio_terms(log_pi, log_pi_old, actions, adv, eps)
    surr = xp.minimum(rho * adv, xp.clip(rho, 1.0 - eps, 1.0 + eps) * adv)
    if kl is not None:
        _check_beta(beta, "clipped_surrogate")
        surr = surr - beta * kl_estimate(log_pi, log_mu, actions, kl)
    return xp.mean(surr, axis=-1)


def clipped_surrogate_gradient(log_pi, log_pi_old, actions, adv, eps: float, *, beta: float = 0.0, log_mu=None,
                               kl=None):
    """``grad_theta`` of :func:`clipped_surrogate` w.r.t. the logits ``theta`` of ``pi``, ``[..., K]``.

    ``d rho_i / d theta = rho_i (e_{a_i} - pi)``; the clipped branch is flat, so sample ``i``
    contributes ``rho_i A_i`` exactly when the unclipped branch is the minimum
    (``A_i >= 0 and rho_i <= 1 + eps``, or ``A_i < 0 and rho_i >= 1 - eps``), else 0; the KL
    term contributes ``-beta dk(a_i)`` (:func:`kl_loss_coefficient`). At ``pi = pi_old``
    (the first step on a fresh group) nothing is clipped and this is
    ``(1/G) sum_i (A_i - beta dk(a_i)) (e_{a_i} - pi)``. Checked against finite differences of
    :func:`clipped_surrogate` in ``tests/test_estimators.py``.
    """
    xp, lp, rho = _ratio_terms(log_pi, log_pi_old, actions, adv, eps)
    active = xp.where(adv >= 0, rho <= 1.0 + eps, rho >= 1.0 - eps)
    coef = xp.where(active, rho * adv, 0.0)
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


# --------------------------------------------------------------------------- fast sampling (numba)
class GradientSamples(NamedTuple):
    """Output of :func:`sample_gradients`.

    ``grads``: ``[N, K]`` one estimate per group (``reduce="none"``), or their mean (``reduce="mean"``:
    ``[K]`` for a bandit, ``[X, K]`` for a contextual bandit with each group's estimate placed in
    the row of its context); ``contexts``: ``[N]`` context of each group (0 for a bandit);
    ``sq_norms``: ``sum_n ||g_n||^2`` over the N estimates (for :func:`trace_cov_from_sums`).
    """

    grads: np.ndarray
    contexts: np.ndarray
    sq_norms: float


_CODES = {"reinforce": 0, "remax": 0, "rloo": 1, "dr_grpo": 2, "grpo": 3, "oblr": 4}
#: Groups per work chunk of the numba kernel (scratch arrays and partial sums are per chunk).
_CHUNK = 4096
_KERNELS: dict = {}
#: Batches of at least this many groups run on numba's thread pool; smaller ones serially.
PARALLEL_MIN_GROUPS = 1 << 16


def _numba_kernels():
    """Compile on first use only: importing the rules never pays numba's start-up."""
    if _KERNELS:
        return _KERNELS["alias"], _KERNELS["grad"]
    import numba

    @numba.njit(cache=True)
    def alias_tables(pi, prob, alias):
        # Vose's alias method (Walker 1977; Vose 1991): column j keeps j w.p. prob[j], else alias[j]
        X, K = pi.shape
        small = np.empty(K, np.int64)
        large = np.empty(K, np.int64)
        scaled = np.empty(K)
        for x in range(X):
            ns, nl = 0, 0
            for k in range(K):
                scaled[k] = pi[x, k] * K
                alias[x, k] = k
                if scaled[k] < 1.0:
                    small[ns] = k
                    ns += 1
                else:
                    large[nl] = k
                    nl += 1
            while ns > 0 and nl > 0:
                ns -= 1
                s = small[ns]
                g = large[nl - 1]
                prob[x, s] = scaled[s]
                alias[x, s] = g
                scaled[g] = scaled[g] + scaled[s] - 1.0
                if scaled[g] < 1.0:
                    nl -= 1
                    small[ns] = g
                    ns += 1
            # leftovers are 1 up to round-off: they keep their own column
            for i in range(nl):
                prob[x, large[i]] = 1.0
            for i in range(ns):
                prob[x, small[i]] = 1.0

    @numba.njit(cache=True)
    def chunk(c, prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq):
        N, G = u.shape
        K = pi.shape[1]
        # one chunk of groups; its scratch arrays are allocated once
        a = np.empty(G, np.int64)
        R = np.empty(G)
        A = np.empty(G)
        sq_c = 0.0
        for n in range(c * _CHUNK, min(N, (c + 1) * _CHUNK)):
            x = ctx[n]
            for i in range(G):
                y = u[n, i] * K
                j = min(int(y), K - 1)
                a[i] = j if y - j < prob[x, j] else alias[x, j]
                R[i] = rew[x, a[i]]
            tot = 0.0
            for i in range(G):
                tot += R[i]
            if code == 0:
                for i in range(G):
                    A[i] = R[i] - base[x]
            elif code == 1:
                for i in range(G):
                    A[i] = R[i] - (tot - R[i]) / (G - 1)
            elif code == 2 or code == 3:
                mean = tot / G
                for i in range(G):
                    A[i] = R[i] - mean
                if code == 3:
                    ss = 0.0
                    for i in range(G):
                        ss += A[i] * A[i]
                    sd = np.sqrt(ss / (G - ddof)) + std_eps
                    for i in range(G):
                        A[i] = A[i] / sd
            else:
                sw, swr = 0.0, 0.0
                for i in range(G):
                    sw += w[x, a[i]]
                    swr += w[x, a[i]] * R[i]
                for i in range(G):
                    wi = w[x, a[i]]
                    den = sw - wi
                    A[i] = R[i] - ((swr - wi * R[i]) / den if den > 0 else 0.0)
            s = 0.0
            for i in range(G):
                A[i] = (A[i] + coef[x, a[i]]) / G
                s += A[i]
            if dense:
                for k in range(K):
                    out[n, k] = -s * pi[x, k]
                for i in range(G):
                    out[n, a[i]] += A[i]
            else:
                # g = sum_i A_i e_{a_i} - s pi: accumulate in O(G), and ||g||^2 from
                # sum_{i,j: a_i = a_j} A_i A_j - 2 s sum_i A_i pi(a_i) + s^2 ||pi||^2
                api, dup = 0.0, 0.0
                for i in range(G):
                    part[c, x, a[i]] += A[i]
                    api += A[i] * pi[x, a[i]]
                    for j in range(G):
                        if a[j] == a[i]:
                            dup += A[i] * A[j]
                part[c, x, K] += s
                sq_c += dup - 2.0 * s * api + s * s * pp[x]
        sq[c] = sq_c

    # two drivers with distinct names: numba's on-disk cache keys by function, not by the parallel flag
    @numba.njit(cache=True)
    def grad_serial(prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq):
        for c in range((u.shape[0] + _CHUNK - 1) // _CHUNK):
            chunk(c, prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq)

    @numba.njit(cache=True, parallel=True)
    def grad_parallel(prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq):
        for c in numba.prange((u.shape[0] + _CHUNK - 1) // _CHUNK):
            chunk(c, prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq)

    _KERNELS["alias"] = alias_tables
    # the serial driver avoids the thread-pool hand-off that dominates small batches
    _KERNELS["grad"] = grad_serial
    _KERNELS["grad_parallel"] = grad_parallel
    return alias_tables, grad_serial


def alias_tables(pi):
    """Vose alias tables ``(prob [X, K], alias [X, K])`` of the rows of ``pi`` [X, K] (numba)."""
    pi = np.ascontiguousarray(pi, dtype=np.float64)
    prob = np.ones(pi.shape)
    alias = np.empty(pi.shape, dtype=np.int64)
    _numba_kernels()[0](pi, prob, alias)
    return prob, alias


def alias_draw(prob, alias, ctx, u):
    """Arms from uniforms ``u`` [N, G] with the alias tables of rows ``ctx`` [N] (NumPy reference of the kernel)."""
    K = prob.shape[-1]
    y = u * K
    j = np.minimum(y.astype(np.int64), K - 1)
    keep = (y - j) < prob[ctx[:, None], j]
    return np.where(keep, j, alias[ctx[:, None], j])


def _as_rows(name, arr, X, K):
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape == (K,) and X == 1:
        arr = arr[None, :]
    if arr.shape != (X, K):
        raise ValueError(f"{name} must have shape {(X, K) if X > 1 else (K,)}, got {arr.shape}")
    return np.ascontiguousarray(arr)


def sample_gradients(rng, pi, r, estimator: str, group_size: int, num_samples: int, *, contexts=None, baseline=0.0,
                     loss_coef=None, std_eps: float = STD_EPS, ddof: int = 1, reduce: str = "none",
                     backend: str = "numba", uniforms=None) -> GradientSamples:
    """Draw ``num_samples`` groups of ``group_size`` arms; one gradient estimate per group.

    Arms are drawn by Vose's alias method from uniforms of ``rng`` (one uniform per arm), so a
    run is reproducible from the seed whatever the backend and thread count.

    Args:
        rng: ``numpy.random.Generator`` or a seed.
        pi: policy [K], or [X, K] with ``contexts`` (a context ``x ~ contexts`` per group).
        r: rewards per arm, same shape as ``pi`` (already KL-shaped if wanted).
        estimator, group_size: see :data:`ESTIMATORS`; group estimators need ``group_size >= 2``.
        num_samples: number of groups ``N >= 1``.
        contexts: context distribution ``rho`` [X] (required when ``pi`` is [X, K]).
        baseline: "reinforce" constant (scalar or [X]); ReMax's is computed from ``pi``.
        loss_coef: per-action in-loss coefficient (same shape as ``pi``), see :func:`group_gradient`.
        reduce: "none" (the ``[N, K]`` estimates; memory-bound for large ``N K``) or "mean" (their
            mean, accumulated in O(G) per group without forming the dense rows).
        backend: "numba" (fused kernel, parallel over chunks of groups) or "numpy" (vectorized
            reference, memory ``N G K``).
        uniforms: optional ``[N, G]`` uniforms in [0, 1) used instead of drawing them (tests).

    Returns:
        :class:`GradientSamples`. For a contextual bandit the estimate of group ``n`` is the
        estimate of ``grad_{theta_x} J_x`` for ``x = contexts[n]``; the expectation of the
        scattered estimate is ``rho_x grad J_x`` (the gradient of ``sum_x rho_x J_x``).

    Speed: ``bench/bench_estimators.py`` (K = 100, G = 8).
    """
    from ..oracles.sampling import as_generator

    check_estimator(estimator, int(group_size))
    if backend not in ("numba", "numpy"):
        raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")
    if reduce not in ("none", "mean"):
        raise ValueError(f"reduce must be 'none' or 'mean', got {reduce!r}")
    G, N = int(group_size), int(num_samples)
    if G < 1 or N < 1:
        raise ValueError(f"group_size and num_samples must be >= 1, got {G} and {N}")
    rng = as_generator(rng)
    pi = np.asarray(pi, dtype=np.float64)
    X = 1 if pi.ndim == 1 else pi.shape[0]
    K = pi.shape[-1]
    pi2, r2 = _as_rows("pi", pi, X, K), _as_rows("r", r, X, K)
    if pi.ndim == 2:
        if contexts is None:
            raise ValueError("contexts (the context distribution rho [X]) is required when pi is [X, K]")
        cdf_x = np.cumsum(np.asarray(contexts, dtype=np.float64))
        ctx = np.minimum(np.searchsorted(cdf_x, rng.random(N) * cdf_x[-1], side="right"), X - 1).astype(np.int64)
    else:
        ctx = np.zeros(N, dtype=np.int64)
    u = rng.random((N, G)) if uniforms is None else np.asarray(uniforms, dtype=np.float64)
    if u.shape != (N, G):
        raise ValueError(f"uniforms must have shape {(N, G)}, got {u.shape}")
    coef = np.zeros((X, K)) if loss_coef is None else _as_rows("loss_coef", loss_coef, X, K)
    if estimator == "remax":
        base = greedy_baseline(pi2, r2)
    else:
        base = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (X,)).copy()
    prob, alias = alias_tables(pi2)
    if backend == "numpy":
        actions = alias_draw(prob, alias, ctx, u)
        g = group_gradient(pi2[ctx], r2[ctx], actions, estimator, baseline=base[ctx], loss_coef=coef[ctx],
                           std_eps=std_eps, ddof=ddof)
        sq = float(np.sum(g * g))
        if reduce == "none":
            return GradientSamples(g, ctx, sq)
        mean = np.zeros((X, K))
        np.add.at(mean, ctx, g)
        return GradientSamples(mean[0] / N if pi.ndim == 1 else mean / N, ctx, sq)
    _numba_kernels()
    kern = _KERNELS["grad_parallel"] if N >= PARALLEL_MIN_GROUPS else _KERNELS["grad"]
    w = gradient_weights(pi2)
    n_chunks = (N + _CHUNK - 1) // _CHUNK
    dense = reduce == "none"
    out = np.empty((N, K) if dense else (0, K))
    part = np.zeros((0 if dense else n_chunks, X, K + 1))
    sq = np.zeros(n_chunks)
    pp = np.sum(pi2 * pi2, axis=-1)
    kern(prob, alias, pi2, pp, r2, coef, base, w, ctx, u, _CODES[estimator], float(std_eps), int(ddof), dense, out,
         part, sq)
    if dense:
        return GradientSamples(out, ctx, float(np.sum(out * out)))
    tot = part.sum(axis=0)  # [X, K + 1]: sum of A-weighted one-hots, and of s = sum_i A_i per context
    mean = (tot[:, :K] - tot[:, K:] * pi2) / N
    return GradientSamples(mean[0] if pi.ndim == 1 else mean, ctx, float(sq.sum()))


def trace_cov_from_sums(mean, sq_norms: float, num_samples: int) -> float:
    """Unbiased ``tr Cov`` of one estimate from the mean and ``sum ||g_n||^2`` of ``N >= 2`` i.i.d. estimates."""
    N = int(num_samples)
    if N < 2:
        raise ValueError(f"num_samples must be >= 2 to estimate a variance, got {N}")
    return max((sq_norms - N * float(np.sum(np.asarray(mean) ** 2))) / (N - 1), 0.0)

"""Preference-optimization losses (DPO, IPO, chi-PO, XPO, CoPG, P3O, APO, online DPO) in logit space.

Every loss is a function of the logits ``theta [..., K]`` (policy ``pi = softmax(theta)``), the
log-reference ``log_ref [..., K]`` and a **pair-weight tensor** ``W [..., K, K]``:
``W[..., a, b]`` is the mass of comparisons in which ``a`` was preferred to ``b``. One tensor
describes both a finite dataset and a population:

* finite dataset (pairs with labels): ``W = counts / N`` (:meth:`PreferenceDataset.weights
  <polopt.problems.dataset.PreferenceDataset.weights>`); per-pair losses are sums, so the
  dataset loss is exactly ``sum_ab W_ab loss(a, b)``;
* population: pairs ``(a, b) ~ nu`` labelled by a preference matrix ``P`` give
  ``W = (nu + nu^T) * P`` (:func:`pair_weights`), with ``P = sigma(r_a - r_b)`` under
  Bradley-Terry (:func:`bradley_terry`) or any ``P + P^T = 1``.

Leading axes (contexts / prompts) are carried through; their weights ``rho_x`` live inside ``W``.
Each function returns :class:`LossGrad` ``(loss, grad)``: the loss summed over every axis and its
exact gradient with respect to ``theta`` (checked against ``jax.grad`` in
``tests/test_preference_losses.py``). The implicit reward is ``s = log pi - log pi_ref``; only
differences ``s_a - s_b = theta_a - theta_b - (log_ref_a - log_ref_b)`` enter DPO / IPO / CoPG,
so those losses are convex in ``theta``. ``log_ref`` must be finite (full-support reference).

Written once against the array namespace of the inputs (NumPy float64 or ``jax.numpy``): no
in-place writes, no Python branching on array values (DESIGN principle 1). The closed-form
optima at the end of the module (``*_optimum``) are NumPy-only references.

References: Rafailov et al., "Direct Preference Optimization", arXiv 2305.18290 (Eq. 7);
Azar et al., "A General Theoretical Paradigm to Understand Learning from Human Preferences",
arXiv 2310.12036 (IPO); Huang et al., "Correcting the Mythos of KL-Regularization" (chi-PO),
arXiv 2407.13399; Xie et al., "Exploratory Preference Optimization" (XPO), arXiv 2405.21046;
Flet-Berliac et al., "Contrastive Policy Gradient" (CoPG), arXiv 2406.19185; Wu et al.,
"Pairwise Proximal Policy Optimization" (P3O), arXiv 2310.00212; He, Yuan, Gu, "Accelerated
Preference Optimization" (APO), arXiv 2410.06293.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np

from ._core import array_namespace, log_normalize

__all__ = [
    "LossGrad",
    "apo_extrapolate",
    "apo_inverse_temperature",
    "bradley_terry",
    "chi_link",
    "chi_po",
    "chi_po_optimum",
    "chi_regularizer",
    "copg",
    "dpo",
    "dpo_optimum",
    "ipo",
    "ipo_optimum",
    "online_dpo",
    "p3o",
    "pair_weights",
    "product_pairs",
    "xpo",
]


class LossGrad(NamedTuple):
    """``loss``: scalar (summed over all axes); ``grad``: ``d loss / d theta``, shape of ``theta``."""

    loss: Any
    grad: Any


# --------------------------------------------------------------------------- helpers
def _softplus(xp, x):
    return xp.logaddexp(0.0, x)


def _sigmoid(xp, x):
    # exp(-softplus(-x)) never overflows, for any sign of x
    return xp.exp(-_softplus(xp, -x))


def _stop_gradient(x):
    """``x`` treated as a constant by JAX autodiff (identity for NumPy)."""
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return jax.lax.stop_gradient(x)
    return x


def _diff(s):
    """``s[..., a] - s[..., b]`` as ``[..., K, K]``."""
    return s[..., :, None] - s[..., None, :]


def _net(M):
    """``sum_b M[a, b] - sum_b M[b, a]``: the logit gradient of ``sum_ab M_ab (theta_a - theta_b)``."""
    return M.sum(axis=-1) - M.sum(axis=-2)


def bradley_terry(r):
    """Bradley-Terry preference matrix ``P[..., a, b] = sigma(r_a - r_b)``, ``[..., K] -> [..., K, K]``."""
    xp = array_namespace(r)
    return _sigmoid(xp, _diff(r))


def product_pairs(p, q=None):
    """Pair distribution ``nu[..., a, b] = p(a) q(b)`` (``q = p`` if None), ``[..., K] -> [..., K, K]``."""
    q = p if q is None else q
    return p[..., :, None] * q[..., None, :]


def pair_weights(P, nu):
    """Population pair weights ``W = (nu + nu^T) * P``.

    Pairs ``(a, b) ~ nu`` are labelled ``a > b`` with probability ``P[a, b]`` and ``b > a``
    otherwise, so the mass of "``a`` beat ``b``" is ``nu[a, b] P[a, b] + nu[b, a] P[a, b]``.
    ``sum W = sum nu`` when ``P + P^T = 1``.
    """
    return (nu + nu.swapaxes(-1, -2)) * P


# --------------------------------------------------------------------------- losses
def dpo(theta, W, log_ref, beta) -> LossGrad:
    """DPO loss over pair weights: ``L = sum_ab W_ab softplus(-h_ab)``, ``h_ab = beta (s_a - s_b)``.

    ``s = log pi - log pi_ref``; ``-log sigma(h) = softplus(-h)``. Gradient
    ``dL/dtheta = beta (rowsum M - colsum M)`` with ``M = -W sigma(-h)``.

    Shapes: ``theta, log_ref [..., K]``, ``W [..., K, K]``. Population minimizer under
    Bradley-Terry with full-support pairs: ``pi_ref exp(r / beta) / Z`` (:func:`dpo_optimum`;
    ``proofs/dpo_minimizer_proof.py``). On deterministic finite data the infimum is 0 and is not
    attained: the logits diverge (``tests/test_preference_losses.py``).

    Reference: Rafailov et al., arXiv 2305.18290, Eq. (7).
    """
    xp = array_namespace(theta, W, log_ref)
    h = beta * _diff(theta - log_ref)
    loss = xp.sum(W * _softplus(xp, -h))
    M = -W * _sigmoid(xp, -h)
    return LossGrad(loss, beta * _net(M))


def ipo(theta, W, log_ref, tau) -> LossGrad:
    """IPO loss: ``L = sum_ab W_ab (h_ab - 1/(2 tau))^2``, ``h_ab = s_a - s_b`` (no beta).

    Gradient ``rowsum M - colsum M`` with ``M = 2 W (h - 1/(2 tau))``. A convex quadratic in
    ``theta``: its minimizer is finite on any dataset (least squares on the comparison graph).
    With pairs ``~ mu x mu`` labelled by ``P`` the minimizer is ``pi_ref exp(P(y > mu) / tau) / Z``
    (:func:`ipo_optimum`; ``proofs/ipo_minimizer_proof.py``).

    Reference: Azar et al., arXiv 2310.12036 (IPO, Psi = identity).
    """
    h = _diff(theta - log_ref)
    xp = array_namespace(theta, W, log_ref)
    e = h - 0.5 / tau
    return LossGrad(xp.sum(W * e * e), _net(2.0 * W * e))


def chi_link(log_z):
    """The chi-PO link ``phi(z) = z + log z`` from ``log z``."""
    xp = array_namespace(log_z)
    return xp.exp(log_z) + log_z


def chi_regularizer(pi, ref):
    """``D_f(pi || ref) = sum ref f(pi / ref)`` with ``f(z) = (z - 1)^2 / 2 + z log z`` (chi^2/2 + KL).

    ``f' = phi`` (:func:`chi_link`) up to the constant 1, which is why chi-PO's optimum maximizes
    ``E_pi r - beta D_f`` (``proofs/chi_po_regularizer_proof.py``). ``[..., K] -> [...]``.
    """
    xp = array_namespace(pi, ref)
    z = pi / ref
    return xp.sum(ref * (0.5 * (z - 1.0) ** 2 + xp.where(z > 0, z * xp.log(xp.where(z > 0, z, 1.0)), 0.0)), axis=-1)


def chi_po(theta, W, log_ref, beta, clip=float("inf")) -> LossGrad:
    """chi-PO loss: ``sum_ab W_ab softplus(-clip(h_ab, -2R, 2R))``, ``h_ab = beta (phi(z_a) - phi(z_b))``.

    ``z = pi / pi_ref`` with ``phi(z) = z + log z``; ``clip = 2R`` (``inf``: no clipping).
    ``d phi(z_a) / d theta = (z_a + 1)(e_a - pi)``, so with ``M = -beta W sigma(-h) 1[|h| < 2R]``
    and ``u = (z + 1)(rowsum M - colsum M)`` the gradient is ``u - pi sum(u)``.
    Population minimizer under Bradley-Terry (clip inactive): ``beta phi(pi*/pi_ref) = r - lambda``,
    the maximizer of ``E_pi r - beta D_f(pi || pi_ref)`` (:func:`chi_po_optimum`).

    Reference: Huang et al., arXiv 2407.13399 (link ``phi`` [paper]; the clip range [recalled]).
    """
    xp = array_namespace(theta, W, log_ref)
    log_pi = log_normalize(theta)
    log_z = log_pi - log_ref
    h = beta * _diff(chi_link(log_z))
    hc = xp.clip(h, -clip, clip)
    inside = (h > -clip) & (h < clip)
    loss = xp.sum(W * _softplus(xp, -hc))
    M = -beta * W * _sigmoid(xp, -hc) * inside
    u = (xp.exp(log_z) + 1.0) * _net(M)
    pi = xp.exp(log_pi)
    return LossGrad(loss, u - pi * xp.sum(u, axis=-1, keepdims=True))


def xpo(theta, W, log_ref, beta, alpha, nu) -> LossGrad:
    """XPO objective: DPO loss plus the optimism term ``alpha sum_a nu(a) log pi(a)``.

    ``nu [..., K]`` is the (context-weighted) distribution of the exploration samples (reference
    samples in XPO); minimizing ``alpha E_nu log pi`` lowers their likelihood and pushes mass to
    unexplored actions. Gradient of the extra term: ``alpha (nu - pi sum nu)``.

    Reference: Xie et al., arXiv 2405.21046 (DPO + optimism bonus [paper: abstract]; exact
    objective [recalled]).
    """
    xp = array_namespace(theta, W, log_ref, nu)
    base = dpo(theta, W, log_ref, beta)
    log_pi = log_normalize(theta)
    pi = xp.exp(log_pi)
    loss = base.loss + alpha * xp.sum(nu * log_pi)
    grad = base.grad + alpha * (nu - pi * xp.sum(nu, axis=-1, keepdims=True))
    return LossGrad(loss, grad)


def copg(theta, r, log_ref, beta, nu) -> LossGrad:
    """CoPG regression loss ``L = 1/2 sum_ab nu_ab (R_a - R_b)^2`` with ``R = r - beta s``.

    ``R`` is the regularized reward ``r - beta log(pi / pi_ref)`` and ``nu [..., K, K]`` any
    behaviour pair distribution (off-policy). ``dL/dtheta = -beta (rowsum M - colsum M)`` with
    ``M = nu (R_a - R_b)``, i.e. ``-beta`` times CoPG's direction
    ``E_nu[(R_a - R_b)(grad log pi(a) - grad log pi(b))]``. Zero (the minimum) iff
    ``beta (s_a - s_b) = r_a - r_b`` on the support of ``nu``: for a connected support that is
    ``pi* = pi_ref exp(r / beta) / Z`` whatever the behaviour.

    Reference: Flet-Berliac et al., arXiv 2406.19185 (direction [paper: abstract + review
    text]; the printed loss is unconfirmed, this squared form is derived).
    """
    xp = array_namespace(theta, r, log_ref, nu)
    R = r - beta * (theta - log_ref)  # the normalizer of log pi cancels in differences
    d = _diff(R)
    M = nu * d
    return LossGrad(0.5 * xp.sum(M * d), -beta * _net(M))


def p3o(theta, r, log_ref, beta, nu=None, rho=None) -> LossGrad:
    """P3O pairwise policy gradient on the KL-regularized objective.

    ``loss = -sum_x rho_x J_x(pi)``, ``J(pi) = E_pi r - beta KL(pi || pi_ref)`` and
    ``grad = -1/2 sum_ab nu_ab (R_a - R_b)(e_a - e_b)``, ``R = r - beta log(pi / pi_ref)``.
    With ``nu = None`` the pairs are the on-policy ``pi x pi`` (times ``rho``) and ``grad`` is
    exactly ``-grad J = -pi (R - E_pi R)``; an empirical ``nu`` of sampled pairs gives the
    unbiased pairwise estimate. Adding any per-context constant to ``r`` leaves ``grad``
    unchanged for every ``nu`` (only ``R_a - R_b`` enters): P3O's shift invariance
    (``proofs/p3o_shift_proof.py``).

    Reference: Wu et al., arXiv 2310.00212 (pairwise PG [paper: abstract]; formulas [recalled]).
    """
    xp = array_namespace(theta, r, log_ref)
    log_pi = log_normalize(theta)
    pi = xp.exp(log_pi)
    s = log_pi - log_ref
    w = 1.0 if rho is None else rho
    J = xp.sum(pi * (r - beta * s), axis=-1)
    loss = -xp.sum(w * J)
    if nu is None:
        pi_c = _stop_gradient(pi)
        nu = product_pairs(pi_c) * (1.0 if rho is None else rho[..., None, None])
    R = r - beta * s
    M = nu * _diff(R)
    return LossGrad(loss, -0.5 * (_net(M)))


def online_dpo(theta, P, log_ref, beta, rho=None) -> LossGrad:
    """Online DPO: the DPO loss on pairs drawn from the current policy, ``nu = sg(pi) x sg(pi)``.

    ``W = pair_weights(P, rho * pi x pi)`` with the sampling policy held constant (stop-gradient),
    so ``grad`` is the expected gradient of one online step. Under Bradley-Terry its fixed point
    is ``pi_ref exp(r / beta) / Z`` (the well-specified logistic regression is solved on every
    pair of the support of ``pi``, which is all of ``[K]`` under softmax).

    Reference: Guo et al., "Direct Language Model Alignment from Online AI Feedback", arXiv
    2402.04792 [recalled]; Shi, Zhou, Du, arXiv 2409.19605 (exact-gradient DPO rates).
    """
    xp = array_namespace(theta, P, log_ref)
    pi = _stop_gradient(xp.exp(log_normalize(theta)))
    nu = product_pairs(pi) * (1.0 if rho is None else rho[..., None, None])
    return dpo(theta, pair_weights(P, nu), log_ref, beta)


def apo_extrapolate(log_pi_new, log_pi_old, alpha):
    """APO's Nesterov step in log space: ``pi_hat ∝ pi_new^(1 + alpha) / pi_old^alpha``.

    The next DPO (proximal-point) step uses ``pi_hat`` as its reference.
    Reference: He, Yuan, Gu, arXiv 2410.06293 [recalled algorithm].
    """
    return log_normalize((1.0 + alpha) * log_pi_new - alpha * log_pi_old)


# --------------------------------------------------------------------------- closed forms (NumPy)
def apo_inverse_temperature(t, alpha):
    """``u_t`` with ``log pi_t = log pi_ref + u_t r / beta + const`` for exact-step APO.

    The recursion ``u_{t+1} - u_t = 1 + alpha (u_t - u_{t-1})``, ``u_0 = 0``, ``u_1 = 1`` has the
    closed form ``u_t = t / (1 - alpha) - alpha (1 - alpha^t) / (1 - alpha)^2`` (``alpha < 1``;
    ``proofs/apo_temperature_proof.py``): asymptotically ``t / (1 - alpha)`` against ``t`` for
    iterative DPO.
    """
    t = np.asarray(t, dtype=np.float64)
    return t / (1.0 - alpha) - alpha * (1.0 - alpha**t) / (1.0 - alpha) ** 2


def dpo_optimum(r, ref, beta) -> np.ndarray:
    """``pi_ref exp(r / beta) / Z`` along the last axis (the Bradley-Terry DPO minimizer)."""
    r = np.asarray(r, dtype=np.float64)
    return np.exp(log_normalize(np.log(np.asarray(ref, dtype=np.float64)) + r / beta))


def ipo_optimum(P, behaviour, ref, tau) -> np.ndarray:
    """``pi_ref exp(P(y > mu) / tau) / Z`` with ``P(y > mu) = (P mu)[y]``, ``mu`` the pair behaviour.

    Shapes: ``P [..., K, K]``, ``behaviour, ref [..., K]``.
    """
    P = np.asarray(P, dtype=np.float64)
    win = np.einsum("...ab,...b->...a", P, np.asarray(behaviour, dtype=np.float64))
    return np.exp(log_normalize(np.log(np.asarray(ref, dtype=np.float64)) + win / tau))


#: Newton on ``w + e^w = t`` from the right of the root converges monotonically; 100 steps
#: reach machine precision from any start used below (quadratic phase after a few steps).
_LINK_NEWTON_STEPS = 100


def _inverse_link_log(t):
    """``log z`` solving ``z + log z = t`` (i.e. ``log W0(e^t)``), elementwise, for any real t."""
    t = np.asarray(t, dtype=np.float64)
    # f(w) = e^w + w - t is convex increasing; f(start) >= 0 so Newton decreases monotonically
    w = np.where(t > 1.0, np.log(np.maximum(t, 1.0)), t)
    for _ in range(_LINK_NEWTON_STEPS):
        w = w - (np.exp(w) + w - t) / (np.exp(w) + 1.0)
    return w


def chi_po_optimum(r, ref, beta) -> np.ndarray:
    """Maximizer of ``E_pi r - beta D_f(pi || ref)``, ``f(z) = (z-1)^2/2 + z log z``.

    Stationarity: ``beta phi(pi / ref) = r - lambda`` with ``phi(z) = z + log z``, so
    ``pi = ref * phi^{-1}((r - lambda) / beta)`` and ``lambda`` solves ``sum pi = 1`` (bisection,
    monotone in ``lambda``; bracket ``[min r - beta - 1, max r - beta + 1]`` where the sum is ``> 1`` and
    ``< 1``). Rows of ``r [..., K]`` are solved independently.
    """
    from scipy.optimize import brentq

    r = np.asarray(r, dtype=np.float64)
    ref = np.broadcast_to(np.asarray(ref, dtype=np.float64), r.shape)
    out = np.empty(r.shape)
    for idx in np.ndindex(r.shape[:-1]):
        ri, mi = r[idx], ref[idx]

        def excess(lam, ri=ri, mi=mi):
            return float(np.sum(mi * np.exp(_inverse_link_log((ri - lam) / beta)))) - 1.0

        lam = brentq(excess, ri.min() - beta - 1.0, ri.max() - beta + 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        p = mi * np.exp(_inverse_link_log((ri - lam) / beta))
        out[idx] = p / p.sum()
    return out

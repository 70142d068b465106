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
in-place writes, no Python branching on array values. The closed-form
optima (``dpo_optimum``, ``ipo_optimum``, ``chi_po_optimum``, ``apo_inverse_temperature``) are
NumPy references in :mod:`polopt.exact.preference` (still readable here under their old names).

Rule factories (bottom of the module), ``update(state, oracle)`` with a
:class:`polopt.oracles.bandit.PairOracle`: :func:`loss_descent` (gradient descent on a loss, a
constant / per-context step or Armijo backtracking) and per method :func:`dpo_descent`,
:func:`ipo_descent`, :func:`chi_po_descent`, :func:`copg_descent`, :func:`online_dpo_descent`,
:func:`p3o_ascent`, :func:`apo_steps`, :func:`xpo_rounds`. Every update runs on the namespace of
its state (``jax.numpy`` state and oracle arrays give a JAX step, NumPy = JAX checked by
``polopt.testing.rule_suite``). The steps are eager, not ``jit``-traced: :func:`loss_descent` reads
its stall flag, and the Armijo search (chi-PO) its loss values, in Python.

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
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._deprecation import renamed
from .._validation import as_positive_int, as_scalar
from ._core import Rule, array_namespace, coefficient, hparams, log_normalize, require, step_size

__all__ = [
    "LossGrad",
    "LossState",
    "apo_extrapolate",
    "apo_steps",
    "bradley_terry",
    "chi_link",
    "chi_po",
    "chi_po_descent",
    "chi_regularizer",
    "copg",
    "copg_descent",
    "dpo",
    "dpo_descent",
    "ipo",
    "ipo_descent",
    "laplacian_max",
    "loss_descent",
    "online_dpo",
    "online_dpo_descent",
    "p3o",
    "p3o_ascent",
    "pair_weights",
    "product_pairs",
    "xpo",
    "xpo_rounds",
]

#: Names that moved to :mod:`polopt.exact.preference` (resolved on first access, so that the rules
#: never import ``exact`` at load time).
_MOVED = ("dpo_optimum", "ipo_optimum", "chi_po_optimum", "apo_inverse_temperature", "_inverse_link_log",
          "_LINK_NEWTON_STEPS")


def __getattr__(name):
    if name in _MOVED:
        from ..exact import preference

        return getattr(preference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


@renamed(tau="beta")
def ipo(theta, W, log_ref, beta) -> LossGrad:
    """IPO loss: ``L = sum_ab W_ab (h_ab - 1/(2 beta))^2``, ``h_ab = s_a - s_b`` (``beta`` inside the target).

    Gradient ``rowsum M - colsum M`` with ``M = 2 W (h - 1/(2 beta))``. A convex quadratic in
    ``theta``: its minimizer is finite on any dataset (least squares on the comparison graph).
    With pairs ``~ b x b`` labelled by ``P`` the minimizer is ``pi_ref exp(P(y > b) / beta) / Z``
    (:func:`ipo_optimum`; ``proofs/ipo_minimizer_proof.py``): ``beta`` is the KL coefficient of IPO's
    objective ``E_pi P(y > b) - beta KL(pi || pi_ref)`` (Azar et al.'s ``tau``; ``tau=`` is accepted
    as a deprecated keyword).

    Reference: Azar et al., arXiv 2310.12036 (IPO, Psi = identity; the paper writes the coefficient tau).
    """
    h = _diff(theta - log_ref)
    xp = array_namespace(theta, W, log_ref)
    e = h - 0.5 / beta
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


def laplacian_max(W):
    """``lambda_max`` of the Laplacian of ``S = W + W^T`` per context, ``[..., K, K] -> [..., 1]``.

    The curvature of DPO / IPO / CoPG in the logits is bounded by ``c lambda_max`` (``c = beta^2/4``,
    ``2``, ``beta^2``): their default step is its inverse.
    """
    xp = array_namespace(W)
    S = W + xp.swapaxes(W, -1, -2)
    K = S.shape[-1]
    L = xp.sum(S, axis=-1)[..., None] * xp.eye(K) - S
    return xp.linalg.eigvalsh(L)[..., -1:]


# --------------------------------------------------------------------------- rule factories
# A factory validates the hyper-parameters once and returns a Rule; ``update(state, oracle)`` asks a
# :class:`~polopt.oracles.bandit.PairOracle` for the pairs (a dataset, a population, or on-policy pairs,
# exact or sampled). Arrays carry a leading context axis [X, K].
#: Armijo sufficient-decrease constant and the number of halvings before a line search gives up.
ARMIJO_C = 0.5
ARMIJO_HALVINGS = 60
#: Largest step the Armijo search tries (it doubles the previous accepted step first).
ARMIJO_MAX_STEP = 1e6
#: Inner gradient steps of each XPO round (warm-started; the inner problem is smooth and convex).
XPO_INNER_ITERS = 50


class LossState(NamedTuple):
    """State of a preference-loss rule: ``log_pi`` [X, K]; ``theta`` [X, K] the logits (not normalized:
    the loss sees them, ``info["logits"]`` reports them); ``t``; ``loss`` (of ``theta``); ``grad`` (the
    update direction at ``theta``); ``step`` (scalar or per context [X, 1]); ``residual`` (the stopping
    quantity, e.g. ``max_x |grad_x / mass_x|``); ``stalled`` (1.0 when a line search found no
    representable decrease: the loss is at its round-off floor); ``extra`` (rule-specific: XPO's
    accumulated pair weights, APO's extrapolated reference)."""

    log_pi: Any
    theta: Any
    t: Any
    loss: Any
    grad: Any
    step: Any
    residual: Any
    stalled: Any
    extra: Any = None


def _residual(grad, mass):
    xp = array_namespace(grad, mass)
    return xp.max(xp.abs(grad / mass))


def _as_logits(theta0):
    """NumPy input (or a list) as float64; a JAX array as it is (the rule then runs on ``jax.numpy``)."""
    return np.asarray(theta0, dtype=np.float64) if array_namespace(theta0) is np else theta0


def loss_descent(objective: Callable, mass: Callable, *, eta=None, curvature: Callable | None = None,
                 armijo: bool = False, name: str = "loss_descent", hp=None) -> Rule:
    """Gradient descent ``theta <- theta - eta grad`` with ``objective(theta, oracle) -> LossGrad``.

    ``mass(oracle)`` [X, 1] normalizes the stopping residual ``max_x |grad_x / mass_x|`` (and the
    Armijo direction ``grad / mass``) so that every context meets ``tol`` on its own scale. Steps:
    ``eta`` (a finite constant > 0), else ``1 / curvature(oracle)`` per context (a curvature bound of
    the loss), else ``armijo=True``: backtracking from twice the previous step until the loss drops by
    ``ARMIJO_C step <grad, grad / mass>``; if no decrease is representable the state is ``stalled``.
    For an online direction (sampling distribution moving with ``theta``) ``objective`` gives the
    direction at ``theta``; the rule is the same.
    """
    if eta is not None:
        eta = step_size(name, "eta", eta)
    elif curvature is None and not armijo:
        raise TypeError(f"{name}: eta is required (a step size > 0) without a curvature bound or armijo")

    def init(theta0, oracle=None):
        theta0 = _as_logits(theta0)
        lg = objective(theta0, oracle)
        if eta is not None:
            step = eta
        elif armijo:
            step = 1.0
        else:
            c = curvature(oracle)
            step = 1.0 / array_namespace(c).maximum(c, np.finfo(np.float64).tiny)
        return LossState(log_normalize(theta0), theta0, 0, lg.loss, lg.grad, step,
                         _residual(lg.grad, mass(oracle)), 0.0)

    def update(state, oracle):
        if state.stalled:  # the loss is at its floor: nothing left to do (the driver stops at this record)
            return state._replace(t=state.t + 1)
        theta, m = state.theta, mass(oracle)
        step = state.step
        if armijo and eta is None:
            # the search is Python control flow on concrete floats (NumPy, or JAX run eagerly)
            d = state.grad / m
            slope, loss = float(array_namespace(d).sum(state.grad * d)), float(state.loss)
            step = min(2.0 * step, ARMIJO_MAX_STEP)
            for _ in range(ARMIJO_HALVINGS):
                new = theta - step * d
                lg = objective(new, oracle)
                new_loss = float(lg.loss)
                # strict decrease: at the round-off floor equal losses must not count as progress
                if new_loss < loss and new_loss <= loss - ARMIJO_C * step * slope:
                    break
                step *= 0.5
            else:  # no decrease representable in float64: the loss is at its round-off floor
                return state._replace(t=state.t + 1, residual=0.0, stalled=1.0)
        else:
            new = theta - step * state.grad
            lg = objective(new, oracle)
        return LossState(log_normalize(new), new, state.t + 1, lg.loss, lg.grad, step, _residual(lg.grad, m), 0.0)

    return Rule(name, init, update, 1, False, hp if hp is not None else hparams(name, eta=eta, armijo=armijo))


def _beta(rule, beta):
    beta = coefficient(rule, "beta", beta)
    require(rule, beta > 0, f"needs beta > 0 (the KL coefficient of the loss), got beta = {float(beta):g}")
    return beta


def _pair_mass(o):
    return o.W.sum(axis=(-2, -1))[:, None]


def dpo_descent(*, eta=None, beta=1.0) -> Rule:
    """DPO by gradient descent on the pair weights ``oracle.W``: step ``eta`` or ``4 / (beta^2 lambda_max)``."""
    beta = _beta("dpo", beta)
    return loss_descent(lambda th, o: dpo(th, o.W, o.log_ref, beta), _pair_mass, eta=eta,
                        curvature=lambda o: 0.25 * beta**2 * laplacian_max(o.W), name="dpo",
                        hp=hparams("dpo", eta=eta, beta=beta))


@renamed(tau="beta")
def ipo_descent(*, eta=None, beta=1.0) -> Rule:
    """IPO by gradient descent on ``oracle.W``: step ``eta`` or ``1 / (2 lambda_max)``; KL coefficient ``beta > 0``."""
    beta = coefficient("ipo", "beta", beta, low_open=True)
    return loss_descent(lambda th, o: ipo(th, o.W, o.log_ref, beta), _pair_mass, eta=eta,
                        curvature=lambda o: 2.0 * laplacian_max(o.W), name="ipo",
                        hp=hparams("ipo", eta=eta, beta=beta))


def chi_po_descent(*, eta=None, beta=1.0, clip=float("inf")) -> Rule:
    """chi-PO (not convex in the logits) by Armijo backtracking, or a constant step ``eta``; ``clip = 2R``."""
    beta = _beta("chi_po", beta)
    try:
        clip = as_scalar("clip", clip, low=0.0, low_open=True, allow_inf=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"chi_po: {exc}") from None
    return loss_descent(lambda th, o: chi_po(th, o.W, o.log_ref, beta, clip), _pair_mass, eta=eta,
                        armijo=eta is None, name="chi_po", hp=hparams("chi_po", eta=eta, beta=beta, clip=clip))


def copg_descent(*, eta=None, beta=1.0) -> Rule:
    """CoPG regression on the pair frequencies ``oracle.nu`` (any behaviour): step ``eta`` or
    ``1 / (beta^2 lambda_max)``."""
    beta = _beta("copg", beta)
    return loss_descent(lambda th, o: copg(th, o.r, o.log_ref, beta, o.nu),
                        lambda o: o.nu.sum(axis=(-2, -1))[:, None], eta=eta,
                        curvature=lambda o: beta**2 * laplacian_max(o.nu), name="copg",
                        hp=hparams("copg", eta=eta, beta=beta))


def online_dpo_descent(*, eta=None, beta=1.0) -> Rule:
    """Online DPO: one expected DPO step per update on pairs from the current policy; step ``eta`` or
    ``2 / (beta^2 rho_x)`` (one step's curvature is ``<= beta^2 rho_x / 2``)."""
    beta = _beta("online_dpo", beta)
    return loss_descent(lambda th, o: online_dpo(th, o.P, o.log_ref, beta, o.rho), lambda o: o.rho[:, None], eta=eta,
                        curvature=lambda o: 0.5 * beta**2 * o.rho[:, None], name="online_dpo",
                        hp=hparams("online_dpo", eta=eta, beta=beta))


def p3o_ascent(*, eta=None, beta=1.0) -> Rule:
    """P3O: ascent on the pairwise PG with the oracle's on-policy pairs (exact ``pi x pi`` or sampled);
    step ``eta`` or ``1 / (rho_x (span r_x + 2 beta))``."""
    beta = _beta("p3o", beta)

    def direction(th, o):
        nu = o.on_policy_pairs(array_namespace(th).exp(log_normalize(th)))
        return p3o(th, o.r, o.log_ref, beta, nu=nu, rho=o.rho)

    def curvature(o):
        return o.rho[:, None] * ((o.r.max(axis=-1) - o.r.min(axis=-1))[:, None] + 2.0 * beta)

    return loss_descent(direction, lambda o: o.rho[:, None], eta=eta, curvature=curvature, name="p3o",
                        hp=hparams("p3o", eta=eta, beta=beta))


def apo_steps(*, alpha=0.0, beta=1.0) -> Rule:
    """APO: exact DPO (proximal-point) steps ``pi_{t+1} ∝ pi_hat_t exp(r / beta)`` and Nesterov
    extrapolation ``pi_hat_{t+1} = apo_extrapolate(pi_{t+1}, pi_t, alpha)``, ``alpha`` in [0, 1).

    ``residual``: ``max_x (max r_x - E_{pi_t} r_x)`` (the unregularized gap APO targets)."""
    beta = _beta("apo", beta)
    try:
        alpha = as_scalar("alpha", alpha, low=0.0, high=1.0, high_open=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"apo: {exc}") from None

    def gap(log_pi, o):
        xp = array_namespace(log_pi, o.r)
        return xp.max(o.r.max(axis=-1) - xp.sum(xp.exp(log_pi) * o.r, axis=-1))

    def init(theta0, oracle=None):
        lp = log_normalize(_as_logits(theta0))
        return LossState(lp, lp, 0, 0.0, array_namespace(lp).zeros_like(lp), 1.0, gap(lp, oracle), 0.0, lp)

    def update(state, o):
        new = log_normalize(state.extra + o.r / beta)
        hat = apo_extrapolate(new, state.log_pi, alpha)
        return LossState(new, new, state.t + 1, 0.0, state.grad, 1.0, gap(new, o), 0.0, hat)

    return Rule("apo", init, update, 1, False, hparams("apo", alpha=alpha, beta=beta))


def xpo_rounds(*, alpha=0.0, beta=1.0, inner_iters=XPO_INNER_ITERS) -> Rule:
    """XPO: round ``t`` adds the expected pairs ``y ~ pi_t, y' ~ ref`` to the data, then minimizes
    ``DPO(data) + alpha E_ref log pi`` by ``inner_iters`` warm-started gradient steps of ``1 / L``.

    ``residual``: ``max_x |theta_t - theta_{t-1}| / (eta_x mass_x)`` (the inner steps' net gradient)."""
    beta = _beta("xpo", beta)
    alpha = coefficient("xpo", "alpha", alpha)
    inner_iters = as_positive_int("inner_iters", inner_iters)

    def init(theta0, oracle=None):
        theta0 = _as_logits(theta0)
        xp = array_namespace(theta0)
        return LossState(log_normalize(theta0), theta0, 0, 0.0, xp.zeros_like(theta0), 1.0, np.inf, 0.0,
                         xp.zeros(oracle.P.shape, theta0.dtype))

    def update(state, o):
        xp = array_namespace(state.theta)
        ref = xp.exp(o.log_ref)
        pi = xp.exp(log_normalize(state.theta))
        W_sum = state.extra + pair_weights(o.P, product_pairs(pi, ref) * o.rho[:, None, None])
        W = W_sum / (state.t + 1)
        eta = 1.0 / (0.25 * beta**2 * laplacian_max(W))
        mass = W.sum(axis=(-2, -1))[:, None]
        nu_explore = ref * o.rho[:, None]
        theta = state.theta
        for _ in range(inner_iters):
            theta = theta - eta * xpo(theta, W, o.log_ref, beta, alpha, nu_explore).grad
        res = xp.max(xp.abs(theta - state.theta) / (eta * mass))
        return LossState(log_normalize(theta), theta, state.t + 1, 0.0, state.grad, eta, res, 0.0, W_sum)

    return Rule("xpo", init, update, 1, False, hparams("xpo", alpha=alpha, beta=beta, inner_iters=inner_iters))


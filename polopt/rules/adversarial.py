"""Follow-the-regularized-leader with the log-barrier regularizer for adversarial MDPs with linear Q.

Dai, Luo, Wei, Zimmert, "Refined Regret for Adversarial MDPs with Linear Function Approximation"
(arXiv 2301.12942), first algorithm: in every state and step, FTRL over the action simplex with the
log-barrier regularizer on the cumulative estimated Q-functions,

.. math::

    \\pi_{k+1}(\\cdot|s, h) = \\arg\\min_{p \\in \\Delta_A}\\; \\langle p, \\hat L_{k,h}(s, \\cdot)\\rangle
        + \\frac{1}{\\eta} \\sum_a \\log\\frac{1}{p_a},
    \\qquad \\hat L_{k,h} = \\sum_{j \\le k} \\hat Q_{j,h}.

Closed form (KKT): ``p_a = 1 / (eta (L_a + nu))`` with ``nu > -min_a L_a`` the unique root of
``sum_a p_a = 1``, found by Newton's method on the convex decreasing ``f(nu) = sum_a p_a - 1`` from
``nu_0 = 1/eta - min_a L_a`` (``f(nu_0) >= 0``): the iterates increase monotonically to the root, so a
fixed number of steps (:data:`NEWTON_STEPS`) with no data-dependent branching suffices.

Feedback (the rule's oracle, built by :mod:`polopt._methods.adversarial`):

* ``"full"``: ``Q_hat_k = Q^{pi_k}_{l_k}`` exactly (``oracle.q_values(pi, k)``);
* ``"bandit"``: the paper's linear-Q estimator from one trajectory of ``pi_k`` with losses observed
  along it, ``Q_hat_{k,h}(s, a) = phi(s, a)^T (Sigma_{k,h} + lam I)^{-1} phi(s_h, a_h) L_{k,h}``,
  ``L_{k,h} = sum_{h' >= h} l_k(s_h', a_h')`` the observed loss-to-go and
  ``Sigma_{k,h} = E_{pi_k}[phi(s_h, a_h) phi(s_h, a_h)^T]`` (``oracle.bandit_feedback(pi, k)``). The paper
  estimates ``Sigma^{-1}`` with a simulator (matrix geometric resampling); the oracle gives the exact
  covariance, the limit of that estimate. The paper's exploration bonus is not part of this rule.

Guarantee checked: with full information the regret against every fixed policy is at most
``H C_A(K)/eta + H(H+1)/2 + (eta/2) K sum_h (H-h)^2`` (``polopt.theory.adversarial``, ``derived``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._core import Rule, array_namespace, coefficient, hparams, log_normalize, step_size

__all__ = ["FTRLState", "NEWTON_STEPS", "FEEDBACK", "ftrl_log_barrier", "linear_q_estimate", "log_barrier_argmin"]

#: Newton steps of the log-barrier normaliser. From the left the error contracts quadratically once the
#: relative error of ``nu`` is below 1; that relative error starts at most ``1 - 1/A``, so
#: ``(1 - 1/A)^(2^k) < 1e-17`` needs ``k <= 26`` for ``A <= 10^6``; 40 leaves room.
NEWTON_STEPS = 40
FEEDBACK = ("full", "bandit")


class FTRLState(NamedTuple):
    """``log_pi`` [H, S, A] (the policy played next), ``cum_loss`` [H, S, A] (``L_hat``), ``t`` (episodes seen)."""

    log_pi: Any
    cum_loss: Any
    t: Any


def log_barrier_argmin(cum_loss, eta):
    """``log argmin_{p in simplex} <p, L> - (1/eta) sum_a log p_a`` along the last axis, ``[..., A]``.

    ``L`` may be any real (negative estimates included); ``+inf`` entries get probability 0. The
    objective is invariant to ``L -> L + c``, so ``x = L - min L >= 0`` is used and
    ``nu' = nu + min L`` lies in ``[1/eta, A/eta]``.
    """
    xp = array_namespace(cum_loss)
    x = cum_loss - xp.min(cum_loss, axis=-1, keepdims=True)
    nu = xp.ones_like(x[..., :1]) / eta
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (eta * (x + nu))
        f = xp.sum(p, axis=-1, keepdims=True) - 1.0
        slope = eta * xp.sum(p * p, axis=-1, keepdims=True)  # -f'(nu) > 0
        nu = nu + f / slope
    # the residual of sum p = 1 after the Newton steps is round-off; normalising removes it
    return log_normalize(-xp.log(eta * (x + nu)))


def linear_q_estimate(phi, states, actions, losses, cov, lam):
    """The linear-Q loss estimator from one trajectory, ``[H, S, A]``.

    ``Q_hat_h(s, a) = phi(s, a)^T (cov_h + lam I)^{-1} phi(s_h, a_h) L_h`` with ``L_h = sum_{h' >= h}
    losses[h']``. Shapes: ``phi`` [S, A, d], ``states``/``actions`` int [H], ``losses`` [H], ``cov`` [H, d, d].
    Unbiased for ``Q^pi`` when ``lam = 0`` and ``cov_h`` is invertible (then ``E[x x^T] = cov_h`` and
    ``E[x L_h] = cov_h theta_h``); with one-hot features it is the importance-weighted
    ``1{s_h = s, a_h = a} L_h / (d_h(s, a) + lam)``, ``lam`` acting as implicit exploration.
    """
    xp = array_namespace(phi, losses, cov)
    to_go = xp.flip(xp.cumsum(xp.flip(losses, axis=0), axis=0), axis=0)
    x = phi[states, actions]  # [H, d]
    eye = xp.eye(phi.shape[-1], dtype=cov.dtype)
    theta = xp.linalg.solve(cov + lam * eye, (x * to_go[:, None])[..., None])[..., 0]  # [H, d]
    return xp.einsum("sad,hd->hsa", phi, theta)


def ftrl_log_barrier(*, eta, feedback: str = "full", lam: float = 0.0) -> Rule:
    """Log-barrier FTRL (Dai, Luo, Wei, Zimmert, arXiv 2301.12942, Alg. 1's policy update).

    Args:
        eta: step size > 0 of the log-barrier ``(1/eta) sum_a log(1/p_a)``.
        feedback: ``"full"`` (exact ``Q^{pi_k}_{l_k}``) or ``"bandit"`` (one trajectory, linear-Q estimator).
        lam: covariance regularizer >= 0 of the bandit estimator (> 0 required with ``"bandit"``: the
            exact covariance is singular wherever a feature direction is unreachable at a step).

    ``init(log_pi0, oracle)``: ``L_hat_0 = 1/(eta pi_0)`` so that the first policy is ``pi_0`` (the
    KKT point with ``nu = 0``); the uniform ``pi_0`` (the default) is the regularizer's minimiser, the
    start the regret bound assumes. ``update(state, oracle)`` makes one oracle call (one episode).
    """
    name = "ftrl_log_barrier"
    eta = step_size(name, "eta", eta)
    if feedback not in FEEDBACK:
        raise ValueError(f"{name}: feedback must be one of {FEEDBACK}, got {feedback!r}")
    lam = coefficient(name, "lam", lam, low=0.0, low_open=feedback == "bandit")

    def init(log_pi0, oracle=None):
        xp = array_namespace(log_pi0)
        cum = 1.0 / (eta * xp.exp(log_pi0))  # +inf where pi_0 = 0: such an action stays at probability 0
        return FTRLState(log_barrier_argmin(cum, eta), cum, 0)

    def update(state, oracle):
        xp = array_namespace(state.log_pi)
        pi = xp.exp(state.log_pi)
        if feedback == "full":
            q_hat = oracle.q_values(pi, state.t)
        else:
            fb = oracle.bandit_feedback(pi, state.t)
            q_hat = linear_q_estimate(oracle.phi, fb.states, fb.actions, fb.losses, fb.cov, lam)
        cum = state.cum_loss + q_hat
        return FTRLState(log_barrier_argmin(cum, eta), cum, state.t + 1)

    return Rule(name, init, update, 1, False, hparams(name, eta=eta, feedback=feedback, lam=lam))

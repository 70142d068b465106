"""Regret of log-barrier FTRL on adversarial MDPs with linear Q (Dai, Luo, Wei, Zimmert, arXiv 2301.12942).

Two entries:

* ``ftrl_log_barrier.full_info_regret`` (``derived``): with exact Q feedback and losses in [0, 1],
  ``Regret_t <= H C_A(t)/eta + H(H+1)/2 + (eta/2) t sum_{h=0}^{H-1} (H-h)^2`` for every t, with
  ``C_A(t) = (A-1) log t - log A - log(1 - (1-1/A)/t)``. Derivation (in the note): the performance
  difference lemma for fixed transitions writes the regret against the hindsight-optimal ``pi*`` as
  ``sum_h E_{s ~ d^{pi*}_h} sum_k <pi_k(.|s) - pi*(.|s), Q^{pi_k}_{k,h}(s, .)>``, one FTRL regret per
  (h, s) on losses in ``[0, H-h]``; FTRL's be-the-leader lemma bounds each by
  ``Psi(u) - Psi(pi_1) + sum_k [<pi_k - pi_{k+1}, l_k> - D_Psi(pi_{k+1}, pi_k)]``; for the log-barrier and
  ``l >= 0`` the bracket is at most ``(1/eta) sum_a (z_a - log(1 + z_a)) <= (eta/2) sum_a pi_{k,a}^2 l_a^2``
  (``z_a = eta pi_{k,a} l_a``; the maximum over the positive orthant is at ``p_a = pi_a/(1+z_a)``); the
  comparator is smoothed to ``u = (1-1/t) e_{a*} + 1/(tA)``, which costs ``(H-h)`` per step h.
* ``ftrl_log_barrier.linear_q_sqrt_k`` (``recalled``): the paper's ``O~(sqrt K)`` regret with bandit
  feedback and its linear-Q estimator. Constants and poly(H, d, A) factors were not found; polopt's
  bandit rule uses the exact covariance and no exploration bonus, so only the shape is checked: the
  bandit regret stays within the full-information bound at the same step (an ``O(sqrt(K log K))``
  envelope at the tuned step).
"""

from __future__ import annotations

import numpy as np

from .registry import Theorem, register

SOURCE = "Dai, Luo, Wei, Zimmert, Refined Regret for Adversarial MDPs with Linear Function Approximation (ICML 2023)"
ARXIV = "2301.12942"


def full_info_bound(horizon: int, num_actions: int, eta: float, t) -> np.ndarray:
    """``H C_A(t)/eta + H(H+1)/2 + (eta/2) t sum_h (H-h)^2`` (0 at t = 0), for every t of ``t``."""
    from .._methods.adversarial import regret_bound_constant  # one formula for the step tuning and the bound

    t = np.asarray(t, dtype=np.float64)
    H = float(horizon)
    squares = H * (H + 1) * (2 * H + 1) / 6.0
    smoothing = np.where(t >= 1, H * (H + 1) / 2.0, 0.0)
    return H * regret_bound_constant(num_actions, t) / eta + smoothing + 0.5 * eta * t * squares


def _full_info_bound_for(feedback: str, theorem: str):
    """The full-information bound at the result's ``eta``, for results with ``feedback`` only."""

    def bound(res, t):
        if res.hparams["feedback"] != feedback:
            raise ValueError(f"{theorem} covers feedback={feedback!r} only; "
                             f"the result has feedback={res.hparams['feedback']!r}")
        p = res.problem
        return full_info_bound(p.horizon, p.num_actions, float(res.hparams["eta"]), t)

    return bound


register(
    Theorem(
        name="ftrl_log_barrier.full_info_regret",
        statement="full information, losses in [0, 1]: Regret_t <= H C_A(t)/eta + H(H+1)/2 + (eta/2) t "
                  "sum_h (H-h)^2, C_A(t) = (A-1) log t - log A - log(1 - (1-1/A)/t), for every t",
        methods=("ftrl_log_barrier",),
        certificate="regret",
        bound=_full_info_bound_for("full", "ftrl_log_barrier.full_info_regret"),
        source=SOURCE,
        arxiv=ARXIV,
        equation="log-barrier FTRL step of Alg. 1; bound derived (performance difference + FTRL stability)",
        confidence="derived",
        note="Derivation in polopt/theory/adversarial.py's module docstring: performance-difference lemma, "
             "be-the-leader FTRL lemma, log-barrier stability (eta/2) sum_a pi_a^2 l_a^2 for l >= 0, "
             "comparator smoothed by 1/t. Not the paper's statement (its constants were not found).",
    )
)


register(
    Theorem(
        name="ftrl_log_barrier.linear_q_sqrt_k",
        statement="bandit feedback with the linear-Q estimator: Regret_K = O~(sqrt K); checked shape: Regret_t stays "
                  "within the full-information bound's envelope at the same eta (constant not the paper's)",
        methods=("ftrl_log_barrier",),
        certificate="regret",
        bound=_full_info_bound_for("bandit", "ftrl_log_barrier.linear_q_sqrt_k"),
        source=SOURCE,
        arxiv=ARXIV,
        equation="main theorem for the log-barrier FTRL algorithm (number not recorded)",
        confidence="recalled",
        note="The O~(sqrt K) rate is in the abstract; its constants and poly(H, d, A) factors were not found. "
             "The paper's algorithm adds an exploration bonus and a simulator estimate of the covariance; polopt's "
             "bandit rule uses the exact covariance and no bonus, so the envelope is a shape check only.",
    )
)

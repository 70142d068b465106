"""Guarantees of the policy-gradient rules on the RLHF objective ``V_beta = V - beta KL(pi || mu)``.

A problem with ``beta > 0`` and reference ``mu`` (:class:`~polopt.Bandit`, :class:`~polopt.ContextualBandit`,
discounted :class:`~polopt.TabularMDP`) is run by ``npg``, ``policy_mirror_descent`` (KL Bregman) and
``mdpo`` with the prox step ``pi+ ∝ pi^{1-alpha} mu^alpha exp(alpha Q_beta / beta)``,
``alpha = eta_p beta / (1 + eta_p beta)``, where ``eta_p`` is the step in PMD units (``eta / (1 - gamma)``
for npg, ``eta`` for PMD / MDPO); see :func:`polopt.rules.pg.regularized_prox`.

=============================  ==========  ==============================================================
name                           confidence  claim (``rate = 1 - (1 - gamma) alpha``)
=============================  ==========  ==============================================================
``npg.regularized_linear``     recalled    ``||Q*_beta - Q_beta^{t+1}||_inf <= C1 gamma rate^t`` and
                                           ``||log pi*_beta - log pi^{t+1}||_inf <= 2 C1 rate^t / beta``,
                                           ``C1 = ||Q*_beta - Q_beta^0|| + 2 beta (1 - alpha) ||log pi*_beta -
                                           log pi^0||`` (norms over the support of ``mu``)
=============================  ==========  ==============================================================

Why it carries over (derived, exact): ``-beta KL(p || mu) = beta H(p) + beta <p, log mu>``, so the
KL-regularized MDP ``(r, mu, beta)`` is the entropy-regularized MDP with temperature ``tau = beta`` and
reward ``r' = r + beta log mu`` (on ``supp mu``). Its soft ``Q' = Q_beta + beta log mu``: the differences
``Q* - Q^t`` and ``log pi* - log pi^t`` are the same in both, and Cen et al.'s update
``pi^{1 - eta_c tau/(1-gamma)} exp(eta_c Q'/(1-gamma))`` is the prox step above with
``eta_c tau / (1 - gamma) = alpha``. Every ``eta_p in (0, inf]`` maps into Cen's range
``0 < eta_c <= (1-gamma)/tau``, with Cen's rate ``1 - eta_c tau = 1 - (1-gamma) alpha`` (``gamma`` for soft
policy iteration, ``eta_p = inf``). The rate and ``C1`` are those of ``entropy_npg.linear`` (rate from
secondary sources, ``C1`` recalled), hence ``recalled``; at the uniform reference the two theorems are
the same claim (``tests/test_rlhf_pg.py`` checks that they give the same verdict on the same run).
Lan (arXiv 2102.00135, Thm 1) gives rate ``gamma`` at ``1 + eta_p beta = 1/gamma`` for this prox (the
regularizer ``beta KL(.||mu)`` is ``beta``-strongly convex relative to the KL Bregman).
"""

from __future__ import annotations

import numpy as np

from ..exact import q_from_v
from ..problems import Bandit, ContextualBandit
from .pg import CEN, cen_verdict, iterates_sa, mdp_of
from .registry import Theorem, Verdict, register

__all__ = ["prox_alpha", "regularized_errors"]

LAN = "Lan, 'Policy Mirror Descent for Reinforcement Learning' (Math. Prog. 2022)"


def _reference(res) -> tuple[np.ndarray, float]:
    """``(mu [S, A], beta)`` of the result's problem (a bandit's ``[K]`` reference gets its state axis)."""
    problem = res.problem
    beta = float(getattr(problem, "beta", 0.0))
    if beta <= 0:
        raise ValueError(f"npg.regularized_linear needs a problem with beta > 0 (the RLHF objective), got {problem!r}")
    mu = np.asarray(problem.mu, dtype=np.float64)
    if isinstance(problem, (Bandit, ContextualBandit)):
        mu = mu.reshape(-1, problem.num_actions)
    return mu, beta


def prox_alpha(res) -> float:
    """``alpha = eta_p beta / (1 + eta_p beta)`` of a run (``eta_p`` the step in PMD units; 1 at ``eta = inf``)."""
    _, beta = _reference(res)
    hp, method = res.hparams, res.method
    if method == "policy_mirror_descent" and (hp.get("schedule") != "constant" or hp.get("bregman") != "kl"):
        raise ValueError("npg.regularized_linear covers policy_mirror_descent with bregman='kl', "
                         "schedule='constant'")
    if method == "mdpo" and hp.get("anneal") is not None:
        raise ValueError("npg.regularized_linear covers mdpo with a constant step (anneal=None)")
    eta = float(hp["eta"])
    if np.isinf(eta):
        return 1.0
    eta_p = eta / (1.0 - mdp_of(res, regularized=True).gamma) if method == "npg" else eta
    return eta_p * beta / (1.0 + eta_p * beta)


def regularized_errors(res):
    """``(||Q*_beta - Q_beta^t||_inf, ||log pi*_beta - log pi^t||_inf)`` per iterate ``[T+1]`` each and ``C1``.

    Norms over the ``(s, a)`` with ``mu(a|s) > 0`` (elsewhere both policies are 0 for ever).
    """
    mu, beta = _reference(res)
    mdp = mdp_of(res, regularized=True)
    v_reg = np.asarray(res.info["regularized_values"], dtype=np.float64)  # [T+1, S], KL convention
    q_t = np.stack([q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v) for v in v_reg])
    v_star = np.asarray(res.optimum.value, dtype=np.float64).reshape(-1)
    q_star = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v_star)
    on = mu > 0
    pi_star = np.asarray(res.optimum.policy, dtype=np.float64).reshape(mu.shape)
    with np.errstate(divide="ignore"):
        log_star = np.log(np.where(on, pi_star, 1.0))
        log_t = np.log(np.where(on[None], iterates_sa(res), 1.0))
    q_err = np.where(on[None], np.abs(q_star[None] - q_t), 0.0).max(axis=(1, 2))
    log_err = np.abs(log_star[None] - log_t).max(axis=(1, 2))
    alpha = prox_alpha(res)
    c1 = q_err[0] + 2.0 * beta * (1.0 - alpha) * log_err[0]
    return q_err, log_err, c1


def _regularized_linear(res) -> Verdict:
    _, beta = _reference(res)
    gamma = mdp_of(res, regularized=True).gamma
    q_err, log_err, c1 = regularized_errors(res)
    return cen_verdict(q_err, log_err, c1, gamma, beta, 1.0 - (1.0 - gamma) * prox_alpha(res))


register(
    Theorem(
        name="npg.regularized_linear",
        statement="KL-regularized NPG / PMD (the RLHF objective V - beta KL(pi || mu)), prox step pi+ ∝ pi^(1-alpha) "
        "mu^alpha exp(alpha Q_beta/beta), alpha = eta_p beta/(1 + eta_p beta): ||Q*_beta - Q_beta^{t+1}||_inf <= "
        "C1 gamma (1 - (1-gamma) alpha)^t and ||log pi*_beta - log pi^{t+1}||_inf <= 2 C1 beta^{-1} "
        "(1 - (1-gamma) alpha)^t, C1 = ||Q*_beta - Q_beta^0||_inf + 2 beta (1 - alpha) ||log pi*_beta - log pi^0||_inf",
        methods=("npg", "policy_mirror_descent", "mdpo"),
        certificate="",
        bound=None,
        source=CEN + "; " + LAN,
        arxiv="2007.06558",
        equation="Cen et al. Thm 1 through the exact reduction r' = r + beta log mu, tau = beta (module docstring); "
        "Lan Thm 1 for the rate gamma at 1 + eta beta = 1/gamma",
        confidence="recalled",
        checker=_regularized_linear,
        note="The reduction to the entropy-regularized MDP is exact (derived in the module docstring of "
        "polopt.theory.rlhf_pg); the rate 1 - eta tau and C1 are entropy_npg.linear's (rate from secondary "
        "sources, C1 recalled), so the claim is tagged recalled.",
    )
)

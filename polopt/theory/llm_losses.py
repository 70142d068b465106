"""Guarantees of the preference-optimization losses (``polopt._methods.llm_losses``).

Confidence levels are those of :data:`polopt.theory.registry.CONFIDENCE`: the DPO / KL-regularized
closed form was read in the source (``paper``); the IPO, chi-PO, CoPG, P3O and APO statements
are our derivations with sympy proofs in ``proofs/`` (``derived``), because the papers' own
statements were not seen.
"""

from __future__ import annotations

import numpy as np

from .._base import ABS_SLACK, EXACT_F64, RATE_SLACK
from .registry import Theorem, Verdict, register

#: A run that met its gradient tolerance (1e-10) on a strongly convex loss is this close in KL to
#: the closed form (KL is quadratic in the logit error, ~1e-20, plus round-off of the KL sum).
MINIMIZER_KL_TOL = EXACT_F64
#: APO's recorded u_t is a least-squares fit on log-probabilities of size ~ u_t |r| / beta: relative round-off.
APO_U_RTOL = 1e-9

DPO = "Rafailov et al., 'Direct Preference Optimization: Your Language Model is Secretly a Reward Model'"
IPO = "Azar et al., 'A General Theoretical Paradigm to Understand Learning from Human Preferences'"
CHI = ("Huang et al., 'Correcting the Mythos of KL-Regularization: Direct Alignment without Overoptimization "
       "via chi^2-Preference Optimization'")
COPG = "Flet-Berliac et al., 'Contrastive Policy Gradient: Aligning LLMs on Sequence-Level Scores'"
P3O = "Wu et al., 'Pairwise Proximal Policy Optimization: Harnessing Relative Feedback for LLM Alignment'"
APO = "He, Yuan, Gu, 'Accelerated Preference Optimization for Large Language Model Alignment'"


def _population_only(res, name):
    if res.hparams.get("data") is not None:
        raise ValueError(f"theorem {name!r} is about the population loss; this run used a finite dataset (data=...)")


def _minimizer_checker(name):
    def check(res) -> Verdict:
        _population_only(res, name)
        kl = float(np.asarray(res.certificates["kl_to_optimum"])[-1])
        holds = res.status == "converged" and kl <= MINIMIZER_KL_TOL
        return Verdict(holds, kl / MINIMIZER_KL_TOL, None if holds else res.num_iter)

    return check


def _xpo_alpha_zero(res):
    if res.method == "xpo" and res.hparams.get("alpha", 0.0) != 0.0:
        raise ValueError("with alpha > 0 XPO's limit is biased; the theorem covers alpha = 0")


def _dpo_check(res) -> Verdict:
    _xpo_alpha_zero(res)
    return _minimizer_checker("dpo.population_minimizer")(res)


register(Theorem(
    name="dpo.population_minimizer",
    statement="Under Bradley-Terry preferences P(a > b) = sigma(r_a - r_b) and any pair distribution with "
              "connected full support, the DPO loss is minimized by pi* = pi_ref exp(r / beta) / Z, the maximizer "
              "of E_pi r - beta KL(pi || pi_ref); online DPO, CoPG, P3O and XPO (alpha = 0) reach the same point",
    methods=("dpo", "online_dpo", "copg", "p3o", "xpo"),
    certificate="kl_to_optimum", bound=None, source=DPO, arxiv="2305.18290", equation="Eq. (4), (7)",
    confidence="paper", checker=_dpo_check,
))

register(Theorem(
    name="ipo.population_minimizer",
    statement="With pairs y, y' ~ b x b labelled by any preference matrix P, the IPO loss "
              "E (h - 1/(2 beta))^2 is minimized by pi* = pi_ref exp(P(y > b) / beta) / Z "
              "(proofs/ipo_minimizer_proof.py)",
    methods=("ipo",), certificate="kl_to_optimum", bound=None, source=IPO, arxiv="2310.12036",
    equation=None, confidence="derived", checker=_minimizer_checker("ipo.population_minimizer"),
))

register(Theorem(
    name="chi_po.regularizer",
    statement="Under Bradley-Terry (clip inactive) the chi-PO loss with link phi(z) = z + log z is minimized by "
              "the maximizer of E_pi r - beta D_f(pi || pi_ref), f(z) = (z - 1)^2 / 2 + z log z (chi^2/2 + KL), "
              "since f' = phi (proofs/chi_po_regularizer_proof.py)",
    methods=("chi_po",), certificate="kl_to_optimum", bound=None, source=CHI, arxiv="2407.13399",
    equation=None, confidence="derived", checker=_minimizer_checker("chi_po.regularizer"),
))

register(Theorem(
    name="copg.off_policy_optimum",
    statement="For pairs from any behaviour with connected support, CoPG's regression loss "
              "1/2 E (R_a - R_b)^2, R = r - beta log(pi / pi_ref), is zero exactly at pi_ref exp(r / beta) / Z",
    methods=("copg",), certificate="kl_to_optimum", bound=None, source=COPG, arxiv="2406.19185",
    equation=None, confidence="derived", checker=_minimizer_checker("copg.off_policy_optimum"),
))


def _gap_identity(res) -> Verdict:
    """suboptimality_t = beta KL(pi_t || pi*) (rho-weighted) at every iterate."""
    from .. import certificates

    prob = res.problem
    pis = np.asarray(res.iterates)
    pi_star = np.asarray(res.optimum.policy)
    kl = certificates.kl(pis, pi_star)
    if kl.ndim == 2:
        kl = kl @ prob.rho
    bound = prob.beta * kl
    sub = np.asarray(res.certificates["suboptimality"])
    err = np.abs(sub - bound)
    slack = RATE_SLACK * np.maximum(bound, 1.0) + ABS_SLACK
    bad = np.flatnonzero(err > slack)
    return Verdict(bad.size == 0, float(np.max(err / slack)), int(bad[0]) if bad.size else None)


register(Theorem(
    name="kl_regularized.gap_identity",
    statement="For the KL-regularized objective J = E_pi r - beta KL(pi || pi_ref): "
              "J(pi*) - J(pi) = beta KL(pi || pi*) for every pi "
              "(proofs/gibbs_proof.py), so the suboptimality certificate is beta times a KL",
    methods=("dpo", "online_dpo", "copg", "p3o", "xpo"),
    certificate="suboptimality", bound=None, source=DPO, arxiv="2305.18290", equation="Appendix A.1",
    confidence="derived", checker=_gap_identity,
))


def _p3o_shift(res) -> Verdict:
    """Re-solve with rewards shifted by a per-context constant: the iterates must be identical."""
    from ..problems import Bandit, ContextualBandit
    from ..solve import solve

    prob = res.problem
    X = getattr(prob, "num_contexts", 1)
    shift = 1.0 + np.arange(X, dtype=np.float64)  # distinct constants per context
    if isinstance(prob, ContextualBandit):
        shifted = ContextualBandit(prob.r + shift[:, None], prob.rho, prob.mu, prob.beta)
    else:
        shifted = Bandit(prob.r + shift[0], prob.mu, prob.beta)
    hp = dict(res.hparams)
    seed = res.info.get("seed")
    init = np.asarray(res.iterates)[0]
    import warnings

    from ..result import NotConvergedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotConvergedWarning)
        other = solve(shifted, "p3o", iters=res.num_iter, init=init, seed=seed, **hp)
    n = min(other.iterates.shape[0], res.iterates.shape[0])
    err = np.max(np.abs(np.asarray(other.iterates)[:n] - np.asarray(res.iterates)[:n]))
    holds = bool(err <= EXACT_F64)
    return Verdict(holds, float(err / EXACT_F64), None if holds else 0)


register(Theorem(
    name="p3o.shift_invariance",
    statement="P3O's pairwise gradient depends on rewards only through r(a) - r(b) within a prompt, so adding any "
              "per-prompt constant to the rewards leaves every iterate unchanged (sampled or exact; "
              "proofs/p3o_shift_proof.py)",
    methods=("p3o",), certificate="", bound=None, source=P3O, arxiv="2310.00212", equation=None,
    confidence="derived", checker=_p3o_shift,
))


def _apo_u(res) -> Verdict:
    from ..exact.preference import apo_inverse_temperature

    u = np.asarray(res.info["u"])
    t = np.arange(u.shape[0])
    ref = apo_inverse_temperature(t, res.hparams["alpha"])[:, None]
    err = np.abs(u - ref)
    slack = APO_U_RTOL * np.maximum(ref, 1.0)
    bad = np.flatnonzero(np.any(err > slack, axis=-1))
    return Verdict(bad.size == 0, float(np.max(err / slack)), int(bad[0]) if bad.size else None)


register(Theorem(
    name="apo.inverse_temperature",
    statement="APO with exact DPO steps on a bandit: log pi_t = log pi_ref + u_t r / beta + const with "
              "u_t = t / (1 - alpha) - alpha (1 - alpha^t) / (1 - alpha)^2, i.e. effective inverse temperature "
              "t / (1 - alpha) against t for iterative DPO (proofs/apo_temperature_proof.py)",
    methods=("apo",), certificate="", bound=None, source=APO, arxiv="2410.06293", equation=None,
    confidence="derived", checker=_apo_u,
))

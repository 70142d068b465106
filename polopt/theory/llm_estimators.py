"""Guarantees of the LLM-style policy-gradient estimators (``reinforce`` ... ``oblr_po``) on bandits.

Each claim is checked at every iterate of a :func:`polopt.solve` result by recomputing the
estimator's exact law there (:mod:`polopt.exact.estimators`: closed form or enumeration of
the group outcomes). Confidence (:data:`polopt.theory.registry.CONFIDENCE`): ``paper`` for the classical facts
whose statements were read (unbiasedness with a sample-independent baseline), ``derived`` for
the facts derived and checked here (the ``(G-1)/G`` scaling, the RLOO variance as a
U-statistic, the binary-reward direction of GRPO, the SNR step's ascent), ``recalled`` for
Mei et al.'s smoothness constant. The sympy proofs of the derived facts are
``proofs/group_mean_baseline_proof.py`` (unbiasedness with leave-one-out baselines, the
``(G-1)/G`` scaling, the closed-form covariances, GRPO's binary-reward direction),
``proofs/optimal_baseline_proof.py`` (the gradient-weighted baseline, the SNR step's ascent
bound given the descent lemma) and ``proofs/kl_estimators_proof.py`` (k1 / k3 means and their
expected gradients); the property tests in
``tests/test_exact_estimators.py`` and ``tests/test_solve_estimators.py`` check them on
generated bandits.
"""

from __future__ import annotations

import numpy as np

from .._base import ABS_SLACK, EXACT_F64, RATE_SLACK
from .registry import Theorem, Verdict, register

#: Enumerated and closed-form moments sum up to C(K+G-1, G) float64 terms of size <= (span r)^2:
#: they agree to EXACT_F64 relative to that scale (observed ~1e-16).
MOMENT_TOL = EXACT_F64
#: Two vectors count as parallel when 1 - cos <= this (enumerated means carry ~1e-16 relative error).
PARALLEL_TOL = 1e-9

WILLIAMS = "Williams, 'Simple statistical gradient-following algorithms for connectionist RL' (1992)"
KOOL = "Kool, van Hoof, Welling, 'Buy 4 REINFORCE samples, get a baseline for free!' (2019); Ahmadian et al. 2024"
GRPO = "Shao et al., 'DeepSeekMath' (GRPO) (2024); Liu et al., 'Understanding R1-Zero-like training' (Dr.GRPO)"
OBLR = "Huang, Sheng, Zheng, 'OBLR-PO' (2025) — abstract only; classical forms (Greensmith, Bartlett, Baxter 2004)"
MEI = "Mei, Xiao, Szepesvari, Schuurmans, 'On the global convergence rates of softmax policy gradient' (2020)"


def _rows(res):
    from ..problems import Bandit

    p = res.problem
    its = np.asarray(res.iterates)
    if isinstance(p, Bandit):
        return its[:, None, :], p.r[None, :], p.mu[None, :], np.ones(1)
    return its, p.r, p.mu, p.rho


def _moments_per_iterate(res, **overrides):
    """Yield ``(t, x, EstimatorMoments)`` of the method's estimator at every iterate and context."""
    from ..exact import estimators as ex
    from ..rules.estimators import optimal_baseline, shaped_reward

    est = {"oblr_po": "oblr"}.get(res.method, res.method)
    hp = res.hparams
    its, r, mu, _ = _rows(res)
    beta = res.problem.beta
    kw = {"kl": hp.get("kl", "reward")}
    if res.method == "grpo":
        kw.update(std_eps=hp["std_eps"], ddof=hp["ddof"])
    kw.update(overrides)
    for t in range(its.shape[0]):
        for x in range(r.shape[0]):
            pi = its[t, x]
            b = hp.get("baseline", 0.0)
            if isinstance(b, str):
                R = r[x] if beta == 0 else shaped_reward(r[x], np.log(pi), np.log(mu[x]), beta)
                b = float(optimal_baseline(pi, R))
            yield t, x, ex.estimator_moments(pi, r[x], est, hp["group_size"], baseline=b, beta=beta, mu=mu[x], **kw)


def _scale(res) -> float:
    r = np.asarray(res.problem.r)
    return max(1.0, float(np.max(np.abs(r))) ** 2)


def _bias_verdict(res, expected_factor) -> Verdict:
    """``||E g - f grad J|| <= MOMENT_TOL * scale`` at every iterate (f = 1 or (G-1)/G)."""
    tol = MOMENT_TOL * _scale(res)
    worst, first = 0.0, None
    for t, _, m in _moments_per_iterate(res):
        err = float(np.max(np.abs(m.mean - expected_factor * m.gradient)))
        worst = max(worst, err / tol)
        if err > tol and first is None:
            first = t
    return Verdict(first is None, float(worst), first)


register(
    Theorem(
        name="estimators.unbiased",
        statement="REINFORCE with a sample-independent baseline (constant, the greedy arm's reward of ReMax, the "
        "leave-one-out mean of RLOO) is unbiased: E g_hat = grad J = pi * (R - pi.R) for every group size G",
        methods=("reinforce", "remax", "rloo"),
        certificate="",
        bound=None,
        source=f"{WILLIAMS}; {KOOL}; Li et al., 'ReMax' (2024)",
        arxiv="2402.14740",
        equation=None,
        confidence="paper",
        checker=lambda res: _bias_verdict(res, 1.0),
    )
)

register(
    Theorem(
        name="oblr_po.unbiased",
        statement="the gradient-weighted leave-one-out baseline b_i = sum_{j!=i} w_j R_j / sum_{j!=i} w_j "
        "(w = ||e_a - pi||^2) is independent of a_i given the others, so E g_hat = grad J",
        methods=("oblr_po",),
        certificate="",
        bound=None,
        source=OBLR,
        arxiv="2511.23310",
        confidence="derived",
        checker=lambda res: _bias_verdict(res, 1.0),
    )
)

register(
    Theorem(
        name="dr_grpo.group_mean_scaling",
        statement="the group-mean baseline contains R_i: E g_hat = ((G-1)/G) grad J exactly "
        "(R_i - mean_j R_j = ((G-1)/G)(R_i - mean_{j!=i} R_j))",
        methods=("dr_grpo",),
        certificate="",
        bound=None,
        source=GRPO,
        arxiv="2503.20783",
        confidence="derived",
        checker=lambda res: _bias_verdict(res, (res.hparams["group_size"] - 1) / res.hparams["group_size"]),
    )
)


def _closed_form_verdict(res) -> Verdict:
    tol = MOMENT_TOL * _scale(res)
    worst, first = 0.0, None
    closed = _moments_per_iterate(res, method="closed_form")
    enum = _moments_per_iterate(res, method="multiset")
    for (t, _, a), (_, _, b) in zip(closed, enum, strict=True):
        err = max(float(np.max(np.abs(a.covariance - b.covariance))), float(np.max(np.abs(a.mean - b.mean))))
        worst = max(worst, err / tol)
        if err > tol and first is None:
            first = t
    return Verdict(first is None, float(worst), first)


register(
    Theorem(
        name="estimators.variance_closed_form",
        statement="exact covariances: constant baseline b: (S((R-b)^2) - g g^T)/G; RLOO: the order-2 U-statistic "
        "2/(G(G-1)) [2(G-2) Sigma_1 + Sigma_2]; group mean: ((G-1)/G)^2 x RLOO — equal to the enumeration of all "
        "group outcomes (polopt.exact.estimators docstring)",
        methods=("reinforce", "remax", "rloo", "dr_grpo"),
        certificate="",
        bound=None,
        source="Hoeffding (1948) U-statistics; " + KOOL,
        confidence="derived",
        checker=_closed_form_verdict,
    )
)


#: Candidate constants the optimal baseline is compared with, as fractions of the reward range.
_GRID = np.linspace(-0.5, 1.5, 41)


def _optimal_baseline_verdict(res) -> Verdict:
    from ..exact import estimators as ex

    its, r, mu, _ = _rows(res)
    beta, G = res.problem.beta, res.hparams["group_size"]
    worst, first = 0.0, None
    for t in range(its.shape[0]):
        for x in range(r.shape[0]):
            pi = its[t, x]
            b_star = ex.optimal_constant_baseline(pi, r[x], beta, mu[x])
            lo, hi = float(r[x].min()), float(r[x].max())
            grid = lo + _GRID * (hi - lo)
            v_star = float(ex.baseline_variance(pi, r[x], b_star, G, beta, mu[x]))
            v_grid = ex.baseline_variance(pi, r[x], grid, G, beta, mu[x])
            slack = RATE_SLACK * abs(v_star) + ABS_SLACK
            excess = v_star - float(np.min(v_grid))
            worst = max(worst, excess / slack)
            if excess > slack and first is None:
                first = t
    return Verdict(first is None, float(worst), first)


register(
    Theorem(
        name="estimators.optimal_baseline",
        statement="among constant baselines b, tr Cov[(R(a)-b)(e_a-pi)] is minimized by the gradient-weighted "
        "b* = E[||e_a-pi||^2 R] / E[||e_a-pi||^2] (checked against a grid of constants at every iterate)",
        methods=("reinforce", "remax", "rloo", "grpo", "dr_grpo", "oblr_po"),
        certificate="",
        bound=None,
        source=OBLR + "; Weaver & Tao (2001)",
        arxiv="2511.23310",
        confidence="derived",
        checker=_optimal_baseline_verdict,
    )
)


def _snr_ascent_verdict(res) -> Verdict:
    if res.info.get("mode") != "exact":
        raise ValueError(
            "oblr_po.snr_ascent is checked on exact-mode results (the sampled guarantee holds in expectation: "
            "use polopt.exact.expected_objective_after_step)"
        )
    J = np.asarray(res.info["objective"])
    eta = np.asarray(res.info["step_sizes"])
    g2 = np.asarray(res.info["grad_norm"])[:-1] ** 2
    gain = J[1:] - J[:-1]
    need = eta * g2 / 2.0
    slack = RATE_SLACK * np.abs(J[:-1]) + ABS_SLACK
    ok = gain + slack >= need
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(need > 0, need / np.maximum(gain, 1e-300), 0.0)
    bad = np.flatnonzero(~ok)
    return Verdict(bool(ok.all()), float(ratio.max()) if ratio.size else 0.0, int(bad[0]) if bad.size else None)


register(
    Theorem(
        name="oblr_po.snr_ascent",
        statement="with eta_t = SNR/((1+SNR) L) <= 1/L along the exact expected (unbiased) direction of an L-smooth "
        "J: J(pi_{t+1}) >= J(pi_t) + eta_t ||grad J||^2 / 2 at every t",
        methods=("oblr_po",),
        certificate="",
        bound=None,
        source=OBLR + "; descent lemma (Nesterov 2004, §1.2.3)",
        arxiv="2511.23310",
        confidence="derived",
        checker=_snr_ascent_verdict,
    )
)


def _binary_direction_verdict(res) -> Verdict:
    r = np.asarray(res.problem.r)
    if not np.all((r == 0.0) | (r == 1.0)) or res.problem.beta > 0:
        raise ValueError("grpo.binary_reward_direction applies to rewards in {0, 1} and beta = 0")
    worst, first = 0.0, None
    for t, _, m in _moments_per_iterate(res):
        gn, mn = np.linalg.norm(m.gradient), np.linalg.norm(m.mean)
        if gn <= ABS_SLACK:
            continue
        gap = 1.0 - float(m.mean @ m.gradient) / (gn * max(mn, 1e-300))
        worst = max(worst, gap / PARALLEL_TOL)
        if gap > PARALLEL_TOL and first is None:
            first = t
    return Verdict(first is None, float(worst), first)


register(
    Theorem(
        name="grpo.binary_reward_direction",
        statement="with rewards in {0, 1} (beta = 0) GRPO's std-normalized estimator is biased only in size: "
        "E g_hat = c(pi) grad J with c > 0 per context (E[s | R = 0] = -(p/(1-p)) E[s | R = 1]), so the std "
        "reweights prompts; with non-binary rewards the direction itself is biased",
        methods=("grpo",),
        certificate="",
        bound=None,
        source=GRPO,
        arxiv="2402.03300",
        confidence="derived",
        checker=_binary_direction_verdict,
    )
)


def _smoothness_verdict(res) -> Verdict:
    from ..exact import estimators as ex

    its, r, _, _ = _rows(res)
    worst, first = 0.0, None
    for t in range(its.shape[0]):
        for x in range(r.shape[0]):
            L = ex.softmax_smoothness(r[x])
            lam = float(np.max(np.abs(np.linalg.eigvalsh(ex.objective_hessian(its[t, x], r[x])))))
            ok = lam <= L * (1.0 + RATE_SLACK) + ABS_SLACK
            worst = max(worst, lam / L if L > 0 else (0.0 if lam <= ABS_SLACK else np.inf))
            if not ok and first is None:
                first = t
    return Verdict(first is None, float(worst), first)


register(
    Theorem(
        name="softmax.smoothness",
        statement="theta -> softmax(theta).r is L-smooth with L = (5/2)(max r - min r): ||Hessian||_2 <= L at every "
        "iterate (the constant used by oblr_po's step)",
        methods=("reinforce", "remax", "rloo", "grpo", "dr_grpo", "oblr_po"),
        certificate="",
        bound=None,
        source=MEI,
        arxiv="2005.06392",
        equation="Lemma 2 (number recalled)",
        confidence="recalled",
        checker=_smoothness_verdict,
    )
)

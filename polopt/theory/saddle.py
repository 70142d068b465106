"""Guarantees of mirror prox on the MDP saddle point (:mod:`polopt.rules.saddle`).

* ``mp_mdp.gap`` — the ergodic rate of mirror prox for the bilinear saddle point: with
  ``eta_v eta_d <= 1 / L^2``, ``Gap_T <= D_v / (eta_v T) + D_d / (eta_d T)``. Derived: the
  one-step inequality of Nemirovski (2004) in the distance-generating function
  ``||v||^2 / (2 eta_v) + sum d log d / eta_d``; its two algebraic facts (the gap of a bilinear
  function is the operator's inner product, and Young's inequality under the step condition) are
  proved in ``proofs/saddle_rate_proof.py``; Pinsker (KL is 1-strongly convex in ``||.||_1``) and
  ``|d^T Mat w| <= L ||d||_1 ||w||_2`` (Cauchy-Schwarz per row) are standard.
* ``mp_mdp.policy`` — the gap bounds the policy read from the occupancy: ``J* - J(pi_bar) <=
  Gap + slack`` with ``J(pi) = (1 - gamma) rho^T V^pi`` (discounted) or ``nu^T g^pi`` (average
  reward, ``nu`` the state marginal of ``d_bar``), and ``slack`` the a-posteriori box term
  (``res.info["box_slack"]``; 0 when the box contains ``V^pi_bar``, resp. ``sp(h^pi_bar) <= hi - lo``).
  Derived in ``proofs/saddle_policy_proof.py``.

Both cover the exact oracle only (``num_samples=None``); their bounds raise ValueError on a game
result (the same method name is Nash-MP there) or a sampled run.
"""

from __future__ import annotations

import numpy as np

from .._deprecation import renamed
from .registry import Theorem, register

NEMIROVSKI = ("A. Nemirovski, Prox-method with rate of convergence O(1/t) for variational inequalities with "
              "Lipschitz continuous monotone operators and smooth convex-concave saddle point problems, "
              "SIAM J. Optim. 15(1), 2004; MDP saddle point of M. Wang (Math. Oper. Res. 45(2), 2020) and "
              "Jin & Sidford (ICML 2020)")
#: The factory accepts ``eta_v eta_d L^2 <= 1 + STEP_SLACK`` (the balanced steps meet it with equality).
STEP_SLACK = 1e-12


def _mdp_run(res, name: str):
    info = res.info
    if "D_v" not in info:
        raise ValueError(f"theorem {name!r} covers mirror prox on an MDP saddle point; this result (a game's "
                         "Nash-MP?) has no saddle-point diameters in info")
    if res.hparams.get("num_samples") is not None:
        raise ValueError(f"theorem {name!r} covers the exact oracle; this run sampled "
                         f"{res.hparams['num_samples']} transitions per gradient")
    return info


def _steps_of(res, t) -> np.ndarray:
    """Update counts of the recorded iterates (``info["recorded"]`` when ``record > 1``)."""
    return np.asarray(res.info["recorded"] if "recorded" in res.info else t, dtype=np.float64)


@renamed(D_mu="D_d", eta_mu="eta_d")
def gap_bound(D_v: float, D_d: float, eta_v: float, eta_d: float, L: float, t) -> np.ndarray:
    """``D_v / (eta_v t) + D_d / (eta_d t)`` (``inf`` at ``t = 0``); ValueError beyond the step condition."""
    if eta_v * eta_d * L * L > 1.0 + STEP_SLACK:
        raise ValueError(f"mp_mdp.gap needs eta_v * eta_d <= 1 / L^2; got eta_v = {eta_v:g}, eta_d = {eta_d:g}, "
                         f"L = {L:g}")
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(t > 0, (D_v / eta_v + D_d / eta_d) / np.maximum(t, 1.0), np.inf)


def _gap_bound(res, t):
    info = _mdp_run(res, "mp_mdp.gap")
    hp = res.hparams
    return gap_bound(info["D_v"], info["D_d"], hp["eta_v"], hp["eta_d"], hp["L"], _steps_of(res, t))


def _policy_bound(res, t):
    _mdp_run(res, "mp_mdp.policy")
    return np.asarray(res.certificates["duality_gap"]) + np.asarray(res.info["box_slack"])


register(
    Theorem(
        name="mp_mdp.gap",
        statement="mirror prox on the MDP saddle point, averaged extrapolated iterates: Gap_T <= D_v/(eta_v T) + "
                  "D_d/(eta_d T) when eta_v eta_d <= 1/L^2, L = max_sa ||gamma P(s,a) - e_s||_2, "
                  "D_v = max_box ||v - v_1||^2/2, D_d = -log min d_1",
        methods=("mirror_prox",),
        certificate="duality_gap",
        bound=_gap_bound,
        source=NEMIROVSKI,
        arxiv="2008.12776",
        equation="proofs/saddle_rate_proof.py (Nemirovski 2004's one-step inequality; theorem number not checked)",
        confidence="derived",
        note="derived: Nemirovski's one-step inequality in the weighted setup; the algebra is proved in "
             "proofs/saddle_rate_proof.py, Pinsker and the row-wise Cauchy-Schwarz bound on the operator are standard",
    )
)

register(
    Theorem(
        name="mp_mdp.policy",
        statement="J* - J(pi_bar) <= Gap + box_slack for pi_bar(a|s) ∝ d_bar(s,a): J = (1-gamma) rho.V "
                  "(discounted; box_slack = 0 when the box contains V^pi_bar) or nu.g (average reward, nu the "
                  "state marginal of d_bar; box_slack = (sp(h^pi_bar) - (hi - lo))^+ ||e||_1 / 2)",
        methods=("mirror_prox",),
        certificate="lp_suboptimality",
        bound=_policy_bound,
        source=NEMIROVSKI,
        arxiv="2008.12776",
        equation="proofs/saddle_policy_proof.py",
        confidence="derived",
        note="derived (digest learning.md §4.3, generalised to any box): flow identity d^T r = J(pi) - e^T V^pi",
    )
)
